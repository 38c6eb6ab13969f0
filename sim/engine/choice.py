"""Choice policies: the one place where nondeterminism is decided.

Every nondeterministic decision in igbsim — which same-time item runs first,
which store-buffer entry drains, which value a weak load returns, how much
timing jitter a device adds — is a call ``policy.choose(n, why)`` returning an
index in ``range(n)``. A policy also records each choice, so any run can be
written out as a :class:`ChoiceTrace` string and replayed exactly.

Policies:

* :class:`SeededPolicy` — the default: a seeded PRNG, FIFO ties unless
  ``shuffle_ties``. Same seed, same run.
* :class:`ReplayPolicy` — follows a recorded trace; reports the first point
  where the program asks a different question than the one recorded.
* :func:`explore` — an exhaustive enumerator: re-runs a program from the
  start once per choice sequence (stateless, depth-first), visiting every
  sequence of a small program exactly once.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

__all__ = [
    "Policy", "SeededPolicy", "FirstPolicy", "ReplayPolicy", "ReplayDivergence",
    "ChoiceTrace", "Exploration", "ExplorationLimit", "explore",
]


class ReplayDivergence(RuntimeError):
    """The replayed program asked a different question than the recorded one."""


class ExplorationLimit(RuntimeError):
    """The exhaustive enumerator hit its execution or depth bound."""


@dataclass(frozen=True)
class ChoiceTrace:
    """A recorded list of choices: ``picks[k]`` out of ``counts[k]`` options.

    ``ties`` says whether same-time ordering was a choice in the recorded run
    (a replay must ask the same questions). Text form, e.g.
    ``"ties:1/2,0/3"`` or ``"fifo:"`` for a run with no choices.
    """

    ties: bool
    picks: tuple[int, ...]
    counts: tuple[int, ...]
    whys: tuple[str, ...] = field(default=(), compare=False)

    def to_string(self) -> str:
        body = ",".join(f"{p}/{n}" for p, n in zip(self.picks, self.counts))
        return ("ties:" if self.ties else "fifo:") + body

    @classmethod
    def from_string(cls, text: str) -> "ChoiceTrace":
        """Parse :meth:`to_string` output; raises ValueError with a clear message."""
        mode, sep, body = text.strip().partition(":")
        if not sep or mode not in ("ties", "fifo"):
            raise ValueError(f"choice trace must start with 'ties:' or 'fifo:', got {text[:20]!r}")
        picks, counts = [], []
        for k, item in enumerate(filter(None, body.split(","))):
            p, slash, n = item.partition("/")
            if not slash or not p.isdigit() or not n.isdigit() or int(p) >= int(n):
                raise ValueError(f"choice {k} of the trace is {item!r}; expected PICK/COUNT with PICK < COUNT")
            picks.append(int(p))
            counts.append(int(n))
        return cls(mode == "ties", tuple(picks), tuple(counts))

    def __len__(self) -> int:
        return len(self.picks)

    def __str__(self) -> str:
        return self.to_string()


class Policy:
    """Base class: records every choice (unless ``record=False``); subclasses implement :meth:`_pick`.

    A long run that will not be replayed passes ``record=False``: the log of
    every choice would grow with the run.
    """

    #: When true the engine asks this policy to order same-time items.
    choose_ties = False

    def __init__(self, record: bool = True) -> None:
        self.record = record
        self.picks: list[int] = []
        self.counts: list[int] = []
        self.whys: list[str] = []

    def choose(self, n: int, why: str) -> int:
        """An index in ``range(n)``; ``why`` names the decision (for traces)."""
        i = self._pick(n, why)
        if not self.record:
            return i
        self.picks.append(i)
        self.counts.append(n)
        self.whys.append(why)
        return i

    def _pick(self, n: int, why: str) -> int:
        raise NotImplementedError

    def trace(self) -> ChoiceTrace:
        """What was chosen so far, as a replayable trace."""
        if not self.record:
            raise ValueError("this policy does not record its choices (record=False): no trace to replay")
        return ChoiceTrace(self.choose_ties, tuple(self.picks), tuple(self.counts), tuple(self.whys))


class SeededPolicy(Policy):
    """Uniform seeded choices; FIFO ties unless ``shuffle_ties`` (then ties are choices too)."""

    def __init__(self, seed: int = 0, shuffle_ties: bool = False, record: bool = True):
        super().__init__(record)
        self.seed = seed
        self.choose_ties = shuffle_ties
        self._rng = random.Random(seed)

    def _pick(self, n: int, why: str) -> int:
        return self._rng.randrange(n)


class FirstPolicy(Policy):
    """Always option 0: the 'most in order' run (FIFO ties unless asked)."""

    def __init__(self, choose_ties: bool = False):
        super().__init__()
        self.choose_ties = choose_ties

    def _pick(self, n: int, why: str) -> int:
        return 0


class ReplayPolicy(Policy):
    """Replays a :class:`ChoiceTrace`.

    ``on_exhausted``: ``"error"`` raises :class:`ReplayDivergence` when the
    program asks more questions than were recorded; ``"first"`` answers 0
    from then on (used to run a trace prefix, e.g. while shrinking).
    """

    def __init__(self, trace: ChoiceTrace | str, on_exhausted: str = "error"):
        super().__init__()
        if isinstance(trace, str):
            trace = ChoiceTrace.from_string(trace)
        if on_exhausted not in ("error", "first"):
            raise ValueError("on_exhausted must be 'error' or 'first'")
        self.recorded = trace
        self.choose_ties = trace.ties
        self.on_exhausted = on_exhausted

    def _pick(self, n: int, why: str) -> int:
        k = len(self.picks)
        rec = self.recorded
        if k >= len(rec.picks):
            if self.on_exhausted == "first":
                return 0
            raise ReplayDivergence(f"choice {k} ({why}, {n} options) is past the end of the recorded trace")
        if rec.counts[k] != n:
            raise ReplayDivergence(
                f"choice {k} ({why}) has {n} options but the trace recorded {rec.counts[k]}: "
                "the program or its configuration differs from the recorded run")
        return rec.picks[k]

    @property
    def complete(self) -> bool:
        """True if every recorded choice was used."""
        return len(self.picks) == len(self.recorded.picks)


class _DfsPolicy(Policy):
    """Follows a prefix, then takes option 0, recording everything (for :func:`explore`)."""

    def __init__(self, prefix: list[int], prefix_counts: list[int], choose_ties: bool, max_depth: int):
        super().__init__()
        self.prefix = prefix
        self.prefix_counts = prefix_counts
        self.choose_ties = choose_ties
        self.max_depth = max_depth

    def _pick(self, n: int, why: str) -> int:
        k = len(self.picks)
        if k >= self.max_depth:
            raise ExplorationLimit(f"one execution made more than {self.max_depth} choices (last: {why})")
        if k < len(self.prefix):
            i = self.prefix[k]
            if n != self.prefix_counts[k]:
                raise ExplorationLimit(
                    f"choice {k} ({why}) has {n} options on re-execution but had {self.prefix_counts[k]}: "
                    "the program is not deterministic given its choices")
            return i
        return 0


@dataclass
class Exploration:
    """Result of :func:`explore`: every outcome, how often, and one witness trace each."""

    executions: int
    outcomes: dict[Hashable, int]
    witnesses: dict[Hashable, ChoiceTrace]

    @property
    def outcome_set(self) -> set:
        return set(self.outcomes)


def explore(run_once: Callable[[Policy], Any], *, ties: bool = True,
            max_executions: int = 100_000, max_depth: int = 10_000) -> Exploration:
    """Enumerate every choice sequence of a program, depth first.

    ``run_once(policy)`` must build the whole system afresh with ``policy``,
    run it, and return a hashable outcome; it must be deterministic given the
    choices. Each distinct outcome keeps the trace of the first execution that
    produced it, so any outcome can be replayed with :class:`ReplayPolicy`.
    """
    outcomes: dict[Hashable, int] = {}
    witnesses: dict[Hashable, ChoiceTrace] = {}
    prefix: list[int] = []
    prefix_counts: list[int] = []
    executions = 0
    while True:
        if executions >= max_executions:
            raise ExplorationLimit(f"more than {max_executions} executions; the program is too large to enumerate")
        policy = _DfsPolicy(prefix, prefix_counts, ties, max_depth)
        outcome = run_once(policy)
        executions += 1
        if outcome not in outcomes:
            outcomes[outcome] = 0
            witnesses[outcome] = policy.trace()
        outcomes[outcome] += 1
        prefix = _next_prefix(policy.picks, policy.counts)
        if prefix is None:
            return Exploration(executions, outcomes, witnesses)
        prefix_counts = policy.counts[:len(prefix)]


def _next_prefix(picks: list[int], counts: list[int]) -> list[int] | None:
    """The next choice sequence in depth-first order, or None when all are done."""
    k = len(picks) - 1
    while k >= 0 and picks[k] + 1 >= counts[k]:
        k -= 1
    if k < 0:
        return None
    return picks[:k] + [picks[k] + 1]
