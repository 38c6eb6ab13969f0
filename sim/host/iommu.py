"""The IOMMU: the only way a device reaches host memory.

The CPU side (the driver, through :mod:`sim.host.dma`) maps IOVA ranges onto
physical memory with a DMA direction; the device side calls
:meth:`Iommu.dma_read` / :meth:`Iommu.dma_write` with IOVAs. Like real
hardware, a bad device access never crashes anything: it is blocked, recorded
as a :class:`DmaFault` in ``iommu.faults``, logged at WARNING, and

* a blocked read returns ``POISON_IOMMU_FAULT`` (0xff) for *every* byte of
  the access, even if part of it was mapped. Real hardware reports the whole
  read request as failed (one UR/CA completion status for the request), and
  an all-poison result is easier to spot in a trace than a half-good buffer;
* a blocked write is dropped entirely and ``dma_write`` returns False:
  nothing is partially written.

Directions are from the CPU's point of view, as in Linux: ``TO_DEVICE`` means
the device may only *read*, ``FROM_DEVICE`` the device may only *write*,
``BIDIRECTIONAL`` both. An access may span adjacent mappings when every one
allows it.

``enabled=False`` is pass-through (like ``iommu=pt`` or no IOMMU at all):
IOVA == physical address, no direction checks; only an access beyond the end
of physical memory is still a fault ("unmapped": no memory answers there).
``map``/``unmap`` keep their bookkeeping and checks in that mode, but device
accesses ignore the table.

Lookups are a ``bisect`` over the sorted mapping start addresses.
"""
from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Callable

from .memory import PAGE_SIZE, POISON_IOMMU_FAULT, PhysMemory, RangeAllocator, page_align_up

__all__ = [
    "DmaDirection", "DmaFault", "Mapping", "Iommu", "IovaSpaceExhausted",
    "IOVA_BASE", "IOVA_SIZE",
]

log = logging.getLogger(__name__)

#: Start of the IOVA space handed out by :meth:`Iommu.alloc_iova`. Chosen
#: below 4 GiB on purpose: Linux's dma-iommu allocator tries 32-bit IOVAs
#: first for PCI devices ("SAC" addresses) so that TLPs use 3DW headers; an
#: IOVA space above 4 GiB would make every DMA pay the 4DW header. It is far
#: from the physical pools of :mod:`sim.host.dma` (0x1000_0000, 0x2000_0000),
#: so an IOVA is still visibly not a physical address.
IOVA_BASE = 0xC000_0000
#: Size of the IOVA space: up to the 4 GiB line (1 GiB).
IOVA_SIZE = 0x4000_0000


class IovaSpaceExhausted(MemoryError):
    """No free IOVA range of the requested size and alignment."""


class DmaDirection(IntEnum):
    """Linux ``enum dma_data_direction`` (include/linux/dma-direction.h).

    Seen from the CPU: TO_DEVICE = the device reads the buffer, FROM_DEVICE =
    the device writes it. ``NONE`` exists in Linux for debugging only;
    mapping with it is refused, as ``valid_dma_direction()`` would.
    """

    BIDIRECTIONAL = 0
    TO_DEVICE = 1
    FROM_DEVICE = 2
    NONE = 3


_DEVICE_MAY_READ = frozenset({DmaDirection.BIDIRECTIONAL, DmaDirection.TO_DEVICE})
_DEVICE_MAY_WRITE = frozenset({DmaDirection.BIDIRECTIONAL, DmaDirection.FROM_DEVICE})


@dataclass(frozen=True, slots=True)
class DmaFault:
    """One blocked device access.

    ``kind`` is "read" or "write"; ``reason`` is "unmapped" (no byte mapped),
    "partially unmapped" (some bytes mapped, some not) or "direction" (all
    mapped, but a mapping's direction forbids this kind of access).
    """

    time_ps: int
    iova: int
    size: int
    who: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return (f"IOMMU fault at t={self.time_ps} ps: {self.who or '?'} {self.kind} of "
                f"{self.size} bytes at IOVA {self.iova:#x} blocked ({self.reason})")


@dataclass(frozen=True, slots=True)
class Mapping:
    """IOVA ``[iova, end)`` -> physical ``[phys, phys + size)``."""

    iova: int
    phys: int
    size: int
    direction: DmaDirection
    owner: str = ""
    end: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "end", self.iova + self.size)


def _zero_clock() -> int:
    """Default clock: the IOMMU alone has no notion of time."""
    return 0


class Iommu:
    """IOVA -> physical translation with per-mapping DMA direction.

    ``clock``: optional callable returning the current time in ps, stamped
    on faults (e.g. ``lambda: engine.now``).
    """

    __slots__ = ("mem", "enabled", "faults", "_clock", "_starts", "_maps", "_iova")

    def __init__(self, mem: PhysMemory, enabled: bool = True,
                 clock: Callable[[], int] | None = None,
                 iova_base: int = IOVA_BASE, iova_size: int = IOVA_SIZE):
        self.mem = mem
        self.enabled = enabled
        self.faults: list[DmaFault] = []
        self._clock = clock or _zero_clock
        self._starts: list[int] = []
        self._maps: list[Mapping] = []
        self._iova = RangeAllocator("iova", iova_base, iova_size)

    # --- CPU side: mappings ----------------------------------------------
    def map(self, iova: int, phys: int, size: int, direction: DmaDirection,
            owner: str = "") -> Mapping:
        """Map ``size`` bytes at ``iova`` to ``phys``. Overlaps -> ValueError."""
        direction = DmaDirection(direction)
        if direction is DmaDirection.NONE:
            raise ValueError("cannot map with DmaDirection.NONE")
        if size <= 0 or iova < 0:
            raise ValueError(f"bad mapping iova={iova:#x} size={size}")
        if phys < 0 or phys + size > self.mem.size_bytes:
            raise ValueError(f"mapping target [{phys:#x}, +{size}) is outside physical memory")
        new = Mapping(iova, phys, size, direction, owner)
        i = bisect_right(self._starts, iova)
        for j in (i - 1, i):
            if 0 <= j < len(self._maps):
                old = self._maps[j]
                if old.iova < new.end and iova < old.end:
                    raise ValueError(f"IOVA [{iova:#x}, {new.end:#x}) ({owner or '?'}) overlaps "
                                     f"mapping [{old.iova:#x}, {old.end:#x}) ({old.owner or '?'})")
        self._starts.insert(i, iova)
        self._maps.insert(i, new)
        return new

    def unmap(self, iova: int, size: int) -> Mapping:
        """Remove the mapping that starts at ``iova`` and has exactly ``size``."""
        i = bisect_left(self._starts, iova)
        if i == len(self._starts) or self._starts[i] != iova:
            raise ValueError(f"unmap of IOVA {iova:#x} (+{size}): no mapping starts there")
        m = self._maps[i]
        if m.size != size:
            raise ValueError(f"unmap of IOVA {iova:#x} with size {size}, "
                             f"but it was mapped with size {m.size} ({m.owner or '?'})")
        del self._starts[i], self._maps[i]
        return m

    def mapping_at(self, iova: int) -> Mapping | None:
        """The mapping holding ``iova``, or None."""
        i = bisect_right(self._starts, iova) - 1
        if i >= 0 and iova < self._maps[i].end:
            return self._maps[i]
        return None

    def translate(self, iova: int) -> int | None:
        """Physical address of ``iova`` (ignoring direction), or None if unmapped."""
        if not self.enabled:
            return iova
        m = self.mapping_at(iova)
        return None if m is None else m.phys + (iova - m.iova)

    @property
    def mappings(self) -> tuple[Mapping, ...]:
        """Live mappings in IOVA order."""
        return tuple(self._maps)

    # --- CPU side: IOVA allocator --------------------------------------------
    def alloc_iova(self, size: int, align: int = PAGE_SIZE) -> int:
        """A free IOVA range of ``size`` bytes, rounded up to whole pages.

        The IOMMU translates whole 4 KiB pages, so ranges are page-granular and
        at least page-aligned (a larger power-of-two ``align`` is honoured).
        """
        iova = self._iova.alloc(page_align_up(size), max(align, PAGE_SIZE))
        if iova is None:
            raise IovaSpaceExhausted(
                f"no free IOVA range of {size} bytes (align {align:#x}) in "
                f"[{self._iova.base:#x}, {self._iova.base + self._iova.size:#x})")
        return iova

    def free_iova(self, iova: int) -> None:
        """Give back a range from :meth:`alloc_iova`; it must have no live mapping."""
        size = self._iova.size_of(iova)
        if size is None:
            raise ValueError(f"free_iova({iova:#x}): not an allocated IOVA range")
        i = bisect_left(self._starts, iova)
        if i < len(self._starts) and self._starts[i] < iova + size:
            m = self._maps[i]
            raise ValueError(f"free_iova({iova:#x}): mapping [{m.iova:#x}, {m.end:#x}) "
                             f"({m.owner or '?'}) is still live")
        self._iova.free(iova)

    # --- device side -------------------------------------------------------
    def dma_read(self, iova: int, n: int, who: str) -> bytes:
        """Device read of ``n`` bytes; poison (0xff) and a fault if blocked."""
        if n <= 0:
            if n < 0:
                raise ValueError(f"{who}: negative DMA read length {n} (model bug)")
            return b""
        if not self.enabled:
            return self._passthrough_read(iova, n, who)
        i = bisect_right(self._starts, iova) - 1
        if i >= 0:
            m = self._maps[i]
            if iova + n <= m.end and m.direction in _DEVICE_MAY_READ:
                return self.mem.read(m.phys + (iova - m.iova), n)
        segs = self._segments(iova, n, who, "read", _DEVICE_MAY_READ)
        if segs is None:
            return bytes((POISON_IOMMU_FAULT,)) * n
        return b"".join(self.mem.read(phys, k) for phys, k in segs)

    def dma_read_checked(self, iova: int, n: int, who: str) -> tuple[bytes, bool]:
        """Like :meth:`dma_read`, plus whether it succeeded (a PCIe completer's status)."""
        before = len(self.faults)
        data = self.dma_read(iova, n, who)
        return data, len(self.faults) == before

    def dma_write(self, iova: int, data, who: str) -> bool:
        """Device write of ``data``; False (and nothing written) if blocked."""
        n = len(data)
        if not n:
            return True
        if not self.enabled:
            return self._passthrough_write(iova, data, who)
        i = bisect_right(self._starts, iova) - 1
        if i >= 0:
            m = self._maps[i]
            if iova + n <= m.end and m.direction in _DEVICE_MAY_WRITE:
                self.mem.write(m.phys + (iova - m.iova), data)
                return True
        segs = self._segments(iova, n, who, "write", _DEVICE_MAY_WRITE)
        if segs is None:
            return False
        mv, pos = memoryview(data), 0
        for phys, k in segs:
            self.mem.write(phys, mv[pos:pos + k])
            pos += k
        return True

    def _segments(self, iova: int, n: int, who: str, kind: str,
                  allowed: frozenset) -> list[tuple[int, int]] | None:
        """Physical pieces of ``[iova, iova + n)``, or None after recording a fault."""
        end = iova + n
        i = max(bisect_right(self._starts, iova) - 1, 0)
        segs: list[tuple[int, int]] = []
        pos, covered, bad_direction = iova, 0, False
        while i < len(self._maps) and self._maps[i].iova < end:
            m = self._maps[i]
            lo, hi = max(m.iova, pos), min(m.end, end)
            if lo < hi:
                covered += hi - lo
                bad_direction |= m.direction not in allowed
                segs.append((m.phys + (lo - m.iova), hi - lo))
                pos = hi
            i += 1
        if covered < n:
            self._fault(iova, n, who, kind, "partially unmapped" if covered else "unmapped")
            return None
        if bad_direction:
            self._fault(iova, n, who, kind, "direction")
            return None
        return segs

    def _passthrough_read(self, iova: int, n: int, who: str) -> bytes:
        """No IOMMU: IOVA is the physical address."""
        if self._outside_memory(iova, n, who, "read"):
            return bytes((POISON_IOMMU_FAULT,)) * n
        return self.mem.read(iova, n)

    def _passthrough_write(self, iova: int, data, who: str) -> bool:
        """No IOMMU: IOVA is the physical address."""
        if self._outside_memory(iova, len(data), who, "write"):
            return False
        self.mem.write(iova, data)
        return True

    def _outside_memory(self, addr: int, n: int, who: str, kind: str) -> bool:
        """Record a fault and return True if any byte lies beyond physical memory."""
        top = self.mem.size_bytes
        if 0 <= addr and addr + n <= top:
            return False
        inside = max(0, min(addr + n, top) - max(addr, 0))
        self._fault(addr, n, who, kind, "partially unmapped" if inside else "unmapped")
        return True

    def _fault(self, iova: int, n: int, who: str, kind: str, reason: str) -> None:
        """Record and log one blocked access."""
        fault = DmaFault(self._clock(), iova, n, who, kind, reason)
        self.faults.append(fault)
        log.warning("%s", fault)
