"""IPv4 input (``net/ipv4/ip_input.c``, ``ip_fragment.c``, a minimal ``icmp.c``).

``ip_rcv(skb, dev)`` is ``net.ptype[ETH_P_IP]``: ``netif_receive_skb``
calls it with ``skb.data`` at the IP header (NET_RX softirq). In order:

* ``IpInReceives``/``IpExtInOctets``; header checks — at least 20 bytes,
  version 4, IHL >= 5, the header checksum (bad: ``IpExtInCsumErrors`` and
  ``IpInHdrErrors``), ``tot_len`` not beyond the data (``IpExtInTruncatedPkts``)
  nor below the header; trailing bytes (Ethernet padding) trimmed;
* PRE_ROUTING hooks -> ``ip_rcv_finish``: is it for us (one of our
  addresses or a broadcast)? A host does not forward: anything else is an
  ``IpInAddrErrors`` drop;
* ``ip_local_deliver``: a fragment goes to ``ip_defrag`` (queues keyed by
  saddr, daddr, id, protocol; ``ipfrag_time`` 30 s timer: ``IpReasmTimeout``;
  overlaps drop the queue: ``IpExtReasmOverlaps``; ``IpReasmReqds``,
  ``IpReasmOKs``, ``IpReasmFails``); then LOCAL_IN hooks;
* ``ip_local_deliver_finish``: ``skb.data`` moved to the L4 header, then
  ``net.inet_protos[protocol](skb)`` (``IpInDelivers``), or
  ``IpInUnknownProtos`` and a drop.

Reassembly in the model copies the fragments' payloads into one new linear
skb (counted in ``net.ipv4.stats["defrag_copy_bytes"]``); Linux chains the
fragment skbs into a ``frag_list`` without copying. The fragment skbs
are freed as they are queued.

``icmp_rcv`` (``net.inet_protos[IPPROTO_ICMP]``) checks and counts
(``IcmpInMsgs``, per type), and hands DEST_UNREACH / TIME_EXCEEDED errors
to ``net.ipv4.err_handlers[quoted protocol](net, info)``; it sends nothing
(no echo replies).
"""
from __future__ import annotations

import struct

from stack.core.checksum import csum_fold, csum_partial, ip_fast_csum
from stack.core.cputime import charge, charge_bytes
from stack.core.netdevice import NET_RX_DROP, NET_RX_SUCCESS
from stack.core.skbuff import (CHECKSUM_NONE, CHECKSUM_UNNECESSARY, ETH_P_IP, NET_SKB_PAD, alloc_skb, consume_skb,
                               kfree_skb, skb_copy_bits, skb_put, skb_reset_network_header)
from stack.netfilter import NF_HOOK, NF_INET_LOCAL_IN, NF_INET_PRE_ROUTING
from .icmp import ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY, ICMP_TIME_EXCEEDED
from .ip import IP_MF, IP_OFFSET, IPCB, inet_skb_parm, ip_hdr_read
from .route import ip_route_input

__all__ = [
    "ip_rcv", "ip_rcv_finish", "ip_local_deliver",
    "ip_local_deliver_finish", "ip_defrag", "ipq", "ip_expire", "icmp_rcv", "pskb_trim",
]


def pskb_trim(skb, length: int) -> None:
    """Cut ``skb`` to ``length`` bytes (linear part and frags; pages of dropped frags released)."""
    if length >= skb.len:
        return
    mem = skb.mem
    headlen = skb.len - skb.data_len
    frags = skb.shinfo.frags
    if length <= headlen:
        for frag in frags:
            if type(frag.page) is int:
                mem.put_page(frag.page)
        frags.clear()
        skb.data_len = 0
        skb.len = length
        skb.tail = skb.data - skb.head + length
        return
    pos = headlen
    keep = 0
    for i, frag in enumerate(frags):
        end = pos + frag.size
        if end >= length:
            frag.size = length - pos
            keep = i + 1
            break
        pos = end
    for frag in frags[keep:]:
        if type(frag.page) is int:
            mem.put_page(frag.page)
    del frags[keep:]
    skb.data_len = length - headlen
    skb.len = length


# --- ip_rcv ------------------------------------------------------------------------------------------
def ip_rcv(skb, dev) -> int:
    """The ETH_P_IP handler: header checks, PRE_ROUTING, ``ip_rcv_finish`` (module docstring)."""
    net = dev.net
    charge(net, "ip_rcv")
    net.count("ip_rx", 1, skb.len)
    mib = net.mib
    mib["IpInReceives"] += 1
    mib["IpExtInOctets"] += skb.len
    headlen = skb.len - skb.data_len
    if headlen < 20:
        return _inhdr_error(net, skb)
    mem = skb.mem
    first = mem.read(skb.data, 20)
    ihl = (first[0] & 0xF) * 4
    if first[0] >> 4 != 4 or ihl < 20 or headlen < ihl:
        return _inhdr_error(net, skb)
    hdr = first if ihl == 20 else first + mem.read(skb.data + 20, ihl - 20)
    if ip_fast_csum(hdr):
        mib["IpExtInCsumErrors"] += 1
        return _inhdr_error(net, skb)
    tot_len = (hdr[2] << 8) | hdr[3]
    if skb.len < tot_len:
        mib["IpExtInTruncatedPkts"] += 1
        kfree_skb(skb)
        return NET_RX_DROP
    if tot_len < ihl:
        return _inhdr_error(net, skb)
    pskb_trim(skb, tot_len)
    skb_reset_network_header(skb)
    skb.transport_header = skb.network_header + ihl
    skb.protocol = ETH_P_IP
    skb.dev = dev
    cb = inet_skb_parm()
    cb.iif = dev
    skb.cb = cb
    ret = NF_HOOK(net, NF_INET_PRE_ROUTING, None, skb, ip_rcv_finish)
    return NET_RX_DROP if ret is not None and ret < 0 else NET_RX_SUCCESS


def _inhdr_error(net, skb) -> int:
    net.mib["IpInHdrErrors"] += 1
    kfree_skb(skb)
    return NET_RX_DROP


def ip_rcv_finish(net, sk, skb) -> int:
    """``ip_rcv_finish``: input route — deliver locally or drop (a host does not forward)."""
    iph = ip_hdr_read(skb)
    rt_type = ip_route_input(net, iph.daddr, iph.saddr, skb.dev)
    if rt_type < 0:
        net.mib["IpInAddrErrors"] += 1
        kfree_skb(skb)
        return -1
    return ip_local_deliver(skb)


def ip_local_deliver(skb) -> int:
    """``ip_local_deliver``: reassemble fragments, LOCAL_IN hooks, then the protocol."""
    net = skb.mem.net
    iph = ip_hdr_read(skb)
    if iph.frag_off & (IP_MF | IP_OFFSET):
        skb = ip_defrag(net, skb, iph)
        if skb is None:
            return 0
    return NF_HOOK(net, NF_INET_LOCAL_IN, None, skb, ip_local_deliver_finish)


def ip_local_deliver_finish(net, sk, skb) -> int:
    """``skb.data`` to the L4 header; ``net.inet_protos[protocol](skb)`` (``IpInDelivers``)."""
    charge(net, "ip_local_deliver")
    pull = skb.transport_header - (skb.data - skb.head)
    skb.data += pull
    skb.len -= pull
    protocol = skb.mem.read(skb.head + skb.network_header + 9, 1)[0]
    handler = net.inet_protos.get(protocol)
    if handler is None:
        net.mib["IpInUnknownProtos"] += 1
        kfree_skb(skb)
        return 0
    ret = handler(skb)
    net.mib["IpInDelivers"] += 1
    return ret if ret is not None else 0


# --- reassembly --------------------------------------------------------------------------------------
class ipq:
    """One datagram being reassembled (``struct ipq``)."""

    __slots__ = ("key", "frags", "len", "meat", "first", "last", "first_hdr", "truesize", "max_size",
                 "timer", "dev")

    def __init__(self, key, timer):
        self.key = key
        #: offset -> payload bytes
        self.frags: dict[int, bytes] = {}
        self.len = 0
        self.meat = 0
        self.first = False
        self.last = False
        self.first_hdr = b""
        self.truesize = 0
        self.max_size = 0
        self.timer = timer
        self.dev = None


def _ipq_kill(net, q: ipq) -> None:
    net.timers.del_timer(q.timer)
    net.ipv4.frags.pop(q.key, None)
    net.ipv4.frag_mem -= q.truesize


def ip_expire(net, q: ipq) -> None:
    """``ip_expire`` (TIMER softirq): the datagram did not complete in ``ipfrag_time``."""
    if q.key not in net.ipv4.frags:
        return
    _ipq_kill(net, q)
    mib = net.mib
    mib["IpReasmFails"] += 1
    mib["IpReasmTimeout"] += 1
    if q.first:
        # icmp_send(ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME) to the (remote) sender: counted, not sent
        mib["IcmpOutMsgs"] += 1
        mib["IcmpOutTimeExcds"] += 1


def ip_defrag(net, skb, iph):
    """``ip_defrag``: queue a fragment; the reassembled skb when complete, else None (the fragment is consumed)."""
    charge(net, "ip_defrag")
    ipv4 = net.ipv4
    mib = net.mib
    mib["IpReasmReqds"] += 1
    key = (iph.saddr, iph.daddr, iph.id, iph.protocol)
    q = ipv4.frags.get(key)
    if q is None:
        if ipv4.frag_mem + skb.truesize > ipv4.ipfrag_high_thresh:
            mib["IpReasmFails"] += 1
            kfree_skb(skb)
            return None
        holder = []
        timer = net.timers.timer_setup(lambda t: ip_expire(net, holder[0]))
        q = ipq(key, timer)
        holder.append(q)
        ipv4.frags[key] = q
        net.timers.mod_timer(timer, net.jiffies + ipv4.ipfrag_time)
    hlen = iph.ihl * 4
    offset = (iph.frag_off & IP_OFFSET) << 3
    plen = iph.tot_len - hlen
    end = offset + plen
    if not iph.frag_off & IP_MF:
        if end < q.len or (q.last and end != q.len):
            return _discard(net, q, skb, overlap=False)
        q.last = True
        q.len = end
    else:
        end &= ~7
        if end > q.len:
            if q.last:
                return _discard(net, q, skb, overlap=False)
            q.len = end
    if end == offset:
        kfree_skb(skb)
        return None
    for o, data in q.frags.items():
        if o == offset and len(data) == end - offset:
            kfree_skb(skb)  # duplicate
            return None
        if o < end and offset < o + len(data):
            return _discard(net, q, skb, overlap=True)
    q.frags[offset] = skb_copy_bits(skb, skb.transport_header - (skb.data - skb.head), end - offset)
    q.meat += end - offset
    q.truesize += skb.truesize
    ipv4.frag_mem += skb.truesize
    q.max_size = max(q.max_size, skb.len)
    q.dev = skb.dev
    if offset == 0:
        q.first = True
        q.first_hdr = iph.raw
    consume_skb(skb)
    if q.first and q.last and q.meat == q.len:
        return _reasm(net, q)
    return None


def _discard(net, q: ipq, skb, overlap: bool):
    if overlap:
        net.mib["IpExtReasmOverlaps"] += 1
    _ipq_kill(net, q)
    net.mib["IpReasmFails"] += 1
    kfree_skb(skb)
    return None


def _reasm(net, q: ipq):
    """``ip_frag_reasm``: one skb with the first fragment's header (frag_off 0, new tot_len, checksum)."""
    _ipq_kill(net, q)
    payload = b"".join(q.frags[o] for o in sorted(q.frags))
    hdr = bytearray(q.first_hdr)
    hlen = len(hdr)
    total = hlen + len(payload)
    struct.pack_into("!H", hdr, 2, total)
    struct.pack_into("!H", hdr, 6, 0)
    struct.pack_into("!H", hdr, 10, 0)
    struct.pack_into("!H", hdr, 10, ip_fast_csum(hdr))
    skb = alloc_skb(net.skb, total, NET_SKB_PAD)
    if skb is None:
        net.mib["IpReasmFails"] += 1
        return None
    charge(net, "skb_alloc")
    skb_reset_network_header(skb)
    skb_put(skb, total)
    skb.mem.write(skb.data, bytes(hdr) + payload)
    net.ipv4.stats["defrag_copy_bytes"] += len(payload)
    charge_bytes(net, "ip_fragment_copy", len(payload))
    skb.transport_header = skb.network_header + hlen
    skb.protocol = ETH_P_IP
    skb.dev = q.dev
    skb.ip_summed = CHECKSUM_NONE  # the L4 checksum is still to be verified
    cb = IPCB(skb)
    cb.frag_max_size = q.max_size
    cb.iif = q.dev
    net.mib["IpReasmOKs"] += 1
    return skb


# --- ICMP (minimal) -------------------------------------------------------------------------------------
def icmp_rcv(skb) -> int:
    """``icmp_rcv``: checksum, counters, and errors about our packets to the protocol's err handler."""
    net = skb.mem.net
    charge(net, "icmp_rcv")
    mib = net.mib
    mib["IcmpInMsgs"] += 1
    if skb.len < 8:
        mib["IcmpInErrors"] += 1
        kfree_skb(skb)
        return 0
    data = skb_copy_bits(skb, 0, skb.len)
    if skb.ip_summed != CHECKSUM_UNNECESSARY and csum_fold(csum_partial(data)):
        mib["IcmpInCsumErrors"] += 1
        mib["IcmpInErrors"] += 1
        kfree_skb(skb)
        return 0
    type_, code = data[0], data[1]
    if type_ == ICMP_DEST_UNREACH:
        mib["IcmpInDestUnreachs"] += 1
    elif type_ == ICMP_TIME_EXCEEDED:
        mib["IcmpInTimeExcds"] += 1
    elif type_ == ICMP_ECHO:
        mib["IcmpInEchos"] += 1
    elif type_ == ICMP_ECHOREPLY:
        mib["IcmpInEchoReps"] += 1
    if type_ in (ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED) and len(data) >= 8 + 20 + 8:
        inner = data[8:]
        ihl = (inner[0] & 0xF) * 4
        if len(inner) >= ihl + 8:
            protocol = inner[9]
            handler = net.ipv4.err_handlers.get(protocol)
            if handler is not None:
                saddr, daddr = struct.unpack_from("!II", inner, 12)
                sport, dport = struct.unpack_from("!HH", inner, ihl)
                info = {"type": type_, "code": code, "info": struct.unpack_from("!H", data, 6)[0],
                        "protocol": protocol, "saddr": saddr, "daddr": daddr, "sport": sport,
                        "dport": dport}
                handler(net, info)
    consume_skb(skb)
    return 0
