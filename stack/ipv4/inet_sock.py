"""``struct inet_sock`` (``include/net/inet_sock.h``) and the socket memory accounting of ``net/core/sock.c``.

One definition for every IPv4 socket: UDP's ``udp_sock`` and TCP's
``tcp_sock`` subclass :class:`inet_sock`. Addresses are ints in host order,
as the kernel keeps them; the socket calls convert at the system-call
boundary.
"""
from __future__ import annotations

from stack.core.skbuff import SkBuff
from .ip import IP_PMTUDISC_DONT, IP_PMTUDISC_WANT
from .utils import in_ntoa

__all__ = ["SK_WMEM_MAX", "SK_RMEM_MAX", "inet_sock", "skb_set_owner_w", "sock_wfree", "skb_set_owner_r",
           "sock_rfree"]

#: ``SK_WMEM_MAX``/``SK_RMEM_MAX`` (and net.core.wmem_default/rmem_default): 212992.
SK_WMEM_MAX = 212992
SK_RMEM_MAX = 212992


class inet_sock:
    """The fields of ``struct sock``/``struct inet_sock`` the IPv4 layer reads and writes.

    Addresses are ints (host order), ports ints. Read by IP: ``inet_saddr``
    (0: take the route's source), ``inet_daddr``, ``inet_sport``,
    ``inet_dport``, ``tos``, ``uc_ttl`` (-1: route/sysctl default 64),
    ``pmtudisc`` (IP_PMTUDISC_WANT unless ``ip_no_pmtu_disc``),
    ``sk_priority``, ``sk_bound_dev_if`` (a device or None),
    ``sk_dst_pending_confirm`` (set it to 1 on forward progress:
    ``sk_dst_confirm``; the next transmit confirms the neighbour and clears
    it). Written by IP: ``sk_dst_cache`` (the cached route), ``inet_id``
    (advanced per packet), ``sk_route_caps``, ``sk_gso_max_size``,
    ``sk_gso_max_segs`` (``sk_setup_caps``). Memory: ``sk_wmem_alloc``
    against ``sk_sndbuf`` (``skb_set_owner_w``/``sock_wfree``, which calls
    ``sk_write_space(sk)`` when set), ``sk_rmem_alloc`` against
    ``sk_rcvbuf``. Errors: ``sk_err`` and the callback ``sk_err_report(sk)``
    (Linux ``sk_error_report``); a protocol that wants the ICMP details
    defines ``err_handler(type, code, info, skb)`` instead (UDP's is ``udp_err``).
    """

    sk_protocol = 0

    def __init__(self, net):
        self.sk_net = net
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
        self.sk_priority = 0
        self.sk_bound_dev_if = None
        self.sk_dst_cache = None
        self.sk_dst_pending_confirm = 0
        self.sk_route_caps = 0
        self.sk_gso_type = 0
        self.sk_gso_max_size = 0
        self.sk_gso_max_segs = 0
        self.sk_sndbuf = SK_WMEM_MAX
        self.sk_rcvbuf = SK_RMEM_MAX
        self.sk_wmem_alloc = 0
        self.sk_rmem_alloc = 0
        self.sk_err = 0
        self.sk_err_soft = 0
        #: Callbacks the sockets layer sets: errors, write space freed, data arrived.
        self.sk_err_report = None
        self.sk_write_space = None
        self.sk_data_ready = None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {in_ntoa(self.inet_saddr)}:{self.inet_sport} -> "
                f"{in_ntoa(self.inet_daddr)}:{self.inet_dport}>")


def sock_wfree(skb: SkBuff) -> None:
    """Destructor of an skb charged to its socket's send buffer (``sock_wfree``)."""
    sk = skb.sk
    if sk is None:
        return
    sk.sk_wmem_alloc -= skb.truesize
    ws = sk.sk_write_space
    if ws is not None:
        ws(sk)


def skb_set_owner_w(skb: SkBuff, sk) -> None:
    """Charge ``skb`` to ``sk``'s send buffer; freed by :func:`sock_wfree`."""
    skb.sk = sk
    skb.destructor = sock_wfree
    sk.sk_wmem_alloc += skb.truesize


def sock_rfree(skb: SkBuff) -> None:
    """Destructor of an skb charged to its socket's receive buffer (``sock_rfree``)."""
    sk = skb.sk
    if sk is not None:
        sk.sk_rmem_alloc -= skb.truesize


def skb_set_owner_r(skb: SkBuff, sk) -> None:
    """Charge ``skb`` to ``sk``'s receive buffer (``skb_set_owner_r``)."""
    skb.sk = sk
    skb.destructor = sock_rfree
    sk.sk_rmem_alloc += skb.truesize
