"""Scenarios for ``igbsim run``: programs on our host, traffic to the link partner, the measured report.

* ``article`` — the reference article's program: a server on 10.0.0.1:5001
  accepts one connection (the link partner connects) and ``send()``s
  ``--bytes`` in ``--write-size`` chunks, then closes;
* ``bulk`` — the same with a large transfer (default 50 MB), for goodput;
* ``small-writes`` — many small ``send()``s (default 64 bytes) with TCP_NODELAY;
* ``udp`` — ``sendto()`` of datagrams (default 4000 bytes, larger than the
  MTU: IP fragments them) to the partner's port 9.

The payload is a stream of seeded random bytes (:class:`sim.run.payload.PayloadStream`:
any range on demand, never the whole in memory); the partner's in-order
bytes (UDP: its datagrams) are checked against it as they arrive, and
neither the wire nor the partner keeps the frames, so a run's memory does
not grow with its size.

Goodput is measured at the partner, from the exact simulated time of each
in-order delivery (TCP: each run of bytes its receive path takes in order;
UDP: each datagram): from the delivery that brings the count to 10% of the
bytes sent to the one that brings it to 90%, the bytes delivered after the
first over the time between them. With fewer than
:data:`MIN_WINDOW_DELIVERIES` deliveries in that window — or when 90% never
arrived — the report prints ``n/a`` and why.
"""
from __future__ import annotations

import sys
import time

from sim.engine import MS, S, SeededPolicy
from sim.assembly.system import HOST_IP, PARTNER_IP, IgbSystem
from driver.igb.ethtool import igb_ring_count
from .interrupt import stop_at_step_boundaries
from .outputs import attach
from .payload import DatagramCheck, PayloadStream, StreamCheck
from .report import RunResult, render
from stack import socket as sk

__all__ = ["run_scenario", "DEFAULTS", "Transfer"]

SERVER_PORT = 5001
UDP_PORT = 9
#: scenario -> (default bytes, default write size)
DEFAULTS = {"article": (1_000_000, 65536), "bulk": (50_000_000, 65536),
            "small-writes": (65536, 64), "udp": (160_000, 4000)}
#: Fewer deliveries than this between the 10% and 90% marks: no goodput figure. Each end of the window
#: is one delivery, so with fewer than 20 in between one irregular delivery (a burst, a stall) moves the
#: figure by more than 5%; a steady stream is measured exactly either way.
MIN_WINDOW_DELIVERIES = 20
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
    """What the program sent and what the partner got: counters, the delivery check, the goodput window.

    :meth:`on_data` is the partner's delivery callback (bytes, simulated
    time). ``check`` (a :class:`StreamCheck` or :class:`DatagramCheck`) sees
    every delivered byte; ``busy`` (a function: each CPU's busy time so far)
    is read at the two ends of the goodput window. State is O(1): no log of
    deliveries is kept.
    """

    def __init__(self, total: int, check=None, busy=None):
        self.total = total
        self.app_bytes = 0
        self.program_done = False
        self.errors: list[str] = []
        self.check = check
        self._busy = busy
        self.delivered = 0
        self.deliveries = 0
        #: (time_ps, bytes delivered, deliveries so far, CPU busy ps) at the 10% and 90% marks.
        self.mark10: tuple[int, int, int, list[int] | None] | None = None
        self.mark90: tuple[int, int, int, list[int] | None] | None = None

    def on_data(self, data: bytes, time_ps: int) -> None:
        """``data`` delivered in order at ``time_ps``."""
        if self.check is not None:
            self.check.feed(data)
        self.delivered += len(data)
        self.deliveries += 1
        if self.mark10 is None and 10 * self.delivered >= self.total:
            self.mark10 = self._mark(time_ps)
        if self.mark90 is None and 10 * self.delivered >= 9 * self.total:
            self.mark90 = self._mark(time_ps)

    def _mark(self, time_ps: int):
        return time_ps, self.delivered, self.deliveries, self._busy() if self._busy is not None else None

    def goodput(self) -> tuple[float | None, str]:
        """(bits per second, "") over the 10–90% window, or (None, why there is no figure)."""
        if self.mark90 is None:
            return None, ("the 90% mark was not reached (the window runs from 10% to 90% of the bytes sent; "
                          f"{self.delivered} of {self.total} delivered)")
        (t10, b10, n10, _), (t90, b90, n90, _) = self.mark10, self.mark90
        if n90 - n10 < MIN_WINDOW_DELIVERIES or t90 <= t10:
            return None, (f"{n90 - n10} deliveries between 10% and 90% of the bytes, fewer than "
                          f"{MIN_WINDOW_DELIVERIES}: too few for a steady state")
        return (b90 - b10) * 8 / ((t90 - t10) / 1e12), ""

    def window(self) -> tuple[int, int, int, int]:
        """(t10, b10, t90, b90): the deliveries that reached 10% and 90% of the bytes; zeros before 90%."""
        if self.mark10 is None or self.mark90 is None:
            return 0, 0, 0, 0
        return self.mark10[0], self.mark10[1], self.mark90[0], self.mark90[1]


def _payload(seed: int, n: int) -> PayloadStream:
    """The ``n`` payload bytes of seed ``seed``, as a stream."""
    return PayloadStream(seed, n)


def _tcp_server(net, data, write_size: int, nodelay: bool, xfer: Transfer):
    """The article's server: accept one connection, send everything (bytes or a PayloadStream), close."""
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
    view = memoryview(data) if isinstance(data, (bytes, bytearray)) else data
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


def _udp_client(net, data, write_size: int, xfer: Transfer):
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
    return system.engine.now - system.wire.last_arrive_a_to_b_ps >= span_ps


def _busy_ps(host) -> list[int]:
    """Each CPU's time spent so far on anything but idling."""
    host.sched.flush_accounts()
    return [sum(cpu.account.values()) - cpu.account.get("idle", 0) for cpu in host.cpus]


def _progress_printer(xfer: Transfer, force: bool, quiet: bool):
    if not quiet and sys.stderr.isatty():   # a terminal: a bar with percentage and ETA instead of lines
        from .progress import ProgressBar  # (rich, loaded only here)
        return ProgressBar(lambda: xfer.delivered, xfer.total, force)
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
        print(f"igbsim: {now_ps / 1e9:9.3f} ms simulated, {xfer.delivered:,} of {xfer.total:,} bytes delivered",
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
    # a run is not replayed: its seeded choices are not logged (the log would grow with the transfer)
    system = IgbSystem(opts.nic, ordering=opts.ordering, ncpus=opts.cpus,
                       policy=SeededPolicy(opts.seed, record=False), ring_size=igb_ring_count(opts.ring_size),
                       itr=opts.itr, mtu=opts.mtu, speed_mbps=opts.speed, kernel_version=opts.kernel, stack=True,
                       partner=True, pcap=opts.pcap, wire_log=False,
                       partner_options={"keep_data": False, "keep_udp": False})
    outputs = attach(system, opts, total=total, write_size=write_size)   # --json, --perfetto, --vcd, --plot
    wall0 = time.monotonic()
    system.bring_up()
    data = _payload(opts.seed, total)
    check = (DatagramCheck(_payload(opts.seed, total), write_size) if opts.scenario == "udp"
             else StreamCheck(_payload(opts.seed, total)))
    xfer = Transfer(total, check, busy=lambda: _busy_ps(system.host))
    net = system.net
    if opts.scenario == "udp":
        port = UDP_PORT
        system.partner.udp_sinks[UDP_PORT] = lambda d: xfer.on_data(d.payload, d.time_ps)
        system.task(_udp_client(net, data, write_size, xfer), cpu=0, comm="udp-client")
    else:
        port = SERVER_PORT
        system.task(_tcp_server(net, data, write_size, opts.scenario == "small-writes", xfer), cpu=0,
                comm="server")
        conn = system.partner.connect(HOST_IP, SERVER_PORT, at_ps=system.engine.now + 1 * MS)
        conn.on_deliver = xfer.on_data
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
    result = _result(system, opts, xfer, port, finished, wall, stopped=partial)
    result.partial, result.write_errors = partial, write_errors
    if partial:   # not the time limit: the user stopped it
        result.extra.pop("warning", None)
        result.ok = False
    result.config = _config(system, opts, total, write_size)
    try:
        outputs.finish(result)   # written for a partial run too, with what ran
    except OSError as e:         # the report still goes out; the run exits 1 (cli.main)
        result.write_errors.append(f"{e.filename or 'an output file'}: {e.strerror or e}")
    return result, render(result)


def _config(system: IgbSystem, opts, total: int, write_size: int) -> dict:
    """What the run was asked to do, and what igb made of the ring size (the report's first lines)."""
    return {"scenario": opts.scenario, "nic": opts.nic, "kernel": opts.kernel, "ordering": opts.ordering,
            "seed": opts.seed, "bytes": total, "write_size": write_size, "mtu": opts.mtu,
            "speed_mbps": opts.speed, "ring_size_asked": opts.ring_size,
            "ring_size": system.adapter.tx_ring_count, "itr": opts.itr, "cpus": opts.cpus}


def _delivery_check(xfer: Transfer, udp: bool) -> tuple[bool, str]:
    """(the bytes are right, the report's line): exact, a correct prefix, datagrams lost, or where they differ."""
    check, total = xfer.check, xfer.total
    if check.complete:
        return True, "the partner received exactly the bytes sent, in order"
    if not check.ok:
        what = "datagram bytes" if udp else "bytes"
        return False, (f"MISMATCH: the partner received {check.received} of {total} {what}; they differ from "
                       f"those sent at byte {check.first_difference}")
    if udp:
        return True, (f"{check.received} of {total} bytes delivered, every datagram intact and in order "
                      f"({check.lost} lost on the way, see above)")
    return True, f"the partner received {check.received} of {total} bytes, a correct prefix"


def _result(system: IgbSystem, opts, xfer: Transfer, port: int, finished: bool, wall: float,
            stopped: str = "") -> RunResult:
    udp = opts.scenario == "udp"
    goodput, why = xfer.goodput()
    delivered = _delivered(system, opts.scenario)
    extra = {}
    if udp:
        write_size = opts.write_size or DEFAULTS["udp"][1]
        sent = -(-xfer.app_bytes // write_size)
        arp = system.net.ipv4.arp_tbl.stats
        qdrops = sum(txq.qdisc.stats()["drops"] for txq in system.netdev._tx if txq.qdisc is not None)
        extra["datagrams"] = (f"{xfer.check.datagrams} of {sent} delivered (UDP does not resend; ARP queue drops "
                              f"{arp['unres_discards']}, qdisc drops {qdrops})")
    right, line = _delivery_check(xfer, udp)
    if right and not finished:
        line += ": the run was interrupted" if stopped else ": the transfer did not finish"
    extra["delivery check"] = line
    if not finished:
        extra["warning"] = "the transfer did not finish within the time limit"
    if xfer.errors:
        extra["errors"] = "; ".join(xfer.errors)
    t10, _, t90, _ = xfer.window()
    if goodput is not None and xfer.mark10[3] is not None:
        busy = [(b - a) / (t90 - t10) for a, b in zip(xfer.mark10[3], xfer.mark90[3])]
        extra["CPU busy in the steady state"] = ", ".join(f"cpu{i} {100 * f:.1f}%" for i, f in enumerate(busy))
    extra.update(_nic_lines(system))
    window = (t10, t90) if goodput is not None else (0, 0)
    deliveries = xfer.mark90[2] - xfer.mark10[2] if goodput is not None else 0
    return RunResult(scenario=opts.scenario, sim_time_ps=system.engine.now, wall_s=wall, net=system.net,
                     host=system.host, nic=system.nic, app_bytes=xfer.app_bytes, delivered_bytes=delivered,
                     goodput_bps=goodput or 0.0, goodput_window=window, extra=extra,
                     ok=right and finished and not xfer.errors, goodput_na=why, goodput_deliveries=deliveries)


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
