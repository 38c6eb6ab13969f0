"""The end-of-run report: what each layer did and what it cost, measured by the run.

Built from a finished run's counters only (nothing here is written in):

* per layer — calls, packets, bytes (``net.layer_stats``) and the CPU time
  its functions charged (``net.fn_time``, grouped by :data:`LAYERS`);
* the softirq table, as ``/proc/softirqs`` shows it, plus ksoftirqd wake-ups;
* the CPU split per CPU in ``top``'s columns (us / sy / si / hi), as
  percentages of the simulated time;
* payload copies per byte sent (``net.copy_bytes`` per copy kind, over the
  payload bytes the application handed to the kernel);
* the NIC side: descriptors written, doorbells, interrupts per vector;
* goodput: application bytes the link partner received in order, over the
  steady-state window (exact delivery times: :mod:`sim.run.scenarios`), to
  five significant digits, or ``n/a`` and why.

:attr:`RunResult.ok` is false when the delivery check failed, the transfer
did not finish or the program saw an error: ``igbsim run`` then exits 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from stack.core.cputime import cpu_split, softirq_split
from stack.core.softirq import SOFTIRQ_NAMES

from .units import human_size

__all__ = ["RunResult", "LAYERS", "render", "layer_table", "config_lines", "significant"]

#: Report rows, in stack order: (row, the layer counter(s) whose calls/packets/bytes it shows,
#: the functions whose CPU time it sums). Transmit rows first, then the receive side.
LAYERS = (
    ("socket", ("syscalls",), ("syscall", "sock_sendmsg", "copy_from_user", "release_sock", "inet_csk_accept",
                               "lock_sock", "sk_stream_wait_memory")),
    ("tcp", ("tcp",), ("tcp_sendmsg", "tcp_push", "tcp_write_xmit", "tcp_transmit_skb", "tso_fragment",
                       "tcp_close", "tcp_conn_request", "tcp_send_ack", "tcp_tasklet_func", "tcp_wfree",
                       "tcp_retransmit_skb", "tcp_write_timer")),
    ("udp", ("udp",), ("udp_sendmsg", "ip_make_skb")),
    ("ip", ("ip",), ("ip_queue_xmit", "ip_local_out", "ip_output", "ip_finish_output", "ip_fragment",
                     "ip_fragment_copy", "ip_finish_output2", "ip_route_output_key", "csum_partial")),
    ("neighbour", ("neighbour",), ("neigh_output", "neigh_resolve_output", "arp_send", "arp_solicit")),
    ("dev", ("dev_queue_xmit",), ("dev_queue_xmit", "netdev_pick_tx", "validate_xmit_skb",
                                  "dev_hard_start_xmit")),
    ("qdisc", ("qdisc_bypass", "qdisc_enqueue"), ("qdisc_enqueue", "qdisc_dequeue", "sch_direct_xmit",
                                                  "net_tx_action")),
    ("skb", (), ("skb_alloc", "skb_clone", "skb_free")),
    ("rx: dev", ("netif_rx",), ("netif_rx", "process_backlog", "netif_receive_skb")),
    ("rx: arp", ("arp",), ("arp_process",)),
    ("rx: ip", ("ip_rx",), ("ip_rcv", "ip_local_deliver", "udp_rcv")),
    ("rx: tcp", ("tcp_rx",), ("tcp_v4_rcv", "tcp_rcv_established", "tcp_ack", "tcp_clean_rtx_queue")),
)


@dataclass
class RunResult:
    """Everything a report needs from one run."""

    scenario: str
    sim_time_ps: int
    wall_s: float
    net: object
    host: object
    nic: object
    app_bytes: int                       # bytes the application handed to send()/sendto()
    delivered_bytes: int                 # bytes the link partner received in order
    goodput_bps: float                   # over the steady-state window (0.0 when there is no figure)
    goodput_window: tuple[int, int]      # (start_ps, end_ps) of that window; (0, 0) when there is no figure
    extra: dict = field(default_factory=dict)
    #: what the run was asked to do (sim.run.scenarios._config): echoed at the top of the report
    config: dict = field(default_factory=dict)
    #: why the run stopped early ("interrupted at … ms simulated"), or "" for a complete run
    partial: str = ""
    #: outputs that could not be written (one line each)
    write_errors: list = field(default_factory=list)
    ok: bool = True                      # delivered right and finished: the exit status is 0
    goodput_na: str = ""                 # why there is no goodput figure
    goodput_deliveries: int = 0          # deliveries in the window


def significant(x: float, digits: int = 5) -> str:
    """``x`` with ``digits`` significant digits, fixed point: 941.48, 94.148, 9.4148."""
    if x == 0:
        return "0"
    whole = len(str(int(abs(x)))) if abs(x) >= 1 else 0
    if abs(x) < 1:
        lead = 0
        y = abs(x)
        while y < 0.1:
            y *= 10
            lead += 1
        return f"{x:.{digits + lead}f}"
    return f"{x:.{max(0, digits - whole)}f}"


def layer_table(net) -> list[tuple[str, int, int, int, int]]:
    """Rows (layer, calls, packets, bytes, cpu_ps) in stack order; functions no row names go under "other"."""
    stats = dict(net.layer_stats)
    stats["syscalls"] = {"calls": sum(net.socket_table.syscalls.values()), "packets": 0, "bytes": 0}
    fn_time = net.fn_time
    seen: set[str] = set()
    rows = []
    for name, counters, fns in LAYERS:
        calls = packets = nbytes = 0
        for c in counters:
            st = stats.get(c)
            if st:
                calls += st["calls"]
                packets += st["packets"]
                nbytes += st["bytes"]
        ps = sum(fn_time.get(f, 0) for f in fns)
        seen.update(fns)
        if calls or ps:
            rows.append((name, calls, packets, nbytes, ps))
    other = sum(ps for f, ps in fn_time.items() if f not in seen)
    if other:
        rows.append(("other", 0, 0, 0, other))
    return rows


#: The transmit path, from the socket call to the driver's doorbell (stack_facts §10.1's first row).
TX_PATH_ROWS = ("socket", "tcp", "udp", "ip", "neighbour", "dev", "qdisc")


def tx_path_contexts(net) -> dict[str, int]:
    """CPU time of the transmit-path functions per execution context (``task:…`` folded to "process")."""
    fns = {f for name, _, fs in LAYERS if name in TX_PATH_ROWS for f in fs}
    out: dict[str, int] = {}
    for (fn, context), ps in net.fn_ctx_time.items():
        if fn in fns:
            where = "process" if context.startswith(("task:", "user:")) else context
            out[where] = out.get(where, 0) + ps
    return out


def _tx_path_line(net) -> str:
    ctx = tx_path_contexts(net)
    total = sum(ctx.values())
    if not total:
        return "transmit path: no work"
    parts = ", ".join(f"{where} {100.0 * ps / total:.1f}%" for where, ps in
                      sorted(ctx.items(), key=lambda kv: -kv[1]))
    return f"transmit path (socket call to driver) ran in: {parts}"


def _softirq_lines(net) -> list[str]:
    sirq = net.softirq
    lines = ["softirqs (/proc/softirqs):", " " * 12 + "".join(f"{'CPU' + str(sc.index):>12}" for sc in sirq.per_cpu)]
    for nr, name in enumerate(SOFTIRQ_NAMES):
        counts = [sc.counts[nr] for sc in sirq.per_cpu]
        if any(counts):
            lines.append(f"{name:>10}: " + "".join(f"{c:>12d}" for c in counts))
    wakeups = [sc.ksoftirqd_wakeups for sc in sirq.per_cpu]
    lines.append(f"{'ksoftirqd':>10}: " + "".join(f"{c:>12d}" for c in wakeups) + "   (wake-ups)")
    return lines


def _cpu_lines(host, sim_ps: int) -> list[str]:
    """Per CPU, from the time it actually spent: top's columns, then softirq time by vector."""
    lines = ["CPU time (% of the run, as spent; top's columns):",
             f"{'':>6}{'us':>8}{'sy':>8}{'si':>8}{'hi':>8}{'idle':>8}"]
    for i, row in enumerate(cpu_split(host)):
        pct = [100.0 * row[c] / sim_ps if sim_ps else 0.0 for c in ("us", "sy", "si", "hi", "idle")]
        lines.append(f"{'cpu' + str(i):>6}" + "".join(f"{p:8.2f}" for p in pct))
    per_vec = softirq_split(host)
    names = [n for n in SOFTIRQ_NAMES if any(n in row for row in per_vec)]
    if names:
        lines.append("softirq time by vector (% of the run):")
        lines.append(f"{'':>6}" + "".join(f"{n:>9}" for n in names))
        for i, row in enumerate(per_vec):
            lines.append(f"{'cpu' + str(i):>6}" + "".join(
                f"{100.0 * row.get(n, 0) / sim_ps if sim_ps else 0.0:9.2f}" for n in names))
    sched = host.sched
    lines.append("interrupts taken: " + ", ".join(f"cpu{r.index} {r.irqs_taken} ({r.preemptions} preempting)"
                                                  for r in sched.cpus)
                 + "; lock spinning: " + ", ".join(f"cpu{r.index} {r.spin_ps / 1e6:.1f} µs" for r in sched.cpus))
    return lines


def _itr_text(itr: int) -> str:
    return {0: "0 (off)", 1: "1 (dynamic)", 3: "3 (dynamic, conservative)"}.get(itr, f"{itr} µs")


def _bytes_text(n: int) -> str:
    """``65536`` → "65,536 bytes (64 KiB)"; no unit in brackets when none writes it exactly."""
    unit = human_size(n)
    return f"{n:,} byte{'' if n == 1 else 's'}" + ("" if unit.endswith(" B") else f" ({unit})")


def config_lines(c: dict) -> list[str]:
    """The run's configuration, as asked, and the ring size igb made of it (empty for no config)."""
    if not c:
        return []
    ring = f"TX ring {c['ring_size']} descriptors"
    if c["ring_size"] != c["ring_size_asked"]:
        ring += f" (asked {c['ring_size_asked']}; igb rounds up to a multiple of 8)"
    return [f"configuration: scenario {c['scenario']}, NIC {c['nic']}, kernel {c['kernel']}, "
            f"ordering {c['ordering']}, seed {c['seed']}, CPUs {c['cpus']}",
            f"  payload {_bytes_text(c['bytes'])}, write size {_bytes_text(c['write_size'])}, MTU {c['mtu']}, "
            f"speed {c['speed_mbps']} Mb/s, {ring}, "
            f"ITR {_itr_text(c['itr'])}"]


def render(r: RunResult) -> str:
    """The report as text."""
    net = r.net
    out = [f"scenario {r.scenario}: {r.sim_time_ps / 1e12:.6f} s simulated in {r.wall_s:.2f} s wall "
           f"(real-time factor {r.sim_time_ps / 1e12 / r.wall_s if r.wall_s else 0:.3f})"]
    if r.partial:
        out.insert(0, f"PARTIAL: {r.partial}")
    out += config_lines(r.config) + [""]
    out.append(f"{'layer':<11}{'calls':>10}{'packets':>10}{'bytes':>14}{'cpu µs':>12}")
    for name, calls, packets, nbytes, ps in layer_table(net):
        out.append(f"{name:<11}{calls:>10}{packets:>10}{nbytes:>14}{ps / 1e6:>12.1f}")
    out.append("")
    out += _softirq_lines(net)
    out.append("")
    out += _cpu_lines(r.host, r.sim_time_ps)
    out.append(_tx_path_line(net))
    out.append("")
    copies = net.copy_bytes
    total = sum(copies.values())
    per = total / r.app_bytes if r.app_bytes else 0.0
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(copies.items())) or "none"
    out.append(f"payload copies: {per:.3f} per byte sent ({kinds}; {r.app_bytes} bytes from the application)")
    for key, value in r.extra.items():
        out.append(f"{key}: {value}")
    start, end = r.goodput_window
    if end > start:
        out.append(f"goodput: {significant(r.goodput_bps / 1e6)} Mb/s ({r.delivered_bytes} bytes delivered in "
                   f"order; steady state {start / 1e9:.3f}–{end / 1e9:.3f} ms, {r.goodput_deliveries} deliveries)")
    else:
        why = r.goodput_na or "too few bytes for a steady state"
        out.append(f"goodput: n/a ({why}; {r.delivered_bytes} bytes delivered in order)")
    return "\n".join(out) + "\n"
