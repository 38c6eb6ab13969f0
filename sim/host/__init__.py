"""The simulated host hardware: memory, IOMMU, DMA API, MMIO, PCIe timing and CPUs.

Everything a device model or driver needs of "the machine" hangs off
:class:`Host`; the ordering profiles are data in :mod:`sim.host.ordering`.
"""
from .cpu import Cpu
from .dma import CoherentBuffer, DmaApi, DmaPoolExhausted
from .iommu import DmaDirection, DmaFault, Iommu
from .machine import Host
from .memory import POISON_FREE, POISON_IOMMU_FAULT, PhysMemory
from .mmio import MmioMap
from .ordering import PROFILES, Fence, OrderingProfile, get_profile
from .pcie import PCIE_82576, PCIE_I210, PcieLink

__all__ = [
    "Host", "Cpu", "PhysMemory", "POISON_FREE", "POISON_IOMMU_FAULT", "Iommu", "DmaDirection",
    "DmaFault", "DmaApi", "CoherentBuffer", "DmaPoolExhausted", "MmioMap", "PcieLink",
    "PCIE_82576", "PCIE_I210", "PROFILES", "Fence", "OrderingProfile", "get_profile",
]
