"""IPv4 for one host (``net/ipv4/af_inet.c``, ``devinet.c``): ``inet_init``, the socket types, addresses, routes.

:func:`inet_init` is the IPv4 part of :func:`stack.initcalls.net_init`, in
Linux's order: ``net.ipv4`` (:class:`~stack.ipv4.netns.netns_ipv4`:
sysctls, FIB, ARP table, UDP table, fragment queues) and ``net.mib`` (the
SNMP counters under their ``nstat`` names: ``IpOutRequests``,
``IpExtOutOctets``, ``IpFragOKs``, ``UdpOutDatagrams``, ...); the
protocol handlers (``inet_add_protocol``: ``net.inet_protos[IPPROTO_ICMP]``,
``[IPPROTO_UDP]``, ``[IPPROTO_TCP]``); the socket types
(``inet_register_protosw``: ``SOCK_STREAM`` with :class:`inet_stream_ops`,
``SOCK_DGRAM`` with :class:`inet_dgram_ops`); ``arp_init``; ``ip_init``
(the FIB); ``tcp_init``; and ``net.ptype[ETH_P_IP] = ip_rcv``
(``dev_add_pack``).

Setting a host up (what ``ip addr``/``ip route``/``ip neigh`` would do)::

    from stack.ipv4 import inet
    inet.ip_link_set_address(dev, "02:00:00:00:00:01")
    inet.ip_addr_add(net, dev, "10.0.0.1/24")           # + connected route, local and broadcast routes
    inet.ip_route_add(net, "0.0.0.0/0", via="10.0.0.254")
    inet.ip_neigh_add(net, dev, "10.0.0.2", "02:00:00:00:00:02")   # optional static entry

``net.kernel_version`` ("recent", the default, or "3.10") selects the
behaviours that differ (stack_facts §12): the ARP unresolved-queue limit
(``SK_WMEM_MAX`` = 212992 bytes vs 64 KiB), the neighbour timer re-arm
floor (HZ/100 vs HZ/2), IP ID selection (``ip_select_ident_segs`` vs
``ip_select_ident_more``), where ``IpOutRequests`` is counted, whether a
GSO skb larger than the MTU is checked (recent) or passed (3.10).

Addresses are ``int`` (host byte order; :mod:`stack.ipv4.utils` converts);
these configuration calls also take dotted strings.

What the IPv4 modules share lives apart, so that they import it rather than
each other: :mod:`stack.ipv4.ip` (protocol numbers, header, ``IPCB``),
:mod:`stack.ipv4.inet_sock` (the socket fields), :mod:`stack.ipv4.netns`,
:mod:`stack.ipv4.inetdevice`, :mod:`stack.ipv4.icmp`, :mod:`stack.ipv4.utils`;
checksums are the net core's (:mod:`stack.core.checksum`).

Shortcut: there is no loopback device (a route to a local address is
refused with -errno.EINVAL).
"""
from __future__ import annotations

from functools import partial

from stack.core import errno
from stack.core.netcore import KERNEL_VERSIONS
from stack.core.skbuff import ETH_P_IP
from stack.neighbour import (NEIGH_UPDATE_F_ADMIN, NEIGH_UPDATE_F_OVERRIDE, NUD_PERMANENT, NUD_REACHABLE,
                             __neigh_lookup, neigh_parms_clone, neigh_update, nud_name)
from stack.socket import AF_INET, SOCK_DGRAM, SOCK_STREAM, register_socket_type
from . import route
from .arp import arp_init
from .inet_connection_sock import inet_bind, inet_csk_accept, inet_csk_listen_start
from .inetdevice import __in_dev_get, in_device, in_ifaddr
from .ip import IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP
from .ip_input import icmp_rcv, ip_rcv
from .netns import MIB_FIELDS, netns_ipv4
from .tcp import (lock_sock, release_sock, tcp_close, tcp_init, tcp_recvmsg, tcp_sendmsg, tcp_setsockopt,
                  tcp_shutdown)
from .tcp_ipv4 import tcp_create, tcp_v4_connect, tcp_v4_rcv
from .udp import udp_bind, udp_close, udp_connect, udp_err, udp_rcv, udp_recvmsg, udp_sendmsg, udp_sock
from .utils import in_ntoa, inet_addr, inet_make_mask, inet_prefix, mac_aton, mac_ntoa

__all__ = ["inet_init", "inet_stream_ops", "inet_dgram_ops", "inet_create", "ip_link_set_address", "ip_addr_add",
           "ip_addr_del", "ip_route_add", "ip_route_del", "ip_neigh_add", "ip_neigh_show"]


# --- init -------------------------------------------------------------------------------------------------
def inet_init(net) -> None:
    """``inet_init``: IPv4, ICMP, UDP and TCP on ``net`` (module docstring), for ``net.kernel_version``."""
    version = net.kernel_version
    if version not in KERNEL_VERSIONS:
        raise ValueError(f"kernel_version {version!r}: one of {KERNEL_VERSIONS}")
    ipv4 = net.ipv4 = netns_ipv4(net, version)
    net.mib = dict.fromkeys(MIB_FIELDS, 0)
    net.inet_protos[IPPROTO_ICMP] = icmp_rcv
    net.inet_protos[IPPROTO_UDP] = udp_rcv
    net.inet_protos[IPPROTO_TCP] = partial(tcp_v4_rcv, net)
    ipv4.err_handlers[IPPROTO_UDP] = udp_err
    register_socket_type(net, AF_INET, SOCK_STREAM, partial(inet_create, type_=SOCK_STREAM))
    register_socket_type(net, AF_INET, SOCK_DGRAM, partial(inet_create, type_=SOCK_DGRAM))
    arp_init(net)
    route.fib_init(net)                    # ip_init -> ip_rt_init
    tcp_init(net)
    net.ptype[ETH_P_IP] = ip_rcv           # dev_add_pack(&ip_packet_type)


# --- the socket types (inetsw) ------------------------------------------------------------------------------
class inet_stream_ops:
    """``inet_stream_ops`` for SOCK_STREAM: every method calls into TCP."""

    @staticmethod
    def bind(sock, addr):
        host, port = addr
        return inet_bind(sock.sk, inet_addr(host) if host else 0, port)

    @staticmethod
    def listen(sock, backlog):
        return inet_csk_listen_start(sock.sk, backlog)

    @staticmethod
    def accept(sock, flags):
        return inet_csk_accept(sock.sk, flags)

    @staticmethod
    def connect(sock, addr, flags):
        host, port = addr
        return tcp_v4_connect(sock.sk, inet_addr(host), port, flags)

    @staticmethod
    def sendmsg(sock, data, flags, addr):
        return tcp_sendmsg(sock.sk, data, flags)

    @staticmethod
    def recvmsg(sock, n, flags):
        return tcp_recvmsg(sock.sk, n, flags)

    @staticmethod
    def setsockopt(sock, level, optname, value):
        sk = sock.sk
        yield from lock_sock(sk)
        try:
            return tcp_setsockopt(sk, level, optname, int(value))
        finally:
            release_sock(sk)

    @staticmethod
    def shutdown(sock, how):
        if how not in (0, 1, 2):
            return -errno.EINVAL
        return tcp_shutdown(sock.sk, how)

    @staticmethod
    def release(sock):
        return tcp_close(sock.sk)


class inet_dgram_ops:
    """``inet_dgram_ops`` for SOCK_DGRAM: every method calls into UDP."""

    @staticmethod
    def bind(sock, addr):
        host, port = addr
        return udp_bind(sock.sk, host, port)

    @staticmethod
    def connect(sock, addr, flags):
        host, port = addr
        return udp_connect(sock.sk, host, port)

    @staticmethod
    def sendmsg(sock, data, flags, addr):
        if addr is None:
            return udp_sendmsg(sock.sk, data, flags=flags)
        host, port = addr
        return udp_sendmsg(sock.sk, data, host, port, flags)

    @staticmethod
    def recvmsg(sock, n, flags):
        got = udp_recvmsg(sock.sk, n)
        return got[0] if got is not None else -errno.EAGAIN

    @staticmethod
    def release(sock):
        udp_close(sock.sk)
        return 0


def inet_create(net, protocol: int, type_: int):
    """``inet_create``: a new sock of ``type_`` and its ops; ``(sk, ops)`` or -EPROTONOSUPPORT."""
    if type_ == SOCK_STREAM and protocol in (0, IPPROTO_TCP):
        return tcp_create(net), inet_stream_ops
    if type_ == SOCK_DGRAM and protocol in (0, IPPROTO_UDP):
        return udp_sock(net), inet_dgram_ops
    return -errno.EPROTONOSUPPORT


# --- configuration (the ip command) -------------------------------------------------------------------------
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


def ip_addr_del(net, dev, cidr: str) -> None:
    """``ip addr del CIDR dev DEV``: the address and the routes it brought."""
    ipv4 = net.ipv4
    addr, plen = inet_prefix(cidr)
    in_dev = __in_dev_get(dev)
    ifa = ipv4.local_addrs.get(addr)
    if in_dev is None or ifa is None or ifa.ifa_dev is not in_dev or ifa.ifa_prefixlen != plen:
        raise ValueError(f"{cidr} is not configured on {dev.name}")
    in_dev.ifa_list.remove(ifa)
    del ipv4.local_addrs[addr]
    route.fib_del_ifaddr(net, ifa)


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


def ip_neigh_show(net) -> list[tuple[str, str, str, str]]:
    """``ip neigh show``: (address, device, lladdr, state) per entry."""
    out = []
    for dev, entries in net.ipv4.arp_tbl.hash.items():
        for key, n in entries.items():
            out.append((in_ntoa(key), dev.name, mac_ntoa(n.ha), nud_name(n.nud_state)))
    return out
