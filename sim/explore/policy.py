"""The explorer's choice policy: every option ranked so that rank 0 is the in-order one, and a budget of the rest.

Each question the model asks (``engine.choose_index(n, why)``) is answered
by a *rank*: 0 is the default, the in-order behaviour, and any other rank is
one *deviation* from it, costing 1 of the execution's budget:

* ``tie`` (same-time items): the default runs a store buffer's drain step
  first (a store becomes visible as soon as it can: in order), then the
  actor that ran last (no preemption: a CPU keeps running until it waits),
  then the others in FIFO order. Another rank is a delayed drain or a
  preemption;
* ``drain cpuN``: which eligible buffered store becomes visible; the oldest
  is the default, a younger one is an out-of-order drain;
* ``drain-latency cpuN``, ``msi-latency``, ``nic dma-read-jitter``: option 0
  is the shortest; a longer one is a delayed drain or device event;
* ``stale-load cpuN ADDR``: option 0 is the newest value; an older one is a
  stale load;
* ``fault …`` (:mod:`sim.explore.scenarios`): 0 succeeds, 1 fails.

An execution follows a *prefix* of ranks and answers 0 after it. The
prefix is followed tolerantly: a rank at or past the number of options
offered falls back to 0 and is counted as a divergence, so a shrunk or
edited choice string still runs (ddmin, :mod:`sim.explore.shrink`).
"""
from __future__ import annotations

from sim.engine.choice import Policy

__all__ = ["ExplorePolicy", "actor_of", "Step"]


def actor_of(item) -> str:
    """Who a ready item belongs to: ``cpuN`` (a context on CPU N), ``sbN`` (CPU N's drain step), ``nic``, …."""
    fn = getattr(item, "fn", None)
    if fn is None:                                   # an Event: a device process or a timer waking up
        return "nic"
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    if name == "_drain_step":
        return f"sb{owner.index}"
    run_index = getattr(owner, "index", None)
    if run_index is not None and hasattr(owner, "cpu"):
        return f"cpu{run_index}"
    qual = getattr(fn, "__qualname__", name)
    if qual.startswith(("Msi", "Nic", "Tx", "Mac", "Dma", "Interrupt", "Wire")):
        return "nic"
    return "kernel"


class Step:
    """One answered question: ``why``, how many options, the rank taken, and the option's label."""

    __slots__ = ("k", "why", "n", "rank", "label", "time_ps")

    def __init__(self, k: int, why: str, n: int, rank: int, label: str, time_ps: int):
        self.k, self.why, self.n, self.rank, self.label, self.time_ps = k, why, n, rank, label, time_ps


class ExplorePolicy(Policy):
    """Ranks every question's options (module docstring); follows ``prefix``, then rank 0."""

    choose_ties = True

    def __init__(self, engine, prefix: tuple[int, ...] = (), *, record_steps: bool = False,
                 tail=None):
        super().__init__()
        #: After the prefix: None answers 0; a callable ``tail(k, n, why)`` answers the rank (random, PCT).
        self.tail = tail
        self.engine = engine
        self.prefix = prefix
        self.ranks: list[int] = []
        self.deviations = 0
        self.divergences = 0
        self.record_steps = record_steps
        self.steps: list[Step] = []
        self._last_actor = ""

    def _pick(self, n: int, why: str) -> int:
        k = len(self.ranks)
        if k < len(self.prefix):
            rank = self.prefix[k]
        else:
            rank = self.tail(k, n, why) if self.tail is not None else 0
        if rank >= n:
            self.divergences += 1
            rank = 0
        self.ranks.append(rank)
        if rank:
            self.deviations += 1
        if why == "tie":
            order = self._tie_order(n)
            i = order[rank]
            label = actor_of(self.engine.ready_items()[i])
            if not label.startswith("sb"):
                self._last_actor = label
        else:
            i = rank
            label = ""
        if self.record_steps:
            self.steps.append(Step(k, why, n, rank, label, self.engine.now))
        return i

    def _tie_order(self, n: int) -> list[int]:
        """Ready indices, default first: drain steps, then the last actor's items, then FIFO."""
        items = self.engine.ready_items()
        labels = [actor_of(items[i]) for i in range(n)]
        same = [i for i in range(n) if labels[i] == self._last_actor]
        rest = [i for i in range(n) if labels[i] != self._last_actor]
        return same + rest

    def trace_ranks(self) -> tuple[int, ...]:
        """The ranks answered, without trailing defaults (the canonical choice string)."""
        r = list(self.ranks)
        while r and r[-1] == 0:
            r.pop()
        return tuple(r)
