"""A simulated CPU: store buffer, stale-load window, barriers and MMIO accessors per ordering profile.

Driver code calls these methods as plain sequential Python; nothing here
blocks. The nondeterminism is elsewhere and goes through the engine's
choice policy:

* **Store buffer.** Every store (memory or device) enters the CPU's buffer.
  A drain step, scheduled on the engine one drain latency after a store (or
  after the previous drain step), makes one *eligible* buffered store
  globally visible — which one is a choice, and so is each drain latency
  (one of ``drain_options``, :mod:`sim.host.timing`). A store is eligible when no older buffered store must precede it:
  same bytes (coherence), a store-class pair the profile does not let
  reorder, or a fence mark between them that orders the pair. What holds
  each store back is worked out once, when it enters
  (:mod:`sim.host.store_buffer`), not rescanned per drain step.
* **Loads.** A load reads the CPU's own buffered stores first (forwarding),
  else memory; under a profile with ``stale_loads`` it may return an older
  value of its qword (a choice), bounded by the read horizon set at the last
  read barrier, by the device writes the last interrupt it took made visible
  (:meth:`take_interrupt`) and by what this CPU already saw there (see
  :mod:`sim.host.coherence`).
* **Fences** (:meth:`fence`): write→write parts become a mark in the store
  buffer; write→read parts flush the stores they order (now, in an order the
  relation allows); read→memory-read parts move the read horizon to now.
  Read→write order always holds here, because loads complete at once.
* **MMIO accessors** (:meth:`mmio_write`/:meth:`mmio_read`): the accessor's
  fence before, the device access, the accessor's fence after. A device read
  first flushes this CPU's buffered device writes (PCI: a read pushes posted
  writes ahead of it; same-device program order).
* **Atomic RMWs** (:meth:`atomic_rmw`, :meth:`cmpxchg`): read the current
  value, write at once; ordered by the profile's ``atomic_rmw`` Fence (x86:
  LOCK'd, full) plus what the caller asks (Linux's value-returning atomics).

Barrier call sites: :meth:`barrier` and the accessors take a ``site`` name;
the host's ``site_overrides`` can drop (None) or replace a primitive at one
site, and ``site_counts`` counts executions per site.

CPU time: :meth:`charge` owes time; the context running the code spends it
at its next observable step -- every public access method above starts by
spending it (:mod:`sim.host.sched`), and under exploration each memory
access is also an interleaving point. A full store buffer
(:data:`STORE_BUFFER_ENTRIES`) stalls the CPU for one drain.
"""
from __future__ import annotations

from collections import defaultdict

from .coherence import HISTORY_MAX_WRITE_BYTES
from .ordering import DR, DW, MR, MW, R, W, Fence
from .store_buffer import BufferedStore, new_store_buffer

__all__ = ["Cpu"]


#: Store-buffer entries: 56 on Skylake (cpu_time_facts §6 [mem]); the same for every profile (UNCONFIRMED
#: for the others). A store into a full buffer waits for one to drain, as the core stalls.
STORE_BUFFER_ENTRIES = 56


class Cpu:
    """One hardware thread of the simulated host."""

    def __init__(self, host, index: int, drain_options: tuple[int, ...] = (0,)):
        self.host = host
        self.index = index
        self.name = f"cpu{index}"
        self.engine = host.engine
        self.profile = host.profile
        self.mem = host.mem
        self.history = host.history
        self.drain_options = drain_options
        #: Entries the store buffer holds; a store into a full one stalls the CPU (:meth:`_make_room`).
        self.store_buffer_entries = STORE_BUFFER_ENTRIES
        self._sb = new_store_buffer(self.profile)
        self._stores_made = 0   # every store this CPU has buffered, numbered in program order
        self._nstores = 0
        self._drain_scheduled = False
        self.horizon = 0
        self.device_floor = 0
        self.seen: dict[int, int] = {}
        self.context = "idle"
        self.account: dict[str, int] = defaultdict(int)
        self.owed_ps = 0
        #: CPU time charged by synchronous callers (outside any context), see :meth:`charge`.
        self.sync_owed_ps = 0
        #: Execution state (sim.host.sched): set when the host builds its scheduler.
        self.run = None
        self.sched = None
        #: Every memory access is an interleaving point (``Sched.interleave``).
        self.interleave = False
        self._why_drain = f"drain {self.name}"
        self._why_drain_latency = f"drain-latency {self.name}"
        self._why_stale = f"stale-load {self.name}"

    # --- memory accesses -------------------------------------------
    def store(self, addr: int, size: int, value: int) -> None:
        """A plain memory store of ``size`` bytes (little-endian)."""
        self.store_bytes(addr, value.to_bytes(size, "little"))

    def store_bytes(self, addr: int, data: bytes) -> None:
        """A memory store of raw bytes (e.g. a memcpy into a DMA buffer)."""
        if self.owed_ps or self.interleave:
            self._observable()
        if not self.profile.store_buffer:
            self.mem.write(addr, data)
            return
        self._enqueue(BufferedStore(MW, addr, len(data), bytes(data)))

    def load(self, addr: int, size: int) -> int:
        """A plain memory load of ``size`` bytes (little-endian)."""
        return int.from_bytes(self.load_bytes(addr, size), "little")

    def load_bytes(self, addr: int, size: int) -> bytes:
        """A memory load: own buffered stores first, else memory (maybe a stale value)."""
        if self.owed_ps or self.interleave:
            self._observable()
        if self._nstores:
            own = self._sb.writes_over(addr, size)
            if own:
                return self._forward(addr, size, own)
        hist = self.history
        if hist is None:
            return self.mem.read(addr, size)
        q = addr & ~7
        if (addr - q) + size > 8:
            return self.mem.read(addr, size)
        floor = self.horizon
        seen = self.seen.get(q, 0)
        if seen > floor:
            floor = seen
        current = hist.only_current(q, floor, self.device_floor)
        if current >= 0:   # no older value allowed: the common case
            self.seen[q] = current
            return self.mem.read(addr, size)
        cands = hist.candidates(addr, floor, self.device_floor)
        pick = cands[0] if len(cands) == 1 else self._pick_stale(addr, q, cands)
        self.seen[q] = pick[0]
        if pick[1] is None:
            return self.mem.read(addr, size)
        off = addr - q
        return pick[1][off:off + size]

    def _pick_stale(self, addr: int, q: int, cands: list):
        """Which of ``cands`` (newest first) a load returns: a choice naming the address, so a replay or a
        directed policy can tell the loads apart."""
        return cands[self.engine.choose_index(len(cands), f"{self._why_stale} {addr:#x}")]

    def _forward(self, addr: int, size: int, own: list[BufferedStore]) -> bytes:
        """Memory overlaid with ``own``, this CPU's buffered stores to those bytes, oldest first."""
        out = bytearray(self.mem.read(addr, size))
        end = addr + size
        for e in own:
            lo = max(addr, e.addr)
            hi = min(end, e.addr + e.size)
            out[lo - addr:hi - addr] = e.data[lo - e.addr:hi - e.addr]
        return bytes(out)

    # --- barriers and accessors -------------------------------------
    def barrier(self, name: str, site: str | None = None) -> None:
        """Execute Linux barrier ``name`` (``wmb``, ``dma_rmb``, …) at call site ``site``."""
        if site is not None:
            name = self.host.resolve_site(site, name)
            if name is None:
                return
        self.fence(self.profile.barrier(name))

    def take_interrupt(self, device_count: int) -> None:
        """This CPU takes an MSI whose message landed at memory write count ``device_count``.

        What architectures guarantee, and all the model assumes:

        * Device writes that precede the MSI in PCIe order are visible to
          loads issued after the interrupt is taken. PCI msi-howto: "the
          interrupt-generating write cannot pass the data writes"; the MSI
          is a posted write and posted writes keep their order
          (research/cpu_time_facts.md §4 "DMA before MSI"). So a load may
          not return a value that a device write counted at or before
          ``device_count`` replaced (:meth:`ValueHistory.candidates
          <sim.host.coherence.ValueHistory.candidates>`).
        * Nothing about other CPUs' stores: interrupt entry is not a fence on
          any profile (cpu_time_facts.md §4 "Interrupt entry is not a barrier":
          memory-barriers.txt INTERRUPTS; GIC adds ``smp_rmb`` only after
          IPIs). Their values may still be read stale, bounded as before by
          the read horizon (moved only by read barriers) and per-location
          coherence. This CPU's own store buffer stays (rule 1 of §4).

        INTx implies nothing: the handler's read of ICR (an MMIO read, which
        flushes the device's posted writes) orders it (msi-howto). Callers
        get ``device_count`` from :meth:`MsiController.deliver
        <sim.host.msi.MsiController.deliver>` (or :meth:`MsiController.write_count
        <sim.host.msi.MsiController.write_count>` for an interrupt raised now).
        """
        if device_count > self.device_floor:
            self.device_floor = device_count

    def fence(self, f: Fence) -> None:
        """Apply an ordering relation now (see the module docstring)."""
        if self.owed_ps:
            self.run.settle()
        if self._nstores:
            if f.writes_before(W):
                self._sb.mark(f)
            flush = f.writes_before(R)
            if flush == W:
                self.drain_all()   # every buffered store is ordered: all of them, oldest first
            elif flush:
                self._flush(lambda e, m=flush: e.cls & m)
        if self.history is not None and (f.after_of[MR] | f.after_of[DR]) & MR:
            self.horizon = self.history.gver

    def mmio_write(self, addr: int, size: int, value: int, accessor: str = "writel",
                   site: str | None = None) -> None:
        """A device write through accessor ``writel``/``writel_relaxed``/``__raw_writel``."""
        if self.owed_ps:
            self.run.settle()
        if site is not None:
            accessor = self.host.resolve_site(site, accessor)
            if accessor is None:
                return
        acc = self.profile.accessor(accessor)
        if not acc.before.is_empty:
            self.fence(acc.before)
        if self.profile.store_buffer:
            self._enqueue(BufferedStore(DW, addr, size, value))
        else:
            self.host.mmio.write(addr, size, value)
        if not acc.after.is_empty:
            self.fence(acc.after)

    def mmio_read(self, addr: int, size: int, accessor: str = "readl", site: str | None = None) -> int:
        """A device read through accessor ``readl``/``readl_relaxed``/``__raw_readl``."""
        if self.owed_ps:
            self.run.settle()
        if site is not None:
            accessor = self.host.resolve_site(site, accessor) or "__raw_readl"
        acc = self.profile.accessor(accessor)
        if not acc.before.is_empty:
            self.fence(acc.before)
        if self._nstores:
            self._flush(lambda e: e.cls == DW)
        value = self.host.mmio.read(addr, size)
        self.charge(self.host.mmio_read_latency_ps)
        if not acc.after.is_empty:
            self.fence(acc.after)
        return value

    # Linux-named shorthands (argument order as in Linux: value first for writes).
    def writel(self, value: int, addr: int, site: str | None = None) -> None:
        self.mmio_write(addr, 4, value, "writel", site)

    def writel_relaxed(self, value: int, addr: int, site: str | None = None) -> None:
        self.mmio_write(addr, 4, value, "writel_relaxed", site)

    def readl(self, addr: int, site: str | None = None) -> int:
        return self.mmio_read(addr, 4, "readl", site)

    def readl_relaxed(self, addr: int, site: str | None = None) -> int:
        return self.mmio_read(addr, 4, "readl_relaxed", site)

    # --- the store buffer -------------------------------------------
    def _enqueue(self, entry: BufferedStore) -> None:
        if self._nstores >= self.store_buffer_entries:
            self._make_room()
        entry.order = self._stores_made
        self._stores_made += 1
        self._sb.add(entry)
        self._nstores += 1
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.engine.call_later(self._drain_latency(), self._drain_step)

    def _drain_step(self) -> None:
        """Make one eligible buffered store visible (a choice), then schedule the next."""
        self._drain_scheduled = False
        if not self._nstores:
            return
        eligible = self._sb.eligible()
        e = eligible[0] if len(eligible) == 1 else eligible[self.engine.choose_index(len(eligible), self._why_drain)]
        self._commit(e)
        if self._nstores:
            self._drain_scheduled = True
            self.engine.call_later(self._drain_latency(), self._drain_step)

    def _make_room(self) -> None:
        """The buffer is full: the CPU stalls while one eligible store (a choice) leaves it."""
        eligible = self._sb.eligible()
        e = eligible[0] if len(eligible) == 1 else eligible[self.engine.choose_index(len(eligible), self._why_drain)]
        self._commit(e)
        self.charge(self._drain_latency())   # the stall: the time one drain takes

    def _drain_latency(self) -> int:
        """Time until the next drain step: one of ``drain_options`` (a choice if several)."""
        opts = self.drain_options
        if len(opts) == 1:
            return opts[0]
        return opts[self.engine.choose_index(len(opts), self._why_drain_latency)]

    def drain_all(self) -> None:
        """Make every buffered store visible now, oldest first (always an allowed order)."""
        while self._nstores:
            self._commit(self._sb.oldest())

    def flush_range(self, addr: int, size: int) -> None:
        """Make this CPU's buffered memory stores to ``[addr, addr+size)``, and all they wait for, visible now."""
        if self._nstores:
            end = addr + size
            self._flush(lambda e: e.cls == MW and e.addr < end and addr < e.addr + e.size)

    def _flush(self, pred) -> None:
        """Make every buffered store matching ``pred``, and all it waits for, visible now (oldest first)."""
        for e in self._sb.closure(pred):
            self._commit(e)

    def _commit(self, e: BufferedStore) -> None:
        """Take eligible store ``e`` out of the buffer and make it globally visible."""
        self._sb.remove(e)
        self._nstores -= 1
        if e.cls == MW:
            hist = self.history
            if hist is None:
                self.mem.write(e.addr, e.data)
            else:
                hist.cpu_write(e.addr, e.data)
                self._saw_own_write(e.addr, e.size)
        else:
            self.host.mmio.write(e.addr, e.size, e.data)

    def _saw_own_write(self, addr: int, size: int) -> None:
        """After this CPU's write to ``[addr, addr + size)``, its loads there may not return older values.

        A long write (over ``HISTORY_MAX_WRITE_BYTES``) records no history for
        its qwords (:mod:`sim.host.coherence`), so a qword without history
        offers only its current value and a ``seen`` floor there changes
        nothing — nor later, since any value recorded afterwards is replaced
        after this write. So a long write updates ``seen`` only for the
        qwords that have a history, found per page: a 64 KiB payload copy
        costs a few lookups, not 8192 updates.
        """
        hist = self.history
        g = hist.gver
        seen = self.seen
        if size <= HISTORY_MAX_WRITE_BYTES:
            q = addr & ~7
            end = addr + size
            while q < end:
                seen[q] = g
                q += 8
        else:
            for q in hist.recorded_qwords(addr, size):
                seen[q] = g

    # --- CPU time ------------------------------------------------------
    def _observable(self) -> None:
        """A shared-memory access: spend the owed time first; under exploration, an interleaving point."""
        if self.interleave:
            self.run.access_point()
        elif self.owed_ps:
            self.run.settle()

    def switch(self, context: str) -> str:
        """Make ``context`` the accounting name (synchronous callers); returns the previous one."""
        prev = self.context
        self.context = context
        return prev

    def charge(self, ps: int) -> None:
        """Owe ``ps`` of CPU time: the running context spends it at its next observable step.

        (See :mod:`sim.host.sched`.) The time is accounted as it elapses, to
        whatever the CPU runs then. A synchronous caller (no context runs: a
        test or the system's set-up calling kernel code directly) owes it
        apart, in ``sync_owed_ps``: no time passes for it unless the caller
        takes it with :meth:`settle`, and it never lands on a context.
        """
        if self.sched.running is None:
            self.sync_owed_ps += ps
        else:
            self.owed_ps += ps

    def settle(self) -> int:
        """Inside a context: spend the owed time now and return 0. Synchronous callers: what they
        charged since their last settle, as a delay to yield."""
        sched = self.sched
        if sched.running is not None and sched.running.run is self.run:
            if self.owed_ps:
                self.run.settle()
            return 0
        owed = self.sync_owed_ps
        self.sync_owed_ps = 0
        return owed

    def __repr__(self) -> str:
        return f"<Cpu {self.index} {self.profile.name} buffered={self._nstores}>"

    # --- atomic read-modify-writes ------------------------------------
    def atomic_rmw(self, addr: int, size: int, op, ordered: Fence | None = None) -> int:
        """Atomically replace the ``size``-byte value at ``addr`` by ``op(old)``; returns ``old``.

        The read is coherent and current: this CPU's own buffered stores to
        those bytes become visible first, and no stale value is possible (an
        RMW reads the latest value in coherence order). The write is globally
        visible when this returns, after every buffered store of this CPU that
        it must follow (a fence mark between them orders the pair). Ordering
        against other accesses: the profile's ``atomic_rmw`` Fence on both
        sides (x86: LOCK'd, a full barrier; weak profiles: nothing), and
        ``ordered`` on both sides if given (Linux's fully ordered
        value-returning atomics pass ``smp_mb``'s Fence).
        """
        return self._atomic(addr, size, op, None, ordered)

    def cmpxchg(self, addr: int, size: int, old: int, new: int, ordered: Fence | None = None) -> int:
        """Atomic compare-and-exchange: store ``new`` if the value is ``old``; returns the value read.

        As :meth:`atomic_rmw`, except that ``ordered`` applies only when the
        exchange succeeds (Linux's ``cmpxchg()`` is fully ordered on success
        only; cpu_time_facts §3). A failed one writes nothing.
        """
        return self._atomic(addr, size, lambda v: new, old, ordered)

    def _atomic(self, addr: int, size: int, op, expect: int | None, ordered: Fence | None) -> int:
        if self.owed_ps or self.interleave:
            self._observable()
        implied = self.profile.atomic_rmw
        if not implied.is_empty:
            self.fence(implied)
        if self._nstores:
            end = addr + size
            self._flush(lambda e: e.cls == MW and e.addr < end and addr < e.addr + e.size)
        value = int.from_bytes(self.mem.read(addr, size), "little")
        if expect is None or value == expect:
            if ordered is not None:
                self.fence(ordered)
            self._atomic_write(addr, op(value).to_bytes(size, "little"))
            if ordered is not None:
                self.fence(ordered)
        else:
            self._saw_current(addr, size)
        if not implied.is_empty:
            self.fence(implied)
        return value

    def _atomic_write(self, addr: int, data: bytes) -> None:
        """Make an RMW's write visible now, after the buffered stores it must follow."""
        if self._nstores:
            entry = BufferedStore(MW, addr, len(data), data)
            entry.order = self._stores_made
            self._stores_made += 1
            self._sb.add(entry)
            self._nstores += 1
            self._flush(lambda e: e is entry)
        else:
            hist = self.history
            if hist is None:
                self.mem.write(addr, data)
            else:   # a CPU's write, not a device's (take_interrupt makes only device writes visible)
                hist.cpu_write(addr, data)
                self._saw_own_write(addr, len(data))

    def store_mark(self) -> int:
        """A mark of this CPU's stores so far: :meth:`publish_before` makes them, and only them, visible."""
        return self._stores_made

    def publish_before(self, mark: int) -> None:
        """Make this CPU's buffered memory stores older than ``mark`` visible (and what they wait for)."""
        if self._nstores:
            self._flush(lambda e: e.cls == MW and e.order < mark)

    def _saw_current(self, addr: int, size: int) -> None:
        """This CPU has read the current value of these bytes: later loads may not return older ones."""
        hist = self.history
        if hist is not None:
            q = addr & ~7
            while q < addr + size:
                self.seen[q] = hist.written_at(q)
                q += 8
