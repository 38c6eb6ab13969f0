"""The scoreboard: the DUT's observed behaviour against the independent predictor and the datasheet.

Every check has a name; a failure records ``(check, message)`` and the test
fails in ``check_phase`` listing them (the first ones in full), so a planted
bug is reported by the check that caught it. Checks:

| check | what |
|---|---|
| ``frame.content`` | each frame on the wire equals the next predicted frame of some queue |
| ``frame.order`` | a frame predicted for a queue comes before that queue's later frames (per-queue order) |
| ``frame.missing`` / ``frame.extra`` | at the end, every predicted frame came, and no other |
| ``frame.duration`` | a frame holds the wire (len + 8 preamble/SFD + 12 IPG) × 8 ns at 1 Gb/s |
| ``frame.spacing`` | a frame starts no earlier than the previous one ended |
| ``frame.latency`` | the first frame after a doorbell on an idle NIC starts inside a window from PCIe arithmetic |
| ``dd.status`` / ``dd.unexpected`` / ``dd.missing`` | write-backs carry DD, only where the write-back mode says so, and every expected one lands (configuration a) |
| ``head_wb.value`` | a head write-back is the end of an RS packet |
| ``tdh.bounds`` | TDH (read, written back, implied by a write-back) moves forward and never past TDT |
| ``fetch.prefetch`` | PTHRESH = 0: no descriptor fetch while a whole fetched packet waits to start |
| ``irq.after_writeback`` | each TX interrupt (MSI-X message or INTx rise) follows a write-back it reports, or an EICS write |
| ``irq.unreported`` | at the end, no write-back is left without its interrupt |
| ``irq.eitr_spacing`` | interrupts of one vector at least its EITR interval apart (less the posted-write queueing that could delay the earlier one) |
| ``reg.readback`` | a read of a plain register returns what was written (register model mirror) |
| ``reg.rule`` | no write breaks a programming rule the register model knows (e.g. TDLEN while the queue is enabled) |
| ``check.unexercised`` | every check the corner must exercise ran at least once (:meth:`Scoreboard.required`) |
| ``fault.doutsync`` | a DMA fault raises ICR.DOUTSYNC, and the faulted packet sends nothing |

The per-queue checks live in :mod:`sim.verif.queue_checks`, the arithmetic in
:mod:`sim.verif.linkmath`. Independence: none of these import anything from
``rtl_model`` (``tests/sim/verif/test_independence.py``).
"""
from __future__ import annotations

import re
from collections import deque

from pyuvm import ConfigDB, uvm_component

from sim.verif.agents import Listener, Posting
from sim.verif.linkmath import (LATENCY_SLACK_PS, POSTED_LATENCY_MAX_PS, READ_ROUND_TRIP_MAX_PS, TLP_OVERHEAD,
                                byte_time_ps, dma_cost, tlp_bytes, wire_ps)
from sim.verif.queue_checks import QueueChecks

__all__ = ["Scoreboard"]

REPORT_FIRST = 8
RECENT_WRITES_PS = 100_000_000   # posted writes older than this (100 us) before an interrupt cannot delay it
_QREG = re.compile(r"^(TDLEN|TDT|TDH)(\d+)$")


class Scoreboard(uvm_component):
    """See the module docstring. Exports: expected, wire, dma, irq, reg."""

    def build_phase(self):
        self.cfg = ConfigDB().get(self, "", "CFG")
        self.regs = ConfigDB().get(self, "", "REGMODEL")
        self.mirror = self.regs.mirror()
        self.failures: list[tuple[str, str]] = []
        self.checked: dict[str, int] = {}
        nic = self.cfg.dut == "nic"
        rule = None if not nic else ("head write-back mode" if self.cfg.head_wb else f"WTHRESH {self.cfg.wthresh}")
        self.queues = {q: QueueChecks(q, base, self.cfg.ring_size, self, dd_rule=rule,
                                      prefetch_rule=nic and self.cfg.pthresh == 0)
                       for q, base in ConfigDB().get(self, "", "RING_BASES").items()}
        self.frames = self.predicted = 0
        self.last_end = None
        self.latency_window = None            # [frame index, lo, reads, bytes, doorbell ps, items]
        self.vector_queues: dict[int, set[int]] = {}         # MSI-X vector -> the TX queues it reports
        self.irq_last: dict[int, tuple[int, int]] = {}       # vector -> (time, interval in force)
        self.eitr_ps: dict[int, int] = {}
        self.eitr_restart: dict[int, tuple[int, int]] = {}   # vector -> (time, interval) of a restarting write
        self.sw_causes: set[int] = set()                     # vectors EICS raised, not yet sent
        self.posted_writes: deque = deque()   # (landed ps, link bytes) of recent posted writes
        self.last_wb_ps = None
        self.doutsync = self.faults_posted = 0
        for name, fn in (("expected", self.on_expected), ("wire", self.on_wire), ("dma", self.on_dma),
                         ("irq", self.on_irq), ("reg", self.on_reg)):
            setattr(self, f"{name}_export", Listener(f"{name}_export", self, fn))

    # --- bookkeeping ------------------------------------------------------------------------
    def fail(self, check: str, msg: str) -> None:
        self.failures.append((check, msg))
        if len(self.failures) <= REPORT_FIRST:
            self.logger.error(f"[{check}] {msg}")

    def ok(self, check: str) -> None:
        self.checked[check] = self.checked.get(check, 0) + 1

    @property
    def expecting(self) -> bool:
        """Some predicted frame has not been sent yet."""
        return any(qc.expected for qc in self.queues.values())

    # --- expected ---------------------------------------------------------------------------
    def on_expected(self, exp) -> None:
        """From the predictor: (posting or skb spec, frames, per-descriptor DD or None)."""
        source, frames, dd = exp
        q = source.queue if isinstance(source, Posting) else 0
        self.queues[q].expect(source, frames, dd, self.predicted)
        self.predicted += len(frames)
        if isinstance(source, Posting) and source.pkt.error == "dma_fault":
            self.faults_posted += 1

    # --- wire -----------------------------------------------------------------------------------
    def on_wire(self, w) -> None:
        n = self.frames
        self.frames += 1
        if w.end_ps - w.start_ps != wire_ps(len(w.frame)):
            self.fail("frame.duration", f"frame {n} ({len(w.frame)} B) held the wire "
                                        f"{w.end_ps - w.start_ps} ps, expected {wire_ps(len(w.frame))}")
        else:
            self.ok("frame.duration")
        if self.last_end is not None and w.start_ps < self.last_end:
            self.fail("frame.spacing", f"frame {n} started at {w.start_ps} ps before the previous ended "
                                       f"at {self.last_end} ps")
        elif self.last_end is not None:
            self.ok("frame.spacing")
        self.last_end = w.end_ps
        self._check_latency(n, w)
        self._match(n, w.frame)

    def _match(self, n: int, frame: bytes) -> None:
        """The frame is some queue's next predicted one; else a later one (order), else wrong or extra."""
        heads = [qc for qc in self.queues.values() if qc.expected]
        for qc in heads:
            if qc.expected[0][1] == frame:
                qc.expected.popleft()
                self.ok("frame.content")
                return
        for qc in heads:
            for i, (src, f, _) in enumerate(qc.expected):
                if f == frame:
                    del qc.expected[i]
                    self.fail("frame.order", f"frame {n} is queue {qc.q}'s item {_seq(src)}, sent before "
                                             f"{i} earlier frame(s) of that queue")
                    return
        if not heads:
            self.fail("frame.extra", f"frame {n} ({len(frame)} B) was not predicted: {frame[:32].hex()}…")
            return
        qc = min(heads, key=lambda c: c.expected[0][2])     # the oldest prediction still waiting
        src, want, _ = qc.expected.popleft()
        self.fail("frame.content", f"frame {n} (queue {qc.q} item {_seq(src)}): " + _diff(want, frame))

    def _check_latency(self, n: int, w) -> None:
        win = self.latency_window
        if win is None or win[0] != n:
            return
        self.latency_window = None
        if w.start_ps < win[4] and self.cfg.dut != "nic":
            return   # (b): igb rang an earlier doorbell for this skb (a stopped queue flushes mid-burst)
        lo, hi = win[1], self._window_high(win)
        if not lo <= w.start_ps <= hi:
            self.fail("frame.latency", f"frame {n} started at {w.start_ps} ps, outside [{lo}, {hi}] computed "
                                       f"from the doorbell at {win[4]} ps and the PCIe link (a batch of {win[5]} "
                                       f"item(s): {win[2]} reads, {win[3]} bytes)")
        else:
            self.ok("frame.latency")

    def _doorbell(self, qc: QueueChecks, old_tdt: int, t_db: int) -> None:
        """A doorbell that finds the NIC idle: its first frame must start within PCIe arithmetic of it.

        The doorbell's batch is what it hands over: the postings between the
        old and the new TDT (configuration a), or the skbs up to the end of the
        xmit_more burst (b). Idle: every frame predicted before the batch's
        first one is on the wire and the MAC has finished it. The window's low
        end is the time for a descriptor and the frame's first bytes to cross
        the link. Its high end is an upper bound on the DMA the NIC may do
        first: two descriptor fetches (one may stop at the ring's end) and one
        read per data buffer of the frame's packet, each a full round trip (a
        NIC may overlap them, never needs more), while every descriptor and
        buffer byte of the batch may share the link ahead of them (at the data
        rate, with TLP overhead). Doorbells landing at the same instant (on any
        queue) form one batch; its first frame may be any of their first packets'.
        """
        batch = qc.take_batch(old_tdt)
        _, nbytes = dma_cost(batch)
        ids = {id(src) for src in batch}
        firsts = [(idx, f, src) for src, f, idx in qc.expected if id(src) in ids]
        reads = 2 + dma_cost([min(firsts, key=lambda e: e[0])[2]])[0] if firsts else 0
        win = self.latency_window
        if win is not None and win[4] == t_db and self.frames == win[0]:
            win[2] = max(win[2], reads)
            win[3] += nbytes
            win[5] += len(batch)
            return
        if not firsts:
            return
        first, frame, _ = min(firsts, key=lambda e: e[0])
        if self.frames != first or (self.last_end is not None and self.last_end > t_db):
            return   # not idle: earlier frames are still to go
        lo = t_db + int(byte_time_ps(self.cfg.profile) * (16 + min(len(frame), 60)))
        self.latency_window = [self.frames, lo, reads, nbytes, t_db, len(batch)]

    def _window_high(self, win) -> int:
        _, _, reads, nbytes, t_db, _ = win
        return (t_db + reads * READ_ROUND_TRIP_MAX_PS
                + int(TLP_OVERHEAD * byte_time_ps(self.cfg.profile) * nbytes) + LATENCY_SLACK_PS)

    # --- DMA --------------------------------------------------------------------------------------
    def on_dma(self, t) -> None:
        qc = self.queues.get(t.queue)
        if t.kind in ("writeback", "head_wb"):
            self.posted_writes.append((t.t_ps, tlp_bytes(len(t.data))))
            if not t.ok or qc is None:
                return
            qc.unreported += 1
            self.last_wb_ps = t.t_ps
            if t.kind == "writeback":
                qc.on_writeback(t)
            else:
                qc.check_head(int.from_bytes(t.data[:4], "little"), "head write-back", boundary=True)
        elif qc is not None and t.ok:
            if t.kind == "desc_fetch":
                qc.on_fetch(t)
            else:
                qc.on_buffer_read(t)

    # --- interrupts ---------------------------------------------------------------------------
    def on_irq(self, t) -> None:
        self.posted_writes.append((t.t_ps, tlp_bytes(4)))   # a message shares the posted-write queue
        if t.kind == "msix":
            reported = self.vector_queues.get(t.vector)
            if reported:
                if t.vector in self.sw_causes:      # EICS: software asked for this one
                    self.sw_causes.discard(t.vector)
                    self.ok("irq.after_writeback")
                    self._consume(reported)
                else:
                    self._tx_interrupt(t.t_ps, f"MSI-X vector {t.vector}", reported)
                self._check_spacing(t.vector, t.t_ps, pushed=t.pushed)
        elif t.level:
            self._check_spacing(0, t.t_ps, "INTx rise", t.pushed)
            self._tx_interrupt(t.t_ps, "INTx rise", None)   # the ICR read consumes (on_reg)

    def _tx_interrupt(self, t_ps: int, what: str, queues) -> None:
        if not any(qc.unreported for qc in self.queues.values() if queues is None or qc.q in queues):
            self.fail("irq.after_writeback", f"{what} at {t_ps} ps reports no write-back "
                                             f"(last write-back at {self.last_wb_ps} ps)")
        else:
            self.ok("irq.after_writeback")
        if queues is not None:
            self._consume(queues)

    def _consume(self, queues) -> None:
        for q in queues:
            if q in self.queues:
                self.queues[q].unreported = 0

    def _check_spacing(self, v: int, t_ps: int, what: str = "", pushed: bool = False) -> None:
        """Interrupts of vector v (INTx: EITR0) at least the interval in force at the previous one apart.

        The interval is the one written before the previous interrupt (CNT_IGNR
        writes apply from the next counter load); a write without CNT_IGNR
        restarts the counter, so the next interrupt is checked from that write.
        """
        prev = self.irq_last.get(v)
        self.irq_last[v] = (t_ps, self.eitr_ps.get(v, 0))
        if prev is None:
            return
        since, interval = prev
        restart = self.eitr_restart.get(v)
        if restart is not None and restart[0] > since:
            since, interval = restart
        if interval:
            self._spacing_ok(since, t_ps, interval, what or f"vector {v}", pushed)

    def _spacing_ok(self, prev: int, t_ps: int, interval: int, what: str, pushed: bool) -> None:
        slack = self._queueing_before(prev) + (POSTED_LATENCY_MAX_PS if pushed else 0)
        if t_ps - prev < interval - slack:
            self.fail("irq.eitr_spacing", f"{what}: interrupt {t_ps - prev} ps after the counter started; "
                                          f"EITR interval {interval} ps (queueing allowance {slack} ps)")
        else:
            self.ok("irq.eitr_spacing")

    def _queueing_before(self, landed: int) -> int:
        """How long the interrupt that landed at ``landed`` may have waited behind earlier posted writes.

        Posted writes leave in order, so it waited only behind the run of
        writes that went out back to back just before it: walking back from
        it, each earlier write that landed no more than the later one's wire
        time (an upper bound, TLP overhead included) before it. The bound is
        that run's wire time plus the message's own.
        """
        bt = byte_time_ps(self.cfg.profile)
        later_wire = total = tlp_bytes(4) * bt
        at = landed
        for t, nbytes in reversed(self.posted_writes):
            if t > landed:
                continue
            if at - t > later_wire:
                break
            later_wire = nbytes * bt
            total += later_wire
            at = t
        while self.posted_writes and self.posted_writes[0][0] < landed - RECENT_WRITES_PS:
            self.posted_writes.popleft()
        return int(total)

    # --- registers ---------------------------------------------------------------------------
    def on_reg(self, t) -> None:
        name = self.regs.name_at(t.offset)
        if name is None:
            return   # a register outside the TX and interrupt model (igb also programs RX, PHY, …)
        m = _QREG.match(name)
        qc = self.queues.get(int(m.group(2))) if m else None
        if t.op == "wr":
            note = self.mirror.predict_write(name, t.value)
            if note:
                self.fail("reg.rule", note)
            self._on_write(name, t, m and m.group(1), qc)
            return
        compared = self.mirror.is_checked(name) and self.mirror.predicted(name) is not None
        msg = self.mirror.check_read(name, t.value)
        if msg:
            self.fail("reg.readback", msg)
        elif compared:
            self.ok("reg.readback")
        if qc is not None and m.group(1) == "TDH":
            qc.check_head(t.value, "TDH read")
        elif name == "ICR":
            if t.value & self.regs.ICR_DOUTSYNC:
                self.doutsync += 1
            if t.value & self.regs.ICR_TXDW and self.cfg.irq_mode == "intx":
                self._consume(self.queues)   # legacy mode: the ICR read hands every TXDW so far to software

    def _on_write(self, name: str, t, field: str | None, qc: QueueChecks | None) -> None:
        if qc is not None:
            if field == "TDLEN":
                qc.ring_size = max(1, t.value // 16)
            elif field == "TDT":
                old, qc.tdt = qc.tdt, t.value
                self._doorbell(qc, old, t.t_ps)
            else:
                qc.tdh = t.value
        elif name.startswith("EITR"):
            v, interval = int(name[4:]), self.regs.eitr_interval_ps(t.value)
            self.eitr_ps[v] = interval
            if not t.value & self.regs.EITR_CNT_IGNR:
                self.eitr_restart[v] = (t.t_ps, interval)
        elif name == "EICS":
            self.sw_causes.update(v for v in range(32) if t.value >> v & 1)
        elif name.startswith("IVAR0_"):
            routes = self.regs.tx_queue_vectors(self.mirror)
            self.vector_queues = {}
            for q, v in routes.items():
                self.vector_queues.setdefault(v, set()).add(q)

    # --- end of test ----------------------------------------------------------------------------
    def check_phase(self):
        for qc in self.queues.values():
            self._check_queue_end(qc)
        if self.faults_posted and self.doutsync < self.faults_posted:
            self.fail("fault.doutsync", f"{self.faults_posted} DMA fault(s) posted, ICR.DOUTSYNC read "
                                        f"{self.doutsync} time(s)")
        elif self.faults_posted:
            self.ok("fault.doutsync")
        unexercised = sorted(self.required() - set(self.checked))
        if unexercised and not self.failures:
            self.fail("check.unexercised", f"checks this corner must run never ran: {', '.join(unexercised)}")
        checks = ", ".join(f"{k} {v}" for k, v in sorted(self.checked.items()))
        self.logger.info(f"{self.cfg.describe()}: {self.frames} frames; checks passed: {checks}")
        if self.failures:
            kinds = sorted({c for c, _ in self.failures})
            raise AssertionError(f"seed {self.cfg.seed}: {len(self.failures)} failure(s) in {', '.join(kinds)}; "
                                 f"first: [{self.failures[0][0]}] {self.failures[0][1]}  "
                                 f"(reproduce: {self.cfg.reproduce()})")

    def required(self) -> set[str]:
        """The checks this corner exercises if the DUT does anything at all: each must pass at least once."""
        cfg = self.cfg
        need = {"frame.content", "frame.duration", "frame.spacing", "frame.latency", "irq.after_writeback",
                "dd.status" if not cfg.head_wb else "head_wb.value"}
        if cfg.dut == "nic":
            need |= {"reg.readback", "tdh.bounds"}
            need |= {"fetch.prefetch"} if cfg.pthresh == 0 else set()
            need |= {"irq.eitr_spacing"} if cfg.eitr_us else set()
        need |= {"fault.doutsync"} if self.faults_posted else set()
        return need

    def _check_queue_end(self, qc: QueueChecks) -> None:
        if qc.expected:
            src, f, _ = qc.expected[0]
            self.fail("frame.missing", f"queue {qc.q}: {len(qc.expected)} predicted frame(s) never sent; the "
                                       f"first ({len(f)} B) of item {_seq(src)}")
        missing = qc.missing_dd()
        if missing:
            self.fail("dd.missing", f"queue {qc.q}: expected DD write-backs never landed for slots {missing[:16]}")
        if qc.unreported > 0:
            self.fail("irq.unreported", f"queue {qc.q}: {qc.unreported} write-back(s) never followed by an "
                                        f"interrupt (the last write-back at {self.last_wb_ps} ps)")


def _seq(src) -> int:
    return src.pkt.seq if isinstance(src, Posting) else src.seq


def _diff(want: bytes, got: bytes) -> str:
    """Where two frames first differ, readably."""
    head = f"length {len(got)}, predicted {len(want)}" if len(want) != len(got) else "same length"
    i = next((k for k in range(min(len(want), len(got))) if want[k] != got[k]), min(len(want), len(got)))
    return f"{head}; first difference at byte {i}: got {got[i:i + 8].hex()} predicted {want[i:i + 8].hex()}"
