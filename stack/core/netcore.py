"""``NetCore``: one host's network core — the per-CPU and global state Linux keeps in globals.

It wires together, for one simulated host:

* the execution context (which CPU runs now; pass the driver's Kernel so
  the stack and the driver agree, else a :class:`~stack.core.context.CpuContext`);
* softirqs (:class:`~stack.core.softirq.Softirq`: run at interrupt exit,
  ``local_bh_enable`` and by ksoftirqd/N, with the tasklets) and timers (:class:`~stack.core.timer.Timers`, the TIMER softirq);
* per-CPU ``softnet_data`` (NAPI poll list, completion queue, softnet_stat);
* the NET_RX handler (:func:`~stack.core.napi.net_rx_action`) and the NET_TX
  handler (:func:`~stack.core.dev.net_tx_action`: the completion queue, then
  the scheduled qdiscs), opened here as ``net_dev_init`` opens them;
* skb memory (:class:`~stack.core.skb_memory.SkbMemory`, ``net.skb``);
* the sysctls of ``net.core`` the layers read (``netdev_budget`` 300,
  ``netdev_budget_usecs``, ``dev_weight`` 64, ``dev_tx_weight`` 64,
  ``netdev_max_backlog`` 1000; stack_facts §0);
* ``kernel_version``: ``"recent"`` (default) or ``"3.10"``, for the layers
  whose behaviour differs between the two (stack_facts §12); set it before
  the layers are initialised and devices opened.

The device layer (:func:`stack.core.dev.net_dev_init`: the noop qdisc, the
per-CPU backlogs) is initialised as the net core is built, with the
softirqs it opens: a net core always has it, and ``dev_open`` always
attaches qdiscs, as in Linux.

**Every slot is declared in** :class:`NetCore` (``__slots__``: nothing is
added at run time). The protocol slots start empty (None) and are filled by
:func:`stack.initcalls.net_init`, the one function that initialises the
protocol layers in Linux's order. They are the protocol side's, as Linux's
``struct net`` holds them
  (``include/net/net_namespace.h``: ``net->ipv4``, ``net->mib``,
  ``net->nf``): ``ipv4`` (:class:`stack.ipv4.netns.netns_ipv4`), ``mib``
  (the SNMP counters), ``nf`` (:class:`stack.netfilter.netns_nf`), ``tcp``
  (:class:`stack.ipv4.tcp_sock.TcpNet`) and ``socket_table``
  (:class:`stack.socket.SocketTable`). They sit on the net core itself,
  as in ``struct net``, because every layer reaches the host through the
  object it already has (``dev.net``, ``skb.mem.net``, ``sk.net``); a
  separate protocol-owned namespace would be one more hop with no rule it
  enforces. The net core must not import the protocol side (it sits below
  it): their types are imported for the annotations only, under
  ``if TYPE_CHECKING:``, which never runs.

``netdev_budget_usecs`` defaults to ``2 * USEC_PER_SEC / HZ``: two
jiffies, the 3.10 limit and today's default (8 ms at HZ=250; 2 ms only at
HZ=1000). Set it to 2000 for the 4.12–5.x default.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from .context import CpuContext
from .cputime import COSTS_PS, PER_BYTE_PS
from .dev import net_dev_init, net_tx_action
from .jiffies import HZ, USEC_PER_SEC, jiffies
from .napi import net_rx_action, softnet_data
from .qdisc import Qdisc
from .skb_memory import SkbMemory
from .skbuff import skb_free_deferred
from .softirq import NET_RX_SOFTIRQ, NET_TX_SOFTIRQ, Softirq
from .timer import Timers

if TYPE_CHECKING:  # the protocol side's types, for the annotations only: the net core never imports it
    from stack.ipv4.netns import netns_ipv4
    from stack.ipv4.tcp_sock import TcpNet
    from stack.netfilter import netns_nf
    from stack.socket import SocketTable

__all__ = ["KERNEL_VERSIONS", "check_kernel_version", "NetCore"]

#: The kernel versions whose differing behaviour the layers model (stack_facts §12).
KERNEL_VERSIONS = ("recent", "3.10")


def check_kernel_version(kernel_version: str) -> None:
    """Raise ValueError unless ``kernel_version`` is one of :data:`KERNEL_VERSIONS`."""
    if kernel_version not in KERNEL_VERSIONS:
        raise ValueError(f"kernel_version {kernel_version!r}: one of {KERNEL_VERSIONS}")


class NetCore:
    """The network core of ``host`` (see the module docstring).

    ``ctx``: execution context (default: a CpuContext on CPU 0).
    ``allocator``: where skb memory comes from (default: the host's kmalloc pool).
    ``copy_ps_per_byte``: CPU time charged per byte copied into skbs.
    ``kernel_version``: "recent" or "3.10" (module docstring).
    """

    __slots__ = ("host", "engine", "ctx", "softirq", "timers", "softnet_data", "skb", "devices",
                 "netdev_budget", "netdev_budget_usecs", "dev_weight", "dev_tx_weight", "netdev_max_backlog",
                 "kernel_version", "costs", "ptype", "inet_protos", "copy_bytes", "fn_ctx_time", "layer_stats",
                 "noop_qdisc",
                 "ipv4", "mib", "nf", "tcp", "socket_table")

    def __init__(self, host, ctx=None, allocator=None, *, copy_ps_per_byte: int = 0, kernel_version: str = "recent"):
        self.host = host
        self.engine = host.engine
        self.ctx = ctx if ctx is not None else CpuContext(host)
        #: CPU cost table (stack.core.cputime): per-call ps by function name, per-byte ps by operation.
        self.costs: dict[str, int] = {**COSTS_PS, **PER_BYTE_PS}
        self.softirq = Softirq(self.engine, host, self.ctx)
        self.timers = Timers(self.engine, self.softirq, self.ctx, self.costs)
        self.softnet_data = [softnet_data(i, cpu) for i, cpu in enumerate(host.cpus)]
        self.skb = SkbMemory(host, allocator, self.ctx, net=self, copy_ps_per_byte=copy_ps_per_byte)
        self.devices: list = []
        # net.core sysctls
        self.netdev_budget = 300
        self.netdev_budget_usecs = 2 * USEC_PER_SEC // HZ
        self.dev_weight = 64
        self.dev_tx_weight = 64
        self.netdev_max_backlog = 1000
        #: "recent" (6.x behaviour) or "3.10" where the layers model both (stack_facts §12).
        check_kernel_version(kernel_version)
        self.kernel_version = kernel_version
        #: The qdisc of a device that is down (set by net_dev_init, below).
        self.noop_qdisc: Qdisc
        # --- the protocol side's slots (stack.initcalls.net_init), as struct net holds them
        #: ``net->ipv4``: IPv4 sysctls, FIB, ARP table, UDP table, fragment queues.
        self.ipv4: netns_ipv4 | None = None
        #: ``net->mib``: the SNMP counters under their ``nstat`` names.
        self.mib: dict[str, int] | None = None
        #: ``net->nf``: the netfilter hook lists.
        self.nf: netns_nf | None = None
        #: TCP's per-host state: sysctls, MIB, hash tables, TSQ lists.
        self.tcp: TcpNet | None = None
        #: The fd table and the socket types it can create.
        self.socket_table: SocketTable | None = None
        #: ethertype -> handler(skb, dev), what ``netif_receive_skb`` delivers to (``ptype_base``).
        self.ptype: dict[int, object] = {}
        #: IP protocol number -> handler(skb), what ``ip_local_deliver`` calls (``inet_protos``).
        self.inet_protos: dict[int, object] = {}
        #: Payload bytes copied by CPUs, per kind of copy (``count_copy``): the "copies per byte" report.
        self.copy_bytes: dict[str, int] = {}
        #: CPU time charged per (function, execution context) by stack.core.cputime.charge.
        self.fn_ctx_time: dict[tuple[str, str], int] = {}
        #: Per-layer counters: layer -> {"calls", "packets", "bytes"} (what a run report shows).
        self.layer_stats: dict[str, dict[str, int]] = {}
        self.softirq.open_softirq(NET_RX_SOFTIRQ, partial(net_rx_action, self))
        self.softirq.open_softirq(NET_TX_SOFTIRQ, partial(net_tx_action, self))
        net_dev_init(self)

    @property
    def jiffies(self) -> int:
        return jiffies(self.engine.now)

    # --- deferred frees (hard-IRQ context) -------------------------------------------
    def completion_queue_add(self, skb, dropped: bool) -> None:
        """Queue an unreferenced skb on the current CPU's completion queue and raise NET_TX."""
        index = self.ctx.cpu.index
        self.softnet_data[index].completion_queue.append((skb, dropped))
        self.softirq.raise_on(index, NET_TX_SOFTIRQ)

    def free_completion_queue(self, index: int) -> None:
        """Free CPU ``index``'s completion queue, newest first (Linux pushes at the head)."""
        sd = self.softnet_data[index]
        clist = sd.completion_queue
        if clist:
            sd.completion_queue = []
            for skb, dropped in reversed(clist):
                skb_free_deferred(skb, dropped)

    @property
    def fn_time(self) -> dict[str, int]:
        """CPU time charged per function name, over every context (for the per-layer report)."""
        out: dict[str, int] = {}
        for (name, _context), ps in self.fn_ctx_time.items():
            out[name] = out.get(name, 0) + ps
        return out

    def count_copy(self, kind: str, nbytes: int) -> None:
        """``nbytes`` of payload copied by the CPU (``kind``: where, e.g. "tcp_sendmsg", "ip_fragment")."""
        self.copy_bytes[kind] = self.copy_bytes.get(kind, 0) + nbytes

    def count(self, layer: str, packets: int = 1, nbytes: int = 0) -> None:
        """One call of ``layer`` carrying ``packets`` packets and ``nbytes`` bytes (for the report)."""
        st = self.layer_stats.get(layer)
        if st is None:
            st = self.layer_stats[layer] = {"calls": 0, "packets": 0, "bytes": 0}
        st["calls"] += 1
        st["packets"] += packets
        st["bytes"] += nbytes

    # --- counters -----------------------------------------------------------------------
    def softnet_stat(self) -> list[dict[str, int]]:
        """``/proc/net/softnet_stat`` per CPU: processed, dropped, time_squeeze, cpu_collision, received_rps."""
        return [{"processed": sd.processed, "dropped": sd.dropped, "time_squeeze": sd.time_squeeze,
                 "cpu_collision": sd.cpu_collision, "received_rps": sd.received_rps}
                for sd in self.softnet_data]
