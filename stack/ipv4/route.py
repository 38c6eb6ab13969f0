"""IPv4 routing: the FIB, output route lookups, and the socket's cached route.

Two FIB tables, as Linux's ``local`` and ``main``: the local table holds
this host's addresses (RTN_LOCAL) and the subnets' broadcast addresses
(RTN_BROADCAST), and is consulted first; the main table holds the connected
routes that addresses bring (``prefix/len dev DEV scope link src ADDR``)
and static routes. A lookup is a longest-prefix match (ties: lowest
metric, then the older entry).

:func:`ip_route_output` (``ip_route_output_key``) returns an
:class:`rtable` — the flow's ``saddr``/``daddr``, ``dev``,
``rt_gateway`` (0 when the destination is on-link; ``rt_nexthop`` gives
the neighbour to resolve), ``rt_type``, ``mtu`` (``dst_mtu``: a route
``mtu`` metric or the device's current MTU) — or a negative errno:
-ENETUNREACH (no route), -EINVAL (a source address that is not ours, or
a local destination: the model has no loopback device), -EADDRNOTAVAIL
(no source address on the output device). Every call counts in
``net.ipv4.stats["route_lookups"]``.

Sockets cache their route in ``sk.sk_dst_cache`` (``sk_setup_caps``);
``__sk_dst_check`` returns it while it is still valid, so a connected
socket's steady state does no lookups. A route becomes obsolete when any
address or route changes (``rt_genid``, as ``rt_cache_flush`` does).

Not modelled: policy routing rules, multipath, PMTU exceptions learnt
from ICMP, route expiry, device-down (dead) nexthops, multicast routes.
"""
from __future__ import annotations


from stack.core import errno
from stack.core.cputime import charge
from stack.core.netdevice import NETIF_F_HW_CSUM, NETIF_F_SG, NETIF_F_TSO
from stack.neighbour import neigh_confirm, neigh_lookup_noref
from .inetdevice import in_dev_get
from .ip import IP_MAX_MTU
from .utils import in_ntoa, inet_addr, inet_make_mask, inet_prefix

__all__ = [
    "RTN_UNSPEC", "RTN_UNICAST", "RTN_LOCAL", "RTN_BROADCAST", "RTN_MULTICAST", "RTN_UNREACHABLE",
    "RT_SCOPE_UNIVERSE", "RT_SCOPE_LINK", "RT_SCOPE_HOST",
    "fib_entry", "fib_table", "rtable", "IS_ERR", "fib_init", "fib_add_ifaddr",
    "fib_route_add", "fib_route_del", "fib_lookup", "rt_cache_flush", "ip_route_output",
    "ip_route_output_ports", "ip_route_input", "rt_nexthop", "dst_mtu", "dst_metric_locked_mtu",
    "inet_addr_type", "inet_select_addr", "__sk_dst_check",
    "sk_setup_caps", "sk_dst_confirm", "dst_confirm_neigh",
]

RTN_UNSPEC = 0
RTN_UNICAST = 1
RTN_LOCAL = 2
RTN_BROADCAST = 3
RTN_MULTICAST = 5
RTN_UNREACHABLE = 7

RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254

_LBCAST = 0xFFFFFFFF


class fib_entry:
    """One route (``fib_alias`` + ``fib_info`` + its nexthop)."""

    __slots__ = ("prefix", "plen", "type", "dev", "gw", "prefsrc", "metric", "mtu", "mtu_lock",
                 "hoplimit", "scope", "proto", "seq")

    def __init__(self, prefix: int, plen: int, type_: int, dev, gw: int = 0, prefsrc: int = 0,
                 metric: int = 0, mtu: int = 0, mtu_lock: bool = False, hoplimit: int = 0,
                 scope: int = RT_SCOPE_UNIVERSE, proto: str = "static", seq: int = 0):
        self.prefix = prefix & inet_make_mask(plen)
        self.plen = plen
        self.type = type_
        self.dev = dev
        self.gw = gw
        self.prefsrc = prefsrc
        self.metric = metric
        self.mtu = mtu
        self.mtu_lock = mtu_lock
        self.hoplimit = hoplimit
        self.scope = scope
        self.proto = proto
        self.seq = seq

    def __repr__(self) -> str:
        via = f" via {in_ntoa(self.gw)}" if self.gw else ""
        src = f" src {in_ntoa(self.prefsrc)}" if self.prefsrc else ""
        return f"<fib {in_ntoa(self.prefix)}/{self.plen}{via} dev {self.dev.name}{src} type {self.type}>"


class fib_table:
    """Routes by prefix length, then prefix; longest prefix first on lookup."""

    def __init__(self, name: str):
        self.name = name
        self.by_plen: dict[int, dict[int, list[fib_entry]]] = {}
        self._plens: list[int] = []

    def insert(self, e: fib_entry) -> None:
        bucket = self.by_plen.setdefault(e.plen, {})
        lst = bucket.setdefault(e.prefix, [])
        lst.append(e)
        lst.sort(key=lambda x: (x.metric, x.seq))
        self._plens = sorted(self.by_plen, reverse=True)

    def remove(self, e: fib_entry) -> None:
        bucket = self.by_plen[e.plen]
        lst = bucket[e.prefix]
        lst.remove(e)
        if not lst:
            del bucket[e.prefix]
        if not bucket:
            del self.by_plen[e.plen]
        self._plens = sorted(self.by_plen, reverse=True)

    def lookup(self, addr: int, dev=None) -> fib_entry | None:
        """Longest-prefix match for ``addr`` (only routes through ``dev`` when given)."""
        for plen in self._plens:
            lst = self.by_plen[plen].get(addr & inet_make_mask(plen))
            if lst:
                if dev is None:
                    return lst[0]
                for e in lst:
                    if e.dev is dev:
                        return e
        return None

    def entries(self) -> list[fib_entry]:
        return [e for plen in self._plens for lst in self.by_plen[plen].values() for e in lst]


class rtable:
    """An output route (``struct rtable`` + the flow's addresses).

    ``output`` is what ``dst_output`` calls (``ip_output``). ``mtu`` is
    ``dst_mtu``. ``obsolete`` is True once the FIB changed after the lookup.
    """

    __slots__ = ("dev", "rt_type", "rt_gateway", "rt_uses_gateway", "saddr", "daddr", "rt_genid",
                 "metric_mtu", "mtu_lock", "hoplimit", "output", "fib", "net")

    def __init__(self, net, dev, rt_type: int, gateway: int, saddr: int, daddr: int, fib: fib_entry | None):
        self.net = net
        self.dev = dev
        self.rt_type = rt_type
        self.rt_gateway = gateway
        self.rt_uses_gateway = 1 if gateway else 0
        self.saddr = saddr
        self.daddr = daddr
        self.rt_genid = net.ipv4.rt_genid
        self.metric_mtu = fib.mtu if fib is not None else 0
        self.mtu_lock = fib.mtu_lock if fib is not None else False
        self.hoplimit = fib.hoplimit if fib is not None else 0
        self.output = _ip_output()
        self.fib = fib

    @property
    def mtu(self) -> int:
        return dst_mtu(self)

    @property
    def obsolete(self) -> bool:
        return self.rt_genid != self.net.ipv4.rt_genid

    def __repr__(self) -> str:
        gw = f" via {in_ntoa(self.rt_gateway)}" if self.rt_gateway else ""
        return (f"<rtable {in_ntoa(self.saddr)} -> {in_ntoa(self.daddr)}{gw} dev {self.dev.name} "
                f"mtu {self.mtu}>")


def _ip_output():
    """``ip_output`` (imported late: ip_output imports this module)."""
    global _IP_OUTPUT
    if _IP_OUTPUT is None:
        # mutual reference: route.c sets dst.output = ip_output; ip_output.c routes
        from .ip_output import ip_output
        _IP_OUTPUT = ip_output
    return _IP_OUTPUT


_IP_OUTPUT = None


def IS_ERR(rt) -> bool:
    """True if a lookup returned an error (a negative errno) instead of a route."""
    return type(rt) is int


def dst_mtu(rt: rtable) -> int:
    """``dst_mtu``/``ipv4_mtu``: the route's mtu metric, else the device's MTU (capped at IP_MAX_MTU)."""
    mtu = rt.metric_mtu or rt.dev.mtu
    return min(mtu, IP_MAX_MTU)


def dst_metric_locked_mtu(rt: rtable) -> bool:
    """``dst_metric_locked(dst, RTAX_MTU)``: ``mtu lock`` was given on the route."""
    return rt.mtu_lock


def rt_nexthop(rt: rtable, daddr: int) -> int:
    """The neighbour to resolve: the gateway, or the destination itself when on-link."""
    return rt.rt_gateway or daddr


# --- the tables -----------------------------------------------------------------------------------
def fib_init(net) -> None:
    ipv4 = net.ipv4
    ipv4.fib_local = fib_table("local")
    ipv4.fib_main = fib_table("main")
    ipv4.fib_seq = 0


def rt_cache_flush(net) -> None:
    """Make every cached route obsolete (``rt_cache_flush``: bump the generation)."""
    net.ipv4.rt_genid += 1


def _insert(net, table: fib_table, e: fib_entry) -> fib_entry:
    net.ipv4.fib_seq += 1
    e.seq = net.ipv4.fib_seq
    table.insert(e)
    rt_cache_flush(net)
    return e


def fib_add_ifaddr(net, ifa) -> None:
    """The routes an address brings (``fib_add_ifaddr``): local, broadcast, connected prefix."""
    ipv4 = net.ipv4
    dev = ifa.ifa_dev.dev
    addr = ifa.ifa_local
    _insert(net, ipv4.fib_local, fib_entry(addr, 32, RTN_LOCAL, dev, prefsrc=addr, scope=RT_SCOPE_HOST,
                                           proto="kernel"))
    if ifa.ifa_broadcast and ifa.ifa_broadcast != _LBCAST:
        _insert(net, ipv4.fib_local, fib_entry(ifa.ifa_broadcast, 32, RTN_BROADCAST, dev, prefsrc=addr,
                                               scope=RT_SCOPE_LINK, proto="kernel"))
    if ifa.ifa_prefixlen < 32:
        _insert(net, ipv4.fib_main, fib_entry(addr, ifa.ifa_prefixlen, RTN_UNICAST, dev, prefsrc=addr,
                                              scope=RT_SCOPE_LINK, proto="kernel"))


def fib_route_add(net, prefix: str, via=None, dev=None, src=None, mtu: int | None = None,
                  mtu_lock: bool = False, hoplimit: int | None = None, metric: int = 0) -> fib_entry:
    """A static route in the main table (see ``stack.ipv4.iproute2.ip_route_add``)."""
    ipv4 = net.ipv4
    addr, plen = inet_prefix(prefix)
    gw = inet_addr(via) if via is not None else 0
    if gw:
        link = ipv4.fib_main.lookup(gw, dev)
        if link is None or link.gw or link.scope != RT_SCOPE_LINK:
            raise ValueError(f"gateway {in_ntoa(gw)} is not on-link (no connected route to it)")
        if dev is None:
            dev = link.dev
    elif dev is None:
        raise ValueError(f"route {prefix}: needs a gateway or a device")
    prefsrc = inet_addr(src) if src is not None else 0
    if prefsrc and prefsrc not in ipv4.local_addrs:
        raise ValueError(f"src {in_ntoa(prefsrc)} is not a local address")
    e = fib_entry(addr, plen, RTN_UNICAST, dev, gw=gw, prefsrc=prefsrc, metric=metric, mtu=mtu or 0,
                  mtu_lock=mtu_lock, hoplimit=hoplimit or 0,
                  scope=RT_SCOPE_UNIVERSE if gw else RT_SCOPE_LINK)
    return _insert(net, ipv4.fib_main, e)


def fib_route_del(net, prefix: str, via=None, dev=None) -> None:
    """Remove a static route matching prefix (and gateway/device when given)."""
    ipv4 = net.ipv4
    addr, plen = inet_prefix(prefix)
    addr &= inet_make_mask(plen)
    gw = inet_addr(via) if via is not None else None
    for e in ipv4.fib_main.entries():
        if e.prefix == addr and e.plen == plen and (gw is None or e.gw == gw) and (dev is None or e.dev is dev):
            ipv4.fib_main.remove(e)
            rt_cache_flush(net)
            return
    raise ValueError(f"no route {prefix} to delete")


def fib_lookup(net, daddr: int, dev=None) -> fib_entry | None:
    """The local table, then the main table (``fib_lookup`` without rules)."""
    ipv4 = net.ipv4
    e = ipv4.fib_local.lookup(daddr, dev)
    if e is not None and e.plen == 32:
        return e
    return ipv4.fib_main.lookup(daddr, dev)


def inet_addr_type(net, addr: int) -> int:
    """``inet_addr_type``: RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST, RTN_UNICAST (or UNSPEC for 0)."""
    if addr == 0:
        return RTN_UNSPEC
    if addr == _LBCAST:
        return RTN_BROADCAST
    if addr >> 28 == 0xE:
        return RTN_MULTICAST
    e = net.ipv4.fib_local.lookup(addr)
    if e is not None and e.plen == 32:
        return e.type
    return RTN_UNICAST


def inet_select_addr(dev, dst: int = 0, scope: int = RT_SCOPE_UNIVERSE) -> int:
    """``inet_select_addr``: an address of ``dev``, one on ``dst``'s subnet first; 0 if it has none."""
    in_dev = in_dev_get(dev)
    if in_dev is None or not in_dev.ifa_list:
        return 0
    for ifa in in_dev.ifa_list:
        if dst and (dst & ifa.ifa_mask) == (ifa.ifa_local & ifa.ifa_mask):
            return ifa.ifa_local
    return in_dev.ifa_list[0].ifa_local


# --- lookups ----------------------------------------------------------------------------------------
def ip_route_output(net, daddr, saddr=None, oif=None, tos: int = 0):
    """``ip_route_output_key``: an :class:`rtable` for ``daddr`` or a negative errno (module docstring).

    ``saddr``: the source the caller wants (must be local), else the
    route's ``src``/the device's address; ``oif``: only routes through this
    device (an address on-link through it if no route says otherwise).
    """
    ipv4 = net.ipv4
    ipv4.stats["route_lookups"] += 1
    charge(net, "ip_route_output_key")
    net.count("route", 1, 0)
    daddr = inet_addr(daddr)
    src = inet_addr(saddr) if saddr else 0
    if src and src not in ipv4.local_addrs:
        return -errno.EINVAL
    if daddr == 0:
        return -errno.EINVAL
    if daddr == _LBCAST:
        if oif is None:
            return -errno.ENETUNREACH
        e = None
        dev = oif
        rt_type = RTN_BROADCAST
        gw = 0
    else:
        e = fib_lookup(net, daddr, oif)
        if e is None:
            if oif is None:
                return -errno.ENETUNREACH
            dev, rt_type, gw = oif, RTN_UNICAST, 0  # bound to a device: on-link there
        else:
            if e.type == RTN_LOCAL:
                return -errno.EINVAL  # would go through lo, which the model does not have
            dev, rt_type, gw = e.dev, e.type, e.gw
    if not src:
        src = (e.prefsrc if e is not None and e.prefsrc else 0) or inet_select_addr(dev, gw or daddr)
        if not src:
            return -errno.EADDRNOTAVAIL
    return rtable(net, dev, rt_type, gw, src, daddr, e)


def ip_route_output_ports(net, sk, daddr, saddr, dport: int, sport: int, proto: int):
    """``ip_route_output_ports``: the socket's lookup (bound device, then the FIB)."""
    return ip_route_output(net, daddr, saddr or None, oif=sk.sk_bound_dev_if, tos=sk.tos)


def ip_route_input(net, daddr: int, saddr: int, dev) -> int:
    """What an incoming packet is for: RTN_LOCAL, RTN_BROADCAST, or -EHOSTUNREACH (not forwarding).

    A host does not forward (``ip_forward`` 0): anything not for one of its
    addresses or a broadcast address is an address error.
    """
    if daddr == _LBCAST:
        return RTN_BROADCAST
    if daddr >> 28 == 0xE:
        return RTN_MULTICAST
    t = inet_addr_type(net, daddr)
    if t in (RTN_LOCAL, RTN_BROADCAST):
        return t
    return -errno.EHOSTUNREACH


# --- the socket's route ----------------------------------------------------------------------------
def __sk_dst_check(sk, cookie: int = 0):
    """The socket's cached route if still valid (``__sk_dst_check``); an obsolete one is dropped."""
    rt = sk.sk_dst_cache
    if rt is None:
        return None
    if rt.obsolete:
        sk.sk_dst_cache = None
        return None
    return rt


def sk_setup_caps(sk, rt: rtable) -> None:
    """Cache ``rt`` in the socket and derive the route capabilities (``sk_setup_caps``).

    ``sk_route_caps`` = the device's features; when the device can segment
    the socket's GSO type (TSO for TCP) SG and HW_CSUM are added and
    ``sk_gso_max_size``/``sk_gso_max_segs`` come from the device. The
    model has no software-GSO feature bit: a device without TSO leaves
    ``sk_gso_max_size`` 0.
    """
    sk.sk_dst_cache = rt
    dev = rt.dev
    caps = dev.features
    sk.sk_gso_max_size = 0
    sk.sk_gso_max_segs = 0
    if caps & NETIF_F_TSO:
        caps |= NETIF_F_SG | NETIF_F_HW_CSUM
        sk.sk_gso_max_size = dev.gso_max_size
        sk.sk_gso_max_segs = dev.gso_max_segs
    sk.sk_route_caps = caps


def sk_dst_confirm(sk) -> None:
    """TCP saw forward progress: the next transmit confirms the neighbour (``sk_dst_confirm``).

    3.10's ``dst_confirm(dst)`` had the same effect (the flag lived in the dst).
    """
    sk.sk_dst_pending_confirm = 1


def dst_confirm_neigh(rt: rtable, daddr) -> None:
    """Confirm the neighbour of ``rt`` for ``daddr`` now (``dst_confirm_neigh``/``ipv4_confirm_neigh``)."""
    n = neigh_lookup_noref(rt.net.ipv4.arp_tbl, rt_nexthop(rt, inet_addr(daddr)), rt.dev)
    if n is not None:
        neigh_confirm(n)
