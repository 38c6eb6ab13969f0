"""One TX queue: ring registers, descriptor fetch into an on-chip cache, completion and write-back.

Ring. ``[TDBA, TDBA + TDLEN)`` holds ``TDLEN / 16`` descriptors; hardware owns
the ones from TDH up to (not including) TDT (facts §6.1). The queue keeps
``fetch_ptr``, the next ring index to fetch, and never fetches at or past TDT.

Fetch policy (facts §6.1): at most one fetch is in flight per queue. When the
queue is *empty* — no complete packet in the cache and nothing in flight — it
fetches as many descriptors as are available (up to the free cache space),
regardless of thresholds. Otherwise it prefetches when the cache holds fewer
than PTHRESH unprocessed descriptors and at least HTHRESH are available in
host memory (PTHRESH = 0 disables prefetch). A fetch never wraps in one DMA
request: it stops at the ring end, and the next fetch starts at index 0.
Descriptors are copied at fetch time: a later host write to a fetched
descriptor is not seen (as on real hardware, and as gem5 models it).

Completion (facts §6.2, §6.3). A packet's descriptors are *processed* once its
data is in the TX packet buffer: TDH moves past them then. Write-back:

* head write-back (TDWBAL bit 0 = Head_WB_En): after a packet with an RS
  descriptor, the head index (a dword) is written to TDWBAH:TDWBAL[31:2];
  no descriptor is written back;
* WTHRESH = 0: every processed descriptor with RS is written back (DD set)
  right away;
* WTHRESH > 0: all processed descriptors accumulate and are written back in
  one burst when WTHRESH of them are ready, when the queue's interrupt
  throttle interval (EITR of its vector) expires after the first one, or on
  TXDCTL.SWFLSH. With an interval of 0 (no throttling) the timer expires at
  once, so a partial burst never waits forever.

Each write-back is a posted DMA write followed by the TXDW cause, whose MSI-X
message is posted behind it and so cannot overtake it.

Device reset (CTRL.RST, :meth:`TxQueue.device_reset`): the queue forgets
everything — descriptor cache, fetch pointer, contexts, pending write-backs
and their flush timer — and restarts from the reset registers. Its epoch
moves on, so a descriptor fetch or buffer read still in flight is discarded
when it completes: nothing fetched before the reset is processed, written
back or signalled after it.

Faults: a descriptor or buffer read the IOMMU blocks stops the queue (it
fetches and sends nothing more until TXDCTL.ENABLE is cleared and set again)
and raises the NIC's DMA-fault cause. A malformed packet is dropped and
counted; its descriptors are still completed so the ring does not stall.
"""
from __future__ import annotations

import logging
from collections import deque

from . import descriptors as d
from .regs import TXDCTL_ENABLE, TXDCTL_SWFLSH

__all__ = ["TxQueue"]

log = logging.getLogger("igbsim.nic.txq")

TDWBAL_HEAD_WB_EN = 0x1


class TxQueue:
    """State and behaviour of TX queue ``n`` of a :class:`~rtl_model.nic.Nic`."""

    def __init__(self, nic, n: int):
        self.nic = nic
        self.n = n
        self.engine = nic.engine
        self.name = f"txq{n}"
        self.cache_size = nic.profile.tx_desc_cache_size
        self.enabled = False
        self.faulted = False
        self.fetching = False
        self.epoch = 0                       # +1 on every disable/enable: older in-flight work is stale
        self.fetch_ptr = 0
        self.head = 0
        self.tail = 0
        self.cache: deque = deque()          # (ring index, raw 16 bytes, decoded, ends a packet), ring order
        self._ends_cached = 0                # cache entries that end a packet (EOP or undecodable)
        self.contexts: list = [None] * nic.profile.tx_context_slots
        self.dropping = False                # discarding up to the next EOP
        self.wb_pending: list = []           # (index, raw) processed, not yet written back
        self._wb_timer = None
        self.enabled = bool(self.reg("TXDCTL") & TXDCTL_ENABLE)  # queue 0 resets enabled (QEMU)
        self.counters = {"fetches": 0, "descs_fetched": 0, "packets": 0, "malformed": 0,
                         "tdt_out_of_range": 0, "writebacks": 0}

    # --- registers ----------------------------------------------------
    def reg(self, field: str) -> int:
        return self.nic.regs.get(f"{field}{self.n}")

    @property
    def base(self) -> int:
        return (self.reg("TDBAH") << 32) | (self.reg("TDBAL") & ~0xF)

    @property
    def ring_size(self) -> int:
        return self.reg("TDLEN") // 16

    def desc_addr(self, index: int) -> int:
        return self.base + 16 * index

    def on_tdt_write(self, value: int) -> None:
        """The doorbell. A tail outside the ring is ignored (kept, logged, counted)."""
        value &= 0xFFFF
        size = self.ring_size
        if size == 0 or value >= size:
            self.counters["tdt_out_of_range"] += 1
            log.warning("%s: TDT write %d outside the ring of %d descriptors: ignored", self.name, value, size)
            return
        self.nic.regs.set(f"TDT{self.n}", value)
        self.tail = value
        self.engine.log(self.name, "tdt", value)
        self.kick()

    def on_tdh_write(self, value: int) -> None:
        """Software may set TDH only while the queue is disabled (the driver writes 0)."""
        if self.enabled:
            log.warning("%s: TDH write %d while enabled: ignored", self.name, value)
            return
        self.head = self.fetch_ptr = value & 0xFFFF
        self.nic.regs.set(f"TDH{self.n}", self.head)

    def on_txdctl_write(self, value: int) -> None:
        was = self.enabled
        self.nic.regs.set(f"TXDCTL{self.n}", value & ~TXDCTL_SWFLSH)
        self.enabled = bool(value & TXDCTL_ENABLE)
        if self.enabled and not was:
            self._reset_ring_state()
            self.engine.log(self.name, "enable", self.ring_size)
            self.kick()
        elif was and not self.enabled:
            self.epoch += 1
            self.engine.log(self.name, "disable")
        if value & TXDCTL_SWFLSH:
            self.flush_writebacks("swflsh")

    def device_reset(self) -> None:
        """CTRL.RST: drop all queue state and take the reset registers (TDH = TDT = 0, ENABLE per TXDCTL).

        Pending write-backs are discarded, not flushed (their descriptors were
        fetched before the reset, so they must never get DD), and the flush
        timer is cancelled. Queue 0 comes back enabled, as at power-on.
        """
        self._reset_ring_state()
        self.enabled = bool(self.reg("TXDCTL") & TXDCTL_ENABLE)

    def _reset_ring_state(self) -> None:
        self.epoch += 1          # a fetch or packet still in flight belongs to the old ring state
        self._cancel_wb_timer()  # it would only flush the next ring state's first burst early
        self.fetching = False
        self.head = self.fetch_ptr = self.reg("TDH")
        self.tail = self.reg("TDT")
        self.cache.clear()
        self._ends_cached = 0
        self.contexts = [None] * len(self.contexts)
        self.faulted = self.dropping = False
        self.wb_pending.clear()

    @property
    def thresholds(self) -> tuple[int, int, int]:
        """(PTHRESH, HTHRESH, WTHRESH) from TXDCTL (facts §1.5)."""
        v = self.reg("TXDCTL")
        return v & 0x1F, (v >> 8) & 0x1F, (v >> 16) & 0x1F

    # --- fetch -----------------------------------------------------------
    def kick(self) -> None:
        """Start a descriptor fetch if the fetch policy says so."""
        if not self.enabled or self.faulted or self.fetching:
            return
        size = self.ring_size
        if size == 0 or self.fetch_ptr >= size:
            return  # no ring, or TDH was set (or TDLEN shrunk) past its end: nothing valid to fetch
        avail = (self.tail - self.fetch_ptr) % size
        free = self.cache_size - len(self.cache)
        if avail == 0 or free <= 0:
            return
        pthresh, hthresh, _ = self.thresholds
        if self.has_packet():
            if not (len(self.cache) < pthresh and avail >= max(hthresh, 1)):
                return
        k = min(avail, free, size - self.fetch_ptr)
        self.fetching = True
        self.engine.spawn(self._fetch(self.fetch_ptr, k, self.epoch), f"{self.name}-fetch")

    def _fetch(self, start: int, k: int, epoch: int):
        data, ok = yield from self.nic.dma.read(self.desc_addr(start), 16 * k, f"{self.name} descriptor fetch")
        if epoch != self.epoch:
            return  # the queue was disabled (and maybe re-enabled) meanwhile: drop the stale data
        self.fetching = False
        if not self.enabled:
            return
        if not ok:
            self.fault("descriptor fetch", start)
            return
        size = self.ring_size
        if start + k > size:
            return  # TDLEN was rewritten while enabled and the ring no longer holds these slots
        for i in range(k):
            raw = data[16 * i:16 * i + 16]
            desc = d.decode_tx(raw)
            ends = d.ends_packet(desc)
            self._ends_cached += ends
            self.cache.append((start + i, raw, desc, ends))
        self.fetch_ptr = (start + k) % size
        self.counters["fetches"] += 1
        self.counters["descs_fetched"] += k
        self.engine.log(self.name, "fetch", start, k)
        self.kick()
        self.nic.scheduler_wake()

    def has_packet(self) -> bool:
        """True if the cache holds a whole packet (up to an EOP) or something to discard."""
        if not self.enabled or self.faulted or not self.cache:
            return False
        return self._ends_cached > 0 or len(self.cache) >= self.cache_size  # too long for the cache: discard

    def take_packet(self) -> list:
        """Remove the next packet's descriptors from the cache: [(index, raw, decoded), …]."""
        out = []
        while self.cache:
            index, raw, desc, ends = self.cache.popleft()
            out.append((index, raw, desc))
            if ends:
                self._ends_cached -= 1
                break
        self.kick()
        return out

    # --- completion --------------------------------------------------------
    def complete(self, descs: list) -> None:
        """The packet's descriptors are processed: move TDH, then write back per the mode."""
        if not descs:
            return
        size = self.ring_size
        self.head = (descs[-1][0] + 1) % size if size else 0  # TDLEN may have been zeroed while enabled
        self.nic.regs.set(f"TDH{self.n}", self.head)
        self.counters["packets"] += 1
        if self.reg("TDWBAL") & TDWBAL_HEAD_WB_EN:
            if any(_rs(desc) for _, _, desc in descs):
                self._head_writeback()
            return
        _, _, wthresh = self.thresholds
        if wthresh == 0:
            for index, raw, desc in descs:
                if _rs(desc):
                    self._write_back([(index, raw)], "rs")
            return
        self.wb_pending.extend((index, raw) for index, raw, _ in descs)
        if len(self.wb_pending) >= wthresh:
            self.flush_writebacks("wthresh")
        elif self._wb_timer is None:
            # an interval of 0 (no throttling) expires at once: nothing waits forever
            self._wb_timer = self.engine.call_later(self.nic.flush_interval_ps(self.n), self._timer_flush)

    def _timer_flush(self) -> None:
        self._wb_timer = None
        self.flush_writebacks("eitr")

    def flush_writebacks(self, why: str) -> None:
        """Write back every accumulated processed descriptor, in contiguous bursts."""
        self._cancel_wb_timer()
        pending, self.wb_pending = self.wb_pending, []
        run: list = []
        for item in pending:
            if run and item[0] != run[-1][0] + 1:
                self._write_back(run, why)
                run = []
            run.append(item)
        if run:
            self._write_back(run, why)

    def _cancel_wb_timer(self) -> None:
        if self._wb_timer is not None:
            self._wb_timer.cancel()
            self._wb_timer = None

    def _write_back(self, run: list, why: str) -> None:
        payload = b"".join(d.writeback_dd(raw) for _, raw in run)
        self.nic.dma.write(self.desc_addr(run[0][0]), payload, f"{self.name} write-back")
        self.counters["writebacks"] += 1
        self.engine.log(self.name, "writeback", run[0][0], len(run), why)
        self.nic.tx_cause(self.n)

    def _head_writeback(self) -> None:
        addr = (self.reg("TDWBAH") << 32) | (self.reg("TDWBAL") & ~0x3)
        self.nic.dma.write(addr, self.head.to_bytes(4, "little"), f"{self.name} head write-back")
        self.engine.log(self.name, "head-writeback", self.head)
        self.nic.tx_cause(self.n)

    def fault(self, what: str, index: int) -> None:
        """A blocked DMA: stop the queue until it is re-enabled, and raise the fault cause."""
        self.faulted = True
        self.cache.clear()
        self._ends_cached = 0
        log.warning("%s: %s at descriptor %d faulted in the IOMMU: queue stopped", self.name, what, index)
        self.engine.log(self.name, "fault", what, index)
        self.nic.dma_fault_cause(self.n)



def _rs(desc) -> bool:
    return isinstance(desc, (d.AdvData, d.LegacyTx)) and desc.rs
