"""Explore mode: the warm machine turned into one whose every ordering is a choice.

What changes for an execution (:func:`make_explorable`), and why:

* **CPU time stands still.** Every cost table is zeroed, so kernel and
  driver code takes no simulated time; which CPU goes next at an instant is
  then only the policy's same-time tie (:mod:`sim.explore.policy`), not an
  accident of cost figures. Device latencies stay real (PCIe, the MAC).
* **Interleaving points are the shared cells.** Each CPU's ``watch``
  (:class:`Watch`) covers what the scenario's CPUs and the NIC share: the
  descriptor ring, the ``igb_tx_buffer`` array, the ring indices, the queue
  state word, the NAPI state and BQL's fields. A load, store or atomic
  there is an interleaving point and goes through the store buffer and the
  stale-load window; anything else is visible at once and offers no choice
  (the in-order option of each). So a found violation is real, and the
  search is complete only over orderings of the watched cells (docs/explore.md).
* **Delays are choices.** Each store-buffer drain step waits 0 or
  :data:`DELAY_PS`; an MSI takes its fixed latency or that plus
  :data:`DELAY_PS`; each NIC DMA read adds 0 or :data:`DELAY_PS`. Option 0
  is the in-order one, so the budget counts each delay once.
* **The store buffer has room** for every store of an execution (no stall).
"""
from __future__ import annotations

from bisect import bisect_right

from driver.igb.igb import IGB_RING_FIELDS, IGB_TX_BUFFER_SIZE
from stack.core.dynamic_queue_limits import DQL_SHARED_SIZE
from stack.core.netdevice import netdev_get_tx_queue

__all__ = ["Watch", "make_explorable", "DELAY_PS", "watched_ranges"]

#: A delayed drain, MSI or DMA read waits this long: longer than the NIC takes to fetch, read, send and
#: write back a few small packets, so a delayed store can be overtaken by all of it.
DELAY_PS = 20_000_000


class Watch:
    """Address ranges (sorted, disjoint) a CPU treats as shared, and the ghost of program order there."""

    def __init__(self, ranges, on_store=None):
        merged: list[list[int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self._lo = [r[0] for r in merged]
        self._hi = [r[1] for r in merged]
        self._on_store = on_store

    def covers(self, addr: int, size: int) -> bool:
        """True if ``[addr, addr + size)`` shares a byte with a watched range."""
        i = bisect_right(self._lo, addr + size - 1) - 1
        return i >= 0 and addr < self._hi[i]

    def on_store(self, cpu, addr: int, data: bytes) -> None:
        """A watched store, in program order (before it enters the store buffer)."""
        if self._on_store is not None:
            self._on_store(cpu, addr, data)


def watched_ranges(system) -> list[tuple[int, int]]:
    """The cells queue 0's transmit path shares between CPUs and the NIC (module docstring)."""
    ring = system.adapter.tx_ring[0]
    txq = netdev_get_tx_queue(system.netdev, 0)
    out = [
        (ring.desc, ring.desc + 16 * ring.count),
        (ring.tx_buffer_info.addr, ring.tx_buffer_info.addr + IGB_TX_BUFFER_SIZE * ring.count),
        _field_range(ring.addr, IGB_RING_FIELDS, "next_to_use"),
        _field_range(ring.addr, IGB_RING_FIELDS, "next_to_clean"),
        (txq.state_addr, txq.state_addr + 8),
        (txq.dql.addr, txq.dql.addr + DQL_SHARED_SIZE),
    ]
    napi = ring.q_vector.napi
    out.append((napi.state_addr, napi.state_addr + 8))
    return out


def _field_range(base: int, fields, name: str) -> tuple[int, int]:
    off, size = fields[name]
    return base + off, base + off + size


def make_explorable(system, on_store=None) -> None:
    """Turn the warm ``system`` into explore mode (module docstring); for a forked execution only."""
    kernel, net, host = system.kernel, system.net, system.host
    kernel.costs.table = {k: 0 for k in kernel.costs.table}
    for k in list(net.costs):
        net.costs[k] = 0
    host.mmio_read_latency_ps = 0
    watch = Watch(watched_ranges(system), on_store)
    for cpu in host.cpus:
        cpu.drain_options = (0, DELAY_PS)
        cpu.store_buffer_entries = 1 << 30
        cpu.watch = watch
    host.sched.interleave = True
    base = host.msi.latency_options[0]
    host.msi.latency_options = (base, base + DELAY_PS)
    system.nic.dma.read_jitter_options = (0, DELAY_PS)
