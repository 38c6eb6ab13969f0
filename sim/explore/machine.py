"""Explore mode: the warm machine turned into one whose every ordering is a choice.

What changes for an execution (:func:`make_explorable`), and why:

* **CPU time stands still.** Every cost table is zeroed, so kernel and
  driver code takes no simulated time; which CPU goes next at an instant is
  then only the policy's same-time tie (:mod:`sim.explore.policy`), not an
  accident of cost figures. Device latencies stay real (PCIe, the MAC).
* **The shared cells.** Each CPU becomes an
  :class:`~sim.host.explore_cpu.ExploreCpu` whose ``watch`` (:class:`Watch`)
  covers what the scenario's CPUs and the NIC share: the descriptor ring,
  the ``igb_tx_buffer`` array, the ring indices, the queue state word, the
  NAPI state and BQL's fields. Stores there go through the store buffer and
  loads through the stale-load window; anything else is visible at once
  and offers no choice (the in-order option of each). Barriers, device
  accesses and atomics there are the interleaving points (the class
  docstring says why loads and stores need not be). So a found violation is
  real, and the search is complete only over these orderings of the shared
  cells (docs/explore.md).
* **Stores leave the buffer when someone looks.** A watched store waits in
  its CPU's store buffer until an ordering forces it out (a fence, an RMW, a
  ``writel`` and what it orders before its device write, which leaves at
  once) or until another agent reads those bytes: another CPU's load or
  atomic, or a NIC DMA read. Then the question ``visible cpuN ADDR`` is
  asked: 0 makes the store visible, with every store it must follow under
  the profile (the in-order answer); 1 leaves it buffered, so the reader
  gets the older value. A reader that was shown the older value before
  gets it again by default (0), and sees the store only by a deviation:
  one reordering is one choice, however often it is looked at. That is where store reordering comes from: a
  younger store can be seen while an older one is still buffered if
  nothing orders them. Whatever is still buffered at the end drains.
* **Delays are choices.** After a device write a CPU goes on at once or
  is held up :data:`DELAY_PS` (``stall cpuN``), so the device can act
  before the CPU's next steps; an MSI takes its fixed latency or that plus
  :data:`DELAY_PS`; each NIC DMA read adds 0 or :data:`DELAY_PS`. Option 0
  is the in-order one, so the budget counts each delay once.
"""
from __future__ import annotations

from bisect import bisect_right

from driver.igb.igb import IGB_RING_FIELDS, IGB_TX_BUFFER_SIZE
from sim.host.explore_cpu import ExploreCpu
from stack.core.dynamic_queue_limits import DQL_SHARED_SIZE
from stack.core.netdevice import netdev_get_tx_queue

__all__ = ["Watch", "make_explorable", "DELAY_PS", "watched_ranges"]

#: A delayed MSI or DMA read waits this long: longer than the NIC takes to fetch, read, send and write back
#: a few small packets.
DELAY_PS = 20_000_000


class Watch:
    """Address ranges (sorted, disjoint) a CPU treats as shared, and the ghost of program order there."""

    def __init__(self, ranges, on_store=None, cpus=(), engine=None):
        merged: list[list[int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self._lo = [r[0] for r in merged]
        self._hi = [r[1] for r in merged]
        self._on_store = on_store
        self._cpus = tuple(cpus)
        self._engine = engine
        self._why = {c.index: f"visible cpu{c.index}" for c in self._cpus}
        self._why_stall = {c.index: f"stall cpu{c.index}" for c in self._cpus}
        self._hidden: set = set()
        self._stale: set = set()
        #: Watched stores and loads per CPU so far (explanations name them; insertions count them).
        self.stores = [0] * len(self._cpus)
        self.loads = [0] * len(self._cpus)
        #: (cpu index, qword address) -> number of that CPU's last watched store there.
        self.last_store: dict[tuple[int, int], int] = {}
        self.recorder = None       # a sim.explore.record.Recorder in a recording execution
        self.insertion = None      # a sim.explore.record.Insertion in a confirmation run
        self._pending: dict[int, str] = {}   # cpu index -> a barrier inserted after its store just made

    def covers(self, addr: int, size: int) -> bool:
        """True if ``[addr, addr + size)`` shares a byte with a watched range."""
        i = bisect_right(self._lo, addr + size - 1) - 1
        return i >= 0 and addr < self._hi[i]

    def on_store(self, cpu, addr: int, data: bytes) -> None:
        """A watched store, in program order (before it enters the store buffer)."""
        i = cpu.index
        seq = self.stores[i] = self.stores[i] + 1
        self.last_store[(i, addr & ~7)] = seq
        if self._on_store is not None:
            self._on_store(cpu, addr, data)
        if self.recorder is not None:
            self.recorder.store(cpu, addr, data, seq)
        ins = self.insertion
        if ins is not None and ins.cpu == i and ins.store == seq:
            self._pending[i] = ins.primitive   # right after this store (:meth:`stored`)

    def stored(self, cpu) -> None:
        """The watched store just announced is in the buffer: an inserted barrier after it runs now."""
        if self._pending:
            self._run_pending(cpu)

    def _run_pending(self, cpu) -> None:
        prim = self._pending.pop(cpu.index, None)
        if prim is not None:
            cpu.fence(cpu.profile.barrier(prim))
            if self.recorder is not None:
                self.recorder.row(f"cpu{cpu.index}", f"{prim} (inserted)")

    def after_device_write(self, cpu) -> None:
        """After a CPU's device write: it may go on at once (0) or be held up :data:`DELAY_PS` (1), so the
        device acts on the write before the CPU's next steps (an interrupt, a cache miss, a VM exit)."""
        if cpu.sched.running is not None and self._engine.choose_index(2, self._why_stall[cpu.index]):
            cpu.charge(DELAY_PS)
            cpu.run.settle()

    def stale_pick(self, cpu, addr: int, q: int, cands: list, why: str):
        """Which of ``cands`` (newest first, as (version, bytes)) a load of ``cpu`` at ``addr`` (qword ``q``) returns.

        Option 0 is the newest value, unless a deviation already showed this
        CPU an older value of ``q``: then option 0 is the value it saw last
        (still allowed), so keeping one stale view costs one choice.
        """
        key = (cpu.index, q)
        if key in self._stale:
            last = cpu.seen.get(q)
            order = sorted(cands, key=lambda c: c[0] != last)   # stable: the one seen last first
        else:
            order = cands
        pick = order[self._engine.choose_index(len(order), why)]
        if pick is cands[0]:
            self._stale.discard(key)
        else:
            self._stale.add(key)
            if self.recorder is not None:
                self.recorder.stale(cpu, addr, self.loads[cpu.index])
        return pick

    def note(self, cpu, kind: str, *what) -> None:
        """A barrier, device write or atomic at an interleaving point (for the timeline)."""
        if self.recorder is not None:
            self.recorder.note(cpu, kind, *what)

    def observe(self, reader, addr: int, size: int, rmw: bool = False) -> None:
        """``reader`` (a Cpu, or None for a device) reads ``[addr, addr + size)``: each other CPU holding a
        store there is asked whether it becomes visible first (module docstring). An atomic (``rmw``) always
        sees the latest value: coherence, no question."""
        if reader is not None:
            i = reader.index
            seq = self.loads[i] = self.loads[i] + 1
            ins = self.insertion
            if ins is not None and ins.cpu == i and ins.load == seq:
                reader.fence(reader.profile.barrier(ins.primitive))
                if self.recorder is not None:
                    self.recorder.row(f"cpu{i}", f"{ins.primitive} (inserted)")
            if self.recorder is not None:
                self.recorder.load(reader, addr, seq)
        for cpu in self._cpus:
            if cpu is not reader and cpu.holds(addr, size):
                if rmw:
                    cpu.flush_range(addr, size)
                    continue
                key = (reader, cpu.index, addr)
                hidden = key in self._hidden   # this reader was shown the older value last time
                pick = self._engine.choose_index(2, f"{self._why[cpu.index]} {addr:#x}")
                if pick == hidden:             # rank 0 repeats what this reader saw last (else: visible)
                    cpu.flush_range(addr, size)
                    self._hidden.discard(key)
                else:
                    self._hidden.add(key)
                    if self.recorder is not None:
                        self.recorder.hidden(cpu, reader, addr, self.last_store.get((cpu.index, addr & ~7)))


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


def make_explorable(system, on_store=None) -> Watch:
    """Turn the warm ``system`` into explore mode (module docstring); for a forked execution only."""
    kernel, net, host = system.kernel, system.net, system.host
    kernel.costs.table = {k: 0 for k in kernel.costs.table}
    for k in list(net.costs):
        net.costs[k] = 0
    host.mmio_read_latency_ps = 0
    watch = Watch(watched_ranges(system), on_store, host.cpus, system.engine)
    for cpu in host.cpus:
        cpu.watch = watch
        cpu.__class__ = ExploreCpu   # a forked execution's machine only: ordinary runs never pay for it
    base = host.msi.latency_options[0]
    host.msi.latency_options = (base, base + DELAY_PS)
    system.nic.dma.read_jitter_options = (0, DELAY_PS)
    return watch
