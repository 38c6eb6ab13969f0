"""Executions: each one a forked copy of the warm machine, run along a choice prefix, checked, and reported back.

A :class:`Session` builds the warm state of one configuration once
(:func:`sim.explore.scenarios.build_warm`). :meth:`Session.run` forks; the
child applies the driver configuration (barrier sites, a variant, small-ring
thresholds), turns explore mode on, follows the prefix, runs to quiescence,
checks the invariants and sends an :class:`Outcome` back through a pipe. So
every execution starts from the same bytes, costs only its own packets, and
changes nothing in the caller (patches and variants live and die in the
child). A variant file is loaded once, in the session.
"""
from __future__ import annotations

import gc
import logging
import os
import pickle
import traceback
from dataclasses import dataclass, field

from sim.engine import MS
from driver.platform.dma import DmaApiError
from sim.host.sched import Deadlock
from stack.core.bug import KernelBug
from stack.core.dynamic_queue_limits import DqlBug

from .checker import Checker, Violation
from .machine import make_explorable
from .policy import ExplorePolicy
from .record import Cells, Recorder
from .scenarios import ScenarioConfig, build_warm, set_thresholds, start
from .variant import load_variant

__all__ = ["DriverConfig", "Outcome", "Session", "QUIESCE_PS"]

#: How long an execution runs after t0: every delay option several times over, and the NIC's interrupt
#: moderation; the machine is quiescent well before.
QUIESCE_PS = 2 * MS


@dataclass(frozen=True)
class DriverConfig:
    """The driver under test: barrier sites overridden (name -> primitive, None = dropped) and a variant file."""

    sites: tuple[tuple[str, str | None], ...] = ()
    variant: str | None = None

    def describe(self) -> str:
        parts = [f"{n} {'dropped' if p is None else '-> ' + p}" for n, p in self.sites]
        if self.variant:
            parts.append(f"variant {os.path.basename(self.variant)}")
        return ", ".join(parts) or "the unmodified driver"


@dataclass
class Outcome:
    """What one execution did: its choices (as ranks), their count, deviations taken, and violations."""

    ranks: tuple[int, ...]
    choices: int
    deviations: int
    divergences: int
    violations: list[Violation]
    steps: list = field(default_factory=list)     # Step.as_tuple() of each question, when recorded
    rows: list = field(default_factory=list)      # sim.explore.record.Row of each step, when recorded
    reorderings: list = field(default_factory=list)   # Recorder.reorderings, when recorded
    where: dict = field(default_factory=dict)     # Recorder.where, when recorded
    taken: tuple = ()                             # the deviations made, by question (``why``)
    error: str | None = None                      # the model itself failed (a bug in igbsim)
    sites_run: frozenset = frozenset()            # the barrier sites this execution reached

    @property
    def violation(self) -> Violation | None:
        return min(self.violations, key=lambda v: v.time_ps) if self.violations else None


class Session:
    """One configuration's warm state, and executions forked from it."""

    def __init__(self, config: ScenarioConfig, driver: DriverConfig = DriverConfig(), *, hooks=None):
        if not hasattr(os, "fork"):
            raise RuntimeError("igbsim explore needs os.fork (Linux or macOS): each execution is a forked process")
        self.config = config
        self.driver = driver
        self.hooks = hooks          # hooks(system, checker) in the child before the run (timeline recording)
        self.warm = build_warm(config)
        self.executions = 0
        self._variants: dict[str, object] = {}   # path -> the Variant loaded once, applied in each child

    def variant(self, path: str | None):
        """The variant file at ``path``, loaded once (None for none)."""
        if path is None:
            return None
        if path not in self._variants:
            self._variants[path] = load_variant(path)
        return self._variants[path]

    def run(self, prefix: tuple[int, ...] = (), *, record: bool = False, steps: bool = False,
            driver: DriverConfig | None = None, tail=None, insertion=None, keyed=None) -> Outcome:
        """One execution along ``prefix`` (ranks; 0 after it) of ``driver`` (default: the session's).

        ``steps`` keeps the questions asked (what a search expands), ``record``
        those and the timeline rows (slower: every watched access is named); ``tail`` answers the
        questions after the prefix (random, PCT); ``insertion`` runs an extra
        barrier at one point and ``keyed`` (``{(why, occurrence): rank}``) follows the deviations by
        question instead of position (confirmation runs, :mod:`sim.explore.explain`).
        """
        driver = self.driver if driver is None else driver
        variant = self.variant(driver.variant)
        self.executions += 1
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:   # the child: run, report, and leave without running the parent's cleanups
            gc.disable()   # a short life: the collector would only copy pages
            os.close(rfd)
            logging.disable(logging.CRITICAL)   # the model's own warnings: the timeline reports what matters
            code = 0
            try:
                out = _execute(self.warm, driver, variant, prefix, record, self.hooks, tail, insertion, steps,
                               keyed)
                data = pickle.dumps(out)
            except BaseException:   # anything at all: report it rather than die silently
                data = pickle.dumps(Outcome((), 0, 0, 0, [], error=traceback.format_exc()))
                code = 1
            with os.fdopen(wfd, "wb") as f:
                f.write(data)
            os._exit(code)
        os.close(wfd)
        with os.fdopen(rfd, "rb") as f:
            data = f.read()
        os.waitpid(pid, 0)
        if not data:
            return Outcome((), 0, 0, 0, [], error="the execution's process died without a report")
        return pickle.loads(data)


def _execute(warm, driver: DriverConfig, variant, prefix, record: bool, hooks, tail=None,
             insertion=None, steps: bool = False, keyed=None) -> Outcome:
    """The child's work (module docstring)."""
    s = warm.system
    if driver.sites:
        s.kernel.sites.apply(dict(driver.sites))
    if variant is not None:
        variant.apply()
    set_thresholds(warm.config.ring_size, [vars(variant.module)] if variant is not None else [])
    checker = Checker(warm)
    checker.install()
    watch = checker.watch = make_explorable(s, on_store=checker.on_store)
    watch.insertion = insertion
    if record:
        recorder = checker.recorder = watch.recorder = Recorder(s, Cells(s))
        recorder.install()
    policy = ExplorePolicy(s.engine, tuple(prefix), record_steps=record or steps, tail=tail, keyed=keyed)
    policy.recorder = checker.recorder
    s.engine.policy = policy
    if hooks is not None:
        hooks(s, checker)
    counts = dict(s.host.site_counts)
    start(warm)
    s.engine.call_later(1, checker.probe)   # 1 ps after t0: the racing instant is over
    try:
        s.run_for(QUIESCE_PS)
    except KernelBug as exc:
        checker.kernel_bug(exc)
    except DqlBug as exc:   # BQL's BUG_ON: completed more than was queued
        checker.violate("bql", None, None, str(exc).splitlines()[0])
    except DmaApiError as exc:   # the DMA-API debug report: an unmap of what is not mapped (a double free)
        checker.violate("dma-api", None, None, str(exc).splitlines()[0])
    except Deadlock as exc:
        checker.kernel_bug(exc)
    checker.finish()
    sites_run = frozenset(n for n, c in s.host.site_counts.items() if c > counts.get(n, 0))
    return Outcome(tuple(policy.ranks) if tail is not None else policy.trace_ranks(), len(policy.ranks), policy.deviations, policy.divergences,
                   checker.violations,
                   steps=[st.as_tuple() for st in policy.steps],
                   rows=checker.recorder.rows if record else [], sites_run=sites_run,
                   reorderings=checker.recorder.reorderings if record else [],
                   where=checker.recorder.where if record else {}, taken=tuple(policy.taken))
