"""Scenarios for ``igbsim run``: programs on our host, traffic to the link partner, the measured report.

* ``article`` — the reference article's program: a server on 10.0.0.1:5001
  accepts one connection (the link partner connects) and ``send()``s
  ``--bytes`` in ``--write-size`` chunks, then closes;
* ``bulk`` — the same with a large transfer (default 50 MB), for goodput;
* ``small-writes`` — many small ``send()``s (default 64 bytes) with TCP_NODELAY;
* ``udp`` — ``sendto()`` of datagrams (default 4000 bytes, larger than the
  MTU: IP fragments them) to the partner's port 9.

The payload is seeded random bytes; the partner's in-order byte stream is
compared with it. Goodput is measured by the partner, over the steady
state: from the time 10% of the bytes had arrived to the time 90% had.
"""
from __future__ import annotations

import random
import sys
import time

from sim.engine import MS, S, US
from sim.assembly.system import HOST_IP, PARTNER_IP, IgbSystem
from driver.igb.ethtool import igb_ring_count
from .interrupt import stop_at_step_boundaries
from .outputs import attach
from .report import RunResult, render
from stack import socket as sk

__all__ = ["run_scenario", "DEFAULTS", "Transfer"]

SERVER_PORT = 5001
UDP_PORT = 9
#: scenario -> (default bytes, default write size)
DEFAULTS = {"article": (1_000_000, 65536), "bulk": (50_000_000, 65536),
            "small-writes": (65536, 64), "udp": (160_000, 4000)}
_SAMPLE_PS = 100 * US
#: User-space time of the program per send()/sendto() call: its loop and the libc wrapper
#: (UNCONFIRMED order of magnitude; the programs do no other work).
USER_PS_PER_CALL = 50_000


def _user(net, comm: str) -> None:
    """Back in user space after a system call: a reschedule point, then the program's own time
    until its next call, as ``user:<comm>`` (top's us)."""
    ctx = net.ctx
    ctx.run.cond_resched()
    ctx.user_time(comm, USER_PS_PER_CALL)


class Transfer:
    """What the program sent and what the partner got, sampled over time."""

    def __init__(self, total: int):
        self.total = total
        self.app_bytes = 0
        self.samples: list[tuple[int, int]] = []   # (time_ps, bytes delivered)
        #: time_ps of a sample -> each CPU's busy time (ps, everything but idle) at that moment
        self.busy: dict[int, list[int]] = {}
        self.program_done = False
        self.errors: list[str] = []

    def window(self) -> tuple[int, int, int, int]:
        """(t10, b10, t90, b90): the first samples at or past 10% and 90% of what was delivered."""
        delivered = self.samples[-1][1] if self.samples else 0
        lo, hi = 0.1 * delivered, 0.9 * delivered
        t10 = b10 = t90 = b90 = None
        for t, b in self.samples:
            if t10 is None and b >= lo:
                t10, b10 = t, b
            if b >= hi:
                t90, b90 = t, b
                break
        if t10 is None or t90 is None or t90 <= t10:
            return 0, 0, 0, 0
        return t10, b10, t90, b90


def _payload(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _tcp_server(net, data: bytes, write_size: int, nodelay: bool, xfer: Transfer):
    """The article's server: accept one connection, send everything, close."""
    fd = yield from sk.socket(net, sk.AF_INET, sk.SOCK_STREAM)
    yield from sk.bind(net, fd, (HOST_IP, SERVER_PORT))
    yield from sk.listen(net, fd, 16)
    cfd = yield from sk.accept(net, fd)
    if cfd < 0:
        xfer.errors.append(f"accept: {cfd}")
        xfer.program_done = True
        return
    if nodelay:
        yield from sk.setsockopt(net, cfd, sk.SOL_TCP, sk.TCP_NODELAY, 1)
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        _user(net, "server")
        n = yield from sk.send(net, cfd, view[pos:pos + write_size])
        if n < 0:
            xfer.errors.append(f"send: {n}")
            break
        pos += n
        xfer.app_bytes = pos
    yield from sk.close(net, cfd)
    yield from sk.close(net, fd)
    xfer.program_done = True


def _udp_client(net, data: bytes, write_size: int, xfer: Transfer):
    """Datagrams of ``write_size`` to the partner's port 9."""
    fd = yield from sk.socket(net, sk.AF_INET, sk.SOCK_DGRAM)
    for pos in range(0, len(data), write_size):
        chunk = data[pos:pos + write_size]
        _user(net, "udp-client")
        n = yield from sk.sendto(net, fd, chunk, 0, (PARTNER_IP, UDP_PORT))
        if n < 0:
            xfer.errors.append(f"sendto: {n}")
            break
        xfer.app_bytes += n
    yield from sk.close(net, fd)
    xfer.program_done = True


def _delivered(system: IgbSystem, scenario: str) -> int:
    """Payload bytes the partner has received in order (its TCP connection, or UDP port 9)."""
    if scenario == "udp":
        return system.partner.received_bytes(UDP_PORT)
    conn = system.partner.connection(SERVER_PORT)
    return conn.bytes_received if conn is not None else 0


def _quiet(system: IgbSystem, span_ps: int) -> bool:
    """No frame has crossed the wire for ``span_ps``."""
    log = system.wire.a_to_b
    last = log[-1].arrive_ps if log else 0
    return system.engine.now - last >= span_ps


def _sampler(system: IgbSystem, xfer: Transfer, scenario: str):
    """Sample the partner's delivered byte count every 100 µs (for the goodput window)."""
    engine = system.engine
    last = -1
    while True:
        b = _delivered(system, scenario)
        if b != last:
            xfer.samples.append((engine.now, b))
            xfer.busy[engine.now] = _busy_ps(system.host)
            last = b
        if b >= xfer.total:
            return
        yield _SAMPLE_PS


def _busy_ps(host) -> list[int]:
    """Each CPU's time spent so far on anything but idling."""
    host.sched.flush_accounts()
    return [sum(cpu.account.values()) - cpu.account.get("idle", 0) for cpu in host.cpus]


def _progress_printer(xfer: Transfer, force: bool, quiet: bool):
    if not quiet and sys.stderr.isatty():   # a terminal: a bar with percentage and ETA instead of lines
        from .progress import ProgressBar  # (rich, loaded only here)
        return ProgressBar(lambda: xfer.samples[-1][1] if xfer.samples else 0, xfer.total, force)
    start = time.monotonic()
    last = [start]

    def show(now_ps: int) -> None:
        if quiet:
            return
        wall = time.monotonic()
        if not force and wall - start < 2.0:
            return
        if wall - last[0] < 1.0 and not force:
            return
        last[0] = wall
        done = xfer.samples[-1][1] if xfer.samples else 0
        print(f"igbsim: {now_ps / 1e9:9.3f} ms simulated, {done:,} of {xfer.total:,} bytes delivered",
              file=sys.stderr, flush=True)
    return show


def run_scenario(opts):
    """Run ``opts.scenario`` with the CLI's options; (RunResult, report text).

    The ring size goes through igb's own rounding (``ethtool -G``: :func:`igb_ring_count`). A Ctrl-C
    (KeyboardInterrupt) during the run stops it: the report of what ran so far is built, marked
    partial (``RunResult.partial``), and the pcap is written. A pcap that cannot be written is
    reported in ``RunResult.write_errors`` after the report is built.
    """
    total, write_default = DEFAULTS[opts.scenario]
    total = opts.bytes if opts.bytes is not None else total
    write_size = opts.write_size or write_default
    system = IgbSystem(opts.nic, ordering=opts.ordering, ncpus=opts.cpus, seed=opts.seed,
                       ring_size=igb_ring_count(opts.ring_size), itr=opts.itr, mtu=opts.mtu,
                       speed_mbps=opts.speed, kernel_version=opts.kernel, stack=True, partner=True,
                       pcap=opts.pcap)
    outputs = attach(system, opts, total=total, write_size=write_size)   # --json, --perfetto, --vcd, --plot
    wall0 = time.monotonic()
    system.bring_up()
    data = _payload(opts.seed, total)
    xfer = Transfer(total)
    net = system.net
    if opts.scenario == "udp":
        port = UDP_PORT
        system.task(_udp_client(net, data, write_size, xfer), cpu=0, comm="udp-client")
    else:
        port = SERVER_PORT
        system.task(_tcp_server(net, data, write_size, opts.scenario == "small-writes", xfer), cpu=0,
                comm="server")
        system.partner.connect(HOST_IP, SERVER_PORT, at_ps=system.engine.now + 1 * MS)
    system.engine.spawn(_sampler(system, xfer, opts.scenario), "goodput-sampler")
    wire_s = total * 8 * 1.2 / (opts.speed * 1e6)
    limit = system.engine.now + int((wire_s * 4 + 5) * S)
    show = _progress_printer(xfer, opts.progress, opts.quiet)
    if opts.scenario == "udp":   # datagrams lost on the way are not resent: stop once the link is quiet
        done = lambda: (xfer.program_done  # noqa: E731
                        and (_delivered(system, "udp") >= total or _quiet(system, 50 * MS)))
    else:
        done = lambda: xfer.program_done and _delivered(system, opts.scenario) >= total  # noqa: E731
    partial = ""
    with stop_at_step_boundaries() as ctrl_c:
        def progress(now_ps: int) -> None:
            ctrl_c()
            show(now_ps)
        try:
            finished = system.run_until(done, limit, step_ps=1 * MS, progress=progress)
            getattr(show, "close", lambda: None)()   # the terminal's progress bar goes before the report
            system.engine.run(system.engine.now + 1 * MS)     # let the last ACKs and completions land
        except KeyboardInterrupt:
            getattr(show, "close", lambda: None)()
            finished = False
            partial = f"interrupted at {system.engine.now / 1e9:.3f} ms simulated"
    write_errors = []
    try:
        system.close_capture()
    except OSError as e:
        write_errors.append(f"--pcap {opts.pcap}: {e.strerror or e}")
    wall = time.monotonic() - wall0
    result = _result(system, opts, xfer, port, data, finished, wall)
    result.partial, result.write_errors = partial, write_errors
    if partial:   # not the time limit: the user stopped it
        result.extra.pop("warning", None)
    result.config = _config(system, opts, total, write_size)
    outputs.finish(result)   # written for a partial run too, with what ran
    return result, render(result)


def _config(system: IgbSystem, opts, total: int, write_size: int) -> dict:
    """What the run was asked to do, and what igb made of the ring size (the report's first lines)."""
    return {"scenario": opts.scenario, "nic": opts.nic, "kernel": opts.kernel, "ordering": opts.ordering,
            "seed": opts.seed, "bytes": total, "write_size": write_size, "mtu": opts.mtu,
            "speed_mbps": opts.speed, "ring_size_asked": opts.ring_size,
            "ring_size": system.adapter.tx_ring_count, "itr": opts.itr, "cpus": opts.cpus}


def _result(system: IgbSystem, opts, xfer: Transfer, port: int, data: bytes, finished: bool, wall: float) -> RunResult:
    t10, b10, t90, b90 = xfer.window()
    goodput = (b90 - b10) * 8 / ((t90 - t10) / 1e12) if t90 > t10 else 0.0
    delivered = _delivered(system, opts.scenario)
    extra = {}
    if opts.scenario == "udp":
        dgrams = system.partner.udp_datagrams(port)
        got = b"".join(d.payload for d in dgrams)
        sent = -(-xfer.app_bytes // (opts.write_size or DEFAULTS["udp"][1]))
        arp = system.net.ipv4.arp_tbl.stats
        qdrops = sum(txq.qdisc.stats()["drops"] for txq in system.netdev._tx if txq.qdisc is not None)
        extra["datagrams"] = (f"{len(dgrams)} of {sent} delivered (UDP does not resend; ARP queue drops "
                              f"{arp['unres_discards']}, qdisc drops {qdrops})")
    else:
        conn = system.partner.connection(SERVER_PORT)
        got = bytes(conn.data) if conn is not None and conn.data is not None else b""
    if got == data:
        extra["delivery check"] = "the partner received exactly the bytes sent, in order"
    elif opts.scenario == "udp" and data.find(got[:64]) >= 0 and len(got) < len(data):
        extra["delivery check"] = f"{len(got)} of {len(data)} bytes delivered (datagrams lost, see above)"
    else:
        extra["delivery check"] = f"MISMATCH: the partner received {len(got)} bytes that differ from those sent"
    if not finished:
        extra["warning"] = "the transfer did not finish within the time limit"
    if xfer.errors:
        extra["errors"] = "; ".join(xfer.errors)
    if t90 > t10:
        busy = [(b - a) / (t90 - t10) for a, b in zip(xfer.busy[t10], xfer.busy[t90])]
        extra["CPU busy in the steady state"] = ", ".join(f"cpu{i} {100 * f:.1f}%" for i, f in enumerate(busy))
    extra.update(_nic_lines(system))
    return RunResult(scenario=opts.scenario, sim_time_ps=system.engine.now, wall_s=wall, net=system.net,
                     host=system.host, nic=system.nic, app_bytes=xfer.app_bytes, delivered_bytes=delivered,
                     goodput_bps=goodput, goodput_window=(t10, t90), extra=extra)


def _nic_lines(system: IgbSystem) -> dict[str, str]:
    """Descriptors, doorbells, interrupts and frames: what the driver and the NIC did."""
    a = system.adapter
    rings = [r for r in a.tx_ring if r is not None]
    doorbells = system.host.site_counts.get("igb_tx_map.doorbell", 0)
    vectors = []
    for q in a.q_vector:
        n = system.kernel.irq.fired(q.msix_vector) if q.msix_vector is not None else 0
        if n:
            vectors.append(f"{q.name} {n}")
    other = system.kernel.irq.fired(a.msix_entries[0]) if a.msix_entries else 0
    wb = sum(q.counters.get("writebacks", 0) for q in system.nic.queues)
    return {
        "driver": f"{sum(r.tx_stats.packets for r in rings)} packets (TSO segments counted) completed, "
                  f"{sum(r.tx_stats.bytes for r in rings)} bytes; doorbells {doorbells}; "
                  f"queue restarts {sum(r.tx_stats.restart_queue for r in rings)}",
        "NIC": f"{system.nic.counters['frames']} frames on the wire; descriptor write-backs {wb}",
        "interrupts": (", ".join(vectors) or "none") + f"; other {other}",
        "wire": f"{system.wire.frames_a_to_b} frames to the partner, {system.wire.frames_b_to_a} back",
    }
