"""The scoreboard: the DUT's observed behaviour against the independent predictor and the datasheet.

Every check has a name; a failure records ``(check, message)`` and the test
fails in ``check_phase`` listing them (the first ones in full), so a planted
bug is reported by the check that caught it. Checks:

| check | what |
|---|---|
| ``frame.content`` | each frame on the wire equals the next predicted one, in posting order (per queue) |
| ``frame.missing`` / ``frame.extra`` | at the end, every predicted frame came, and no other |
| ``frame.duration`` | a frame holds the wire (len + 8 preamble/SFD + 12 IPG) × 8 ns at 1 Gb/s |
| ``frame.spacing`` | a frame starts no earlier than the previous one ended |
| ``frame.latency`` | the first frame after a doorbell on an idle NIC starts inside a window from PCIe arithmetic |
| ``dd.status`` / ``dd.unexpected`` / ``dd.missing`` | write-backs carry DD, only where the write-back mode says so, and every expected one lands (configuration a) |
| ``head_wb.value`` | a head write-back is a packet boundary of an RS packet, never past TDT |
| ``tdh.bounds`` | TDH (read or written back) moves forward and never past TDT |
| ``irq.after_writeback`` | each TX interrupt (MSI-X message or INTx rise) follows a write-back it reports |
| ``irq.unreported`` | at the end, no write-back is left without its interrupt |
| ``irq.eitr_spacing`` | messages of one vector are at least its EITR interval apart (less the posted-write queueing before the earlier one) |
| ``fetch.prefetch`` | PTHRESH = 0: no descriptor fetch while the queue holds a whole fetched packet it has not started (at most the one just taken, whose buffer read is issued right after the fetch) |
| ``reg.readback`` | a read of a plain register returns what was written (register model mirror) |
| ``fault.doutsync`` | a DMA fault raises ICR.DOUTSYNC, and the faulted packet sends nothing |

Independence: this module and :mod:`sim.verif.predictor` import nothing from
``rtl_model`` (``tests/sim/verif/test_independence.py``). Link figures are
written out here from the datasheets, not read from the model.
"""
from __future__ import annotations

from collections import deque

from pyuvm import ConfigDB, uvm_component

from sim.verif import txdesc
from sim.verif.agents import Listener, Posting

__all__ = ["Scoreboard", "LINK", "LINE_RATE_BPS"]

LINE_RATE_BPS = 1_000_000_000          # 1000BASE-T, both profiles
PREAMBLE_SFD, IPG = 8, 12              # bytes around every frame on the wire (IEEE 802.3)
#: PCIe per profile: (GT/s, lanes); 8b/10b encoding at 2.5 GT/s gives 250 MB/s of data per lane.
#: 82576: PCIe v2.0 (2.5 GT/s) x4; I210: PCIe v2.1 (2.5 GT/s) x1 (the two datasheets' feature lists).
LINK = {"82576": (2.5, 4), "i210": (2.5, 1)}
TLP_OVERHEAD = 1.25                    # upper bound on header/framing per data byte (>= 128-byte payloads)
#: Upper bound on the bytes a TLP adds to its payload on the link: a 4-DW header (64-bit address),
#: ECRC 4, sequence number 2, LCRC 4, 2 framing symbols (PCIe base spec, gen1/gen2), and one 8-byte
#: DLLP (Ack or UpdateFC) sharing the direction; one TLP per 128 bytes of payload at most.
TLP_FIXED_BYTES, TLP_MAX_PAYLOAD = 36, 128
#: Upper bound on one DMA read round trip (request to first completion). UNCONFIRMED: host
#: memory latency is not a datasheet figure; 2 us is over twice the usual figure for PCIe gen1.
READ_ROUND_TRIP_MAX_PS = 2_000_000
#: Upper bound on a posted write's flight time (sent to visible). UNCONFIRMED, like the above: a
#: message a register read pushes out lands that much earlier than it would have.
POSTED_LATENCY_MAX_PS = 1_000_000
LATENCY_SLACK_PS = 1_000_000
REPORT_FIRST = 8


def byte_time_ps(profile: str) -> float:
    """Picoseconds per data byte on the PCIe link: 8b/10b sends 10 bits per byte per lane."""
    gt, lanes = LINK[profile.lower()]
    return 10 / (gt * lanes) * 1000      # 10 bits / (GT/s * lanes) in ns -> ps


def wire_ps(frame_len: int) -> int:
    """Wire time of a frame (its bytes as sent, FCS included) at the line rate, with preamble and IPG."""
    return (frame_len + PREAMBLE_SFD + IPG) * 8 * 10**12 // LINE_RATE_BPS


class Scoreboard(uvm_component):
    """See the module docstring. Exports: expected, wire, dma, irq, reg."""

    def build_phase(self):
        self.cfg = ConfigDB().get(self, "", "CFG")
        self.regs = ConfigDB().get(self, "", "REGMODEL")
        self.ring_base = ConfigDB().get(self, "", "RING_BASE")
        self.mirror = self.regs.mirror()
        self.failures: list[tuple[str, str]] = []
        self.checked: dict[str, int] = {}
        self.expected: deque = deque()        # (seq, frame) in wire order
        self.postings: dict[int, Posting] = {}
        self.dd_expect: dict[int, list] = {}  # slot -> [expected DD, landed, seq]
        self.frames = 0
        self.predicted = 0                    # frames predicted so far
        self.unrung: list = []                # items predicted since the last doorbell
        self.batch_first = 0                  # index of the first frame no doorbell has covered yet
        self.last_end = None
        self.latency_window = None            # (frame index, lo_ps, hi_ps) for the next frame
        self.ring_size = self.cfg.ring_size
        self.tdt = self.tdh = 0
        self.unreported = 0
        self.last_wb_ps = None
        self.irq_last: dict[int, tuple[int, int]] = {}       # vector -> (time, interval in force)
        self.eitr_ps: dict[int, int] = {}
        self.eitr_restart: dict[int, tuple[int, int]] = {}   # vector -> (time, interval) of a restarting write
        self.sw_causes: set[int] = set()                     # vectors EICS raised, not yet sent
        self.posted_writes: deque = deque()   # (landed ps, bytes) of recent DMA writes
        self.doutsync = 0
        self.faults_posted = 0
        self.tx_vectors: set[int] = set()
        # fetch.prefetch bookkeeping (configuration a, PTHRESH 0)
        self.prefetch_rule = self.cfg.dut == "nic" and self.cfg.pthresh == 0
        self.descs_posted = self.descs_fetched = 0
        self.unfetched: deque = deque()      # (cumulative descriptor count at its end, posting)
        self.unstarted: dict[int, Posting] = {}   # buffer address -> fully fetched posting, no buffer read yet
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

    def _slot(self, addr: int) -> int:
        return (addr - self.ring_base) // 16

    def _forward(self, a: int, b: int) -> int:
        return (b - a) % self.ring_size

    # --- expected ---------------------------------------------------------------------------
    def on_expected(self, exp) -> None:
        """From the predictor: (posting or skb spec, frames, per-descriptor DD or None)."""
        source, frames, dd = exp
        self.predicted += len(frames)
        self.unrung.append(source)
        for f in frames:
            self.expected.append((source, f))
        if isinstance(source, Posting):
            self.postings[source.first] = source
            self.descs_posted += source.n
            if self.prefetch_rule and source.buffers and not source.pkt.error:
                self.unfetched.append((self.descs_posted, source))
            if source.pkt.error == "dma_fault":
                self.faults_posted += 1
            for slot, want in zip(source.slots, dd):
                prev = self.dd_expect.get(slot)
                if prev is not None and prev[0] and not prev[1]:
                    self.fail("dd.missing", f"slot {slot} reused before its DD write-back landed "
                                            f"(packet {prev[2]})")
                self.dd_expect[slot] = [want, False, source.pkt.seq]

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
        self.last_end = w.end_ps
        self._check_latency(n, w)
        if not self.expected:
            self.fail("frame.extra", f"frame {n} ({len(w.frame)} B) was not predicted: {w.frame[:32].hex()}…")
            return
        source, want = self.expected.popleft()
        if w.frame != want:
            self.fail("frame.content", f"frame {n} (item {getattr(source, 'seq', None) if not isinstance(source, Posting) else source.pkt.seq}): "
                                       + _diff(want, w.frame))
        else:
            self.ok("frame.content")

    def _check_latency(self, n: int, w) -> None:
        win = self.latency_window
        if win is None or win[0] != n:
            return
        self.latency_window = None
        lo, hi = win[1], self._window_high(win)
        if not lo <= w.start_ps <= hi:
            self.fail("frame.latency", f"frame {n} started at {w.start_ps} ps, outside [{lo}, {hi}] computed "
                                       f"from the doorbell at {win[4]} ps and the PCIe link (a batch of {win[5]} "
                                       f"item(s): {win[2]} reads, {win[3]} bytes)")
        else:
            self.ok("frame.latency")

    def _open_latency_window(self, t_db: int) -> None:
        """A doorbell that finds the NIC idle: its first frame must start within PCIe arithmetic of it.

        Idle: every frame predicted before this doorbell's batch is on the wire
        and the MAC has finished it. The window's low end is the time for a
        descriptor and the frame's first bytes to cross the link. Its high end
        is an upper bound on the DMA the NIC may do first: one read round trip
        for the descriptor fetch and one per data buffer of the batch (a NIC
        may overlap them, never needs more), and the batch's descriptors and
        buffers at the link's data rate with TLP overhead. Doorbells landing
        at the same instant form one batch.
        """
        batch, self.unrung = self.unrung, []
        first, self.batch_first = self.batch_first, self.predicted
        win = self.latency_window
        if win is not None and win[4] == t_db and self.frames == win[0]:
            reads, nbytes = _dma_cost(batch, self.cfg.profile)
            self.latency_window = (win[0], win[1], win[2] + reads, win[3] + nbytes, t_db, win[5] + len(batch))
            return
        idle = self.frames == first and (self.last_end is None or self.last_end <= t_db)
        if not idle or not self.expected or first == self.predicted:
            return
        _, frame = self.expected[0]
        reads, nbytes = _dma_cost(batch, self.cfg.profile)
        lo = t_db + int(byte_time_ps(self.cfg.profile) * (16 + min(len(frame), 60)))
        self.latency_window = (self.frames, lo, 1 + reads, nbytes, t_db, len(batch))

    def _window_high(self, win) -> int:
        _, _, reads, nbytes, t_db, _ = win
        return (t_db + reads * READ_ROUND_TRIP_MAX_PS
                + int(TLP_OVERHEAD * byte_time_ps(self.cfg.profile) * nbytes) + LATENCY_SLACK_PS)

    # --- DMA --------------------------------------------------------------------------------------
    def on_dma(self, t) -> None:
        if t.kind in ("writeback", "head_wb"):
            self.posted_writes.append((t.t_ps, _tlp_bytes(len(t.data))))
            if not t.ok:
                return
            self.unreported += 1
            self.last_wb_ps = t.t_ps
        if t.kind == "desc_fetch" and t.ok and self.prefetch_rule:
            self._check_prefetch(t)
        elif t.kind == "buffer_read" and self.prefetch_rule and t.addr in self.unstarted:
            for addr in self.unstarted[t.addr].buffers:
                self.unstarted.pop(addr, None)
        if t.kind == "writeback":
            self._check_writeback(t)
        elif t.kind == "head_wb":
            self._check_head(int.from_bytes(t.data[:4], "little"), "head write-back", boundary=True)

    def _check_writeback(self, t) -> None:
        first = self._slot(t.addr)
        for k in range(len(t.data) // 16):
            raw = t.data[16 * k:16 * k + 16]
            slot = first + k
            if not txdesc.dd_set(raw):
                self.fail("dd.status", f"write-back of slot {slot} without DD: {raw.hex()}")
            if self.cfg.dut != "nic":
                continue
            exp = self.dd_expect.get(slot)
            if exp is None or not exp[0]:
                why = "head write-back mode" if self.cfg.head_wb else f"WTHRESH {self.cfg.wthresh}"
                self.fail("dd.unexpected", f"slot {slot} written back (packet {exp[2] if exp else '?'}) "
                                           f"where {why} writes no DD for it")
            elif exp[1]:
                self.fail("dd.unexpected", f"slot {slot} written back twice for packet {exp[2]}")
            else:
                exp[1] = True
                self.ok("dd.status")
        self._head_at_least((first + len(t.data) // 16) % self.ring_size)

    def _head_at_least(self, v: int) -> None:
        """A write-back of slot v-1 means the head has passed it: raise the known head (never lower it)."""
        if 0 < self._forward(self.tdh, v) <= self._forward(self.tdh, self.tdt):
            self.tdh = v

    def _check_prefetch(self, t) -> None:
        """PTHRESH 0 (facts §6.1): a fetch only when no whole packet waits in the cache."""
        waiting = {id(p): p for p in self.unstarted.values()}
        if len(waiting) > 1:
            seqs = sorted(p.pkt.seq for p in waiting.values())
            self.fail("fetch.prefetch", f"descriptor fetch at {t.t_ps} ps while packets {seqs} were fetched "
                                        "and not started, with PTHRESH 0")
        else:
            self.ok("fetch.prefetch")
        self.descs_fetched += len(t.data) // 16
        while self.unfetched and self.unfetched[0][0] <= self.descs_fetched:
            _, p = self.unfetched.popleft()
            for addr in p.buffers:
                self.unstarted[addr] = p

    def _check_head(self, v: int, what: str, boundary: bool = False) -> None:
        if not 0 <= v < self.ring_size or self._forward(self.tdh, v) > self._forward(self.tdh, self.tdt):
            self.fail("tdh.bounds", f"{what} {v}: not between the previous head {self.tdh} and TDT {self.tdt}")
            return
        if boundary and self.cfg.dut == "nic":
            ends = {p.end for p in self.postings.values() if p.pkt.rs}
            if v not in ends:
                self.fail("head_wb.value", f"head write-back {v} is not the end of an RS packet")
            else:
                self.ok("head_wb.value")
        self.tdh = v
        self.ok("tdh.bounds")

    # --- interrupts ---------------------------------------------------------------------------
    def on_irq(self, t) -> None:
        self.posted_writes.append((t.t_ps, _tlp_bytes(4)))   # a message shares the posted-write queue
        if t.kind == "msix":
            if t.vector in self.tx_vectors or (self.cfg.dut == "nic" and t.vector == 1):
                if t.vector in self.sw_causes:      # EICS: software asked for this one
                    self.sw_causes.discard(t.vector)
                    self.unreported = 0
                    self.ok("irq.after_writeback")
                else:
                    self._tx_interrupt(t.t_ps, f"MSI-X vector {t.vector}")
                self._check_spacing(t.vector, t.t_ps, pushed=t.pushed)
        elif t.level:
            self._check_spacing(0, t.t_ps, "INTx rise", t.pushed)
            self._tx_interrupt(t.t_ps, "INTx rise", consume=False)   # the ICR read consumes (on_reg)

    def _tx_interrupt(self, t_ps: int, what: str, consume: bool = True) -> None:
        if self.unreported <= 0:
            self.fail("irq.after_writeback", f"{what} at {t_ps} ps reports no write-back "
                                             f"(last write-back at {self.last_wb_ps} ps)")
        else:
            self.ok("irq.after_writeback")
        if consume:
            self.unreported = 0

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
        queued = sum(n for at, n in self.posted_writes if prev - 20_000_000 <= at <= prev)
        slack = int(byte_time_ps(self.cfg.profile) * (queued + _tlp_bytes(4)))
        slack += POSTED_LATENCY_MAX_PS if pushed else 0
        if t_ps - prev < interval - slack:
            self.fail("irq.eitr_spacing", f"{what}: interrupt {t_ps - prev} ps after the counter started; "
                                          f"EITR interval {interval} ps (queueing allowance {slack} ps)")
        else:
            self.ok("irq.eitr_spacing")
        while self.posted_writes and self.posted_writes[0][0] < prev - 20_000_000:
            self.posted_writes.popleft()

    # --- registers ---------------------------------------------------------------------------
    def on_reg(self, t) -> None:
        name = self.regs.name_at(t.offset) or f"{t.offset:#x}"
        if t.op == "wr":
            self.mirror.predict_write(name, t.value)
            self._on_write(name, t)
        else:
            msg = self.mirror.check_read(name, t.value)
            if msg:
                self.fail("reg.readback", msg)
            else:
                self.ok("reg.readback")
            if name == "TDH0":
                self._check_head(t.value, "TDH read")
            elif name == "ICR":
                if t.value & self.regs.ICR_DOUTSYNC:
                    self.doutsync += 1
                if t.value & self.regs.ICR_TXDW and self.cfg.irq_mode == "intx":
                    self.unreported = 0   # legacy mode: the ICR read hands every TXDW so far to software

    def _on_write(self, name: str, t) -> None:
        if name == "TDLEN0":
            self.ring_size = max(1, t.value // 16)
        elif name == "TDT0":
            self.tdt = t.value
            self._open_latency_window(t.t_ps)
        elif name == "TDH0":
            self.tdh = t.value
        elif name.startswith("EITR"):
            v, interval = int(name[4:]), self.regs.eitr_interval_ps(t.value)
            self.eitr_ps[v] = interval
            if not t.value & self.regs.EITR_CNT_IGNR:
                self.eitr_restart[v] = (t.t_ps, interval)
        elif name == "EICS":
            self.sw_causes.update(v for v in range(32) if t.value >> v & 1)
        elif name.startswith("IVAR0_") or name == "IVAR_MISC":
            self.tx_vectors = self.regs.tx_vectors(self.mirror)

    # --- end of test ----------------------------------------------------------------------------
    def check_phase(self):
        if self.expected:
            src, f = self.expected[0]
            self.fail("frame.missing", f"{len(self.expected)} predicted frame(s) never sent; the first "
                                       f"({len(f)} B) of item {_seq(src)}")
        missing = [s for s, (want, landed, _) in self.dd_expect.items() if want and not landed]
        if missing:
            self.fail("dd.missing", f"expected DD write-backs never landed for slots {sorted(missing)[:16]}")
        if self.unreported > 0:
            self.fail("irq.unreported", f"{self.unreported} write-back(s), the last at {self.last_wb_ps} ps, "
                                        "never followed by an interrupt")
        if self.faults_posted and self.doutsync < self.faults_posted:
            self.fail("fault.doutsync", f"{self.faults_posted} DMA fault(s) posted, ICR.DOUTSYNC read "
                                        f"{self.doutsync} time(s)")
        checks = ", ".join(f"{k} {v}" for k, v in sorted(self.checked.items()))
        self.logger.info(f"{self.cfg.describe()}: {self.frames} frames; checks passed: {checks}")
        if self.failures:
            kinds = sorted({c for c, _ in self.failures})
            raise AssertionError(f"seed {self.cfg.seed}: {len(self.failures)} failure(s) in {', '.join(kinds)}; "
                                 f"first: [{self.failures[0][0]}] {self.failures[0][1]}  "
                                 f"(reproduce: make sim SEED={self.cfg.seed})")


def _dma_cost(batch, profile: str) -> tuple[int, int]:
    """(buffer reads, bytes over the link) a batch of items may cost the NIC at most."""
    reads = nbytes = 0
    for src in batch:
        if isinstance(src, Posting):
            reads += len(src.pkt.buffers)
            nbytes += 16 * src.n + len(src.pkt.frame)
        else:   # an skb: the linear part and each frag is a buffer; context + one descriptor per buffer
            reads += 1 + src.nr_frags
            nbytes += 16 * (2 + src.nr_frags) + len(src.frame)
    return reads, nbytes


def _tlp_bytes(n: int) -> int:
    """Link bytes of a posted write of ``n`` data bytes (split into TLPs of at most 128 bytes)."""
    return n + TLP_FIXED_BYTES * max(1, -(-n // TLP_MAX_PAYLOAD))


def _seq(src) -> int:
    return src.pkt.seq if isinstance(src, Posting) else src.seq


def _diff(want: bytes, got: bytes) -> str:
    """Where two frames first differ, readably."""
    if len(want) != len(got):
        head = f"length {len(got)}, predicted {len(want)}"
    else:
        head = "same length"
    i = next((k for k in range(min(len(want), len(got))) if want[k] != got[k]), min(len(want), len(got)))
    return f"{head}; first difference at byte {i}: got {got[i:i + 8].hex()} predicted {want[i:i + 8].hex()}"
