"""Binding, listening and accepting (``net/ipv4/inet_connection_sock.c`` and ``af_inet.c``'s ``inet_bind``).

``inet_bind`` takes an address as an int (0: any); port 0 picks an
ephemeral port (``inet_csk_get_port``). ``inet_csk_accept`` is a generator
run by a task: it sleeps until the listener's accept queue has a child.
"""
from __future__ import annotations

from stack.core import cputime
from stack.core.errno import EADDRINUSE, EAGAIN, EINVAL
from stack.socket import MSG_DONTWAIT
from .tcp import lock_sock, release_sock
from .tcp_sock import TCP_CLOSE, TCP_LISTEN

__all__ = ["inet_bind", "inet_csk_listen_start", "inet_csk_accept"]



def inet_bind(sk, addr: int, port: int) -> int:
    """Bind to ``(addr, port)`` (addr 0: any); port 0 picks an ephemeral one. 0 or -errno."""
    tcp = sk.net.tcp
    if sk.bound or sk.sk_state != TCP_CLOSE:
        return -EINVAL
    if port == 0:
        port = _ephemeral_port(tcp)
    elif tcp.bound_ports.get(port):
        return -EADDRINUSE
    tcp.bound_ports[port] = tcp.bound_ports.get(port, 0) + 1
    sk.inet_rcv_saddr = sk.inet_saddr = addr
    sk.inet_sport = port
    sk.bound = True
    return 0



def _ephemeral_port(tcp) -> int:
    for _ in range(61000 - 32768):
        port = tcp.next_ephemeral
        tcp.next_ephemeral = 32768 if port >= 60999 else port + 1
        if not tcp.bound_ports.get(port):
            return port
    raise RuntimeError("no ephemeral port left")



def inet_csk_listen_start(sk, backlog: int) -> int:
    """``listen()``: the socket takes SYNs for its bound port. 0 or -errno."""
    if sk.sk_state == TCP_LISTEN:
        sk.sk_max_ack_backlog = min(backlog, sk.net.tcp.somaxconn)
        return 0
    if sk.sk_state != TCP_CLOSE:
        return -EINVAL
    if not sk.bound:
        err = inet_bind(sk, 0, 0)
        if err:
            return err
    sk.sk_max_ack_backlog = min(backlog, sk.net.tcp.somaxconn)
    sk.sk_state = TCP_LISTEN
    sk.net.tcp.lhash[(sk.inet_saddr, sk.inet_sport)] = sk
    return 0



def inet_csk_accept(sk, flags: int = 0):
    """Generator: the next established child of listener ``sk``, or -errno."""
    net = sk.net
    cputime.charge(net, "inet_csk_accept")
    yield from lock_sock(sk)
    try:
        while not sk.accept_queue:
            if sk.sk_state != TCP_LISTEN:
                return -EINVAL
            if flags & MSG_DONTWAIT:
                return -EAGAIN
            ev = net.engine.event()
            sk.sk_wq.append(ev)
            release_sock(sk)
            yield ev
            yield from lock_sock(sk)
        child = sk.accept_queue.popleft()
        child.parent = None   # owned by its own file now
        return child
    finally:
        release_sock(sk)
