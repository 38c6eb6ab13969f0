"""Shrinking a violating execution: ddmin over its deviations, replayed tolerantly.

A choice string is ranks, 0 for the in-order answer (:mod:`sim.explore.policy`).
Dropping a deviation sets its rank to 0 and keeps every other position, so
the replay stays aligned where the program asks the same questions and
falls back to the default where it does not (a rank past the options
offered is answered 0). :func:`shrink` applies Zeller's ddmin to the set of
deviation positions: the result still violates the same invariant, and
removing any one of its deviations makes that violation go away (1-minimal).
"""
from __future__ import annotations

from .runner import Outcome, Session

__all__ = ["shrink"]


def _with(ranks: tuple[int, ...], keep: list[int]) -> tuple[int, ...]:
    kept = set(keep)
    out = [r if i in kept else 0 for i, r in enumerate(ranks)]
    while out and out[-1] == 0:
        out.pop()
    return tuple(out)


def shrink(session: Session, found: Outcome, *, max_runs: int = 400) -> Outcome:
    """The 1-minimal sub-execution of ``found`` that still breaks the same invariant (module docstring)."""
    target = found.violation.invariant
    ranks = found.ranks
    best = found
    runs = 0

    def fails(keep: list[int]) -> Outcome | None:
        nonlocal runs
        runs += 1
        out = session.run(_with(ranks, keep))
        return out if out.violation is not None and out.violation.invariant == target else None

    cur = [i for i, r in enumerate(ranks) if r]
    n = 2
    while len(cur) >= 2 and runs < max_runs:
        size = max(1, len(cur) // n)
        chunks = [cur[i:i + size] for i in range(0, len(cur), size)]
        reduced = False
        for chunk in chunks:
            rest = [i for i in cur if i not in chunk]
            out = fails(rest)
            if out is not None:
                cur, best, n, reduced = rest, out, max(n - 1, 2), True
                break
            if runs >= max_runs:
                break
        if not reduced:
            if n >= len(cur):
                break
            n = min(len(cur), 2 * n)
    if len(cur) == 1 and runs < max_runs:
        out = fails([])
        if out is not None:
            best = out
    return best
