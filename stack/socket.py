"""The socket system calls: an fd table per host and the ``proto_ops`` dispatch (``net/socket.c``).

Every call is a generator, run by a task (``kernel.spawn_task(gen, cpu,
comm)``; each stretch between yields runs in ``task:<comm>`` context, so its
CPU time is ``sy``). Results follow the kernel's convention: a value ≥ 0
(or bytes, or an fd) on success, ``-errno`` on failure::

    def server(net):
        fd = yield from socket(net, AF_INET, SOCK_STREAM)
        yield from bind(net, fd, ("10.0.0.1", 5001))
        yield from listen(net, fd, 16)
        cfd = yield from accept(net, fd)
        yield from setsockopt(net, cfd, SOL_TCP, TCP_NODELAY, 1)
        n = yield from send(net, cfd, b"x" * 1_000_000)
        yield from close(net, cfd)
    kernel.spawn_task(server(net), cpu=0, comm="iperf")

The fd table is one per host (``net.socket_table``, made by
:func:`sock_init`), not per process.

Adding a protocol: ``register_socket_type(net, family, type, create)`` where
``create(net, protocol) -> (sk, ops)``; ``ops`` has any of ``bind(sock,
addr)``, ``listen(sock, backlog)``, ``accept(sock, flags) -> new sk``,
``connect(sock, addr, flags)``, ``sendmsg(sock, data, flags, addr)``,
``recvmsg(sock, n, flags)``, ``setsockopt(sock, level, name, value)``,
``getsockopt(sock, level, name)``, ``shutdown(sock, how)``,
``release(sock)`` — each returning a value or a generator (which is run with
``yield from``). A missing method answers -EOPNOTSUPP. IPv4's
``inet_init`` registers ``(AF_INET, SOCK_STREAM)`` and ``(AF_INET,
SOCK_DGRAM)`` (:mod:`stack.ipv4.inet`); an unregistered type answers
-EPROTONOSUPPORT. This module calls the protocols only through ``ops``,
as ``net/socket.c`` calls ``proto_ops``; addresses are converted here
between the calls' dotted strings and the kernel's ints.
"""
from __future__ import annotations

import inspect

from .core import cputime
from .core.errno import EAFNOSUPPORT, EBADF, EOPNOTSUPP, EPROTONOSUPPORT
from .ipv4.inet_sock import inet_sock
from .ipv4.ip import IPPROTO_TCP, IPPROTO_UDP
from .ipv4.tcp_sock import SOL_TCP, TCP_CORK, TCP_NODELAY
from .ipv4.utils import in_ntoa
from .netfilter import netfilter_init

__all__ = ["AF_INET", "SOCK_STREAM", "SOCK_DGRAM", "IPPROTO_TCP", "IPPROTO_UDP", "SOL_SOCKET", "SOL_TCP",
           "SO_SNDBUF", "SO_RCVBUF", "TCP_NODELAY", "TCP_CORK", "MSG_OOB", "MSG_DONTWAIT", "MSG_EOR", "MSG_MORE",
           "O_NONBLOCK", "socket_struct", "SocketTable", "sock_init", "register_socket_type",
           "sock_of", "socket", "bind", "listen", "accept", "connect", "send", "sendto", "recv", "close",
           "shutdown", "setsockopt", "getsockname", "getpeername", "set_nonblocking"]

AF_INET = 2
SOCK_STREAM = 1
SOCK_DGRAM = 2
O_NONBLOCK = 0o4000
# send flags (include/linux/socket.h)
MSG_OOB = 0x1
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_MORE = 0x8000
# socket-level options (include/uapi/asm-generic/socket.h)
SOL_SOCKET = 1
SO_SNDBUF = 7
SO_RCVBUF = 8


class socket_struct:
    """``struct socket`` + its ``struct file``: the fd, the protocol sock, its ops, O_NONBLOCK."""

    __slots__ = ("fd", "family", "type", "protocol", "sk", "ops", "nonblock")

    def __init__(self, family: int, type_: int, protocol: int, sk, ops):
        self.fd = -1
        self.family = family
        self.type = type_
        self.protocol = protocol
        self.sk = sk
        self.ops = ops
        self.nonblock = False

    def __repr__(self) -> str:
        return f"<socket fd={self.fd} family={self.family} type={self.type} sk={self.sk!r}>"


class SocketTable:
    """fd -> socket of one host, and the socket types it can create."""

    def __init__(self):
        self.files: dict[int, socket_struct] = {}
        self.types: dict[tuple[int, int], object] = {}
        self.next_fd = 3   # 0, 1, 2 are the standard streams
        self.syscalls: dict[str, int] = {}

    def install_fd(self, sock: socket_struct) -> int:
        fd = self.next_fd
        while fd in self.files:
            fd += 1
        self.next_fd = fd + 1
        sock.fd = fd
        self.files[fd] = sock
        return fd


def sock_init(net) -> None:
    """``sock_init``: the fd table of ``net`` (no socket types yet), then ``netfilter_init``."""
    net.socket_table = SocketTable()
    netfilter_init(net)


def register_socket_type(net, family: int, type_: int, create) -> None:
    """``create(net, protocol) -> (sk, ops)`` makes the sockets of ``(family, type_)``."""
    net.socket_table.types[(family, type_)] = create


def sock_of(net, fd: int) -> socket_struct | None:
    """The socket behind ``fd`` (None if there is none)."""
    return net.socket_table.files.get(fd)


def _enter(net, name: str) -> None:
    table = net.socket_table
    table.syscalls[name] = table.syscalls.get(name, 0) + 1
    cputime.charge(net, "syscall")


def _run(result):
    """Generator: the value of an ops method that may or may not be a generator."""
    if inspect.isgenerator(result):
        result = yield from result
    return result


def _op(sock, name: str):
    return getattr(sock.ops, name, None)


# --- the system calls -----------------------------------------------------------------------------
def socket(net, family: int, type_: int, protocol: int = 0):
    """Generator: a new socket's fd, or -errno."""
    _enter(net, "socket")
    table = net.socket_table
    create = table.types.get((family, type_))
    if create is None:
        return -EAFNOSUPPORT if family != AF_INET else -EPROTONOSUPPORT
    made = yield from _run(create(net, protocol))
    if isinstance(made, int):
        return made
    sk, ops = made
    return table.install_fd(socket_struct(family, type_, protocol, sk, ops))


def bind(net, fd: int, addr):
    """Generator: bind to ``(host, port)``; 0 or -errno."""
    _enter(net, "bind")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "bind")
    if fn is None:
        return -EOPNOTSUPP
    return (yield from _run(fn(sock, addr)))


def listen(net, fd: int, backlog: int = 128):
    _enter(net, "listen")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "listen")
    if fn is None:
        return -EOPNOTSUPP
    return (yield from _run(fn(sock, backlog)))


def accept(net, fd: int, flags: int = 0):
    """Generator: the fd of the next established connection (blocks), or -errno."""
    _enter(net, "accept")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "accept")
    if fn is None:
        return -EOPNOTSUPP
    if sock.nonblock:
        flags |= MSG_DONTWAIT
    child = yield from _run(fn(sock, flags))
    if isinstance(child, int):
        return child
    new = socket_struct(sock.family, sock.type, sock.protocol, child, sock.ops)
    return net.socket_table.install_fd(new)


def connect(net, fd: int, addr, flags: int = 0):
    """Generator: connect to ``(host, port)`` (blocks until established); 0 or -errno."""
    _enter(net, "connect")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "connect")
    if fn is None:
        return -EOPNOTSUPP
    if sock.nonblock:
        flags |= MSG_DONTWAIT
    return (yield from _run(fn(sock, addr, flags)))


def sendto(net, fd: int, data, flags: int = 0, addr=None):
    """Generator: ``sendto`` → ``sock_sendmsg`` → ``ops.sendmsg``; bytes accepted or -errno."""
    _enter(net, "sendto")
    cputime.charge(net, "sock_sendmsg")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "sendmsg")
    if fn is None:
        return -EOPNOTSUPP
    if sock.nonblock:
        flags |= MSG_DONTWAIT
    return (yield from _run(fn(sock, data, flags, addr)))


def send(net, fd: int, data, flags: int = 0):
    """Generator: ``send(fd, buf, len, flags)`` = ``sendto(..., NULL, 0)``."""
    return (yield from sendto(net, fd, data, flags, None))


def recv(net, fd: int, n: int, flags: int = 0):
    """Generator: up to ``n`` bytes (b"" at end of stream), or -errno."""
    _enter(net, "recv")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "recvmsg")
    if fn is None:
        return -EOPNOTSUPP
    if sock.nonblock:
        flags |= MSG_DONTWAIT
    return (yield from _run(fn(sock, n, flags)))


def shutdown(net, fd: int, how: int):
    _enter(net, "shutdown")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "shutdown")
    if fn is None:
        return -EOPNOTSUPP
    return (yield from _run(fn(sock, how)))


def close(net, fd: int):
    """Generator: release the fd; TCP sends FIN after queued data and returns at once."""
    _enter(net, "close")
    table = net.socket_table
    sock = table.files.pop(fd, None)
    if sock is None:
        return -EBADF
    fn = _op(sock, "release")
    if fn is None:
        return 0
    return (yield from _run(fn(sock)))


def setsockopt(net, fd: int, level: int, optname: int, value):
    _enter(net, "setsockopt")
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    fn = _op(sock, "setsockopt")
    if fn is None:
        return -EOPNOTSUPP
    return (yield from _run(fn(sock, level, optname, value)))


def set_nonblocking(net, fd: int, on: bool = True) -> int:
    """``fcntl(fd, F_SETFL, O_NONBLOCK)`` (plain call)."""
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    sock.nonblock = bool(on)
    return 0


def getsockname(net, fd: int):
    """``(addr, port)`` of the local end (plain call), or -EBADF."""
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    sk = sock.sk
    if not isinstance(sk, inet_sock):
        return -EOPNOTSUPP
    return in_ntoa(sk.inet_saddr), sk.inet_sport


def getpeername(net, fd: int):
    sock = sock_of(net, fd)
    if sock is None:
        return -EBADF
    sk = sock.sk
    if not isinstance(sk, inet_sock):
        return -EOPNOTSUPP
    return in_ntoa(sk.inet_daddr), sk.inet_dport
