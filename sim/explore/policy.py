"""The explorer's choice policy: every option ranked so that rank 0 is the in-order one, and a budget of the rest.

Each question the model asks (``engine.choose_index(n, why)``) is answered
by a *rank*: 0 is the default, the in-order behaviour, and any other rank is
one *deviation* from it, costing 1 of the execution's budget:

* ``tie`` (same-time items, see :meth:`ExplorePolicy._tie_options`): the
  default runs the newest item — what just ran, continuing after its
  interleaving point — so a CPU keeps running until it waits; rank
  ``r > 0`` runs the ``r``-th other CPU context instead: a preemption
  (free at the execution's first tie: which actor starts);
* ``visible cpuN ADDR``, ``stall cpuN``, ``stale-load cpuN ADDR``
  (:mod:`sim.explore.machine`): 0 is the in-order answer (the store is
  visible, the CPU goes on, the load returns the newest value — or what a
  deviation already showed it); 1 or more is a reordering or a delay;
* ``msi-latency``, ``nic dma-read-jitter``: option 0 is the shortest; a
  longer one is a delayed device event;
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
    """Who a ready item belongs to: ``cpuN`` (a context on CPU N), ``nic`` (device and timer events), or
    ``kernel`` (work about to start a context: a task's start, an interrupt being raised)."""
    fn = getattr(item, "fn", None)
    if fn is None:                                   # an Event: a device process or a timer waking up
        return "nic"
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    run_index = getattr(owner, "index", None)
    if run_index is not None and hasattr(owner, "cpu"):
        return f"cpu{run_index}"
    if name == "irq_inject_interrupt":               # an interrupt about to start on its vector's CPU
        return f"cpu{owner.cpu_of(item.args[0])}"
    if isinstance(getattr(owner, "cpu", None), int):   # a program about to start on its CPU
        return f"cpu{owner.cpu}"
    if name == "task":
        return f"cpu{item.args[1]}"
    qual = getattr(fn, "__qualname__", name)
    if qual.startswith(("Msi", "Nic", "Tx", "Mac", "Dma", "Interrupt", "Wire")):
        return "nic"
    return "kernel"


class Step:
    """One answered question: ``why``, options offered, the rank taken, its cost, the option's label, when.

    ``cost``: 1 for a deviation (a preemption, a store kept buffered, a stale
    load, a delay, a fault), 0 for a free choice (which actor starts first),
    ``None`` for a question the search does not branch on (one option).
    """

    __slots__ = ("k", "why", "n", "rank", "label", "time_ps", "cost")

    def __init__(self, k: int, why: str, n: int, rank: int, label: str, time_ps: int, cost):
        self.k, self.why, self.n, self.rank, self.label, self.time_ps, self.cost = k, why, n, rank, label, time_ps, cost

    def as_tuple(self) -> tuple:
        return (self.k, self.why, self.n, self.rank, self.label, self.time_ps, self.cost)


def _is_context(label: str) -> bool:
    return label.startswith("cpu") or label == "kernel"


class ExplorePolicy(Policy):
    """Ranks every question's options (module docstring); follows ``prefix``, then rank 0."""

    choose_ties = True

    def __init__(self, engine, prefix: tuple[int, ...] = (), *, record_steps: bool = False,
                 tail=None, keyed: dict | None = None):
        super().__init__()
        #: Instead of a prefix: ``{(why, occurrence): rank}`` -- the same deviations, found by what is
        #: asked rather than by position (a re-run with a barrier added asks fewer or other questions).
        self.keyed = keyed
        self._seen: dict[str, int] = {}
        #: After the prefix: None answers 0; a callable ``tail(k, n, why)`` answers the rank (random, PCT).
        self.tail = tail
        self.engine = engine
        self.prefix = prefix
        self.ranks: list[int] = []
        self.deviations = 0
        self.divergences = 0
        self.record_steps = record_steps
        self.steps: list[Step] = []
        self._tied = False    # a tie was asked already (the first one is free)
        self.recorder = None  # a Recorder: deviations become timeline rows
        self.taken: list[str] = []   # the deviations made, by question

    def _rank(self, k: int, n: int, why: str) -> int:
        if self.keyed is not None:
            occurrence = self._seen[why] = self._seen.get(why, 0) + 1
            rank = self.keyed.get((why, occurrence), 0)
            return rank if rank < n else 0
        if k < len(self.prefix):
            rank = self.prefix[k]
        else:
            rank = self.tail(k, n, why) if self.tail is not None and n > 1 else 0
        if rank >= n:
            self.divergences += 1
            rank = 0
        return rank

    def _pick(self, n: int, why: str) -> int:
        k = len(self.ranks)
        if why == "tie":
            options, cost = self._tie_options(n)
            label_of = self.engine.ready_items()
        else:
            options, cost = range(n), 1
        m = len(options)
        rank = self._rank(k, m, why)
        self.ranks.append(rank)
        if rank and cost:
            self.deviations += 1
            self.taken.append(why)
        i = options[rank]
        if self.record_steps:
            label = actor_of(label_of[i]) if why == "tie" else ""
            self.steps.append(Step(k, why, m, rank, label, self.engine.now, cost if m > 1 else None))
            if rank and cost and self.recorder is not None:
                self._record_deviation(why, label)
        return i

    def _record_deviation(self, why: str, label: str) -> None:
        """A timeline row for a deviation the machine does not report itself (visible/stale rows come from it)."""
        if why == "tie":
            self.recorder.row(label if label.startswith("cpu") else "nic", "runs first: a preemption", mark="⚡")
        elif why.startswith("stall"):
            self.recorder.row(why.split()[1], "held up 20 us after its device write", mark="⚡")
        elif why.startswith("fault"):
            self.recorder.row(self.recorder.running_lane(), f"{why.split()[1]} fails (injected)", mark="⚡")
        elif not why.startswith(("visible", "stale-load")):
            self.recorder.row("nic", f"{why}: delayed", mark="⚡")

    def _tie_options(self, n: int) -> tuple[list[int], int]:
        """The indices a tie offers, default first, and what another rank costs.

        The default is the newest item: what just ran, continuing after its
        interleaving point (or what it just started). The alternatives are
        the other CPU contexts (and interrupts about to start) in FIFO order;
        ties among device and timer events alone are not branched on (their
        timing is explored through the delay questions). Choosing another
        context costs 1 (a preemption), except at the execution's first tie,
        where nothing has run yet: which actor starts is free.
        """
        items = self.engine.ready_items()
        others = [i for i in range(n - 1) if _is_context(actor_of(items[i]))]
        if not others:
            return [n - 1], None
        first, self._tied = not self._tied, True
        return [n - 1, *others], 0 if first else 1

    def trace_ranks(self) -> tuple[int, ...]:
        """The ranks answered, without trailing defaults (the canonical choice string)."""
        r = list(self.ranks)
        while r and r[-1] == 0:
            r.pop()
        return tuple(r)
