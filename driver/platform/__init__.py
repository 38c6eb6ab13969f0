"""The kernel API a driver sees (readl/writel, barriers, DMA mapping), implemented on ``sim.host``.

Entry point: :class:`Kernel` (``kernel = Kernel(host)``). A driver declares
its barrier sites once (``kernel.sites.declare_all(SITES)``), then calls the
Linux-named methods on the kernel. Modules:

* :mod:`.sites` — BarrierSite, SiteRegistry: listing, dropping, weakening;
* :mod:`.kernel` — Kernel: current CPU, barriers, MMIO, shared memory, time;
* :mod:`.dma` — DMA API with Linux-style failures and owners;
* :mod:`.alloc` — k*alloc/v*alloc bookkeeping;
* :mod:`.irq` — MSI vectors and handlers;
* :mod:`.iomem` — ioremap handles; :mod:`.pci` — device and PCI function;
* :mod:`.tasks` — tasks that sleep, and the workqueue;
* :mod:`.faults` — failure injection; :mod:`.leaks` — leak report;
* :mod:`.costs` — CPU cost per primitive (UNCONFIRMED defaults).
"""
from .costs import DEFAULT_COSTS_PS, CpuCosts
from .dma import (DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_NONE, DMA_TO_DEVICE)
from .faults import FAILURE_POINTS, FailureRequest
from .iomem import IoAddr, IoMem, IoMemError
from .irq import IRQ_HANDLED, IRQ_NONE, MsiMsg
from .kernel import HZ, Kernel
from .leaks import Leak, LeakError, LeakReport
from .pci import Device, PciDev, pci_resource_len, pci_resource_start
from .sites import BarrierSite, SiteError, SiteRegistry, weaker_primitives
from .tasks import Workqueue, work_struct

__all__ = [
    "Kernel", "HZ", "BarrierSite", "SiteRegistry", "SiteError", "weaker_primitives",
    "DMA_MAPPING_ERROR", "DMA_BIDIRECTIONAL", "DMA_TO_DEVICE", "DMA_FROM_DEVICE", "DMA_NONE",
    "IoMem", "IoAddr", "IoMemError", "MsiMsg", "IRQ_HANDLED", "IRQ_NONE",
    "Device", "PciDev", "pci_resource_start", "pci_resource_len",
    "Leak", "LeakReport", "LeakError", "FailureRequest", "FAILURE_POINTS",
    "DEFAULT_COSTS_PS", "CpuCosts", "Workqueue", "work_struct",
]
