"""TX offloads (rtl_model/offload.py), checked against scapy as an independent reference.

Packets are built with scapy, run through build_frames, and every output frame
is re-parsed with scapy: its checksums are compared with the ones scapy
computes after the fields are deleted, its FCS with zlib.crc32.
"""
import zlib

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Raw, raw

from rtl_model.offload import (OffloadRequest, build_frames, ethernet_fcs, ipv4_header_checksum,
                               l4_checksum, ones_complement_sum, pseudo_header, sctp_crc32c)
from tests.oracle import MAC, V4, V6, ones_sum, payload_bytes, rechecked, strip_fcs

MSS = 1448
TS_OPTS = [("NOP", None), ("NOP", None), ("Timestamp", (123456, 654321))]  # 12 bytes: TCP header 32
FIN, PSH, ACK, ECE, CWR = 0x01, 0x08, 0x10, 0x40, 0x80


def tso_request(ipv4=True, l4t="tcp", l4len=32, mss=MSS, iplen=None, **kw):
    """A TSO request as igb_tso builds it (IXSM only for IPv4)."""
    iplen = iplen if iplen is not None else (20 if ipv4 else 40)
    return OffloadRequest(tse=True, txsm=True, ixsm=ipv4, ifcs=True, maclen=14, iplen=iplen,
                          l4len=l4len, mss=mss, ipv4=ipv4, l4t=l4t, **kw)


def tso_tcp_packet(ipv4, n, flags="PA", seq=1000, ip_id=0x1234, linux_prep=False):
    """Ether/IP(v6)/TCP with a 32-byte TCP header and an n-byte payload."""
    l3 = IP(id=ip_id, flags="DF", **V4) if ipv4 else IPv6(**V6)
    tcp = TCP(sport=40000, dport=5001, seq=seq, ack=77, flags=flags, window=501, options=TS_OPTS)
    pkt = Ether(**MAC) / l3 / tcp / Raw(payload_bytes(n))
    if linux_prep:
        pkt = linux_tso_prep(pkt, ipv4)
    return pkt


def linux_tso_prep(pkt, ipv4):
    """What igb_tso leaves in memory: IP length 0, L4 checksum = pseudo-header sum without length."""
    pkt = pkt.copy()
    ip = pkt[IP] if ipv4 else pkt[IPv6]
    if ipv4:
        ip.len, ip.chksum = 0, 0
    else:
        ip.plen = 0
    buf = raw(pkt)
    seed = pseudo_seed(buf, ipv4, 6, 0)
    pkt[TCP].chksum = seed
    return pkt


def pseudo_seed(buf, ipv4, proto, length):
    """Linux's ~csum_tcpudp_magic(...): the folded, uncomplemented pseudo-header sum."""
    l4t = {6: "tcp", 17: "udp"}[proto]
    return (~l4_checksum(pseudo_header(buf, 14, ipv4, l4t, length), b"")) & 0xFFFF


def segments(frames, l3):
    """Parse output frames (with FCS) into scapy packets."""
    pkts = [Ether(strip_fcs(f)) for f in frames]
    for p in pkts:
        assert l3 in p
    return pkts


# --- helpers against scapy ---------------------------------------------------------------

def test_ipv4_header_checksum_matches_scapy():
    pkt = IP(id=9, ttl=3, options=b"\x01\x01\x01\x00", **V4) / UDP()
    ref = IP(raw(pkt))
    hdr = raw(pkt)[:ref.ihl * 4]
    assert ipv4_header_checksum(hdr) == ref.chksum
    assert ipv4_header_checksum(hdr[:10] + b"\xde\xad" + hdr[12:]) == ref.chksum  # field ignored


# The sum is computed as a big number modulo 0xFFFF; RFC 1071's word-by-word end-around carry
# (tests.oracle.ones_sum) is the reference, negative zero (0xFFFF for non-zero data) included.
SUM_EDGES = [b"", b"\x00", b"\x00" * 1500, b"\x01", b"\xff", b"\xff\xff", b"\xff" * 1480, b"\xff" * 1481,
             b"\xff\xfe\x00\x01", b"\x80\x00\x80\x00", b"\xff\xff" * 65537, b"\x00\x01" * 0xFFFF,
             b"\x00" * 7 + b"\x01"]


@pytest.mark.parametrize("data", SUM_EDGES, ids=lambda d: f"{len(d)}B-{d[:4].hex()}")
def test_ones_complement_sum_edges_match_rfc1071(data):
    for form in (bytes, bytearray, memoryview):
        assert ones_complement_sum(form(data)) == ones_sum(bytes(data))


def test_ones_complement_sum_negative_zero():
    assert ones_complement_sum(b"\x00" * 20) == 0            # all-zero data: +0
    assert ones_complement_sum(b"\xff\xfe\x00\x01") == 0xFFFF  # a true sum of 0xFFFF: -0, not 0
    assert ones_complement_sum(b"\xff\xff" * 3) == 0xFFFF      # 3 * 0xFFFF folds to 0xFFFF


def test_ones_complement_sum_random_lengths_match_rfc1071():
    rng = random.Random(1071)
    for n in list(range(0, 64)) + [rng.randrange(64, 9100) for _ in range(300)]:
        data = rng.randbytes(n)
        assert ones_complement_sum(data) == ones_sum(data), n


@settings(max_examples=500, derandomize=True, deadline=None)
@given(data=st.binary(max_size=2000))
def test_ones_complement_sum_matches_rfc1071(data):
    assert ones_complement_sum(data) == ones_sum(data)


def test_ethernet_fcs_is_crc32_lsb_first():
    frame = raw(Ether(**MAC) / ARP())
    assert ethernet_fcs(frame) == zlib.crc32(frame).to_bytes(4, "little")
    # the residue property of IEEE 802.3: CRC over frame+FCS is the magic constant
    assert zlib.crc32(frame + ethernet_fcs(frame)) == 0x2144DF1C


def test_crc32c_check_value():
    assert sctp_crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue check value


# --- TSO ---------------------------------------------------------------------------------

def check_tcp_tso(pkts, orig, ipv4, mss=MSS):
    """Every property of a correct TCP segmentation of ``orig``."""
    l3 = IP if ipv4 else IPv6
    payload = bytes(orig[Raw].load)
    assert len(pkts) == -(-len(payload) // mss)
    got = b""
    for i, p in enumerate(pkts):
        assert raw(p) == raw(rechecked(p)), f"segment {i}: checksum differs from scapy's"
        seg = bytes(p[TCP].payload)
        assert len(seg) == (mss if i < len(pkts) - 1 else len(payload) - mss * (len(pkts) - 1))
        if ipv4:
            assert p[IP].len == 20 + 32 + len(seg)
            assert p[IP].id == (orig[IP].id + i) & 0xFFFF
            assert p[IP].flags == orig[IP].flags
        else:
            assert p[IPv6].plen == 32 + len(seg)
        assert p[TCP].seq == (orig[TCP].seq + len(got)) & 0xFFFFFFFF
        assert p[TCP].options == orig[TCP].options
        assert p[TCP].dataofs == 8
        got += seg
    assert got == payload
    assert all(l3 in p for p in pkts)


@pytest.mark.parametrize("ipv4", [True, False], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("use_seed", [False, True], ids=["computed", "seeded"])
def test_tso_64k_tcp(ipv4, use_seed):
    orig = tso_tcp_packet(ipv4, 64 * 1000, flags="FPA", linux_prep=use_seed)
    res = build_frames(raw(orig), tso_request(ipv4), psp=True, use_seed=use_seed)
    assert res.ok, res.problems
    pkts = segments(res.frames, IP if ipv4 else IPv6)
    assert len(pkts) == 45  # ceil(64000 / 1448)
    ref = tso_tcp_packet(ipv4, 64 * 1000, flags="FPA")
    check_tcp_tso(pkts, ref, ipv4)
    assert all(len(f) == 14 + (20 if ipv4 else 40) + 32 + MSS + 4 for f in res.frames[:-1])


@pytest.mark.parametrize("n", [MSS * 10, MSS + 1, 65483 - 52])
def test_tso_segment_count_is_ceil_payload_over_mss(n):
    orig = tso_tcp_packet(True, n)
    res = build_frames(raw(orig), tso_request(), psp=True)
    pkts = segments(res.frames, IP)
    check_tcp_tso(pkts, orig, True)


def test_tso_ip_id_and_sequence_wrap():
    orig = tso_tcp_packet(True, 5 * MSS, seq=0xFFFFFFFF - 2000, ip_id=0xFFFE)
    pkts = segments(build_frames(raw(orig), tso_request(), psp=True).frames, IP)
    assert [p[IP].id for p in pkts] == [0xFFFE, 0xFFFF, 0, 1, 2]
    check_tcp_tso(pkts, orig, True)


def test_tso_flags_fin_psh_last_cwr_first():
    orig = tso_tcp_packet(True, 4 * MSS, flags=FIN | PSH | ACK | ECE | CWR)
    pkts = segments(build_frames(raw(orig), tso_request(), psp=True).frames, IP)
    flags = [int(p[TCP].flags) for p in pkts]
    assert flags[0] == ACK | ECE | CWR
    assert flags[1] == flags[2] == ACK | ECE
    assert flags[3] == FIN | PSH | ACK | ECE
    check_tcp_tso(pkts, orig, True)


def test_tso_single_segment_keeps_all_flags():
    orig = tso_tcp_packet(True, 100, flags=FIN | PSH | ACK | CWR)
    pkts = segments(build_frames(raw(orig), tso_request(), psp=True).frames, IP)
    assert len(pkts) == 1 and int(pkts[0][TCP].flags) == FIN | PSH | ACK | CWR
    check_tcp_tso(pkts, orig, True)


def test_tso_short_last_segment_is_padded_with_psp():
    orig = Ether(**MAC) / IP(**V4) / TCP(flags="A") / Raw(payload_bytes(MSS + 1))  # 20-byte TCP header
    res = build_frames(raw(orig), tso_request(l4len=20), psp=True)
    assert res.ok, res.problems
    body = strip_fcs(res.frames[-1])
    assert len(body) == 60 and body[14 + 20 + 20 + 1:] == bytes(5)
    last = Ether(body)
    assert last[IP].len == 20 + 20 + 1  # the IP length still says 1 payload byte
    assert raw(last) == raw(rechecked(last))


@pytest.mark.parametrize("ipv4", [True, False], ids=["ipv4", "ipv6"])
def test_tso_with_vlan_insertion(ipv4):
    orig = tso_tcp_packet(ipv4, 3 * MSS + 17)
    tci = (5 << 13) | (1 << 12) | 0x123  # PCP 5, DEI 1, VID 0x123
    res = build_frames(raw(orig), tso_request(ipv4, vle=True, vlan=tci), psp=True)
    assert res.ok, res.problems
    pkts = [Ether(strip_fcs(f)) for f in res.frames]
    for p in pkts:
        assert p.type == 0x8100
        assert (p[Dot1Q].prio, p[Dot1Q].dei, p[Dot1Q].vlan) == (5, 1, 0x123)
        assert p[Dot1Q].type == (0x0800 if ipv4 else 0x86DD)
    check_tcp_tso(pkts, orig, ipv4)


def test_vlan_tpid_comes_from_vet():
    pkt = raw(Ether(**MAC) / IP(**V4) / UDP() / Raw(payload_bytes(40)))
    res = build_frames(pkt, OffloadRequest(vle=True, vlan=7), psp=True, vet=0x88A8)
    body = strip_fcs(res.frames[0])
    assert body[12:16] == b"\x88\xa8\x00\x07" and body[:12] + body[16:] == pkt


def test_udp_segmentation():
    orig = Ether(**MAC) / IP(id=50, **V4) / UDP(sport=1, dport=2) / Raw(payload_bytes(4000))
    res = build_frames(raw(orig), tso_request(l4t="udp", l4len=8, mss=1000), psp=True)
    assert res.ok, res.problems
    pkts = segments(res.frames, IP)
    assert len(pkts) == 4
    for i, p in enumerate(pkts):
        assert raw(p) == raw(rechecked(p))
        assert p[UDP].len == 8 + 1000 and p[IP].len == 20 + 8 + 1000
        assert p[IP].id == 50 + i
        assert bytes(p[UDP].payload) == payload_bytes(4000)[i * 1000:(i + 1) * 1000]


# --- checksum-only offloads ------------------------------------------------------------------

def csum_request(ipv4, l4t, ixsm=None, iplen=None):
    """igb_tx_csum-style context (plus IXSM when asked)."""
    return OffloadRequest(txsm=True, ixsm=bool(ixsm), ifcs=True, maclen=14,
                          iplen=iplen or (20 if ipv4 else 40), ipv4=ipv4, l4t=l4t)


def zeroed(pkt):
    """The packet with its checksum fields zeroed (what the NIC must fill in)."""
    p = pkt.copy()
    for layer in (IP, TCP, UDP):
        if layer in p:
            p[layer].chksum = 0
    return raw(p)


@pytest.mark.parametrize("ipv4", [True, False], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("l4", [TCP(sport=1, dport=2, flags="PA", seq=99), UDP(sport=3, dport=4)],
                         ids=["tcp", "udp"])
@pytest.mark.parametrize("n", [0, 1, 333])
def test_checksum_offload_matches_scapy(ipv4, l4, n):
    l3 = IP(**V4) if ipv4 else IPv6(**V6)
    pkt = Ether(**MAC) / l3 / l4 / Raw(payload_bytes(n))
    ref = Ether(raw(pkt))  # scapy computes every checksum
    l4t = "tcp" if TCP in pkt else "udp"
    res = build_frames(zeroed(pkt), csum_request(ipv4, l4t, ixsm=ipv4), psp=True)
    assert res.ok, res.problems
    body = strip_fcs(res.frames[0])
    assert body == raw(ref) + bytes(max(0, 60 - len(raw(ref))))


@pytest.mark.parametrize("use_seed", [False, True], ids=["computed", "seeded"])
@pytest.mark.parametrize("l4", [TCP(sport=1, dport=2, flags="PA", seq=99), UDP(sport=3, dport=4)],
                         ids=["tcp", "udp"])
def test_ipv4_checksum_offload_as_igb_asks_for_it_without_tucmd_ipv4(l4, use_seed):
    """igb_tx_csum never sets TUCMD.IPV4 (facts §3.5): IPLEN 20, IPV4 = 0 must still checksum IPv4."""
    pkt = Ether(**MAC) / IP(**V4) / l4 / Raw(payload_bytes(100))
    ref = Ether(raw(pkt))
    l4t = "tcp" if TCP in pkt else "udp"
    req = OffloadRequest(txsm=True, ifcs=True, maclen=14, iplen=20, ipv4=False, l4t=l4t)
    sent = bytearray(raw(ref))                       # IPv4 header checksum done by the stack
    at = 34 + (16 if l4t == "tcp" else 6)
    sent[at:at + 2] = bytes(2)
    if use_seed:   # what the stack leaves: the folded pseudo-header sum, with the L4 length
        l4_len = len(sent) - 34
        pseudo = sent[26:34] + struct.pack("!HH", {"tcp": 6, "udp": 17}[l4t], l4_len)
        struct.pack_into("!H", sent, at, ones_sum(bytes(pseudo)))
    res = build_frames(bytes(sent), req, psp=True, use_seed=use_seed)
    assert res.ok, res.problems
    assert strip_fcs(res.frames[0]) == raw(ref)


def test_txsm_without_ixsm_leaves_ip_checksum_alone():
    pkt = Ether(**MAC) / IP(chksum=0xBEEF, **V4) / TCP() / Raw(b"xyz")
    res = build_frames(raw(pkt), csum_request(True, "tcp"), psp=True)
    out = Ether(strip_fcs(res.frames[0]))
    assert out[IP].chksum == 0xBEEF
    assert out[TCP].chksum == rechecked(pkt)[TCP].chksum


def test_ixsm_with_ip_options():
    pkt = Ether(**MAC) / IP(options=b"\x94\x04\x00\x00", **V4) / UDP() / Raw(payload_bytes(30))
    ref = Ether(raw(pkt))
    res = build_frames(zeroed(pkt), csum_request(True, "udp", ixsm=True, iplen=24), psp=True)
    assert strip_fcs(res.frames[0]) == raw(ref)


@pytest.mark.parametrize("ipv4", [True, False], ids=["ipv4", "ipv6"])
def test_udp_checksum_zero_is_sent_as_ffff(ipv4):
    l3 = IP(**V4) if ipv4 else IPv6(**V6)
    probe = Ether(**MAC) / l3 / UDP(sport=7, dport=9) / Raw(b"\x00\x00" + payload_bytes(20))
    word = Ether(raw(probe))[UDP].chksum  # the payload word that makes the sum come out 0
    pkt = Ether(**MAC) / l3 / UDP(sport=7, dport=9) / Raw(word.to_bytes(2, "big") + payload_bytes(20))
    assert Ether(raw(pkt))[UDP].chksum == 0xFFFF  # scapy agrees: computed 0 goes out as FFFF
    res = build_frames(zeroed(pkt), csum_request(ipv4, "udp"), psp=True)
    assert Ether(strip_fcs(res.frames[0]))[UDP].chksum == 0xFFFF


@pytest.mark.parametrize("ipv4", [True, False], ids=["ipv4", "ipv6"])
def test_seeded_checksum_offload(ipv4):
    """use_seed: the NIC sums the Linux pseudo-header seed left in the field."""
    l3 = IP(**V4) if ipv4 else IPv6(**V6)
    pkt = Ether(**MAC) / l3 / TCP(flags="A") / Raw(payload_bytes(500))
    ref = Ether(raw(pkt))
    buf = bytearray(raw(ref))
    l4 = 14 + (20 if ipv4 else 40)
    buf[l4 + 16:l4 + 18] = pseudo_seed(bytes(buf), ipv4, 6, len(buf) - l4).to_bytes(2, "big")
    res = build_frames(bytes(buf), csum_request(ipv4, "tcp"), psp=True, use_seed=True)
    assert strip_fcs(res.frames[0]) == raw(ref)
    bad = build_frames(zeroed(pkt), csum_request(ipv4, "tcp"), psp=True, use_seed=True)
    assert strip_fcs(bad.frames[0]) != raw(ref)  # no seed, wrong checksum, as on hardware


def test_sctp_crc32c_matches_scapy():
    pkt = Ether(**MAC) / IP(**V4) / SCTP(sport=5, dport=6, tag=0x1234) / SCTPChunkData(data=b"hello sctp")
    ref = Ether(raw(pkt))
    buf = bytearray(raw(ref))
    buf[34 + 8:34 + 12] = b"\xaa\xbb\xcc\xdd"
    res = build_frames(bytes(buf), csum_request(True, "sctp"), psp=True)
    assert res.ok, res.problems
    assert strip_fcs(res.frames[0]) == raw(ref)


# --- framing: PSP, IFCS -----------------------------------------------------------------------------

def test_psp_pads_42_byte_frame_to_60_plus_fcs():
    pkt = raw(Ether(**MAC) / ARP(psrc="192.0.2.1", pdst="192.0.2.2"))
    assert len(pkt) == 42
    res = build_frames(pkt, OffloadRequest(), psp=True)
    assert len(res.frames[0]) == 64
    assert res.frames[0][:60] == pkt + bytes(18)
    strip_fcs(res.frames[0])


def test_psp_minimum_is_17_bytes():
    assert build_frames(bytes(17), OffloadRequest(), psp=True).ok
    res = build_frames(bytes(16), OffloadRequest(), psp=True)
    assert res.frames == [] and "17" in res.problems[0]


def test_no_ifcs_sends_the_bytes_as_they_are():
    frame = raw(Ether(**MAC) / IP(**V4) / UDP() / Raw(payload_bytes(60)))
    frame += ethernet_fcs(frame)  # software-supplied FCS
    res = build_frames(frame, OffloadRequest(ifcs=False), psp=True)
    assert res.frames == [frame]


def test_long_frame_unchanged_but_fcs():
    frame = raw(Ether(**MAC) / IP(**V4) / UDP() / Raw(payload_bytes(1472)))
    res = build_frames(frame, OffloadRequest(), psp=False)
    assert len(res.frames) == 1 and strip_fcs(res.frames[0]) == frame


# --- refusals ---------------------------------------------------------------------------------------

BIG = raw(tso_tcp_packet(True, 3000))
V6BIG = raw(tso_tcp_packet(False, 3000))


REFUSALS = [
    (BIG, tso_request(mss=0), True, "MSS 0"),
    (BIG, tso_request(mss=9217), True, "MSS 9217"),
    (BIG[:66], tso_request(), True, "no payload"),
    (BIG[:40], tso_request(), True, "longer than the packet"),
    (BIG, tso_request(l4len=300), True, "L4LEN 300"),
    (BIG, tso_request(l4len=8), True, "L4LEN 8"),
    (BIG, tso_request(iplen=511, l4len=255), True, "exceeds 512"),
    (BIG, OffloadRequest(tse=True, txsm=False, ixsm=True, maclen=14, iplen=20, l4len=32, mss=MSS,
                         ipv4=True, l4t="tcp"), True, "TXSM"),
    (BIG, OffloadRequest(tse=True, txsm=True, ixsm=False, maclen=14, iplen=20, l4len=32, mss=MSS,
                         ipv4=True, l4t="tcp"), True, "IXSM"),
    (V6BIG, OffloadRequest(tse=True, txsm=True, ixsm=True, maclen=14, iplen=40, l4len=32, mss=MSS,
                           ipv4=False, l4t="tcp"), True, "IPv6"),
    (BIG, tso_request(l4t="sctp"), True, "sctp"),
    (BIG, tso_request(l4t="l4t3"), True, "reserved"),
    (BIG, OffloadRequest(txsm=True), True, "without a context"),
    (BIG, OffloadRequest(tse=True, txsm=True, ixsm=True, maclen=14, iplen=20, ipv4=True, l4t="tcp"),
     True, "L4LEN/MSS"),
    (BIG, csum_request(True, "tcp", iplen=19), True, "IPLEN 19"),
    (BIG, OffloadRequest(txsm=True, maclen=13, iplen=20, ipv4=True, l4t="tcp"), True, "MACLEN 13"),
    (V6BIG, tso_request(False, iplen=24), True, "IPv6 header"),
    (BIG[:14 + 20 + 10], csum_request(True, "tcp"), True, "TCP header needs 20"),
    (BIG, OffloadRequest(vle=True), True, "VLAN"),
    (BIG, OffloadRequest(vle=True, vlan=1, ifcs=False), True, "IFCS"),
    (BIG, OffloadRequest(tse=True, txsm=True, ixsm=True, ifcs=False, maclen=14, iplen=20, l4len=32,
                         mss=MSS, ipv4=True, l4t="tcp"), True, "IFCS"),
    (bytes(42), OffloadRequest(), False, "without TCTL.PSP"),
    (bytes(42), OffloadRequest(ifcs=False), True, "IFCS"),
    (bytes(9729), OffloadRequest(), True, "DTXMXPKTSZ"),
    (raw(Ether(**MAC) / IP(**V4) / TCP() / Raw(payload_bytes(MSS + 1))), tso_request(l4len=20), False,
     "last TSO segment"),
]


@pytest.mark.parametrize("packet, req, psp, words", REFUSALS, ids=[c[3] for c in REFUSALS])
def test_refused_requests_give_a_reason_and_no_frames(packet, req, psp, words):
    res = build_frames(packet, req, psp=psp)
    assert res.frames == [] and not res.ok
    assert any(words.lower() in p.lower() for p in res.problems), res.problems


def test_jumbo_tso_segments_within_dtxmxpktsz():
    res = build_frames(raw(tso_tcp_packet(True, 20000)), tso_request(mss=9216), psp=True)
    assert res.ok and len(res.frames) == 3
    assert len(res.frames[0]) == 14 + 20 + 32 + 9216 + 4


def test_tso_segment_over_dtxmxpktsz_is_refused():
    res = build_frames(raw(tso_tcp_packet(True, 3000)), tso_request(mss=1500), psp=True, max_bytes=1514)
    assert res.frames == [] and "DTXMXPKTSZ 1514" in res.problems[0]


# --- robustness -----------------------------------------------------------------------------------

small = st.integers(min_value=-2, max_value=600)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(packet=st.binary(max_size=700), tse=st.booleans(), ixsm=st.booleans(), txsm=st.booleans(),
       vle=st.booleans(), ifcs=st.booleans(), psp=st.booleans(), use_seed=st.booleans(),
       maclen=st.none() | small, iplen=st.none() | small, l4len=st.none() | small,
       mss=st.none() | st.integers(min_value=-1, max_value=10000), ipv4=st.none() | st.booleans(),
       l4t=st.sampled_from([None, "tcp", "udp", "sctp", "bogus"]),
       vlan=st.none() | st.integers(min_value=0, max_value=0xFFFF))
def test_never_raises_on_any_packet_or_request(packet, tse, ixsm, txsm, vle, ifcs, psp, use_seed,
                                               maclen, iplen, l4len, mss, ipv4, l4t, vlan):
    req = OffloadRequest(tse=tse, ixsm=ixsm, txsm=txsm, vle=vle, ifcs=ifcs, maclen=maclen,
                         iplen=iplen, l4len=l4len, mss=mss, ipv4=ipv4, l4t=l4t, vlan=vlan)
    res = build_frames(packet, req, psp=psp, use_seed=use_seed)
    assert bool(res.frames) != bool(res.problems)
    for f in res.frames:
        assert len(f) >= (60 if psp else 0)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(packet=st.binary(min_size=80, max_size=4000), ipv4=st.booleans(), l4t=st.sampled_from(["tcp", "udp"]),
       mss=st.integers(min_value=1, max_value=2000), tse=st.booleans(), use_seed=st.booleans())
def test_garbage_contents_with_a_valid_context_still_give_frames(packet, ipv4, l4t, mss, tse, use_seed):
    """The NIC follows the context's offsets only: any bytes under a sane context are sent."""
    req = OffloadRequest(tse=tse, txsm=True, ixsm=ipv4, maclen=14, iplen=20 if ipv4 else 40,
                         l4len=20 if l4t == "tcp" else 8, mss=mss, ipv4=ipv4, l4t=l4t)
    res = build_frames(packet, req, psp=True, use_seed=use_seed)
    assert res.ok, res.problems
    hdr = 14 + req.iplen + req.l4len
    assert len(res.frames) == (-(-(len(packet) - hdr) // mss) if tse else 1)
