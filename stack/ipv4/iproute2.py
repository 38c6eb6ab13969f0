"""The iproute2 ``ip`` commands a host is set up with, as the kernel carries them out.

``ip link set address`` (``dev_set_mac_address``), ``ip addr add/del``
(``net/ipv4/devinet.c``'s ``inet_rtm_newaddr``/``inet_rtm_deladdr``: the
``in_device`` made on first use, the address on its list, and
``fib_add_ifaddr``'s local, broadcast and connected routes), ``ip route
add/del`` (``fib_frontend.c``'s ``inet_rtm_newroute``/``inet_rtm_delroute``)
and ``ip neigh replace/show`` (``net/core/neighbour.c``'s ``neigh_add``,
``neigh_dump_info``). The netlink messages between the command and the
kernel are not modelled: each call is the command and the kernel's handler
in one. Addresses may be dotted strings or ints (host order)::

    from stack.ipv4 import iproute2
    iproute2.ip_link_set_address(dev, "02:00:00:00:00:01")
    iproute2.ip_addr_add(net, dev, "10.0.0.1/24")           # + connected route, local and broadcast routes
    iproute2.ip_route_add(net, "0.0.0.0/0", via="10.0.0.254")
    iproute2.ip_neigh_add(net, dev, "10.0.0.2", "02:00:00:00:00:02")   # optional static entry
"""
from __future__ import annotations

from stack.neighbour import (NEIGH_UPDATE_F_ADMIN, NEIGH_UPDATE_F_OVERRIDE, NUD_PERMANENT, NUD_REACHABLE,
                             __neigh_lookup, neigh_parms_clone, neigh_update)
from . import route
from .inetdevice import __in_dev_get, in_device, in_ifaddr
from .utils import in_ntoa, inet_addr, inet_make_mask, inet_prefix, mac_aton

__all__ = ["ip_link_set_address", "ip_addr_add", "ip_route_add", "ip_route_del", "ip_neigh_add"]


def ip_link_set_address(dev, mac) -> None:
    """``ip link set dev DEV address MAC``."""
    dev.dev_addr = mac_aton(mac)


def _in_dev_create(net, dev) -> in_device:
    in_dev = __in_dev_get(dev)
    if in_dev is None:
        in_dev = dev.ip_ptr = in_device(dev, neigh_parms_clone(net.ipv4.arp_tbl.parms))
    return in_dev


def ip_addr_add(net, dev, cidr: str, broadcast=None) -> in_ifaddr:
    """``ip addr add CIDR dev DEV`` (brd: the subnet's all-ones unless given).

    Adds the local route (RTN_LOCAL), the broadcast route, and the
    connected route ``prefix/len dev DEV scope link src ADDR`` (main table).
    """
    ipv4 = net.ipv4
    addr, plen = inet_prefix(cidr)
    if addr in ipv4.local_addrs:
        raise ValueError(f"{in_ntoa(addr)} is already configured")
    mask = inet_make_mask(plen)
    if broadcast is None:
        brd = (addr | ~mask) & 0xFFFFFFFF if plen < 31 else 0
    else:
        brd = inet_addr(broadcast)
    in_dev = _in_dev_create(net, dev)
    ifa = in_ifaddr(addr, plen, brd, in_dev)
    in_dev.ifa_list.append(ifa)
    ipv4.local_addrs[addr] = ifa
    route.fib_add_ifaddr(net, ifa)
    return ifa


def ip_route_add(net, prefix: str, via=None, dev=None, src=None, mtu: int | None = None,
                 mtu_lock: bool = False, hoplimit: int | None = None, metric: int = 0):
    """``ip route add PREFIX [via GW] [dev DEV] [src ADDR] [mtu [lock] N] [hoplimit N] [metric N]``.

    A gateway must be reachable on-link (through a connected route); the
    device defaults to that route's. Returns the FIB entry.
    """
    return route.fib_route_add(net, prefix, via=via, dev=dev, src=src, mtu=mtu, mtu_lock=mtu_lock,
                               hoplimit=hoplimit, metric=metric)


def ip_route_del(net, prefix: str, via=None, dev=None) -> None:
    """``ip route del PREFIX [via GW] [dev DEV]``."""
    route.fib_route_del(net, prefix, via=via, dev=dev)


def ip_neigh_add(net, dev, addr, lladdr, permanent: bool = True):
    """``ip neigh replace ADDR lladdr MAC dev DEV nud permanent`` (or ``nud reachable``)."""
    n = __neigh_lookup(net.ipv4.arp_tbl, inet_addr(addr), dev, True)
    if isinstance(n, int):
        raise ValueError(f"cannot create a neighbour for {addr} on {dev.name}: {n}")
    neigh_update(n, mac_aton(lladdr), NUD_PERMANENT if permanent else NUD_REACHABLE,
                 NEIGH_UPDATE_F_OVERRIDE | NEIGH_UPDATE_F_ADMIN)
    return n

