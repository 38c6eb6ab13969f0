"""The explorer's core: warm starts, forked executions, the invariant checker, search and replay.

Expected values come from the scenario definitions (arithmetic on ring
sizes and thresholds) and from the ordering facts (``research/ordering_facts.md``
§2.1/§2.4): on x86-TSO the store buffer is FIFO, so a doorbell store can
never become visible before the descriptor stores that precede it, whatever
barrier is dropped; on arm64, with ``dma_wmb`` dropped and ``writel``
relaxed, nothing orders the descriptor stores before the tail write, so the
NIC can fetch a descriptor before the transmit's stores are visible.
"""
from __future__ import annotations

import pytest

from driver.igb.e1000_regs import E1000_TXD_STAT_DD
from driver.igb.igb import DESC_NEEDED, TX_WAKE_THRESHOLD
from sim.explore.checker import INVARIANTS
from sim.explore.runner import DriverConfig, Session
from sim.explore.scenarios import ScenarioConfig, build_warm, ring_thresholds
from sim.explore.search import bounded_search, pct_search, random_search
from stack.core.netdevice import netdev_get_tx_queue

HEADLINE = (("igb_tx_map.publish", None), ("igb_tx_map.doorbell", "writel_relaxed"))


def test_the_tx_warm_ring_has_the_previous_laps_dd_in_every_slot_and_next_to_use_before_the_wrap():
    warm = build_warm(ScenarioConfig("tx", "arm64", packets=2))
    ring = warm.ring
    assert (ring.next_to_use, ring.next_to_clean) == (63, 63)       # 2 * 64 - 1 packets: one before the wrap
    mem = warm.system.host.mem
    assert all(mem.read(ring.desc + 16 * i + 12, 1)[0] & E1000_TXD_STAT_DD for i in range(64))
    assert all(ring.tx_buffer_info[i].next_to_watch == 0 for i in range(64))   # every packet cleaned


def test_the_tx_full_warm_ring_leaves_one_descriptor_too_few_for_the_next_packet():
    warm = build_warm(ScenarioConfig("tx-full", "x86-tso"))
    need, wake = ring_thresholds(8)
    assert (need, wake) == (2, 4)                                     # ring / 4 below igb's minimum
    # igb_xmit_frame_ring takes a one-descriptor packet only with count + 3 = 4 free: leave 3
    assert warm.in_flight == 8 - 1 - 3                                # one slot always stays empty
    ring = warm.ring
    assert (ring.next_to_clean - ring.next_to_use - 1) % 8 == 3
    assert ring_thresholds(64) == (21, 42)                            # igb's own: MAX_SKB_FRAGS + 4, twice that
    assert ring_thresholds(64) == (DESC_NEEDED, TX_WAKE_THRESHOLD)    # and the driver's constants agree


def test_the_tx_burst_packets_wait_in_the_qdisc_of_a_stopped_queue():
    warm = build_warm(ScenarioConfig("tx-burst", "x86-tso", packets=3))
    txq = netdev_get_tx_queue(warm.system.netdev, 0)
    assert txq.qdisc.qlen == 3


@pytest.mark.parametrize("scenario", ["tx", "tx-full", "tx-burst"])
@pytest.mark.parametrize("profile", ["x86-tso", "arm64"])
def test_the_in_order_execution_of_the_unmodified_driver_violates_nothing(scenario, profile):
    out = Session(ScenarioConfig(scenario, profile, packets=2)).run(())
    assert out.error is None
    assert out.violations == []
    assert out.choices > 0 and out.deviations == 0


@pytest.mark.parametrize("config", [
    dict(scenario="nope"), dict(ring=100), dict(ring=4), dict(packets=0), dict(packets=9), dict(cpus=1),
    dict(wthresh=32), dict(scenario="tx-full", packets=12)])
def test_a_configuration_no_scenario_can_run_is_one_clear_line(config):
    with pytest.raises(ValueError) as err:
        ScenarioConfig(**config).check()
    assert "\n" not in str(err.value)


def test_arm64_without_publish_and_with_a_relaxed_doorbell_frees_a_packet_the_nic_has_not_read_and_replays():
    session = Session(ScenarioConfig("tx", "arm64", packets=2), DriverConfig(HEADLINE))
    found = bounded_search(session, 2)
    v = found.violation
    assert v is not None and v.invariant in INVARIANTS
    assert v.invariant == "unmapped-before-done" and v.packet == 1000 and v.slot == 63   # the first packet's slot
    assert found.found.deviations <= 2                # within the budget (the start order is free)
    again = session.run(found.found.ranks)            # the recorded choices, replayed
    assert (again.violation.invariant, again.violation.packet, again.violation.slot) == (v.invariant, v.packet, v.slot)


def test_x86_tso_keeps_stores_in_order_without_either_barrier():
    session = Session(ScenarioConfig("tx", "x86-tso", packets=2), DriverConfig(HEADLINE))
    result = bounded_search(session, 2)
    assert result.violation is None and result.exhaustive and result.budget == 2


@pytest.mark.parametrize("search", [random_search, pct_search])
def test_random_and_pct_searches_return_what_they_found_at_their_limit(search):
    session = Session(ScenarioConfig("tx", "x86-tso", packets=2), DriverConfig(HEADLINE))
    result = search(session, seed=0, runs=20)
    assert result.violation is None and result.stopped == "runs" and result.executions == 20
    assert not result.exhaustive
