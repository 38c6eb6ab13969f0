"""The socket system calls: fd table, proto_ops dispatch, errors, options, the UDP hook, CPU context."""
from sim.engine import US
from stack import socket as so
from stack.core.netdevice import NetDevice
from stack.ipv4 import iproute2
from stack.ipv4.tcp_sock import SOCK_SNDBUF_LOCK, TCP_NAGLE_OFF
from stack.ipv4.utils import in_aton

from tests.stack.harness import HOST, establish, make_net, run_for, task


def _run(net, gen, comm="app"):
    proc = task(net, gen, comm=comm)
    run_for(net, 50 * US)
    assert proc.triggered
    return proc.value


def test_fds_start_at_3_and_unknown_fds_are_ebadf():
    net, fake = make_net()

    def prog():
        a = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        b = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        bad = yield from so.send(net, 99, b"x")
        c = yield from so.close(net, a)
        again = yield from so.close(net, a)
        return a, b, bad, c, again

    assert _run(net, prog()) == (3, 4, -so.EBADF, 0, -so.EBADF)
    assert net.socket_table.syscalls["socket"] == 2


def test_sock_dgram_needs_a_registered_udp_and_uses_the_hook():
    net, fake = make_net()
    del net.socket_table.types[(so.AF_INET, so.SOCK_DGRAM)]   # as before inet_init registers UDP

    def prog():
        return (yield from so.socket(net, so.AF_INET, so.SOCK_DGRAM))

    assert _run(net, prog()) == -so.EPROTONOSUPPORT
    calls = []

    class UdpOps:
        @staticmethod
        def bind(sock, addr):
            calls.append(("bind", addr))
            return 0

        @staticmethod
        def sendmsg(sock, data, flags, addr):
            calls.append(("sendmsg", bytes(data), addr))
            yield 0
            return len(data)

    so.register_socket_type(net, so.AF_INET, so.SOCK_DGRAM, lambda net, proto: (object(), UdpOps))

    def prog2():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_DGRAM)
        r1 = yield from so.bind(net, fd, (HOST, 53))
        r2 = yield from so.sendto(net, fd, b"hello", 0, ("10.0.0.2", 53))
        r3 = yield from so.listen(net, fd, 1)
        return fd, r1, r2, r3

    fd, r1, r2, r3 = _run(net, prog2())
    assert (r1, r2, r3) == (0, 5, -so.EOPNOTSUPP)
    assert calls == [("bind", (HOST, 53)), ("sendmsg", b"hello", ("10.0.0.2", 53))]


def test_bind_conflict_and_ephemeral_port():
    net, fake = make_net()

    def prog():
        a = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        b = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        c = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        r1 = yield from so.bind(net, a, (HOST, 80))
        r2 = yield from so.bind(net, b, (HOST, 80))
        r3 = yield from so.bind(net, c, (HOST, 0))
        return r1, r2, r3, so.getsockname(net, c)

    r1, r2, r3, name = _run(net, prog())
    assert (r1, r2, r3) == (0, -98, 0)                        # EADDRINUSE
    assert name[0] == HOST and 32768 <= name[1] <= 60999


def test_setsockopt_so_sndbuf_doubles_and_locks_and_tcp_nodelay():
    net, fake = make_net()

    def prog():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        r1 = yield from so.setsockopt(net, fd, so.SOL_SOCKET, so.SO_SNDBUF, 50_000)
        r2 = yield from so.setsockopt(net, fd, so.SOL_TCP, so.TCP_NODELAY, 1)
        r3 = yield from so.setsockopt(net, fd, so.SOL_SOCKET, so.SO_SNDBUF, 10 << 20)
        r4 = yield from so.setsockopt(net, fd, 99, 1, 1)
        return fd, (r1, r2, r3, r4)

    fd, rcs = _run(net, prog())
    assert rcs == (0, 0, 0, -92)                              # ENOPROTOOPT
    sk = so.sock_of(net, fd).sk
    assert sk.sk_sndbuf == 2 * 212992                         # capped at wmem_max, doubled
    assert sk.sk_userlocks & SOCK_SNDBUF_LOCK and sk.nonagle & TCP_NAGLE_OFF


def test_accepted_socket_inherits_listener_options():
    net, fake = make_net()

    def setup(fd):
        yield from so.setsockopt(net, fd, so.SOL_TCP, so.TCP_NODELAY, 1)
        yield from so.setsockopt(net, fd, so.SOL_SOCKET, so.SO_SNDBUF, 30_000)

    sk, fd, synack, peer = establish(net, fake, setup=setup)
    assert sk.nonagle & TCP_NAGLE_OFF and sk.sk_sndbuf == 60_000  # locked: no autotuning


def test_nonblocking_accept_and_send_return_eagain():
    net, fake = make_net()

    def prog():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        yield from so.bind(net, fd, (HOST, 7))
        yield from so.listen(net, fd, 4)
        so.set_nonblocking(net, fd)
        return (yield from so.accept(net, fd))

    assert _run(net, prog()) == -11


def test_an_unbound_connect_takes_the_routes_source_address():
    net, fake = make_net()

    def prog():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        return (yield from so.connect(net, fd, ("10.0.0.2", 80)))

    assert _run(net, prog()) == -101                          # ENETUNREACH: no route to the peer
    dev = NetDevice(net, "eth0")
    iproute2.ip_addr_add(net, dev, f"{HOST}/24")              # the connected route 10.0.0.0/24, src HOST
    out = {}

    def prog2():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        so.set_nonblocking(net, fd)
        out["fd"] = fd
        return (yield from so.connect(net, fd, ("10.0.0.2", 80)))

    assert _run(net, prog2()) == -115                         # EINPROGRESS
    assert fake.sent[-1].flags == 0x02
    assert so.sock_of(net, out["fd"]).sk.inet_saddr == in_aton(HOST)


def test_syscalls_run_in_the_task_context():
    net, fake = make_net()

    def prog():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        yield from so.close(net, fd)

    _run(net, prog(), comm="myprog")
    assert net.host.cpus[0].account["task:myprog"] >= 2 * net.costs["syscall"]
