"""Searches over executions: random walks of deviations, and bounded exhaustive enumeration by deviation count.

Both return what they found when a limit is hit (never an exception): a
:class:`SearchResult` with the executions run, whether the bound was
searched exhaustively, and the first violating execution's outcome.

* :func:`random_search` — each execution answers every question after an
  empty prefix with a seeded coin: with probability ``p`` a uniformly drawn
  non-default rank (a deviation), else rank 0. Seeds are ``seed``,
  ``seed + 1``, … so run ``k`` is reproducible alone.
* :func:`bounded_search` — every execution with at most ``budget``
  deviations, by iterative deepening (0, 1, …, ``budget``): depth-first over
  the choice points of each execution, trying each non-default rank at each
  point after the last deviation. The first hit has the fewest deviations.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

from .runner import Outcome, Session

__all__ = ["SearchResult", "random_search", "bounded_search", "RandomTail"]


@dataclass
class SearchResult:
    """What a search did: executions, the bound and whether it was covered, and the first violation found."""

    executions: int
    budget: int | None
    exhaustive: bool
    found: Outcome | None
    stopped: str = ""          # why it stopped early ("", "time", "runs", "error: …")

    @property
    def violation(self):
        return self.found.violation if self.found is not None else None


class RandomTail:
    """Rank 0 with probability ``1 - p``, else a uniform non-default rank (seeded)."""

    def __init__(self, seed: int, p: float):
        self.rng = random.Random(seed)
        self.p = p

    def __call__(self, k: int, n: int, why: str) -> int:
        if self.rng.random() < self.p:
            return self.rng.randrange(1, n)
        return 0


def _limits_hit(start: float, runs: int, time_s: float | None, max_runs: int | None) -> str:
    if max_runs is not None and runs >= max_runs:
        return "runs"
    if time_s is not None and time.monotonic() - start >= time_s:
        return "time"
    return ""


def random_search(session: Session, *, seed: int = 0, p: float = 0.05, runs: int | None = 1000,
                  time_s: float | None = None, progress=None) -> SearchResult:
    """Random walks until a violation, ``runs`` executions or ``time_s`` seconds (module docstring)."""
    start = time.monotonic()
    k = 0
    while True:
        stop = _limits_hit(start, k, time_s, runs)
        if stop:
            return SearchResult(k, None, False, None, stop)
        out = session.run((), tail=RandomTail(seed + k, p))
        k += 1
        if progress is not None:
            progress(k)
        if out.error:
            return SearchResult(k, None, False, None, "error: " + out.error.strip().splitlines()[-1])
        if out.violations:
            return SearchResult(k, None, False, out)


def bounded_search(session: Session, budget: int, *, time_s: float | None = None, max_runs: int | None = None,
                   progress=None) -> SearchResult:
    """Every execution with at most ``budget`` deviations, fewest first (module docstring).

    Depth-first per depth: an execution is extended at each question after
    its last chosen one, with every other rank whose cost keeps it within
    the depth (free questions cost nothing; questions offered one option
    are not branched on).
    """
    start = time.monotonic()
    runs = 0
    for depth in range(budget + 1):
        stack: list[tuple[tuple[int, ...], int, int]] = [((), 0, 0)]   # (prefix, first free question, cost)
        while stack:
            stop = _limits_hit(start, runs, time_s, max_runs)
            if stop:
                return SearchResult(runs, depth - 1 if depth else None, False, None, stop)
            prefix, free_from, cost = stack.pop()
            out = session.run(prefix, record=True)
            runs += 1
            if progress is not None:
                progress(runs)
            if out.error:
                return SearchResult(runs, None, False, None, "error: " + out.error.strip().splitlines()[-1])
            if out.violations and cost == depth:
                return SearchResult(runs, depth, False, out)
            for k, why, n, rank, label, t, step_cost in reversed(out.steps):
                if k < free_from:
                    break
                if step_cost is None or cost + step_cost > depth:
                    continue
                for r in range(n - 1, 0, -1):
                    stack.append((prefix + (0,) * (k - len(prefix)) + (r,), k + 1, cost + step_cost))
    return SearchResult(runs, budget, True, None)
