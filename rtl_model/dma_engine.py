"""The NIC's PCIe DMA engine: timed reads of host memory and ordered posted writes.

Reads (descriptor fetches, packet buffer reads) share the link's completion
direction. A read issued at ``t`` gets its first data at
``max(t + read latency + jitter, link free)`` and then holds the link for the
wire time of its completion TLPs (``PcieLink``): requests are pipelined,
bandwidth is shared. The jitter is one of ``read_jitter_options``, drawn per
read through the engine's choice mechanism (where the root complex finds the
line: cache or DRAM; :mod:`sim.host.timing`); completions still return in
issue order. Host memory is sampled when the data starts to return, through the
IOMMU; a blocked read returns its poison and a failed status, never an
exception.

Posted writes (descriptor write-backs, head write-back, MSI-X messages) go
through one FIFO: each holds the upstream direction for its wire time and
lands ``posted_write_latency_ps`` later, in issue order. An MSI-X message is
a posted write too, and the INTx Assert/Deassert messages are posted
messages, so neither can overtake a write-back issued before it (PCIe
ordering: posted requests do not pass posted requests).

A CPU read of a NIC register returns its completion behind every posted
write the NIC issued before it (a completion may not pass posted writes), so
:meth:`DmaEngine.flush_posted` lands them all at once when the NIC answers an
MMIO read.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

__all__ = ["DmaEngine"]


class DmaEngine:
    """Timed DMA between the NIC and the host, over one :class:`~sim.host.pcie.PcieLink`."""

    def __init__(self, engine, iommu, link, msi_sink: Callable[[int, int], None],
                 intx_sink: Callable[[bool], None] = lambda level: None, who: str = "nic",
                 read_jitter_options: tuple[int, ...] = (0,)):
        self.engine = engine
        self.iommu = iommu
        self.link = link
        self.msi_sink = msi_sink
        self.intx_sink = intx_sink
        self._posted: deque = deque()   # (handle, item) issued, not yet landed, in order
        self.intx_delivered: list[tuple[int, bool]] = []
        self.who = who
        self.read_jitter_options = read_jitter_options
        self._why_jitter = f"{who} dma-read-jitter"
        self._rd_free_ps = 0   # completion direction busy until
        self._wr_free_ps = 0   # upstream (write) direction busy until
        self.bytes_read = 0
        self.bytes_written = 0

    # --- reads ---------------------------------------------------------
    def read(self, iova: int, n: int, why: str):
        """A process step: ``data, ok = yield from dma.read(iova, n, why)``."""
        eng = self.engine
        link = self.link
        wire = link.dma_read_time_ps(iova, n) - link.read_latency_ps
        latency = link.read_latency_ps
        opts = self.read_jitter_options
        latency += opts[0] if len(opts) == 1 else opts[eng.choose_index(len(opts), self._why_jitter)]
        start = max(eng.now + latency, self._rd_free_ps)
        end = self._rd_free_ps = start + wire
        yield start - eng.now
        data, ok = self.iommu.dma_read_checked(iova, n, f"{self.who}:{why}")
        yield end - eng.now
        self.bytes_read += n
        return data, ok

    # --- posted writes ------------------------------------------------------
    def write(self, iova: int, data: bytes, why: str, done: Callable[[bool], None] | None = None) -> None:
        """Post a memory write; ``done(ok)`` is called when it has landed."""
        self._post(("mem", iova, bytes(data), why, done), self.link.dma_write_time_ps(iova, len(data)))

    def msi(self, address: int, data: int) -> None:
        """Post an MSI-X message (a 4-byte write to ``address``), ordered behind earlier writes."""
        self._post(("msi", address, data, "msix", None), self.link.dma_write_time_ps(address, 4))

    def intx(self, level: bool) -> None:
        """Post an Assert_INTx / Deassert_INTx message, ordered behind earlier writes."""
        self._post(("intx", 0, bool(level), "intx", None), self.link.dma_write_time_ps(0, 4))

    def _post(self, item, total_ps: int) -> None:
        eng = self.engine
        wire = total_ps - self.link.posted_write_latency_ps
        start = max(eng.now, self._wr_free_ps)
        self._wr_free_ps = start + wire
        land = self._wr_free_ps + self.link.posted_write_latency_ps - eng.now
        self._posted.append((eng.call_later(land, self._land_next), item))

    def flush_posted(self) -> None:
        """Land every posted write issued so far, now and in order (an MMIO read completion pushes them)."""
        while self._posted:
            handle, item = self._posted.popleft()
            handle.cancel()
            self._deliver(item)

    def _land_next(self) -> None:
        _, item = self._posted.popleft()
        self._deliver(item)

    def _deliver(self, item) -> None:
        kind, addr, payload, why, done = item
        if kind == "msi":
            self.msi_sink(addr, payload)
            return
        if kind == "intx":
            self.intx_delivered.append((self.engine.now, payload))
            self.intx_sink(payload)
            return
        ok = self.iommu.dma_write(addr, payload, f"{self.who}:{why}")
        self.bytes_written += len(payload)
        if done is not None:
            done(ok)
