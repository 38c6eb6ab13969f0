"""kmalloc/kzalloc/kfree and vmalloc/vzalloc/vfree, counted so that leaks show.

Two forms, chosen per call:

* **memory** (no ``make``): a physical address in the host's kmalloc pool,
  like the pointer Linux returns. The driver reads and writes it through the
  current CPU (``Kernel.write_le64`` …), so store buffers and stale loads
  apply — what a field shared between CPUs (e.g. igb's ``tx_buffer_info``
  and ring indices, which the cleaner reads) needs for the ordering
  explorer to see its races.
* **object** (``make=callable``): ``make()``'s result, a plain Python object
  for state only one CPU ever touches; ``size`` is what the C code would
  have allocated, for the leak report.

Failure (an armed ``kzalloc``/``vmalloc`` failure point, or an exhausted
pool) returns None, as Linux returns NULL. ``kfree(None)``/``vfree(None)``
are no-ops; freeing twice, freeing what was never allocated, or freeing
with the other family's function is a ValueError.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from sim.host.dma import DmaPoolExhausted
from sim.host.memory import PAGE_SIZE

from .faults import FailureRequest
from .leaks import Leak, caller_name

__all__ = ["Allocations"]

log = logging.getLogger("igbsim.driver.platform.alloc")


class _Alloc:
    """One live allocation: family ("kzalloc" for k*alloc, "vmalloc" for v*alloc), size, owner, value."""

    __slots__ = ("family", "size", "owner", "value")

    def __init__(self, family: str, size: int, owner: str, value: Any):
        self.family = family
        self.size = size
        self.owner = owner
        self.value = value


class Allocations:
    """The live k*alloc and v*alloc allocations of one kernel."""

    def __init__(self, host, faults):
        self.host = host
        self.faults = faults
        self._memory: dict[int, _Alloc] = {}   # physical address -> allocation
        self._objects: dict[int, _Alloc] = {}  # id(object) -> allocation (holds the object)

    def alloc(self, family: str, size: int, make: Callable[[], Any] | None, zero: bool):
        """Allocate in ``family``; see the module docstring for the two forms."""
        if size <= 0:
            raise ValueError(f"{family}: size must be positive, got {size}")
        owner = caller_name()
        if self.faults.should_fail(FailureRequest(family, owner, size)):
            log.warning("%s: %s(%d) failed (injected)", owner, family, size)
            return None
        if make is not None:
            return self._new_object(family, size, owner, make())
        try:
            addr = self.host.dma.kmalloc(size, PAGE_SIZE if family == "vmalloc" else 64)
        except DmaPoolExhausted as e:
            log.warning("%s: %s(%d) failed: %s", owner, family, size, e)
            return None
        if zero:
            self.host.mem.fill(addr, size, 0)
        self._memory[addr] = _Alloc(family, size, owner, addr)
        return addr

    def _new_object(self, family: str, size: int, owner: str, obj: Any) -> Any:
        if obj is None or id(obj) in self._objects:
            raise ValueError(f"{family}: make() must return a new object, got {obj!r}")
        self._objects[id(obj)] = _Alloc(family, size, owner, obj)
        return obj

    def free(self, family: str, fn: str, ptr: Any) -> None:
        """``fn`` (kfree/vfree) of ``ptr``; None is a no-op."""
        if ptr is None:
            return
        rec, table, key = self._find(ptr)
        if rec is None:
            raise ValueError(f"{fn}({_show(ptr)}): not a live allocation (double free or never allocated)")
        if rec.family != family:
            raise ValueError(f"{fn}({_show(ptr)}): allocated by {rec.owner} with {rec.family}, "
                             f"free it with {'vfree' if rec.family == 'vmalloc' else 'kfree'}")
        del table[key]
        if table is self._memory:
            self.host.dma.kfree(ptr)

    def _find(self, ptr: Any):
        """The allocation ``ptr`` refers to, with its table and key (or None)."""
        if type(ptr) is int and ptr in self._memory:
            return self._memory[ptr], self._memory, ptr
        rec = self._objects.get(id(ptr))
        if rec is not None and rec.value is ptr:
            return rec, self._objects, id(ptr)
        return None, None, None

    def live(self) -> list[Leak]:
        """Every live allocation, memory first."""
        out = [Leak(r.family, r.owner, r.size, f"memory at {r.value:#x}") for r in self._memory.values()]
        out += [Leak(r.family, r.owner, r.size, type(r.value).__name__) for r in self._objects.values()]
        return out


def _show(ptr: Any) -> str:
    return f"{ptr:#x}" if type(ptr) is int else type(ptr).__name__
