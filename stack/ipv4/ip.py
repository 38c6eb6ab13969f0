"""What every IPv4 module shares: protocol numbers, header bits, the parsed header, ``IPCB``.

``include/net/ip.h``, ``include/uapi/linux/ip.h`` and ``include/uapi/linux/in.h``.
"""
from __future__ import annotations

import struct

from stack.core.skbuff import SkBuff

__all__ = ["IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP", "IP_CE", "IP_DF", "IP_MF", "IP_OFFSET",
           "IP_PMTUDISC_DONT", "IP_PMTUDISC_WANT", "IP_PMTUDISC_DO", "IP_PMTUDISC_PROBE", "IP_MAX_MTU",
           "LL_RESERVED_SPACE", "iphdr_layout", "inet_skb_parm", "IPCB", "iphdr", "ip_hdr_read"]

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

# iph->frag_off bits
IP_CE = 0x8000
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFSET = 0x1FFF

IP_PMTUDISC_DONT = 0
IP_PMTUDISC_WANT = 1
IP_PMTUDISC_DO = 2
IP_PMTUDISC_PROBE = 3

IP_MAX_MTU = 0xFFF0

#: ``struct iphdr`` without options: version/ihl, tos, tot_len, id, frag_off, ttl, protocol, check, saddr, daddr.
iphdr_layout = struct.Struct("!BBHHHBBHII")


def LL_RESERVED_SPACE(dev) -> int:
    """Headroom the link layer needs, rounded as Linux does (16 for Ethernet): HH_DATA_MOD = 16."""
    return ((dev.hard_header_len + dev.needed_headroom) & ~15) + 16


class inet_skb_parm:
    """``IPCB(skb)``: what IP keeps per skb in ``skb->cb`` (and the skb bits the model keeps here).

    ``dst`` is the route (``skb_dst``), ``ignore_df`` the skb's ``ignore_df``
    bit (3.10 ``local_df``), ``dst_pending_confirm`` the skb bit TCP sets
    from ``sk_dst_pending_confirm``, ``flags`` the IPSKB_* flags,
    ``frag_max_size`` the largest fragment seen in reassembly.

    IP owns ``skb.cb`` from ``ip_queue_xmit`` on, as in Linux (TCP clears
    the cb for IP before the hand-off): the upper layer's cb object on that
    skb is replaced.
    """

    __slots__ = ("dst", "flags", "frag_max_size", "ignore_df", "dst_pending_confirm", "iif")

    def __init__(self, dst=None):
        self.dst = dst
        self.flags = 0
        self.frag_max_size = 0
        self.ignore_df = False
        self.dst_pending_confirm = False
        self.iif = None

    def copy(self) -> "inet_skb_parm":
        c = inet_skb_parm(self.dst)
        c.flags = self.flags
        c.frag_max_size = self.frag_max_size
        c.ignore_df = self.ignore_df
        c.dst_pending_confirm = self.dst_pending_confirm
        c.iif = self.iif
        return c


def IPCB(skb: SkBuff) -> inet_skb_parm:
    """``IPCB(skb)``; creates an empty one when the skb has none (or another layer's)."""
    cb = skb.cb
    if type(cb) is not inet_skb_parm:
        cb = skb.cb = inet_skb_parm()
    return cb


class iphdr:
    """A parsed IPv4 header (fields as in ``struct iphdr``; addresses as ints)."""

    __slots__ = ("version", "ihl", "tos", "tot_len", "id", "frag_off", "ttl", "protocol", "check",
                 "saddr", "daddr", "raw")

    def __init__(self, raw: bytes):
        vihl, self.tos, self.tot_len, self.id, self.frag_off, self.ttl, self.protocol, self.check, \
            self.saddr, self.daddr = iphdr_layout.unpack_from(raw)
        self.version = vihl >> 4
        self.ihl = vihl & 0xF
        self.raw = raw


def ip_hdr_read(skb: SkBuff) -> iphdr:
    """The IPv4 header at ``skb.network_header`` (options included in ``raw``)."""
    addr = skb.head + skb.network_header
    first = skb.mem.read(addr, 20)
    ihl = (first[0] & 0xF) * 4
    raw = first if ihl <= 20 else first + skb.mem.read(addr + 20, ihl - 20)
    return iphdr(raw)
