"""Searches over executions: random walks of deviations, and bounded exhaustive enumeration by deviation count.

Both return what they found when a limit is hit (never an exception): a
:class:`SearchResult` with the executions run, whether the bound was
searched exhaustively, and the first violating execution's outcome.

* :func:`random_search` — each execution answers every question after an
  empty prefix with a seeded coin: with probability ``p`` a uniformly drawn
  non-default rank (a deviation), else rank 0. Seeds are ``seed``,
  ``seed + 1``, … so run ``k`` is reproducible alone.
* :func:`pct_search` — PCT-style (Burckhardt et al., ASPLOS'10): each
  execution makes ``depth - 1`` deviations at questions drawn uniformly
  from the ``k`` branchable questions the in-order execution asks, and
  answers 0 elsewhere; a bug that needs ``d - 1``
  particular deviations is hit with probability about ``1/k^(d-1)`` per
  execution, whatever the rest of the execution does. Unlike classic PCT
  the "priorities" are the ranked answers of every question — preemptions,
  store-buffer visibility, stale loads and device delays alike — so the
  store buffers and the NIC are priority holders too (explorer_design §5.4).
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

__all__ = ["SearchResult", "random_search", "pct_search", "bounded_search", "RandomTail", "PctTail"]


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


class PctTail:
    """Deviate (a uniform non-default rank) at ``depth - 1`` of the question numbers ``k``, else answer 0."""

    def __init__(self, seed: int, depth: int, k: list[int]):
        rng = random.Random(seed)
        self.rng = rng
        self.points = frozenset(rng.sample(k, min(max(depth - 1, 0), len(k))))

    def __call__(self, k: int, n: int, why: str) -> int:
        return self.rng.randrange(1, n) if k in self.points else 0


def _limits_hit(start: float, runs: int, time_s: float | None, max_runs: int | None) -> str:
    if max_runs is not None and runs >= max_runs:
        return "runs"
    if time_s is not None and time.monotonic() - start >= time_s:
        return "time"
    return ""


def _walks(session: Session, tail_of, runs: int | None, time_s: float | None, progress) -> SearchResult:
    """Executions answering after an empty prefix with ``tail_of(k)`` for the k-th, until a violation or a limit."""
    start = time.monotonic()
    k = 0
    while True:
        stop = _limits_hit(start, k, time_s, runs)
        if stop:
            return SearchResult(k, None, False, None, stop)
        out = session.run((), tail=tail_of(k))
        k += 1
        if progress is not None:
            progress(k)
        if out.error:
            return SearchResult(k, None, False, None, "error: " + out.error.strip().splitlines()[-1])
        if out.violations:
            return SearchResult(k, None, False, out)


def random_search(session: Session, *, seed: int = 0, p: float = 0.05, runs: int | None = 1000,
                  time_s: float | None = None, progress=None) -> SearchResult:
    """Random walks until a violation, ``runs`` executions or ``time_s`` seconds (module docstring)."""
    return _walks(session, lambda k: RandomTail(seed + k, p), runs, time_s, progress)


def pct_search(session: Session, *, seed: int = 0, depth: int = 3, runs: int | None = 1000,
               time_s: float | None = None, progress=None) -> SearchResult:
    """PCT-style executions (module docstring) until a violation or a limit."""
    first = session.run((), steps=True)
    branchable = [st[0] for st in first.steps if st[6] == 1]   # the questions where a deviation costs one
    return _walks(session, lambda k: PctTail(seed + k, depth, branchable), runs, time_s, progress)


def bounded_search(session: Session, budget: int, *, time_s: float | None = None, max_runs: int | None = None,
                   progress=None, driver=None, reached: str | None = None) -> SearchResult:
    """Every execution with at most ``budget`` deviations, fewest first (module docstring).

    Iterative deepening, depth-first within a depth: an execution is
    extended at each question after its last chosen one, with every other
    rank whose cost keeps it within the depth (free questions cost nothing;
    questions offered one option are not branched on). Each execution runs
    once: a deeper pass re-expands the shallower ones from their recorded
    questions. ``driver`` overrides the session's driver; ``reached``: stop
    after depth 0 (``stopped == "not reached"``) when no execution without
    deviations ran that barrier site.
    """
    start = time.monotonic()
    runs = 0
    known: dict[tuple[int, ...], list[tuple[int, int, int]]] = {}   # prefix -> its questions (k, n, cost)
    sites: set[str] = set()
    for depth in range(budget + 1):
        stack: list[tuple[tuple[int, ...], int]] = [((), 0)]   # (prefix, its cost); it deviates after its end
        while stack:
            prefix, cost = stack.pop()
            questions = known.get(prefix)
            if questions is None:
                stop = _limits_hit(start, runs, time_s, max_runs)
                if stop:
                    return SearchResult(runs, depth - 1 if depth else None, False, None, stop)
                out = session.run(prefix, steps=True, driver=driver)
                runs += 1
                if progress is not None:
                    progress(runs)
                if out.error:
                    return SearchResult(runs, None, False, None, "error: " + out.error.strip().splitlines()[-1])
                if out.divergences:   # a prefix built from this tree must fit it; if not, say so
                    return SearchResult(runs, None, False, None, "error: an execution diverged from its prefix")
                if out.violations:
                    return SearchResult(runs, depth, False, out)
                sites |= out.sites_run
                questions = [(st[0], st[2], st[6]) for st in out.steps if st[6] is not None]
                if cost < budget:   # only these are expanded again at a deeper pass
                    known[prefix] = questions
            for k, n, step_cost in reversed(questions):
                if k < len(prefix):
                    break
                if cost + step_cost > depth:
                    continue
                for r in range(n - 1, 0, -1):
                    stack.append((prefix + (0,) * (k - len(prefix)) + (r,), cost + step_cost))
        if depth == 0 and reached is not None and reached not in sites:
            return SearchResult(runs, None, False, None, "not reached")
    return SearchResult(runs, budget, True, None)
