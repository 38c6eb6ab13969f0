"""The end-of-run report: what each layer did and what it cost, measured by the run.

Built from a finished run's counters only (nothing here is written in):

* per layer — calls, packets, bytes (``net.layer_stats``) and the CPU time
  its functions charged (``net.fn_time``, grouped by :data:`LAYER_OF`);
* the softirq table, as ``/proc/softirqs`` shows it, plus ksoftirqd wake-ups;
* the CPU split per CPU in ``top``'s columns (us / sy / si / hi), as
  percentages of the simulated time;
* payload copies per byte sent (``net.copy_bytes`` per copy kind, over the
  payload bytes the application handed to the kernel);
* the NIC side: descriptors written, doorbells, interrupts per vector;
* goodput: application bytes the link partner received in order, over the
  steady-state window.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from stack.cputime import cpu_split
from stack.softirq import SOFTIRQ_NAMES

__all__ = ["RunResult", "LAYER_OF", "render", "layer_table"]

#: function name (as charged) -> the layer the report files it under.
LAYER_OF = {
    "syscall": "socket", "sock_sendmsg": "socket", "copy_from_user": "socket",
    "tcp_sendmsg": "tcp", "tcp_push": "tcp", "tcp_write_xmit": "tcp", "tcp_transmit_skb": "tcp",
    "tso_fragment": "tcp", "tcp_ack": "tcp", "tcp_v4_rcv": "tcp", "tcp_rcv_established": "tcp",
    "udp_sendmsg": "udp", "udp_rcv": "udp",
    "skb_alloc": "skb", "skb_clone": "skb", "skb_free": "skb",
    "ip_queue_xmit": "ip", "ip_local_out": "ip", "ip_output": "ip", "ip_finish_output": "ip",
    "ip_fragment": "ip", "ip_fragment_copy": "ip", "ip_finish_output2": "ip", "ip_rcv": "ip",
    "csum_partial": "ip",
    "neigh_output": "neighbour", "arp_process": "neighbour",
    "dev_queue_xmit": "dev", "qdisc_enqueue": "qdisc", "qdisc_dequeue": "qdisc",
    "sch_direct_xmit": "qdisc", "dev_hard_start_xmit": "dev", "net_tx_action": "qdisc",
    "netif_receive_skb": "dev", "process_backlog": "dev",
}


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
    goodput_bps: float                   # over the steady-state window
    goodput_window: tuple[int, int]      # (start_ps, end_ps) of that window
    extra: dict = field(default_factory=dict)


def layer_table(net) -> list[tuple[str, int, int, int, int]]:
    """Rows (layer, calls, packets, bytes, cpu_ps), in stack order."""
    time_by_layer: dict[str, int] = {}
    for fn, ps in net.fn_time.items():
        layer = LAYER_OF.get(fn, fn)
        time_by_layer[layer] = time_by_layer.get(layer, 0) + ps
    order = ["socket", "tcp", "udp", "skb", "ip", "neighbour", "dev", "qdisc", "driver"]
    names = [n for n in order if n in net.layer_stats or n in time_by_layer]
    names += sorted((set(net.layer_stats) | set(time_by_layer)) - set(names))
    rows = []
    for name in names:
        st = net.layer_stats.get(name, {})
        rows.append((name, st.get("calls", 0), st.get("packets", 0), st.get("bytes", 0),
                     time_by_layer.get(name, 0)))
    return rows


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
    lines = ["CPU time (% of the run, top's columns):", f"{'':>6}{'us':>8}{'sy':>8}{'si':>8}{'hi':>8}{'idle':>8}"]
    for i, row in enumerate(cpu_split(host)):
        busy = row["us"] + row["sy"] + row["si"] + row["hi"] + row["other"]
        pct = [100.0 * row[c] / sim_ps if sim_ps else 0.0 for c in ("us", "sy", "si", "hi")]
        idle = max(0.0, 100.0 - 100.0 * busy / sim_ps) if sim_ps else 0.0
        lines.append(f"{'cpu' + str(i):>6}" + "".join(f"{p:8.2f}" for p in pct) + f"{idle:8.2f}")
    return lines


def render(r: RunResult) -> str:
    """The report as text."""
    net = r.net
    out = [f"scenario {r.scenario}: {r.sim_time_ps / 1e12:.6f} s simulated in {r.wall_s:.2f} s wall "
           f"(real-time factor {r.sim_time_ps / 1e12 / r.wall_s if r.wall_s else 0:.3f})", ""]
    out.append(f"{'layer':<10}{'calls':>10}{'packets':>10}{'bytes':>14}{'cpu us':>12}")
    for name, calls, packets, nbytes, ps in layer_table(net):
        out.append(f"{name:<10}{calls:>10}{packets:>10}{nbytes:>14}{ps / 1e6:>12.1f}")
    out.append("")
    out += _softirq_lines(net)
    out.append("")
    out += _cpu_lines(r.host, r.sim_time_ps)
    out.append("")
    copies = getattr(net, "copy_bytes", {})
    total = sum(copies.values())
    per = total / r.app_bytes if r.app_bytes else 0.0
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(copies.items())) or "none"
    out.append(f"payload copies: {per:.3f} per byte sent ({kinds}; {r.app_bytes} bytes from the application)")
    for key, value in r.extra.items():
        out.append(f"{key}: {value}")
    start, end = r.goodput_window
    out.append(f"goodput: {r.goodput_bps / 1e6:.1f} Mb/s ({r.delivered_bytes} bytes delivered in order; "
               f"steady state {start / 1e9:.3f}–{end / 1e9:.3f} ms)")
    return "\n".join(out) + "\n"
