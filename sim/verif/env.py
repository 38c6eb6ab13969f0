"""The environment and its tests: agents, predictor, scoreboard, coverage, waves; one uvm_test per corner.

Structure (configuration a: the NIC alone; b: the igb driver with the NIC)::

    IgbEnv
    ├── reg   RegAgent    (seqr, driver, monitor)    BAR0 accesses ──────────────┐
    ├── mem   MemAgent    (monitor)                  every DMA ──────────────────┤
    ├── irq   IrqAgent    (monitor)                  MSI-X / INTx ───────────────┤
    ├── wire  WireAgent   (monitor)                  frames ─────────────────────┼─> scoreboard
    ├── tx<q> TxAgent     (seqr, driver, tracker)    a: postings ─> predictor ───┘     coverage
    │   or    SkbAgent    (seqr, driver)             b: skbs ─────> predictor          waves
    │         (one TxAgent per TX queue of the corner: tx0, tx1, …)
    ├── isr   TbInterruptHandler (a only: re-arms EIMS, reads ICR)
    ├── predictor, scoreboard, coverage, waves (WAVES=1)

ConfigDB keys: ``CFG`` (:class:`~sim.verif.config.TbConfig`), ``DUT`` (the HDL
top), ``TRANSPORT`` (the seam), ``REGMODEL``, ``RING_BASES`` (queue -> ring DMA
address), ``HEAD_WB_ADDR`` (queue q's head write-back at +16 q), ``QUEUE`` (set per
descriptor agent: the queue it drives).
Tests are :class:`IgbBaseTest` subclasses; each corner is a class attribute
set (``corner``), and the sequence a test runs is chosen with factory
overrides (``ErrorTest`` overrides :class:`~sim.verif.sequences.RandomTxSeq`
with :class:`~sim.verif.sequences.ErrorTxSeq`).
"""
from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.triggers import Event as CocotbEvent
from pyuvm import ConfigDB, uvm_analysis_port, uvm_component, uvm_env, uvm_factory, uvm_test

from sim.verif import coverage, predictor
from sim.verif.agents import IrqAgent, Listener, MemAgent, Posting, RegAgent, SkbAgent, TxAgent, WireAgent
from sim.verif.config import TbConfig
from sim.verif.regmodel import RegisterModel
from sim.verif.scoreboard import Scoreboard
from sim.verif.transport import NicTransport, SystemTransport
from sim.tb.adapter import CocotbEngine
from sim.verif.sequences import ErrorTxSeq, NicSetupSeq, RandomSkbSeq, RandomTxSeq
from sim.verif.waves import StateWaves

__all__ = ["IgbEnv", "IgbBaseTest", "test_classes", "NIC_CORNERS", "SYSTEM_CORNERS"]

SETTLE_PS = 30_000_000           # after the last frame: trailing write-backs and interrupts (30 us)
DRAIN_LIMIT_PS = 200_000_000_000  # 200 ms of simulated time for a test's traffic to drain


class PredictorComponent(uvm_component):
    """Turns each posting (a) or handed skb (b) into its predicted frames and DD bits, for the scoreboard."""

    def build_phase(self):
        self.cfg = ConfigDB().get(self, "", "CFG")
        self.ap = uvm_analysis_port("ap", self)
        self.posted_export = Listener("posted_export", self, self.on_posted)

    def on_posted(self, item) -> None:
        if isinstance(item, Posting):
            frames = predictor.expected_frames(item.pkt)
            dd = predictor.expected_dd(item.pkt, wthresh=self.cfg.wthresh, head_wb=self.cfg.head_wb)
            self.ap.write((item, frames, dd))
        else:
            spec, _burst = item
            self.ap.write((spec, predictor.expected_skb_frames(spec), None))


class CoverageCollector(uvm_component):
    """Samples the coverage model from postings, doorbells, skbs and the registers the DUT was given."""

    def build_phase(self):
        self.cfg = ConfigDB().get(self, "", "CFG")
        self.regs = ConfigDB().get(self, "", "REGMODEL")
        self.written: dict[str, int] = {}
        self.posted_export = Listener("posted_export", self, self.on_posted)
        self.doorbell_export = Listener("doorbell_export", self, lambda d: coverage.sample_doorbell(d.batch))
        self.reg_export = Listener("reg_export", self, self.on_reg)
        self._wrapped: set[int] = set()   # queues whose ring has wrapped

    def on_posted(self, item) -> None:
        if isinstance(item, Posting):
            coverage.sample_packet(item.pkt)
            if item.first + item.n > item.ring_size:
                coverage.sample_wrap("inside-packet")
            elif item.first == 0 and item.queue in self._wrapped:
                coverage.sample_wrap("at-packet-boundary")
            if item.first + item.n >= item.ring_size:
                self._wrapped.add(item.queue)
        else:
            spec, burst = item
            coverage.sample_skb(spec, burst)

    def on_reg(self, t) -> None:
        if t.op == "wr":
            name = self.regs.name_at(t.offset)
            if name:
                self.written[name] = t.value

    def report_phase(self):
        """The configuration as the DUT was programmed (by the testbench or by igb)."""
        f = self.regs.txdctl_fields(self.written.get("TXDCTL0", 0))
        msix = bool(self.regs.gpie_msix(self.written.get("GPIE", 0)))
        vec = min(self.regs.tx_vectors_of(self.written) or {0}) if msix else 0
        eitr_ps = self.regs.eitr_interval_ps(self.written.get(f"EITR{vec}", 0))
        coverage.sample_config(f["pthresh"], f["hthresh"], f["wthresh"],
                               head_wb=bool(self.written.get("TDWBAL0", 0) & 1),
                               irq_mode="msix" if msix else "intx", eitr_us=eitr_ps // 1_000_000)
        path = ConfigDB().get(self, "", "COVERAGE_FILE")
        if path:
            coverage.save(path)


class WavesComponent(uvm_component):
    """WAVES=1: the NIC's state as a VCD, sampled at every port event (and every microsecond)."""

    def build_phase(self):
        self.transport = ConfigDB().get(self, "", "TRANSPORT")
        path = ConfigDB().get(self, "", "CFG").waves
        self.vcd = StateWaves(path, self.transport.state_signals())
        self.export = Listener("export", self, lambda _t: self.sample())

    def sample(self) -> None:
        self.vcd.sample(self.transport.hdl_time_ps(), self.transport.state())

    async def run_phase(self):
        while True:
            self.sample()
            await self.transport.wait_ps(1_000_000)

    def final_phase(self):
        self.sample()
        self.vcd.close()


class TbInterruptHandler(uvm_component):
    """Configuration (a)'s interrupt service: re-arm a message's vector (EIMS), read ICR (INTx and vector 0).

    An ICR with DOUTSYNC sets ``fault`` (the descriptor driver recovers the queue after it).
    """

    def build_phase(self):
        self.transport = ConfigDB().get(self, "", "TRANSPORT")
        self.regs = ConfigDB().get(self, "", "REGMODEL")
        self.export = Listener("export", self, self.on_irq)
        self.fault = CocotbEvent()

    def on_irq(self, t) -> None:
        if t.kind == "msix":
            cocotb.start_soon(self._service(t.vector))
        elif t.level:
            cocotb.start_soon(self._service(None))

    async def _service(self, vector) -> None:
        t, regs = self.transport, self.regs
        if vector is None or vector == 0:
            icr = await t.read_reg(regs.offset("ICR"))
            if icr & regs.ICR_DOUTSYNC:
                self.fault.set()
        if vector is not None:
            await t.write_reg(regs.offset("EIMS"), 1 << vector)

    async def wait_fault(self) -> None:
        await self.fault.wait()
        self.fault.clear()


class IgbEnv(uvm_env):
    """The environment (see the module docstring); reports its transaction count and rate at the end."""

    def build_phase(self):
        self.t0 = time.perf_counter()
        self.cfg = ConfigDB().get(self, "", "CFG")
        self.reg = RegAgent("reg", self)
        self.mem = MemAgent("mem", self)
        self.irq = IrqAgent("irq", self)
        self.wire = WireAgent("wire", self)
        queues = range(self.cfg.n_queues) if self.cfg.dut == "nic" else range(1)
        for q in queues:
            ConfigDB().set(self, f"tx{q}*", "QUEUE", q)
        self.tx = [(TxAgent if self.cfg.dut == "nic" else SkbAgent)(f"tx{q}", self) for q in queues]
        self.isr = TbInterruptHandler("isr", self) if self.cfg.dut == "nic" else None
        self.predictor = PredictorComponent("predictor", self)
        self.scoreboard = Scoreboard.create("scoreboard", self)
        self.coverage = CoverageCollector("coverage", self)
        self.waves = WavesComponent("waves", self) if self.cfg.waves else None

    def connect_phase(self):
        sb = self.scoreboard
        for agent in self.tx:
            agent.driver.posted_ap.connect(self.predictor.posted_export)
            agent.driver.posted_ap.connect(self.coverage.posted_export)
        self.predictor.ap.connect(sb.expected_export)
        self.wire.monitor.ap.connect(sb.wire_export)
        self.mem.monitor.ap.connect(sb.dma_export)
        self.irq.monitor.ap.connect(sb.irq_export)
        self.reg.monitor.ap.connect(sb.reg_export)
        self.reg.monitor.ap.connect(self.coverage.reg_export)
        if self.cfg.dut == "nic":
            self.irq.monitor.ap.connect(self.isr.export)
            for agent in self.tx:
                agent.driver.doorbell_ap.connect(self.coverage.doorbell_export)
                self.mem.monitor.ap.connect(agent.tracker.analysis_export)
                agent.driver.fault_seen = self.isr.wait_fault
        if self.waves:
            for mon in (self.reg.monitor, self.mem.monitor, self.irq.monitor, self.wire.monitor):
                mon.ap.connect(self.waves.export)

    def report_phase(self):
        """Transactions seen at the DUT's ports, and per second of wall time; appended to STATS_FILE."""
        counts = {name: agent.monitor.count for name, agent in
                  (("reg", self.reg), ("dma", self.mem), ("irq", self.irq), ("wire", self.wire))}
        wall = time.perf_counter() - self.t0
        total = sum(counts.values())
        self.logger.info(f"{total} transactions ({', '.join(f'{k} {v}' for k, v in counts.items())}) "
                         f"in {wall:.2f} s: {total / wall:,.0f}/s")
        path = os.environ.get("STATS_FILE")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"test": type(self.parent).__name__, "transactions": counts,
                                    "wall_s": round(wall, 4)}) + "\n")


# --- tests ---------------------------------------------------------------------------------------------
class IgbBaseTest(uvm_test):
    """Builds the transport and the environment for ``corner``, runs the sequences, drains, checks.

    Subclasses set ``dut`` ("nic" | "system"), ``corner`` (TbConfig fields and
    the threshold/EITR bins to draw from), and override :meth:`overrides` to
    change what the factory builds. :func:`test_classes` stamps out one class
    per (corner, profile, seed), named ``<corner>_<profile>_s<seed>``.
    """

    dut_kind = "nic"
    profile = "82576"
    seed = 1
    corner: dict = {}
    bins: dict = {}

    def overrides(self) -> None:
        """Factory overrides of this test (none by default)."""

    def build_phase(self):
        self.overrides()
        waves = os.environ.get("WAVES_DIR")
        cfg = TbConfig(profile=self.profile, dut=self.dut_kind, seed=self.seed, **self.corner)
        cfg = cfg.drawn(**self.bins) if self.dut_kind == "nic" else cfg
        if waves:
            os.makedirs(waves, exist_ok=True)
            cfg = TbConfig(**{**cfg.__dict__, "waves": os.path.join(waves, f"{type(self).__name__}.vcd")})
        self.cfg = cfg
        engine = CocotbEngine.from_now()
        if cfg.dut == "nic":
            self.transport = NicTransport(cocotb.top, engine, cfg.profile, n_queues=cfg.n_queues)
        else:
            self.transport = SystemTransport(cocotb.top, engine, cfg.profile, cfg.ring_size)
        db = ConfigDB()
        for key, value in (("CFG", cfg), ("DUT", cocotb.top), ("TRANSPORT", self.transport),
                           ("REGMODEL", RegisterModel(cfg.profile)),
                           ("COVERAGE_FILE", os.environ.get("COVERAGE_FILE")),
                           ("RING_BASES", self._ring_bases()), ("HEAD_WB_ADDR", self._head_wb_addr())):
            db.set(None, "*", key, value)
        self.logger.info(cfg.describe())
        self.env = IgbEnv("env", self)

    def _ring_bases(self) -> dict[int, int]:
        if self.cfg.dut == "nic":
            return {q: self.transport.alloc(16 * self.cfg.ring_size) for q in range(self.cfg.n_queues)}
        return {0: self.transport.s.adapter.tx_ring[0].dma}

    def _head_wb_addr(self) -> int:
        return self.transport.alloc(16 * self.cfg.n_queues) if self.cfg.dut == "nic" else 0

    async def run_phase(self):
        self.raise_objection()
        try:
            if self.cfg.dut == "nic":
                await self._run_nic()
            else:
                await self._run_system()
            await self._drain()
        finally:
            self.drop_objection()

    async def _run_nic(self):
        await NicSetupSeq("setup").start(self.env.reg.seqr)
        runs = []
        for q, agent in enumerate(self.env.tx):   # every queue's traffic at once
            traffic = RandomTxSeq.create(f"traffic{q}")
            traffic.queue = q
            runs.append(cocotb.start_soon(traffic.start(agent.seqr)))
        for run in runs:
            await run
        for agent in self.env.tx:
            await agent.driver.ring_doorbell()
        for agent in self.env.tx:
            await agent.driver.wait_idle()

    async def _run_system(self):
        await self.transport.open()
        traffic = RandomSkbSeq.create("traffic")
        await traffic.start(self.env.tx[0].seqr)
        self.env.tx[0].driver.flush()

    async def _drain(self):
        """Until every predicted frame is on the wire (and b: cleaned), then the interrupts settle."""
        t, sb = self.transport, self.env.scoreboard
        deadline = t.now_ps() + DRAIN_LIMIT_PS
        while sb.expecting or (self.cfg.dut == "system" and not t.idle()):
            if t.now_ps() > deadline:
                break    # the scoreboard reports what never came
            await t.wait_ps(5_000_000)
        # the last write-back's interrupt may wait for an EITR counter: the longest interval written
        await t.wait_ps(SETTLE_PS + 2 * max(sb.eitr_ps.values(), default=0))


class ErrorOverride:
    """Mixin: the traffic sequence becomes ErrorTxSeq (malformed packets and DMA faults mixed in)."""

    def overrides(self) -> None:
        uvm_factory().set_type_override_by_type(RandomTxSeq, ErrorTxSeq)


#: Configuration (a) corners: name -> (TbConfig fields, threshold/EITR bins, mixins).
NIC_CORNERS = {
    "nic_desc_wb_msix": (dict(irq_mode="msix"), dict(pthresh="0", hthresh="0", wthresh="0", eitr="off"), ()),
    "nic_burst_wb_eitr": (dict(irq_mode="msix"), dict(pthresh="9-31", hthresh="2-31", wthresh="2-31", eitr="on"), ()),
    "nic_head_wb_intx": (dict(irq_mode="intx", head_wb=True), dict(pthresh="1-8", hthresh="1", wthresh="1", eitr="on"), ()),
    "nic_intx": (dict(irq_mode="intx"), dict(pthresh="1-8", hthresh="0", wthresh="1", eitr="off"), ()),
    "nic_errors": (dict(irq_mode="msix"), dict(pthresh="1-8", hthresh="1", wthresh="0", eitr="off"), (ErrorOverride,)),
    "nic_two_queues": (dict(irq_mode="msix", n_queues=2, n_items=50), dict(pthresh="1-8", hthresh="1", wthresh="1",
                                                                          eitr="off"), ()),
}
SYSTEM_CORNERS = {
    "driver_traffic": (dict(ring_size=64, n_items=60), {}, ()),
}


def test_classes(dut_kind: str, profiles, seeds, only=None) -> list[type]:
    """One IgbBaseTest subclass per (corner, profile, seed) of ``dut_kind`` ("nic" | "system").

    ``only``: the corner names to keep (None: all of this configuration's).
    """
    corners = NIC_CORNERS if dut_kind == "nic" else SYSTEM_CORNERS
    out = []
    for name, (fields, bins, mixins) in corners.items():
        if only is not None and name not in only:
            continue
        for profile in profiles:
            for seed in seeds:
                attrs = dict(dut_kind=dut_kind, profile=profile, seed=seed, corner={**fields, "corner": name},
                             bins=bins)
                out.append(type(f"{name}_{profile}_s{seed}", (*mixins, IgbBaseTest), attrs))
    return out
