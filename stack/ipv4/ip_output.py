"""IPv4 output (``net/ipv4/ip_output.c``, stack_facts §5): ``ip_queue_xmit`` down to the neighbour.

The path, each step a function with its Linux name and its CPU charge::

    ip_queue_xmit(sk, skb)          route (socket cache or lookup), IP header, IP ID
      ip_local_out(net, sk, skb)    __ip_local_out: tot_len, header checksum, LOCAL_OUT hooks
        dst_output -> ip_output     skb->dev, POST_ROUTING hooks
          ip_finish_output          MTU: GSO check, or ip_fragment when len > mtu
            ip_finish_output2       headroom, next hop, neighbour lookup/creation, neigh_output

**The contract with TCP** (``ip_queue_xmit(sk, skb) -> int``):

* ``skb.data`` at the TCP header with the transport header set, at least
  ``20 + LL_RESERVED_SPACE(dev)`` (36) bytes of headroom (TCP reserves
  MAX_TCP_HEADER), the checksum fields as ``__tcp_v4_send_check`` leaves
  them (CHECKSUM_PARTIAL with the seed), GSO fields for a TSO skb
  (``gso_segs`` advances the socket's IP ID by that many), ``skb.sk`` and
  the destructor as TCP wants them.
* ``sk`` has the :class:`~stack.ipv4.inet_sock.inet_sock` fields: ``inet_daddr``,
  ``inet_saddr`` (0 = the route's source), ports, ``sk_protocol``,
  ``inet_id``, ``uc_ttl``, ``tos``, ``pmtudisc``, ``sk_priority``,
  ``sk_bound_dev_if``, ``sk_dst_cache``, ``sk_dst_pending_confirm``.
  The first transmit (or one after a route change) looks the route up and
  caches it with ``sk_setup_caps`` (``sk_route_caps``, ``sk_gso_max_size``,
  ``sk_gso_max_segs``); later ones do no lookup.
* IP owns the skb from here in every case (sent, queued on an unresolved
  neighbour, or freed) and owns ``skb.cb`` (:class:`~stack.ipv4.ip.inet_skb_parm`).
* Returns 0 (handed to the device, or queued waiting for ARP), a positive
  ``NET_XMIT_DROP``/``NET_XMIT_CN`` from the device layer (TCP applies
  ``net_xmit_eval``), or a negative errno: -EHOSTUNREACH (no route:
  ``IpOutNoRoutes``), -EPERM (a netfilter hook dropped it), -EMSGSIZE
  (DF set and larger than the MTU: ``IpFragFails`` and an ICMP
  FRAG_NEEDED to the socket's ``err_handler``/``sk_err``), -ENOMEM, -EINVAL
  (no neighbour entry could be made).

Fragmentation (``ip_fragment``/``ip_do_fragment``): a CHECKSUM_PARTIAL
skb first gets its checksum in software (``skb_checksum_help``); then the
slow path: every fragment is a new skb (``LL_RESERVED_SPACE`` headroom,
charged to the socket with ``skb_set_owner_w``) into which the IP header
and a payload slice are **copied** — counted in
``net.copy_bytes["ip_fragment"]`` and charged as ``ip_fragment_copy``
per byte. Slices are multiples of 8 bytes except the last, ``frag_off``
is the offset / 8 with MF on all but the last, each fragment gets its own
``tot_len`` and header checksum, and goes through ``ip_finish_output2``
alone; ``IpFragCreates`` per fragment, ``IpFragOKs`` per datagram. Linux's
fast path (an skb that already carries a ``frag_list`` of fragment-sized
skbs, as ``ip_append_data`` builds for UDP, sent without copying) is not
modelled: the model's skbs have no ``frag_list``.

MIB: recent kernels count ``IpOutRequests`` per datagram in
``__ip_local_out`` and ``IpOutTransmits``/``IpExtOutOctets`` per packet
leaving (``ip_finish_output2``, after fragmentation); 3.10 counts
``IpOutRequests``/``IpExtOutOctets`` in ``ip_output``, per datagram.
"""
from __future__ import annotations


from stack.core import errno
from stack.core.checksum import ip_fast_csum
from stack.core.cputime import charge, charge_bytes
from stack.core.dev import skb_checksum_help
from stack.core.netdevice import NET_XMIT_CN
from stack.core.sock import skb_set_owner_w
from stack.core.skbuff import (CHECKSUM_PARTIAL, ETH_P_IP, SKB_GSO_UDP_L4, alloc_skb, consume_skb, kfree_skb,
                               skb_copy_bits, skb_cow_head, skb_headroom, skb_is_gso, skb_push, skb_put,
                               skb_reset_network_header)
from stack.neighbour import __neigh_create, neigh_confirm, neigh_lookup_noref, neigh_output
from stack.netfilter import NF_HOOK_COND, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, nf_hook
from .icmp import ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, icmp_send
from .ip import (IP_DF, IP_MF, IP_OFFSET, IP_PMTUDISC_DO, IP_PMTUDISC_WANT, IPCB, IPPROTO_TCP, LL_RESERVED_SPACE,
                 inet_skb_parm, ip_hdr_read, iphdr_layout)
from .route import (IS_ERR, __sk_dst_check, dst_metric_locked_mtu, ip_route_output, ip_route_output_ports,
                    rt_nexthop, sk_setup_caps)
from .utils import inet_addr

__all__ = [
    "IPSKB_FORWARDED", "IPSKB_REROUTED", "IPSKB_FRAG_COMPLETE", "ip_queue_xmit", "ip_build_and_send_pkt",
    "ip_select_ttl", "ip_dont_fragment", "ip_select_ident_segs", "ip_select_ident", "ip_send_check",
    "__ip_local_out", "ip_local_out", "dst_output", "ip_output", "ip_finish_output", "ip_finish_output_gso",
    "skb_gso_validate_network_len", "ip_fragment", "ip_do_fragment", "ip_copy_metadata",
    "ip_finish_output2", "sock_confirm_neigh", "net_xmit_errno", "ip_send_skb",
]

IPSKB_FORWARDED = 1 << 0
IPSKB_REROUTED = 1 << 4
IPSKB_FRAG_COMPLETE = 1 << 3


# --- header fields -------------------------------------------------------------------------------
def ip_select_ttl(sk, rt) -> int:
    """``ip_select_ttl``: the socket's IP_TTL, else the route's hoplimit, else ``ip_default_ttl`` (64)."""
    ttl = sk.uc_ttl if sk is not None else -1
    if ttl < 0:
        ttl = rt.hoplimit or rt.net.ipv4.sysctl_ip_default_ttl
    return ttl


def ip_dont_fragment(sk, rt) -> bool:
    """``ip_dont_fragment``: PMTUDISC_DO, or WANT unless the route's MTU is locked."""
    if sk is None:
        return False
    pmtudisc = sk.pmtudisc
    return pmtudisc == IP_PMTUDISC_DO or (pmtudisc == IP_PMTUDISC_WANT and not dst_metric_locked_mtu(rt))


def __ip_select_ident(net, saddr: int, daddr: int, protocol: int, segs: int) -> int:
    """The generator for traffic without a connected socket: a counter per (saddr, daddr, protocol).

    Linux hashes the triple into ``ip_idents`` buckets with a random
    perturbation; the model starts each triple's counter at a seeded engine choice.
    """
    idents = net.ipv4.ip_idents
    key = (saddr, daddr, protocol)
    cur = idents.get(key)
    if cur is None:
        cur = net.engine.choose_index(1 << 16, "ip_idents")
    idents[key] = (cur + segs) & 0xFFFF
    return cur


def ip_select_ident_segs(net, sk, saddr: int, daddr: int, protocol: int, frag_off: int, segs: int,
                         ignore_df: bool = False) -> int:
    """The IP ID of a packet of ``segs`` segments.

    Recent (``ip_select_ident_segs``): a connected socket's ``inet_id``,
    advanced by ``segs``; DF without such a socket: 0; else the generator.
    3.10 (``ip_select_ident_more``): DF -> the socket's ``inet_id`` if
    connected (advanced by ``segs``), else 0; no DF -> the generator.
    """
    connected = sk is not None and sk.inet_daddr
    if net.kernel_version == "3.10":
        if frag_off & IP_DF:
            if connected:
                ident = sk.inet_id & 0xFFFF
                sk.inet_id = (sk.inet_id + segs) & 0xFFFF
                return ident
            return 0
        return __ip_select_ident(net, saddr, daddr, protocol, segs)
    if connected:
        ident = sk.inet_id & 0xFFFF
        sk.inet_id = (sk.inet_id + segs) & 0xFFFF
        return ident
    if frag_off & IP_DF and not ignore_df:
        return 0
    return __ip_select_ident(net, saddr, daddr, protocol, segs)


def ip_select_ident(net, sk, saddr: int, daddr: int, protocol: int, frag_off: int, ignore_df: bool = False) -> int:
    return ip_select_ident_segs(net, sk, saddr, daddr, protocol, frag_off, 1, ignore_df)


def ip_send_check(hdr: bytearray) -> None:
    """``ip_send_check``: (re)compute the header checksum of ``hdr`` in place."""
    hdr[10] = hdr[11] = 0
    check = ip_fast_csum(hdr)
    hdr[10] = check >> 8
    hdr[11] = check & 0xFF


def _push_iph(skb, tos: int, frag_off: int, ttl: int, protocol: int, ident: int, saddr: int, daddr: int) -> None:
    """Push a 20-byte header (tot_len and checksum left 0 for ``__ip_local_out``)."""
    skb_push(skb, 20)
    skb_reset_network_header(skb)
    skb.mem.write(skb.data, iphdr_layout.pack(0x45, tos & 0xFF, 0, ident, frag_off, ttl, protocol, 0, saddr, daddr))


# --- ip_queue_xmit --------------------------------------------------------------------------------
def ip_queue_xmit(sk, skb) -> int:
    """Route (cached in the socket) + IP header, then ``ip_local_out`` (see the module docstring)."""
    net = skb.mem.net
    charge(net, "ip_queue_xmit")
    ipv4 = net.ipv4
    rt = __sk_dst_check(sk)
    if rt is None:
        ipv4.stats["dst_cache_misses"] += 1
        rt = ip_route_output_ports(net, sk, sk.inet_daddr, sk.inet_saddr, sk.inet_dport, sk.inet_sport,
                                   sk.sk_protocol)
        if IS_ERR(rt):
            net.mib["IpOutNoRoutes"] += 1
            kfree_skb(skb)
            return -errno.EHOSTUNREACH
        sk_setup_caps(sk, rt)
    else:
        ipv4.stats["dst_cache_hits"] += 1
    cb = inet_skb_parm(rt)
    cb.dst_pending_confirm = bool(sk.sk_dst_pending_confirm)
    skb.cb = cb
    frag_off = IP_DF if ip_dont_fragment(sk, rt) and not cb.ignore_df else 0
    saddr = sk.inet_saddr or rt.saddr
    daddr = sk.inet_daddr
    segs = skb.shinfo.gso_segs or 1
    ident = ip_select_ident_segs(net, sk, saddr, daddr, sk.sk_protocol, frag_off, segs)
    _push_iph(skb, sk.tos, frag_off, ip_select_ttl(sk, rt), sk.sk_protocol, ident, saddr, daddr)
    skb.priority = sk.sk_priority
    return ip_local_out(net, sk, skb)


def ip_build_and_send_pkt(skb, sk, saddr, daddr, rt=None, protocol: int = IPPROTO_TCP, tos: int = 0) -> int:
    """``ip_build_and_send_pkt``: an IP header for a packet outside a connection (SYN-ACK, RST).

    ``skb.data`` at the L4 header; ``sk`` the listener (or None); ``rt``
    a route if the caller has one, else looked up here. Same returns as
    :func:`ip_queue_xmit`.
    """
    net = skb.mem.net
    charge(net, "ip_queue_xmit")
    saddr, daddr = inet_addr(saddr), inet_addr(daddr)
    if rt is None:
        rt = ip_route_output(net, daddr, saddr or None)
        if IS_ERR(rt):
            net.mib["IpOutNoRoutes"] += 1
            kfree_skb(skb)
            return -errno.EHOSTUNREACH
    skb.cb = inet_skb_parm(rt)
    frag_off = IP_DF if ip_dont_fragment(sk, rt) else 0
    src = saddr or rt.saddr
    ident = ip_select_ident(net, sk, src, daddr, protocol, frag_off)
    _push_iph(skb, tos, frag_off, ip_select_ttl(sk, rt), protocol, ident, src, daddr)
    if sk is not None:
        skb.priority = sk.sk_priority
    return ip_local_out(net, sk, skb)


# --- local out, output ----------------------------------------------------------------------------
def __ip_local_out(net, sk, skb) -> int:
    """``tot_len`` = ``skb.len``, header checksum in software, LOCAL_OUT hooks; 1 = go on to ``dst_output``."""
    charge(net, "ip_local_out")
    addr = skb.head + skb.network_header
    hdr = bytearray(skb.mem.read(addr, 20))
    ihl = (hdr[0] & 0xF) * 4
    if ihl > 20:
        hdr += skb.mem.read(addr + 20, ihl - 20)
    hdr[2] = (skb.len >> 8) & 0xFF
    hdr[3] = skb.len & 0xFF
    ip_send_check(hdr)
    skb.mem.write(addr, bytes(hdr[:20]) if ihl == 20 else bytes(hdr))
    skb.protocol = ETH_P_IP
    net.count("ip", 1, skb.len)
    if net.kernel_version != "3.10":
        net.mib["IpOutRequests"] += 1
    return nf_hook(net, NF_INET_LOCAL_OUT, skb)


def ip_local_out(net, sk, skb) -> int:
    """``ip_local_out``: ``__ip_local_out``, then ``dst_output`` if the hooks let it through."""
    err = __ip_local_out(net, sk, skb)
    if err == 1:
        err = dst_output(net, sk, skb)
    return err


def dst_output(net, sk, skb) -> int:
    """``dst_output``: the route's output function (``ip_output`` for unicast)."""
    return IPCB(skb).dst.output(net, sk, skb)


def ip_output(net, sk, skb) -> int:
    """``ip_output``: the device from the route, POST_ROUTING hooks, then ``ip_finish_output``."""
    charge(net, "ip_output")
    cb = IPCB(skb)
    dev = cb.dst.dev
    if net.kernel_version == "3.10":
        net.mib["IpOutRequests"] += 1
        net.mib["IpExtOutOctets"] += skb.len
    skb.dev = dev
    skb.protocol = ETH_P_IP
    return NF_HOOK_COND(net, NF_INET_POST_ROUTING, sk, skb, ip_finish_output, not cb.flags & IPSKB_REROUTED)


def ip_finish_output(net, sk, skb) -> int:
    """``ip_finish_output``: GSO skbs to ``ip_finish_output_gso``; oversize ones to ``ip_fragment``."""
    charge(net, "ip_finish_output")
    cb = IPCB(skb)
    mtu = cb.dst.mtu
    if skb_is_gso(skb):
        return ip_finish_output_gso(net, sk, skb, mtu)
    if skb.len > mtu or cb.frag_max_size:
        return ip_fragment(net, sk, skb, mtu, ip_finish_output2)
    return ip_finish_output2(net, sk, skb)


def skb_gso_validate_network_len(skb, mtu: int) -> bool:
    """Every segment of a GSO skb (IP header + L4 header + ``gso_size``) fits ``mtu``."""
    nh_len = skb.transport_header - skb.network_header
    if skb.shinfo.gso_type & SKB_GSO_UDP_L4:
        l4_len = 8
    else:
        l4_len = (skb.mem.read(skb.head + skb.transport_header + 12, 1)[0] >> 4) * 4
    return nh_len + l4_len + skb.shinfo.gso_size <= mtu


def ip_finish_output_gso(net, sk, skb, mtu: int) -> int:
    """``ip_finish_output_gso``: segments that fit go on whole (the NIC segments).

    3.10 never checks. Recent kernels segment in software and fragment the
    segments when they do not fit (forwarding/tunnel cases); the model
    drops such an skb instead (``-EMSGSIZE``, counted in
    ``net.ipv4.stats["gso_oversize_drops"]`` and ``IpFragFails``).
    """
    if net.kernel_version == "3.10" or skb_gso_validate_network_len(skb, mtu):
        return ip_finish_output2(net, sk, skb)
    net.ipv4.stats["gso_oversize_drops"] += 1
    net.mib["IpFragFails"] += 1
    kfree_skb(skb)
    return -errno.EMSGSIZE


# --- fragmentation ----------------------------------------------------------------------------------
def ip_fragment(net, sk, skb, mtu: int, output) -> int:
    """``ip_fragment``: DF set (and fragmenting not allowed) -> FRAG_NEEDED + -EMSGSIZE; else fragment."""
    iph = ip_hdr_read(skb)
    if not iph.frag_off & IP_DF:
        return ip_do_fragment(net, sk, skb, output, mtu)
    cb = IPCB(skb)
    if not cb.ignore_df or (cb.frag_max_size and cb.frag_max_size > mtu):
        net.mib["IpFragFails"] += 1
        icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu)
        kfree_skb(skb)
        return -errno.EMSGSIZE
    return ip_do_fragment(net, sk, skb, output, mtu)


def ip_copy_metadata(to, frm) -> None:
    """``ip_copy_metadata``: what a fragment inherits (priority, protocol, device, IPCB with the dst)."""
    to.priority = frm.priority
    to.protocol = frm.protocol
    to.dev = frm.dev
    to.queue_mapping = frm.queue_mapping
    to.cb = IPCB(frm).copy()


def ip_do_fragment(net, sk, skb, output, mtu: int) -> int:
    """The copying slow path of ``ip_do_fragment`` (module docstring); 0 or the first error."""
    charge(net, "ip_fragment")
    mib = net.mib
    err = 0
    if skb.ip_summed == CHECKSUM_PARTIAL:
        err = skb_checksum_help(skb)
        if err:
            kfree_skb(skb)
            mib["IpFragFails"] += 1
            return err
        net.ipv4.stats["sw_checksums"] += 1
    iph = ip_hdr_read(skb)
    hlen = iph.ihl * 4
    space = mtu - hlen
    cb = IPCB(skb)
    cb.flags |= IPSKB_FRAG_COMPLETE
    net_off = skb.network_header - (skb.data - skb.head)
    if space < 8 or net_off < 0:
        kfree_skb(skb)
        mib["IpFragFails"] += 1
        return -errno.EINVAL
    ll_rs = LL_RESERVED_SPACE(cb.dst.dev)
    left = skb.len - net_off - hlen
    ptr = net_off + hlen
    offset = (iph.frag_off & IP_OFFSET) << 3
    not_last_frag = iph.frag_off & IP_MF
    template = bytearray(iph.raw)
    owner = skb.sk
    nfrags = 0
    copied = 0
    while left > 0:
        n = min(left, space)
        if n < left:
            n &= ~7
        skb2 = alloc_skb(net.skb, n + hlen, ll_rs)
        if skb2 is None:
            err = -errno.ENOMEM
            break
        charge(net, "skb_alloc")
        ip_copy_metadata(skb2, skb)
        skb_put(skb2, n + hlen)
        skb_reset_network_header(skb2)
        skb2.transport_header = skb2.network_header + hlen
        if owner is not None:
            skb_set_owner_w(skb2, owner)
        payload = skb_copy_bits(skb, ptr, n)
        left -= n
        frag_off = offset >> 3
        if left > 0 or not_last_frag:
            frag_off |= IP_MF
        hdr = template
        hdr[6] = frag_off >> 8
        hdr[7] = frag_off & 0xFF
        tot = n + hlen
        hdr[2] = tot >> 8
        hdr[3] = tot & 0xFF
        ip_send_check(hdr)
        skb2.mem.write(skb2.data, bytes(hdr) + payload)
        charge_bytes(net, "ip_fragment_copy", n)
        copied += n
        ptr += n
        offset += n
        err = output(net, sk, skb2)
        if err:
            break
        mib["IpFragCreates"] += 1
        nfrags += 1
    net.count_copy("ip_fragment", copied)
    net.count("ip_fragment", nfrags, copied)
    if err:
        kfree_skb(skb)
        mib["IpFragFails"] += 1
        return err
    consume_skb(skb)
    mib["IpFragOKs"] += 1
    return 0


# --- next hop ----------------------------------------------------------------------------------------
def sock_confirm_neigh(skb, n) -> None:
    """``sock_confirm_neigh``: the skb carries TCP's pending confirmation -> ``neigh_confirm``."""
    cb = skb.cb
    if cb.dst_pending_confirm:
        sk = skb.sk
        if sk is not None and sk.sk_dst_pending_confirm:
            sk.sk_dst_pending_confirm = 0
        neigh_confirm(n)


def ip_finish_output2(net, sk, skb) -> int:
    """``ip_finish_output2``: link-layer headroom, the next hop's neighbour (created if missing), output."""
    charge(net, "ip_finish_output2")
    cb = IPCB(skb)
    rt = cb.dst
    dev = skb.dev
    if net.kernel_version != "3.10":
        net.mib["IpOutTransmits"] += 1
        net.mib["IpExtOutOctets"] += skb.len
    hh_len = LL_RESERVED_SPACE(dev)
    if skb_headroom(skb) < hh_len:
        net.ipv4.stats["headroom_reallocs"] += 1
        if skb_cow_head(skb, hh_len):
            kfree_skb(skb)
            return -errno.ENOMEM
    daddr = int.from_bytes(skb.mem.read(skb.head + skb.network_header + 16, 4), "big")
    nexthop = rt_nexthop(rt, daddr)
    tbl = net.ipv4.arp_tbl
    n = neigh_lookup_noref(tbl, nexthop, dev)
    if n is None:
        n = __neigh_create(tbl, nexthop, dev)
        if type(n) is int:
            kfree_skb(skb)
            return -errno.EINVAL
    sock_confirm_neigh(skb, n)
    return neigh_output(n, skb, False)


# --- helpers for datagram senders --------------------------------------------------------------------
def net_xmit_errno(e: int) -> int:
    """``net_xmit_errno``: NET_XMIT_CN is not an error; other device drops are -ENOBUFS."""
    return -errno.ENOBUFS if e != NET_XMIT_CN else 0


def ip_send_skb(net, skb) -> int:
    """``ip_send_skb``: ``ip_local_out`` with device drops turned into errno (``IpOutDiscards``)."""
    err = ip_local_out(net, skb.sk, skb)
    if err:
        if err > 0:
            err = net_xmit_errno(err)
        if err:
            net.mib["IpOutDiscards"] += 1
    return err
