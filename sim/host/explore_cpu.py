"""A CPU under the ordering explorer: stores wait until someone looks, and every ordering is a question.

The explorer turns the CPUs of a forked machine into this class
(``cpu.__class__ = ExploreCpu``, :func:`sim.explore.machine.make_explorable`),
so an ordinary run pays nothing for it. ``watch`` (the explorer's ``Watch``)
says which addresses are *shared cells* and asks the questions. The
differences from :class:`~sim.host.cpu.Cpu`:

* **Interleaving points** are barriers, device accesses and atomics on the
  shared cells: a zero-time wait, so another same-time context may run
  first (the policy's tie). A plain load or store is not one: a buffered
  store is invisible until observed, so running another CPU just before or
  just after it gives that CPU the same view.
* **A store to a shared cell** waits in the store buffer until an ordering
  forces it out (a fence, this CPU's RMW, a device write and what the
  profile orders before it) or another agent reads those bytes
  (``watch.observe``: visible now, with everything it must follow, or not
  yet). A store elsewhere is made visible at once, after every buffered
  store it must follow (on x86-TSO: all of them).
* **An atomic's write** to a shared cell is buffered like a store when
  nothing orders it (weak profiles, no fully ordered Linux semantics asked):
  ``set_bit``'s store may still be invisible when a later load of this CPU
  reads another cell, which Linux's memory model allows and a full barrier
  forbids. Another CPU's atomic on those bytes sees it (coherence, no
  question).
* **Device writes** leave the buffer at once with what they must follow;
  then the CPU may be held up (``watch.after_device_write``).
* **Stale loads** are asked through the watch (``watch.stale_pick``).
"""
from __future__ import annotations

from .cpu import Cpu
from .ordering import DW, MW
from .store_buffer import BufferedStore

__all__ = ["ExploreCpu"]


class ExploreCpu(Cpu):
    """See the module docstring. ``watch`` must be set before the class is swapped in."""

    watch = None

    def _point(self) -> None:
        """An interleaving point (only inside this CPU's running context)."""
        self.run.access_point()

    # --- memory ---------------------------------------------------------------------------------
    def store_bytes(self, addr: int, data: bytes) -> None:
        watch = self.watch
        data = bytes(data)
        if watch.covers(addr, len(data)):
            watch.on_store(self, addr, data)
            self._enqueue(BufferedStore(MW, addr, len(data), data))
            watch.stored(self)
        else:
            self._atomic_write(addr, data, shared=False)

    def load_bytes(self, addr: int, size: int) -> bytes:
        if not self.watch.covers(addr, size):
            return self.mem.read(addr, size)   # nothing of it is ever buffered: the current value
        self.watch.observe(self, addr, size)
        return super().load_bytes(addr, size)

    def _pick_stale(self, addr: int, q: int, cands: list):
        return self.watch.stale_pick(self, addr, q, cands, f"{self._why_stale} {addr:#x}")

    def _atomic(self, addr: int, size: int, op, expect, ordered):
        watch = self.watch
        if watch.covers(addr, size):
            self._point()
            watch.note(self, "atomic", addr)
            watch.observe(self, addr, size, rmw=True)
        return super()._atomic(addr, size, op, expect, ordered)

    def _atomic_write(self, addr: int, data: bytes, shared: bool | None = None) -> None:
        """An atomic's (or an unshared store's) write: buffered when it is a shared cell nothing orders."""
        if shared is None:
            shared = self.watch.covers(addr, len(data)) and self.profile.atomic_rmw.is_empty
        if shared:
            self._enqueue(BufferedStore(MW, addr, len(data), data))
        else:
            super()._atomic_write(addr, data)

    def _enqueue(self, entry: BufferedStore) -> None:
        """Into the buffer, no capacity limit and no drain steps; a device write leaves at once."""
        entry.order = self._stores_made
        self._stores_made += 1
        self._sb.add(entry)
        self._nstores += 1
        if entry.cls == DW:
            self._flush(lambda e: e is entry)

    # --- barriers and devices ---------------------------------------------------------------------
    def barrier(self, name: str, site: str | None = None) -> None:
        self._point()
        self.watch.note(self, "barrier", name, site)
        super().barrier(name, site)

    def mmio_write(self, addr: int, size: int, value: int, accessor: str = "writel",
                   site: str | None = None) -> None:
        self._point()
        self.watch.note(self, "device write", value, site, accessor)
        super().mmio_write(addr, size, value, accessor, site)
        self.watch.after_device_write(self)

    def mmio_read(self, addr: int, size: int, accessor: str = "readl", site: str | None = None) -> int:
        self._point()
        return super().mmio_read(addr, size, accessor, site)

    # --- for checkers and reports -------------------------------------------------------------------
    def holds(self, addr: int, size: int) -> bool:
        """True if the store buffer holds a memory store to a byte of ``[addr, addr + size)``."""
        return bool(self._nstores) and bool(self._sb.writes_over(addr, size))

    def own_view(self, addr: int, size: int) -> bytes:
        """The bytes as this CPU's program order has them (its buffer over memory); not a load."""
        own = self._sb.writes_over(addr, size) if self._nstores else None
        return self._forward(addr, size, own) if own else self.mem.read(addr, size)
