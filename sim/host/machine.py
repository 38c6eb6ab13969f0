"""The simulated host: memory, IOMMU, DMA API, MMIO map, PCIe link and CPUs under one ordering profile.

This is what a device model and a driver see of "the machine". A device
reaches memory only through :attr:`Host.iommu` (``dma_read``/``dma_write``)
and receives MMIO through the windows it is mapped at; the driver reaches
memory and devices only through a :class:`~sim.host.cpu.Cpu`.
"""
from __future__ import annotations

from collections import Counter

from .coherence import DEFAULT_STALE_WINDOW, ValueHistory
from .cpu import Cpu
from .dma import DmaApi
from .iommu import Iommu
from .memory import PhysMemory
from .mmio import MmioMap
from .msi import MsiController
from .ordering import OrderingProfile, get_profile
from .pcie import PCIE_82576, PcieLink
from .sched import Sched
from .timing import MSI_DELIVERY_LATENCY_PS, as_options, drain_latency_options

__all__ = ["Host"]


class Host:
    """A whole host. ``profile`` is a name (``x86-tso``, ``arm64``, …) or an :class:`OrderingProfile`.

    ``drain_delay_ps`` and ``msi_latency_ps`` fix the store-buffer drain
    latency and the MSI delivery latency (an int, or a tuple of options to
    choose from); None draws each from :mod:`sim.host.timing`'s documented
    options (per profile for the drain), a choice every time.

    ``site_overrides`` maps a barrier/accessor call-site name to a
    replacement primitive name, or to None to drop the barrier there; this
    is how a configuration (or the ordering explorer) removes or weakens one
    barrier of the driver without touching its code.
    """

    def __init__(self, engine, profile: str | OrderingProfile = "x86-tso", ncpus: int = 2, *,
                 link: PcieLink = PCIE_82576, iommu: bool = True,
                 stale_window: int = DEFAULT_STALE_WINDOW, drain_delay_ps: int | tuple | None = None,
                 msi_latency_ps: int | tuple | None = None, mmio_latency: bool = True, site_overrides: dict[str, str | None] | None = None):
        if ncpus < 1:
            raise ValueError("a host needs at least one CPU")
        self.engine = engine
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.link = link
        self.mem = PhysMemory()
        self.history = (ValueHistory(self.mem, stale_window).attach()
                        if self.profile.stale_loads else None)
        self.iommu = Iommu(self.mem, enabled=iommu, clock=lambda: engine.now)
        self.dma = DmaApi(self.mem, self.iommu)
        self.mmio = MmioMap(engine, link.posted_write_latency_ps if mmio_latency else 0)
        msi_options = as_options(MSI_DELIVERY_LATENCY_PS if msi_latency_ps is None else msi_latency_ps,
                                 "msi_latency_ps")
        self.msi = MsiController(engine, self.history, msi_options)
        self.mmio_read_latency_ps = link.mmio_read_latency_ps if mmio_latency else 0
        self.site_overrides: dict[str, str | None] = dict(site_overrides or {})
        self.site_counts: Counter = Counter()
        #: Executions per (site, primitive that ran there; None = dropped barrier).
        self.site_primitives: Counter = Counter()
        drain = drain_latency_options(self.profile.name, drain_delay_ps)
        self.cpus = [Cpu(self, i, drain) for i in range(ncpus)]
        #: What each CPU executes, in simulated time (sim.host.sched).
        self.sched = Sched(engine, self.cpus)
        self.dma.before_free = self._settle_freed

    def _settle_freed(self, addr: int, size: int) -> None:
        """Before a kfree'd block can be reused, every CPU's buffered stores to it are visible.

        In Linux the stores to an object precede its ``kfree`` in the freeing
        CPU's program order, and whoever gets the memory next is ordered
        after the free by the allocator's own synchronisation (per-CPU lists,
        locks, cmpxchg: release/acquire). Without this, a store still in a
        buffer (a drain takes up to 150 ns, :mod:`sim.host.timing`) would
        land on the block's next owner — e.g. a received frame DMA'd into it.
        """
        for cpu in self.cpus:
            cpu.flush_range(addr, size)

    def resolve_site(self, site: str, primitive: str) -> str | None:
        """The primitive to run at ``site`` (overridden or not); counts the execution."""
        self.site_counts[site] += 1
        ran = self.site_overrides.get(site, primitive)
        self.site_primitives[site, ran] += 1
        return ran

    def map_device(self, name: str, base: int, size: int, device):
        """Map a device's BAR at ``[base, base+size)`` in the MMIO space."""
        return self.mmio.map(name, base, size, device)

    def drain_all(self) -> None:
        """Make every CPU's buffered stores visible (e.g. at the end of a scenario)."""
        for cpu in self.cpus:
            cpu.drain_all()
