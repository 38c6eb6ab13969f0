"""Legacy TX descriptors' CMD.IC (checksum from CSS, stored at CSO) and CMD.VLE (802.1Q tag), end to end.

Legacy descriptors are written straight into the ring with
``rtl_model.descriptors.encode_legacy`` and run through the whole NIC
(descriptor fetch, buffer DMA, offloads, packet buffer, MAC). Expected bytes
are worked out here by hand (the checksums' word sums are spelled out in the
comments), by RFC 1071 arithmetic from tests.oracle, or by scapy — never by
the model. The rules (8254x SDM §3.3.3, 82575EB SDM §5.6.5.2, I210 datasheet
§7.2.2.1):

* IC: one's-complement sum from byte CSS to the end of the packet, the bytes
  at CSO included (software's "offsetting entry"), complemented, big-endian at
  CSO; ignored when CSS >= length or CSO >= length - 1; no 0 -> 0xFFFF;
* VLE: TPID (VET, 0x8100) and the descriptor's VLAN field after byte 12;
  CSS/CSO count the untagged packet, the tag is not summed;
* IC, CSO, VLE, VLAN and IFCS come from the first descriptor of the packet.
"""
import struct

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw, raw

from rtl_model import descriptors as d
from sim.assembly.nic_harness import NicTestHost
from tests.oracle import MAC, V4, assert_checksums_valid, ones_sum, payload_bytes, strip_fcs

ADDRS = bytes.fromhex("001b21000002" "001b21000001")   # destination, source
TPID = b"\x81\x00"


def host():
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 64)
    h.enable_tx(psp=True)
    return h, ring


def post_legacy(h, ring, packet: bytes, cut=(), *, rest: dict | None = None, **first):
    """Write ``packet`` as legacy descriptors split at the offsets in ``cut``; returns the EOP index.

    ``first`` are encode_legacy fields of the first descriptor, ``rest`` those
    of the others (default: none). IFCS is on everywhere unless overridden;
    the EOP descriptor gets RS.
    """
    addr = h._map_buffer(packet)
    bounds = [0, *cut, len(packet)]
    pieces = list(zip(bounds, bounds[1:]))
    eop_index = None
    for k, (a, b) in enumerate(pieces):
        fields = {"ifcs": True, **(first if k == 0 else (rest or {}))}
        eop = k == len(pieces) - 1
        if eop:
            eop_index = ring.next_to_use
        h._write_desc(ring, d.encode_legacy(addr + a, b - a, eop=eop, rs=eop, **fields))
    return eop_index


def send_one(packet: bytes, cut=(), *, rest=None, setup=None, **first) -> bytes:
    """One legacy packet through the NIC; returns the wire frame without its (checked) FCS."""
    h, ring = host()
    if setup:
        setup(h)
    eop = post_legacy(h, ring, packet, cut, rest=rest, **first)
    h.ring_doorbell(ring)
    h.run()
    assert h.nic.counters["offload_drops"] == 0 and h.nic.counters["malformed_drops"] == 0
    assert h.dd(ring, eop)
    (frame, _, _), = h.wire
    return strip_fcs(frame)


def head(n: int) -> bytes:
    """``n`` bytes: the two MAC addresses, an EtherType, then a deterministic filler."""
    return ADDRS + b"\x08\x00" + payload_bytes(n - 14, salt=3)


# --- a 60-byte packet whose last 10 bytes (CSS = 50) are summed ----------------------------------
# words at 50..59: 0x1234, 0x0F0F (CSO = 52: the offsetting entry), 0xABCD, 0xFFFF, 0x0001
TAIL = bytes.fromhex("1234" "0f0f" "abcd" "ffff" "0001")
PKT60 = head(50) + TAIL
# 0x1234 + 0x0F0F = 0x2143; + 0xABCD = 0xCD10; + 0xFFFF = 0x1CD0F -> 0xCD10; + 0x0001 = 0xCD11
# complement: 0x32EE
CSUM60 = bytes.fromhex("32ee")


def test_ic_checksum_worked_by_hand_offsetting_entry_included():
    out = send_one(PKT60, ic=True, css=50, cso=52)
    assert out == PKT60[:52] + CSUM60 + PKT60[54:]
    # receiver's view: the region with the checksum, plus the offsetting entry it backed out, sums to 0xFFFF
    region = out[50:]
    assert (ones_sum(region) + 0x0F0F) % 0xFFFF == 0


def test_ic_clear_sends_the_bytes_unchanged_whatever_css_cso_say():
    assert send_one(PKT60, css=50, cso=52) == PKT60


def test_ic_odd_length_region_is_padded_with_a_zero_byte():
    # 61 bytes, CSS 56: 0x0102 + 0x0000 (CSO 58) + 0x80 padded to 0x8000 = 0x8102 -> ~ = 0x7EFD
    pkt = head(56) + bytes.fromhex("0102" "0000" "80")
    out = send_one(pkt, ic=True, css=56, cso=58)
    assert out == pkt[:58] + bytes.fromhex("7efd") + pkt[60:]


def test_ic_checksum_before_css_position():
    # CSO below CSS: the field is not in the summed range. From CSS 54:
    # 0xABCD + 0xFFFF = 0x1ABCC -> 0xABCD; + 0x0001 = 0xABCE -> complement 0x5431
    out = send_one(PKT60, ic=True, css=54, cso=20)
    assert out == PKT60[:20] + bytes.fromhex("5431") + PKT60[22:]


def test_ic_zero_result_is_not_turned_into_ffff():
    # 0x1234 + 0x0000 (CSO) + 0xEDCB = 0xFFFF -> complement 0x0000; the NIC does not know this
    # is UDP (legacy descriptors carry no L4 type), so 0x0000 goes out as is
    pkt = head(54) + bytes.fromhex("1234" "0000" "edcb")
    out = send_one(pkt, ic=True, css=54, cso=56)
    assert out[56:58] == b"\x00\x00"
    assert out == pkt


def test_ic_over_a_tcp_segment_with_the_pseudo_header_seed_gives_a_valid_tcp_checksum():
    """What a legacy-descriptor driver does: CSS = start of TCP, CSO = its checksum field, seed = pseudo-header."""
    pkt = Ether(**MAC) / IP(ttl=64, **V4) / TCP(sport=1234, dport=80, seq=7, flags="PA") / Raw(payload_bytes(101))
    buf = bytearray(raw(pkt))
    l4, l4_len = 34, len(buf) - 34
    pseudo = bytes(buf[26:34]) + struct.pack("!BBH", 0, 6, l4_len)   # src, dst, zero, protocol, TCP length
    buf[l4 + 16:l4 + 18] = ones_sum(pseudo).to_bytes(2, "big")        # the offsetting entry (not complemented)
    out = send_one(bytes(buf), ic=True, css=l4, cso=l4 + 16)
    assert_checksums_valid(Ether(out))
    assert out[:l4 + 16] == buf[:l4 + 16] and out[l4 + 18:] == buf[l4 + 18:]


# --- IC ignored when out of range -----------------------------------------------------------------
def test_ic_ignored_when_css_is_at_or_past_the_end():
    assert send_one(PKT60, ic=True, css=60, cso=52) == PKT60
    assert send_one(PKT60, ic=True, css=255, cso=52) == PKT60


def test_ic_ignored_when_cso_leaves_no_room_for_two_bytes():
    assert send_one(PKT60, ic=True, css=50, cso=59) == PKT60    # CSO = length - 1
    assert send_one(PKT60, ic=True, css=50, cso=200) == PKT60


def test_ic_boundaries_still_in_range():
    # CSO = length - 2: the last two bytes. Sum of 50..59 with 58..59 = 0x0001 included: 0xCD11 -> 0x32EE
    out = send_one(PKT60, ic=True, css=50, cso=58)
    assert out == PKT60[:58] + CSUM60
    # CSS = length - 1: one byte 0x01, padded: 0x0100 -> complement 0xFEFF, at CSO 52
    out = send_one(PKT60, ic=True, css=59, cso=52)
    assert out == PKT60[:52] + bytes.fromhex("feff") + PKT60[54:]


def test_ic_range_is_the_unpadded_length_of_a_short_packet():
    # 40 bytes, padded to 60 on the wire: CSO 39 is still out of range, CSO 38 is not
    pkt = head(36) + bytes.fromhex("0102" "0000")    # CSS 36: 0x0102 + 0 -> ~ = 0xFEFD
    out = send_one(pkt, ic=True, css=36, cso=39)
    assert out == pkt + bytes(20)
    out = send_one(pkt, ic=True, css=36, cso=38)
    assert out == pkt[:38] + bytes.fromhex("fefd") + bytes(20)


# --- VLE --------------------------------------------------------------------------------------------
def test_vle_inserts_tpid_and_vlan_field_at_offset_12():
    pkt = head(80)
    out = send_one(pkt, vle=True, vlan=0xA05F)
    assert out[:12] == pkt[:12]
    assert out[12:16] == TPID + b"\xa0\x5f"
    assert out[16:] == pkt[12:]
    assert len(out) == len(pkt) + 4


def test_vle_tpid_follows_vet():
    out = send_one(head(80), vle=True, vlan=0x0123, setup=lambda h: h.wr32("VET", 0x88A8))
    assert out[12:16] == bytes.fromhex("88a8" "0123")


def test_vle_clear_inserts_nothing_whatever_the_vlan_field():
    pkt = head(80)
    assert send_one(pkt, vlan=0x0FFF) == pkt


def test_ic_with_vle_offsets_count_the_untagged_packet_and_the_tag_is_not_summed():
    out = send_one(PKT60, ic=True, css=50, cso=52, vle=True, vlan=0x6007)
    untagged = PKT60[:52] + CSUM60 + PKT60[54:]         # the same 0x32EE as without the tag
    assert out == untagged[:12] + TPID + b"\x60\x07" + untagged[12:]
    assert out[56:58] == CSUM60                          # CSO 52 lands at 56 on the wire


def test_ic_with_vle_range_check_uses_the_untagged_length():
    # CSO 59 = untagged length - 1: ignored, though the tagged frame is 64 bytes long
    out = send_one(PKT60, ic=True, css=50, cso=59, vle=True, vlan=1)
    assert out == PKT60[:12] + TPID + b"\x00\x01" + PKT60[12:]


def test_short_tagged_frame_is_padded_to_60_after_the_tag():
    pkt = head(40)                                       # 40 + 4 = 44 bytes: 16 bytes of zero padding
    out = send_one(pkt, vle=True, vlan=0x0064)
    assert out == pkt[:12] + TPID + b"\x00\x64" + pkt[12:] + bytes(16)
    assert len(out) == 60


def test_tagged_frame_of_exactly_60_is_not_padded():
    pkt = head(56)
    out = send_one(pkt, vle=True, vlan=5)
    assert len(out) == 60 and out[16:] == pkt[12:]


def test_short_tagged_frame_with_ic():
    # 30 bytes, CSS 26: 0xBEEF + 0x0000 (CSO 28) = 0xBEEF -> ~ = 0x4110; tag, then 26 bytes of padding
    pkt = head(26) + bytes.fromhex("beef" "0000")
    out = send_one(pkt, ic=True, css=26, cso=28, vle=True, vlan=0x0ABC)
    body = pkt[:28] + bytes.fromhex("4110")
    assert out == body[:12] + TPID + b"\x0a\xbc" + body[12:] + bytes(60 - 34)


# --- which descriptor carries the fields --------------------------------------------------------------
def test_multi_descriptor_packet_takes_ic_css_cso_vle_vlan_from_the_first_descriptor():
    out = send_one(PKT60, cut=(20, 51), ic=True, css=50, cso=52, vle=True, vlan=0x0042)
    body = PKT60[:52] + CSUM60 + PKT60[54:]
    assert out == body[:12] + TPID + b"\x00\x42" + body[12:]


def test_ic_and_vle_only_on_later_descriptors_are_ignored():
    out = send_one(PKT60, cut=(20, 51), rest={"ifcs": True, "ic": True, "css": 50, "cso": 52,
                                              "vle": True, "vlan": 0x0042})
    assert out == PKT60


def test_eop_rule_when_configured():
    """``legacy_fields_from = "eop"`` (8254x): IC/CSO/VLE/VLAN from the EOP descriptor, CSS from the first."""
    def eop_rule(h):
        h.nic.legacy_fields_from = "eop"
    out = send_one(PKT60, cut=(20,), css=50, rest={"ifcs": True, "ic": True, "cso": 52, "vle": True,
                                                  "vlan": 0x0042}, setup=eop_rule)
    body = PKT60[:52] + CSUM60 + PKT60[54:]
    assert out == body[:12] + TPID + b"\x00\x42" + body[12:]


# --- refusals ------------------------------------------------------------------------------------
def test_ic_or_vle_without_ifcs_is_dropped_and_completed():
    for fields in ({"ic": True, "css": 50, "cso": 52}, {"vle": True, "vlan": 3}):
        h, ring = host()
        eop = post_legacy(h, ring, PKT60, ifcs=False, **fields)
        h.ring_doorbell(ring)
        h.run()
        assert h.wire == []
        assert h.nic.counters["offload_drops"] == 1
        assert h.dd(ring, eop)
