"""CPU time of kernel functions: a documented cost table, charging, and the ``top``-style split.

Every modelled kernel function charges the CPU that runs it with
:func:`charge` — a per-call cost plus a per-byte cost from :data:`COSTS_PS`
— and the CPU is busy that long (:mod:`sim.host.sched`): the context that
runs the code spends the time on its CPU, other contexts on that CPU wait
or preempt it, other CPUs run meanwhile. Each CPU accounts the time that
actually passes to what it ran (``user:<comm>`` for the program itself,
``task:<comm>`` for its system calls, ``softirq:<NAME>``, ``hardirq:<name>``,
``idle``); ``cpu_split`` folds those into ``top``'s columns: ``us``,
``sy``, ``si``, ``hi``, ``idle``. ``net.fn_ctx_time`` keeps what each
function charged, per context (the layer table, "where send() runs").

ASSUMPTIONS: apart from ``spin_lock`` (measured, cpu_time_facts §5), the
figures are UNCONFIRMED order-of-magnitude values for a
~3 GHz x86-64 core: a few hundred ns per layer per packet on transmit,
about 0.7 µs for a pure ACK from ``netif_receive_skb`` through ``tcp_ack``,
and ~5 GB/s for ``copy_from_user`` into freshly allocated page frags (the
one payload copy) and for the fragmentation copy. No measurement stands
behind any single figure; the report's CPU split follows from them, so it
shows the shape, not a particular machine. Override per run with
``net.costs.update({...})``.
"""
from __future__ import annotations

from types import MappingProxyType

from sim.engine import NS

__all__ = ["COSTS_PS", "PER_BYTE_PS", "charge", "charge_bytes", "cpu_split", "softirq_split", "CONTEXT_COLUMNS"]

#: Per-call cost (ps) of each modelled function (UNCONFIRMED, see the module docstring).
COSTS_PS = MappingProxyType({
    # system call entry and socket layer
    "syscall": 100 * NS, "sock_sendmsg": 50 * NS, "tcp_sendmsg": 200 * NS, "udp_sendmsg": 300 * NS,
    "tcp_push": 30 * NS, "tcp_write_xmit": 150 * NS, "tcp_transmit_skb": 300 * NS,
    "tso_fragment": 150 * NS, "tcp_ack": 250 * NS, "tcp_v4_rcv": 150 * NS, "tcp_rcv_established": 200 * NS,
    "skb_alloc": 100 * NS, "skb_clone": 60 * NS, "skb_free": 60 * NS,
    # IPv4 and neighbour
    "ip_queue_xmit": 150 * NS, "ip_local_out": 80 * NS, "ip_output": 60 * NS,
    "ip_finish_output": 60 * NS, "ip_fragment": 300 * NS, "ip_finish_output2": 80 * NS,
    "neigh_output": 60 * NS, "arp_process": 300 * NS, "ip_rcv": 100 * NS, "udp_rcv": 150 * NS,
    "ip_route_output_key": 150 * NS, "nf_hook_slow": 40 * NS, "neigh_resolve_output": 100 * NS,
    "neigh_timer_handler": 100 * NS, "arp_send": 200 * NS, "ip_local_deliver": 60 * NS,
    "ip_defrag": 200 * NS, "icmp_rcv": 150 * NS, "udp_recvmsg": 200 * NS,
    # device layer and qdisc
    "dev_queue_xmit": 150 * NS, "qdisc_enqueue": 60 * NS, "qdisc_dequeue": 60 * NS,
    "sch_direct_xmit": 80 * NS, "dev_hard_start_xmit": 60 * NS, "net_tx_action": 100 * NS,
    "netif_receive_skb": 80 * NS, "process_backlog": 50 * NS,
    "netdev_pick_tx": 20 * NS, "validate_xmit_skb": 30 * NS, "skb_checksum_help": 50 * NS,
    "dev_queue_xmit_nit": 100 * NS, "netif_rx": 80 * NS,
    # kernel: locks (stack.core.spinlock) and the tick (stack.core.timer)
    "spin_lock": 15 * NS,              # lock + unlock, uncontended: 14-16 ns (Brouer; cpu_time_facts §5)
    "lock_line_transfer": 60 * NS,     # the lock's cache line from another core: 40-100 ns (UNCONFIRMED)
    "local_timer_interrupt": 500 * NS,  # hardirq entry + exit + tick work: 0.3-1 us (UNCONFIRMED, §5)
})

#: Per-byte cost (ps/byte) of the functions that touch every byte.
PER_BYTE_PS = MappingProxyType({
    "copy_from_user": 200,          # ~5 GB/s: user buffer into freshly allocated page frags
    "ip_fragment_copy": 200,
    "csum_partial": 50,             # software checksum
    "copy_to_user": 100,
})

#: Context prefix -> ``top`` column.
CONTEXT_COLUMNS = (("user:", "us"), ("task:", "sy"), ("softirq:", "si"), ("hardirq:", "hi"), ("idle", "idle"))


def charge(net, name: str, nbytes: int = 0, per_byte: str | None = None) -> None:
    """Charge the current CPU for one call of ``name`` (+ ``nbytes`` × the ``per_byte`` rate)."""
    costs = net.costs
    ps = costs.get(name, 0)
    if nbytes and per_byte is not None:
        ps += nbytes * costs.get(per_byte, 0)
    if ps:
        cpu = net.ctx.cpu
        cpu.charge(ps)
        key = (name, cpu.context)
        net.fn_ctx_time[key] = net.fn_ctx_time.get(key, 0) + ps


def charge_bytes(net, per_byte: str, nbytes: int) -> None:
    """Charge the current CPU ``nbytes`` × the ``per_byte`` rate (a copy or a checksum)."""
    ps = nbytes * net.costs.get(per_byte, 0)
    if ps:
        cpu = net.ctx.cpu
        cpu.charge(ps)
        key = (per_byte, cpu.context)
        net.fn_ctx_time[key] = net.fn_ctx_time.get(key, 0) + ps


def cpu_split(host) -> list[dict[str, int]]:
    """Per CPU: picoseconds actually spent in each ``top`` column (us, sy, si, hi, idle).

    The CPUs account every stretch of simulated time to what ran
    (:mod:`sim.host.sched`), so a CPU's columns sum to the elapsed time;
    ``other`` holds time under any name outside the columns (none, normally).
    """
    host.sched.flush_accounts()
    out = []
    for cpu in host.cpus:
        row = {"us": 0, "sy": 0, "si": 0, "hi": 0, "idle": 0, "other": 0}
        for context, ps in cpu.account.items():
            for prefix, col in CONTEXT_COLUMNS:
                if context.startswith(prefix):
                    row[col] += ps
                    break
            else:
                row["other"] += ps
        out.append(row)
    return out


def softirq_split(host) -> list[dict[str, int]]:
    """Per CPU: picoseconds spent in each softirq vector (``softirq:NET_RX`` -> ``NET_RX``)."""
    host.sched.flush_accounts()
    return [{name[len("softirq:"):]: ps for name, ps in cpu.account.items() if name.startswith("softirq:") and ps}
            for cpu in host.cpus]
