"""The testbench's own TX descriptor codec, written from igb_facts §2 (not from the NIC model).

Configuration (a) of the environment posts :class:`~sim.verif.items.TxPacket`
requests as raw descriptors in a ring; :func:`encode_packet` turns one request
into its 16-byte little-endian descriptors. :func:`dd_set` and
:func:`decode_cmd` read descriptors back (write-back DD, coverage, debug).

Layouts (facts §2.1–§2.4), descriptor bits 127:0 as four little-endian dwords::

    legacy    dw0-1 buffer_addr | dw2 len 15:0, CSO 23:16, CMD 31:24
              | dw3 STA 3:0, RSV 7:4, CSS 15:8, VLAN 31:16
    adv data  dw0-1 buffer_addr | dw2 cmd_type_len (DTALEN 15:0, DTYP 23:20, DCMD 31:24)
              | dw3 olinfo_status (STA 3:0, IDX 6:4, CC 7, POPTS 13:8, PAYLEN 31:14)
    adv ctxt  dw0 vlan_macip_lens (IPLEN 8:0, MACLEN 15:9, VLAN 31:16) | dw1 seqnum_seed
              | dw2 type_tucmd_mlhl (TUCMD 19:9, DTYP 23:20, DEXT 29) | dw3 mss_l4len_idx
                (IDX 6:4, L4LEN 15:8, MSS 31:16)
    write-back  dw3 bit 0 = DD, the same dword/bit in every format (§2.4)

Encoding choices, each from the facts:

* Context (when ``pkt.context``): MACLEN, IPLEN, VLAN TCI, TUCMD.L4T from the
  packet; TUCMD.IPV4 when the packet is IPv4 *and* TSE or IXSM asks the NIC to
  edit the IPv4 header (igb_tso sets it, igb_tx_csum never does, §3.5; the
  datasheet needs it for IXSM, §2.2); L4LEN and MSS only with TSE (igb_tx_csum
  writes mss_l4len_idx = 0, §2.6); IDX 0; seqnum_seed 0. A context without any
  offload (VLAN only) gets type_tucmd 0 plus DTYP/DEXT, as igb_tx_csum.
* Data: DTYP data, DEXT, IFCS, VLE and TSE on every descriptor (the I210 reads
  them from the first, the 8254x from the EOP one: setting all satisfies both);
  EOP and RS (if ``pkt.rs``) on the last. olinfo_status only on the first:
  POPTS.TXSM when TXSM or TSE, POPTS.IXSM when IXSM or IPv4 TSE (the datasheet
  "musts" of §2.2, so a TSO request is always legal), PAYLEN, IDX 0.
* Legacy: one descriptor per buffer, the same CMD/CSO/CSS/VLAN on each (the
  8254x SDM reads IC/IFCS/VLE only with EOP, CSS from the first descriptor).

Intentional errors (:data:`~sim.verif.items.ERROR_KINDS`) that live in the
descriptors are made here: ``bad_paylen`` (PAYLEN + 1), ``tso_mss0`` (context
MSS 0 with TSE), ``no_ifcs`` (IFCS cleared on every descriptor while an offload
is asked for). ``zero_len_mid``, ``overlong`` and ``dma_fault`` are in the
buffers and addresses the sequence chose; they are encoded as given.
"""
from __future__ import annotations

import struct

from sim.verif.items import TxPacket

__all__ = ["encode_packet", "adv_paylen", "dd_set", "decode_cmd", "TX_DESC_SIZE"]

TX_DESC_SIZE = 16
_QWORD_DWORDS = struct.Struct("<QII")   # buffer_addr, dword2, dword3
_FOUR_DWORDS = struct.Struct("<IIII")   # the context descriptor's four dwords

# --- §2.1 legacy descriptor: CMD bits at their dword2 positions (e1000_defines.h names) ------------
E1000_TXD_CMD_EOP = 0x01000000    # end of packet
E1000_TXD_CMD_IFCS = 0x02000000   # insert FCS
E1000_TXD_CMD_IC = 0x04000000     # insert checksum (sum from CSS, stored at CSO)
E1000_TXD_CMD_RS = 0x08000000     # report status
E1000_TXD_CMD_DEXT = 0x20000000   # descriptor extension: 0 = legacy
E1000_TXD_CMD_VLE = 0x40000000    # insert the VLAN field as an 802.1Q tag
E1000_TXD_CMD_IDE = 0x80000000    # interrupt delay enable
# struct e1000_tx_desc fields (no Linux macro: they are struct members)
_CSO_SHIFT = 16                   # lower.flags.cso: dword2 bits 23:16 (qword1 23:16)
_CSS_SHIFT = 8                    # upper.fields.css: dword3 bits 15:8 (qword1 47:40)
_SPECIAL_SHIFT = 16               # upper.fields.special: dword3 bits 31:16 (qword1 63:48), the VLAN field

# --- §2.2 advanced data descriptor, cmd_type_len ---------------------------------------------------
E1000_ADVTXD_MAC_TSTAMP = 0x00080000
E1000_ADVTXD_DTYP_CTXT = 0x00200000   # DTYP 2
E1000_ADVTXD_DTYP_DATA = 0x00300000   # DTYP 3
E1000_ADVTXD_DCMD_EOP = 0x01000000
E1000_ADVTXD_DCMD_IFCS = 0x02000000
E1000_ADVTXD_DCMD_RS = 0x08000000
E1000_ADVTXD_DCMD_DEXT = 0x20000000
E1000_ADVTXD_DCMD_VLE = 0x40000000
E1000_ADVTXD_DCMD_TSE = 0x80000000
_DTYP_MASK = 0x00F00000
_DTALEN_MASK = 0xFFFF
# §2.2 olinfo_status; Linux defines POPTS as byte values and igb shifts them by 8
E1000_TXD_POPTS_IXSM = 0x01           # insert IPv4 header checksum  (olinfo 0x100)
E1000_TXD_POPTS_TXSM = 0x02           # insert TCP/UDP checksum      (olinfo 0x200)
_POPTS_SHIFT = 8
E1000_ADVTXD_IDX_SHIFT = 4
E1000_ADVTXD_PAYLEN_SHIFT = 14
PAYLEN_MAX = (1 << 18) - 1            # PAYLEN is 18 bits (31:14)

# --- §2.3 advanced context descriptor ---------------------------------------------------------------
E1000_ADVTXD_MACLEN_SHIFT = 9
E1000_ADVTXD_VLAN_SHIFT = 16
E1000_ADVTXD_TUCMD_IPV4 = 0x00000400
E1000_ADVTXD_TUCMD_L4T_UDP = 0x00000000
E1000_ADVTXD_TUCMD_L4T_TCP = 0x00000800
E1000_ADVTXD_TUCMD_L4T_SCTP = 0x00001000
E1000_ADVTXD_L4LEN_SHIFT = 8
E1000_ADVTXD_MSS_SHIFT = 16
_L4T = {"udp": E1000_ADVTXD_TUCMD_L4T_UDP, "tcp": E1000_ADVTXD_TUCMD_L4T_TCP,
        "sctp": E1000_ADVTXD_TUCMD_L4T_SCTP}

# --- §2.4 write-back ------------------------------------------------------------------------------
E1000_TXD_STAT_DD = 0x1               # wb.status (dword3) bit 0


def _check_fits(name: str, value: int, bits: int) -> int:
    """``value`` if it fits ``bits`` unsigned bits, else ValueError (the caller is a sequence)."""
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name}={value} does not fit in {bits} bits")
    return value


def _offloads(pkt: TxPacket) -> bool:
    """True when the packet asks the NIC for any offload (TSO, checksums, VLAN, legacy IC)."""
    return pkt.tse or pkt.txsm or pkt.ixsm or pkt.ic or pkt.vlan is not None


def _check_error_kind(pkt: TxPacket) -> None:
    """An intentional error must be expressible in this packet's descriptors."""
    if pkt.error == "bad_paylen" and pkt.fmt != "adv":
        raise ValueError("bad_paylen needs advanced descriptors (legacy ones have no PAYLEN)")
    if pkt.error == "tso_mss0" and not (pkt.fmt == "adv" and pkt.tse and pkt.context):
        raise ValueError("tso_mss0 needs an advanced TSE packet with a context descriptor")
    if pkt.error == "no_ifcs" and not _offloads(pkt):
        raise ValueError("no_ifcs needs an offload: without one, IFCS clear is legal")
    if len(pkt.buffers) == 0:
        raise ValueError("a packet needs at least one data descriptor")


def encode_packet(pkt: TxPacket, buf_addrs: list[int]) -> list[bytes]:
    """The descriptors of one packet, in ring order (context first), 16 bytes each.

    ``buf_addrs[i]`` is the DMA address of buffer ``i`` (``pkt.buffers[i]`` bytes).
    """
    if len(buf_addrs) != len(pkt.buffers):
        raise ValueError(f"{len(pkt.buffers)} buffers but {len(buf_addrs)} addresses")
    _check_error_kind(pkt)
    if pkt.fmt == "adv":
        ctx = [_encode_context(pkt)] if pkt.context else []
        return ctx + _encode_adv_data(pkt, buf_addrs)
    if pkt.fmt == "legacy":
        return _encode_legacy(pkt, buf_addrs)
    raise ValueError(f"unknown descriptor format {pkt.fmt!r}")


# --- advanced -----------------------------------------------------------------------------------------
def _encode_context(pkt: TxPacket) -> bytes:
    """Advanced context descriptor (§2.3): header lengths, VLAN, TUCMD, and L4LEN/MSS under TSE."""
    vlan_macip_lens = (_check_fits("iplen", pkt.iplen, 9)
                       | _check_fits("maclen", pkt.maclen, 7) << E1000_ADVTXD_MACLEN_SHIFT
                       | _check_fits("vlan", pkt.vlan or 0, 16) << E1000_ADVTXD_VLAN_SHIFT)
    type_tucmd = E1000_ADVTXD_DTYP_CTXT | E1000_ADVTXD_DCMD_DEXT
    if pkt.tse or pkt.txsm:
        type_tucmd |= _L4T[pkt.l4t]
    if pkt.ipv4 and (pkt.tse or pkt.ixsm):
        type_tucmd |= E1000_ADVTXD_TUCMD_IPV4
    mss_l4len_idx = 0  # IDX 0
    if pkt.tse:
        mss = 0 if pkt.error == "tso_mss0" else pkt.mss
        mss_l4len_idx = (_check_fits("l4len", pkt.l4len, 8) << E1000_ADVTXD_L4LEN_SHIFT
                         | _check_fits("mss", mss, 16) << E1000_ADVTXD_MSS_SHIFT)
    return _FOUR_DWORDS.pack(vlan_macip_lens, 0, type_tucmd, mss_l4len_idx)


def adv_paylen(pkt: TxPacket) -> int:
    """PAYLEN (§2.2): all buffer bytes, or under TSE the bytes after MACLEN+IPLEN+L4LEN."""
    total = sum(pkt.buffers)
    paylen = total - (pkt.maclen + pkt.iplen + pkt.l4len) if pkt.tse else total
    if pkt.error == "bad_paylen":
        paylen += 1
    return _check_fits("paylen", paylen, 18)


def _adv_cmd_type(pkt: TxPacket) -> int:
    """cmd_type_len bits common to every data descriptor of the packet (no length, EOP, RS)."""
    cmd = E1000_ADVTXD_DTYP_DATA | E1000_ADVTXD_DCMD_DEXT
    if pkt.ifcs and pkt.error != "no_ifcs":
        cmd |= E1000_ADVTXD_DCMD_IFCS
    if pkt.vlan is not None:
        cmd |= E1000_ADVTXD_DCMD_VLE
    if pkt.tse:
        cmd |= E1000_ADVTXD_DCMD_TSE
    return cmd


def _adv_olinfo(pkt: TxPacket) -> int:
    """olinfo_status of the first data descriptor: POPTS, PAYLEN, IDX 0, STA 0."""
    olinfo = adv_paylen(pkt) << E1000_ADVTXD_PAYLEN_SHIFT
    if pkt.txsm or pkt.tse:
        olinfo |= E1000_TXD_POPTS_TXSM << _POPTS_SHIFT
    if pkt.ixsm or (pkt.tse and pkt.ipv4):
        olinfo |= E1000_TXD_POPTS_IXSM << _POPTS_SHIFT
    return olinfo


def _encode_adv_data(pkt: TxPacket, buf_addrs: list[int]) -> list[bytes]:
    """One advanced data descriptor per buffer (§2.2); EOP/RS on the last, olinfo on the first."""
    cmd = _adv_cmd_type(pkt)
    last = len(pkt.buffers) - 1
    out = []
    for i, (addr, n) in enumerate(zip(buf_addrs, pkt.buffers)):
        word = cmd | _check_fits("dtalen", n, 16)
        if i == last:
            word |= E1000_ADVTXD_DCMD_EOP | (E1000_ADVTXD_DCMD_RS if pkt.rs else 0)
        olinfo = _adv_olinfo(pkt) if i == 0 else 0
        out.append(_QWORD_DWORDS.pack(_check_fits("buffer_addr", addr, 64), word, olinfo))
    return out


# --- legacy -------------------------------------------------------------------------------------------
def _encode_legacy(pkt: TxPacket, buf_addrs: list[int]) -> list[bytes]:
    """One legacy descriptor per buffer (§2.1): length, CSO/CMD, CSS/VLAN; DEXT 0."""
    cmd = 0
    if pkt.ifcs and pkt.error != "no_ifcs":
        cmd |= E1000_TXD_CMD_IFCS
    if pkt.ic:
        cmd |= E1000_TXD_CMD_IC
    if pkt.vlan is not None:
        cmd |= E1000_TXD_CMD_VLE
    cso = _check_fits("cso", pkt.cso, 8) << _CSO_SHIFT
    dword3 = (_check_fits("css", pkt.css, 8) << _CSS_SHIFT
              | _check_fits("vlan", pkt.vlan or 0, 16) << _SPECIAL_SHIFT)
    last = len(pkt.buffers) - 1
    out = []
    for i, (addr, n) in enumerate(zip(buf_addrs, pkt.buffers)):
        word = cmd | cso | _check_fits("length", n, 16)
        if i == last:
            word |= E1000_TXD_CMD_EOP | (E1000_TXD_CMD_RS if pkt.rs else 0)
        out.append(_QWORD_DWORDS.pack(_check_fits("buffer_addr", addr, 64), word, dword3))
    return out


# --- reading back -----------------------------------------------------------------------------------
def _dwords(raw16: bytes) -> tuple[int, int, int]:
    if len(raw16) != TX_DESC_SIZE:
        raise ValueError(f"a TX descriptor is {TX_DESC_SIZE} bytes, got {len(raw16)}")
    return _QWORD_DWORDS.unpack(bytes(raw16))


def dd_set(raw16: bytes) -> bool:
    """True when the write-back status (dword3 bit 0, §2.4) has DD."""
    return bool(_dwords(raw16)[2] & E1000_TXD_STAT_DD)


_LEGACY_BITS = (("EOP", E1000_TXD_CMD_EOP), ("IFCS", E1000_TXD_CMD_IFCS), ("IC", E1000_TXD_CMD_IC),
                ("RS", E1000_TXD_CMD_RS), ("VLE", E1000_TXD_CMD_VLE), ("IDE", E1000_TXD_CMD_IDE))
_DATA_BITS = (("EOP", E1000_ADVTXD_DCMD_EOP), ("IFCS", E1000_ADVTXD_DCMD_IFCS),
              ("RS", E1000_ADVTXD_DCMD_RS), ("VLE", E1000_ADVTXD_DCMD_VLE),
              ("TSE", E1000_ADVTXD_DCMD_TSE), ("TSTAMP", E1000_ADVTXD_MAC_TSTAMP))


def decode_cmd(raw16: bytes) -> dict:
    """Name what a descriptor asks for: its kind, the command bits set and the main fields.

    Keys: ``kind`` ("legacy", "data", "context" or "dtyp<n>"), one ``True``
    entry per command/option bit that is set (EOP, RS, IFCS, VLE, TSE, IC,
    TXSM, IXSM, IPV4), the lengths (``len``, ``paylen``, ``maclen``, ``iplen``,
    ``l4len``, ``mss``, ``css``, ``cso``), ``vlan`` when nonzero, ``l4t`` for a
    context, and ``DD`` when the status has it. For coverage and debug output.
    """
    addr, dword2, dword3 = _dwords(raw16)
    out: dict = {"DD": True} if dword3 & E1000_TXD_STAT_DD else {}
    if not dword2 & E1000_TXD_CMD_DEXT:
        out.update(kind="legacy", len=dword2 & _DTALEN_MASK, cso=(dword2 >> _CSO_SHIFT) & 0xFF,
                   css=(dword3 >> _CSS_SHIFT) & 0xFF)
        out.update({name: True for name, bit in _LEGACY_BITS if dword2 & bit})
        vlan = dword3 >> _SPECIAL_SHIFT
    elif dword2 & _DTYP_MASK == E1000_ADVTXD_DTYP_DATA:
        out.update(kind="data", len=dword2 & _DTALEN_MASK, paylen=dword3 >> E1000_ADVTXD_PAYLEN_SHIFT)
        out.update({name: True for name, bit in _DATA_BITS if dword2 & bit})
        popts = dword3 >> _POPTS_SHIFT
        out.update({name: True for name, bit in (("TXSM", E1000_TXD_POPTS_TXSM),
                                                 ("IXSM", E1000_TXD_POPTS_IXSM)) if popts & bit})
        vlan = 0
    elif dword2 & _DTYP_MASK == E1000_ADVTXD_DTYP_CTXT:
        vlan_macip_lens = addr & 0xFFFFFFFF
        out.update(kind="context", iplen=vlan_macip_lens & 0x1FF,
                   maclen=(vlan_macip_lens >> E1000_ADVTXD_MACLEN_SHIFT) & 0x7F,
                   l4t=("udp", "tcp", "sctp", "reserved")[(dword2 >> 11) & 0x3],
                   l4len=(dword3 >> E1000_ADVTXD_L4LEN_SHIFT) & 0xFF, mss=dword3 >> E1000_ADVTXD_MSS_SHIFT)
        if dword2 & E1000_ADVTXD_TUCMD_IPV4:
            out["IPV4"] = True
        vlan = vlan_macip_lens >> E1000_ADVTXD_VLAN_SHIFT
    else:
        out["kind"] = f"dtyp{(dword2 & _DTYP_MASK) >> 20}"
        vlan = 0
    if vlan:
        out["vlan"] = vlan
    return out
