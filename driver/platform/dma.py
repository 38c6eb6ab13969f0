"""The Linux DMA API as a driver calls it, on the host's :class:`~sim.host.dma.DmaApi`.

Differences from ``sim.host.dma`` (which a device model's tests also use):

* Failures are returned the Linux way, never raised: ``dma_alloc_coherent``
  gives ``(None, None)`` (NULL) when the pool or the IOVA space is exhausted,
  ``dma_map_single``/``dma_map_page`` give :data:`DMA_MAPPING_ERROR`
  (``~(dma_addr_t)0``), tested with :func:`dma_mapping_error`.
  :mod:`driver.platform.faults` can force either.
* Every live allocation and mapping is kept with its owner (device name and
  the function that asked), for ``Kernel.leaks()``.
* CONFIG_DMA_API_DEBUG checks beyond the host's size/direction checks:
  unmapping with the other function (``dma_unmap_page`` of a
  ``dma_map_single`` and vice versa), freeing coherent memory with another
  size or handle, and — as a warning, not an error — unmapping an address
  whose map was never tested with ``dma_mapping_error`` ("device driver
  failed to check map error").
"""
from __future__ import annotations

import logging

from sim.host.dma import DmaPoolExhausted
from sim.host.iommu import DmaDirection, IovaSpaceExhausted
from sim.host.memory import PAGE_SIZE

from .faults import FailureRequest
from .leaks import Leak, caller_name

__all__ = [
    "DMA_MAPPING_ERROR", "DMA_BIDIRECTIONAL", "DMA_TO_DEVICE", "DMA_FROM_DEVICE", "DMA_NONE",
    "DmaMapper", "DmaApiError",
]

log = logging.getLogger("igbsim.driver.platform.dma")

#: ``#define DMA_MAPPING_ERROR (~(dma_addr_t)0)`` with a 64-bit dma_addr_t.
DMA_MAPPING_ERROR = (1 << 64) - 1

DMA_BIDIRECTIONAL = DmaDirection.BIDIRECTIONAL
DMA_TO_DEVICE = DmaDirection.TO_DEVICE
DMA_FROM_DEVICE = DmaDirection.FROM_DEVICE
DMA_NONE = DmaDirection.NONE


class DmaApiError(ValueError):
    """What CONFIG_DMA_API_DEBUG reports: freeing or unmapping DMA memory the driver does not hold as such."""


class _Coherent:
    """A live coherent buffer and who allocated it."""

    __slots__ = ("buf", "owner")

    def __init__(self, buf, owner: str):
        self.buf = buf
        self.owner = owner


class _Streaming:
    """A live streaming mapping: ``kind`` is "single" or "page"; ``checked`` once tested for error."""

    __slots__ = ("dma", "size", "direction", "kind", "owner", "checked")

    def __init__(self, dma: int, size: int, direction: DmaDirection, kind: str, owner: str):
        self.dma = dma
        self.size = size
        self.direction = direction
        self.kind = kind
        self.owner = owner
        self.checked = False


def _owner(dev) -> str:
    return f"{dev.name} {caller_name()}"


class DmaMapper:
    """Coherent allocations and streaming mappings of one host, with owners and failure injection.

    ``charge(primitive)`` accounts a primitive's CPU cost to the current CPU.
    """

    def __init__(self, host, faults, charge):
        self.host = host
        self.faults = faults
        self._charge = charge
        self._coherent: dict[int, _Coherent] = {}
        self._streaming: dict[int, list[_Streaming]] = {}
        self.warnings: list[str] = []

    # --- coherent ------------------------------------------------------------
    def dma_alloc_coherent(self, dev, size: int) -> tuple[int, int] | tuple[None, None]:
        """Zeroed memory both CPU and device use: ``(cpu_addr, dma_handle)``, or ``(None, None)``."""
        owner = _owner(dev)
        if self.faults.should_fail(FailureRequest("dma_alloc_coherent", owner, size)):
            log.warning("%s: dma_alloc_coherent(%d) failed (injected)", owner, size)
            return None, None
        try:
            buf = self.host.dma.dma_alloc_coherent(size, owner=owner)
        except (DmaPoolExhausted, IovaSpaceExhausted) as e:
            log.warning("%s: dma_alloc_coherent(%d) failed: %s", owner, size, e)
            return None, None
        self._coherent[buf.cpu_addr] = _Coherent(buf, owner)
        return buf.cpu_addr, buf.dma_addr

    def dma_free_coherent(self, dev, size: int, cpu_addr: int, dma_handle: int) -> None:
        """Free a :meth:`dma_alloc_coherent` buffer; all three values must match the allocation."""
        rec = self._coherent.get(cpu_addr)
        if rec is None:
            raise DmaApiError(f"DMA-API: {dev.name}: dma_free_coherent of cpu_addr={cpu_addr:#x}, "
                             "which is not a live coherent buffer (double free or never allocated)")
        buf = rec.buf
        if buf.dma_addr != dma_handle or buf.size != size:
            raise DmaApiError(f"DMA-API: {dev.name}: dma_free_coherent(size={size}, dma={dma_handle:#x}) "
                             f"of a buffer allocated with size={buf.size}, dma={buf.dma_addr:#x}")
        self.host.dma.dma_free_coherent(buf)
        del self._coherent[cpu_addr]

    # --- streaming -----------------------------------------------------------
    def dma_map_single(self, dev, cpu_addr: int, size: int, direction) -> int:
        """Map a CPU buffer for the device: its DMA address, or DMA_MAPPING_ERROR."""
        return self._map(dev, cpu_addr, size, direction, "single")

    def dma_map_page(self, dev, page: int, offset: int, size: int, direction) -> int:
        """Map ``size`` bytes at ``offset`` into the page at physical address ``page``."""
        if page % PAGE_SIZE:
            raise ValueError(f"dma_map_page: page address {page:#x} is not page-aligned")
        if offset < 0:
            raise ValueError(f"dma_map_page: negative offset {offset}")
        return self._map(dev, page + offset, size, direction, "page")

    def _map(self, dev, cpu_addr: int, size: int, direction, kind: str) -> int:
        direction = DmaDirection(direction)
        owner = _owner(dev)
        self._charge("dma_map")
        if self.faults.should_fail(FailureRequest("dma_map", owner, size, direction, cpu_addr)):
            log.warning("%s: dma_map_%s(%#x, %d) failed (injected)", owner, kind, cpu_addr, size)
            return DMA_MAPPING_ERROR
        try:
            dma = self.host.dma.dma_map_single(cpu_addr, size, direction, owner=owner)
        except IovaSpaceExhausted as e:
            log.warning("%s: dma_map_%s(%#x, %d) failed: %s", owner, kind, cpu_addr, size, e)
            return DMA_MAPPING_ERROR
        self._streaming.setdefault(dma, []).append(_Streaming(dma, size, direction, kind, owner))
        return dma

    def dma_mapping_error(self, dev, dma_addr: int) -> bool:
        """True if ``dma_addr`` is DMA_MAPPING_ERROR; marks the mapping as checked."""
        for e in self._streaming.get(dma_addr, ()):
            e.checked = True
        return dma_addr == DMA_MAPPING_ERROR

    def dma_unmap_single(self, dev, dma_addr: int, size: int, direction) -> None:
        """Undo :meth:`dma_map_single`; address, size and direction must match the map."""
        self._unmap(dev, dma_addr, size, direction, "single")

    def dma_unmap_page(self, dev, dma_addr: int, size: int, direction) -> None:
        """Undo :meth:`dma_map_page`; address, size and direction must match the map."""
        self._unmap(dev, dma_addr, size, direction, "page")

    def _unmap(self, dev, dma_addr: int, size: int, direction, kind: str) -> None:
        direction = DmaDirection(direction)
        entries = self._streaming.get(dma_addr)
        if not entries:
            raise DmaApiError(f"DMA-API: {dev.name}: device driver tries to free DMA memory it has not "
                             f"allocated [device address={dma_addr:#x}] [size={size} bytes]")
        entry = self._match(dev, entries, size, direction, kind)
        self.host.dma.dma_unmap_single(dma_addr, size, direction)
        entries.remove(entry)
        if not entries:
            del self._streaming[dma_addr]
        self._charge("dma_unmap")
        if not entry.checked:
            msg = (f"DMA-API: {dev.name}: device driver failed to check map error "
                   f"[device address={dma_addr:#x}] [size={size} bytes] [mapped as {kind}] ({entry.owner})")
            self.warnings.append(msg)
            log.warning("%s", msg)

    @staticmethod
    def _match(dev, entries: list[_Streaming], size: int, direction: DmaDirection,
               kind: str) -> _Streaming:
        """The live mapping an unmap undoes, or the DMA-API debug error (size, then function, then direction)."""
        e0 = entries[0]
        where = f"[device address={e0.dma:#x}]"
        for e in entries:
            if e.size == size and e.direction == direction and e.kind == kind:
                return e
        if not any(e.size == size for e in entries):
            raise DmaApiError(f"DMA-API: {dev.name}: device driver frees DMA memory with different size "
                             f"{where} [map size={e0.size} bytes] [unmap size={size} bytes]")
        same = [e for e in entries if e.size == size]
        if not any(e.kind == kind for e in same):
            raise DmaApiError(f"DMA-API: {dev.name}: device driver frees DMA memory with wrong function "
                             f"{where} [size={size} bytes] [mapped as {same[0].kind}] [unmapped as {kind}]")
        raise DmaApiError(f"DMA-API: {dev.name}: device driver frees DMA memory with different direction "
                         f"{where} [size={size} bytes] [mapped as DMA_{same[0].direction.name}] "
                         f"[unmapped as DMA_{direction.name}]")

    # --- leak accounting -------------------------------------------------------
    def live(self) -> list[Leak]:
        """Every live coherent buffer and streaming mapping."""
        out = [Leak("coherent", r.owner, r.buf.size,
                    f"cpu_addr={r.buf.cpu_addr:#x} dma={r.buf.dma_addr:#x}")
               for r in self._coherent.values()]
        out += [Leak("streaming", e.owner, e.size, f"dma_map_{e.kind} dma={e.dma:#x} DMA_{e.direction.name}")
                for entries in self._streaming.values() for e in entries]
        return out
