"""The doorbell example model (sim/examples/doorbell.py) on the native engine alone.

Expected traces and irq times are computed here from the chosen latencies and
gaps (plain arithmetic, and a small reference model that shares no code with
the device), never pasted from a run.
"""
from __future__ import annotations

import random
from itertools import accumulate

import pytest

from sim.engine import Engine
from sim.examples.doorbell import CAUSE_DOORBELL, DoorbellDevice, host_program

NS = 1_000
# Race-free timing: writes on a 1 ns grid, maturities end in 250 ps, ICR reads in 750 ps.
L = 200 * NS + 250          # irq latency
I = 150 * NS + 500          # ISR latency (line high -> ICR read)
SETTLE = 1_000 * NS


def run(gaps, latency=L, isr=I, settle=SETTLE, values=None):
    eng = Engine()
    trace = eng.start_trace()
    dev = DoorbellDevice(eng, latency)
    host = eng.spawn(host_program(eng, dev, gaps, isr_latency_ps=isr, settle_ps=settle, values=values),
                     name="host")
    eng.run(max_steps=1_000_000)
    assert host.ok, host.value
    return trace, dev, host.value


def test_fixed_scenario_full_trace():
    """Coalescing, two writes in one picosecond, a re-raise right after a read, an idle gap."""
    gaps = [0, 50 * NS, 50 * NS, 0, 1_000 * NS, 30 * NS, 140 * NS, 2_000 * NS]
    w = list(accumulate(gaps))
    # Premises of the expected trace below: writes 2-4 mature before the first read,
    # write 6 before the second read, write 7 just after it, write 8 after the third read.
    assert max(w[1:4]) + L < w[0] + L + I < w[4] + L
    assert w[5] + L < w[4] + L + I < w[6] + L
    assert w[6] + L + I < w[7] + L

    def irq_and_isr(t_on):
        return [(t_on, "dev", "irq", 1), (t_on, "host", "irq_seen"),
                (t_on + I, "dev", "icr_read", CAUSE_DOORBELL), (t_on + I, "dev", "irq", 0),
                (t_on + I, "host", "isr", CAUSE_DOORBELL)]

    expected = (
        [(w[k], "dev", "doorbell", k + 1) for k in range(4)]
        + irq_and_isr(w[0] + L)[:2]
        + [(w[1] + L, "dev", "coalesce", 2), (w[2] + L, "dev", "coalesce", 3), (w[3] + L, "dev", "coalesce", 4)]
        + irq_and_isr(w[0] + L)[2:]
        + [(w[k], "dev", "doorbell", k + 1) for k in (4, 5, 6)]
        + irq_and_isr(w[4] + L)[:2]
        + [(w[5] + L, "dev", "coalesce", 6)]
        + irq_and_isr(w[4] + L)[2:]
        + irq_and_isr(w[6] + L)
        + [(w[7], "dev", "doorbell", 8)]
        + irq_and_isr(w[7] + L)
        + [(w[7] + SETTLE, "host", "done", 4, 0)]
    )
    trace, dev, icr_values = run(gaps)
    assert trace == expected
    assert icr_values == [CAUSE_DOORBELL] * 4
    assert (dev.writes, dev.irq_count, dev.coalesced, dev.irq, dev.icr, dev.doorbell) == (8, 4, 4, 0, 0, 8)


def predict_pulses(write_times, latency, isr):
    """Reference: (rise, fall) per interrupt; a maturity while the line is high coalesces."""
    pulses = []
    for t in sorted(write_times):
        m = t + latency
        if pulses and m < pulses[-1][1]:
            continue
        pulses.append((m, m + isr))
    return pulses


@pytest.mark.parametrize("latency,isr", [(L, I), (250, 2_000 * NS + 500), (1_500 * NS + 250, 500)])
@pytest.mark.parametrize("seed", range(12))
def test_random_schedules_match_reference(seed, latency, isr):
    rng = random.Random(seed)
    gaps = [rng.choice([0, rng.randint(1, 60), rng.randint(100, 400), rng.randint(500, 3000)]) * NS
            for _ in range(30)]
    writes = list(accumulate(gaps))
    trace, dev, icr_values = run(gaps, latency, isr, settle=latency + isr + NS)
    pulses = predict_pulses(writes, latency, isr)
    rises = [r[0] for r in trace if r[1:] == ("dev", "irq", 1)]
    falls = [r[0] for r in trace if r[1:] == ("dev", "irq", 0)]
    assert list(zip(rises, falls)) == pulses
    assert [r[0] for r in trace if r[2] == "doorbell"] == writes
    assert dev.coalesced == len(writes) - len(pulses)
    assert icr_values == [CAUSE_DOORBELL] * len(pulses)
    assert dev.irq == 0 and trace[-1][2:] == ("done", len(pulses), 0)
    # Time never runs backwards in the trace.
    assert all(a[0] <= b[0] for a, b in zip(trace, trace[1:]))


def test_zero_latency_raises_in_the_write_picosecond():
    # One write only: with zero latency a second write in the same picosecond would
    # race the first one's maturity (the gap-0 yield lets the pipeline run in between).
    trace, dev, _ = run([5 * NS], latency=0, isr=I)
    assert trace == [(5 * NS, "dev", "doorbell", 1), (5 * NS, "dev", "irq", 1), (5 * NS, "host", "irq_seen"),
                     (5 * NS + I, "dev", "icr_read", CAUSE_DOORBELL), (5 * NS + I, "dev", "irq", 0),
                     (5 * NS + I, "host", "isr", CAUSE_DOORBELL), (5 * NS + SETTLE, "host", "done", 1, 0)]
    assert dev.irq_count == 1 and dev.coalesced == 0


def test_same_run_same_trace():
    gaps = [0, 10 * NS, 300 * NS, 0, 700 * NS]
    assert run(gaps)[0] == run(gaps)[0]


@pytest.mark.parametrize("bad", [-1, 1.5, None])
def test_bad_latency_rejected(bad):
    with pytest.raises(ValueError):
        DoorbellDevice(Engine(), bad)


def test_gaps_and_values_must_match():
    eng = Engine()
    dev = DoorbellDevice(eng, L)
    host = eng.spawn(host_program(eng, dev, [0, 0], isr_latency_ps=I, settle_ps=SETTLE, values=[7]))
    with pytest.raises(ValueError, match="2 gaps but 1 values"):
        eng.run()
    assert not host.ok
