"""TX descriptor formats of the igb family: 16-byte little-endian codecs, ring dumps, a packet checker.

Three read formats share one 16-byte slot (facts §2.1–§2.3); bit 29 of dword2
(legacy CMD.DEXT = advanced DCMD.DEXT) tells them apart, and in the advanced
formats DTYP (bits 23:20 of dword2) picks data (3) or context (2)::

    legacy   qword0 buffer_addr | len 15:0 | CSO 23:16 | CMD 31:24 | STA 35:32 | CSS 47:40 | VLAN 63:48
    data     qword0 buffer_addr | cmd_type_len (DTALEN, MAC, DTYP, DCMD)
             | olinfo_status (STA, IDX, CC, POPTS, PAYLEN)
    context  vlan_macip_lens | seqnum_seed | type_tucmd_mlhl | mss_l4len_idx

:func:`decode_tx` turns 16 raw bytes into a frozen dataclass (or
:class:`Malformed`, never an exception, because the bytes come from a guest);
``encode_*`` build the bytes a driver or test host writes and raise
ValueError on field values that cannot be encoded (the caller is trusted code).

Write-back (facts §2.4, §6.2). What :func:`writeback_dd` returns, and the NIC
model DMA-writes over the slot, is the descriptor *as the NIC fetched it*, with
dword3 bits 3:0 (STA) replaced by DD only. Why this choice:

* The only part a driver may read is ``wb.status`` (igb_clean_tx_irq tests
  ``E1000_TXD_STAT_DD``), and it is bit 0 of dword3 in every format.
  qword0 is "undefined" on I210 (a DMA timestamp with 1588_STAT_EN, not
  modelled) and ``nxtseq_seed`` is unused, so any value is faithful; keeping
  the fetched bytes is what both peer emulators do (QEMU igb ORs DD into
  ``wb.status`` and writes bytes 8..15 back; gem5 IGbE writes whole 16-byte
  cached descriptors with DD set) and it keeps written-back rings readable in
  :func:`format_ring` (type, length, flags still decode).
* The bytes are the NIC's *fetched copy*, not memory's current content: if a
  driver rewrites a slot after the NIC fetched it, write-back overwrites the
  driver's store, as on hardware that writes whole descriptors back.
* STA is set to exactly DD (not ORed): software writes STA as 0 (§2.2) and the
  model reports none of EC/LC/TS_STAT, so the other three STA bits are 0.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Sequence, Union

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LegacyTx", "AdvData", "AdvContext", "Malformed", "TxDesc",
    "decode_tx", "encode_legacy", "encode_adv_data", "encode_adv_context", "encode_tx",
    "writeback_dd", "has_dd", "WB_STATUS_OFFSET", "TX_DESC_SIZE",
    "TX_DESC_DTYPE", "ring_view", "format_ring", "hw_owns",
    "validate_packet", "split_packets", "txd_use_count",
]

TX_DESC_SIZE = 16

# --- §2.1 legacy TX descriptor: CMD bits as Linux e1000_defines.h writes them in dword2 -------------
E1000_TXD_CMD_EOP = 0x01000000   # end of packet
E1000_TXD_CMD_IFCS = 0x02000000  # insert FCS
E1000_TXD_CMD_IC = 0x04000000    # insert checksum (at CSO, summed from CSS)
E1000_TXD_CMD_RS = 0x08000000    # report status (write back DD)
E1000_TXD_CMD_RPS = 0x10000000   # report packet sent (8254x; reserved on I210)
E1000_TXD_CMD_DEXT = 0x20000000  # descriptor extension: 0 = legacy, 1 = advanced
E1000_TXD_CMD_VLE = 0x40000000   # insert the VLAN field as an 802.1Q tag
E1000_TXD_CMD_IDE = 0x80000000   # interrupt delay enable
E1000_TXD_STAT_DD = 0x00000001   # descriptor done (dword3 bit 0 in every format)
E1000_TXD_STAT_EC = 0x00000002   # excess collisions (8254x)
E1000_TXD_STAT_LC = 0x00000004   # late collision (8254x)
# POPTS as Linux defines them: byte values, shifted by 8 into olinfo_status by igb_tx_olinfo_status.
E1000_TXD_POPTS_IXSM = 0x01      # insert IPv4 header checksum
E1000_TXD_POPTS_TXSM = 0x02      # insert TCP/UDP/SCTP checksum
E1000_TXD_POPTS_SHIFT = 8
# The same two bits where they sit in olinfo_status (FreeBSD/DPDK e1000 header names).
E1000_ADVTXD_POPTS_IXSM = E1000_TXD_POPTS_IXSM << E1000_TXD_POPTS_SHIFT  # 0x100
E1000_ADVTXD_POPTS_TXSM = E1000_TXD_POPTS_TXSM << E1000_TXD_POPTS_SHIFT  # 0x200

# --- §2.2 advanced data descriptor, cmd_type_len (dword2) -----------------------------------------
E1000_ADVTXD_MAC_LINKSEC = 0x00040000  # FreeBSD name
E1000_ADVTXD_MAC_TSTAMP = 0x00080000   # IEEE 1588 timestamp this packet
E1000_ADVTXD_DTYP_CTXT = 0x00200000    # DTYP 2: context descriptor
E1000_ADVTXD_DTYP_DATA = 0x00300000    # DTYP 3: data descriptor
E1000_ADVTXD_DCMD_EOP = 0x01000000
E1000_ADVTXD_DCMD_IFCS = 0x02000000
E1000_ADVTXD_DCMD_RS = 0x08000000
E1000_ADVTXD_DCMD_DDTYP_ISCSI = 0x10000000  # FreeBSD name; reserved for igb
E1000_ADVTXD_DCMD_DEXT = 0x20000000
E1000_ADVTXD_DCMD_VLE = 0x40000000
E1000_ADVTXD_DCMD_TSE = 0x80000000
# olinfo_status (dword3)
E1000_ADVTXD_IDX_SHIFT = 4
E1000_ADVTXD_CC = 0x00000080           # check context (FreeBSD name; unused by igb)
E1000_ADVTXD_PAYLEN_SHIFT = 14
E1000_ADVTXD_STAT_SN_CRC = 0x00000002  # FreeBSD: NXTSEQ/SEED present in write-back

# --- §2.3 advanced context descriptor ------------------------------------------------------------
E1000_ADVTXD_MACLEN_SHIFT = 9          # vlan_macip_lens: IPLEN 8:0, MACLEN 15:9, VLAN 31:16
E1000_ADVTXD_VLAN_SHIFT = 16
E1000_ADVTXD_TUCMD_SNAP = 0x00000200   # TUCMD bit 0 (name by analogy; not in the Linux header)
E1000_ADVTXD_TUCMD_IPV4 = 0x00000400   # type_tucmd_mlhl: 1 = IPv4, 0 = IPv6
E1000_ADVTXD_TUCMD_L4T_UDP = 0x00000000
E1000_ADVTXD_TUCMD_L4T_TCP = 0x00000800
E1000_ADVTXD_TUCMD_L4T_SCTP = 0x00001000
E1000_ADVTXD_TUCMD_L4T_RSV = 0x00001800  # FreeBSD/DPDK name: reserved L4 type
E1000_ADVTXD_L4LEN_SHIFT = 8           # mss_l4len_idx: IDX 6:4, L4LEN 15:8, MSS 31:16
E1000_ADVTXD_MSS_SHIFT = 16

# --- §2.5 igb's split of a buffer into data descriptors (igb.h), for txd_use_count ---------------------
IGB_MAX_TXD_PWR = 15
IGB_MAX_DATA_PER_TXD = 1 << IGB_MAX_TXD_PWR  # 32768: power-of-two split below the 65535 field limit
DTXMXPKTSZ_DEFAULT_BYTES = 9728  # I210 max packet without TSO (§2.2)

# Offload header limits of the context descriptor (§2.3, I210 p289–p291).
MIN_MACLEN_OFFLOAD = 14
MIN_IPLEN_OFFLOAD = 20
MAX_TSO_HEADER_BYTES = 512
MIN_L4LEN_TSO = 12       # TCP (and SCTP); the datasheet's range is 12..255
MIN_L4LEN_TSO_UDP = 8    # igb_tso: UDP L4 GSO uses hdr_len = l4_offset + 8 (§3.5 step 4)

L4T_NAMES = ("udp", "tcp", "sctp", "reserved")  # TUCMD.L4T values 0..3

# --- raw layouts ------------------------------------------------------------------------------------
LEGACY_TX = struct.Struct("<QHBBBBH")  # addr, length, cso, cmd, sta|rsv, css, vlan
ADV_TX_READ = struct.Struct("<QII")    # buffer_addr, cmd_type_len, olinfo_status
ADV_TX_CTXT = struct.Struct("<IIII")   # vlan_macip_lens, seqnum_seed, type_tucmd_mlhl, mss_l4len_idx
_U32 = struct.Struct("<I")
WB_STATUS_OFFSET = 12                  # wb.status = dword3, the same dword as olinfo_status
_DTYP_SHIFT = 20
_DTYP_DATA = 3
_DTYP_CTXT = 2
_STA_MASK = 0xF


@dataclass(frozen=True, slots=True)
class LegacyTx:
    """A decoded legacy TX descriptor (facts §2.1); igb never writes these."""

    buffer_addr: int
    length: int
    cso: int
    eop: bool
    ifcs: bool
    ic: bool
    rs: bool
    dext: bool
    vle: bool
    ide: bool
    sta: int
    css: int
    vlan: int


@dataclass(frozen=True, slots=True)
class AdvData:
    """A decoded advanced TX data descriptor, read format (facts §2.2).

    Only the first descriptor of a packet supplies MAC/VLE/TSE/IFCS/IDX/CC/
    POPTS/PAYLEN; later ones contribute address, DTALEN, EOP and RS.
    """

    buffer_addr: int
    dtalen: int
    dtyp: int
    mac_tstamp: bool
    mac_linksec: bool
    eop: bool
    ifcs: bool
    rs: bool
    dext: bool
    vle: bool
    tse: bool
    sta: int
    idx: int
    cc: bool
    ixsm: bool
    txsm: bool
    paylen: int


@dataclass(frozen=True, slots=True)
class AdvContext:
    """A decoded advanced TX context descriptor (facts §2.3); ``l4t`` is one of :data:`L4T_NAMES`."""

    iplen: int
    maclen: int
    vlan: int
    seqnum_seed: int
    tucmd_ipv4: bool
    l4t: str
    snap: bool
    dtyp: int
    dext: bool
    idx: int
    l4len: int
    mss: int

    @property
    def header_bytes(self) -> int:
        """MACLEN + IPLEN + L4LEN: the header TSO replicates in front of every segment."""
        return self.maclen + self.iplen + self.l4len


@dataclass(frozen=True, slots=True)
class Malformed:
    """16 bytes that are no valid TX descriptor (DEXT=1 with a DTYP other than 2 or 3)."""

    reason: str
    raw: bytes


TxDesc = Union[LegacyTx, AdvData, AdvContext, Malformed]


# --- decoding -----------------------------------------------------------------------------------
def _bit(word: int, mask: int) -> bool:
    return bool(word & mask)


def _check_raw(raw16: bytes) -> None:
    if len(raw16) != TX_DESC_SIZE:
        raise ValueError(f"a TX descriptor is {TX_DESC_SIZE} bytes, got {len(raw16)}")


def decode_tx(raw16: bytes) -> TxDesc:
    """Decode one 16-byte TX descriptor; unknown advanced types come back as :class:`Malformed`."""
    _check_raw(raw16)
    raw16 = bytes(raw16)
    cmd_type_len = _U32.unpack_from(raw16, 8)[0]
    if not cmd_type_len & E1000_TXD_CMD_DEXT:
        return _decode_legacy(raw16)
    dtyp = (cmd_type_len >> _DTYP_SHIFT) & 0xF
    if dtyp == _DTYP_DATA:
        return _decode_adv_data(raw16)
    if dtyp == _DTYP_CTXT:
        return _decode_adv_context(raw16)
    return Malformed(f"DEXT=1 with DTYP {dtyp}", raw16)


def _decode_legacy(raw16: bytes) -> LegacyTx:
    addr, length, cso, cmd, sta_rsv, css, vlan = LEGACY_TX.unpack(raw16)
    word = cmd << 24  # compare against the dword2 constants
    return LegacyTx(
        buffer_addr=addr, length=length, cso=cso,
        eop=_bit(word, E1000_TXD_CMD_EOP), ifcs=_bit(word, E1000_TXD_CMD_IFCS),
        ic=_bit(word, E1000_TXD_CMD_IC), rs=_bit(word, E1000_TXD_CMD_RS),
        dext=_bit(word, E1000_TXD_CMD_DEXT), vle=_bit(word, E1000_TXD_CMD_VLE),
        ide=_bit(word, E1000_TXD_CMD_IDE), sta=sta_rsv & _STA_MASK, css=css, vlan=vlan)


def _decode_adv_data(raw16: bytes) -> AdvData:
    addr, ctl, olinfo = ADV_TX_READ.unpack(raw16)
    return AdvData(
        buffer_addr=addr, dtalen=ctl & 0xFFFF, dtyp=(ctl >> _DTYP_SHIFT) & 0xF,
        mac_tstamp=_bit(ctl, E1000_ADVTXD_MAC_TSTAMP), mac_linksec=_bit(ctl, E1000_ADVTXD_MAC_LINKSEC),
        eop=_bit(ctl, E1000_ADVTXD_DCMD_EOP), ifcs=_bit(ctl, E1000_ADVTXD_DCMD_IFCS),
        rs=_bit(ctl, E1000_ADVTXD_DCMD_RS), dext=_bit(ctl, E1000_ADVTXD_DCMD_DEXT),
        vle=_bit(ctl, E1000_ADVTXD_DCMD_VLE), tse=_bit(ctl, E1000_ADVTXD_DCMD_TSE),
        sta=olinfo & _STA_MASK, idx=(olinfo >> E1000_ADVTXD_IDX_SHIFT) & 0x7,
        cc=_bit(olinfo, E1000_ADVTXD_CC), ixsm=_bit(olinfo, E1000_ADVTXD_POPTS_IXSM),
        txsm=_bit(olinfo, E1000_ADVTXD_POPTS_TXSM), paylen=olinfo >> E1000_ADVTXD_PAYLEN_SHIFT)


def _decode_adv_context(raw16: bytes) -> AdvContext:
    vlan_macip_lens, seqnum_seed, tucmd, mss_l4len_idx = ADV_TX_CTXT.unpack(raw16)
    return AdvContext(
        iplen=vlan_macip_lens & 0x1FF, maclen=(vlan_macip_lens >> E1000_ADVTXD_MACLEN_SHIFT) & 0x7F,
        vlan=vlan_macip_lens >> E1000_ADVTXD_VLAN_SHIFT, seqnum_seed=seqnum_seed,
        tucmd_ipv4=_bit(tucmd, E1000_ADVTXD_TUCMD_IPV4), l4t=L4T_NAMES[(tucmd >> 11) & 0x3],
        snap=_bit(tucmd, E1000_ADVTXD_TUCMD_SNAP), dtyp=(tucmd >> _DTYP_SHIFT) & 0xF,
        dext=_bit(tucmd, E1000_ADVTXD_DCMD_DEXT), idx=(mss_l4len_idx >> E1000_ADVTXD_IDX_SHIFT) & 0x7,
        l4len=(mss_l4len_idx >> E1000_ADVTXD_L4LEN_SHIFT) & 0xFF,
        mss=mss_l4len_idx >> E1000_ADVTXD_MSS_SHIFT)


# --- encoding -----------------------------------------------------------------------------------
def _field(name: str, value: int, width: int) -> int:
    """``value`` if it is a non-negative int of at most ``width`` bits, else ValueError."""
    if not isinstance(value, int) or not 0 <= value < (1 << width):
        raise ValueError(f"{name}={value!r} does not fit in {width} bits")
    return int(value)


def _flags(pairs) -> int:
    """OR of the masks whose flag is truthy."""
    word = 0
    for on, mask in pairs:
        if on:
            word |= mask
    return word


def encode_legacy(buffer_addr: int, length: int, *, cso: int = 0, eop: bool = False,
                  ifcs: bool = False, ic: bool = False, rs: bool = False, vle: bool = False,
                  ide: bool = False, sta: int = 0, css: int = 0, vlan: int = 0) -> bytes:
    """Build a legacy TX descriptor (facts §2.1); DEXT is always 0."""
    cmd = _flags([(eop, E1000_TXD_CMD_EOP), (ifcs, E1000_TXD_CMD_IFCS), (ic, E1000_TXD_CMD_IC),
                  (rs, E1000_TXD_CMD_RS), (vle, E1000_TXD_CMD_VLE), (ide, E1000_TXD_CMD_IDE)]) >> 24
    return LEGACY_TX.pack(_field("buffer_addr", buffer_addr, 64), _field("length", length, 16),
                          _field("cso", cso, 8), cmd, _field("sta", sta, 4),
                          _field("css", css, 8), _field("vlan", vlan, 16))


def encode_adv_data(buffer_addr: int, dtalen: int, *, eop: bool = False, rs: bool = False,
                    ifcs: bool = True, vle: bool = False, tse: bool = False,
                    mac_tstamp: bool = False, mac_linksec: bool = False, sta: int = 0,
                    idx: int = 0, cc: bool = False, ixsm: bool = False, txsm: bool = False,
                    paylen: int = 0) -> bytes:
    """Build an advanced TX data descriptor (facts §2.2); DTYP=3 and DEXT=1 always.

    IFCS defaults on, as ``igb_tx_cmd_type`` sets it for every skb without no_fcs.
    DTALEN may use the whole 16-bit field; igb itself splits at IGB_MAX_DATA_PER_TXD.
    """
    cmd_type_len = (E1000_ADVTXD_DTYP_DATA | E1000_ADVTXD_DCMD_DEXT | _field("dtalen", dtalen, 16)
                    | _flags([(mac_linksec, E1000_ADVTXD_MAC_LINKSEC),
                              (mac_tstamp, E1000_ADVTXD_MAC_TSTAMP),
                              (eop, E1000_ADVTXD_DCMD_EOP), (ifcs, E1000_ADVTXD_DCMD_IFCS),
                              (rs, E1000_ADVTXD_DCMD_RS), (vle, E1000_ADVTXD_DCMD_VLE),
                              (tse, E1000_ADVTXD_DCMD_TSE)]))
    olinfo_status = (_field("sta", sta, 4) | _field("idx", idx, 3) << E1000_ADVTXD_IDX_SHIFT
                     | _field("paylen", paylen, 18) << E1000_ADVTXD_PAYLEN_SHIFT
                     | _flags([(cc, E1000_ADVTXD_CC), (ixsm, E1000_ADVTXD_POPTS_IXSM),
                               (txsm, E1000_ADVTXD_POPTS_TXSM)]))
    return ADV_TX_READ.pack(_field("buffer_addr", buffer_addr, 64), cmd_type_len, olinfo_status)


def encode_adv_context(*, iplen: int = 0, maclen: int = 0, vlan: int = 0, seqnum_seed: int = 0,
                       tucmd_ipv4: bool = False, l4t: str = "udp", snap: bool = False,
                       idx: int = 0, l4len: int = 0, mss: int = 0) -> bytes:
    """Build an advanced TX context descriptor (facts §2.3); DTYP=2 and DEXT=1 always.

    ``l4t="udp"`` is the all-zero L4T, what igb writes when it offloads no L4 checksum.
    """
    if l4t not in L4T_NAMES:
        raise ValueError(f"l4t={l4t!r} is not one of {L4T_NAMES}")
    vlan_macip_lens = (_field("iplen", iplen, 9)
                       | _field("maclen", maclen, 7) << E1000_ADVTXD_MACLEN_SHIFT
                       | _field("vlan", vlan, 16) << E1000_ADVTXD_VLAN_SHIFT)
    type_tucmd = (E1000_ADVTXD_DTYP_CTXT | E1000_ADVTXD_DCMD_DEXT | L4T_NAMES.index(l4t) << 11
                  | _flags([(tucmd_ipv4, E1000_ADVTXD_TUCMD_IPV4), (snap, E1000_ADVTXD_TUCMD_SNAP)]))
    mss_l4len_idx = (_field("idx", idx, 3) << E1000_ADVTXD_IDX_SHIFT
                     | _field("l4len", l4len, 8) << E1000_ADVTXD_L4LEN_SHIFT
                     | _field("mss", mss, 16) << E1000_ADVTXD_MSS_SHIFT)
    return ADV_TX_CTXT.pack(vlan_macip_lens, _field("seqnum_seed", seqnum_seed, 32),
                            type_tucmd, mss_l4len_idx)


_FIXED = {LegacyTx: {"dext": False}, AdvData: {"dtyp": _DTYP_DATA, "dext": True},
          AdvContext: {"dtyp": _DTYP_CTXT, "dext": True}}
_ENCODERS = {LegacyTx: encode_legacy, AdvData: encode_adv_data, AdvContext: encode_adv_context}


def encode_tx(desc: LegacyTx | AdvData | AdvContext) -> bytes:
    """Encode a decoded descriptor back to bytes (fields the format fixes must hold their value)."""
    fixed = _FIXED.get(type(desc))
    if fixed is None:
        raise ValueError(f"cannot encode {type(desc).__name__}")
    values = {f.name: getattr(desc, f.name) for f in fields(desc)}
    for name, want in fixed.items():
        if values.pop(name) != want:
            raise ValueError(f"{type(desc).__name__}.{name} must be {want!r}")
    return _ENCODERS[type(desc)](**values)


# --- write-back -----------------------------------------------------------------------------------
def writeback_dd(raw16: bytes) -> bytes:
    """The 16 bytes the NIC writes back for a done descriptor: the fetched bytes with STA = DD.

    See the module docstring for why the other 12 bytes are kept as fetched.
    """
    _check_raw(raw16)
    status = _U32.unpack_from(raw16, WB_STATUS_OFFSET)[0]
    return bytes(raw16[:WB_STATUS_OFFSET]) + _U32.pack((status & ~_STA_MASK) | E1000_TXD_STAT_DD)


def has_dd(raw16: bytes) -> bool:
    """True when ``wb.status`` has DD, the test igb_clean_tx_irq makes on an EOP descriptor."""
    _check_raw(raw16)
    return bool(_U32.unpack_from(raw16, WB_STATUS_OFFSET)[0] & E1000_TXD_STAT_DD)


def txd_use_count(size: int) -> int:
    """TXD_USE_COUNT: data descriptors igb needs for ``size`` bytes (DIV_ROUND_UP by 32 KiB)."""
    return -(-size // IGB_MAX_DATA_PER_TXD)


# --- whole rings ----------------------------------------------------------------------------------
# numpy is imported on first use (ring views are for tests and debugging; importing it costs
# ~0.15 s of CPU): TX_DESC_DTYPE is built by the module's __getattr__.
_dtype = None


def _tx_desc_dtype():
    global _dtype
    if _dtype is None:
        import numpy  # here, not at module level: only ring views need it, and it is slow to import
        _dtype = numpy.dtype([("addr", "<u8"), ("cmd_type_len", "<u4"), ("olinfo_status", "<u4")])
    return _dtype


def __getattr__(name: str):
    """``TX_DESC_DTYPE``, the numpy dtype of one descriptor, built (and numpy imported) on first use."""
    if name == "TX_DESC_DTYPE":
        return _tx_desc_dtype()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _ring_slots(nbytes: int) -> int:
    """Descriptors in a ring dump of ``nbytes``; ValueError if not a whole number."""
    if nbytes % TX_DESC_SIZE:
        raise ValueError(f"ring dump of {nbytes} bytes is not a whole number of descriptors")
    return nbytes // TX_DESC_SIZE


def ring_view(buf: bytes | bytearray | memoryview) -> np.ndarray:
    """A structured-array view of a ring dump (no copy; writable if ``buf`` is)."""
    _ring_slots(memoryview(buf).nbytes)
    import numpy  # here, not at module level: see _tx_desc_dtype
    return numpy.frombuffer(buf, dtype=_tx_desc_dtype())


def hw_owns(index: int, head: int, tail: int, ring_size: int) -> bool:
    """True when slot ``index`` lies in [TDH, TDT) mod ring size: handed to, not yet done by, HW."""
    return (index - head) % ring_size < (tail - head) % ring_size


def _describe(desc: TxDesc) -> tuple[str, str, str]:
    """(type, length, flags) columns of one ring row."""
    if isinstance(desc, AdvData):
        names = [("EOP", desc.eop), ("RS", desc.rs), ("IFCS", desc.ifcs), ("VLE", desc.vle),
                 ("TSE", desc.tse), ("TXSM", desc.txsm), ("IXSM", desc.ixsm),
                 ("TSTAMP", desc.mac_tstamp)]
        flags = [n for n, on in names if on]
        if desc.paylen:
            flags.append(f"PAYLEN={desc.paylen}")
        return "data", str(desc.dtalen), " ".join(flags)
    if isinstance(desc, AdvContext):
        flags = (f"idx={desc.idx} mac={desc.maclen} ip={desc.iplen} l4={desc.l4len} mss={desc.mss} "
                 f"{desc.l4t.upper()}{' IPV4' if desc.tucmd_ipv4 else ''}"
                 f"{f' vlan={desc.vlan:#06x}' if desc.vlan else ''}")
        return "ctxt", "-", flags
    if isinstance(desc, LegacyTx):
        names = [("EOP", desc.eop), ("RS", desc.rs), ("IFCS", desc.ifcs), ("IC", desc.ic),
                 ("VLE", desc.vle), ("IDE", desc.ide)]
        return "legacy", str(desc.length), " ".join(n for n, on in names if on)
    return "BAD", "-", desc.reason


def format_ring(buf: bytes | bytearray | memoryview, head: int, tail: int) -> str:
    """A readable table of a ring dump: index, owner (HW in [TDH, TDT)), type, length, flags, DD."""
    raw = bytes(buf)
    n = _ring_slots(len(raw))
    if n == 0 or not (0 <= head < n and 0 <= tail < n):
        raise ValueError(f"head {head} / tail {tail} outside a ring of {n}")
    lines = [f"ring of {n}: TDH={head} TDT={tail}, HW owns {(tail - head) % n}",
             f"{'idx':>4} {'owner':5} {'type':6} {'len':>6} DD flags"]
    for i in range(n):
        slot = raw[i * TX_DESC_SIZE:(i + 1) * TX_DESC_SIZE]
        kind, length, flags = _describe(decode_tx(slot))
        notes = " ".join(x for x in (flags, "<TDH" if i == head else "", "<TDT" if i == tail else "") if x)
        owner = "HW" if hw_owns(i, head, tail, n) else "SW"
        dd = "DD" if has_dd(slot) else "--"
        lines.append(f"{i:>4} {owner:5} {kind:6} {length:>6} {dd} {notes}".rstrip())
    return "\n".join(lines)


# --- packet checks -------------------------------------------------------------------------------
def _is_data(desc: TxDesc) -> bool:
    return isinstance(desc, (AdvData, LegacyTx))


def split_packets(descs: Sequence[TxDesc]) -> list[list[TxDesc]]:
    """Cut a descriptor sequence after each EOP; a trailing run without EOP is the last list."""
    packets: list[list[TxDesc]] = []
    current: list[TxDesc] = []
    for desc in descs:
        current.append(desc)
        if _is_data(desc) and desc.eop:
            packets.append(current)
            current = []
    if current:
        packets.append(current)
    return packets


def validate_packet(descs: Sequence[TxDesc], *, contexts: dict[int, AdvContext], ring_size: int,
                    max_packet_bytes: int = DTXMXPKTSZ_DEFAULT_BYTES) -> list[str]:
    """Problems with one packet (optional context, then data descriptors up to EOP), per facts §2.2/§2.3.

    ``contexts`` holds the contexts the queue stored earlier, by IDX; a context
    in ``descs`` with the first data descriptor's IDX takes precedence. The
    function stores nothing. Messages name descriptors by their position in ``descs``.
    """
    problems = _check_kinds(descs) + _check_framing(descs, ring_size)
    if any(isinstance(d, LegacyTx) for d in descs) and any(
            isinstance(d, (AdvData, AdvContext)) for d in descs):
        return problems  # a mixed packet has no single meaning to check further
    data = [(i, d) for i, d in enumerate(_through_eop(descs)) if _is_data(d)]
    if not data:
        return problems
    total = sum(d.dtalen if isinstance(d, AdvData) else d.length for _, d in data)
    first_pos, first = data[0]
    if isinstance(first, AdvData):
        problems += _check_offloads(descs, first_pos, first, contexts, total)
    if not (isinstance(first, AdvData) and first.tse) and total > max_packet_bytes:
        problems.append(f"packet of {total} bytes > {max_packet_bytes}")
    return problems


def _through_eop(descs: Sequence[TxDesc]) -> Sequence[TxDesc]:
    """``descs`` up to and including the first EOP (all of them if there is none)."""
    for i, d in enumerate(descs):
        if _is_data(d) and d.eop:
            return descs[:i + 1]
    return descs


def _family(desc: TxDesc) -> str:
    return "legacy" if isinstance(desc, LegacyTx) else "advanced"


def _check_kinds(descs: Sequence[TxDesc]) -> list[str]:
    """Malformed descriptors, legacy/advanced mixing, contexts after data, no data at all."""
    problems = [f"desc {i}: malformed ({d.reason})" for i, d in enumerate(descs)
                if isinstance(d, Malformed)]
    typed = [(i, d) for i, d in enumerate(descs) if not isinstance(d, Malformed)]
    if typed:
        family0 = _family(typed[0][1])
        for i, d in typed:
            if _family(d) != family0:
                article = "an" if family0 == "advanced" else "a"
                problems.append(f"desc {i}: {_family(d)} descriptor in {article} {family0} packet")
                break
    seen_data = False
    for i, d in enumerate(descs):
        if isinstance(d, AdvContext) and seen_data:
            problems.append(f"desc {i}: context descriptor after a data descriptor")
        seen_data = seen_data or _is_data(d)
    if not seen_data:
        problems.append("no data descriptor")
    return problems


def _check_framing(descs: Sequence[TxDesc], ring_size: int) -> list[str]:
    """Zero-length descriptors without EOP, missing EOP, descriptors after EOP, ring overflow."""
    problems = []
    eop_pos = None
    for i, d in enumerate(descs):
        if not _is_data(d):
            continue
        length = d.dtalen if isinstance(d, AdvData) else d.length
        if length == 0 and not d.eop:
            problems.append(f"desc {i}: zero-length data descriptor without EOP")
        if d.eop and eop_pos is None:
            eop_pos = i
    n = len(descs)
    if eop_pos is None:
        longer = f" (longer than the ring of {ring_size})" if n >= ring_size else ""
        problems.append(f"no EOP in {n} descriptors{longer}")
    else:
        if eop_pos < n - 1:
            problems.append(f"desc {eop_pos + 1}: after the EOP at desc {eop_pos}")
        if n >= ring_size:  # HW owns at most ring_size - 1 slots (TDH == TDT means empty)
            problems.append(f"packet uses {n} descriptors; a ring of {ring_size} holds {ring_size - 1}")
    return problems


def _effective_context(descs, first: AdvData, contexts) -> tuple[str, AdvContext | None]:
    """The context the first data descriptor uses, and how to name it in messages."""
    for i in range(len(descs) - 1, -1, -1):
        d = descs[i]
        if isinstance(d, AdvContext) and d.idx == first.idx:
            return f"desc {i}", d
    return f"stored context {first.idx}", contexts.get(first.idx)


def _check_offloads(descs, pos: int, first: AdvData, contexts, total: int) -> list[str]:
    """IFCS, context presence, POPTS/TSE consistency, header limits and PAYLEN of an advanced packet."""
    problems = []
    where = f"desc {pos}"
    used = "/".join(n for n, on in (("TSE", first.tse), ("TXSM", first.txsm),
                                    ("IXSM", first.ixsm), ("VLE", first.vle)) if on)
    label, ctx = _effective_context(descs, first, contexts)
    if used and not first.ifcs:
        problems.append(f"{where}: {used} without IFCS")
    if used and ctx is None:
        problems.append(f"{where}: {used} without a context (idx {first.idx})")
    if first.tse and not first.txsm:
        problems.append(f"{where}: TSE without TXSM")
    if ctx is not None:
        problems += _check_with_context(where, first, label, ctx)
    problems += _check_paylen(where, first, ctx, total)
    return problems


def _check_with_context(where: str, first: AdvData, label: str, ctx: AdvContext) -> list[str]:
    """Rules that tie the first data descriptor's offload bits to its context's fields."""
    problems = []
    if first.ixsm and not ctx.tucmd_ipv4:
        problems.append(f"{where}: IXSM with an IPv6 context")
    if first.tse and ctx.tucmd_ipv4 and not first.ixsm:
        problems.append(f"{where}: TSE with an IPv4 context but no IXSM")
    if first.tse or first.txsm or first.ixsm:
        if ctx.maclen < MIN_MACLEN_OFFLOAD:
            problems.append(f"{label}: MACLEN {ctx.maclen} < {MIN_MACLEN_OFFLOAD}")
        if ctx.iplen < MIN_IPLEN_OFFLOAD:
            problems.append(f"{label}: IPLEN {ctx.iplen} < {MIN_IPLEN_OFFLOAD}")
        if ctx.header_bytes > MAX_TSO_HEADER_BYTES:
            problems.append(f"{label}: MACLEN+IPLEN+L4LEN {ctx.header_bytes} > {MAX_TSO_HEADER_BYTES}")
    if first.tse:
        if ctx.mss == 0:
            problems.append(f"{label}: TSE with MSS 0")
        min_l4len = MIN_L4LEN_TSO_UDP if ctx.l4t == "udp" else MIN_L4LEN_TSO
        if ctx.l4len < min_l4len:
            problems.append(f"{label}: TSE with L4LEN {ctx.l4len} < {min_l4len}")
    return problems


def _check_paylen(where: str, first: AdvData, ctx: AdvContext | None, total: int) -> list[str]:
    """PAYLEN = buffer bytes (plain send) or buffer bytes minus the header (TSE)."""
    if not first.tse:
        if first.paylen != total:
            return [f"{where}: PAYLEN {first.paylen} != {total} buffer bytes"]
        return []
    if ctx is None:
        return []  # already reported: TSE without a context
    if first.paylen != total - ctx.header_bytes:
        return [f"{where}: PAYLEN {first.paylen} != {total} buffer bytes - {ctx.header_bytes} header"]
    return []


def ends_packet(desc: TxDesc) -> bool:
    """True for a data descriptor with EOP, or anything neither data nor context (it ends what came before)."""
    if isinstance(desc, AdvContext):
        return False
    return not isinstance(desc, (AdvData, LegacyTx)) or desc.eop
