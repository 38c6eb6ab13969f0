"""The igb NIC model: registers, TX queues, descriptor fetch, DMA engine, offloads, MAC, write-back, interrupts.

It reaches the rest of the system only through its ports — MMIO handlers,
DMA through the host IOMMU, interrupt messages — and never imports
``driver`` or ``stack`` (see docs/architecture.md).
"""
