"""The kernel DMA API and a kmalloc, on top of PhysMemory and the IOMMU.

What the driver calls (``dma_alloc_coherent``, ``dma_map_single``, ...), with
the checks ``CONFIG_DMA_API_DEBUG`` makes: unmapping with another size or
direction, or freeing what was never allocated, raises ValueError (the CPU
side is trusted code, so a misuse is a bug to stop on).

Memory layout (physical, each a named region of :class:`PhysMemory`):

* ``"coherent-pool"`` at ``COHERENT_POOL_BASE`` (256 MiB), 16 MiB by default:
  descriptor rings and other ``dma_alloc_coherent`` memory. Allocations are
  whole pages (as in Linux), zeroed, mapped BIDIRECTIONAL.
* ``"kmalloc"`` at ``KMALLOC_BASE`` (512 MiB), 64 MiB by default: CPU-side
  buffers (skb data, ...), later handed to ``dma_map_single``.

Freed memory of both pools is filled with ``POISON_FREE`` (0x6b) so that a
use after free (by CPU or device) reads a recognisable pattern.

Streaming maps through the IOMMU are page-granular, like Linux's dma-iommu:
the IOMMU maps every page the buffer touches, and the returned DMA address is
the IOVA of that span plus the buffer's offset in its first page. So a device
may touch the rest of those pages without a fault, exactly as on real
hardware. With the IOMMU disabled the DMA address is the physical address.
"""
from __future__ import annotations

from dataclasses import dataclass

from .iommu import DmaDirection, Iommu
from .memory import (PAGE_SIZE, POISON_FREE, PhysMemory, RangeAllocator, page_align_down,
                     page_align_up)

__all__ = [
    "DmaApi", "CoherentBuffer", "StreamingMap", "DmaPoolExhausted",
    "COHERENT_POOL_BASE", "COHERENT_POOL_SIZE", "KMALLOC_BASE", "KMALLOC_SIZE",
]

COHERENT_POOL_BASE = 0x1000_0000
COHERENT_POOL_SIZE = 16 << 20
KMALLOC_BASE = 0x2000_0000
KMALLOC_SIZE = 64 << 20


class DmaPoolExhausted(MemoryError):
    """A DMA or kmalloc pool has no free block of the requested size/alignment."""


@dataclass(frozen=True, slots=True)
class CoherentBuffer:
    """A ``dma_alloc_coherent`` result: the CPU's physical address, the device's IOVA."""

    cpu_addr: int
    dma_addr: int
    size: int
    owner: str = ""


@dataclass(frozen=True, slots=True)
class StreamingMap:
    """One live ``dma_map_single``; ``iova_base``/``iova_size`` is the IOMMU span."""

    dma_addr: int
    cpu_addr: int
    size: int
    direction: DmaDirection
    iova_base: int | None
    iova_size: int


def _dir_name(d: DmaDirection) -> str:
    """Linux spelling, e.g. ``DMA_TO_DEVICE``."""
    return f"DMA_{d.name}"


def _check_align(align: int) -> None:
    """Alignments are powers of two."""
    if align <= 0 or align & (align - 1):
        raise ValueError(f"alignment must be a power of two, got {align}")


class DmaApi:
    """``dma_alloc_coherent``/``dma_map_single``/``kmalloc`` for one device."""

    __slots__ = ("mem", "iommu", "coherent_region", "kmalloc_region",
                 "_coherent", "_kmalloc", "_coherent_live", "_streaming", "before_free")

    def __init__(self, mem: PhysMemory, iommu: Iommu,
                 coherent_base: int = COHERENT_POOL_BASE, coherent_size: int = COHERENT_POOL_SIZE,
                 kmalloc_base: int = KMALLOC_BASE, kmalloc_size: int = KMALLOC_SIZE):
        self.mem = mem
        self.iommu = iommu
        self.coherent_region = mem.add_region("coherent-pool", coherent_base, coherent_size)
        self.kmalloc_region = mem.add_region("kmalloc", kmalloc_base, kmalloc_size)
        self._coherent = RangeAllocator("coherent-pool", coherent_base, coherent_size)
        self._kmalloc = RangeAllocator("kmalloc", kmalloc_base, kmalloc_size)
        self._coherent_live: dict[int, CoherentBuffer] = {}
        self._streaming: dict[int, list[StreamingMap]] = {}
        #: ``hook(addr, size)`` called by :meth:`kfree` before the block is poisoned (the Host
        #: makes CPUs' buffered stores to it visible there), or None.
        self.before_free = None

    # --- coherent memory -----------------------------------------------------
    def dma_alloc_coherent(self, size: int, align: int = PAGE_SIZE,
                           owner: str = "") -> CoherentBuffer:
        """Zeroed, whole-page, BIDIRECTIONAL memory both sides can use at once.

        Both addresses are aligned to ``max(align, PAGE_SIZE)``.
        """
        if size <= 0:
            raise ValueError(f"dma_alloc_coherent: size must be positive, got {size}")
        _check_align(align)
        align = max(align, PAGE_SIZE)
        span = page_align_up(size)
        phys = self._coherent.alloc(span, align)
        if phys is None:
            raise DmaPoolExhausted(f"dma_alloc_coherent({size}, align={align:#x}): coherent pool "
                                   f"exhausted ({self._coherent.free_bytes} bytes free, fragmented)")
        self.mem.fill(phys, span, 0)
        try:
            dma = self._map_span(phys, span, DmaDirection.BIDIRECTIONAL, owner or "coherent", align)
        except BaseException:
            self._coherent.free(phys)
            raise
        buf = CoherentBuffer(phys, dma, size, owner)
        self._coherent_live[phys] = buf
        return buf

    def dma_free_coherent(self, buf: CoherentBuffer) -> None:
        """Unmap, poison with POISON_FREE and release ``buf``."""
        live = self._coherent_live.get(buf.cpu_addr)
        if live != buf:
            raise ValueError(f"dma_free_coherent: cpu_addr={buf.cpu_addr:#x} dma_addr={buf.dma_addr:#x} "
                             f"size={buf.size} is not a live coherent buffer (double free or unknown)")
        span = page_align_up(buf.size)
        self._unmap_span(buf.dma_addr, span)
        self.mem.fill(buf.cpu_addr, span, POISON_FREE)
        self._coherent.free(buf.cpu_addr)
        del self._coherent_live[buf.cpu_addr]

    # --- streaming mappings ------------------------------------------------
    def dma_map_single(self, cpu_addr: int, size: int, direction: DmaDirection,
                       owner: str = "") -> int:
        """Map ``[cpu_addr, cpu_addr + size)`` for the device; its DMA address."""
        direction = DmaDirection(direction)
        if direction is DmaDirection.NONE:
            raise ValueError("dma_map_single with DMA_NONE")
        if size <= 0 or cpu_addr < 0 or cpu_addr + size > self.mem.size_bytes:
            raise ValueError(f"dma_map_single: bad buffer [{cpu_addr:#x}, +{size})")
        lo = page_align_down(cpu_addr)
        span = page_align_up(cpu_addr + size) - lo
        iova_base = self._map_span(lo, span, direction, owner or "streaming", PAGE_SIZE)
        dma = iova_base + (cpu_addr - lo)
        entry = StreamingMap(dma, cpu_addr, size, direction,
                             iova_base if self.iommu.enabled else None, span)
        self._streaming.setdefault(dma, []).append(entry)
        return dma

    def dma_unmap_single(self, dma_addr: int, size: int, direction: DmaDirection) -> None:
        """Undo :meth:`dma_map_single`; size and direction must match the map."""
        direction = DmaDirection(direction)
        entries = self._streaming.get(dma_addr)
        if not entries:
            raise ValueError(f"DMA-API: driver tries to free DMA memory it has not allocated "
                             f"[device address={dma_addr:#x}] [size={size} bytes]")
        entry = next((e for e in entries if e.size == size and e.direction == direction), None)
        if entry is None:
            raise ValueError(self._mismatch(entries[0], size, direction))
        entries.remove(entry)
        if not entries:
            del self._streaming[dma_addr]
        if entry.iova_base is not None:
            self._unmap_span(entry.iova_base, entry.iova_size)

    @staticmethod
    def _mismatch(e: StreamingMap, size: int, direction: DmaDirection) -> str:
        """The DMA-API debug message for an unmap that does not match its map."""
        where = f"[device address={e.dma_addr:#x}]"
        if e.size != size:
            return (f"DMA-API: driver frees DMA memory with different size {where} "
                    f"[map size={e.size} bytes] [unmap size={size} bytes]")
        return (f"DMA-API: driver frees DMA memory with different direction {where} "
                f"[size={size} bytes] [mapped as {_dir_name(e.direction)}] "
                f"[unmapped as {_dir_name(direction)}]")

    def _map_span(self, phys: int, span: int, direction: DmaDirection,
                  owner: str, align: int) -> int:
        """IOMMU-map a page span; its IOVA (or ``phys`` when the IOMMU is off)."""
        if not self.iommu.enabled:
            return phys
        iova = self.iommu.alloc_iova(span, align)
        self.iommu.map(iova, phys, span, direction, owner)
        return iova

    def _unmap_span(self, iova: int, span: int) -> None:
        """Reverse of :meth:`_map_span` (a no-op when the IOMMU is off)."""
        if self.iommu.enabled:
            self.iommu.unmap(iova, span)
            self.iommu.free_iova(iova)

    @property
    def streaming_maps(self) -> tuple[StreamingMap, ...]:
        """Live streaming mappings (for leak checks at the end of a run)."""
        return tuple(e for entries in self._streaming.values() for e in entries)

    @property
    def coherent_buffers(self) -> tuple[CoherentBuffer, ...]:
        """Live coherent buffers."""
        return tuple(self._coherent_live.values())

    # --- kmalloc ---------------------------------------------------------------
    def kmalloc(self, size: int, align: int = 64) -> int:
        """Physical address of a new CPU buffer. Not zeroed: reused memory
        still holds POISON_FREE, as with SLUB poisoning (use :meth:`kzalloc`).
        """
        if size <= 0:
            raise ValueError(f"kmalloc: size must be positive, got {size}")
        _check_align(align)
        addr = self._kmalloc.alloc(kmalloc_size(size), align)
        if addr is None:
            raise DmaPoolExhausted(f"kmalloc({size}, align={align}): pool exhausted "
                                   f"({self._kmalloc.free_bytes} bytes free, fragmented)")
        return addr

    def kzalloc(self, size: int, align: int = 64) -> int:
        """:meth:`kmalloc`, zeroed."""
        addr = self.kmalloc(size, align)
        self.mem.fill(addr, size, 0)
        return addr

    def kfree(self, addr: int) -> None:
        """Poison the block with POISON_FREE and return it to the pool."""
        size = self._kmalloc.size_of(addr)
        if size is None:
            raise ValueError(f"kfree({addr:#x}): not a live kmalloc block (double free or bad pointer)")
        if self.before_free is not None:
            self.before_free(addr, size)
        self.mem.fill(addr, size, POISON_FREE)
        self._kmalloc.free(addr)


#: The kmalloc size classes of SLUB (bytes); larger requests take whole pages.
KMALLOC_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)


def kmalloc_size(size: int) -> int:
    """What kmalloc really hands out for ``size`` bytes (``ksize``): the next size class or page multiple.

    Rounding like SLUB keeps the pool free of tiny alignment holes, so a
    long run of small allocations stays fast.
    """
    for cls in KMALLOC_SIZES:
        if size <= cls:
            return cls
    return -(-size // PAGE_SIZE) * PAGE_SIZE
