"""Executions: each one a forked copy of the warm machine, run along a choice prefix, checked, and reported back.

A :class:`Session` builds the warm state of one configuration once
(:func:`sim.explore.scenarios.build_warm`). :meth:`Session.run` forks; the
child applies the driver configuration (barrier sites, a variant, small-ring
thresholds), turns explore mode on, follows the prefix, runs to quiescence,
checks the invariants and sends an :class:`Outcome` back through a pipe. So
every execution starts from the same bytes, costs only its own packets, and
changes nothing in the caller (patches and variants live and die in the
child). Without ``os.fork`` (not POSIX) the execution runs in-process on a
warm state built afresh.
"""
from __future__ import annotations

import os
import pickle
import traceback
from dataclasses import dataclass, field

from sim.engine import MS
from stack.core.bug import KernelBug

from .checker import Checker, Violation
from .machine import make_explorable
from .policy import ExplorePolicy
from .scenarios import ScenarioConfig, build_warm, set_thresholds, start

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
    steps: list = field(default_factory=list)     # (k, why, n, rank, label, time) when recorded
    events: list = field(default_factory=list)    # (time, lane, text) when recorded
    error: str | None = None                      # the model itself failed (a bug in igbsim)

    @property
    def violation(self) -> Violation | None:
        return min(self.violations, key=lambda v: v.time_ps) if self.violations else None


class Session:
    """One configuration's warm state, and executions forked from it."""

    def __init__(self, config: ScenarioConfig, driver: DriverConfig = DriverConfig(), *, hooks=None):
        self.config = config
        self.driver = driver
        self.hooks = hooks          # hooks(system, checker) in the child before the run (timeline recording)
        self.warm = build_warm(config)
        self.executions = 0

    def run(self, prefix: tuple[int, ...] = (), *, record: bool = False, extra_sites=(), tail=None) -> Outcome:
        """One execution along ``prefix`` (ranks; 0 after it); ``record`` keeps its steps and events."""
        self.executions += 1
        if not hasattr(os, "fork"):
            return _execute(Session._fresh(self), self.driver, prefix, record, extra_sites, self.hooks, tail)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:   # the child: run, report, and leave without running the parent's cleanups
            os.close(rfd)
            code = 0
            try:
                out = _execute(self.warm, self.driver, prefix, record, extra_sites, self.hooks, tail)
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

    @staticmethod
    def _fresh(session) -> object:
        return build_warm(session.config)


def _execute(warm, driver: DriverConfig, prefix, record: bool, extra_sites, hooks, tail=None) -> Outcome:
    """The child's work (module docstring)."""
    s = warm.system
    set_thresholds(warm.config.ring_size)
    sites = dict(driver.sites)
    sites.update(dict(extra_sites))
    if sites:
        s.kernel.sites.reset()
        s.kernel.sites.apply(sites)
    if driver.variant:
        from .variant import load_variant   # (only executions with a variant need it)
        load_variant(driver.variant).apply()
    checker = Checker(warm)
    checker.install()
    make_explorable(s, on_store=checker.on_store)
    policy = ExplorePolicy(s.engine, tuple(prefix), record_steps=record, tail=tail)
    s.engine.policy = policy
    if hooks is not None:
        hooks(s, checker)
    start(warm)
    try:
        s.run_for(QUIESCE_PS)
    except KernelBug as exc:
        checker.kernel_bug(exc)
    except RuntimeError as exc:
        if type(exc).__name__ != "Deadlock":
            raise
        checker.kernel_bug(exc)
    checker.finish()
    return Outcome(tuple(policy.ranks) if tail is not None else policy.trace_ranks(), len(policy.ranks), policy.deviations, policy.divergences,
                   checker.violations,
                   steps=[(st.k, st.why, st.n, st.rank, st.label, st.time_ps) for st in policy.steps],
                   events=checker.events if record else [])
