"""cocotb benches for the doorbell example: one model, run natively, in cocotb, and behind a pin.

Top level: ``sim/hdl/doorbell_top.v``. Run with ``make -C sim/tb`` (Makefile
flow) or through pytest (``tests/sim/tb/test_cocotb_benches.py``, runner flow).

* :func:`doorbell_trace_matches_native` — the doorbell model and host program
  run on :class:`~sim.tb.adapter.CocotbEngine` (HDL time) and on the native
  :class:`~sim.engine.Engine`; the traces must be identical, and the irq
  times must be the ones computed below from the chosen latencies and gaps.
* :func:`irq_pin_follows_model` — the model drives ``dut.irq``; a monitor on
  the pin sees each rising edge at exactly the model's irq time and each
  falling edge at the ICR read; HDL logic (``irq_count``, ``irq_q``) sees them.
* :class:`DoorbellRandomTest` — pyuvm: a random sequence of doorbell writes
  through a ``uvm_driver`` wrapping the model; a scoreboard predicts the irq
  edges from plain arithmetic and checks them against the pin in check_phase.

Importing this module outside a simulator is safe (nothing touches
``cocotb.top`` at import time).
"""
from __future__ import annotations

import logging
import random
from itertools import accumulate

import cocotb
import pyuvm
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer
from pyuvm import (ConfigDB, uvm_analysis_port, uvm_driver, uvm_env, uvm_monitor, uvm_scoreboard,
                   uvm_sequence, uvm_sequence_item, uvm_sequencer, uvm_test, uvm_tlm_analysis_fifo)

from sim.engine import Engine
from sim.examples.doorbell import CAUSE_DOORBELL, DoorbellDevice, host_program, irq_service
from sim.tb.adapter import CocotbEngine, hdl_time_ps, pin_driver

NS = 1_000  # ps

# Race-free timing (see sim/examples/doorbell.py): writes on a 1 ns grid,
# maturities end in 250 ps, ICR reads end in 750 ps.
IRQ_LATENCY_PS = 200 * NS + 250
ISR_LATENCY_PS = 150 * NS + 500
SETTLE_PS = 1_000 * NS

# Fixed scenario: 8 writes. Writes 1-3 (two of them in the same picosecond)
# coalesce into the first interrupt; write 5 coalesces into the second;
# write 6 matures just after the second ICR read and raises the line again;
# write 7 comes after a long idle time.
GAPS_PS = [0, 50 * NS, 50 * NS, 0, 1_000 * NS, 30 * NS, 140 * NS, 2_000 * NS]

CLK_PERIOD_PS = 8_000  # doorbell_top's default CLK_HALF_PERIOD_PS * 2


def _quiet_loggers() -> None:
    logging.getLogger("pyuvm").setLevel(logging.WARNING)


def expected_fixed_scenario():
    """irq rise / fall times and coalesced values of the fixed scenario, by arithmetic."""
    L, I = IRQ_LATENCY_PS, ISR_LATENCY_PS
    w = list(accumulate(GAPS_PS))           # write times
    irq_on = [w[0] + L, w[4] + L, w[6] + L, w[7] + L]
    irq_off = [t + I for t in irq_on]        # the ISR reads ICR I after the line rises
    # The premises that make those the irq times (fail loudly if the constants are edited):
    assert max(w[1:4]) + L < irq_off[0] < w[4] + L
    assert w[5] + L < irq_off[1] < w[6] + L
    assert irq_off[2] < w[7] + L
    return w, irq_on, irq_off, [2, 3, 4, 6]


def run_native():
    """The same model and host program on the native engine; returns (trace, icr_values)."""
    eng = Engine()
    trace = eng.start_trace()
    dev = DoorbellDevice(eng, IRQ_LATENCY_PS)
    host = eng.spawn(host_program(eng, dev, GAPS_PS, isr_latency_ps=ISR_LATENCY_PS, settle_ps=SETTLE_PS),
                     name="host")
    eng.run(max_steps=100_000)  # a runaway model fails instead of hanging the simulator
    assert host.ok, "native host program did not finish"
    return trace, host.value


def _times(trace, source, what, *data):
    return [r[0] for r in trace if r[1] == source and r[2] == what and tuple(r[3:]) == data]


# ---------------------------------------------------------------------------
# (a) the same model on two engines gives the same trace
# ---------------------------------------------------------------------------
@cocotb.test()
async def doorbell_trace_matches_native(dut):
    """Doorbell model + host program: CocotbEngine trace == native Engine trace, irq times by arithmetic."""
    _quiet_loggers()
    native_trace, native_icr = run_native()

    eng = CocotbEngine.from_now()
    trace = eng.start_trace()
    dev = DoorbellDevice(eng, IRQ_LATENCY_PS)
    host = eng.spawn(host_program(eng, dev, GAPS_PS, isr_latency_ps=ISR_LATENCY_PS, settle_ps=SETTLE_PS),
                     name="host")
    icr_values = await host

    w, irq_on, irq_off, coalesced = expected_fixed_scenario()
    # The model's clock is the HDL clock: the host finished at the HDL time its delays add up to.
    assert hdl_time_ps() == eng.epoch_ps + w[-1] + SETTLE_PS
    assert _times(trace, "dev", "irq", 1) == irq_on
    assert _times(trace, "dev", "irq", 0) == irq_off
    assert _times(trace, "host", "irq_seen") == irq_on
    assert [r[3] for r in trace if r[2] == "coalesce"] == coalesced
    assert icr_values == [CAUSE_DOORBELL] * len(irq_on)
    assert dev.writes == len(GAPS_PS) and dev.irq_count == len(irq_on) and dev.coalesced == len(coalesced)
    assert trace[-1] == (w[-1] + SETTLE_PS, "host", "done", len(irq_on), 0)
    assert len(trace) == len(native_trace) == 8 + 4 + 4 * 5 + 1
    assert trace == native_trace
    assert icr_values == native_icr


# ---------------------------------------------------------------------------
# (b) the model behind a pin
# ---------------------------------------------------------------------------
async def _watch_pin(signal, edges: list, epoch_ps: int) -> None:
    """Record (model time, level) for every rising and falling edge of ``signal``."""
    while True:
        await RisingEdge(signal)
        t = hdl_time_ps() - epoch_ps
        await ReadOnly()
        assert signal.value == 1
        edges.append((t, 1))
        await FallingEdge(signal)
        t = hdl_time_ps() - epoch_ps
        await ReadOnly()
        assert signal.value == 0
        edges.append((t, 0))


def _next_clock_edge(t_ps: int) -> int:
    """First rising clock edge strictly after ``t_ps`` (model time 0 is on a rising edge)."""
    return (t_ps // CLK_PERIOD_PS + 1) * CLK_PERIOD_PS


@cocotb.test()
async def irq_pin_follows_model(dut):
    """dut.irq rises at exactly the model's irq time and falls at the ICR read; HDL sees it."""
    _quiet_loggers()
    await RisingEdge(dut.clk)
    dut.irq.value = 0
    await ReadOnly()
    assert dut.irq.value == 0 and dut.irq_q.value == 0
    count0 = int(dut.irq_count.value)
    await RisingEdge(dut.clk)                 # out of the read-only phase; model time 0 on a clock edge
    eng = CocotbEngine.from_now()
    trace = eng.start_trace()
    dev = DoorbellDevice(eng, IRQ_LATENCY_PS)
    dev.add_irq_listener(pin_driver(dut.irq))

    irq_edges: list = []
    q_edges: list = []
    watchers = [cocotb.start_soon(_watch_pin(dut.irq, irq_edges, eng.epoch_ps)),
                cocotb.start_soon(_watch_pin(dut.irq_q, q_edges, eng.epoch_ps))]
    await eng.spawn(host_program(eng, dev, GAPS_PS, isr_latency_ps=ISR_LATENCY_PS, settle_ps=SETTLE_PS),
                    name="host")
    for task in watchers:
        task.cancel()

    _, irq_on, irq_off, _ = expected_fixed_scenario()
    expected = sorted([(t, 1) for t in irq_on] + [(t, 0) for t in irq_off])
    assert irq_edges == expected
    # ... and they are the model's own irq records:
    assert irq_edges == [(r[0], r[3]) for r in trace if r[1:3] == ("dev", "irq")]
    # HDL logic sees the pin: one counted edge per interrupt, and the clocked copy
    # follows at the next rising clock edge.
    assert int(dut.irq_count.value) - count0 == len(irq_on)
    assert q_edges == [(_next_clock_edge(t), v) for t, v in expected]
    await ReadOnly()
    assert dut.irq.value == 0 and dev.irq == 0


# ---------------------------------------------------------------------------
# (c) pyuvm: random doorbell writes, scoreboard against plain arithmetic
# ---------------------------------------------------------------------------
N_RANDOM_WRITES = 40


def predict_irq_edges(write_times_ps, latency_ps: int, isr_ps: int) -> list[tuple[int, int]]:
    """Reference (independent of the model): (rise, fall) of each interrupt.

    A write matures ``latency_ps`` after it is made. A maturity raises the line
    unless an interrupt is still pending (raised and not yet cleared), in which
    case it coalesces. The ISR clears the line ``isr_ps`` after it rises.
    """
    pulses: list[tuple[int, int]] = []
    for t in sorted(write_times_ps):
        m = t + latency_ps
        if pulses:
            assert m != pulses[-1][1], "stimulus is racy: a maturity coincides with an ICR read"
            if m < pulses[-1][1]:
                continue
        pulses.append((m, m + isr_ps))
    return pulses


class DoorbellWrite(uvm_sequence_item):
    """One doorbell write: wait ``gap_ns`` after the previous one, write ``value``."""

    def __init__(self, name: str = "doorbell_write", gap_ns: int = 0, value: int = 0):
        super().__init__(name)
        self.gap_ns = gap_ns
        self.value = value

    def randomize_with(self, rng: random.Random) -> None:
        # Same picosecond, short (coalesces), around L+ISR (coalesce or re-raise), idle.
        self.gap_ns = rng.choice([0, rng.randint(1, 60), rng.randint(100, 400), rng.randint(500, 1500)])
        self.value = rng.getrandbits(32)

    def __str__(self) -> str:
        return f"{self.get_name()}: +{self.gap_ns} ns, 0x{self.value:08x}"


class RandomDoorbellSeq(uvm_sequence):
    async def body(self):
        rng = random.Random(cocotb.RANDOM_SEED)
        for i in range(N_RANDOM_WRITES):
            item = DoorbellWrite(f"w{i}")
            await self.start_item(item)
            item.randomize_with(rng)
            await self.finish_item(item)


class DoorbellModel:
    """The model under test on a CocotbEngine: device, host ISR, irq on ``dut.irq``."""

    def __init__(self, dut, irq_latency_ps: int, isr_latency_ps: int):
        self.engine = CocotbEngine.from_now()
        self.trace = self.engine.start_trace()
        self.dev = DoorbellDevice(self.engine, irq_latency_ps)
        self.dev.add_irq_listener(pin_driver(dut.irq))
        self.icr_values: list[int] = []
        self.engine.spawn(irq_service(self.engine, self.dev, isr_latency_ps, self.icr_values), name="host.isr")


class DoorbellDriver(uvm_driver):
    """Wraps the model: each item is a wait then a DOORBELL register write; publishes write times."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)

    def start_of_simulation_phase(self):
        self.model = ConfigDB().get(self, "", "MODEL")

    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            if item.gap_ns:
                await Timer(item.gap_ns, unit="ns")
            self.model.dev.write_doorbell(item.value)
            self.ap.write(hdl_time_ps() - self.model.engine.epoch_ps)
            self.seq_item_port.item_done()


class IrqPinMonitor(uvm_monitor):
    """Watches the irq pin (not the model) and publishes (time, level) per edge."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)

    def start_of_simulation_phase(self):
        self.model = ConfigDB().get(self, "", "MODEL")

    async def run_phase(self):
        pin = cocotb.top.irq
        epoch = self.model.engine.epoch_ps
        while True:
            await RisingEdge(pin)
            self.ap.write((hdl_time_ps() - epoch, 1))
            await FallingEdge(pin)
            self.ap.write((hdl_time_ps() - epoch, 0))


class DoorbellScoreboard(uvm_scoreboard):
    """Predicts the irq edges from the write times alone and compares with the pin."""

    def build_phase(self):
        self.write_fifo = uvm_tlm_analysis_fifo("write_fifo", self)
        self.edge_fifo = uvm_tlm_analysis_fifo("edge_fifo", self)
        self.write_export = self.write_fifo.analysis_export
        self.edge_export = self.edge_fifo.analysis_export

    def start_of_simulation_phase(self):
        self.model = ConfigDB().get(self, "", "MODEL")

    @staticmethod
    def _drain(fifo) -> list:
        items = []
        while True:
            ok, item = fifo.try_get()
            if not ok:
                return items
            items.append(item)

    def check_phase(self):
        writes = self._drain(self.write_fifo)
        edges = self._drain(self.edge_fifo)
        pulses = predict_irq_edges(writes, IRQ_LATENCY_PS, ISR_LATENCY_PS)
        predicted = [e for on, off in pulses for e in ((on, 1), (off, 0))]
        assert len(writes) == N_RANDOM_WRITES, f"driver made {len(writes)} writes"
        assert 1 < len(pulses) < len(writes), f"not a useful stimulus: {len(pulses)} irqs for {len(writes)} writes"
        assert edges == predicted, f"irq pin edges {edges} != predicted {predicted}"
        assert self.model.icr_values == [CAUSE_DOORBELL] * len(pulses)
        assert self.model.dev.coalesced == len(writes) - len(pulses)
        self.logger.info("%d writes, %d interrupts, all edges as predicted", len(writes), len(pulses))


class DoorbellEnv(uvm_env):
    def build_phase(self):
        ConfigDB().set(None, "*", "MODEL", DoorbellModel(cocotb.top, IRQ_LATENCY_PS, ISR_LATENCY_PS))
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = DoorbellDriver("driver", self)
        self.monitor = IrqPinMonitor("monitor", self)
        self.scoreboard = DoorbellScoreboard("scoreboard", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.driver.ap.connect(self.scoreboard.write_export)
        self.monitor.ap.connect(self.scoreboard.edge_export)


@pyuvm.test()
class DoorbellRandomTest(uvm_test):
    """Random doorbell writes; irq pin edges checked against an arithmetic reference."""

    def build_phase(self):
        _quiet_loggers()
        self.env = DoorbellEnv("env", self)

    def end_of_elaboration_phase(self):
        self.set_logging_level_hier(logging.WARNING)

    async def run_phase(self):
        self.raise_objection()
        await RandomDoorbellSeq("seq").start(self.env.seqr)
        # Let the last write mature and its interrupt be serviced before ending.
        await Timer(IRQ_LATENCY_PS + ISR_LATENCY_PS + 10 * NS, unit="ps")
        self.drop_objection()
