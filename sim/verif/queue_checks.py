"""One transmit queue's side of the scoreboard: its predicted frames, DD bits, head and tail.

:class:`QueueChecks` holds what the scoreboard knows about one queue — the
frames predicted for it in posting order, which of its ring slots must get a
DD write-back, its TDT and the furthest head the NIC is known to have
reached — and runs the checks that concern one queue: ``dd.*``,
``head_wb.value``, ``tdh.bounds`` and ``fetch.prefetch``. Failures go to the
``report`` it was given (the scoreboard's ``fail``/``ok``).
"""
from __future__ import annotations

from collections import deque

from sim.verif import txdesc

__all__ = ["QueueChecks"]


class QueueChecks:
    """Per-queue expectations and checks (see the module docstring)."""

    def __init__(self, q: int, ring_base: int, ring_size: int, report, *, dd_rule: str | None,
                 prefetch_rule: bool):
        self.q, self.ring_base, self.ring_size, self.report = q, ring_base, ring_size, report
        self.dd_rule = dd_rule                 # None (configuration b: DD only checked for its bit) or a description
        self.prefetch_rule = prefetch_rule     # PTHRESH 0: check fetch.prefetch
        self.expected: deque = deque()         # (source, frame, global prediction index), posting order
        self.postings: dict[int, object] = {}  # first slot -> posting
        self.dd_expect: dict[int, list] = {}   # slot -> [expected DD, landed, item seq]
        self.tdt = self.tdh = 0
        self.unreported = 0                    # write-backs not yet reported by an interrupt
        self.unrung: list = []                 # items posted since this queue's last doorbell
        self.descs_posted = self.descs_fetched = 0
        self.unfetched: deque = deque()        # (cumulative descriptor count at its end, posting)
        self.unstarted: dict[int, object] = {}  # buffer address -> fully fetched posting, no buffer read yet

    def _forward(self, a: int, b: int) -> int:
        return (b - a) % self.ring_size

    # --- what was posted -----------------------------------------------------------------------
    def expect(self, source, frames, dd, first_index: int) -> None:
        """The predictor's output for one item posted on this queue."""
        for k, f in enumerate(frames):
            self.expected.append((source, f, first_index + k))
        self.unrung.append(source)
        if dd is None:
            return
        for slot in source.slots:                 # the slots' earlier postings are gone
            self.postings.pop(slot, None)
        self.postings[source.first] = source
        self.descs_posted += source.n
        if self.prefetch_rule and source.buffers and not source.pkt.error:
            self.unfetched.append((self.descs_posted, source))
        for slot, want in zip(source.slots, dd):
            prev = self.dd_expect.get(slot)
            if prev is not None and prev[0] and not prev[1]:
                self.report.fail("dd.missing", f"queue {self.q} slot {slot} reused before its DD write-back "
                                               f"landed (packet {prev[2]})")
            self.dd_expect[slot] = [want, False, source.pkt.seq]

    def take_batch(self, old_tdt: int) -> list:
        """The items a TDT write hands over: postings between the old and the new TDT (configuration a),
        or skbs up to the end of the xmit_more burst (b, where descriptors are igb's business)."""
        if not self.unrung:
            return []
        if not hasattr(self.unrung[0], "pkt"):
            end = next((i for i, s in enumerate(self.unrung) if not s.xmit_more), len(self.unrung) - 1)
            batch, self.unrung = self.unrung[:end + 1], self.unrung[end + 1:]
            return batch
        room, k = self._forward(old_tdt, self.tdt), 0
        while k < len(self.unrung) and self.unrung[k].n <= room:
            room -= self.unrung[k].n
            k += 1
        batch, self.unrung = self.unrung[:k], self.unrung[k:]
        return batch

    # --- DMA ----------------------------------------------------------------------------------
    def on_writeback(self, t) -> None:
        first = (t.addr - self.ring_base) // 16
        for k in range(len(t.data) // 16):
            self._check_dd((first + k) % self.ring_size, t.data[16 * k:16 * k + 16])
        self.head_at_least((first + len(t.data) // 16) % self.ring_size)

    def _check_dd(self, slot: int, raw: bytes) -> None:
        if not txdesc.dd_set(raw):
            self.report.fail("dd.status", f"queue {self.q}: write-back of slot {slot} without DD: {raw.hex()}")
            return
        if self.dd_rule is None:
            self.report.ok("dd.status")
            return
        exp = self.dd_expect.get(slot)
        if exp is None or not exp[0]:
            self.report.fail("dd.unexpected", f"queue {self.q} slot {slot} written back (packet "
                                              f"{exp[2] if exp else '?'}) where {self.dd_rule} writes no DD for it")
        elif exp[1]:
            self.report.fail("dd.unexpected", f"queue {self.q} slot {slot} written back twice for packet {exp[2]}")
        else:
            exp[1] = True
            self.report.ok("dd.status")

    def head_at_least(self, v: int) -> None:
        """A write-back of slot v-1 means the head has passed it: raise the known head (never lower it)."""
        if 0 < self._forward(self.tdh, v) <= self._forward(self.tdh, self.tdt):
            self.tdh = v

    def check_head(self, v: int, what: str, boundary: bool = False) -> None:
        """A head value read or written back: inside [known head, TDT]; a head write-back ends an RS packet."""
        if not 0 <= v < self.ring_size or self._forward(self.tdh, v) > self._forward(self.tdh, self.tdt):
            self.report.fail("tdh.bounds", f"queue {self.q}: {what} {v} not between the head {self.tdh} "
                                           f"and TDT {self.tdt}")
            return
        if boundary and self.dd_rule is not None:
            ahead = self._forward(self.tdh, self.tdt)
            if v in {p.end for p in self.postings.values()
                     if p.pkt.rs and 0 < self._forward(self.tdh, p.end) <= ahead}:
                self.report.ok("head_wb.value")
            else:
                self.report.fail("head_wb.value", f"queue {self.q}: head write-back {v} is not the end of an "
                                                  f"RS packet between the head {self.tdh} and TDT {self.tdt}")
        self.tdh = v
        self.report.ok("tdh.bounds")

    def on_fetch(self, t) -> None:
        """PTHRESH 0 (facts §6.1): a fetch only when no whole packet waits in the cache.

        The packet just taken may still wait for its buffer read: the fetch is
        issued as it is taken, before its read.
        """
        if not self.prefetch_rule:
            return
        waiting = {id(p): p for p in self.unstarted.values()}
        if len(waiting) > 1:
            seqs = sorted(p.pkt.seq for p in waiting.values())
            self.report.fail("fetch.prefetch", f"queue {self.q}: descriptor fetch at {t.t_ps} ps while packets "
                                               f"{seqs} were fetched and not started, with PTHRESH 0")
        else:
            self.report.ok("fetch.prefetch")
        self.descs_fetched += len(t.data) // 16
        while self.unfetched and self.unfetched[0][0] <= self.descs_fetched:
            _, p = self.unfetched.popleft()
            for addr in p.buffers:
                self.unstarted[addr] = p

    def on_buffer_read(self, t) -> None:
        p = self.unstarted.get(t.addr)
        if p is not None:
            for addr in p.buffers:
                self.unstarted.pop(addr, None)

    # --- the end -------------------------------------------------------------------------------
    def missing_dd(self) -> list[int]:
        return sorted(s for s, (want, landed, _) in self.dd_expect.items() if want and not landed)
