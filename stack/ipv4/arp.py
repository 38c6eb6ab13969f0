"""ARP (``net/ipv4/arp.c``): the IPv4 neighbour table's protocol part (stack_facts §6).

* :func:`arp_init` makes ``net.ipv4.arp_tbl`` (a :class:`~stack.neighbour.neigh_table`
  with ``arp_tbl``'s defaults for ``net.kernel_version``) and registers
  ``net.ptype[ETH_P_ARP] = arp_rcv``.
* :func:`arp_constructor` sets a new entry up: broadcast and multicast
  next hops are NOARP (their address is known), others resolve with
  ``arp_hh_ops`` (output ``neigh_resolve_output``).
* :func:`arp_solicit` builds a real ARP request (:func:`arp_create`: an
  Ethernet frame, broadcast unless a unicast probe slot is left) and sends
  it with ``dev_queue_xmit`` — the same qdisc path as data.
* :func:`arp_rcv` (``skb.data`` at the ARP header, NET_RX softirq) ->
  :func:`arp_process`: a request for one of our addresses is answered (and
  the asker's entry made STALE with its address); a reply for an entry we
  have updates it (REACHABLE for a unicast reply, STALE otherwise), which
  drains its queue right here, in NET_RX context.
* :func:`arp_error_report`: a queued skb of a neighbour that FAILED gets an
  ICMP host-unreachable (to its socket, see ``stack.ipv4.icmp.icmp_send``) and
  is freed.

Not modelled: proxy ARP, arp_filter/arp_ignore/arp_announce other than 0,
gratuitous-ARP acceptance (``arp_accept``), the NF_ARP hooks.
"""
from __future__ import annotations

import struct

from stack.core import errno
from stack.core.cputime import charge
from stack.core.dev import dev_queue_xmit
from stack.core.skbuff import ETH_P_ARP, alloc_skb, consume_skb, kfree_skb, skb_put, skb_reset_network_header
from stack.neighbour import (NEIGH_UPDATE_F_OVERRIDE, NUD_NOARP, NUD_REACHABLE, NUD_STALE, NUD_VALID,
                             __neigh_lookup, dev_hard_header, neigh_event_ns, neigh_ops, neigh_parms,
                             neigh_resolve_output, neigh_table, neigh_update)
from .icmp import ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, icmp_send
from .inetdevice import in_dev_get
from .ip import LL_RESERVED_SPACE, ip_hdr_read
from .route import RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST, inet_addr_type, inet_select_addr

__all__ = [
    "ARPHRD_ETHER", "ARPOP_REQUEST", "ARPOP_REPLY", "ETH_BROADCAST", "arp_hh_ops", "arp_init",
    "arp_constructor", "arp_solicit", "arp_create", "arp_xmit", "arp_send", "arp_rcv", "arp_process",
    "arp_error_report", "arp_hdr_len",
]

ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
ETH_BROADCAST = b"\xff" * 6
_ARP_FMT = "!HHBBH6sI6sI"


def arp_hdr_len(dev) -> int:
    """``arp_hdr_len``: 8 + 2 * (6 + 4) = 28 bytes for Ethernet/IPv4."""
    return 8 + 2 * (6 + 4)


def arp_error_report(n, skb) -> None:
    """``arp_error_report``: ``dst_link_failure`` (ICMP host unreachable to the sender), then free."""
    icmp_send(skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0)
    kfree_skb(skb)


def arp_init(net) -> neigh_table:
    """Create ``net.ipv4.arp_tbl`` and register ``arp_rcv`` for ETH_P_ARP."""
    tbl = neigh_table(net, "arp_cache", arp_constructor, neigh_parms(net, net.kernel_version))
    net.ipv4.arp_tbl = tbl
    net.ptype[ETH_P_ARP] = arp_rcv
    return tbl


def arp_constructor(n) -> int:
    """``arp_constructor``: type, parameters, ops, and the NOARP cases (0 or -EINVAL)."""
    dev = n.dev
    in_dev = in_dev_get(dev)
    if in_dev is None:
        return -errno.EINVAL
    n.type = inet_addr_type(n.net, n.primary_key)
    n.parms = in_dev.arp_parms
    n.ops = arp_hh_ops
    if n.type == RTN_MULTICAST:
        key = n.primary_key
        n.nud_state = NUD_NOARP
        n.ha = bytes((0x01, 0x00, 0x5E, (key >> 16) & 0x7F, (key >> 8) & 0xFF, key & 0xFF))
    elif n.type == RTN_BROADCAST:
        n.nud_state = NUD_NOARP
        n.ha = dev.broadcast
    n.output = n.ops.connected_output if n.nud_state & NUD_VALID else n.ops.output
    return 0


def arp_solicit(n, skb) -> None:
    """``arp_solicit``: send a request for ``n``'s address (source: the queued skb's, if local)."""
    net = n.net
    dev = n.dev
    target = n.primary_key
    saddr = 0
    if skb is not None and skb.network_header != 0xFFFF:
        src = ip_hdr_read(skb).saddr
        if inet_addr_type(net, src) == RTN_LOCAL:
            saddr = src
    if not saddr:
        saddr = inet_select_addr(dev, target)
    p = n.parms
    probes = n.probes - p.ucast_probes
    dst_hw = None
    if probes < 0:
        dst_hw = n.ha  # a unicast probe to the address we had (PROBE state)
    else:
        probes -= p.app_probes
        if probes < 0:
            return  # neigh_app_ns: no user-space resolver in the model
    tbl = n.tbl
    tbl.stats["probes_ucast" if dst_hw is not None else "probes_bcast"] += 1
    arp_send(net, ARPOP_REQUEST, ETH_P_ARP, target, dev, saddr, dst_hw, dev.dev_addr, None)


def arp_create(net, type_: int, ptype: int, dest_ip: int, dev, src_ip: int, dest_hw: bytes | None,
               src_hw: bytes | None, target_hw: bytes | None):
    """``arp_create``: an skb holding the Ethernet + ARP frame (None if no memory)."""
    hlen = LL_RESERVED_SPACE(dev)
    skb = alloc_skb(net.skb, arp_hdr_len(dev), hlen)
    if skb is None:
        return None
    charge(net, "skb_alloc")
    skb_reset_network_header(skb)
    addr = skb_put(skb, arp_hdr_len(dev))
    skb.dev = dev
    skb.protocol = ETH_P_ARP
    if src_hw is None:
        src_hw = dev.dev_addr
    if dest_hw is None:
        dest_hw = dev.broadcast
    th = target_hw if target_hw is not None else bytes(6)
    skb.mem.write(addr, struct.pack(_ARP_FMT, ARPHRD_ETHER, 0x0800, 6, 4, type_, src_hw, src_ip, th, dest_ip))
    dev_hard_header(skb, dev, ptype, dest_hw, src_hw)
    return skb


def arp_xmit(net, skb) -> int:
    """``arp_xmit``: to the device layer (no NF_ARP_OUT hooks in the model)."""
    return dev_queue_xmit(skb)


def arp_send(net, type_: int, ptype: int, dest_ip: int, dev, src_ip: int, dest_hw: bytes | None,
             src_hw: bytes | None, target_hw: bytes | None) -> None:
    """``arp_send``: create and transmit an ARP packet (counted in the table's statistics)."""
    charge(net, "arp_send")
    skb = arp_create(net, type_, ptype, dest_ip, dev, src_ip, dest_hw, src_hw, target_hw)
    if skb is None:
        return
    net.ipv4.arp_tbl.stats["arp_req_sent" if type_ == ARPOP_REQUEST else "arp_rep_sent"] += 1
    net.count("arp", 1, skb.len)
    arp_xmit(net, skb)


def _pkt_type(skb, dev) -> str:
    """``skb->pkt_type`` from the Ethernet destination (host when the MAC header is unknown)."""
    if skb.mac_header == 0xFFFF:
        return "host"
    dst = skb.mem.read(skb.head + skb.mac_header, 6)
    if dst == dev.dev_addr:
        return "host"
    if dst[0] & 1:
        return "broadcast" if dst == ETH_BROADCAST else "multicast"
    return "otherhost"


def arp_rcv(skb, dev) -> int:
    """The ETH_P_ARP handler (``skb.data`` at the ARP header): sanity checks, then :func:`arp_process`."""
    net = dev.net
    n = arp_hdr_len(dev)
    if skb.len - skb.data_len < n or _pkt_type(skb, dev) == "otherhost":
        kfree_skb(skb)
        return 1
    hdr = skb.mem.read(skb.data, n)
    hrd, pro, hln, pln = struct.unpack_from("!HHBB", hdr)
    if hrd != ARPHRD_ETHER or pro != 0x0800 or hln != 6 or pln != 4:
        kfree_skb(skb)
        return 1
    return arp_process(net, skb, dev, hdr)


def arp_process(net, skb, dev, hdr: bytes) -> int:
    """``arp_process``: answer requests for our addresses, learn from replies (module docstring)."""
    charge(net, "arp_process")
    net.count("arp", 1, skb.len)
    in_dev = in_dev_get(dev)
    tbl = net.ipv4.arp_tbl
    _hrd, _pro, _hln, _pln, op, sha, sip, _tha, tip = struct.unpack(_ARP_FMT, hdr)
    if in_dev is None or op not in (ARPOP_REQUEST, ARPOP_REPLY):
        kfree_skb(skb)
        return 1
    tbl.stats["arp_req_rcvd" if op == ARPOP_REQUEST else "arp_rep_rcvd"] += 1
    if tip >> 28 == 0xE or tip >> 24 == 127:
        kfree_skb(skb)
        return 1
    pkt_type = _pkt_type(skb, dev)
    if sip == 0:  # duplicate address detection probe
        if op == ARPOP_REQUEST and inet_addr_type(net, tip) == RTN_LOCAL:
            arp_send(net, ARPOP_REPLY, ETH_P_ARP, sip, dev, tip, sha, dev.dev_addr, sha)
        consume_skb(skb)
        return 0
    if op == ARPOP_REQUEST:
        tbl.stats["rcv_probes_mcast" if pkt_type != "host" else "rcv_probes_ucast"] += 1
        if inet_addr_type(net, tip) == RTN_LOCAL:  # arp_ignore 0: any local address, any device
            n = neigh_event_ns(tbl, sha, sip, dev)
            if n is not None:
                arp_send(net, ARPOP_REPLY, ETH_P_ARP, sip, dev, tip, sha, dev.dev_addr, sha)
            consume_skb(skb)
            return 0
    n = __neigh_lookup(tbl, sip, dev, False)
    if n is not None:
        override = net.jiffies > n.updated + n.parms.locktime
        state = NUD_REACHABLE if op == ARPOP_REPLY and pkt_type == "host" else NUD_STALE
        neigh_update(n, sha, state, NEIGH_UPDATE_F_OVERRIDE if override else 0)
    consume_skb(skb)
    return 0


arp_hh_ops = neigh_ops("ipv4", arp_solicit, arp_error_report, neigh_resolve_output, neigh_resolve_output)
