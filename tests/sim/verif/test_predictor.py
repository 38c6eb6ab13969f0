"""The testbench's descriptor codec, frame builder and predictor, against values worked out by hand.

Expected values come from first principles: descriptor words from igb_facts
§2.6 ("Worked descriptor values"), lengths and sequence numbers by arithmetic,
the FCS by a bit-serial CRC-32 written here, checksums by a receiver-side
check (the one's-complement sum over pseudo-header and segment, checksum field
included, folds to 0xFFFF). One test at the end runs the NIC model on random
packets and compares its wire with the predictor: early warning of a
disagreement (the model is the thing under test; the predictor must not use it).
"""
import random
import struct

import pytest

from sim.assembly.nic_harness import NicTestHost
from sim.host.iommu import DmaDirection
from sim.verif import frames, predictor, txdesc
from sim.verif.items import SkbSpec, TxPacket
from tests.oracle import ones_sum   # RFC 1071, the shared independent reference

ETH, IP4, IP6, TCPH, UDPH = 14, 20, 40, 20, 8


# --- independent references --------------------------------------------------------------------
def crc32_bitwise(data: bytes) -> int:
    """IEEE 802.3 CRC-32, reflected, bit by bit (no table, no zlib)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def strip_fcs(wire: bytes) -> bytes:
    """The frame without its FCS, after checking the FCS bit by bit."""
    body, fcs = wire[:-4], wire[-4:]
    assert int.from_bytes(fcs, "little") == crc32_bitwise(body), "bad FCS"
    return body


def l4_verifies(frame: bytes, l3_off: int, ipv4: bool) -> bool:
    """Receiver check: pseudo-header + L4 segment (checksum included) sums to 0xFFFF."""
    if ipv4:
        ihl = (frame[l3_off] & 0xF) * 4
        proto, addrs = frame[l3_off + 9], frame[l3_off + 12:l3_off + 20]
        seg = frame[l3_off + ihl:l3_off + struct.unpack_from("!H", frame, l3_off + 2)[0]]
        pseudo = addrs + struct.pack("!BBH", 0, proto, len(seg))
    else:
        proto, addrs = frame[l3_off + 6], frame[l3_off + 8:l3_off + 40]
        seg = frame[l3_off + 40:l3_off + 40 + struct.unpack_from("!H", frame, l3_off + 4)[0]]
        pseudo = addrs + struct.pack("!I3xB", len(seg), proto)
    return ones_sum(pseudo + seg) == 0xFFFF


def ipv4_header_verifies(frame: bytes, l3_off: int = ETH) -> bool:
    return ones_sum(frame[l3_off:l3_off + (frame[l3_off] & 0xF) * 4]) == 0xFFFF


def dwords(raw16: bytes) -> tuple[int, int, int, int]:
    return struct.unpack("<IIII", raw16)


# --- txdesc: worked values of facts §2.6 ------------------------------------------------------------
def test_plain_60_byte_frame_descriptor():
    pkt = TxPacket(frame=bytes(60), buffers=[60])
    (raw,) = txdesc.encode_packet(pkt, [0x1234_5678_9ABC_DEF0])
    assert struct.unpack("<QII", raw) == (0x1234_5678_9ABC_DEF0, 0x2B30003C, 0x000F0000)
    assert txdesc.decode_cmd(raw) == {"kind": "data", "len": 60, "paylen": 60, "EOP": True, "RS": True,
                                      "IFCS": True}


def test_tcp_ipv4_checksum_offload_descriptors():
    pkt = TxPacket(frame=bytes(1000), buffers=[1000], context=True, txsm=True)
    ctx, data = txdesc.encode_packet(pkt, [0x8000])
    assert dwords(ctx) == (0x00001C14, 0, 0x20200800, 0)   # igb_tx_csum: no TUCMD.IPV4
    assert dwords(data)[2:] == (0x2B300000 | 1000, (1000 << 14) | 0x200)


def test_tso_ipv4_tcp_descriptors():
    total, hdr = 64000 + 66, 14 + 20 + 32
    pkt = TxPacket(frame=bytes(total), buffers=[32768, total - 32768], context=True, tse=True, mss=1448,
                   txsm=True, ixsm=True, l4len=32)
    ctx, first, last = txdesc.encode_packet(pkt, [0x10000, 0x20000])
    assert dwords(ctx) == (0x00001C14, 0, 0x20200C00, 0x05A82000)
    assert dwords(first)[2:] == (0xA2300000 | 32768, ((total - hdr) << 14) | 0x300)
    assert dwords(last)[2:] == (0xAB300000 | (total - 32768), 0)


def test_vlan_context_and_rs_off():
    pkt = TxPacket(frame=bytes(100), buffers=[40, 60], context=True, vlan=0xA123, rs=False)
    ctx, d0, d1 = txdesc.encode_packet(pkt, [0, 0x40])
    assert dwords(ctx) == (0xA1230000 | 0x1C14, 0, 0x20200000, 0)   # VLAN-only context: type_tucmd 0
    assert dwords(d0)[2:] == (0x62300000 | 40, 100 << 14)            # VLE on every descriptor
    assert dwords(d1)[2:] == (0x63300000 | 60, 0)                    # EOP, no RS


def test_legacy_descriptor_fields():
    # qword1: len 15:0, CSO 23:16, CMD 31:24 (EOP|IFCS|IC|RS|VLE = 0x4F), STA, CSS 47:40, VLAN 63:48
    pkt = TxPacket(frame=bytes(70), buffers=[70], fmt="legacy", ic=True, css=34, cso=50, vlan=0x0123)
    (raw,) = txdesc.encode_packet(pkt, [0xAB00])
    assert raw == bytes.fromhex("00ab000000000000" "4600" "32" "4f" "00" "22" "2301")
    assert txdesc.decode_cmd(raw) == {"kind": "legacy", "len": 70, "cso": 50, "css": 34, "EOP": True,
                                      "IFCS": True, "IC": True, "RS": True, "VLE": True, "vlan": 0x123}


def test_intentional_errors_in_descriptors():
    base = dict(frame=bytes(200), buffers=[200], context=True, txsm=True)
    (_, d) = txdesc.encode_packet(TxPacket(**base, error="bad_paylen"), [0])
    assert dwords(d)[3] >> 14 == 201
    (_, d) = txdesc.encode_packet(TxPacket(**base, error="no_ifcs"), [0])
    assert dwords(d)[2] & 0x02000000 == 0
    tso = TxPacket(frame=bytes(3054), buffers=[3054], context=True, tse=True, mss=1448, error="tso_mss0")
    ctx, d = txdesc.encode_packet(tso, [0])
    assert dwords(ctx)[3] == 20 << 8 and dwords(d)[2] & 0x80000000
    with pytest.raises(ValueError):
        txdesc.encode_packet(TxPacket(frame=bytes(64), buffers=[64], error="no_ifcs"), [0])


def test_dd_set_reads_dword3_bit0():
    raw = bytes(12) + (1).to_bytes(4, "little")
    assert txdesc.dd_set(raw) and not txdesc.dd_set(bytes(16))
    assert txdesc.decode_cmd(raw)["DD"]


# --- frames ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("l3,l4,smallest", [("ipv4", "tcp", 54), ("ipv4", "udp", 42), ("ipv6", "tcp", 74),
                                            ("ipv6", "udp", 62), ("raw", "none", 17), ("ipv4", "none", 34)])
def test_frame_sizes(l3, l4, smallest):
    rng = random.Random(7)
    assert frames.min_size(l3, l4) == smallest
    for size in (smallest, smallest + 1, 1514, 9728):
        f = frames.build_frame(rng, size=size, l3=l3, l4=l4)
        assert len(f) == size and not f[0] & 1     # unicast destination
    with pytest.raises(ValueError):
        frames.build_frame(rng, size=smallest - 1, l3=l3, l4=l4)


def test_frame_checksums_as_linux_leaves_them():
    rng = random.Random(3)
    plain = frames.build_frame(rng, size=300, l3="ipv4", l4="tcp")
    assert ipv4_header_verifies(plain) and l4_verifies(plain, ETH, True)
    # checksum offload: the field holds P = fold(pseudo-header with the L4 length), not complemented
    f = frames.build_frame(rng, size=300, l3="ipv6", l4="udp", csum=True)
    pseudo = f[ETH + 8:ETH + 40] + struct.pack("!I3xB", 300 - ETH - IP6, 17)
    assert struct.unpack_from("!H", f, ETH + IP6 + 6)[0] == ones_sum(pseudo)
    # TSO: the same without the length; totals cover the super-packet; IPv4 checksum left to IXSM
    f = frames.build_frame(rng, size=65536, l3="ipv4", l4="tcp", tso_mss=1448, first_seq=77)
    assert struct.unpack_from("!H", f, ETH + 2)[0] == 65536 - ETH
    assert struct.unpack_from("!H", f, ETH + 10)[0] == 0
    pseudo = f[ETH + 12:ETH + 20] + struct.pack("!BBH", 0, 6, 0)
    assert struct.unpack_from("!H", f, ETH + IP4 + 16)[0] == ones_sum(pseudo)
    assert struct.unpack_from("!I", f, ETH + IP4 + 4)[0] == 77
    assert frames.header_lens("ipv6", "udp", vlan_inline=True) == (18, 40, 8)
    tagged = frames.build_frame(rng, size=100, l3="ipv4", l4="udp", vlan_inline=True)
    assert tagged[12:14] == b"\x81\x00" and tagged[16:18] == b"\x08\x00" and l4_verifies(tagged, 18, True)


# --- predictor ---------------------------------------------------------------------------------------
def tso_packet(rng, payload, mss, l3="ipv4", l4="tcp", flags=None, vlan=None):
    maclen, iplen, l4len = frames.header_lens(l3, l4)
    frame = bytearray(frames.build_frame(rng, size=maclen + iplen + l4len + payload, l3=l3, l4=l4,
                                         tso_mss=mss, first_seq=0xFFFF_FA00))
    if flags is not None:
        frame[maclen + iplen + 13] = flags   # flags are not in the seed (pseudo-header only)
    return TxPacket(frame=bytes(frame), buffers=[len(frame)], context=True, tse=True, mss=mss, txsm=True,
                    ixsm=l3 == "ipv4", l4t=l4, ipv4=l3 == "ipv4", maclen=maclen, iplen=iplen, l4len=l4len,
                    vlan=vlan)


def test_tso_3000_bytes_at_mss_1448():
    pkt = tso_packet(random.Random(11), 3000, 1448, flags=0x80 | 0x10 | 0x08 | 0x01)  # CWR ACK PSH FIN
    wire = predictor.expected_frames(pkt)
    assert [len(w) for w in wire] == [14 + 20 + 20 + 1448 + 4, 1506, 14 + 20 + 20 + 104 + 4]
    id0 = struct.unpack_from("!H", pkt.frame, ETH + 4)[0]
    body = [strip_fcs(w) for w in wire]
    for i, (f, n) in enumerate(zip(body, (1448, 1448, 104))):
        assert struct.unpack_from("!H", f, ETH + 2)[0] == IP4 + TCPH + n
        assert struct.unpack_from("!H", f, ETH + 4)[0] == (id0 + i) & 0xFFFF
        assert struct.unpack_from("!I", f, ETH + IP4 + 4)[0] == (0xFFFF_FA00 + 1448 * i) & 0xFFFF_FFFF
        assert ipv4_header_verifies(f) and l4_verifies(f, ETH, True)
        assert f[54:] == pkt.frame[54 + 1448 * i:54 + 1448 * i + n]
        assert f[:ETH] == pkt.frame[:ETH]
    assert [f[ETH + IP4 + 13] for f in body] == [0x80 | 0x10, 0x10, 0x10 | 0x08 | 0x01]


def test_tso_udp_ipv6_single_segment():
    pkt = tso_packet(random.Random(5), 5, 1000, l3="ipv6", l4="udp")
    (wire,) = predictor.expected_frames(pkt)
    f = strip_fcs(wire)
    assert len(f) == 67   # 14 + 40 + 8 + 5: no padding needed
    assert struct.unpack_from("!H", f, ETH + 4)[0] == UDPH + 5
    assert struct.unpack_from("!H", f, ETH + IP6 + 4)[0] == UDPH + 5
    assert l4_verifies(f, ETH, False)


def test_vlan_tag_after_source_address():
    rng = random.Random(9)
    frame = frames.build_frame(rng, size=200, l3="ipv4", l4="udp")
    pkt = TxPacket(frame=frame, buffers=[200], context=True, vlan=0xB00C)
    (wire,) = predictor.expected_frames(pkt)
    f = strip_fcs(wire)
    assert f[12:16] == bytes.fromhex("8100b00c") and f[:12] + f[16:] == frame


def test_short_frame_padded_to_60():
    frame = frames.build_frame(random.Random(1), size=42, l3="ipv4", l4="udp")
    (wire,) = predictor.expected_frames(TxPacket(frame=frame, buffers=[42]))
    assert len(wire) == 64 and strip_fcs(wire) == frame + bytes(18)


def test_legacy_ic_sums_from_css_including_the_field():
    hdr = bytes.fromhex("02000000000202000000000188b5")
    # words 0x0102 0x0304 [field at 18] 0xF0F0; sum 0xF4F6 -> checksum 0x0B09
    frame = hdr + bytes.fromhex("01020304" "0000" "f0f0")
    pkt = TxPacket(frame=frame, buffers=[len(frame)], fmt="legacy", ic=True, css=14, cso=18)
    assert strip_fcs(predictor.expected_frames(pkt)[0])[:22] == hdr + bytes.fromhex("010203040b09f0f0")
    # a seed in the field is summed too: 0xF4F6 + 0x1000 = 0x104F6 -> 0x04F7 -> 0xFB08
    seeded = TxPacket(frame=frame[:18] + b"\x10\x00" + frame[20:], buffers=[22], fmt="legacy",
                      ic=True, css=14, cso=18)
    assert strip_fcs(predictor.expected_frames(seeded)[0])[18:20] == b"\xfb\x08"
    # an odd tail byte is summed as its high half: + 0xAB00 -> 0x19FF6 -> 0x9FF7 -> 0x6008
    odd = TxPacket(frame=frame + b"\xab", buffers=[23], fmt="legacy", ic=True, css=14, cso=18)
    assert strip_fcs(predictor.expected_frames(odd)[0])[18:20] == b"\x60\x08"
    # CSO >= length - 1: IC ignored
    out = TxPacket(frame=frame, buffers=[22], fmt="legacy", ic=True, css=14, cso=21)
    assert strip_fcs(predictor.expected_frames(out)[0])[:22] == frame


def test_checksum_offload_completes_the_seeded_field():
    rng = random.Random(21)
    for l3, l4 in (("ipv4", "tcp"), ("ipv6", "udp"), ("ipv6", "tcp")):
        maclen, iplen, _ = frames.header_lens(l3, l4)
        f = frames.build_frame(rng, size=777, l3=l3, l4=l4, csum=True)
        assert not l4_verifies(f, maclen, l3 == "ipv4")
        pkt = TxPacket(frame=f, buffers=[300, 477], context=True, txsm=True, l4t=l4, ipv4=l3 == "ipv4",
                       iplen=iplen)
        (wire,) = predictor.expected_frames(pkt)
        assert l4_verifies(strip_fcs(wire), maclen, l3 == "ipv4")


def test_no_ifcs_frame_and_errors():
    frame = frames.build_frame(random.Random(2), size=100, l3="raw", l4="none")
    assert predictor.expected_frames(TxPacket(frame=frame, buffers=[100], ifcs=False)) == [frame]
    for kind in ("overlong", "zero_len_mid", "bad_paylen", "tso_mss0", "no_ifcs", "dma_fault"):
        assert predictor.expected_frames(TxPacket(frame=frame, buffers=[100], error=kind)) == []
    with pytest.raises(ValueError):     # padding without IFCS, not declared as an error
        predictor.expected_frames(TxPacket(frame=frame[:40], buffers=[40], ifcs=False))


def test_expected_dd():
    pkt = TxPacket(frame=bytes(100), buffers=[50, 50], context=True, vlan=1)
    assert predictor.expected_dd(pkt, wthresh=0, head_wb=False) == [False, False, True]
    assert predictor.expected_dd(pkt, wthresh=16, head_wb=False) == [True, True, True]
    assert predictor.expected_dd(pkt, wthresh=0, head_wb=True) == [False, False, False]
    pkt.rs = False
    assert predictor.expected_dd(pkt, wthresh=0, head_wb=False) == [False, False, False]
    pkt.rs, pkt.error = True, "dma_fault"
    assert predictor.expected_dd(pkt, wthresh=1, head_wb=False) == [False] * 3


def test_skb_frames_match_the_equivalent_descriptors():
    rng = random.Random(4)
    gso = tso_packet(rng, 5000, 1448, l3="ipv6", vlan=0x0064)
    skb = SkbSpec(frame=gso.frame, gso_size=1448, csum=True, vlan=0x0064, ipv4=False)
    assert predictor.expected_skb_frames(skb) == predictor.expected_frames(gso)
    small = frames.build_frame(rng, size=20, l3="raw", l4="none")
    (wire,) = predictor.expected_skb_frames(SkbSpec(frame=small, vlan=5))
    assert len(wire) == 64 and strip_fcs(wire)[12:16] == bytes.fromhex("81000005")
    f = frames.build_frame(rng, size=600, l3="ipv4", l4="udp", csum=True)
    (wire,) = predictor.expected_skb_frames(SkbSpec(frame=f, csum=True, l4t="udp"))
    assert l4_verifies(strip_fcs(wire), ETH, True) and strip_fcs(wire)[:40] == f[:40]


# --- cross-check against the NIC model ---------------------------------------------------------------
def _random_tx_packet(rng: random.Random, k: int) -> TxPacket:
    """A packet for the cross-check: offloads, splits, legacy without IC/VLE, some intentional errors."""
    errors = ("bad_paylen", "tso_mss0", "no_ifcs", "zero_len_mid", "overlong")
    kind = errors[k // 4] if k % 4 == 3 else rng.choice(["plain", "csum", "tso", "tso", "vlan", "ixsm", "legacy",
                                                         "csum_vlan"])
    l3 = rng.choice(["ipv4", "ipv6"])
    l4 = rng.choice(["tcp", "udp"])
    tso = kind in ("tso", "tso_mss0")
    if kind == "overlong":
        size, l3, l4 = 9729 + rng.randrange(500), "raw", "none"
    elif tso:
        size = rng.randint(200, 20000)
    else:
        size = rng.randint(frames.min_size(l3, l4), 3000)
    mss = rng.choice([536, 1448, 1460]) if tso else 0
    txsm = kind in ("csum", "csum_vlan", "no_ifcs", "bad_paylen") or (kind == "ixsm" and l3 == "ipv4")
    ixsm = tso and l3 == "ipv4" or (kind == "ixsm" and l3 == "ipv4")
    frame = frames.build_frame(rng, size=size, l3=l3, l4=l4, tso_mss=mss, csum=txsm, first_seq=k * 10**6)
    maclen, iplen, l4len = frames.header_lens(l3, l4)
    cut = sorted(rng.sample(range(1, size), min(rng.randint(0, 3), size - 1)))
    buffers = [b - a for a, b in zip([0] + cut, cut + [size])]
    if kind == "zero_len_mid":
        buffers.insert(0, 0)
    elif kind not in errors and rng.random() < 0.15:
        buffers.append(0)     # a zero-length last descriptor carrying EOP: legal
    vlan = rng.randrange(1 << 16) if kind in ("vlan", "csum_vlan") or rng.random() < 0.1 else None
    legacy = kind == "legacy"
    return TxPacket(frame=frame, buffers=buffers, fmt="legacy" if legacy else "adv",
                    rs=rng.random() < 0.8, context=not legacy and (tso or txsm or ixsm or vlan is not None),
                    tse=tso, mss=mss, txsm=txsm, ixsm=ixsm, l4t=l4 if l4 != "none" else "udp",
                    ipv4=l3 == "ipv4", maclen=maclen, iplen=iplen, l4len=l4len,
                    vlan=None if legacy else vlan, error=kind if kind in errors else None, seq=k)


def _post(h, ring, pkt: TxPacket) -> list[int]:
    """Buffers into host memory, descriptors into the ring (no doorbell); returns the slots used."""
    addrs, off = [], 0
    for n in pkt.buffers:
        cpu = h.host.dma.kmalloc(max(n, 1))
        h.cpu.store_bytes(cpu, pkt.frame[off:off + n])
        addrs.append(h.host.dma.dma_map_single(cpu, max(n, 1), DmaDirection.TO_DEVICE))
        off += n
    slots = []
    for raw in txdesc.encode_packet(pkt, addrs):
        slots.append(ring.next_to_use)
        h.cpu.store_bytes(ring.desc_cpu_addr(ring.next_to_use), raw)
        ring.next_to_use = (ring.next_to_use + 1) % ring.size
    return slots


@pytest.mark.parametrize("wthresh", [0, 1])
def test_nic_model_agrees_with_the_predictor(wthresh):
    rng = random.Random(2024 + wthresh)
    h = NicTestHost(seed=wthresh)
    ring = h.setup_tx_ring(0, 256, wthresh=wthresh)
    h.enable_tx(psp=True)
    packets = [_random_tx_packet(rng, k) for k in range(20)]
    packets[-1].rs = True
    slots = [_post(h, ring, p) for p in packets]
    h.ring_doorbell(ring)
    h.run()
    got = [f for f, _, _ in h.wire]
    want = [f for p in packets for f in predictor.expected_frames(p)]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"frame {i} differs"
    for p, s in zip(packets, slots):
        assert [h.dd(ring, i) for i in s] == predictor.expected_dd(p, wthresh=wthresh, head_wb=False), p.seq
