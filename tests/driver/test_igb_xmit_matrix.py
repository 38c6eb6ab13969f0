"""The igb transmit path end to end: skbs in, wire frames out, compared byte for byte.

Every case runs a whole :class:`~sim.assembly.system.IgbSystem` (host, NIC model,
kernel, net core, the igb driver): skbs built as the stack hands them over
(:func:`sim.assembly.skbs.make_skb`) go through ``dev_queue_xmit`` → ``igb_xmit_frame`` → descriptors →
NIC DMA → offloads → MAC. The expected frames are built independently with
scapy, from first principles (what the wire must carry), never from the
model's output. After each run: every skb consumed (none dropped), no skb or
page left, the kernel holding only what probe took (ioremap, IRQ vectors)
after close and nothing after remove, and every frame's FCS right.

IPv4 checksum offload is requested as igb does it: a context with IPLEN 20
and TUCMD.IPV4 = 0 (``igb_tx_csum`` never sets it), which the NIC accepts.
"""
from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from sim.engine import MS
from sim.assembly.skbs import make_skb, parse_headers, pseudo_header_sum
from stack.core.skbuff import (CHECKSUM_PARTIAL, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, SKB_GSO_TCPV4,
                               SKB_GSO_TCPV6, SKB_GSO_UDP_L4, skb_checksum_start_offset, skb_headlen,
                               skb_network_offset, skb_shinfo, skb_to_bytes, skb_transport_offset)
from tests.oracle import ones_sum

NICS = ["82576", "i210"]
DST, SRC = "00:1b:21:0a:0b:0c", "00:1b:21:01:02:03"
V4 = {"src": "192.0.2.10", "dst": "198.51.100.77"}
V6 = {"src": "2001:db8::10", "dst": "2001:db8:0:77::1"}
TS_OPTS = [("NOP", None), ("NOP", None), ("Timestamp", (0x01020304, 0x0A0B0C0D))]   # TCP header 32 bytes
FIN, PSH, CWR = 0x01, 0x08, 0x80
GSO_MAX = 65536   # the skb of a "64 KiB" TSO send: gso_max_size


# --- expected packets (scapy) ------------------------------------------------------------------
def pattern(n: int, salt: int = 0) -> bytes:
    """Payload bytes that differ from their neighbours (a misplaced chunk shows)."""
    return bytes((i * 131 + (i >> 8) * 7 + salt) & 0xFF for i in range(n))


def ip4(**kw):
    return IP(**V4, ttl=64, flags="DF", **{"id": 0x1234, **kw})


def ip6(**kw):
    return IPv6(**V6, hlim=64, **kw)


def tcp(**kw):
    args = {"sport": 40000, "dport": 5201, "seq": 1000, "ack": 77, "flags": "PA", "window": 501,
            "options": TS_OPTS}
    args.update(kw)
    return TCP(**args)


def udp(**kw):
    return UDP(**{"sport": 40001, "dport": 4789, **kw})


def ether(*vlan):
    """Ether (and an 802.1Q tag for ``vlan`` = (tci,))."""
    e = Ether(dst=DST, src=SRC)
    if vlan:
        tci = vlan[0]
        e = e / Dot1Q(prio=tci >> 13, dei=(tci >> 12) & 1, vlan=tci & 0xFFF)
    return e


def frame_of(l3, l4, payload: bytes, *vlan) -> bytes:
    """A complete frame, every length and checksum computed by scapy."""
    return bytes(ether(*vlan) / l3 / l4 / Raw(payload))


def sized_frame(kind: str, size: int) -> bytes:
    """A ``size``-byte IPv4 TCP or UDP frame (size >= headers)."""
    if kind == "udp":
        return frame_of(ip4(), udp(), pattern(size - 14 - 20 - 8))
    return frame_of(ip4(), tcp(), pattern(size - 14 - 20 - 32))


def tso_expected(l3_of, tcp_kw: dict, payload: bytes, mss: int, *vlan) -> list[bytes]:
    """The segments TSO must put on the wire, from first principles.

    Segment k carries payload[k*mss:(k+1)*mss]; its IPv4 ID is the
    original's + k (mod 2^16), its TCP sequence number the original's +
    k*mss (mod 2^32); FIN and PSH stay only on the last segment, CWR only on
    the first; lengths and both checksums are the segment's own (scapy).
    """
    n = -(-len(payload) // mss)
    flags = int(TCP(flags=tcp_kw["flags"]).flags)
    out = []
    for k in range(n):
        f = flags
        if k < n - 1:
            f &= ~(FIN | PSH)
        if k > 0:
            f &= ~CWR
        kw = dict(tcp_kw, flags=f, seq=(tcp_kw["seq"] + k * mss) & 0xFFFFFFFF)
        out.append(frame_of(l3_of(k), tcp(**kw), payload[k * mss:(k + 1) * mss], *vlan))
    return out


# --- running ---------------------------------------------------------------------------------------
def transmit(system, nic: str, specs, run_ps: int = 3 * MS, inspect=None, burst: int = 1, **options) -> list[bytes]:
    """Send one skb per ``(frame, make_skb kwargs)`` of ``specs``; the wire frames without FCS.

    Checks on the way: all sent and consumed (none dropped), FCS of every
    frame, no skb/page leak, the kernel's resources back to probe's after
    close and to nothing after remove. ``inspect(s)`` runs on the system after the
    transmission, before close. The skbs go through ``dev_queue_xmit``,
    ``burst`` writes per stretch of the sender's CPU time; a packet tap
    counts what reaches ``ndo_start_xmit``, so a retry (NETDEV_TX_BUSY, the
    skb handed over twice) shows. ``system``: the fixture that builds the
    system; ``options``: its IgbSystem keyword arguments (ring_size…).
    """
    s = system(nic, **options)
    skbs = [make_skb(s.net, frame, **kw) for frame, kw in specs]
    handed = []
    s.netdev.taps.append(lambda frame, direction, dev: handed.append(direction))
    snd = s.sender()
    snd.send(skbs, burst=burst)
    s.run_for(run_ps)
    if inspect is not None:
        inspect(s)
    mem = s.net.skb
    assert snd.sent == len(skbs) and handed == ["tx"] * len(skbs)   # each handed to the driver once
    wire = list(s.wire.a_to_b)
    assert (mem.consumed, mem.dropped) == (len(skbs), 0), "every skb transmitted and consumed"
    s.close()
    held = s.leaks()
    # what probe took and remove gives back: BAR0, the MSI-X vectors, the q_vectors' ring structs
    assert {leak.kind for leak in held.items} <= {"ioremap", "irq_vectors", "kzalloc"}, str(held)
    mem.assert_no_leaks("after close")
    s.remove()
    assert not s.leaks(), str(s.leaks())
    for w in wire:
        assert w.fcs_ok, f"bad FCS on a {len(w.frame)}-byte frame"
        assert w.end_ps > w.start_ps
    return [w.frame for w in wire]


def assert_frames(got: list[bytes], expected: list[bytes]) -> None:
    """``got`` equals ``expected``, each expected frame under 60 bytes zero-padded to 60 (TCTL.PSP)."""
    expected = [e + bytes(max(0, 60 - len(e))) for e in expected]
    assert len(got) == len(expected), f"{len(got)} frames on the wire, expected {len(expected)}"
    for k, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            n = min(len(g), len(e))
            at = next((i for i in range(n) if g[i] != e[i]), n)
            lo = max(0, at - 8)
            pytest.fail(f"frame {k}: {len(g)} bytes vs expected {len(e)}, first difference at byte {at}:\n"
                        f"got      {g[lo:at + 16].hex()}\nexpected {e[lo:at + 16].hex()}")


# --- the skb builder itself ------------------------------------------------------------------------
@pytest.mark.parametrize("l3", ["v4", "v6"])
@pytest.mark.parametrize("l4", ["tcp", "udp"])
def test_make_skb_seed_completes_to_the_real_checksum(l3, l4, system):
    """The seed is what the NIC needs: ~sum(L4 bytes with the seed in the field) == the full checksum."""
    s = system(up=False)
    ip = ip4() if l3 == "v4" else ip6()
    frame = frame_of(ip, tcp() if l4 == "tcp" else udp(), pattern(333))
    skb = make_skb(s.net, frame, csum=True, nr_frags=2)
    data = skb_to_bytes(skb)
    start = skb_checksum_start_offset(skb)
    at = start + skb.csum_offset
    assert skb.ip_summed == CHECKSUM_PARTIAL
    assert (start, skb.csum_offset) == (14 + (20 if l3 == "v4" else 40), 16 if l4 == "tcp" else 6)
    assert skb_transport_offset(skb) == start and skb_network_offset(skb) == 14
    assert skb.protocol == (ETH_P_IP if l3 == "v4" else ETH_P_IPV6)
    assert skb_headlen(skb) >= start + (32 if l4 == "tcp" else 8)
    assert data[:at] == frame[:at] and data[at + 2:] == frame[at + 2:]
    completed = ~ones_sum(data[start:]) & 0xFFFF
    assert completed == struct.unpack_from("!H", frame, at)[0]   # scapy's checksum


def test_make_skb_gso_fields_and_seed_with_length(system):
    s = system(up=False)
    payload = pattern(10_000)
    frame = frame_of(ip6(), tcp(), payload)
    skb = make_skb(s.net, frame, gso_size=1428, nr_frags=3)
    sh = skb_shinfo(skb)
    assert (sh.gso_size, sh.gso_segs, sh.gso_type) == (1428, 8, SKB_GSO_TCPV6)
    assert skb.ip_summed == CHECKSUM_PARTIAL
    h = parse_headers(frame)
    assert h.l4_len == 32 + 10_000
    # the stack's GSO seed includes the whole L4 length (igb_tso takes it out again)
    seed = struct.unpack_from("!H", skb_to_bytes(skb), h.l4 + 16)[0]
    assert seed == pseudo_header_sum(h, 32 + 10_000) != pseudo_header_sum(h, 0)
    v4 = make_skb(s.net, frame_of(ip4(), tcp(), payload), gso_size=1448)
    assert skb_shinfo(v4).gso_type == SKB_GSO_TCPV4 and skb_shinfo(v4).gso_segs == 7
    u = make_skb(s.net, frame_of(ip4(), udp(), payload), gso_size=1400)
    assert skb_shinfo(u).gso_type == SKB_GSO_UDP_L4 and skb_shinfo(u).gso_segs == 8
    t = make_skb(s.net, frame_of(ip4(), udp(), payload), vlan_tci=0xA123)
    assert t.vlan_present and (t.vlan_proto, t.vlan_tci) == (ETH_P_8021Q, 0xA123)


# --- linear packets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("nic", NICS)
@pytest.mark.parametrize("kind", ["udp", "tcp"])
@pytest.mark.parametrize("size", [60, 61, 128, 1000, 1514])
def test_linear(nic, kind, size, system):
    if kind == "tcp" and size < 66:
        size = 66          # TCP with timestamps: 66 bytes of headers
    frame = sized_frame(kind, size)
    assert len(frame) == size
    assert_frames(transmit(system, nic, [(frame, {})]), [frame])


def test_linear_burst_in_order(system):
    """Several packets of different sizes in one burst, in order, each exactly once."""
    frames = [sized_frame("udp" if k % 2 else "tcp", 66 + 97 * k) for k in range(12)]
    assert_frames(transmit(system, "82576", [(f, {}) for f in frames]), frames)


# --- page frags ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("nic", NICS)
@pytest.mark.parametrize("nr_frags", range(1, 18))
def test_frags(nic, nr_frags, system):
    """The 1514-byte TCP packet in a linear part and 1..17 frags (even split)."""
    frame = sized_frame("tcp", 1514)
    assert_frames(transmit(system, nic, [(frame, {"nr_frags": nr_frags})]), [frame])


@pytest.mark.parametrize("nr_frags", [1, 5, 17])
def test_frags_with_checksum_offload_v6(nr_frags, system):
    """Frags plus TCP checksum offload (IPv6: the NIC model bug does not apply)."""
    frame = frame_of(ip6(), tcp(), pattern(1480 - 40 - 32))
    assert_frames(transmit(system, "82576", [(frame, {"nr_frags": nr_frags, "csum": True})]), [frame])


# --- checksum offload -----------------------------------------------------------------------------------
@pytest.mark.parametrize("nic", NICS)
@pytest.mark.parametrize("l4", ["tcp", "udp"])
@pytest.mark.parametrize("l3", ["v4", "v6"])
def test_checksum_offload(nic, l3, l4, system):
    ip = ip4() if l3 == "v4" else ip6()
    frames = [frame_of(ip, tcp() if l4 == "tcp" else udp(), pattern(n, salt=n)) for n in (1, 200, 1400)]
    got = transmit(system, nic, [(f, {"csum": True}) for f in frames])
    assert_frames(got, frames)


# --- VLAN insertion -------------------------------------------------------------------------------------
TCI = 0xA123   # priority 5, DEI 0, VID 0x123


@pytest.mark.parametrize("nic", NICS)
def test_vlan_insertion(nic, system):
    plain = frame_of(ip4(), udp(), pattern(300))
    tagged = frame_of(ip4(), udp(), pattern(300), TCI)
    assert tagged[12:18] == bytes.fromhex("8100a1230800")
    assert_frames(transmit(system, nic, [(plain, {"vlan_tci": TCI, "nr_frags": 2})]), [tagged])


def test_vlan_insertion_short_frame_padded_after_the_tag(system):
    """A 42-byte frame: tag inserted (46 bytes), then PSP pads to 60."""
    plain = frame_of(ip4(), udp(), b"")
    assert len(plain) == 42
    expected = frame_of(ip4(), udp(), b"", TCI) + bytes(60 - 46)
    assert_frames(transmit(system, "82576", [(plain, {"vlan_tci": TCI})]), [expected])


def test_vlan_with_checksum_offload_v6(system):
    plain = frame_of(ip6(), tcp(), pattern(900))
    expected = frame_of(ip6(), tcp(), pattern(900), TCI)
    assert_frames(transmit(system, "82576", [(plain, {"vlan_tci": TCI, "csum": True})]), [expected])


def test_vlan_with_checksum_offload_v4(system):
    plain = frame_of(ip4(), tcp(), pattern(900))
    expected = frame_of(ip4(), tcp(), pattern(900), TCI)
    assert_frames(transmit(system, "82576", [(plain, {"vlan_tci": TCI, "csum": True})]), [expected])


# --- runt -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nic", NICS)
def test_runt_padded(nic, system):
    """10 bytes: igb_xmit_frame pads to 17 (skb_put_padto), TCTL.PSP pads to 60."""
    runt = bytes(range(0xA0, 0xAA))
    assert_frames(transmit(system, nic, [(runt, {})]), [runt + bytes(50)])


# --- TSO ---------------------------------------------------------------------------------------------------
def _tso_v4(payload_len: int, mss: int, *, id0=0x1234, seq=1000, flags="PA", vlan=()):
    tcp_kw = {"seq": seq, "flags": flags}
    frame = frame_of(ip4(id=id0), tcp(**tcp_kw), pattern(payload_len))
    expected = tso_expected(lambda k: ip4(id=(id0 + k) & 0xFFFF), tcp_kw, pattern(payload_len), mss, *vlan)
    return frame, expected


def _tso_v6(payload_len: int, mss: int, *, seq=1000, flags="PA", vlan=()):
    tcp_kw = {"seq": seq, "flags": flags}
    frame = frame_of(ip6(), tcp(**tcp_kw), pattern(payload_len))
    return frame, tso_expected(lambda k: ip6(), tcp_kw, pattern(payload_len), mss, *vlan)


@pytest.mark.parametrize("nic", NICS)
def test_tso_64k_ipv4(nic, system):
    """65536-byte skb, MSS 1448: 46 segments; ID wraps 0xFFF8 → 0x0025, seq wraps 2^32, CWR first only."""
    payload_len = GSO_MAX - 14 - 20 - 32
    frame, expected = _tso_v4(payload_len, 1448, id0=0xFFF8, seq=0xFFFF_C000, flags="PAC")
    assert len(frame) == GSO_MAX and len(expected) == 46
    assert all(len(f) == 1514 for f in expected[:-1])
    got = transmit(system, nic, [(frame, {"gso_size": 1448, "nr_frags": 16})])
    assert_frames(got, expected)


@pytest.mark.parametrize("nic", NICS)
def test_tso_64k_ipv6(nic, system):
    """65536-byte skb over IPv6: MSS 1428 (1448 + 20 bytes more of IPv6 header would exceed a 1500 MTU)."""
    payload_len = GSO_MAX - 14 - 40 - 32
    frame, expected = _tso_v6(payload_len, 1428, seq=0x7FFF_FFF0, flags="FPA")
    assert len(frame) == GSO_MAX and len(expected) == 46
    got = transmit(system, nic, [(frame, {"gso_size": 1428, "nr_frags": 17})])
    assert_frames(got, expected)


def test_tso_ipv6_mss_1448(system):
    """MSS 1448 over IPv6 too (1534-byte segments: within DTXMXPKTSZ, a jumbo-ish MTU)."""
    frame, expected = _tso_v6(20_000, 1448)
    assert_frames(transmit(system, "82576", [(frame, {"gso_size": 1448, "nr_frags": 4})]), expected)


def _data_descriptors(s, first: int, count: int) -> list[int]:
    """DTALEN of the data descriptors ``first``…, as igb wrote them (cmd_type_len, read format)."""
    ring = s.adapter.tx_ring[0]
    out = []
    for i in range(first, first + count):
        cmd_type_len = struct.unpack_from("<I", s.host.mem.read(ring.desc + 16 * i, 16), 8)[0]
        out.append(cmd_type_len)
    return out


@pytest.mark.parametrize("nic", NICS)
@pytest.mark.parametrize("layout", ["frag40k", "linear40k"])
def test_tso_buffer_over_32k_split_in_two_descriptors(nic, layout, system):
    """A 64 KiB TSO skb with one 40 KiB buffer: igb_tx_map cuts it at IGB_MAX_DATA_PER_TXD (32 KiB)."""
    payload_len = GSO_MAX - 14 - 20 - 32
    frame, expected = _tso_v4(payload_len, 1448)
    if layout == "frag40k":
        sizes = [66, 40 * 1024, GSO_MAX - 66 - 40 * 1024]
    else:
        sizes = [40 * 1024, GSO_MAX - 40 * 1024]
    seen = {}

    def inspect(s):
        ring = s.adapter.tx_ring[0]
        seen["ntu"] = ring.next_to_use
        seen["desc"] = _data_descriptors(s, 1, ring.next_to_use - 1)

    got = transmit(system, nic, [(frame, {"gso_size": 1448, "frag_sizes": sizes[1:], "headlen": sizes[0]})],
                   inspect=inspect)
    assert_frames(got, expected)
    lens = [d & 0xFFFF for d in seen["desc"]]
    expect_lens = []
    for size in sizes:
        while size > 32768:
            expect_lens.append(32768)
            size -= 32768
        expect_lens.append(size)
    assert seen["ntu"] == 1 + len(expect_lens)      # context + data descriptors
    assert lens == expect_lens
    eop = [bool(d & 0x01000000) for d in seen["desc"]]
    assert eop == [False] * (len(expect_lens) - 1) + [True]


@pytest.mark.parametrize("nic", NICS)
def test_tso_with_vlan(nic, system):
    frame, expected = _tso_v4(5000, 1448, vlan=(TCI,))
    assert len(expected) == 4 and all(e[12:16] == bytes.fromhex("8100a123") for e in expected)
    assert_frames(transmit(system, nic, [(frame, {"gso_size": 1448, "nr_frags": 3, "vlan_tci": TCI})]), expected)


def test_tso_then_plain_then_tso(system):
    """Context descriptors between packets: each packet's own context (igb does no context caching)."""
    f1, e1 = _tso_v4(4000, 1448, id0=100, seq=5)
    plain = sized_frame("udp", 200)
    f3, e3 = _tso_v6(3000, 1000, seq=9)
    got = transmit(system, "82576", [(f1, {"gso_size": 1448, "nr_frags": 2}), (plain, {}),
                             (f3, {"gso_size": 1000, "nr_frags": 2})])
    assert_frames(got, e1 + [plain] + e3)


@pytest.mark.parametrize("nic", NICS)
def test_udp_gso_ipv4(nic, system):
    """SKB_GSO_UDP_L4: every segment a datagram with its own UDP length/checksum, IPv4 ID + k."""
    mss = 1400
    payload = pattern(5000)
    frame = frame_of(ip4(id=7), udp(), payload)
    expected = [frame_of(ip4(id=7 + k), udp(), payload[k * mss:(k + 1) * mss]) for k in range(4)]
    assert_frames(transmit(system, nic, [(frame, {"gso_size": mss, "nr_frags": 2})]), expected)


# --- ring wrap, batching ----------------------------------------------------------------------------------
@pytest.mark.parametrize("nic", NICS)
def test_ring_wraps_with_context_descriptors(nic, system):
    """80-descriptor ring, packets of 1, 2 (VLAN context + data) and 3 descriptors, written 4 at a
    time: contexts land on the last slot and data wraps to slot 0 many times over."""
    specs, expected = [], []
    for k in range(150):
        kind = k % 3
        if kind == 0:
            f = sized_frame("udp", 64 + k)
            specs.append((f, {}))
            expected.append(f)
        elif kind == 1:
            f = frame_of(ip4(id=k), udp(), pattern(100 + k, salt=k))
            specs.append((f, {"vlan_tci": 0x2000 | k}))
            expected.append(frame_of(ip4(id=k), udp(), pattern(100 + k, salt=k), 0x2000 | k))
        else:
            f = frame_of(ip6(), tcp(seq=k), pattern(600 + k, salt=k))
            specs.append((f, {"csum": True, "nr_frags": 1}))
            expected.append(f)
    assert_frames(transmit(system, nic, specs, run_ps=10 * MS, burst=4, ring_size=80), expected)
