"""The independent predictor: which frames, and which DD bits, a request must produce.

Expected values come from the datasheet facts (igb_facts.md) and scapy, never
from the NIC model (facts sheet "verification ecosystem" §8 rule 5): a model
bug cannot hide in its own reference.

Per packet, in hardware order (facts §2.2/§2.3, 82575EB SDM §5.6.5, §5.8.7):

1. TSO (DCMD.TSE): cut the L4 payload after MACLEN+IPLEN+L4LEN into MSS
   pieces; each segment gets a copy of the headers with the IPv4 total length
   and header checksum recomputed and the ID + segment index (mod 2^16), or the
   IPv6 payload length; the TCP sequence number + index*MSS, or the UDP length;
   and its own L4 checksum. TCP flags: FIN and PSH only on the last segment, CWR
   only on the first (what Linux GSO, QEMU's igb and the model do; the I210's
   DTXTCPFLGL/H default masks are not in the facts sheet: UNCONFIRMED). A send
   that fits one segment keeps all its flags.
   Without TSE: POPTS.TXSM completes the TCP/UDP checksum, POPTS.IXSM the
   IPv4 header checksum. Every checksum is scapy's (field deleted, rebuilt).
2. Legacy CMD.IC (facts §2.1; 8254x SDM §3.3.3, 82575EB SDM §5.6.5.2): the
   one's-complement sum of the bytes from CSS to the end of the packet, *the
   bytes at CSO included* — software leaves 0 or an "offsetting entry" (the
   pseudo-header seed) there, which is why the SDM tells it to — complemented
   and stored big-endian at CSO. IC is ignored when CSS >= length or
   CSO >= length - 1. Offsets count the packet as in host memory (a tag
   inserted by VLE is not counted and not summed).
3. VLAN insertion (DCMD.VLE / legacy CMD.VLE): an 802.1Q tag, TPID 0x8100 (VET
   as igb programs it) and the TCI, after the 12 address bytes.
4. Padding (TCTL.PSP, which the testbench sets): zeros up to 60 bytes.
5. FCS (DCMD.IFCS): CRC-32 of the frame, least significant byte first.

A packet with an intentional error (``pkt.error``) produces no frame. A
packet with ``error=None`` that breaks a datasheet "must" is a sequence bug:
:func:`expected_frames` raises ValueError (see :func:`packet_problems`).

DD (facts §6.2, §6.3, 8254x SDM §3.3.3.1; docs/nic.md "Write-back"):

* head write-back (TDWBAL.Head_WB_En): no descriptor is written back, no DD;
* WTHRESH = 0: only descriptors with RS are written back, so DD on the last
  data descriptor when ``pkt.rs``;
* WTHRESH > 0: every processed descriptor is written back regardless of RS
  (once the burst is flushed by WTHRESH, EITR expiry or SWFLSH): DD on all,
  the context descriptor included.

A dropped packet's descriptors are still completed (ERROR_KINDS), except after
a DMA fault, where the queue stops before completing them: no DD.
"""
from __future__ import annotations

import zlib

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import NoPayload, Raw, raw

from sim.verif.items import SkbSpec, TxPacket

__all__ = ["expected_frames", "expected_skb_frames", "expected_dd", "packet_problems",
           "tso_segments", "insert_vlan", "legacy_ic", "pad", "with_fcs",
           "MIN_FRAME_BYTES", "DTXMXPKTSZ_DEFAULT", "MSS_MAX", "VLAN_TPID"]

MIN_FRAME_BYTES = 60          # frame without FCS after PSP padding (facts §1.4: 64 with FCS)
MIN_PSP_BYTES = 17            # shortest packet with PSP (facts §1.4, §2.2)
DTXMXPKTSZ_DEFAULT = 9728     # largest non-TSO packet (facts §2.2)
MSS_MAX = 9216                # largest context MSS on I210 (facts §2.3)
VLAN_TPID = 0x8100            # VET, as igb_reset writes it (facts §1.1)
TCP_FIN, TCP_PSH, TCP_CWR = 0x01, 0x08, 0x80


# --- wire framing --------------------------------------------------------------------------------
def insert_vlan(frame: bytes, tci: int) -> bytes:
    """The frame with an 802.1Q tag (TPID 0x8100, ``tci``) after the source address."""
    eth = Ether(frame[:14])
    tagged = (Ether(dst=eth.dst, src=eth.src, type=VLAN_TPID)
              / Dot1Q(prio=tci >> 13, dei=(tci >> 12) & 1, vlan=tci & 0xFFF, type=eth.type)
              / Raw(frame[14:]))
    return raw(tagged)


def pad(frame: bytes) -> bytes:
    """TCTL.PSP: zeros up to 60 bytes (64 with the FCS)."""
    return frame + bytes(max(0, MIN_FRAME_BYTES - len(frame)))


def with_fcs(frame: bytes) -> bytes:
    """The frame followed by its FCS: CRC-32 (IEEE 802.3), least significant byte first."""
    return frame + (zlib.crc32(frame) & 0xFFFFFFFF).to_bytes(4, "little")


def _to_wire(frame: bytes, vlan: int | None, ifcs: bool) -> bytes:
    """VLAN insertion, padding, FCS: the order the MAC path applies them."""
    if vlan is not None:
        frame = insert_vlan(frame, vlan)
    frame = pad(frame)
    return with_fcs(frame) if ifcs else frame


# --- checksums with scapy --------------------------------------------------------------------------
def _l4_layer(pkt, l4t: str):
    layer = TCP if l4t == "tcp" else UDP
    if layer not in pkt:
        raise ValueError(f"no {l4t.upper()} header where the context says one is")
    return pkt[layer]


def _dissect(frame: bytes):
    """``Ether(frame)`` with whatever follows the TCP/UDP header kept as Raw bytes.

    scapy would otherwise dissect the payload by port (DNS on 53, ...), and a
    rebuilt application layer need not give back the same bytes.
    """
    pkt = Ether(frame)
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP] if UDP in pkt else None
    if l4 is not None and not isinstance(l4.payload, NoPayload):
        data = bytes(l4.payload.original)
        l4.remove_payload()
        l4.add_payload(Raw(data))
    return pkt


def _rebuilt(frame: bytes, *, l4t: str | None, ip_csum: bool) -> bytes:
    """``frame`` with scapy's L4 checksum (``l4t``) and/or IPv4 header checksum filled in."""
    pkt = _dissect(frame)
    if ip_csum:
        if IP not in pkt:
            raise ValueError("IPv4 header checksum asked for a frame without an IPv4 header")
        del pkt[IP].chksum
    if l4t is not None:
        del _l4_layer(pkt, l4t).chksum
    out = raw(pkt)
    assert len(out) == len(frame), "scapy changed the frame's length"
    return out


def legacy_ic(frame: bytes, css: int, cso: int) -> bytes:
    """Legacy CMD.IC (module docstring, step 2): ~sum(frame[CSS:]) at CSO; unchanged if out of range."""
    n = len(frame)
    if css >= n or cso >= n - 1:
        return frame
    data = frame[css:] + (b"\0" if (n - css) % 2 else b"")
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return frame[:cso] + (~total & 0xFFFF).to_bytes(2, "big") + frame[cso + 2:]


# --- TSO --------------------------------------------------------------------------------------------
def _tcp_flags(flags: int, index: int, count: int) -> int:
    """The segment's flags: FIN/PSH only on the last, CWR only on the first (module docstring)."""
    if count == 1:
        return flags
    if index != count - 1:
        flags &= ~(TCP_FIN | TCP_PSH)
    if index != 0:
        flags &= ~TCP_CWR
    return flags


def tso_segments(frame: bytes, hdr_len: int, mss: int, l4t: str) -> list[bytes]:
    """Cut a super-packet into segments (no VLAN/pad/FCS yet), headers and checksums by scapy."""
    if mss <= 0:
        raise ValueError(f"MSS {mss}")
    header, payload = frame[:hdr_len], frame[hdr_len:]
    count = -(-len(payload) // mss)
    template = Ether(header)
    out = []
    for i in range(count):
        seg = template.copy()
        if IP in seg:
            seg[IP].id = (template[IP].id + i) & 0xFFFF
            del seg[IP].len, seg[IP].chksum
        elif IPv6 in seg:
            del seg[IPv6].plen
        else:
            raise ValueError("TSO of a frame without an IP header")
        l4 = _l4_layer(seg, l4t)
        if l4t == "tcp":
            l4.seq = (template[TCP].seq + i * mss) & 0xFFFFFFFF
            l4.flags = _tcp_flags(int(template[TCP].flags), i, count)
        else:
            del l4.len
        del l4.chksum
        l4.remove_payload()  # header-only parse: nothing should be behind it, but be sure
        l4.add_payload(Raw(payload[i * mss:(i + 1) * mss]))
        out.append(raw(seg))
    return out


# --- legality of a request -------------------------------------------------------------------------
def _scapy_header_lens(frame: bytes) -> tuple[int, int, int]:
    """(MACLEN, IPLEN, L4LEN) where scapy's dissection puts the IP and TCP/UDP headers (0: none).

    Offsets come from the bytes each layer was dissected from (``original``),
    so nothing is rebuilt.
    """
    pkt = Ether(frame)
    ip = pkt[IP] if IP in pkt else pkt[IPv6] if IPv6 in pkt else None
    if ip is None:
        return len(frame), 0, 0
    maclen = len(frame) - len(ip.original)
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP] if UDP in pkt else None
    if l4 is None:
        return maclen, len(ip.original), 0
    iplen = len(ip.original) - len(l4.original)
    return maclen, iplen, l4.dataofs * 4 if isinstance(l4, TCP) else 8


def _adv_problems(pkt: TxPacket, max_packet_bytes: int) -> list[str]:
    """Datasheet "musts" of the advanced format (facts §2.2, §2.3)."""
    problems = []
    uses_ctx = pkt.tse or pkt.txsm or pkt.ixsm or pkt.vlan is not None
    if uses_ctx and not pkt.context:
        problems.append("TSE/TXSM/IXSM/VLE without a context descriptor")
    if pkt.ixsm and not pkt.ipv4:
        problems.append("IXSM with an IPv6 context")
    if (pkt.tse or pkt.txsm) and pkt.l4t not in ("tcp", "udp"):
        problems.append(f"L4 offload for {pkt.l4t!r}: the predictor does TCP and UDP only")
    if pkt.tse:
        hdr = pkt.maclen + pkt.iplen + pkt.l4len
        if not 0 < pkt.mss <= MSS_MAX:
            problems.append(f"TSE with MSS {pkt.mss} outside 1..{MSS_MAX}")
        if len(pkt.frame) <= hdr:
            problems.append("TSE with no payload behind the headers")
    elif len(pkt.frame) > max_packet_bytes:
        problems.append(f"{len(pkt.frame)}-byte packet over {max_packet_bytes} without TSE")
    if pkt.tse or pkt.txsm or pkt.ixsm:
        got = _scapy_header_lens(pkt.frame)
        want = (pkt.maclen, pkt.iplen, pkt.l4len if pkt.tse else got[2])
        if got != want:
            problems.append(f"context MACLEN/IPLEN/L4LEN {want} but the frame has {got}")
    return problems


def packet_problems(pkt: TxPacket, *, max_packet_bytes: int = DTXMXPKTSZ_DEFAULT) -> list[str]:
    """Why the NIC may refuse this packet (empty: it must send it). Ignores ``pkt.error``."""
    problems = []
    if pkt.fmt not in ("adv", "legacy"):
        problems.append(f"descriptor format {pkt.fmt!r}")
    if sum(pkt.buffers) != len(pkt.frame):
        problems.append(f"buffers sum to {sum(pkt.buffers)}, the frame has {len(pkt.frame)} bytes")
    if 0 in pkt.buffers[:-1]:
        problems.append("zero-length data descriptor without EOP")
    if len(pkt.frame) < MIN_PSP_BYTES:
        problems.append(f"{len(pkt.frame)}-byte packet under {MIN_PSP_BYTES}")
    offload = pkt.tse or pkt.txsm or pkt.ixsm or pkt.ic or pkt.vlan is not None
    tagged = len(pkt.frame) + (4 if pkt.vlan is not None else 0)
    if not pkt.ifcs and (offload or tagged < MIN_FRAME_BYTES):
        problems.append("offload, VLAN insertion or padding without IFCS")
    if pkt.fmt == "adv":
        problems += _adv_problems(pkt, max_packet_bytes)
    elif len(pkt.frame) > max_packet_bytes:
        problems.append(f"{len(pkt.frame)}-byte legacy packet over {max_packet_bytes}")
    return problems


# --- the predictions --------------------------------------------------------------------------------
def _adv_frames(pkt: TxPacket) -> list[bytes]:
    """Frames of an advanced packet before VLAN/pad/FCS."""
    if pkt.tse:
        return tso_segments(pkt.frame, pkt.maclen + pkt.iplen + pkt.l4len, pkt.mss, pkt.l4t)
    if pkt.txsm or pkt.ixsm:
        return [_rebuilt(pkt.frame, l4t=pkt.l4t if pkt.txsm else None, ip_csum=pkt.ixsm)]
    return [pkt.frame]


def expected_frames(pkt: TxPacket, *, max_packet_bytes: int = DTXMXPKTSZ_DEFAULT) -> list[bytes]:
    """The frames (with FCS when ``pkt.ifcs``) the wire must carry for ``pkt``, in order.

    Empty for a packet with an intentional error. ValueError for a packet
    without one that breaks a datasheet rule (a sequence bug).
    """
    if pkt.error is not None:
        return []
    problems = packet_problems(pkt, max_packet_bytes=max_packet_bytes)
    if problems:
        raise ValueError(f"packet {pkt.seq} breaks the datasheet without error=: " + "; ".join(problems))
    if pkt.fmt == "legacy":
        frames = [legacy_ic(pkt.frame, pkt.css, pkt.cso) if pkt.ic else pkt.frame]
    else:
        frames = _adv_frames(pkt)
    return [_to_wire(f, pkt.vlan, pkt.ifcs) for f in frames]


def expected_skb_frames(skb: SkbSpec, *, max_packet_bytes: int = DTXMXPKTSZ_DEFAULT) -> list[bytes]:
    """The frames for configuration (b): what igb + the NIC must make of ``skb`` (always with FCS).

    GSO (``gso_size``): TSO with that MSS, header lengths from the frame
    (igb_tso reads them from the skb's header offsets; scapy here). ``csum``:
    the L4 checksum completed (the seed in the field does not matter: scapy
    computes the checksum from scratch). The IPv4 header checksum is recomputed
    only under TSO (IXSM; igb_tx_csum never sets it). ``vlan``: tag inserted.
    A non-GSO frame over ``max_packet_bytes`` is dropped by the NIC: no frame.
    """
    frame = bytes(skb.frame)
    if len(frame) < MIN_PSP_BYTES:
        frame = frame + bytes(MIN_PSP_BYTES - len(frame))  # igb_xmit_frame: skb_put_padto(skb, 17)
    l4t = skb.l4t if skb.l4t in ("tcp", "udp") else None
    if skb.gso_size:
        if l4t is None:
            raise ValueError(f"GSO of {skb.l4t!r}: igb segments TCP and UDP only")
        maclen, iplen, l4len = _scapy_header_lens(frame)
        frames = tso_segments(frame, maclen + iplen + l4len, skb.gso_size, l4t)
    elif len(frame) > max_packet_bytes:
        return []
    elif skb.csum:
        if l4t is None:
            raise ValueError(f"checksum offload of {skb.l4t!r}: the predictor does TCP and UDP only")
        frames = [_rebuilt(frame, l4t=l4t, ip_csum=False)]
    else:
        frames = [frame]
    return [_to_wire(f, skb.vlan, True) for f in frames]


def expected_dd(pkt: TxPacket, *, wthresh: int, head_wb: bool) -> list[bool]:
    """Per descriptor of ``pkt`` (context first), whether DD must be set once it completed.

    See the module docstring: head write-back → none; WTHRESH 0 → RS
    descriptors only; WTHRESH > 0 → all; a DMA fault → none.
    """
    n = pkt.n_descriptors
    if head_wb or pkt.error == "dma_fault":
        return [False] * n
    if wthresh > 0:
        return [True] * n
    return [False] * (n - 1) + [pkt.rs]
