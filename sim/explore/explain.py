"""Which barrier forbids a found violation, confirmed by running the same choices with it in place.

Two ways to name it, tried in order:

1. **A barrier site the configuration weakened or dropped.** Each one is
   put back alone (the rest of the configuration kept) and the execution
   re-run along the same choices; the first that makes the violation go
   away is the answer.
2. **A barrier missing from the code** (the unmodified driver, or a
   variant). The recorded reorderings say where one belongs: a store kept
   buffered while another agent read it needs a write barrier right after
   that store — ``dma_wmb`` when the reader is the NIC (it orders memory
   stores before the doorbell's device write), else ``smp_wmb`` (message
   passing) or, when that is not enough, ``smp_mb`` (store buffering: the
   writer's own later load must wait for the store); a load that returned
   an older value needs ``smp_rmb`` right before it. The barrier is
   inserted at that point in a re-run along the same choices
   (:class:`sim.explore.record.Insertion`); it is the answer if the
   violation goes away.

A re-run makes the same deviations, found by question rather than by
position (``why`` and its occurrence: :class:`sim.explore.policy.ExplorePolicy`'s
``keyed``): a barrier changes which questions are asked, and the reordering
it forbids is a question that no longer arises (or is answered in order).
The barrier is confirmed when that re-run has no violation.
"""
from __future__ import annotations

from dataclasses import dataclass

from driver.igb.sites import SITE

from .record import Insertion
from .runner import DriverConfig, Outcome, Session

__all__ = ["Explanation", "explain"]


@dataclass(frozen=True)
class Explanation:
    """The barrier named, where, and whether a re-run with it confirmed it."""

    barrier: str
    where: str
    confirmed: bool

    def line(self) -> str:
        if self.confirmed:
            return (f"forbidden by {self.barrier} {self.where}: confirmed, the same choices with it give no "
                    "violation")
        return f"a barrier is missing {self.where}; {self.barrier} did not remove the violation in a re-run"


def _gone(out: Outcome, invariant: str) -> bool:
    return out.error is None and not any(v.invariant == invariant for v in out.violations)


def deviations_by_question(found: Outcome) -> dict:
    """``{(why, occurrence): rank}`` of every non-default answer of a recorded (or ``steps``) execution."""
    seen: dict[str, int] = {}
    keyed = {}
    for k, why, n, rank, label, t, cost in found.steps:
        seen[why] = seen.get(why, 0) + 1
        if rank:
            keyed[(why, seen[why])] = rank
    return keyed


def explain(session: Session, found: Outcome) -> Explanation | None:
    """Name and confirm the barrier that forbids ``found`` (recorded), or None if nothing was reordered."""
    invariant = found.violation.invariant
    driver = session.driver
    keyed = deviations_by_question(found)
    if _gone(session.run(keyed=keyed), invariant):
        return None   # the deviations do not reproduce it by question: nothing to confirm against
    for name, _ in driver.sites:
        rest = tuple((n, p) for n, p in driver.sites if n != name)
        out = session.run(keyed=keyed, driver=DriverConfig(rest, driver.variant))
        if _gone(out, invariant):
            prim = SITE[name].primitive
            return Explanation(f"{prim}", f"at {name}", True)
    tried = None
    for r in reversed(found.reorderings):
        for prim, ins, where in _candidates(r, found.where):
            out = session.run(keyed=keyed, insertion=ins)
            if _gone(out, invariant):
                return Explanation(prim, where, True)
            tried = tried or Explanation(prim, where, False)
    return tried


def _candidates(r: tuple, where: dict):
    """(primitive, Insertion, where-text) to try for one recorded reordering, the lightest first."""
    if r[0] == "hidden":
        _, cpu, seq, reader, cell = r
        if seq is None:
            return
        _, fn = where.get((cpu, "store", seq), (cell, "?"))
        at = f"after cpu{cpu}'s store to {cell} in {fn}"
        for prim in (("dma_wmb", "wmb") if reader is None else ("smp_wmb", "smp_mb")):
            yield prim, Insertion(cpu, prim, store=seq), at
    else:
        _, cpu, seq, cell = r
        _, fn = where.get((cpu, "load", seq), (cell, "?"))
        for prim in ("smp_rmb", "smp_mb"):
            yield prim, Insertion(cpu, prim, load=seq), f"before cpu{cpu}'s load of {cell} in {fn}"
