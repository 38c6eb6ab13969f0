"""``igbsim explore --matrix``: every profile × every transmit and completion barrier site gives the expected verdict.

Each expected cell is derived from the architecture facts, not from a run:
``research/ordering_facts.md`` §2.1/§2.4 (what each primitive compiles to),
``research/cpu_time_facts.md`` §3 (x86 LOCK'd read-modify-writes are full
barriers) and Linux's ``Documentation/memory-barriers.txt`` /
``atomic_bitops.txt``. The search is bounded exhaustive with budget 2 over
the ``tx``, ``tx-full`` and ``tx-burst`` scenarios with 2 packets, so a
"none" cell also says: no violation with at most 2 deviations, searched
exhaustively. Every flagged cell's replay token must replay to the same
violation, and its timeline must fit in 30 rows.

Which profiles: ``make test`` searches x86-tso and POWER, the strongest and
the weakest profile, which between them give every verdict of the table
(arm64 and RISC-V repeat POWER's except for the dropped doorbell). The whole
table, all four profiles, is a long exploration (about 4 minutes here): ``make
bench`` runs it, with ``IGBSIM_MATRIX_PROFILES=all``.
"""
from __future__ import annotations

import os

import pytest

from sim.explore.matrix import UNMODIFIED, format_table, run_matrix
from sim.explore.runner import Session
from sim.explore.timeline import MAX_ROWS, select
from sim.explore.token import decode

ALL_PROFILES = ("x86-tso", "arm64", "power", "riscv")
#: the profiles searched: x86-tso and POWER in the suite; every profile with IGBSIM_MATRIX_PROFILES=all
PROFILES = ALL_PROFILES if os.environ.get("IGBSIM_MATRIX_PROFILES") == "all" else ("x86-tso", "power")
UMD = "unmapped-before-done"       # the cleaner freed a packet the NIC had not finished (stale DD)
PBC = "published-before-consumed"  # the NIC fetched a descriptor before the transmit's stores were visible
LWU = "lost-wake-up"               # the queue stays stopped with room and nothing left to wake it
WEAK = {"arm64": True, "power": True, "riscv": True, "x86-tso": False}


def _weak(kind):
    return {p: kind if weak else None for p, weak in WEAK.items()}


def _all(kind):
    return {p: kind for p in ALL_PROFILES}


EXPECTED = {
    # The unmodified driver: Linux's barriers forbid every reordering the search can make.
    (UNMODIFIED, ""): _all(None),
    # dma_wmb orders the descriptor stores (the DD clear) before next_to_watch (§2.3). x86: a compiler barrier,
    # and TSO keeps store order (§2.1, §2.4). Weak profiles: next_to_watch can be seen before the DD clear, so the
    # cleaner frees on the previous lap's DD.
    ("igb_tx_map.publish", "dropped"): _weak(UMD),
    # smp_wmb (compiler / dmb ishst / lwsync / fence w,w, §2.4) orders stores for the cleaner, which is a CPU;
    # the NIC's view is ordered by writel.
    ("igb_tx_map.publish", "-> smp_wmb"): _all(None),
    # Dropping writel's barrier: x86 UC stores stay in program order (§2.1); arm64's dma_wmb is dmb oshst, all
    # stores including device ones (§2.4); RISC-V's dma_wmb is fence ow,ow (asm-generic wmb, §2.4); POWER's
    # dma_wmb is lwsync, which does not cover caching-inhibited storage: the tail can overtake the descriptors.
    ("igb_tx_map.doorbell", "dropped"): {"x86-tso": None, "arm64": None, "power": PBC, "riscv": None},
    # writel_relaxed: the dma_wmb before it still orders the descriptors (x86, arm64, RISC-V, as above); on
    # POWER writel_relaxed *is* writel (arch/powerpc/include/asm/io.h).
    ("igb_tx_map.doorbell", "-> writel_relaxed"): _all(None),
    # set_bit then the re-read of next_to_clean: x86's set_bit is lock bts, a full barrier (cpu_time_facts §3);
    # elsewhere set_bit is unordered (atomic_bitops.txt) and the re-read may be stale: a lost wake-up.
    ("igb_maybe_stop_tx.recheck", "dropped"): _weak(LWU),
    # Neither read nor write barriers order a store before a later load: set_bit's store may still be
    # unseen when the cleaner tests the bit, while the re-read misses the cleaner's next_to_clean -- the
    # store-buffering shape, which only a full barrier forbids (memory-barriers.txt; §2.1: lwsync, dmb
    # ishld/ishst and fence r,r / w,w have no store->load order). x86: set_bit is LOCK'd, a full barrier.
    ("igb_maybe_stop_tx.recheck", "-> smp_rmb"): _weak(LWU),
    ("igb_maybe_stop_tx.recheck", "-> smp_wmb"): _weak(LWU),
    # The DD load after next_to_watch: TSO never reorders loads with loads; weak profiles may return the
    # previous lap's DD (load->load reordering), and the cleaner frees a packet the NIC has not read.
    ("igb_clean_tx_irq.eop", "dropped"): _weak(UMD),
    # Store next_to_clean, then load the queue state: the store-buffering shape. Only a full barrier orders a
    # store before a later load, on every profile including x86-TSO (the one reordering TSO allows, §2.1);
    # smp_rmb and smp_wmb do not.
    ("igb_clean_tx_irq.wake", "dropped"): _all(LWU),
    ("igb_clean_tx_irq.wake", "-> smp_rmb"): _all(LWU),
    ("igb_clean_tx_irq.wake", "-> smp_wmb"): _all(LWU),
}
# The hang report's register reads run only when the watchdog has armed a hang check: no scenario reaches them.
for _site in ("hang_tdh", "hang_tdt", "hang_status"):
    for _change in ("dropped", "-> readl_relaxed"):
        EXPECTED[(f"igb_clean_tx_irq.{_site}", _change)] = _all(None)


@pytest.fixture(scope="module")
def verdicts():
    return run_matrix(PROFILES, scenarios=("tx", "tx-full", "tx-burst"), packets=2, budget=2, jobs=2)


def _expected() -> dict:
    """EXPECTED for the profiles searched."""
    return {cell: {p: row[p] for p in PROFILES} for cell, row in EXPECTED.items()}


def test_every_cell_gives_the_expected_verdict(verdicts):
    got = {}
    for v in verdicts:
        got.setdefault((v.cell.site, v.cell.change), {})[v.cell.profile] = v.invariant
    assert got == _expected(), format_table(verdicts)


def test_a_cell_without_a_violation_was_searched_exhaustively_or_never_reached(verdicts):
    for v in verdicts:
        if v.invariant is None:
            assert v.text in ("none with ≤ 2 (exhaustive)", "not reached by any scenario's executions without "
                              "deviations"), v
    unmodified = [v for v in verdicts if v.cell.site == UNMODIFIED]
    assert [v.text for v in unmodified] == ["none with ≤ 2 (exhaustive)"] * len(PROFILES)


def test_every_flagged_cell_replays_to_the_same_violation_in_at_most_30_steps(verdicts):
    flagged = [v for v in verdicts if v.invariant]
    assert len(flagged) == sum(1 for row in _expected().values() for kind in row.values() if kind)
    for v in flagged:
        config, driver, ranks = decode(v.token)
        out = Session(config, driver).run(ranks, record=True)
        assert out.violation is not None and out.violation.invariant == v.invariant, v
        assert len(select(out)) <= MAX_ROWS
