"""The kernel API a driver sees (readl/writel, barriers, DMA mapping), implemented on ``sim.host``."""
