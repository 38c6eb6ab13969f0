"""TX descriptor codecs, write-back, ring dumps and the packet validator (rtl_model/descriptors.py).

Expected values are written out from /work/shared/research/igb_facts.md; each
test names the section it checks.
"""
import dataclasses
import struct

import numpy as np
import pytest
from hypothesis import given, strategies as st

from rtl_model import descriptors as d
from rtl_model.descriptors import (AdvContext, AdvData, LegacyTx, Malformed, decode_tx,
                                   encode_adv_context, encode_adv_data, encode_legacy, encode_tx,
                                   format_ring, has_dd, hw_owns, ring_view, split_packets,
                                   validate_packet, writeback_dd)

ADV = struct.Struct("<QII")    # buffer_addr, cmd_type_len, olinfo_status
CTX = struct.Struct("<IIII")   # vlan_macip_lens, seqnum_seed, type_tucmd_mlhl, mss_l4len_idx
QQ = struct.Struct("<QQ")      # legacy: qword0, qword1


# --- constants (§2.1, §2.2, §2.3, §2.5) ---------------------------------------------------------------
@pytest.mark.parametrize("name,value", [
    # §2.1 legacy (Linux e1000_defines.h)
    ("E1000_TXD_CMD_EOP", 0x01000000), ("E1000_TXD_CMD_IFCS", 0x02000000),
    ("E1000_TXD_CMD_IC", 0x04000000), ("E1000_TXD_CMD_RS", 0x08000000),
    ("E1000_TXD_CMD_DEXT", 0x20000000), ("E1000_TXD_CMD_VLE", 0x40000000),
    ("E1000_TXD_CMD_IDE", 0x80000000), ("E1000_TXD_STAT_DD", 0x1),
    # §2.2 advanced data
    ("E1000_ADVTXD_MAC_LINKSEC", 0x00040000), ("E1000_ADVTXD_MAC_TSTAMP", 0x00080000),
    ("E1000_ADVTXD_DTYP_DATA", 0x00300000), ("E1000_ADVTXD_DTYP_CTXT", 0x00200000),
    ("E1000_ADVTXD_DCMD_EOP", 0x01000000), ("E1000_ADVTXD_DCMD_IFCS", 0x02000000),
    ("E1000_ADVTXD_DCMD_RS", 0x08000000), ("E1000_ADVTXD_DCMD_DEXT", 0x20000000),
    ("E1000_ADVTXD_DCMD_VLE", 0x40000000), ("E1000_ADVTXD_DCMD_TSE", 0x80000000),
    ("E1000_ADVTXD_IDX_SHIFT", 4), ("E1000_ADVTXD_PAYLEN_SHIFT", 14),
    ("E1000_TXD_POPTS_IXSM", 0x01), ("E1000_TXD_POPTS_TXSM", 0x02),   # Linux: shifted by 8 at use
    ("E1000_ADVTXD_POPTS_IXSM", 0x100), ("E1000_ADVTXD_POPTS_TXSM", 0x200),  # in olinfo_status
    # §2.3 context
    ("E1000_ADVTXD_MACLEN_SHIFT", 9), ("E1000_ADVTXD_VLAN_SHIFT", 16),
    ("E1000_ADVTXD_TUCMD_IPV4", 0x00000400), ("E1000_ADVTXD_TUCMD_L4T_UDP", 0x0),
    ("E1000_ADVTXD_TUCMD_L4T_TCP", 0x00000800), ("E1000_ADVTXD_TUCMD_L4T_SCTP", 0x00001000),
    ("E1000_ADVTXD_L4LEN_SHIFT", 8), ("E1000_ADVTXD_MSS_SHIFT", 16),
    # §2.4 write-back
    ("WB_STATUS_OFFSET", 12),
    # §2.5 driver side
    ("IGB_MAX_TXD_PWR", 15), ("IGB_MAX_DATA_PER_TXD", 32768),
])
def test_constant_values(name, value):
    assert getattr(d, name) == value


def test_txd_use_count_rounds_up_by_32k():
    # §2.5 TXD_USE_COUNT(S) = DIV_ROUND_UP(S, 32768)
    assert [d.txd_use_count(s) for s in (1, 32768, 32769, 65536)] == [1, 1, 2, 2]


# --- field positions: one field all ones, exactly its bits set ------------------------------------
DATA_BASE = 0x20300000  # DEXT | DTYP_DATA, nothing else (ifcs=False)


@pytest.mark.parametrize("kw,value,ctl_bits,olinfo_bits", [   # §2.2 tables
    ("dtalen", 0xFFFF, 0x0000FFFF, 0),
    ("mac_linksec", True, 1 << 18, 0),
    ("mac_tstamp", True, 1 << 19, 0),
    ("eop", True, 1 << 24, 0),
    ("ifcs", True, 1 << 25, 0),
    ("rs", True, 1 << 27, 0),
    ("vle", True, 1 << 30, 0),
    ("tse", True, 1 << 31, 0),
    ("sta", 0xF, 0, 0x0000000F),
    ("idx", 0x7, 0, 0x00000070),
    ("cc", True, 0, 0x00000080),
    ("ixsm", True, 0, 0x00000100),
    ("txsm", True, 0, 0x00000200),
    ("paylen", (1 << 18) - 1, 0, 0xFFFFC000),
])
def test_adv_data_field_position(kw, value, ctl_bits, olinfo_bits):
    args = {"dtalen": 0, "ifcs": False, kw: value}
    raw = encode_adv_data(0, **args)
    addr, ctl, olinfo = ADV.unpack(raw)
    assert (addr, ctl, olinfo) == (0, DATA_BASE | ctl_bits, olinfo_bits)
    desc = decode_tx(raw)
    assert getattr(desc, kw) == value
    assert [f.name for f in dataclasses.fields(desc) if getattr(desc, f.name)] == sorted(
        {kw, "dtyp", "dext"}, key=[f.name for f in dataclasses.fields(AdvData)].index)


def test_adv_data_buffer_addr_is_qword0():
    raw = encode_adv_data(0xFFFF_FFFF_FFFF_FFFF, 0, ifcs=False)
    assert raw[:8] == b"\xff" * 8 and ADV.unpack(raw)[1:] == (DATA_BASE, 0)


CTX_BASE = 0x20200000  # DEXT | DTYP_CTXT


# §2.3 table; words = (vlan_macip_lens, seqnum_seed, type_tucmd_mlhl minus DEXT|DTYP, mss_l4len_idx)
@pytest.mark.parametrize("kw,value,words", [
    ("iplen", 0x1FF, (0x000001FF, 0, 0, 0)),
    ("maclen", 0x7F, (0x0000FE00, 0, 0, 0)),
    ("vlan", 0xFFFF, (0xFFFF0000, 0, 0, 0)),
    ("seqnum_seed", 0xFFFFFFFF, (0, 0xFFFFFFFF, 0, 0)),
    ("snap", True, (0, 0, 0x00000200, 0)),
    ("tucmd_ipv4", True, (0, 0, 0x00000400, 0)),
    ("l4t", "reserved", (0, 0, 0x00001800, 0)),
    ("idx", 0x7, (0, 0, 0, 0x00000070)),
    ("l4len", 0xFF, (0, 0, 0, 0x0000FF00)),
    ("mss", 0xFFFF, (0, 0, 0, 0xFFFF0000)),
])
def test_adv_context_field_position(kw, value, words):
    raw = encode_adv_context(**{kw: value})
    w0, w1, w2, w3 = CTX.unpack(raw)
    assert (w0, w1, w2 & ~CTX_BASE, w3) == words and w2 & CTX_BASE == CTX_BASE
    ctx = decode_tx(raw)
    assert isinstance(ctx, AdvContext) and getattr(ctx, kw) == value


@pytest.mark.parametrize("l4t,bits", [("udp", 0x0), ("tcp", 0x800), ("sctp", 0x1000), ("reserved", 0x1800)])
def test_context_l4t_encoding(l4t, bits):
    # §2.3 L4T bits 12:11: UDP 0x0, TCP 0x800, SCTP 0x1000
    assert CTX.unpack(encode_adv_context(l4t=l4t))[2] == CTX_BASE | bits
    assert decode_tx(encode_adv_context(l4t=l4t)).l4t == l4t


@pytest.mark.parametrize("kw,value,qword1", [   # §2.1: bit numbers of qword1
    ("length", 0xFFFF, 0xFFFF),
    ("cso", 0xFF, 0xFF << 16),
    ("eop", True, 1 << 24), ("ifcs", True, 1 << 25), ("ic", True, 1 << 26), ("rs", True, 1 << 27),
    ("vle", True, 1 << 30), ("ide", True, 1 << 31),
    ("sta", 0xF, 0xF << 32),
    ("css", 0xFF, 0xFF << 40),
    ("vlan", 0xFFFF, 0xFFFF << 48),
])
def test_legacy_field_position(kw, value, qword1):
    raw = encode_legacy(**{"buffer_addr": 0, "length": 0, kw: value})
    assert QQ.unpack(raw) == (0, qword1)
    desc = decode_tx(raw)
    assert isinstance(desc, LegacyTx) and getattr(desc, kw) == value and not desc.dext


def test_legacy_layout_example():
    # §2.1: addr qword0; len 15:0, CSO 23:16, CMD 31:24, STA 35:32, CSS 47:40, VLAN 63:48
    raw = encode_legacy(0x1122334455667788, 0x003C, cso=0x24, eop=True, ifcs=True, rs=True,
                        css=0x0E, vlan=0x0064)
    assert QQ.unpack(raw) == (0x1122334455667788, 0x0064_0E_00_0B_24_003C)
    assert decode_tx(raw) == LegacyTx(buffer_addr=0x1122334455667788, length=60, cso=0x24, eop=True,
                                      ifcs=True, ic=False, rs=True, dext=False, vle=False, ide=False,
                                      sta=0, css=0x0E, vlan=0x64)


# --- §2.6 worked values ------------------------------------------------------------------------------
def test_worked_60_byte_frame():
    raw = encode_adv_data(0x1000, 60, eop=True, rs=True, paylen=60)
    assert ADV.unpack(raw) == (0x1000, 0x2B30003C, 0x000F0000)


def test_worked_tcp_ipv4_checksum_context_and_data():
    ctx = encode_adv_context(iplen=20, maclen=14, l4t="tcp")
    assert CTX.unpack(ctx) == (0x00001C14, 0, 0x20200800, 0)
    data = encode_adv_data(0x2000, 1514, eop=True, rs=True, txsm=True, paylen=1514)
    assert ADV.unpack(data)[1:] == (0x2B300000 | 1514, (1514 << 14) | 0x200)


def test_worked_tso_ipv4_tcp():
    ctx = encode_adv_context(iplen=20, maclen=14, tucmd_ipv4=True, l4t="tcp", l4len=32, mss=1448)
    assert CTX.unpack(ctx) == (0x00001C14, 0, 0x20200C00, 0x05A82000)
    paylen = 2896
    first = encode_adv_data(0x3000, 66, tse=True, txsm=True, ixsm=True, paylen=paylen)
    last = encode_adv_data(0x4000, 2896, tse=True, eop=True, rs=True)
    assert ADV.unpack(first)[1:] == (0xA2300000 | 66, (paylen << 14) | 0x300)
    assert ADV.unpack(last)[1:] == (0xAB300000 | 2896, 0)


#: igb.h's IGB_TXD_DCMD, EOP | RS (igb_facts §2.5: 0x09000000).
IGB_TXD_DCMD = 0x09000000


def test_base_data_cmd_type_is_igb_tx_cmd_type():
    # §2.6 base cmd_type = DTYP_DATA | DEXT | IFCS = 0x22300000; last adds IGB_TXD_DCMD (EOP|RS)
    assert ADV.unpack(encode_adv_data(0, 0))[1] == 0x22300000
    assert ADV.unpack(encode_adv_data(0, 0, eop=True, rs=True))[1] == 0x22300000 | IGB_TXD_DCMD


# --- round trips (hypothesis) ------------------------------------------------------------------------
def u(bits):
    return st.integers(0, (1 << bits) - 1)


adv_data = st.builds(AdvData, buffer_addr=u(64), dtalen=u(16), dtyp=st.just(3),
                     mac_tstamp=st.booleans(), mac_linksec=st.booleans(), eop=st.booleans(),
                     ifcs=st.booleans(), rs=st.booleans(), dext=st.just(True), vle=st.booleans(),
                     tse=st.booleans(), sta=u(4), idx=u(3), cc=st.booleans(), ixsm=st.booleans(),
                     txsm=st.booleans(), paylen=u(18))
adv_context = st.builds(AdvContext, iplen=u(9), maclen=u(7), vlan=u(16), seqnum_seed=u(32),
                        tucmd_ipv4=st.booleans(), l4t=st.sampled_from(d.L4T_NAMES),
                        snap=st.booleans(), dtyp=st.just(2), dext=st.just(True), idx=u(3),
                        l4len=u(8), mss=u(16))
legacy = st.builds(LegacyTx, buffer_addr=u(64), length=u(16), cso=u(8), eop=st.booleans(),
                   ifcs=st.booleans(), ic=st.booleans(), rs=st.booleans(), dext=st.just(False),
                   vle=st.booleans(), ide=st.booleans(), sta=u(4), css=u(8), vlan=u(16))


@given(st.one_of(adv_data, adv_context, legacy))
def test_encode_decode_round_trip(desc):
    raw = encode_tx(desc)
    assert len(raw) == 16 and decode_tx(raw) == desc


@given(adv_data)
def test_encode_adv_data_keywords_round_trip(desc):
    kw = {f.name: getattr(desc, f.name) for f in dataclasses.fields(desc) if f.name not in ("dtyp", "dext")}
    assert decode_tx(encode_adv_data(**kw)) == desc


@given(st.binary(min_size=16, max_size=16))
def test_decode_never_raises_and_reencodes_known_types(raw):
    desc = decode_tx(raw)
    if isinstance(desc, Malformed):
        assert desc.raw == raw
    else:
        assert decode_tx(encode_tx(desc)) == desc


# --- range checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda: encode_adv_data(-1, 0),
    lambda: encode_adv_data(1 << 64, 0),
    lambda: encode_adv_data(0, 0x10000),
    lambda: encode_adv_data(0, 0, paylen=1 << 18),
    lambda: encode_adv_data(0, 0, idx=8),
    lambda: encode_adv_data(0, 0, sta=16),
    lambda: encode_adv_context(iplen=512),
    lambda: encode_adv_context(maclen=128),
    lambda: encode_adv_context(vlan=0x10000),
    lambda: encode_adv_context(seqnum_seed=1 << 32),
    lambda: encode_adv_context(idx=8),
    lambda: encode_adv_context(l4len=256),
    lambda: encode_adv_context(mss=0x10000),
    lambda: encode_adv_context(l4t="icmp"),
    lambda: encode_legacy(0, 0x10000),
    lambda: encode_legacy(0, 0, cso=256),
    lambda: encode_legacy(0, 0, css=256),
    lambda: encode_legacy(0, 0, sta=16),
    lambda: encode_legacy(0, 0, vlan=0x10000),
    lambda: encode_adv_data(0, 1.5),
])
def test_impossible_field_values_raise(call):
    with pytest.raises(ValueError):
        call()


def test_encode_tx_rejects_descriptor_the_format_cannot_hold():
    good = decode_tx(encode_adv_data(0, 60))
    with pytest.raises(ValueError, match="dtyp"):
        encode_tx(dataclasses.replace(good, dtyp=2))
    with pytest.raises(ValueError, match="dext"):
        encode_tx(dataclasses.replace(decode_tx(encode_legacy(0, 1)), dext=True))
    with pytest.raises(ValueError):
        encode_tx(Malformed("x", bytes(16)))


def test_decode_wrong_size_raises():
    with pytest.raises(ValueError):
        decode_tx(bytes(15))


# --- type selection: DEXT and DTYP (§2.1–§2.3) -------------------------------------------------------
@pytest.mark.parametrize("dtyp", [0, 1] + list(range(4, 16)))
def test_dext_with_unknown_dtyp_is_malformed(dtyp):
    raw = ADV.pack(0xABC, 0x20000000 | dtyp << 20 | 60, 0)
    desc = decode_tx(raw)
    assert desc == Malformed(f"DEXT=1 with DTYP {dtyp}", raw)


def test_dext_clear_is_legacy_whatever_bits_23_20_hold():
    # legacy bits 23:16 are CSO, so a "DTYP 3" pattern there is just a checksum offset
    raw = ADV.pack(0, 0x00300000 | 60, 0)
    desc = decode_tx(raw)
    assert isinstance(desc, LegacyTx) and desc.cso == 0x30 and desc.length == 60


def test_decode_accepts_memoryview_and_bytearray():
    raw = encode_adv_data(5, 60, eop=True)
    assert decode_tx(memoryview(raw)) == decode_tx(bytearray(raw)) == decode_tx(raw)


# --- write-back and DD (§2.4) ------------------------------------------------------------------------
def test_writeback_keeps_fetched_bytes_and_sets_sta_to_dd():
    raw = encode_adv_data(0x1122334455667788, 60, eop=True, rs=True, paylen=60)
    wb = writeback_dd(raw)
    assert len(wb) == 16 and wb[:12] == raw[:12]
    assert struct.unpack_from("<I", wb, 12)[0] == 0x000F0000 | 0x1
    assert not has_dd(raw) and has_dd(wb)
    assert decode_tx(wb) == dataclasses.replace(decode_tx(raw), sta=1)


def test_writeback_replaces_the_whole_sta_nibble():
    raw = encode_adv_data(0, 60, sta=0xE, idx=7, txsm=True)
    status = struct.unpack_from("<I", writeback_dd(raw), 12)[0]
    assert status & 0xF == 0x1 and status >> 4 == struct.unpack_from("<I", raw, 12)[0] >> 4


@pytest.mark.parametrize("raw", [
    encode_adv_context(iplen=20, maclen=14, l4len=32, mss=1448),
    encode_legacy(0x10, 60, eop=True, rs=True, css=3, vlan=7),
])
def test_writeback_dd_is_dword3_bit0_in_every_format(raw):
    wb = writeback_dd(raw)
    assert has_dd(wb) and not has_dd(raw)
    assert wb[:12] == raw[:12] and wb[12] == raw[12] | 1 and wb[13:] == raw[13:]
    assert decode_tx(wb) == (dataclasses.replace(decode_tx(raw), sta=1)
                             if isinstance(decode_tx(raw), LegacyTx) else decode_tx(raw))


def test_has_dd_reads_only_bit0_of_dword3():
    assert has_dd(bytes(12) + b"\x01\x00\x00\x00")
    assert not has_dd(bytes(12) + b"\xfe\xff\xff\xff")
    assert not has_dd(b"\xff" * 12 + bytes(4))


# --- ring dumps --------------------------------------------------------------------------------------
def four_ring():
    return bytearray(
        encode_adv_context(iplen=20, maclen=14, l4t="tcp")
        + encode_adv_data(0x1000, 1514, eop=True, rs=True, txsm=True, paylen=1514)
        + writeback_dd(encode_adv_data(0x2000, 60, eop=True, rs=True, paylen=60))
        + bytes(16))


def test_ring_view_on_four_descriptors():
    buf = four_ring()
    view = ring_view(buf)
    assert d.TX_DESC_DTYPE == np.dtype([("addr", "<u8"), ("cmd_type_len", "<u4"), ("olinfo_status", "<u4")])
    assert d.TX_DESC_DTYPE.itemsize == 16 and view.shape == (4,)
    # a context slot seen through the data layout: qword0 = seqnum_seed:vlan_macip_lens, dword2 = type_tucmd
    assert view["addr"].tolist() == [0x00001C14, 0x1000, 0x2000, 0]
    assert view["cmd_type_len"].tolist() == [0x20200800, 0x2B300000 | 1514, 0x2B30003C, 0]
    assert view["olinfo_status"].tolist() == [0, (1514 << 14) | 0x200, 0x000F0001, 0]
    view["addr"][3] = 0xDEAD   # a bytearray view is writable and aliases the buffer
    assert struct.unpack_from("<Q", buf, 48)[0] == 0xDEAD


def test_ring_view_of_bytes_is_read_only_and_size_checked():
    view = ring_view(bytes(32))
    assert not view.flags.writeable and len(view) == 2
    with pytest.raises(ValueError):
        ring_view(bytes(17))


def test_hw_owns_head_to_tail_with_wrap():
    # §6.1: HW owns [TDH, TDT); TDH == TDT is empty
    assert [hw_owns(i, 1, 3, 4) for i in range(4)] == [False, True, True, False]
    assert [hw_owns(i, 3, 1, 4) for i in range(4)] == [True, False, False, True]
    assert not any(hw_owns(i, 2, 2, 4) for i in range(4))


def test_format_ring_table():
    text = format_ring(four_ring(), head=1, tail=3)
    lines = text.splitlines()
    assert lines[0] == "ring of 4: TDH=1 TDT=3, HW owns 2"
    assert len(lines) == 6
    assert lines[2].split()[:4] == ["0", "SW", "ctxt", "-"] and "TCP" in lines[2]
    assert lines[3].split()[:5] == ["1", "HW", "data", "1514", "--"]
    assert "EOP RS IFCS TXSM PAYLEN=1514" in lines[3] and lines[3].endswith("<TDH")
    assert lines[4].split()[:5] == ["2", "HW", "data", "60", "DD"]
    assert lines[5].split()[:4] == ["3", "SW", "legacy", "0"] and lines[5].endswith("<TDT")


def test_format_ring_shows_malformed_and_checks_indices():
    buf = ADV.pack(0, 0x20000000 | 7 << 20, 0) + bytes(16)
    assert "BAD" in format_ring(buf, 0, 0) and "DTYP 7" in format_ring(buf, 0, 0)
    with pytest.raises(ValueError):
        format_ring(buf, 2, 0)


# --- validator (§2.2, §2.3) --------------------------------------------------------------------------
def data(length, **kw):
    kw.setdefault("paylen", 0)
    return decode_tx(encode_adv_data(0x1000, length, **kw))


def ctx(**kw):
    return decode_tx(encode_adv_context(**kw))


def plain(length=60):
    """igb's single-descriptor packet without offloads (§2.6)."""
    return [data(length, eop=True, rs=True, paylen=length)]


def csum():
    """TCP/IPv4 checksum offload: context + one data descriptor (§2.6)."""
    return [ctx(iplen=20, maclen=14, l4t="tcp"), data(1514, eop=True, rs=True, txsm=True, paylen=1514)]


TSO_CTX = dict(iplen=20, maclen=14, tucmd_ipv4=True, l4t="tcp", l4len=32, mss=1448)


def tso(**ctx_kw):
    """TSO IPv4/TCP, 66 header bytes in the first buffer, 2896 payload bytes after (§2.6)."""
    c = ctx(**{**TSO_CTX, **ctx_kw})
    paylen = 66 + 2896 - c.header_bytes
    return [c, data(66, tse=True, txsm=True, ixsm=True, paylen=paylen),
            data(2896, tse=True, eop=True, rs=True)]


def check(descs, contexts=None, ring_size=256, **kw):
    return validate_packet(descs, contexts=contexts or {}, ring_size=ring_size, **kw)


def with_first(descs, **changes):
    """``descs`` with the first data descriptor's fields changed."""
    i = next(i for i, x in enumerate(descs) if isinstance(x, AdvData))
    return descs[:i] + [dataclasses.replace(descs[i], **changes)] + descs[i + 1:]


def with_ctx(descs, **changes):
    return [dataclasses.replace(descs[0], **changes)] + descs[1:]


@pytest.mark.parametrize("packet", [plain(), plain(17), csum(), tso(),
                                    with_first(tso(tucmd_ipv4=False), ixsm=False)])
def test_igb_shaped_packets_are_clean(packet):
    assert check(packet) == []


def test_malformed_descriptor():
    bad = decode_tx(ADV.pack(0, 0x20000000 | 5 << 20, 0))
    assert check([bad] + plain()) == ["desc 0: malformed (DEXT=1 with DTYP 5)"]


def test_zero_length_data_without_eop():
    assert check([data(0, paylen=60), data(60, eop=True)]) == [
        "desc 0: zero-length data descriptor without EOP"]
    assert check([data(60, paylen=60), data(0, eop=True)]) == []   # null descriptor with EOP


def test_no_eop():
    assert check([data(60, paylen=120), data(60)]) == ["no EOP in 2 descriptors"]
    assert check([data(30, paylen=120)] + [data(30)] * 3, ring_size=4) == [
        "no EOP in 4 descriptors (longer than the ring of 4)"]


def test_packet_longer_than_the_ring():
    pkt = [data(10, paylen=40)] + [data(10)] * 2 + [data(10, eop=True)]
    assert check(pkt, ring_size=4) == ["packet uses 4 descriptors; a ring of 4 holds 3"]
    assert check(pkt, ring_size=5) == []


def test_descriptor_after_eop():
    assert check(plain() + plain()) == ["desc 1: after the EOP at desc 0"]


def test_tse_without_context():
    pkt = tso()[1:]
    assert check(pkt) == ["desc 0: TSE/TXSM/IXSM without a context (idx 0)"]
    assert check(pkt, contexts={0: tso()[0]}) == []
    assert check(pkt, contexts={1: tso()[0]}) == ["desc 0: TSE/TXSM/IXSM without a context (idx 0)"]


@pytest.mark.parametrize("flag", ["txsm", "vle"])
def test_other_context_users_without_context(flag):
    pkt = with_first(plain(), **{flag: True})
    assert check(pkt) == [f"desc 0: {flag.upper()} without a context (idx 0)"]
    assert check([ctx(iplen=20, maclen=14)] + pkt) == []


def test_context_in_packet_overrides_stored_one():
    stored = {0: ctx(**{**TSO_CTX, "mss": 0})}
    assert check(tso(), contexts=stored) == []
    assert check(tso()[1:], contexts=stored) == ["stored context 0: TSE with MSS 0"]


def test_tse_with_mss_zero():
    assert check(tso(mss=0)) == ["desc 0: TSE with MSS 0"]


def test_tse_with_short_l4len():
    assert check(tso(l4len=11)) == ["desc 0: TSE with L4LEN 11 < 12"]
    assert check(tso(l4len=12)) == []


def test_udp_segmentation_allows_l4len_8():
    # igb_tso for SKB_GSO_UDP_L4: hdr_len = l4_offset + 8, so L4LEN = 8 (§3.5 step 4)
    assert check(tso(l4t="udp", l4len=8)) == []
    assert check(tso(l4t="udp", l4len=7)) == ["desc 0: TSE with L4LEN 7 < 8"]


def test_short_iplen_and_maclen_when_offloading():
    assert check(tso(iplen=19)) == ["desc 0: IPLEN 19 < 20"]
    assert check(tso(maclen=13)) == ["desc 0: MACLEN 13 < 14"]
    assert check(with_ctx(csum(), iplen=0)) == ["desc 0: IPLEN 0 < 20"]
    # a VLAN-only context (type_tucmd 0, igb_tx_csum without CHECKSUM_PARTIAL) offloads nothing
    assert check([ctx(maclen=14, vlan=5)] + with_first(plain(), vle=True)) == []


def test_header_longer_than_512():
    assert check(tso(maclen=127, iplen=300, l4len=86)) == ["desc 0: MACLEN+IPLEN+L4LEN 513 > 512"]
    assert check(tso(maclen=126, iplen=300, l4len=86)) == []


def test_tse_without_txsm():
    assert check(with_first(tso(), txsm=False)) == ["desc 1: TSE without TXSM"]


def test_ixsm_with_ipv6_context():
    assert check(with_first(csum(), ixsm=True)) == ["desc 1: IXSM with an IPv6 context"]
    assert check(with_ctx(with_first(csum(), ixsm=True), tucmd_ipv4=True)) == []


def test_tse_with_ipv4_context_needs_ixsm():
    assert check(with_first(tso(), ixsm=False)) == ["desc 1: TSE with an IPv4 context but no IXSM"]


def test_paylen_must_match_buffers_without_tse():
    assert check(with_first(plain(), paylen=59)) == ["desc 0: PAYLEN 59 != 60 buffer bytes"]


def test_paylen_must_be_buffers_minus_header_with_tse():
    assert check(with_first(tso(), paylen=66 + 2896)) == [
        "desc 1: PAYLEN 2962 != 2962 buffer bytes - 66 header"]


def test_packet_larger_than_max_without_tse():
    big = [data(9000, paylen=9729), data(729, eop=True)]
    assert check(big) == ["packet of 9729 bytes > 9728"]
    assert check(with_first(big, paylen=9728)[:1] + [data(728, eop=True)]) == []
    assert check(big, max_packet_bytes=10000) == []
    legacy_big = [decode_tx(encode_legacy(0, 9729, eop=True))]
    assert check(legacy_big) == ["packet of 9729 bytes > 9728"]


def test_tse_packet_may_exceed_max():
    c = ctx(**TSO_CTX)
    pkt = [c, data(66, tse=True, txsm=True, ixsm=True, paylen=20000),
           data(20000, tse=True, eop=True, rs=True)]
    assert check(pkt) == []


@pytest.mark.parametrize("packet,used", [
    (with_first(csum(), ifcs=False), "TXSM"),
    (with_first(tso(), ifcs=False), "TSE/TXSM/IXSM"),
    ([ctx(maclen=14, vlan=5)] + with_first(plain(), vle=True, ifcs=False), "VLE"),
])
def test_offloads_need_ifcs(packet, used):
    pos = next(i for i, x in enumerate(packet) if isinstance(x, AdvData))
    assert check(packet) == [f"desc {pos}: {used} without IFCS"]


def test_plain_packet_may_omit_ifcs():
    assert check(with_first(plain(), ifcs=False)) == []   # skb->no_fcs


def test_mixing_legacy_and_advanced():
    leg = decode_tx(encode_legacy(0, 60, eop=True))
    assert check([data(60, paylen=120), leg]) == ["desc 1: legacy descriptor in an advanced packet"]
    assert check([leg]) == []


def test_context_after_data_and_no_data():
    pkt = [data(60, paylen=60), ctx(iplen=20, maclen=14), data(0, eop=True)]
    assert check(pkt) == ["desc 1: context descriptor after a data descriptor"]
    assert check([ctx(iplen=20, maclen=14)]) == ["no data descriptor", "no EOP in 1 descriptors"]


@given(st.lists(st.integers(1, 65535), min_size=1, max_size=4))
def test_igb_tx_map_shaped_packets_validate_clean(sizes):
    # §3.6: each buffer split into 32 KiB chunks; PAYLEN (no TSO) = skb->len in the first
    total = sum(sizes)
    chunks = [min(d.IGB_MAX_DATA_PER_TXD, s - off) for s in sizes
              for off in range(0, s, d.IGB_MAX_DATA_PER_TXD)]
    pkt = [data(chunks[0], paylen=total)] + [data(c) for c in chunks[1:]]
    pkt[-1] = dataclasses.replace(pkt[-1], eop=True, rs=True)
    problems = check(pkt, ring_size=1024)
    assert problems == ([] if total <= 9728 else [f"packet of {total} bytes > 9728"])


def test_split_packets():
    a, b = plain(), csum()
    tail = [data(10)]
    assert split_packets(a + b + tail) == [a, b, tail]
    assert split_packets([]) == []
