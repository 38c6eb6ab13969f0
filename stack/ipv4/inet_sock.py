"""``struct inet_sock`` (``include/net/inet_sock.h``): the IPv4 part of a socket.

One definition for every IPv4 socket: UDP's ``udp_sock`` and TCP's
``tcp_sock`` subclass :class:`inet_sock`, which subclasses the net core's
``struct sock`` (:class:`stack.core.sock.sock`). Addresses are ints in host
order, as the kernel keeps them; the socket calls convert at the
system-call boundary.
"""
from __future__ import annotations

from stack.core.sock import sock
from .ip import IP_PMTUDISC_DONT, IP_PMTUDISC_WANT
from .utils import in_ntoa

__all__ = ["inet_sock"]


class inet_sock(sock):
    """The fields of ``struct inet_sock`` the IPv4 layer reads and writes, over ``struct sock``'s.

    Addresses are ints (host order), ports ints. Read by IP: ``inet_saddr``
    (0: take the route's source), ``inet_daddr``, ``inet_sport``,
    ``inet_dport``, ``tos``, ``uc_ttl`` (-1: route/sysctl default 64),
    ``pmtudisc`` (IP_PMTUDISC_WANT unless ``ip_no_pmtu_disc``), and of
    ``struct sock`` ``sk_priority``, ``sk_bound_dev_if``,
    ``sk_dst_pending_confirm``. Written by IP: ``inet_id`` (advanced per
    packet), and ``struct sock``'s ``sk_dst_cache`` (the cached route),
    ``sk_route_caps``, ``sk_gso_max_size``, ``sk_gso_max_segs``
    (``sk_setup_caps``). A protocol that wants the ICMP details of an error
    defines ``err_handler(type, code, info, skb)`` (UDP's is ``udp_err``);
    others get ``sk_err`` and ``sk_err_report``.
    """

    #: ``err_handler(type, code, info, skb)`` of a protocol that takes ICMP errors itself (a method
    #: of its socket class, e.g. ``udp_sock``); None: ``sk_err`` and ``sk_err_report``.
    err_handler = None

    def __init__(self, net):
        super().__init__(net)
        self.inet_saddr = 0
        self.inet_rcv_saddr = 0
        self.inet_daddr = 0
        self.inet_sport = 0
        self.inet_dport = 0
        self.inet_id = 0
        self.uc_ttl = -1
        self.tos = 0
        self.pmtudisc = IP_PMTUDISC_DONT if net.ipv4.sysctl_ip_no_pmtu_disc else IP_PMTUDISC_WANT
        self.recverr = False

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {in_ntoa(self.inet_saddr)}:{self.inet_sport} -> "
                f"{in_ntoa(self.inet_daddr)}:{self.inet_dport}>")
