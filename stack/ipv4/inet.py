"""IPv4 for one host (``net/ipv4/af_inet.c``): ``inet_init`` and the socket types' ``proto_ops``.

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

A host is set up with the ``ip`` commands of :mod:`stack.ipv4.iproute2`.

``net.kernel_version`` ("recent", the default, or "3.10") selects the
behaviours that differ (stack_facts §12): the ARP unresolved-queue limit
(``SK_WMEM_MAX`` = 212992 bytes vs 64 KiB), the neighbour timer re-arm
floor (HZ/100 vs HZ/2), IP ID selection (``ip_select_ident_segs`` vs
``ip_select_ident_more``), where ``IpOutRequests`` is counted, whether a
GSO skb larger than the MTU is checked (recent) or passed (3.10).

Addresses are ``int`` (host byte order; :mod:`stack.ipv4.utils` converts);
``inet_stream_ops``/``inet_dgram_ops`` convert the dotted strings programs pass.

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
from stack.core.netcore import check_kernel_version
from stack.core.skbuff import ETH_P_IP
from stack.core.sock import sock_wait_for_wmem
from stack.socket import AF_INET, MSG_DONTWAIT, SOCK_DGRAM, SOCK_STREAM, register_socket_type
from . import route
from .arp import arp_init
from .inet_connection_sock import inet_bind, inet_csk_accept, inet_csk_listen_start
from .ip import IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP
from .ip_input import icmp_rcv, ip_rcv
from .netns import MIB_FIELDS, netns_ipv4
from .tcp import (lock_sock, release_sock, tcp_close, tcp_init, tcp_recvmsg, tcp_sendmsg, tcp_setsockopt,
                  tcp_shutdown)
from .tcp_ipv4 import tcp_create, tcp_v4_connect, tcp_v4_rcv
from .udp import udp_bind, udp_close, udp_connect, udp_err, udp_rcv, udp_recvmsg, udp_sendmsg, udp_sock
from .utils import inet_addr

__all__ = ["inet_init", "inet_stream_ops", "inet_dgram_ops", "inet_create"]


# --- init -------------------------------------------------------------------------------------------------
def inet_init(net) -> None:
    """``inet_init``: IPv4, ICMP, UDP and TCP on ``net`` (module docstring), for ``net.kernel_version``."""
    version = net.kernel_version
    check_kernel_version(version)
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
        """``udp_sendmsg``; a blocking socket sleeps while the send buffer is full and tries again
        (``sock_alloc_send_skb`` -> ``sock_wait_for_wmem``)."""
        sk = sock.sk
        while True:
            sk.sk_nospace = False   # set again only if this attempt finds the send buffer full
            if addr is None:
                rc = udp_sendmsg(sk, data, flags=flags)
            else:
                rc = udp_sendmsg(sk, data, addr[0], addr[1], flags)
            if rc != -errno.EAGAIN or not sk.sk_nospace or flags & MSG_DONTWAIT:
                return rc
            yield from sock_wait_for_wmem(sk)

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
