"""TX offloads: what the NIC does to a packet between its packet buffer and the MAC.

Pure functions on bytes (no engine). :func:`build_frames` takes the packet as
the driver laid it out in host memory (the bytes of all data descriptors of
one packet, concatenated) and the offload request from the first data
descriptor (DCMD.TSE/VLE/IFCS, POPTS.IXSM/TXSM) and its context descriptor
(MACLEN, IPLEN, L4LEN, MSS, TUCMD.IPV4, TUCMD.L4T, VLAN), and returns the
frames for the wire. The steps, in hardware order:

1. TSO (DCMD.TSE): split the L4 payload into MSS pieces, one frame each, with
   per-segment header fields (IPv4 total length/ID/checksum, IPv6 payload
   length, TCP sequence number and flags, UDP length) and L4 checksums;
   or, without TSE, IXSM/TXSM checksum insertion on the single packet.
2. VLE: insert an 802.1Q tag (TPID = VET, TCI = context VLAN) after the 12
   address bytes. MACLEN counts the untagged header in host memory.
3. TCTL.PSP: pad a frame shorter than 60 bytes (without FCS) with zeros to 60.
4. DCMD.IFCS: append the Ethernet FCS.

The hardware only follows the context's offsets; it does not parse the
packet, so nothing here looks at version nibbles or protocol fields, and bad
packet contents never raise. A request the hardware would refuse (offsets
outside the packet, MSS 0, a datasheet "must" broken) yields no frames and a
list of problems, which the caller counts as a dropped packet.

Sources: igb_facts.md §1.4 (PSP), §2.2 (data descriptor rules), §2.3 (context
descriptor limits); 82575EB SDM §5.8.7 (per-segment header updates for the
first, middle and last TSO frame) and §5.9 (checksum = one's complement of the
sum over the range *including the checksum field itself*).

Model decisions (not datasheet facts):

* L4 checksum seed. Linux leaves a pseudo-header partial sum in the L4
  checksum field (for TSO without the length: igb_tso "remove payload length
  from inner checksum"), and the 82575 SDM sums the field itself, so silicon
  most likely relies on that seed. By default (``use_seed=False``) this model
  ignores the field and computes the pseudo-header from the IP header (source,
  destination, L4T protocol, the segment's own L4 length), which is right
  whatever software left there. With ``use_seed=True`` it sums the field as
  the seed and adds the segment's L4 length under TSO, so a stack that seeds
  wrongly gets wrong checksums, as on hardware.
* TSO TCP flags: see :data:`TSO_FLAGS_FIRST`. IP ID: first segment keeps the
  header's ID, each next one +1, wrapping at 16 bits (the 82575 SDM mentions a
  configurable 15-bit wrap; not modelled). IPv4 flags (DF/MF) are not touched.
* UDP with TSE is segmented like Linux UDP GSO (SKB_GSO_UDP_L4, which igb
  offloads): every segment a datagram with its own UDP length and checksum.
  SCTP with TSE is refused.
* Refusals of datasheet "must"s (TSE without TXSM, IPv4 TSE without IXSM,
  IXSM with an IPv6 context, offloads or padding without IFCS, frames under
  60 bytes without PSP): what silicon does then is undocumented; refusing
  makes a driver bug visible as a counted drop with a reason.

Legacy descriptors (DEXT = 0; igb never writes them) ask for less, through a
:class:`LegacyRequest` (CMD.IC with CSS/CSO, CMD.VLE with the descriptor's
VLAN field, CMD.IFCS): step 1 is then :func:`legacy_checksum` (IC), steps 2–4
are the same. :func:`build_frames` takes either kind of request.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

__all__ = [
    "OffloadRequest", "LegacyRequest", "FrameResult", "build_frames", "check_request", "insert_vlan_tag",
    "legacy_checksum",
    "ipv4_header_checksum", "l4_checksum", "ethernet_fcs", "sctp_crc32c",
    "ones_complement_sum", "pseudo_header",
    "MIN_FRAME_BYTES", "MIN_FRAME_PSP_BYTES", "DTXMXPKTSZ_DEFAULT", "MSS_MAX",
    "TSO_FLAGS_FIRST", "TSO_FLAGS_MIDDLE", "TSO_FLAGS_LAST",
]

#: Shortest frame without FCS that may go on the wire (without PSP it is the driver's job).
MIN_FRAME_BYTES = 60
#: Shortest packet the NIC accepts when TCTL.PSP pads it [I210 p452].
MIN_FRAME_PSP_BYTES = 17
#: Largest packet without VLAN tag/FCS, DTXMXPKTSZ default [I210 p292–p295].
DTXMXPKTSZ_DEFAULT = 9728
#: Largest MSS in a context descriptor [I210 p289–p291].
MSS_MAX = 9216
#: Context limits when offloading [I210 p289–p291].
MACLEN_RANGE = (14, 127)
IPLEN_RANGE = (20, 511)
HEADERS_MAX_BYTES = 512  # MACLEN + IPLEN + L4LEN
L4LEN_MAX = 255
TCP_L4LEN_MIN = 12  # datasheet limit for TSE
UDP_L4LEN_MIN = 8  # a UDP header; UDP segmentation (Linux SKB_GSO_UDP_L4) uses L4LEN 8

IPV6_FIXED_HEADER_BYTES = 40
#: TUCMD.L4T → IP protocol number used in the pseudo-header.
L4_PROTOCOL = {"tcp": 6, "udp": 17, "sctp": 132}
#: Offset of the checksum field inside the L4 header.
L4_CSUM_OFFSET = {"tcp": 16, "udp": 6, "sctp": 8}
#: Shortest L4 header a checksum offload can work on.
L4_MIN_HEADER = {"tcp": 20, "udp": 8, "sctp": 12}

# TCP flag bits, as the 12 low bits of the 16-bit word at TCP offset 12.
TCP_FIN, TCP_PSH, TCP_CWR = 0x001, 0x008, 0x080
TCP_FLAG_BITS = 0x0FFF
#: TSO flag masks (the role of DTXTCPFLGL/H): a segment's flags = the header's
#: flags AND the mask for its position. FIN and PSH only on the last segment is
#: the 82575 SDM §5.8.7 rule; CWR only on the first is the Linux GSO convention
#: (tcp_gso_segment clears CWR after the first segment), and fm10k's programmed
#: masks do the same. That igb's DTXTCPFLGL/H *defaults* are these masks is
#: believed, not read in a datasheet — UNCONFIRMED. A TSO packet that fits in
#: one segment keeps all its flags (as Linux GSO, which leaves it whole).
TSO_FLAGS_FIRST = TCP_FLAG_BITS & ~(TCP_FIN | TCP_PSH)
TSO_FLAGS_MIDDLE = TCP_FLAG_BITS & ~(TCP_FIN | TCP_PSH | TCP_CWR)
TSO_FLAGS_LAST = TCP_FLAG_BITS & ~TCP_CWR


@dataclass(frozen=True, slots=True)
class OffloadRequest:
    """What the descriptors ask for one packet.

    Data descriptor: ``tse`` (DCMD.TSE), ``ixsm``/``txsm`` (POPTS), ``vle``
    (DCMD.VLE), ``ifcs`` (DCMD.IFCS). Context descriptor (all None when the
    packet has none): ``maclen``, ``iplen``, ``l4len``, ``mss``, ``ipv4``
    (TUCMD.IPV4), ``l4t`` ("tcp", "udp" or "sctp"; TUCMD.L4T), ``vlan`` (TCI).
    """

    tse: bool = False
    ixsm: bool = False
    txsm: bool = False
    vle: bool = False
    ifcs: bool = True
    maclen: int | None = None
    iplen: int | None = None
    l4len: int | None = None
    mss: int | None = None
    ipv4: bool | None = None
    l4t: str | None = None
    vlan: int | None = None


@dataclass(frozen=True, slots=True)
class LegacyRequest:
    """What a legacy descriptor asks for one packet (facts §2.1).

    ``ic`` (CMD.IC) with ``css``/``cso`` (CSS, CSO), ``vle`` (CMD.VLE) with
    ``vlan`` (the descriptor's VLAN/Special field), ``ifcs`` (CMD.IFCS). Which
    descriptor of a multi-descriptor packet supplies them is the NIC's choice
    (``Nic.legacy_fields_from``). A separate class, so that the advanced path
    neither builds nor checks legacy fields.
    """

    ifcs: bool = True
    ic: bool = False
    css: int = 0
    cso: int = 0
    vle: bool = False
    vlan: int = 0
    # a legacy packet has none of these: the shared length/framing helpers read them
    tse = False
    txsm = False
    ixsm = False


@dataclass(slots=True)
class FrameResult:
    """Frames for the wire (FCS included iff IFCS), or no frames and why not."""

    frames: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the request was accepted."""
        return not self.problems


# --- checksums ---------------------------------------------------------------

def ones_complement_sum(data: bytes) -> int:
    """The 16-bit one's complement sum (RFC 1071) of big-endian words, odd byte padded with 0.

    Computed as the data read as one big-endian number modulo 0xFFFF (2**16
    is 1 modulo 0xFFFF, so every word counts once, carries wrap around): the
    same value as summing the words with end-around carry, except that a
    multiple of 0xFFFF comes out 0. End-around carry never folds a non-zero
    total to 0, so that case is 0xFFFF (negative zero) unless every byte is
    zero. (The kernel side has the same routine, ``stack.core.checksum.
    csum_partial``; the layers may not import each other.)
    """
    if len(data) & 1:
        data = bytes(data) + b"\x00"
    n = int.from_bytes(data, "big")
    s = n % 0xFFFF
    if s == 0 and n:
        return 0xFFFF
    return s


def _fold_add(*sums: int) -> int:
    """One's complement addition of 16-bit sums."""
    total = sum(sums)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def ipv4_header_checksum(header: bytes) -> int:
    """The IPv4 header checksum of ``header`` (all IHL bytes), whatever its field at +10 holds."""
    zeroed = bytes(header[:10]) + b"\x00\x00" + bytes(header[12:])
    return ~ones_complement_sum(zeroed) & 0xFFFF


def l4_checksum(pseudo: bytes, segment: bytes) -> int:
    """TCP/UDP checksum: complement of the sum of the pseudo-header and the segment as given.

    The caller zeroes the segment's checksum field first (or leaves a seed in it).
    """
    return ~_fold_add(ones_complement_sum(pseudo), ones_complement_sum(segment)) & 0xFFFF


def pseudo_header(packet: bytes, ip_off: int, ipv4: bool, l4t: str, l4_len: int) -> bytes:
    """The TCP/UDP pseudo-header: addresses from the IP header at ``ip_off``, protocol from L4T.

    IPv6 uses the fixed header's addresses (a routing header's final
    destination is not looked for: the hardware does not parse extensions).
    """
    proto = L4_PROTOCOL[l4t]
    if ipv4:
        addrs = packet[ip_off + 12:ip_off + 20]
        return bytes(addrs) + struct.pack("!BBH", 0, proto, l4_len & 0xFFFF)
    addrs = packet[ip_off + 8:ip_off + 40]
    return bytes(addrs) + struct.pack("!I3xB", l4_len, proto)


def ethernet_fcs(frame: bytes) -> bytes:
    """The 4 FCS bytes as transmitted after ``frame``: CRC-32 (IEEE 802.3), least significant byte first."""
    return (zlib.crc32(frame) & 0xFFFFFFFF).to_bytes(4, "little")


def _crc32c_table() -> list[int]:
    """Byte table for the reflected Castagnoli polynomial 0x82F63B78."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def sctp_crc32c(data: bytes) -> int:
    """CRC32c (RFC 3309/4960) of ``data``; SCTP stores it least significant byte first."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- request checks ------------------------------------------------------------

def _needs_context(req: OffloadRequest) -> bool:
    """TSE, TXSM or IXSM use the context's offsets."""
    return req.tse or req.txsm or req.ixsm


def _context_problems(packet: bytes, req: OffloadRequest) -> list[str]:
    """Missing or out-of-range context fields for the requested offloads."""
    if not _needs_context(req):
        return []
    if None in (req.maclen, req.iplen, req.ipv4) or (req.txsm and req.l4t is None):
        return ["offload (TSE/TXSM/IXSM) requested without a context (MACLEN/IPLEN/TUCMD missing)"]
    problems = []
    if not MACLEN_RANGE[0] <= req.maclen <= MACLEN_RANGE[1]:
        problems.append(f"MACLEN {req.maclen} outside {MACLEN_RANGE[0]}..{MACLEN_RANGE[1]}")
    if not IPLEN_RANGE[0] <= req.iplen <= IPLEN_RANGE[1]:
        problems.append(f"IPLEN {req.iplen} outside {IPLEN_RANGE[0]}..{IPLEN_RANGE[1]}")
    if req.tse and not req.ipv4 and req.iplen < IPV6_FIXED_HEADER_BYTES:
        # TUCMD.IPV4 matters to TSO (which IP header to edit per segment) and to IXSM; a
        # plain TXSM needs no IP version: igb_tx_csum never sets TUCMD.IPV4 (facts §3.5)
        problems.append(f"IPLEN {req.iplen} shorter than the IPv6 header (40) with TUCMD.IPV4 = 0")
    if req.l4t is not None and req.l4t not in L4_PROTOCOL:
        problems.append(f"TUCMD.L4T {req.l4t!r} is reserved")
    if req.maclen + req.iplen > len(packet):
        problems.append(f"MACLEN+IPLEN {req.maclen + req.iplen} longer than the packet ({len(packet)} bytes)")
    if req.ixsm and not req.ipv4:
        problems.append("POPTS.IXSM set with an IPv6 context (datasheet: must be 0 for IPv6)")
    return problems


def _tso_problems(packet: bytes, req: OffloadRequest) -> list[str]:
    """Why a TSE request cannot be segmented (empty if it can)."""
    if req.l4len is None or req.mss is None:
        return ["DCMD.TSE without L4LEN/MSS in the context"]
    problems = []
    if not req.txsm:
        problems.append("DCMD.TSE without POPTS.TXSM (datasheet: TXSM must be 1 with TSE)")
    if req.ipv4 and not req.ixsm:
        problems.append("IPv4 TSE without POPTS.IXSM (datasheet: IXSM must be 1)")
    if req.l4t not in ("tcp", "udp"):
        problems.append(f"TSE with L4T {req.l4t!r}: only TCP and UDP segmentation exist")
        return problems
    lo = TCP_L4LEN_MIN if req.l4t == "tcp" else UDP_L4LEN_MIN
    if not lo <= req.l4len <= L4LEN_MAX:
        problems.append(f"L4LEN {req.l4len} outside {lo}..{L4LEN_MAX} for {req.l4t.upper()} TSO")
    if not 0 < req.mss <= MSS_MAX:
        problems.append(f"MSS {req.mss} outside 1..{MSS_MAX}")
    hdr = req.maclen + req.iplen + req.l4len
    if hdr > HEADERS_MAX_BYTES:
        problems.append(f"MACLEN+IPLEN+L4LEN {hdr} exceeds {HEADERS_MAX_BYTES}")
    if hdr > len(packet):
        problems.append(f"TSO headers ({hdr} bytes) longer than the packet ({len(packet)} bytes)")
    elif hdr == len(packet):
        problems.append(f"TSO headers ({hdr} bytes) leave no payload in the packet")
    return problems


def _csum_problems(packet: bytes, req: OffloadRequest) -> list[str]:
    """Why a checksum-only (no TSE) request cannot be done (empty if it can)."""
    if not req.txsm:
        return []
    l4_bytes = len(packet) - req.maclen - req.iplen
    need = L4_MIN_HEADER[req.l4t]
    if l4_bytes < need:
        return [f"{req.l4t.upper()} header needs {need} bytes, packet has {l4_bytes} after MACLEN+IPLEN"]
    return []


def _frame_problems(packet: bytes, req: OffloadRequest) -> list[str]:
    """IFCS and VLAN rules that apply to every packet."""
    problems = []
    if req.vle and req.vlan is None:
        problems.append("DCMD.VLE without a context VLAN")
    if (req.tse or req.txsm or req.ixsm or req.vle) and not req.ifcs:
        problems.append("offload or VLAN insertion without DCMD.IFCS (datasheet: IFCS must be set)")
    return problems


def _length_problems(packet: bytes, req: OffloadRequest, psp: bool, max_bytes: int) -> list[str]:
    """Minimum (PSP or 60) and maximum (DTXMXPKTSZ) lengths; TSO segments are checked once cut."""
    n = len(packet)
    tagged = n + (4 if req.vle else 0)
    if psp and n < MIN_FRAME_PSP_BYTES:
        return [f"{n}-byte packet shorter than {MIN_FRAME_PSP_BYTES} (minimum with TCTL.PSP)"]
    if psp and tagged < MIN_FRAME_BYTES and not req.ifcs:
        return ["padding (TCTL.PSP) a short frame without DCMD.IFCS (datasheet: IFCS must be set)"]
    if not psp and tagged < MIN_FRAME_BYTES and not req.tse:
        return [f"{tagged}-byte frame shorter than {MIN_FRAME_BYTES} without TCTL.PSP"]
    if not req.tse and n > max_bytes:
        return [f"{n}-byte packet exceeds DTXMXPKTSZ {max_bytes}"]
    return []


def check_request(packet: bytes, req: OffloadRequest, psp: bool,
                  max_bytes: int = DTXMXPKTSZ_DEFAULT) -> list[str]:
    """Every reason the hardware would refuse this packet; empty when it is acceptable."""
    problems = _frame_problems(packet, req) + _length_problems(packet, req, psp, max_bytes)
    ctx = _context_problems(packet, req)
    problems += ctx
    if ctx or not _needs_context(req):
        return problems
    problems += _tso_problems(packet, req) if req.tse else _csum_problems(packet, req)
    return problems


# --- header updates -------------------------------------------------------------

def _put16(buf: bytearray, off: int, value: int) -> None:
    """Store a big-endian 16-bit field."""
    buf[off:off + 2] = (value & 0xFFFF).to_bytes(2, "big")


def _insert_ip_checksum(buf: bytearray, req: OffloadRequest) -> None:
    """IXSM: recompute the IPv4 header checksum at MACLEN+10."""
    ip = req.maclen
    _put16(buf, ip + 10, ipv4_header_checksum(buf[ip:ip + req.iplen]))


def _insert_l4_checksum(buf: bytearray, req: OffloadRequest, use_seed: bool, add_len: bool) -> None:
    """TXSM: the TCP/UDP/SCTP checksum of everything from MACLEN+IPLEN to the end of ``buf``.

    ``add_len`` (TSO, seed mode) adds the segment's L4 length to the seed, as
    the hardware does for the length software removed from the seed.
    """
    l4 = req.maclen + req.iplen
    at = l4 + L4_CSUM_OFFSET[req.l4t]
    if req.l4t == "sctp":
        buf[at:at + 4] = bytes(4)
        buf[at:at + 4] = sctp_crc32c(buf[l4:]).to_bytes(4, "little")
        return
    seg_len = len(buf) - l4
    if use_seed:
        extra = struct.pack("!I", seg_len) if add_len else b""
    else:
        _put16(buf, at, 0)
        # without TSE the context need not say IPv4 (igb never does): read the version nibble
        ipv4 = req.ipv4 if req.tse else buf[req.maclen] >> 4 == 4
        extra = pseudo_header(buf, req.maclen, ipv4, req.l4t, seg_len)
    csum = l4_checksum(extra, buf[l4:])
    if req.l4t == "udp" and csum == 0:
        csum = 0xFFFF  # a computed 0 is sent as all-ones (0 means "no checksum")
    _put16(buf, at, csum)


def _checksum_offload(packet: bytes, req: OffloadRequest, use_seed: bool) -> bytes:
    """A non-TSO packet with IXSM/TXSM applied."""
    buf = bytearray(packet)
    if req.ixsm:
        _insert_ip_checksum(buf, req)
    if req.txsm:
        _insert_l4_checksum(buf, req, use_seed, add_len=False)
    return bytes(buf)


def _tso_flags_mask(index: int, count: int) -> int:
    """DTXTCPFLGL/H-style mask for segment ``index`` of ``count``."""
    if count == 1:
        return TCP_FLAG_BITS
    if index == 0:
        return TSO_FLAGS_FIRST
    return TSO_FLAGS_LAST if index == count - 1 else TSO_FLAGS_MIDDLE


def _update_ip_header(buf: bytearray, req: OffloadRequest, index: int) -> None:
    """Per-segment IP fields: IPv4 total length and ID (+index mod 2^16), or IPv6 payload length."""
    ip = req.maclen
    if req.ipv4:
        _put16(buf, ip + 2, len(buf) - ip)
        _put16(buf, ip + 4, int.from_bytes(buf[ip + 4:ip + 6], "big") + index)
    else:
        _put16(buf, ip + 4, len(buf) - ip - IPV6_FIXED_HEADER_BYTES)


def _update_l4_header(buf: bytearray, req: OffloadRequest, index: int, count: int) -> None:
    """Per-segment L4 fields: TCP sequence number and flags, or UDP length."""
    l4 = req.maclen + req.iplen
    if req.l4t == "udp":
        _put16(buf, l4 + 4, len(buf) - l4)
        return
    seq = int.from_bytes(buf[l4 + 4:l4 + 8], "big")
    buf[l4 + 4:l4 + 8] = ((seq + index * req.mss) & 0xFFFFFFFF).to_bytes(4, "big")
    word = int.from_bytes(buf[l4 + 12:l4 + 14], "big")
    keep = ~TCP_FLAG_BITS & 0xFFFF | _tso_flags_mask(index, count)
    _put16(buf, l4 + 12, word & keep)


def _tso_segments(packet: bytes, req: OffloadRequest, use_seed: bool) -> list[bytes]:
    """TSE: one frame per MSS of L4 payload, each with its own headers and checksums."""
    hdr_len = req.maclen + req.iplen + req.l4len
    header, payload = packet[:hdr_len], packet[hdr_len:]
    count = -(-len(payload) // req.mss)
    frames = []
    for i in range(count):
        buf = bytearray(header) + payload[i * req.mss:(i + 1) * req.mss]
        _update_ip_header(buf, req, i)
        _update_l4_header(buf, req, i, count)
        if req.ipv4:
            _insert_ip_checksum(buf, req)
        _insert_l4_checksum(buf, req, use_seed, add_len=True)
        frames.append(bytes(buf))
    return frames


def _segment_problems(frames: list[bytes], req: OffloadRequest, psp: bool, max_bytes: int) -> list[str]:
    """Length rules checked on TSO segments once they are cut (the last may be short)."""
    problems = []
    biggest = max(len(f) for f in frames)
    if biggest > max_bytes:
        problems.append(f"TSO segment of {biggest} bytes exceeds DTXMXPKTSZ {max_bytes}")
    last = len(frames[-1]) + (4 if req.vle else 0)
    if not psp and last < MIN_FRAME_BYTES:
        problems.append(f"last TSO segment of {last} bytes shorter than {MIN_FRAME_BYTES} without TCTL.PSP")
    return problems


# --- wire framing ---------------------------------------------------------------------

def insert_vlan_tag(frame: bytes, tci: int, vet: int = 0x8100) -> bytes:
    """802.1Q tag (TPID ``vet``, TCI) after the destination and source addresses."""
    return frame[:12] + struct.pack("!HH", vet & 0xFFFF, tci & 0xFFFF) + frame[12:]


def _to_wire(frame: bytes, req: OffloadRequest, psp: bool, vet: int) -> bytes:
    """VLAN insertion, PSP padding to 60 bytes, then the FCS if IFCS."""
    if req.vle:
        frame = insert_vlan_tag(frame, req.vlan, vet)
    if psp and len(frame) < MIN_FRAME_BYTES:
        frame = frame + bytes(MIN_FRAME_BYTES - len(frame))
    if req.ifcs:
        frame = frame + ethernet_fcs(frame)
    return frame


def build_frames(packet: bytes, req: OffloadRequest | LegacyRequest, *, psp: bool, vet: int = 0x8100,
                 use_seed: bool = False, max_bytes: int = DTXMXPKTSZ_DEFAULT) -> FrameResult:
    """The frames the NIC puts on the wire for one packet, or why it refuses it.

    ``req`` is an :class:`OffloadRequest` (advanced descriptors) or a
    :class:`LegacyRequest` (legacy descriptors). ``psp`` is TCTL.PSP, ``vet``
    the VLAN Ether Type register, ``max_bytes`` DTXMXPKTSZ (checked on each
    frame before VLAN tag and FCS), ``use_seed`` see the module docstring.
    Never raises on packet contents.
    """
    packet = bytes(packet)
    if req.__class__ is LegacyRequest:
        return _legacy_frames(packet, req, psp, vet, max_bytes)
    problems = check_request(packet, req, psp, max_bytes)
    if problems:
        return FrameResult([], problems)
    if req.tse:
        frames = _tso_segments(packet, req, use_seed)
        problems = _segment_problems(frames, req, psp, max_bytes)
        if problems:
            return FrameResult([], problems)
    else:
        frames = [_checksum_offload(packet, req, use_seed)]
    return FrameResult([_to_wire(f, req, psp, vet) for f in frames], [])


# --- legacy descriptors ------------------------------------------------------------------

def legacy_checksum(packet: bytes, css: int, cso: int) -> bytes:
    """Legacy CMD.IC: the complement of the one's-complement sum of ``packet[css:]``, big-endian at ``cso``.

    Sources: 8254x SDM §3.3.3/§3.3.3.1, 82575EB SDM §5.6.5.2, I210 datasheet
    §7.2.2.1.3 (facts §2.1 has the layout only):

    * the sum runs from byte CSS to the end of the packet (an odd last byte
      is padded with a zero byte), *the two bytes at CSO included*: software
      leaves 0 or an "offsetting entry" there (e.g. the TCP pseudo-header sum),
      and the hardware "adds the checksum to the field";
    * IC is ignored — the packet is returned unchanged — when CSS >= length or
      CSO >= length - 1 (no room for the 2 bytes). The 8254x and 82575 SDMs
      give exactly this condition; the I210 datasheet writes "CSO > length - 1",
      which would let a checksum run one byte past the packet, so the SDMs'
      form is used;
    * offsets count the packet as software wrote it in host memory: a tag
      inserted by CMD.VLE is neither counted nor summed, so call this before
      :func:`insert_vlan_tag`. Padding (PSP) comes later too and is not summed;
    * no 0 -> 0xFFFF substitution: with legacy descriptors the NIC does not
      know the L4 type (I210 datasheet: "UDP checksum calculation is not
      supported by the legacy descriptors"), so a computed 0x0000 is sent as is.

    Not enforced (82575EB SDM note, a rule for software): CSO > CSS, CSS >= 14,
    CSO < length - 4. The sum is computed as above whatever CSS and CSO are.
    """
    n = len(packet)
    if css >= n or cso >= n - 1:
        return packet
    csum = ~ones_complement_sum(packet[css:]) & 0xFFFF
    return packet[:cso] + csum.to_bytes(2, "big") + packet[cso + 2:]


def _legacy_frames(packet: bytes, req: LegacyRequest, psp: bool, vet: int, max_bytes: int) -> FrameResult:
    """The one frame of a legacy packet: IC, then VLAN tag, padding and FCS as for advanced packets.

    IC or VLE without IFCS is refused, like the advanced "IFCS must be set
    with checksum offload or VLAN insertion" rule (facts §2.2); that the rule
    also binds legacy descriptors is UNCONFIRMED (it makes the request visible
    as a counted drop, as the verification predictor expects).
    """
    problems = _length_problems(packet, req, psp, max_bytes)
    if (req.ic or req.vle) and not req.ifcs:
        problems.append("legacy CMD.IC or CMD.VLE without CMD.IFCS (IFCS must be set with offloads)")
    if problems:
        return FrameResult([], problems)
    frame = legacy_checksum(packet, req.css, req.cso) if req.ic else packet
    return FrameResult([_to_wire(frame, req, psp, vet)], [])
