"""``Kernel``: the Linux API a driver calls, bound to a simulated host and a current CPU.

Driver code runs as plain sequential Python in a context on a simulated CPU,
``kernel.cpu`` (:mod:`sim.host.sched`). Everything it does to shared
state goes through that CPU, so the host's ordering profile applies:

* barriers — ``mb``, ``rmb``, ``wmb``, ``dma_mb``, ``dma_rmb``, ``dma_wmb``,
  ``smp_mb``, ``smp_rmb``, ``smp_wmb`` — each takes a declared
  :class:`~driver.platform.sites.BarrierSite` (``kernel.sites``), whose
  override (drop/weaken) the CPU applies;
* MMIO — ``ioremap`` and ``readl``/``writel``/``*_relaxed`` with Linux
  argument order (value first), optionally at a declared site;
* memory the device or other CPUs share — ``write_le32``, ``read_le64``,
  ``write_bytes``, ``READ_ONCE``/``WRITE_ONCE`` … through the store buffer
  and the stale-load window;
* the DMA API, k*alloc/v*alloc, interrupts — see :mod:`.dma`, :mod:`.alloc`,
  :mod:`.irq` — with leak accounting (:meth:`Kernel.leaks`) and failure
  injection (:meth:`Kernel.inject_failure`).

CPU time: each primitive charges the current CPU its cost from
:mod:`.costs`; the context running the code spends it on its CPU at its
next observable step (:mod:`sim.host.sched`).
"""
from __future__ import annotations

from typing import Any, Callable

from sim.engine import MS, S, US
from stack.core.context import CpuContext
from stack.core.jiffies import HZ  # CONFIG_HZ: one definition for the stack and the driver

from .alloc import Allocations
from .costs import CpuCosts
from .dma import DmaMapper
from .faults import FaultInjection, FailureRequest
from .iomem import IoAddr, IoMem, resolve
from .irq import IrqTable, MsiMsg
from .leaks import Leak, LeakError, LeakReport, caller_name
from .sites import BarrierSite, SiteRegistry
from .tasks import Workqueue, work_struct

__all__ = ["Kernel", "HZ"]


Site = BarrierSite | str


class Kernel(CpuContext):
    """The kernel API on ``host``; ``cpu`` is the index of the initial current CPU.

    ``costs`` overrides entries of :data:`~driver.platform.costs.DEFAULT_COSTS_PS`.
    """

    def __init__(self, host, cpu: int = 0, costs: dict[str, int] | None = None):
        self.host = host
        self.engine = host.engine
        self.sites = SiteRegistry(host)
        self.costs = CpuCosts(host.profile, costs)
        self.faults = FaultInjection()
        self.dma = DmaMapper(host, self.faults, self.charge)
        self.allocs = Allocations(host, self.faults)
        self.irq = IrqTable(self)
        self._iomem: dict[IoMem, str] = {}
        CpuContext.__init__(self, host, cpu)
        self.system_wq = Workqueue(self)

    # --- CPU time (the current CPU and on_cpu come from stack.core.context.CpuContext) ---
    def charge(self, primitive: str) -> None:
        """Account the cost of ``primitive`` to the current CPU's current context."""
        ps = self.costs.of(primitive)
        if ps:
            self.cpu.charge(ps)

    def settle(self) -> int:
        """Spend the current CPU's owed time now (in a context: returns 0; synchronous callers: the
        time, as a delay to yield)."""
        return self.cpu.settle()

    # --- barriers ----------------------------------------------------------------
    def _barrier(self, primitive: str, site: Site) -> None:
        name = self.sites.check(site, primitive)
        effective = self.host.site_overrides.get(name, primitive)
        if effective is not None:
            self.charge(effective)
        self.cpu.barrier(primitive, site=name)

    def mb(self, site: Site) -> None:
        """Full mandatory barrier: every access before against every access after."""
        self._barrier("mb", site)

    def rmb(self, site: Site) -> None:
        """Mandatory read barrier (reads of memory and devices)."""
        self._barrier("rmb", site)

    def wmb(self, site: Site) -> None:
        """Mandatory write barrier (writes to memory and devices)."""
        self._barrier("wmb", site)

    def dma_mb(self, site: Site) -> None:
        """Full barrier for coherent memory shared with a device."""
        self._barrier("dma_mb", site)

    def dma_rmb(self, site: Site) -> None:
        """Read barrier for coherent memory a device wrote (status before data)."""
        self._barrier("dma_rmb", site)

    def dma_wmb(self, site: Site) -> None:
        """Write barrier for coherent memory a device reads (data before ownership flag)."""
        self._barrier("dma_wmb", site)

    def smp_mb(self, site: Site) -> None:
        """Full barrier between CPUs."""
        self._barrier("smp_mb", site)

    def smp_rmb(self, site: Site) -> None:
        """Read barrier between CPUs."""
        self._barrier("smp_rmb", site)

    def smp_wmb(self, site: Site) -> None:
        """Write barrier between CPUs."""
        self._barrier("smp_wmb", site)

    # --- MMIO ----------------------------------------------------------------------
    def ioremap(self, phys: int, size: int, name: str = "") -> IoMem:
        """Map ``[phys, phys + size)`` of the MMIO space for this driver's accessors."""
        if phys < 0 or size <= 0:
            raise ValueError(f"ioremap({phys:#x}, {size:#x}): bad range")
        io = IoMem(phys, size, name)
        self._iomem[io] = caller_name()
        return io

    def iounmap(self, io: IoMem) -> None:
        """Undo :meth:`ioremap`; later accesses through ``io`` are errors."""
        if self._iomem.pop(io, None) is None:
            raise ValueError(f"iounmap({io!r}): not a live ioremap (double iounmap?)")

    def _site_accessor(self, accessor: str, site: Site | None) -> str | None:
        """The site's name after checking it is declared with ``accessor``; charges the accessor that runs."""
        if site is None:
            self.charge(accessor)
            return None
        name = self.sites.check(site, accessor)
        effective = self.host.site_overrides.get(name, accessor)
        self.charge(effective or ("__raw_readl" if accessor.startswith("readl") else "__raw_writel"))
        return name

    def _write(self, accessor: str, value: int, addr: IoMem | IoAddr, offset: int, site: Site | None) -> None:
        bus = resolve(addr, offset, 4, self._iomem)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"{accessor}: value {value:#x} does not fit in 32 bits")
        name = self._site_accessor(accessor, site)
        self.cpu.mmio_write(bus, 4, value, accessor, name)

    def _read(self, accessor: str, addr: IoMem | IoAddr, offset: int, site: Site | None) -> int:
        bus = resolve(addr, offset, 4, self._iomem)
        name = self._site_accessor(accessor, site)
        return self.cpu.mmio_read(bus, 4, accessor, name)

    def writel(self, value: int, addr: IoMem | IoAddr, offset: int = 0, *, site: Site | None = None) -> None:
        """32-bit MMIO write, ordered after this CPU's earlier memory writes."""
        self._write("writel", value, addr, offset, site)

    def writel_relaxed(self, value: int, addr: IoMem | IoAddr, offset: int = 0, *,
                       site: Site | None = None) -> None:
        """32-bit MMIO write ordered only against this CPU's accesses to the same device."""
        self._write("writel_relaxed", value, addr, offset, site)

    def readl(self, addr: IoMem | IoAddr, offset: int = 0, *, site: Site | None = None) -> int:
        """32-bit MMIO read, ordered before this CPU's later memory reads."""
        return self._read("readl", addr, offset, site)

    def readl_relaxed(self, addr: IoMem | IoAddr, offset: int = 0, *, site: Site | None = None) -> int:
        """32-bit MMIO read ordered only against this CPU's accesses to the same device."""
        return self._read("readl_relaxed", addr, offset, site)

    def pci_write_msi_msg(self, table: IoMem | IoAddr, entry: int, msg: MsiMsg, masked: bool = False) -> None:
        """Program MSI-X table ``entry`` (16 bytes: address lo, hi, data, vector control)."""
        base = 16 * entry
        self.writel(msg.address & 0xFFFF_FFFF, table, base)
        self.writel(msg.address >> 32, table, base + 4)
        self.writel(msg.data, table, base + 8)
        self.writel(int(masked), table, base + 12)

    # --- shared memory through the current CPU ---------------------------------------
    def _store(self, addr: int, size: int, value: int) -> None:
        if not 0 <= value < 1 << (8 * size):
            raise ValueError(f"store of {value:#x} at {addr:#x} does not fit in {size} bytes")
        self.cpu.store(addr, size, value)

    def write_le32(self, addr: int, value: int) -> None:
        """Store a little-endian u32."""
        self._store(addr, 4, value)

    def write_le64(self, addr: int, value: int) -> None:
        """Store a little-endian u64 (e.g. a descriptor's buffer address)."""
        self._store(addr, 8, value)

    def read_le32(self, addr: int) -> int:
        """Load a little-endian u32 (maybe stale under a weak profile)."""
        return self.cpu.load(addr, 4)

    def read_le64(self, addr: int) -> int:
        """Load a little-endian u64 (maybe stale under a weak profile)."""
        return self.cpu.load(addr, 8)

    def write_bytes(self, addr: int, data: bytes) -> None:
        """Store raw bytes (a memcpy), as one store-buffer entry."""
        self.cpu.store_bytes(addr, data)

    def read_bytes(self, addr: int, n: int) -> bytes:
        """Load ``n`` raw bytes."""
        return self.cpu.load_bytes(addr, n)

    def WRITE_ONCE(self, addr: int, value: int, size: int = 8) -> None:
        """One naturally aligned store of ``size`` bytes (single-copy atomic, never torn)."""
        _check_once(addr, size)
        self._store(addr, size, value)

    def READ_ONCE(self, addr: int, size: int = 8) -> int:
        """One naturally aligned load of ``size`` bytes (single-copy atomic, never torn)."""
        _check_once(addr, size)
        return self.cpu.load(addr, size)

    # --- DMA API ---------------------------------------------------------------------
    def dma_alloc_coherent(self, dev, size: int):
        """``(cpu_addr, dma_handle)`` of zeroed coherent memory, or ``(None, None)``."""
        return self.dma.dma_alloc_coherent(dev, size)

    def dma_free_coherent(self, dev, size: int, cpu_addr: int, dma_handle: int) -> None:
        """Free coherent memory (size and both addresses as allocated)."""
        self.dma.dma_free_coherent(dev, size, cpu_addr, dma_handle)

    def dma_map_single(self, dev, cpu_addr: int, size: int, direction) -> int:
        """DMA address of a mapped CPU buffer, or DMA_MAPPING_ERROR."""
        return self.dma.dma_map_single(dev, cpu_addr, size, direction)

    def dma_map_page(self, dev, page: int, offset: int, size: int, direction) -> int:
        """DMA address of a mapped page fragment, or DMA_MAPPING_ERROR."""
        return self.dma.dma_map_page(dev, page, offset, size, direction)

    def dma_mapping_error(self, dev, dma_addr: int) -> bool:
        """True if a map call failed (``dma_addr`` is DMA_MAPPING_ERROR)."""
        return self.dma.dma_mapping_error(dev, dma_addr)

    def dma_unmap_single(self, dev, dma_addr: int, size: int, direction) -> None:
        """Undo dma_map_single."""
        self.dma.dma_unmap_single(dev, dma_addr, size, direction)

    def dma_unmap_page(self, dev, dma_addr: int, size: int, direction) -> None:
        """Undo dma_map_page."""
        self.dma.dma_unmap_page(dev, dma_addr, size, direction)

    # --- k*alloc / v*alloc --------------------------------------------------------------
    def kmalloc(self, size: int, make: Callable[[], Any] | None = None):
        """Memory (an address; not zeroed) or ``make()``'s object; None on failure."""
        return self.allocs.alloc("kzalloc", size, make, zero=False)

    def kzalloc(self, size: int, make: Callable[[], Any] | None = None):
        """Zeroed memory (an address) or ``make()``'s object; None on failure."""
        return self.allocs.alloc("kzalloc", size, make, zero=True)

    def kfree(self, ptr) -> None:
        """Free a kmalloc/kzalloc allocation (None: no-op)."""
        self.allocs.free("kzalloc", "kfree", ptr)

    def vmalloc(self, size: int, make: Callable[[], Any] | None = None):
        """Page-aligned memory (not zeroed) or ``make()``'s object; None on failure."""
        return self.allocs.alloc("vmalloc", size, make, zero=False)

    def vzalloc(self, size: int, make: Callable[[], Any] | None = None):
        """Zeroed page-aligned memory or ``make()``'s object; None on failure."""
        return self.allocs.alloc("vmalloc", size, make, zero=True)

    def vfree(self, ptr) -> None:
        """Free a vmalloc/vzalloc allocation (None: no-op)."""
        self.allocs.free("vmalloc", "vfree", ptr)

    # --- interrupts --------------------------------------------------------------------
    def pci_alloc_irq_vectors(self, dev, min_vecs: int, max_vecs: int, *, spread: bool = False) -> list[MsiMsg]:
        """Messages of ``min_vecs..max_vecs`` new vectors for ``dev``, or [] if too few."""
        return self.irq.pci_alloc_irq_vectors(dev, min_vecs, max_vecs, spread=spread)

    def pci_free_irq_vectors(self, dev) -> None:
        """Give back ``dev``'s vectors (after free_irq of each)."""
        self.irq.pci_free_irq_vectors(dev)

    def request_irq(self, name: str, handler: Callable[[int, Any], Any], dev_id: Any = None, *,
                    vector: MsiMsg | None = None, cpu: int | None = None) -> MsiMsg:
        """Bind ``handler(irq, dev_id)`` to ``vector`` or a new vector (on ``cpu``: its affinity); its (address, data)."""
        return self.irq.request_irq(name, handler, dev_id, vector=vector, cpu=cpu)

    def free_irq(self, vector: MsiMsg | int, dev_id: Any = None) -> str:
        """Unbind a handler; returns the name it was requested with."""
        return self.irq.free_irq(vector, dev_id)

    # --- process context (spawn_task comes from stack.core.context.CpuContext) ----------------
    @staticmethod
    def INIT_WORK(func, name: str = "") -> work_struct:
        """A work item running ``func(work)`` (plain or generator function)."""
        return work_struct(func, name)

    def schedule_work(self, work: work_struct) -> bool:
        """Queue ``work`` on the system workqueue; False if already pending."""
        return self.system_wq.schedule_work(work)

    def cancel_work_sync(self, work: work_struct):
        """Generator: cancel ``work`` and wait for a running instance."""
        return self.system_wq.cancel_work_sync(work)

    # --- failure injection ----------------------------------------------------------------
    def inject_failure(self, point: str, after: int | None = None,
                       when: Callable[[FailureRequest], bool] | None = None) -> None:
        """Make the ``after``-th next call at ``point`` fail (1 = the next), or every call ``when`` picks."""
        self.faults.arm(point, after, when)

    def inject_dma_map_failure(self, after: int | None = None,
                               when: Callable[[FailureRequest], bool] | None = None) -> None:
        """Make a dma_map_single/dma_map_page return DMA_MAPPING_ERROR (see :meth:`inject_failure`)."""
        self.faults.arm("dma_map", after, when)

    def clear_failures(self, point: str | None = None) -> None:
        """Disarm injected failures at ``point`` (or everywhere)."""
        self.faults.clear(point)

    # --- leaks ---------------------------------------------------------------------------
    def leaks(self) -> LeakReport:
        """Everything still held: coherent buffers, mappings, allocations, IRQs, vectors, ioremaps."""
        items = self.dma.live() + self.allocs.live() + self.irq.live()
        items += [Leak("ioremap", owner, io.size, repr(io)) for io, owner in self._iomem.items()]
        return LeakReport(tuple(items))

    def assert_no_leaks(self, when: str = "") -> None:
        """Raise :class:`LeakError` listing every resource still held."""
        report = self.leaks()
        if report:
            raise LeakError(f"{when + ': ' if when else ''}{report}")

    # --- time ------------------------------------------------------------------------------
    @property
    def jiffies(self) -> int:
        """Timer ticks since the start of the run (HZ per second)."""
        return self.engine.now * HZ // S

    @staticmethod
    def msleep(ms: int) -> int:
        """A sleep of ``ms`` milliseconds, as a delay to yield (the CPU is free meanwhile)."""
        return ms * MS

    @staticmethod
    def usleep_range(min_us: int, max_us: int) -> int:
        """A sleep of ``min_us`` microseconds (timer slack not modelled), as a delay to yield."""
        if max_us < min_us:
            raise ValueError(f"usleep_range({min_us}, {max_us}): max below min")
        return min_us * US

    def udelay(self, us: int) -> None:
        """Busy-wait ``us`` microseconds: CPU time charged to the current context."""
        self.cpu.charge(us * US)


def _check_once(addr: int, size: int) -> None:
    if size not in (1, 2, 4, 8):
        raise ValueError(f"READ_ONCE/WRITE_ONCE of {size} bytes: must be 1, 2, 4 or 8")
    if addr % size:
        raise ValueError(f"READ_ONCE/WRITE_ONCE at {addr:#x}: not aligned to {size} bytes (would tear)")
