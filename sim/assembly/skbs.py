"""skbs as the Linux stack hands them to a driver, built from a frame's bytes.

:func:`make_skb` takes the bytes of an Ethernet frame as they should leave
the host (no FCS, no hardware-inserted VLAN tag) and returns an
:class:`~stack.core.skbuff.SkBuff` whose bytes live in simulated host memory
(:func:`~stack.core.skbuff.skb_from_bytes`) and whose metadata is what
``dev_queue_xmit`` would pass to ``ndo_start_xmit``:

* ``protocol`` (the EtherType), the MAC header at ``data``, the network and
  transport header offsets (Ethernet, an optional in-band 802.1Q tag, IPv4
  with options, IPv6 with hop-by-hop/destination-options headers, TCP, UDP —
  parsed with :mod:`struct`);
* checksum offload (``csum=True``): ``ip_summed = CHECKSUM_PARTIAL``,
  ``csum_start``/``csum_offset`` through :func:`~stack.core.skbuff.skb_partial_csum_set`
  and the pseudo-header seed in the L4 checksum field (below);
* GSO (``gso_size > 0``): ``gso_size``, ``gso_segs``, ``gso_type`` in
  ``skb_shinfo`` and everything of checksum offload (a GSO skb is always
  CHECKSUM_PARTIAL);
* hardware VLAN insertion (``vlan_tci``): ``__vlan_hwaccel_put_tag`` with
  ETH_P_8021Q, the frame passed being the untagged one.

The frame's other bytes are used as given: the IPv4 header (total length,
ID, header checksum) and the TCP/UDP header must already be what the stack
wrote — for a GSO skb the IP total length / IPv6 payload length and the UDP
length cover the whole super-packet, the IPv4 ID is the first segment's.
Only the L4 checksum field is rewritten, and only when offloading.

The checksum seed, from first principles
-----------------------------------------
The TCP/UDP checksum is the one's complement of the 16-bit one's-complement
sum over the pseudo-header (IPv4: saddr, daddr, zero byte, protocol, 16-bit
L4 length; IPv6: saddr, daddr, 32-bit L4 length, three zero bytes, next
header) and the L4 header and payload, with the checksum field counted as 0.
With CHECKSUM_PARTIAL the stack does the pseudo-header part itself and
leaves it in the checksum field; whoever finishes the job (the NIC, or
``skb_checksum_help``) sums from ``csum_start`` to the end of the packet —
the field included — complements, and stores the result at ``csum_start +
csum_offset``. For that to be the right checksum the field must hold the
*uncomplemented* folded pseudo-header sum ``P``:

    ~(P + sum(L4 with field = 0)) == ~(sum(pseudo) + sum(L4 with field = 0))

Linux writes exactly that: ``th->check = ~tcp_v4_check(len, saddr, daddr, 0)``
in ``__tcp_v4_send_check`` where ``tcp_v4_check`` = ``csum_tcpudp_magic`` =
``csum_fold(csum_tcpudp_nofold(...))`` = ``~fold(sum)``, so the field gets
``~~fold(sum) = P``; likewise ``udp4_hwcsum``/``udp_send_skb``
(``~udp_v4_check``), ``__tcp_v6_send_check`` (``~tcp_v6_check``) and
``udp6_hwcsum_outgoing`` (``~csum_ipv6_magic``). ``len`` is the L4 length
(``skb->len`` once the transport header is pushed: L4 header + payload).
``P`` is never 0 for nonzero input (end-around carry), so it needs no
CSUM_MANGLED_0 treatment.

For GSO the stack seeds the same way, with the length of the *whole*
super-packet's L4 part (``__tcp_transmit_skb`` calls the same send_check on
the GSO skb; ``udp_send_skb`` seeds with the full UDP length). igb's
``igb_tso`` then removes that length from the seed (``csum_replace_by_diff``
with ``htonl(paylen)``) because the NIC adds each segment's own L4 length.
The seed here is therefore *with* the length in both cases.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from stack.core.checksum import csum_partial
from stack.core.skbuff import (ETH_HLEN, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, SKB_GSO_TCPV4, SKB_GSO_TCPV6,
                               SKB_GSO_UDP_L4, SkBuff, __vlan_hwaccel_put_tag, skb_from_bytes,
                               skb_partial_csum_set, skb_reset_mac_header, skb_set_network_header,
                               skb_set_transport_header, skb_shinfo)
from stack.ipv4.ip import IPPROTO_TCP, IPPROTO_UDP

__all__ = ["Headers", "parse_headers", "pseudo_header_sum", "make_skb", "numbered_frame", "frame_seq",
           "TCP_CSUM_OFFSET", "UDP_CSUM_OFFSET", "ETH_P_TEST"]

#: offsetof(struct tcphdr, check) / offsetof(struct udphdr, check)
TCP_CSUM_OFFSET = 16
UDP_CSUM_OFFSET = 6
#: The local experimental EtherType (IEEE 802): test frames that no protocol layer takes.
ETH_P_TEST = 0x88B5
_TEST_HEADER = bytes.fromhex("020000000002020000000001") + struct.pack("!H", ETH_P_TEST)
_IPV6_SKIPPABLE = (0, 60)   # hop-by-hop options, destination options: (hdrlen + 1) * 8 bytes


@dataclass(frozen=True)
class Headers:
    """Where a frame's headers are (offsets from the frame's first byte).

    ``protocol`` is the EtherType (``skb->protocol``); ``l3``/``l4`` the
    network/transport header offsets (``l4`` is None when there is no IP
    header to find it behind); ``ip_version`` 4, 6 or None; ``l4_proto``
    the IP protocol / final next header; ``l4_hdr_len`` the TCP/UDP header
    length (None for other protocols); ``saddr``/``daddr`` the raw address
    bytes.
    """

    protocol: int
    l3: int
    l4: int | None = None
    ip_version: int | None = None
    l4_proto: int | None = None
    l4_hdr_len: int | None = None
    saddr: bytes = b""
    daddr: bytes = b""
    #: bytes from the transport header to the end of the frame (the pseudo-header's length)
    l4_len: int | None = None

    @property
    def hdr_len(self) -> int | None:
        """Bytes up to the end of the TCP/UDP header (what TSO repeats in every segment)."""
        return None if self.l4_hdr_len is None else self.l4 + self.l4_hdr_len


def parse_headers(frame: bytes) -> Headers:
    """Parse Ethernet (+ in-band 802.1Q), IPv4/IPv6, TCP/UDP headers of ``frame``.

    A frame too short for an Ethernet header gets protocol 0 and its network
    header at its end; a non-IP EtherType stops after the MAC header. An IP
    header whose length field disagrees with the bytes present raises
    ValueError: the stack never hands a driver trailing padding.
    """
    n = len(frame)
    if n < ETH_HLEN:
        return Headers(protocol=0, l3=n)
    (proto,) = struct.unpack_from("!H", frame, 12)
    l3 = ETH_HLEN
    inner = proto
    if proto == ETH_P_8021Q and n >= ETH_HLEN + 4:
        (inner,) = struct.unpack_from("!H", frame, 16)
        l3 += 4
    if inner == ETH_P_IP and n >= l3 + 20:
        vihl, _tos, tot_len = struct.unpack_from("!BBH", frame, l3)
        if vihl >> 4 != 4 or (vihl & 0xF) < 5:
            raise ValueError(f"EtherType IPv4 but version/IHL byte {vihl:#04x}")
        ihl = (vihl & 0xF) * 4
        if l3 + tot_len != n:
            raise ValueError(f"IPv4 total length {tot_len} but {n - l3} bytes after the MAC header")
        l4 = l3 + ihl
        l4_proto = frame[l3 + 9]
        saddr, daddr = bytes(frame[l3 + 12:l3 + 16]), bytes(frame[l3 + 16:l3 + 20])
        version = 4
    elif inner == ETH_P_IPV6 and n >= l3 + 40:
        if frame[l3] >> 4 != 6:
            raise ValueError(f"EtherType IPv6 but version {frame[l3] >> 4}")
        (payload_len,) = struct.unpack_from("!H", frame, l3 + 4)
        if l3 + 40 + payload_len != n:
            raise ValueError(f"IPv6 payload length {payload_len} but {n - l3 - 40} bytes after the header")
        l4_proto = frame[l3 + 6]
        l4 = l3 + 40
        while l4_proto in _IPV6_SKIPPABLE:
            l4_proto, ext_len = frame[l4], (frame[l4 + 1] + 1) * 8
            l4 += ext_len
        saddr, daddr = bytes(frame[l3 + 8:l3 + 24]), bytes(frame[l3 + 24:l3 + 40])
        version = 6
    else:
        return Headers(protocol=proto, l3=min(l3, n))
    l4_hdr_len = None
    if l4_proto == IPPROTO_TCP and n >= l4 + 20:
        l4_hdr_len = (frame[l4 + 12] >> 4) * 4
    elif l4_proto == IPPROTO_UDP and n >= l4 + 8:
        l4_hdr_len = 8
    return Headers(protocol=proto, l3=l3, l4=l4, ip_version=version, l4_proto=l4_proto,
                   l4_hdr_len=l4_hdr_len, saddr=saddr, daddr=daddr, l4_len=n - l4)


def pseudo_header_sum(h: Headers, l4_len: int) -> int:
    """``P``: the folded, uncomplemented one's-complement sum of the pseudo-header (module docstring)."""
    if h.ip_version == 4:
        pseudo = h.saddr + h.daddr + struct.pack("!BBH", 0, h.l4_proto, l4_len)
    elif h.ip_version == 6:
        pseudo = h.saddr + h.daddr + struct.pack("!I3xB", l4_len, h.l4_proto)
    else:
        raise ValueError("no IP header: no pseudo-header")
    return csum_partial(pseudo)


def make_skb(net, frame: bytes, *, nr_frags: int = 0, frag_sizes: list[int] | None = None,
             headlen: int | None = None, csum: bool = False, gso_size: int = 0, gso_type: int | None = None,
             vlan_tci: int | None = None, queue: int = 0) -> SkBuff:
    """An skb holding ``frame`` the way the stack would hand it to ``ndo_start_xmit``.

    ``net`` is the :class:`~stack.core.netcore.NetCore` (its ``net.skb`` memory is
    used; the bytes are written by its context's current CPU). Layout:
    ``headlen`` linear bytes and ``nr_frags`` page frags, or explicit
    ``frag_sizes``, as :func:`~stack.core.skbuff.skb_from_bytes`; when neither
    ``headlen`` nor ``frag_sizes`` is given and an offload needs the headers
    (checksum, GSO), the linear part is at least the headers through the
    L4 header, as Linux guarantees (``skb_partial_csum_set`` requires it).

    ``csum``: CHECKSUM_PARTIAL with the seed; ``gso_size`` > 0: GSO (implies
    ``csum``) with ``gso_segs = ceil(L4 payload / gso_size)`` and
    ``gso_type`` (default from the headers: SKB_GSO_TCPV4, SKB_GSO_TCPV6 or
    SKB_GSO_UDP_L4); ``vlan_tci``: ask the NIC to insert this tag;
    ``queue``: ``queue_mapping``.

    Raises ValueError for an offload the frame cannot carry (no TCP/UDP
    header) and MemoryError if host memory runs out.
    """
    frame = bytes(frame)
    h = parse_headers(frame)
    if gso_size:
        csum = True
    if csum and h.l4_hdr_len is None:
        raise ValueError("checksum offload / GSO needs a TCP or UDP header")
    if csum and frag_sizes is None and headlen is None and nr_frags:
        even = len(frame) // (nr_frags + 1)
        headlen = max(even, h.hdr_len)
        if len(frame) - headlen < nr_frags:
            raise ValueError(f"{len(frame)} bytes: {h.hdr_len} of headers linear leave too few for {nr_frags} frags")
    if csum:
        off = TCP_CSUM_OFFSET if h.l4_proto == IPPROTO_TCP else UDP_CSUM_OFFSET
        linear = (len(frame) - sum(frag_sizes) if frag_sizes is not None else
                  headlen if headlen is not None else len(frame) // (nr_frags + 1))
        if linear < h.hdr_len:
            raise ValueError(f"offloads need the headers ({h.hdr_len} bytes) linear, "
                             f"but only {linear} bytes are")
        # the seed goes into the bytes before they are copied to host memory: a CPU store like any other
        buf = bytearray(frame)
        seed = pseudo_header_sum(h, h.l4_len)
        struct.pack_into("!H", buf, h.l4 + off, seed)
        frame = bytes(buf)
    skb = skb_from_bytes(net.skb, frame, nr_frags, headlen=headlen, frag_sizes=frag_sizes)
    if skb is None:
        raise MemoryError(f"make_skb: no host memory for {len(frame)} bytes")
    skb.protocol = h.protocol
    skb_reset_mac_header(skb)
    skb_set_network_header(skb, h.l3)
    skb_set_transport_header(skb, h.l4 if h.l4 is not None else h.l3)
    if csum:
        ok = skb_partial_csum_set(skb, h.l4, off)
        assert ok, "checked before allocating"
    if gso_size:
        payload = h.l4_len - h.l4_hdr_len
        if gso_type is None:
            if h.l4_proto == IPPROTO_UDP:
                gso_type = SKB_GSO_UDP_L4
            else:
                gso_type = SKB_GSO_TCPV4 if h.ip_version == 4 else SKB_GSO_TCPV6
        sh = skb_shinfo(skb)
        sh.gso_size = gso_size
        sh.gso_segs = max(1, -(-payload // gso_size))
        sh.gso_type = gso_type
    if vlan_tci is not None:
        __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, vlan_tci)
    skb.queue_mapping = queue
    return skb



def numbered_frame(n: int, size: int) -> bytes:
    """A ``size``-byte test frame (02:..:01 to 02:..:02, :data:`ETH_P_TEST`) carrying the number ``n``."""
    head = _TEST_HEADER + struct.pack("!I", n)
    return head + bytes(size - len(head))


def frame_seq(frame: bytes) -> int:
    """The number a :func:`numbered_frame` carries."""
    return struct.unpack_from("!I", frame, ETH_HLEN)[0]
