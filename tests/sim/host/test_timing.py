"""Timing variation as choices: the option tables, and each latency drawn through the engine's policy.

Bounds come from research/cpu_time_facts.md §6: store-buffer drain 1-5 ns
(line owned) to 40-150 ns (RFO); MSI to handler start 0.5-5 us; DRAM miss
70-130 ns local, 130-200 ns remote (0 when the line is cached).
"""
from __future__ import annotations

import pytest

from sim.engine import Engine, FirstPolicy, ReplayPolicy, SeededPolicy
from sim.engine.choice import ChoiceTrace
from sim.host import Host
from sim.host.timing import (DMA_READ_JITTER_PS, DRAIN_LATENCY_PS, MSI_DELIVERY_LATENCY_PS, as_options,
                             drain_latency_options)

NS, US = 1000, 1_000_000
ADDR = 0x1000


@pytest.mark.parametrize("options, lo, hi", [
    *[(opts, 1 * NS, 150 * NS) for opts in DRAIN_LATENCY_PS.values()],
    (MSI_DELIVERY_LATENCY_PS, 500 * NS, 5 * US),
    (DMA_READ_JITTER_PS, 0, 200 * NS),
])
def test_every_table_is_few_ascending_options_spanning_its_documented_bounds(options, lo, hi):
    assert 2 <= len(options) <= 8                      # few enough for the explorer to enumerate
    assert list(options) == sorted(set(options))       # FirstPolicy = the minimum; no duplicates
    assert options[0] == lo and options[-1] == hi


def test_drain_tables_cover_every_store_buffer_profile_and_derived_names():
    assert set(DRAIN_LATENCY_PS) == {"x86-tso", "arm64", "power", "riscv"}
    assert drain_latency_options("arm64-wmb", None) == DRAIN_LATENCY_PS["arm64"]
    assert drain_latency_options("x86-tso~writel", None) == DRAIN_LATENCY_PS["x86-tso"]
    assert drain_latency_options("sc", None) == (0,)
    assert drain_latency_options("arm64", 7) == (7,)


@pytest.mark.parametrize("bad", [(), (5, 1), (-1,), tuple(range(9)), (1.5,)])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError):
        as_options(bad, "x")


def _store_visible_at(policy, profile="arm64", **host) -> tuple[int, list[str]]:
    """When a single store leaves CPU0's buffer, and the choices made on the way."""
    h = Host(Engine(policy), profile, ncpus=1, iommu=False, **host)
    h.cpus[0].store(ADDR, 8, 0x55)
    seen = []
    h.mem.on_write = lambda addr, n: seen.append(h.engine.now)
    h.engine.run()
    return seen[0], list(policy.whys)


@pytest.mark.parametrize("profile", ["x86-tso", "arm64"])
def test_a_store_drains_after_a_drawn_latency_first_policy_gives_the_owned_line_minimum(profile):
    t, whys = _store_visible_at(FirstPolicy(), profile)
    assert t == 1 * NS and whys == ["drain-latency cpu0"]


def test_each_option_of_the_drain_latency_is_reachable_by_replay():
    opts = DRAIN_LATENCY_PS["arm64"]
    times = {_store_visible_at(ReplayPolicy(ChoiceTrace(False, (k,), (len(opts),))))[0] for k in range(len(opts))}
    assert times == set(opts)


def test_a_fixed_drain_delay_is_no_choice():
    t, whys = _store_visible_at(SeededPolicy(1), drain_delay_ps=40 * NS)
    assert t == 40 * NS and whys == []


def test_the_msi_handler_starts_one_drawn_delivery_latency_after_the_message_lands():
    policy = FirstPolicy()
    h = Host(Engine(policy), "x86-tso", ncpus=1, iommu=False)
    started = []
    msg = h.msi.allocate("v", lambda count: started.append(h.engine.now))
    h.engine.call_later(10 * NS, h.msi.deliver, *msg)
    h.engine.run()
    assert started == [10 * NS + 500 * NS] and policy.whys == ["msi-latency"]


def test_seeds_spread_the_msi_latency_over_its_options():
    starts = set()
    for seed in range(40):
        h = Host(Engine(SeededPolicy(seed)), "x86-tso", ncpus=1, iommu=False)
        msg = h.msi.allocate("v", lambda count, h=h: starts.add(h.engine.now))
        h.msi.deliver(*msg)
        h.engine.run()
    assert starts == set(MSI_DELIVERY_LATENCY_PS)
