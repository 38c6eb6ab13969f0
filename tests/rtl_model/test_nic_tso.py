"""TSO and the other TX offloads end to end through the NIC, with scapy as the independent reference.

Packets are built with scapy, posted by sim.assembly.nic_harness.NicTestHost exactly as
igb_tx_map lays them out (context descriptor, data descriptors of at most
IGB_MAX_DATA_PER_TXD bytes, doorbell), and run through the whole NIC: the
descriptor fetch, the buffer DMA, the offloads, the packet buffer and the MAC.
Every frame taken off the wire is checked independently: the FCS with
zlib.crc32, the IP/TCP/UDP checksums by letting scapy recompute them, the
per-segment header fields against arithmetic done here, and the whole frame
against a segment scapy builds from scratch.
"""
import math

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw, raw

from rtl_model import descriptors as d
from sim.assembly.nic_harness import NicTestHost, Offload
from tests.oracle import MAC, V4, V6, assert_checksums_valid, payload_bytes, rechecked, strip_fcs

MSS = 1448
PAYLOAD = 64000          # L4 payload: PAYLEN fits 18 bits, the packet 2 descriptors of <= 32 KiB
TS_OPTS = [("NOP", None), ("NOP", None), ("Timestamp", (123456, 654321))]  # TCP header 20 + 12 = 32
TCP_HDR = 32
FIN, PSH, ACK = 0x01, 0x08, 0x10
ETH_HDR = 14


def assert_wire_order(wire):
    """Frames start in order and never overlap: each ends (IPG included) before the next starts."""
    for (_, s0, e0), (_, s1, e1) in zip(wire, wire[1:]):
        assert s0 <= s1
        assert e0 <= s1, "frames overlap on the wire"
    for _, s, e in wire:
        assert s < e


def new_host(ring_size=64, psp=True, **kw):
    h = NicTestHost(**kw)
    ring = h.setup_tx_ring(0, ring_size)
    h.enable_tx(psp=psp)
    return h, ring


def transmit(packets_and_offloads, *, ring_size=64, psp=True, split=0):
    """Post every (packet bytes, Offload or None), ring the doorbell once, run to idle."""
    h, ring = new_host(ring_size, psp)
    eops = []
    for pkt, off in packets_and_offloads:
        eops.append(h.post(ring, pkt, off, split=split)[1])
    h.ring_doorbell(ring)
    h.run()
    assert h.host.iommu.faults == []
    assert h.nic.counters["malformed_drops"] == 0 and h.nic.counters["offload_drops"] == 0
    for i in eops:
        assert h.dd(ring, i), f"no DD on EOP descriptor {i}"
    assert_wire_order(h.wire)
    return h, ring


def tso_packet(ipv4, n=PAYLOAD, *, flags="FPA", seq=0xFFFF_F000, ip_id=0xFFF0, vlan=None):
    """Ether/IP(v6)/TCP(32-byte header)/payload; seq and IP ID chosen to wrap during the send."""
    l3 = IP(id=ip_id, flags="DF", ttl=61, tos=0x10, **V4) if ipv4 else IPv6(hlim=61, fl=0x12345, **V6)
    tcp = TCP(sport=40000, dport=5001, seq=seq, ack=0x01020304, flags=flags, window=501, options=TS_OPTS)
    pkt = Ether(**MAC) / l3 / tcp / Raw(payload_bytes(n))
    pkt = pkt.__class__(raw(pkt))  # freeze lengths and checksums as the stack would have them
    assert len(raw(pkt[TCP])) - n == TCP_HDR
    return pkt


def expected_segment(orig, i, count, chunk, mss):
    """Segment ``i`` of ``count`` built from scratch by scapy (not by editing the wire bytes)."""
    seg = orig.copy()
    tcp = seg[TCP]
    tcp.remove_payload()
    tcp.seq = (orig[TCP].seq + i * mss) & 0xFFFF_FFFF
    flags = int(orig[TCP].flags)
    tcp.flags = flags if i == count - 1 else flags & ~(FIN | PSH)
    del tcp.chksum
    if IP in seg:
        seg[IP].id = (orig[IP].id + i) & 0xFFFF
        del seg[IP].len
        del seg[IP].chksum
    else:
        del seg[IPv6].plen
    seg = seg / Raw(chunk)
    return Ether(raw(seg))


def check_tso(wire, orig, payload_len, mss, ipv4, iplen, vlan=None):
    """Every TSO invariant, segment by segment, against the original packet ``orig``."""
    count = math.ceil(payload_len / mss)
    assert len(wire) == count
    payload = bytes(orig[Raw].load)
    seq0, id0 = orig[TCP].seq, orig[IP].id if ipv4 else None
    hdr = ETH_HDR + iplen + TCP_HDR
    got = b""
    end_seq = None
    for i, (frame, _, _) in enumerate(wire):
        body = strip_fcs(frame)
        if vlan is not None:
            tagged = Ether(body)
            assert tagged.type == 0x8100 and tagged[Dot1Q].type == (0x0800 if ipv4 else 0x86DD)
            assert (tagged[Dot1Q].prio << 13 | tagged[Dot1Q].dei << 12 | tagged[Dot1Q].vlan) == vlan
            body = body[:12] + body[16:]
        seg_len = min(mss, payload_len - i * mss)
        assert len(body) == hdr + seg_len
        p = Ether(body)
        assert_checksums_valid(p)
        if ipv4:
            assert p[IP].len == len(body) - ETH_HDR
            assert p[IP].id == (id0 + i) & 0xFFFF
            assert p[IP].flags == orig[IP].flags and p[IP].ttl == orig[IP].ttl and p[IP].tos == orig[IP].tos
        else:
            assert p[IPv6].plen == len(body) - ETH_HDR - 40
            assert p[IPv6].fl == orig[IPv6].fl and p[IPv6].hlim == orig[IPv6].hlim
        t = p[TCP]
        assert t.seq == (seq0 + i * mss) & 0xFFFF_FFFF
        assert (t.sport, t.dport, t.ack, t.window) == (orig[TCP].sport, orig[TCP].dport,
                                                       orig[TCP].ack, orig[TCP].window)
        assert t.options == orig[TCP].options
        last = i == count - 1
        assert bool(t.flags & FIN) == (last and bool(orig[TCP].flags & FIN))
        assert bool(t.flags & PSH) == (last and bool(orig[TCP].flags & PSH))
        assert t.flags & ACK
        chunk = bytes(p[Raw].load)
        assert len(chunk) == seg_len
        if end_seq is not None:
            assert t.seq == end_seq, "sequence numbers not contiguous"
        end_seq = (t.seq + len(chunk)) & 0xFFFF_FFFF
        got += chunk
        assert raw(p) == raw(expected_segment(orig, i, count, chunk, mss))
    assert got == payload
    # the segments cover the sequence space of the payload exactly
    assert (end_seq - seq0) % 2**32 == payload_len


# --- TSO ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ipv4,mss", [(True, MSS), (False, MSS), (False, 1500 - 40 - TCP_HDR)],
                         ids=["ipv4", "ipv6", "ipv6-mtu-mss"])
def test_tso_64k_send(ipv4, mss):
    """MSS 1448 as asked of both families; 1428 is what a 1500-byte MTU gives IPv6 (full frames of 1514)."""
    iplen = 20 if ipv4 else 40
    orig = tso_packet(ipv4)
    pkt = raw(orig)
    assert len(pkt) - (ETH_HDR + iplen + TCP_HDR) == PAYLOAD
    assert PAYLOAD < 1 << 18 and d.txd_use_count(len(pkt)) == 2
    h, ring = transmit([(pkt, Offload(tso_mss=mss, l4len=TCP_HDR, ipv4=ipv4, iplen=iplen))])
    assert ring.posted == [(0, 2)]  # context + 2 data descriptors
    check_tso(h.wire, orig, PAYLOAD, mss, ipv4, iplen)
    assert h.nic.counters["frames"] == math.ceil(PAYLOAD / mss)
    if iplen + TCP_HDR + mss == 1500:
        assert {len(f) for f, _, _ in h.wire[:-1]} == {1514 + 4}


@pytest.mark.parametrize("ipv4", [True, False], ids=["ipv4", "ipv6"])
def test_tso_many_descriptors_not_on_segment_boundaries(ipv4):
    """Buffers of 4000 bytes: segments straddle descriptors; the header shares the first one."""
    iplen = 20 if ipv4 else 40
    orig = tso_packet(ipv4, n=20000, flags="PA", seq=1, ip_id=7)
    h, ring = transmit([(raw(orig), Offload(tso_mss=MSS, l4len=TCP_HDR, ipv4=ipv4, iplen=iplen))],
                       split=4000)
    assert ring.posted == [(0, math.ceil(len(raw(orig)) / 4000))]  # context at 0
    check_tso(h.wire, orig, 20000, MSS, ipv4, iplen)


def test_tso_short_last_segment_and_odd_mss():
    """MSS 1000 over 2501 bytes: 1000, 1000, 501 (odd length: checksum padding)."""
    orig = tso_packet(True, n=2501, seq=5, ip_id=0xFFFF)
    h, _ = transmit([(raw(orig), Offload(tso_mss=1000, l4len=TCP_HDR))])
    check_tso(h.wire, orig, 2501, 1000, True, 20)


def test_tso_with_vlan_insertion():
    tci = 3 << 13 | 1 << 12 | 0x123
    orig = tso_packet(True, n=10000)
    h, _ = transmit([(raw(orig), Offload(tso_mss=MSS, l4len=TCP_HDR, vlan=tci))])
    check_tso(h.wire, orig, 10000, MSS, True, 20, vlan=tci)
    assert all(len(f) == 14 + 4 + 20 + 32 + MSS + 4 for f, _, _ in h.wire[:-1])


def test_tso_back_to_back_packets_keep_order():
    """Two TSO sends in one doorbell: all segments of the first, then all of the second."""
    a = tso_packet(True, n=5000, seq=100, ip_id=1)
    b = tso_packet(True, n=3000, seq=9000, ip_id=50)
    off = Offload(tso_mss=MSS, l4len=TCP_HDR)
    h, _ = transmit([(raw(a), off), (raw(b), off)])
    na = math.ceil(5000 / MSS)
    check_tso(h.wire[:na], a, 5000, MSS, True, 20)
    check_tso(h.wire[na:], b, 3000, MSS, True, 20)


# --- checksum offload, VLAN, padding, multi-descriptor --------------------------------------------

def test_checksum_offload_tcp_ipv4():
    p = Ether(**MAC) / IP(id=9, **V4) / TCP(sport=1, dport=2, seq=77, flags="PA") / Raw(payload_bytes(1001))
    p = Ether(raw(p))
    sent = p.copy()
    sent[TCP].chksum = 0xDEAD  # whatever the stack left; the test host seeds it like Linux
    h, _ = transmit([(raw(sent), Offload(csum=True))])
    assert len(h.wire) == 1
    body = strip_fcs(h.wire[0][0])
    got = Ether(body)
    assert_checksums_valid(got)
    assert body == raw(p)  # scapy's correct checksums, every other byte untouched


def test_checksum_offload_udp_ipv6():
    p = Ether(**MAC) / IPv6(**V6) / UDP(sport=5353, dport=53) / Raw(payload_bytes(333))
    p = Ether(raw(p))
    h, _ = transmit([(raw(p), Offload(csum=True, ipv4=False, iplen=40, l4t="udp"))])
    assert len(h.wire) == 1
    body = strip_fcs(h.wire[0][0])
    assert_checksums_valid(Ether(body))
    assert body == raw(p)


def test_checksum_offload_udp_zero_becomes_ffff():
    """A UDP checksum that computes to 0 goes out as 0xFFFF (RFC 768), as scapy also writes it."""
    base = Ether(**MAC) / IPv6(**V6) / UDP(sport=1000, dport=2000) / Raw(payload_bytes(40) + b"\0\0")
    base = Ether(raw(base))
    # choose the last two payload bytes so that the one's complement sum is 0xFFFF
    fix = base[UDP].chksum  # = ~sum with those bytes 0; adding it as data makes the sum 0xFFFF
    p = Ether(raw(base)[:-2] + fix.to_bytes(2, "big"))
    p = rechecked(p)
    assert p[UDP].chksum == 0xFFFF
    h, _ = transmit([(raw(p), Offload(csum=True, ipv4=False, iplen=40, l4t="udp"))])
    body = strip_fcs(h.wire[0][0])
    assert Ether(body)[UDP].chksum == 0xFFFF
    assert body == raw(p)


@pytest.mark.parametrize("csum", [False, True], ids=["plain", "with-csum"])
def test_vlan_insertion(csum):
    tci = 5 << 13 | 0x0ABC
    p = Ether(raw(Ether(**MAC) / IP(id=3, **V4) / TCP(sport=7, dport=8) / Raw(payload_bytes(200))))
    h, _ = transmit([(raw(p), Offload(vlan=tci, csum=csum))])
    assert len(h.wire) == 1
    body = strip_fcs(h.wire[0][0])
    assert len(body) == len(raw(p)) + 4
    got = Ether(body)
    assert got.type == 0x8100
    assert got[Dot1Q].vlan == 0x0ABC and got[Dot1Q].prio == 5 and got[Dot1Q].dei == 0
    assert got[Dot1Q].type == 0x0800
    assert_checksums_valid(got)
    assert body[:12] + body[16:] == raw(p)


def test_psp_pads_short_frame_to_64_bytes():
    p = Ether(raw(Ether(**MAC) / IP(id=1, **V4) / UDP(sport=9, dport=9) / Raw(b"hi")))
    assert len(raw(p)) == 44
    h, _ = transmit([(raw(p), None)])
    frame = h.wire[0][0]
    assert len(frame) == 64
    body = strip_fcs(frame)
    assert body == raw(p) + bytes(16)
    got = Ether(body)
    assert got[UDP].load == b"hi"
    assert_checksums_valid(got)


def test_psp_pads_tagged_short_frame():
    p = Ether(raw(Ether(**MAC) / IP(id=1, **V4) / UDP(sport=9, dport=9)))
    h, _ = transmit([(raw(p), Offload(vlan=0x0064))])
    body = strip_fcs(h.wire[0][0])
    assert len(body) == 60
    assert Ether(body)[Dot1Q].vlan == 0x64
    assert body[:12] + body[16:16 + len(raw(p)) - 12] == raw(p)
    assert body[4 + len(raw(p)):] == bytes(60 - 4 - len(raw(p)))


def test_short_frame_without_psp_is_dropped():
    p = Ether(raw(Ether(**MAC) / IP(id=1, **V4) / UDP(sport=9, dport=9)))
    h, ring = new_host(psp=False)
    _, eop = h.post(ring, raw(p))
    h.ring_doorbell(ring)
    h.run()
    assert h.wire == []
    assert h.nic.counters["offload_drops"] == 1
    assert h.dd(ring, eop)  # the descriptors are still completed: the ring does not stall


@pytest.mark.parametrize("n,split", [(1514, 100), (1000, 50), (61, 3), (9000, 1024), (333, 17)])
def test_multi_descriptor_packet_reassembled(n, split):
    p = Ether(raw(Ether(**MAC) / IP(id=4, **V4) / UDP(sport=1, dport=2)
                  / Raw(payload_bytes(n - 42, salt=split))))
    assert len(raw(p)) == n
    h, ring = transmit([(raw(p), None)], split=split)
    assert ring.posted == [(0, math.ceil(n / split) - 1)]
    assert len(h.wire) == 1
    assert strip_fcs(h.wire[0][0]) == raw(p)


def test_multi_descriptor_checksum_offload_header_split_across_descriptors():
    """Buffers of 7 bytes: the IP and TCP headers (and the checksum field) straddle descriptors."""
    p = Ether(raw(Ether(**MAC) / IP(id=4, **V4) / TCP(sport=1, dport=2, flags="A") / Raw(payload_bytes(100))))
    h, _ = transmit([(raw(p), Offload(csum=True))], split=7)
    body = strip_fcs(h.wire[0][0])
    assert_checksums_valid(Ether(body))
    assert body == raw(p)


def test_mixed_batch_in_ring_order_and_wire_timing():
    """Plain, checksum, VLAN and TSO packets in one doorbell come out in ring order, back to back."""
    plain = Ether(raw(Ether(**MAC) / IP(id=1, **V4) / UDP(sport=1, dport=2) / Raw(payload_bytes(500))))
    csum = Ether(raw(Ether(**MAC) / IP(id=2, **V4) / TCP(sport=3, dport=4) / Raw(payload_bytes(700))))
    tso = tso_packet(True, n=4000, seq=10, ip_id=20)
    small = Ether(raw(Ether(**MAC) / IP(id=3, **V4) / UDP(sport=5, dport=6)))
    h, _ = transmit([(raw(plain), None), (raw(csum), Offload(csum=True)),
                     (raw(tso), Offload(tso_mss=MSS, l4len=TCP_HDR)), (raw(small), Offload(vlan=9))])
    assert len(h.wire) == 1 + 1 + 3 + 1
    assert strip_fcs(h.wire[0][0]) == raw(plain)
    assert strip_fcs(h.wire[1][0]) == raw(csum)
    check_tso(h.wire[2:5], tso, 4000, MSS, True, 20)
    last = strip_fcs(h.wire[5][0])
    assert len(last) == 60 and Ether(last)[Dot1Q].vlan == 9
    # back to back at line rate: once the first frame is out, the MAC never idles
    for (_, _, e0), (_, s1, _) in zip(h.wire[1:], h.wire[2:]):
        assert s1 == e0


def test_each_packet_uses_its_own_context_while_reads_are_pipelined():
    """Packets are taken (and their context descriptors stored) before earlier ones commit:
    each must still be built with the context that preceded it in the ring."""
    a = tso_packet(True, n=3000, seq=1, ip_id=1)
    b = tso_packet(False, n=2000, seq=2)
    c = Ether(raw(Ether(**MAC) / IPv6(**V6) / UDP(sport=1, dport=2) / Raw(payload_bytes(99))))
    e = Ether(raw(Ether(**MAC) / IP(id=5, **V4) / TCP(sport=3, dport=4) / Raw(payload_bytes(98))))
    h, _ = transmit([(raw(a), Offload(tso_mss=1000, l4len=TCP_HDR)),
                     (raw(b), Offload(tso_mss=700, l4len=TCP_HDR, ipv4=False, iplen=40)),
                     (raw(c), Offload(csum=True, ipv4=False, iplen=40, l4t="udp")),
                     (raw(e), Offload(csum=True, vlan=0x42))])
    assert len(h.wire) == 3 + 3 + 1 + 1
    check_tso(h.wire[:3], a, 3000, 1000, True, 20)
    check_tso(h.wire[3:6], b, 2000, 700, False, 40)
    assert strip_fcs(h.wire[6][0]) == raw(c)
    last = strip_fcs(h.wire[7][0])
    assert Ether(last)[Dot1Q].vlan == 0x42 and last[:12] + last[16:] == raw(e)
