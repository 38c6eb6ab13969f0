"""Litmus tests: the full set of outcomes of small programs, enumerated exhaustively, per profile.

Expected sets come from the architecture facts (research/ordering_facts.md,
the Linux barrier mappings), not from running the model:

* MP (message passing): the stale outcome r0=1 (saw the flag), r1=0 (missed
  the data) is forbidden under SC and x86-TSO (stores leave in order, loads
  are not reordered), allowed on arm64/POWER/RISC-V unless the writer has a
  write barrier AND the reader a read barrier.
* SB (store buffering): both-zero is allowed everywhere but SC without a
  full barrier; smp_mb on both sides forbids it.
* Doorbell: the device reads the descriptor after the doorbell reaches it.
  ``writel`` waits for prior memory writes on every architecture. With
  ``writel_relaxed`` and no write barrier the doorbell can overtake the
  descriptor on arm64 and RISC-V; never on x86-TSO (FIFO store buffer);
  on POWER Linux defines ``writel_relaxed`` as ``writel`` (sync; st), so it
  cannot either — POWER's raw store ``__raw_writel`` can.
* Completion: the device writes data, then the DD flag; the CPU reads DD
  then data. Seeing DD but stale data is allowed on arm64/POWER/RISC-V
  without ``dma_rmb``, forbidden with it, and forbidden on SC/x86-TSO.
"""
import pytest

from sim.engine import ReplayPolicy
from sim.host.litmus import (Barrier, DmaRd, DmaWr, Ld, Litmus, MmioWr, St, WaitDoorbell,
                             enumerate_litmus, run_litmus)
from sim.host.ordering import PROFILES, get_profile

PROFILE_NAMES = ["sc", "x86-tso", "arm64", "power", "riscv"]
WEAK = {"arm64", "power", "riscv"}
ALL4 = {(0, 0), (0, 1), (1, 0), (1, 1)}


def check(litmus, profile, expected, record_property):
    """Enumerate every execution and compare the whole outcome set."""
    result = enumerate_litmus(litmus, profile)
    record_property("executions", result.executions)
    print(f"{litmus.name} on {profile}: {result.executions} executions, outcomes {sorted(result.outcome_set)}")
    assert result.outcome_set == expected, (
        f"{litmus.name} on {profile}: got {sorted(result.outcome_set)}, expected {sorted(expected)}")
    return result


def test_profiles_cover_the_issue_list():
    assert set(PROFILES) == set(PROFILE_NAMES)


# --- MP ---------------------------------------------------------------------
def mp(wbar, rbar):
    t0 = [St("x", 1)] + ([Barrier(wbar)] if wbar else []) + [St("y", 1)]
    t1 = [Ld("y", "r0")] + ([Barrier(rbar)] if rbar else []) + [Ld("x", "r1")]
    name = f"MP{'+' + wbar if wbar else ''}{'+' + rbar if rbar else ''}"
    return Litmus(name, {"x": 0, "y": 0}, (tuple(t0), tuple(t1)), ("r0", "r1"))


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("wbar,rbar", [(None, None), ("smp_wmb", None), (None, "smp_rmb"),
                                       ("smp_wmb", "smp_rmb")])
def test_mp(profile, wbar, rbar, record_property):
    stale_allowed = profile in WEAK and not (wbar and rbar)
    expected = ALL4 if stale_allowed else ALL4 - {(1, 0)}
    check(mp(wbar, rbar), profile, expected, record_property)


# --- SB ---------------------------------------------------------------------
def sb(bar):
    mid = [Barrier(bar)] if bar else []
    t0 = [St("x", 1)] + mid + [Ld("y", "r0")]
    t1 = [St("y", 1)] + mid + [Ld("x", "r1")]
    return Litmus(f"SB{'+' + bar if bar else ''}", {"x": 0, "y": 0}, (tuple(t0), tuple(t1)), ("r0", "r1"))


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("bar", [None, "smp_mb"])
def test_sb(profile, bar, record_property):
    both_zero_allowed = profile != "sc" and bar is None
    expected = ALL4 if both_zero_allowed else ALL4 - {(0, 0)}
    check(sb(bar), profile, expected, record_property)


# --- doorbell ---------------------------------------------------------------
def doorbell(accessor, bar=None):
    cpu = [St("desc", 1)] + ([Barrier(bar)] if bar else []) + [MmioWr(accessor)]
    name = f"DB{'+' + bar if bar else ''}+{accessor}"
    return Litmus(name, {"desc": 0}, (tuple(cpu),), ("d",),
                  device=(WaitDoorbell(), DmaRd("desc", "d")))


OVERTAKES = {  # (accessor, barrier) -> profiles where the doorbell can overtake the descriptor
    ("writel", None): set(),
    ("writel_relaxed", None): {"arm64", "riscv"},
    ("writel_relaxed", "wmb"): set(),
    ("writel_relaxed", "dma_wmb"): set(),
    # smp_wmb orders memory against memory only: not enough for a device (arm64 dmb ishst, riscv fence w,w)
    ("writel_relaxed", "smp_wmb"): {"arm64", "riscv"},
    ("__raw_writel", None): {"arm64", "power", "riscv"},
}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("accessor,bar", list(OVERTAKES))
def test_doorbell(profile, accessor, bar, record_property):
    expected = {(0,), (1,)} if profile in OVERTAKES[(accessor, bar)] else {(1,)}
    check(doorbell(accessor, bar), profile, expected, record_property)


# --- completion -------------------------------------------------------------
def completion(bar):
    cpu = [Ld("dd", "r0")] + ([Barrier(bar)] if bar else []) + [Ld("data", "r1")]
    return Litmus(f"CMPL{'+' + bar if bar else ''}", {"data": 0, "dd": 0}, (tuple(cpu),), ("r0", "r1"),
                  device=(DmaWr("data", 1), DmaWr("dd", 1)))


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("bar", [None, "dma_rmb"])
def test_completion(profile, bar, record_property):
    stale_allowed = profile in WEAK and bar is None
    expected = ALL4 if stale_allowed else ALL4 - {(1, 0)}
    check(completion(bar), profile, expected, record_property)


# --- the tables matter --------------------------------------------------------
def test_losing_a_table_entry_changes_an_outcome_set(record_property):
    """Drop arm64's writel fence (dmb oshst) and the doorbell overtakes the descriptor."""
    arm64 = get_profile("arm64")
    weakened = arm64.with_accessor("writel", arm64.accessor("writel_relaxed"))
    check(doorbell("writel"), weakened, {(0,), (1,)}, record_property)
    check(mp("smp_wmb", "smp_rmb"), arm64.without_barrier("smp_rmb"), ALL4, record_property)


def test_witness_replays_to_its_outcome():
    """The recorded choices of the forbidden-on-x86 MP outcome on arm64 replay exactly."""
    result = enumerate_litmus(mp(None, None), "arm64")
    trace = result.witnesses[(1, 0)]
    again = run_litmus(mp(None, None), "arm64", ReplayPolicy(trace.to_string()))
    assert again == (1, 0)
