"""``igbsim explore`` and ``igbsim replay``: the commands, their options, checks, output and exit status.

Exit status: 0 when no violation was found within the bound, 1 when one
was (its timeline, the barrier that forbids it and a ``replay: TOKEN`` line
are printed), 2 on bad input (one line on stderr). Output files
(``--json``, ``--perfetto``) are checked before anything runs.
"""
from __future__ import annotations

import json
import os
import sys

from driver.igb.sites import SITE
from driver.platform.sites import SITE_PRIMITIVES, weaker_primitives
from sim.host.ordering import PROFILES

from .config import EXPLORE_PROFILES, ScenarioConfig
from .options import JSON_SCHEMA

__all__ = ["run_explore", "run_replay"]


# --- checking the options ------------------------------------------------------------------------------------
def _sites(opts) -> tuple[tuple[str, str | None], ...]:
    """The site overrides asked for, checked against the driver's sites: ValueError with one line."""
    out: dict[str, str | None] = {}
    named = opts.drop + opts.relax + [item.partition("=")[0] for item in opts.barrier]
    twice = sorted({n for n in named if named.count(n) > 1})
    if twice:
        raise ValueError(f"site {twice[0]} is given more than once (--drop, --relax, --barrier): choose one change")
    for name in opts.drop:
        _site(name)
        out[name] = None
    for name in opts.relax:
        prim = _site(name).primitive
        if prim not in ("writel", "readl"):
            raise ValueError(f"--relax {name}: it is a {prim}, not an ordered MMIO accessor (use --drop or --barrier)")
        out[name] = prim + "_relaxed"
    for item in opts.barrier:
        name, eq, prim = item.partition("=")
        site = _site(name)
        if not eq or prim not in SITE_PRIMITIVES:
            raise ValueError(f"--barrier {item}: expected SITE=PRIMITIVE with one of {', '.join(SITE_PRIMITIVES)}")
        if prim != site.primitive and prim not in weaker_primitives(site.primitive):
            weaker = ", ".join(sorted(weaker_primitives(site.primitive))) or "none"
            raise ValueError(f"--barrier {item}: {prim} is not weaker than {site.primitive} (weaker: {weaker})")
        out[name] = prim
    return tuple(out.items())


def _site(name: str):
    site = SITE.get(name)
    if site is None:
        near = [n for n in SITE if n.split(".")[0] in name or name.split(".")[0] in n][:4]
        raise ValueError(f"unknown barrier site {name!r}" + (f" (did you mean {', '.join(near)}?)" if near else
                                                           "; igb's sites are listed in driver/igb/sites.py"))
    return site


def _profiles(names: list[str] | None, matrix: bool) -> list[str]:
    if names is None:
        return list(EXPLORE_PROFILES) if matrix else ["arm64"]
    if names == ["all"]:
        return list(EXPLORE_PROFILES)
    for n in names:
        if n not in PROFILES or n == "sc":
            raise ValueError(f"unknown profile {n!r}; choose from {', '.join(EXPLORE_PROFILES)} or all")
    return names


def _writable(path: str | None, option: str) -> None:
    """ValueError (one line) unless ``path`` can be written (checked before a long search, not after)."""
    if path is None:
        return
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path}: cannot write in {parent}")


def _check(opts):
    """Everything about the options that can be wrong, as ValueError with one line; the parsed parts."""
    profiles = _profiles(opts.profile, opts.matrix)
    sites = _sites(opts)
    if opts.budget < 0:
        raise ValueError(f"--budget {opts.budget}: a number of deviations, 0 or more")
    if opts.runs is not None and opts.runs < 1 or opts.time is not None and opts.time <= 0:
        raise ValueError("--runs and --time must be positive")
    if opts.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if opts.matrix and (sites or opts.variant):
        raise ValueError("--matrix sets the barrier sites itself: leave out --drop, --relax, --barrier and --variant")
    if opts.matrix and (opts.ring is not None or opts.cpus != 2 or opts.itr != 3 or opts.wthresh is not None
                        or opts.mode != "exhaustive" or opts.runs is not None or opts.time is not None):
        raise ValueError("--matrix searches each scenario's defaults exhaustively: it takes --profile, --scenario, "
                         "--packets, --budget, --jobs and --json only")
    _writable(opts.json, "--json")
    _writable(opts.perfetto, "--perfetto")
    variant = None
    if opts.variant:
        from .variant import load_variant   # (loads the driver: only once the other options are fine)
        variant = str(load_variant(opts.variant).path)
    if opts.matrix:
        scenarios = [opts.scenario] if opts.scenario else ["tx", "tx-full", "tx-burst"]
    else:
        scenarios = [opts.scenario or "tx"]
    configs = [ScenarioConfig(sc, p, opts.packets if not opts.matrix else opts.packets or 2, opts.ring, opts.cpus,
                              opts.itr, opts.wthresh) for p in profiles for sc in scenarios]
    for c in configs:
        c.check()
    return profiles, sites, variant, configs


# --- explore -------------------------------------------------------------------------------------------------
def run_explore(opts) -> int:
    """``igbsim explore``: the search per profile, or the matrix; 0, 1 or 2 (module docstring)."""
    try:
        profiles, sites, variant, configs = _check(opts)
    except ValueError as exc:
        print(f"igbsim: error: {exc}", file=sys.stderr)
        return 2
    try:
        if opts.matrix:
            return _matrix(opts, profiles)
        return _explore(opts, sites, variant, configs)
    except (OSError, ExploreError) as exc:
        print(f"igbsim: error: {exc}", file=sys.stderr)
        return 2


class ExploreError(RuntimeError):
    """The model failed inside an execution, or a result could not be reproduced: one line for the user."""


def _explore(opts, sites, variant, configs) -> int:
    from .runner import DriverConfig   # (loads the model: only once the options are checked)
    driver = DriverConfig(sites, variant)
    status, results = 0, []
    for config in configs:
        if config.below_minimum:
            print(f"note: a ring of {config.ring_size} descriptors is below igb's minimum (64); "
                  "DESC_NEEDED and TX_WAKE_THRESHOLD are scaled to it")
        result = _explore_one(opts, config, driver, len(configs) > 1)
        results.append(result)
        status = max(status, 1 if result["violation"] else 0)
    if opts.json:
        _write_json(opts.json, {"schema": JSON_SCHEMA, "command": "explore", "results": results})
    return status


def _search(opts, session):
    from .search import bounded_search, pct_search, random_search   # (loads the model)
    with _progress(f"{session.config.profile} {opts.mode}", opts) as tick:
        if opts.mode == "exhaustive":
            return bounded_search(session, opts.budget, time_s=opts.time, max_runs=opts.runs, progress=tick)
        search = random_search if opts.mode == "random" else pct_search
        return search(session, seed=opts.seed, runs=opts.runs or 1000, time_s=opts.time, progress=tick)


def _explore_one(opts, config, driver, several: bool) -> dict | None:
    """Search one profile and print what was found; its JSON result (ExploreError: the model failed)."""
    from .runner import Session   # (loads the model)
    from .shrink import shrink   # (idem)
    from .token import encode   # (idem)
    session = Session(config, driver)
    result = _search(opts, session)
    head = f"{config.profile} · {config.scenario} · {driver.describe()}"
    out = {"profile": config.profile, "scenario": config.scenario, "driver": driver.describe(),
           "mode": opts.mode, "executions": result.executions, "budget": result.budget,
           "exhaustive": result.exhaustive, "stopped": result.stopped, "violation": None}
    if result.stopped.startswith("error"):
        raise ExploreError(f"{head}: the model failed ({result.stopped})")
    if result.found is None:
        print(f"{head}: {_none_line(result, opts)} — {config.profile}: {PROFILES[config.profile].notes}")
        return out
    found = result.found if opts.mode == "exhaustive" else shrink(session, result.found)
    token = encode(config, driver, found.ranks)
    text, shown, why = _show(session, found.ranks, head)
    if shown.violation is None:
        raise ExploreError(f"{head}: the violation found did not reproduce when recorded (a bug in igbsim)")
    print(text, end="")
    print(f"replay: {token}")
    if opts.perfetto:
        from .perfetto import write_trace   # (only when asked for)
        path = _per_profile(opts.perfetto, config.profile) if several else opts.perfetto
        write_trace(shown, path, title=head)
    v = shown.violation
    out["violation"] = {"invariant": v.invariant, "packet": v.packet, "slot": v.slot, "time_ps": v.time_ps,
                        "detail": v.detail, "deviations": found.deviations,
                        "barrier": why and {"primitive": why.barrier, "where": why.where, "confirmed": why.confirmed},
                        "token": token, "timeline": [[r.time_ps, r.lane, r.text, r.mark] for r in shown.rows]}
    return out


def _show(session, ranks, head: str):
    """The recorded execution along ``ranks``: its printed timeline and explanation, the outcome, the explanation."""
    from .explain import explain   # (loads the model)
    from .timeline import render   # (idem)
    shown = session.run(ranks, record=True)
    if shown.error:
        raise ExploreError(f"{head}: the model failed ({shown.error.strip().splitlines()[-1]})")
    if shown.violation is None:
        return f"{head}: no violation on this execution\n", shown, None
    why = explain(session, shown)
    return render(shown, header=f"{head}: {shown.violation.line()}",
                  explanation=why.line() if why else "no barrier named: nothing was reordered, or the deviations do "
                                                     "not reproduce it when followed by question"), shown, why


def _per_profile(path: str, profile: str) -> str:
    root, ext = os.path.splitext(path)
    return f"{root}-{profile}{ext}"


def _none_line(result, opts) -> str:
    if result.budget is not None and result.exhaustive:
        return f"no violation with at most {result.budget} deviations (exhaustive, {result.executions} executions)"
    if opts.mode == "exhaustive":
        done = "none" if result.budget is None else f"at most {result.budget}"
        return (f"no violation in {result.executions} executions; stopped by --{result.stopped} "
                f"(bound searched exhaustively: {done})")
    return f"no violation in {result.executions} {opts.mode} executions (seed {opts.seed}; not exhaustive)"


def _matrix(opts, profiles) -> int:
    from .matrix import cells, format_table, run_matrix   # (loads the model)
    scenarios = (opts.scenario,) if opts.scenario else ("tx", "tx-full", "tx-burst")
    with _progress("matrix", opts) as tick:
        try:
            verdicts = run_matrix(profiles, scenarios=scenarios, packets=opts.packets or 2, budget=opts.budget,
                                  jobs=opts.jobs, progress=tick)
        except RuntimeError as exc:
            raise ExploreError(str(exc)) from None
    print(format_table(verdicts), end="")
    if opts.json:
        _write_json(opts.json, {"schema": JSON_SCHEMA, "command": "matrix", "budget": opts.budget,
                                "scenarios": list(scenarios), "cells": [v.as_dict() for v in verdicts]})
    return 1 if any(v.invariant for v in verdicts) else 0


def _write_json(path: str, doc: dict) -> None:
    from .perfetto import write_atomically   # (the one writer of whole-or-nothing files)
    write_atomically(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


class _progress:
    """A rich progress line on stderr while a search runs (executions so far), off when stderr is not a terminal."""

    def __init__(self, what: str, opts):
        self.what = what
        self.live = sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        if not self.live:
            return None
        try:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn   # (a terminal only)
        except ImportError:
            return None
        # no refresh thread: executions fork, and a thread holding the console lock must not be copied
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed} executions"),
                            TimeElapsedColumn(), transient=True, auto_refresh=False)
        self.bar.start()
        task = self.bar.add_task(self.what, total=None)

        def tick(n: int) -> None:
            self.bar.update(task, completed=n)
            self.bar.refresh()
        return tick

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


# --- replay --------------------------------------------------------------------------------------------------
def run_replay(opts) -> int:
    """``igbsim replay TOKEN``: 1 when the violation reproduces, 0 when it does not, 2 on a bad token."""
    from .token import TokenError, decode   # (loads the model)
    try:
        config, driver, ranks = decode(opts.token)
        config.check()
        _writable(opts.perfetto, "--perfetto")
        from .runner import Session   # (idem)
        session = Session(config, driver)
        head = f"{config.profile} · {config.scenario} · {driver.describe()}"
        text, shown, _ = _show(session, ranks, head)
        print(text, end="")
        if opts.perfetto:
            from .perfetto import write_trace   # (only when asked for)
            write_trace(shown, opts.perfetto, title=head)
    except (TokenError, ValueError, OSError, ExploreError) as exc:
        print(f"igbsim: error: {exc}", file=sys.stderr)
        return 2
    return 1 if shown.violation is not None else 0
