"""CPU time each kernel primitive costs the CPU that executes it (picoseconds).

ASSUMPTIONS, all UNCONFIRMED order-of-magnitude figures (no measurement of a
particular machine stands behind them); they are kept small so that they
shape CPU-time accounting without dominating it, and every one can be
overridden with ``Kernel(host, costs={...})``:

================== ========= ==================================================
primitive          default   why this size
================== ========= ==================================================
mb                 20 ns     full barrier (mfence / dsb sy / sync): waits for the
                             store buffer to drain, tens of cycles or more
rmb, wmb           10 ns     mandatory one-sided barriers (lfence/sfence, dsb)
dma_mb, smp_mb     10 ns     full ordering barrier without completion (dmb, lock add)
dma_rmb, dma_wmb   5 ns      one-sided ordering barrier (dmb oshld/oshst, lwsync)
smp_rmb, smp_wmb   2 ns      one-sided inner-shareable barrier (dmb ishld/ishst)
writel             10 ns     uncached posted store plus its barrier
writel_relaxed     5 ns      uncached posted store
__raw_writel       5 ns      uncached posted store
readl & co.        0         the round trip is already charged by
                             ``Cpu.mmio_read`` (the link's MMIO read latency):
                             charging here too would count it twice
dma_map            50 ns     IOMMU page-table update and IOVA allocation
dma_unmap          50 ns     IOMMU unmap (IOTLB invalidation batched)
hardirq            200 ns    interrupt entry and exit around a handler
================== ========= ==================================================

A barrier that compiles to nothing but a compiler barrier on the host's
profile (``dma_wmb`` on x86, every barrier under ``sc``) costs 0, unless the
caller set its cost explicitly.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from sim.engine import NS
from sim.host.ordering import BARRIER_NAMES, OrderingProfile

__all__ = ["DEFAULT_COSTS_PS", "CpuCosts"]

DEFAULT_COSTS_PS: Mapping[str, int] = MappingProxyType({
    "mb": 20 * NS, "rmb": 10 * NS, "wmb": 10 * NS,
    "dma_mb": 10 * NS, "dma_rmb": 5 * NS, "dma_wmb": 5 * NS,
    "smp_mb": 10 * NS, "smp_rmb": 2 * NS, "smp_wmb": 2 * NS,
    "writel": 10 * NS, "writel_relaxed": 5 * NS, "__raw_writel": 5 * NS,
    "readl": 0, "readl_relaxed": 0, "__raw_readl": 0,
    "dma_map": 50 * NS, "dma_unmap": 50 * NS,
    "hardirq": 200 * NS,
})


class CpuCosts:
    """The cost table for one ordering profile: defaults, overrides, free compiler barriers."""

    def __init__(self, profile: OrderingProfile, overrides: Mapping[str, int] | None = None):
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(DEFAULT_COSTS_PS))
        if unknown:
            raise ValueError(f"unknown cost entries {unknown}; known: {', '.join(DEFAULT_COSTS_PS)}")
        bad = {k: v for k, v in overrides.items() if not isinstance(v, int) or v < 0}
        if bad:
            raise ValueError(f"costs must be non-negative integers of ps, got {bad}")
        table = {**DEFAULT_COSTS_PS, **overrides}
        for name in BARRIER_NAMES:
            if name not in overrides and profile.barrier(name).is_empty:
                table[name] = 0
        self.table: Mapping[str, int] = MappingProxyType(table)

    def of(self, primitive: str) -> int:
        """Cost in ps of ``primitive`` on this profile."""
        return self.table[primitive]
