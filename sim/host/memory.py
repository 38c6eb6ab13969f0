"""Simulated physical memory: sparse, byte-addressable, little-endian.

:class:`PhysMemory` is the host's RAM as the CPU sees it: physical addresses,
no translation and no permission checks. The CPU side is trusted code, so a
bad address is a model bug and raises :class:`ValueError`. Devices never call
it directly; they go through :class:`sim.host.iommu.Iommu`, which turns bad
device accesses into recorded faults instead of exceptions.

Storage is a dict of 4 KiB ``bytearray`` pages created on first write, so a
1 TiB address space costs nothing until touched and unwritten memory reads as
zeros. Accesses that stay inside one page (nearly all of them) take a fast
path with one dict lookup and one slice.

Also here: named, non-overlapping :class:`Region` s (what lives where, for
traces and error messages) and :class:`RangeAllocator`, the first-fit
address-range allocator shared by the IOVA allocator and the DMA pools.
"""
from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Callable

__all__ = [
    "PAGE_SHIFT", "PAGE_SIZE", "PAGE_MASK", "POISON_FREE", "POISON_IOMMU_FAULT",
    "PhysMemory", "Region", "RangeAllocator", "page_align_up", "page_align_down",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1

#: Byte written over freed memory. Linux ``include/linux/poison.h``:
#: ``#define POISON_FREE 0x6b /* for use-after-free poisoning */`` (SLUB
#: debug fills freed objects with it). A device or CPU reading 0x6b6b6b6b...
#: is reading memory that was freed: the classic use-after-free signature.
POISON_FREE = 0x6B

#: Byte a device sees for a read the IOMMU blocked. A blocked DMA read ends
#: in an Unsupported Request / Completer Abort completion, and the requester
#: treats the missing data as all-ones (the same 0xFF...FF a CPU reads from a
#: device that has gone away), so every byte of the access reads as 0xff.
POISON_IOMMU_FAULT = 0xFF

_ZERO_PAGE = bytes(PAGE_SIZE)
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def page_align_down(addr: int) -> int:
    """``addr`` rounded down to a 4 KiB page boundary."""
    return addr & ~PAGE_MASK


def page_align_up(addr: int) -> int:
    """``addr`` rounded up to a 4 KiB page boundary."""
    return (addr + PAGE_MASK) & ~PAGE_MASK


@dataclass(frozen=True, slots=True)
class Region:
    """A named physical address range ``[base, end)`` (``end`` is exclusive)."""

    name: str
    base: int
    size: int
    end: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "end", self.base + self.size)

    def contains(self, addr: int, n: int = 1) -> bool:
        """True when all of ``[addr, addr + n)`` lies inside the region."""
        return self.base <= addr and addr + n <= self.end

    def __str__(self) -> str:
        return f"{self.name!r} [{self.base:#x}, {self.end:#x})"


class PhysMemory:
    """Sparse physical memory of ``size_bytes`` bytes (default 1 TiB).

    Two write hooks, each ``None`` or a callable ``hook(addr, length)``,
    called by every ``write*``/``fill`` that passed its checks (zero-length
    writes store nothing and call nothing; reads never call them):

    * ``before_write``: just *before* the bytes are stored, while the old
      values can still be read (the ordering model's value histories,
      :mod:`sim.host.coherence`, keep the values a write replaces);
    * ``on_write``: just *after* the bytes are stored (watchers, traces).
    """

    __slots__ = ("size_bytes", "before_write", "on_write", "_pages", "_regions", "_region_bases")

    def __init__(self, size_bytes: int = 1 << 40):
        if size_bytes <= 0:
            raise ValueError(f"memory size must be positive, got {size_bytes}")
        self.size_bytes = size_bytes
        self.before_write: Callable[[int, int], None] | None = None
        self.on_write: Callable[[int, int], None] | None = None
        self._pages: dict[int, bytearray] = {}
        self._regions: list[Region] = []
        self._region_bases: list[int] = []

    # --- checks and page helpers -----------------------------------------
    def _check(self, addr: int, n: int) -> None:
        """Raise ValueError unless ``[addr, addr + n)`` is inside memory."""
        if addr < 0 or n < 0 or addr + n > self.size_bytes:
            raise ValueError(
                f"physical access [{addr:#x}, +{n}) outside memory [0, {self.size_bytes:#x})")

    def _page(self, pfn: int) -> bytearray:
        """The page with frame number ``pfn``, allocated (zeroed) if new."""
        page = self._pages.get(pfn)
        if page is None:
            page = self._pages[pfn] = bytearray(PAGE_SIZE)
        return page

    @property
    def pages_allocated(self) -> int:
        """How many 4 KiB pages have backing storage (sparseness check)."""
        return len(self._pages)

    # --- bulk access -------------------------------------------------------
    def read(self, addr: int, n: int) -> bytes:
        """The ``n`` bytes at ``addr`` (zeros where never written)."""
        self._check(addr, n)
        off = addr & PAGE_MASK
        if off + n <= PAGE_SIZE:
            page = self._pages.get(addr >> PAGE_SHIFT)
            return bytes(n) if page is None else bytes(page[off:off + n])
        return self._read_span(addr, n)

    def _read_span(self, addr: int, n: int) -> bytes:
        """Slow path of :meth:`read`: an access crossing page boundaries."""
        out = bytearray()
        pages = self._pages
        while n:
            off = addr & PAGE_MASK
            k = min(n, PAGE_SIZE - off)
            page = pages.get(addr >> PAGE_SHIFT)
            out += _ZERO_PAGE[:k] if page is None else page[off:off + k]
            addr += k
            n -= k
        return bytes(out)

    def write(self, addr: int, data) -> None:
        """Store the bytes-like ``data`` at ``addr`` (may span pages)."""
        if not isinstance(data, (bytes, bytearray)):
            data = memoryview(data).cast("B")
        n = len(data)
        self._check(addr, n)
        if not n:
            return
        if self.before_write is not None:
            self.before_write(addr, n)
        off = addr & PAGE_MASK
        if off + n <= PAGE_SIZE:
            self._page(addr >> PAGE_SHIFT)[off:off + n] = data
        else:
            self._write_span(addr, data)
        if self.on_write is not None:
            self.on_write(addr, n)

    def _write_span(self, addr: int, data) -> None:
        """Slow path of :meth:`write`: copy page by page."""
        mv = memoryview(data)
        pos, n = 0, len(mv)
        while pos < n:
            off = addr & PAGE_MASK
            k = min(n - pos, PAGE_SIZE - off)
            self._page(addr >> PAGE_SHIFT)[off:off + k] = mv[pos:pos + k]
            addr += k
            pos += k

    def fill(self, addr: int, n: int, byte: int) -> None:
        """Set ``n`` bytes at ``addr`` to ``byte`` (e.g. poisoning on free)."""
        if not 0 <= byte <= 0xFF:
            raise ValueError(f"fill byte {byte!r} is not in 0..255")
        self._check(addr, n)
        if not n:
            return
        if self.before_write is not None:
            self.before_write(addr, n)
        pattern = bytes((byte,)) * min(n, PAGE_SIZE)
        start, left = addr, n
        while left:
            off = start & PAGE_MASK
            k = min(left, PAGE_SIZE - off)
            self._page(start >> PAGE_SHIFT)[off:off + k] = pattern[:k]
            start += k
            left -= k
        if self.on_write is not None:
            self.on_write(addr, n)

    # --- little-endian scalars ------------------------------------------
    def read8(self, addr: int) -> int:
        """The byte at ``addr``."""
        self._check(addr, 1)
        page = self._pages.get(addr >> PAGE_SHIFT)
        return 0 if page is None else page[addr & PAGE_MASK]

    def read16(self, addr: int) -> int:
        """The little-endian 16-bit value at ``addr``."""
        return self._read_scalar(addr, _U16)

    def read32(self, addr: int) -> int:
        """The little-endian 32-bit value at ``addr``."""
        return self._read_scalar(addr, _U32)

    def read64(self, addr: int) -> int:
        """The little-endian 64-bit value at ``addr``."""
        return self._read_scalar(addr, _U64)

    def _read_scalar(self, addr: int, st: struct.Struct) -> int:
        """Unpack ``st`` at ``addr``; straight from the page when it fits."""
        n = st.size
        self._check(addr, n)
        off = addr & PAGE_MASK
        if off + n <= PAGE_SIZE:
            page = self._pages.get(addr >> PAGE_SHIFT)
            return 0 if page is None else st.unpack_from(page, off)[0]
        return st.unpack(self._read_span(addr, n))[0]

    def write8(self, addr: int, value: int) -> None:
        """Store one byte."""
        if not 0 <= value <= 0xFF:
            raise ValueError(f"write8 value {value!r} does not fit in 8 bits")
        self._check(addr, 1)
        if self.before_write is not None:
            self.before_write(addr, 1)
        self._page(addr >> PAGE_SHIFT)[addr & PAGE_MASK] = value
        if self.on_write is not None:
            self.on_write(addr, 1)

    def write16(self, addr: int, value: int) -> None:
        """Store a little-endian 16-bit value."""
        self._write_scalar(addr, value, _U16, 0xFFFF)

    def write32(self, addr: int, value: int) -> None:
        """Store a little-endian 32-bit value."""
        self._write_scalar(addr, value, _U32, 0xFFFF_FFFF)

    def write64(self, addr: int, value: int) -> None:
        """Store a little-endian 64-bit value."""
        self._write_scalar(addr, value, _U64, 0xFFFF_FFFF_FFFF_FFFF)

    def _write_scalar(self, addr: int, value: int, st: struct.Struct, mask: int) -> None:
        """Range-check ``value``, pack it at ``addr``, then call the hook."""
        if not 0 <= value <= mask:
            raise ValueError(f"write{st.size * 8} value {value!r} does not fit in {st.size * 8} bits")
        n = st.size
        self._check(addr, n)
        if self.before_write is not None:
            self.before_write(addr, n)
        off = addr & PAGE_MASK
        if off + n <= PAGE_SIZE:
            st.pack_into(self._page(addr >> PAGE_SHIFT), off, value)
        else:
            self._write_span(addr, st.pack(value))
        if self.on_write is not None:
            self.on_write(addr, n)

    # --- named regions -----------------------------------------------------
    def add_region(self, name: str, base: int, size: int) -> Region:
        """Register ``name`` at ``[base, base + size)``; overlaps are refused."""
        if size <= 0:
            raise ValueError(f"region {name!r}: size must be positive, got {size}")
        self._check(base, size)
        new = Region(name, base, size)
        for other in self._regions:
            if other.name == name:
                raise ValueError(f"region name {name!r} already used by {other}")
            if other.base < new.end and new.base < other.end:
                raise ValueError(f"region {new} overlaps existing region {other}")
        i = bisect_left(self._region_bases, base)
        self._region_bases.insert(i, base)
        self._regions.insert(i, new)
        return new

    def region_at(self, addr: int) -> Region | None:
        """The region holding ``addr``, or None."""
        i = bisect_right(self._region_bases, addr) - 1
        if i >= 0 and addr < self._regions[i].end:
            return self._regions[i]
        return None

    @property
    def regions(self) -> tuple[Region, ...]:
        """All regions, in address order."""
        return tuple(self._regions)


class RangeAllocator:
    """First-fit allocator of address ranges inside ``[base, base + size)``.

    Free space is a sorted list of ``[start, end)`` holes; :meth:`alloc` takes
    the lowest hole that fits at the requested power-of-two alignment and
    :meth:`free` merges the range back with its neighbours, so freed blocks
    are reused. It hands out addresses only; it never touches memory.
    """

    __slots__ = ("name", "base", "size", "_hole_starts", "_hole_ends", "_used")

    def __init__(self, name: str, base: int, size: int):
        if base < 0 or size <= 0:
            raise ValueError(f"allocator {name!r}: bad range base={base:#x} size={size}")
        self.name = name
        self.base = base
        self.size = size
        self._hole_starts = [base]
        self._hole_ends = [base + size]
        self._used: dict[int, int] = {}

    def alloc(self, size: int, align: int) -> int | None:
        """Lowest ``align``-aligned free range of ``size`` bytes, or None if full."""
        if size <= 0:
            raise ValueError(f"{self.name}: allocation size must be positive, got {size}")
        if align <= 0 or align & (align - 1):
            raise ValueError(f"{self.name}: alignment must be a power of two, got {align}")
        starts, ends = self._hole_starts, self._hole_ends
        for i, hole_start in enumerate(starts):
            addr = (hole_start + align - 1) & -align
            if addr + size <= ends[i]:
                self._carve(i, addr, addr + size)
                self._used[addr] = size
                return addr
        return None

    def _carve(self, i: int, lo: int, hi: int) -> None:
        """Remove ``[lo, hi)`` from hole ``i``, keeping any leftovers."""
        starts, ends = self._hole_starts, self._hole_ends
        hole_start, hole_end = starts[i], ends[i]
        del starts[i], ends[i]
        if hi < hole_end:
            starts.insert(i, hi)
            ends.insert(i, hole_end)
        if hole_start < lo:
            starts.insert(i, hole_start)
            ends.insert(i, lo)

    def free(self, addr: int) -> int:
        """Return the block at ``addr`` to the pool; its size. Unknown -> ValueError."""
        size = self._used.pop(addr, None)
        if size is None:
            raise ValueError(f"{self.name}: {addr:#x} is not an allocated block "
                             "(double free or never allocated)")
        starts, ends = self._hole_starts, self._hole_ends
        lo, hi = addr, addr + size
        i = bisect_left(starts, lo)
        if i < len(starts) and starts[i] == hi:     # merge with the hole after
            hi = ends[i]
            del starts[i], ends[i]
        if i > 0 and ends[i - 1] == lo:             # merge with the hole before
            i -= 1
            lo = starts[i]
            del starts[i], ends[i]
        starts.insert(i, lo)
        ends.insert(i, hi)
        return size

    def size_of(self, addr: int) -> int | None:
        """Size of the allocated block starting at ``addr``, or None."""
        return self._used.get(addr)

    @property
    def allocated(self) -> dict[int, int]:
        """A copy of the live blocks, ``{addr: size}``."""
        return dict(self._used)

    @property
    def free_bytes(self) -> int:
        """Total bytes in holes (not necessarily contiguous)."""
        return sum(e - s for s, e in zip(self._hole_starts, self._hole_ends))
