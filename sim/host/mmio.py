"""The host's MMIO address map: BAR windows that route CPU device accesses to device models.

A device model exposes ``mmio_read(offset, size) -> int`` and
``mmio_write(offset, size, value)``. Writes are posted: they reach the device
``posted_write_latency_ps`` after they leave the CPU's store buffer, in the
order they left it (one link, one FIFO). Reads are synchronous for the
issuing CPU (the round trip is charged to the CPU as time, see
:meth:`sim.host.cpu.Cpu.charge`). PCIe ordering forbids a read request to
pass a posted write on the way down (PCIe Base Spec, ordering table: a
non-posted request may not pass a posted request), so a read first lands
every write still in flight, in order, at the time of the read; then it
reads. ``wrfl()`` (a dummy STATUS read) therefore really flushes.

A CPU access to an address no BAR claims behaves like a PCIe master abort:
reads return all ones, writes are dropped; both are recorded in
:attr:`MmioMap.faults` and logged, never raised.
"""
from __future__ import annotations

import bisect
import logging
from collections import deque
from dataclasses import dataclass

__all__ = ["MmioMap", "MmioWindow", "MmioFault"]

log = logging.getLogger("igbsim.host.mmio")


@dataclass(frozen=True)
class MmioWindow:
    """One BAR: ``[base, base + size)`` routed to ``device``."""

    name: str
    base: int
    size: int
    device: object

    @property
    def end(self) -> int:
        return self.base + self.size


@dataclass(frozen=True)
class MmioFault:
    """A CPU MMIO access no window claimed."""

    time_ps: int
    addr: int
    size: int
    kind: str  # "read" or "write"


class MmioMap:
    """Sorted, non-overlapping BAR windows; posted-write delivery through the engine."""

    def __init__(self, engine, posted_write_latency_ps: int = 0):
        self.engine = engine
        self.posted_write_latency_ps = posted_write_latency_ps
        self._bases: list[int] = []
        self._windows: list[MmioWindow] = []
        self.faults: list[MmioFault] = []
        #: Posted writes on the link, oldest first: (call handle, window, offset, size, value).
        self._in_flight: deque = deque()

    def map(self, name: str, base: int, size: int, device) -> MmioWindow:
        """Claim ``[base, base+size)`` for ``device``; overlap is a ValueError."""
        if size <= 0 or base < 0:
            raise ValueError(f"MMIO window {name}: bad base/size {base:#x}/{size:#x}")
        for w in self._windows:
            if base < w.end and w.base < base + size:
                raise ValueError(f"MMIO window {name} [{base:#x}, {base + size:#x}) overlaps {w.name}")
        win = MmioWindow(name, base, size, device)
        i = bisect.bisect(self._bases, base)
        self._bases.insert(i, base)
        self._windows.insert(i, win)
        return win

    def find(self, addr: int, size: int) -> MmioWindow | None:
        """The window that holds the whole access, or None."""
        i = bisect.bisect(self._bases, addr) - 1
        if i >= 0:
            w = self._windows[i]
            if addr + size <= w.end:
                return w
        return None

    def read(self, addr: int, size: int) -> int:
        """A device read; all ones (and a fault record) if nothing is mapped there."""
        w = self.find(addr, size)
        if w is None:
            self._fault(addr, size, "read")
            return (1 << (8 * size)) - 1
        if self._in_flight:
            self.flush_posted()
        return w.device.mmio_read(addr - w.base, size)

    def write(self, addr: int, size: int, value: int) -> None:
        """A posted device write, delivered after the posted-write latency."""
        w = self.find(addr, size)
        if w is None:
            self._fault(addr, size, "write")
            return
        if self.posted_write_latency_ps:
            entry = [None, w, addr - w.base, size, value]
            entry[0] = self.engine.call_later(self.posted_write_latency_ps, self._land, entry)
            self._in_flight.append(entry)
        else:
            w.device.mmio_write(addr - w.base, size, value)

    def _land(self, entry: list | None = None) -> None:
        """Deliver posted writes in order up to ``entry`` (its latency is over), or all of them (None)."""
        q = self._in_flight
        while q:
            e = q.popleft()
            e[0].cancel()
            e[1].device.mmio_write(e[2], e[3], e[4])
            if e is entry:
                return

    def flush_posted(self) -> None:
        """Deliver every posted write still in flight now, in order (a read pushes them ahead)."""
        self._land()

    def _fault(self, addr: int, size: int, kind: str) -> None:
        self.faults.append(MmioFault(self.engine.now, addr, size, kind))
        log.warning("MMIO %s of %d bytes at %#x: no device there (master abort)", kind, size, addr)
