"""``struct sock`` (``include/net/sock.h``) and its memory accounting (``net/core/sock.c``).

The net core's part of every socket: what the device layer reads
(``sk_tx_queue_mapping``, ``sk_dst_cache``, ``sk_hash``), the send and
receive buffers (``sk_wmem_alloc`` against ``sk_sndbuf``, ``sk_rmem_alloc``
against ``sk_rcvbuf``), the route's capabilities, errors and the callbacks
the sockets layer sets. IPv4's ``inet_sock`` (:mod:`stack.ipv4.inet_sock`)
subclasses :class:`sock`; a packet socket (``sim.assembly.sender``) is a
plain one.
"""
from __future__ import annotations

from .skbuff import SkBuff

__all__ = ["SK_WMEM_MAX", "SK_RMEM_MAX", "sock", "skb_set_owner_w", "sock_wfree", "__sock_wfree", "skb_set_owner_r",
           "sock_rfree", "sock_wait_for_wmem", "sock_def_write_space"]

#: ``SK_WMEM_MAX``/``SK_RMEM_MAX`` (and net.core.wmem_default/rmem_default): 212992.
SK_WMEM_MAX = 212992
SK_RMEM_MAX = 212992


class sock:
    """The fields of ``struct sock`` the model has (Linux names).

    ``sk_priority``, ``sk_bound_dev_if`` (a device or None); the cached
    route ``sk_dst_cache`` and ``sk_dst_pending_confirm`` (set to 1 on
    forward progress: ``sk_dst_confirm``; the next transmit confirms the
    neighbour and clears it); ``sk_route_caps``, ``sk_gso_type``,
    ``sk_gso_max_size``, ``sk_gso_max_segs`` (``sk_setup_caps``); the TX
    queue the device layer picked (``sk_tx_queue_mapping``, -1: none) and
    ``sk_hash`` (3.10's queue hash; 0: unset). Memory: ``sk_wmem_alloc``
    against ``sk_sndbuf`` (:func:`skb_set_owner_w`/:func:`sock_wfree`, which
    calls ``sk_write_space(sk)`` when set), ``sk_rmem_alloc`` against
    ``sk_rcvbuf``. Errors: ``sk_err``, ``sk_err_soft`` and the callback
    ``sk_err_report(sk)`` (Linux ``sk_error_report``).
    """

    sk_protocol = 0

    def __init__(self, net):
        self.sk_net = net
        self.sk_priority = 0
        self.sk_bound_dev_if = None
        self.sk_dst_cache = None
        self.sk_dst_pending_confirm = 0
        self.sk_route_caps = 0
        self.sk_gso_type = 0
        self.sk_gso_max_size = 0
        self.sk_gso_max_segs = 0
        self.sk_tx_queue_mapping = -1
        self.sk_hash = 0
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
        #: Events of tasks sleeping on this socket (``sk_sleep(sk)``'s wait queue).
        self.sk_wq: list = []


def sock_wait_for_wmem(sk):
    """Generator: sleep until the send buffer has room (``sock_wait_for_wmem``, woken by write space)."""
    ev = sk.sk_net.engine.event()
    sk.sk_wq.append(ev)
    yield ev


def sock_def_write_space(sk) -> None:
    """``sock_def_write_space``: wake the writers once at most half the send buffer is in flight
    (``sock_writeable``)."""
    if sk.sk_wq and 2 * sk.sk_wmem_alloc <= sk.sk_sndbuf:
        waiters, sk.sk_wq = sk.sk_wq, []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()


def sock_wfree(skb: SkBuff) -> None:
    """Destructor of an skb charged to its socket's send buffer (``sock_wfree``)."""
    sk = skb.sk
    if sk is None:
        return
    sk.sk_wmem_alloc -= skb.truesize
    ws = sk.sk_write_space
    if ws is not None:
        ws(sk)


def __sock_wfree(skb: SkBuff) -> None:
    """``__sock_wfree``: give the bytes back to ``sk_wmem_alloc`` without ``sk_write_space``
    (TCP's pure ACKs: TCP wakes its writers from its own ACK processing)."""
    skb.sk.sk_wmem_alloc -= skb.truesize


def skb_set_owner_w(skb: SkBuff, sk: sock) -> None:
    """Charge ``skb`` to ``sk``'s send buffer; freed by :func:`sock_wfree`."""
    skb.sk = sk
    skb.destructor = sock_wfree
    sk.sk_wmem_alloc += skb.truesize


def sock_rfree(skb: SkBuff) -> None:
    """Destructor of an skb charged to its socket's receive buffer (``sock_rfree``)."""
    sk = skb.sk
    if sk is not None:
        sk.sk_rmem_alloc -= skb.truesize


def skb_set_owner_r(skb: SkBuff, sk: sock) -> None:
    """Charge ``skb`` to ``sk``'s receive buffer (``skb_set_owner_r``)."""
    skb.sk = sk
    skb.destructor = sock_rfree
    sk.sk_rmem_alloc += skb.truesize
