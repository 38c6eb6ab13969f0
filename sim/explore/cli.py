"""``igbsim explore`` and ``igbsim replay``: the commands, their options, checks and exit status.

Exit status: 0 when no violation was found within the bound, 1 when one was
(its timeline and a ``replay: TOKEN`` line are printed), 2 on bad input
(one line on stderr).
"""
from __future__ import annotations

import sys

from driver.igb.sites import SITE
from driver.platform.sites import SITE_PRIMITIVES, weaker_primitives
from sim.host.ordering import PROFILES

from .scenarios import SCENARIOS, ScenarioConfig

__all__ = ["add_parsers", "run_explore", "run_replay", "EXPLORE_PROFILES"]

#: The profiles ``--profile all`` means (``sc`` has no store buffer: nothing to explore).
EXPLORE_PROFILES = ("x86-tso", "arm64", "power", "riscv")


def add_parsers(sub) -> None:
    """The ``explore`` and ``replay`` subcommands of ``igbsim``."""
    e = sub.add_parser("explore", help="search the driver's orderings for DMA and barrier bugs")
    e.add_argument("--scenario", default="tx", choices=SCENARIOS,
                   help="; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values()) + " (default: tx)")
    e.add_argument("--profile", nargs="+", default=["arm64"], metavar="P",
                   help=f"ordering profiles: {', '.join(EXPLORE_PROFILES)} or all (default: arm64)")
    e.add_argument("--drop", action="append", default=[], metavar="SITE", help="remove the barrier at SITE")
    e.add_argument("--relax", action="append", default=[], metavar="SITE",
                   help="writel -> writel_relaxed, readl -> readl_relaxed at SITE")
    e.add_argument("--barrier", action="append", default=[], metavar="SITE=PRIMITIVE",
                   help="run PRIMITIVE (a weaker one) at SITE")
    e.add_argument("--variant", default=None, metavar="FILE.py",
                   help="replacement driver functions, defined under their Linux names")
    e.add_argument("--packets", type=int, default=None, help="packets in the scenario (default: its own)")
    e.add_argument("--ring", type=int, default=None, help="descriptors in the ring (8..4096, multiple of 8)")
    e.add_argument("--cpus", type=int, default=2, help="CPUs (default 2)")
    e.add_argument("--itr", type=int, default=3, help="ethtool -C rx-usecs (default 3: dynamic)")
    e.add_argument("--wthresh", type=int, default=None, help="TXDCTL.WTHRESH (default: the driver's)")
    e.add_argument("--mode", choices=("exhaustive", "random"), default="random",
                   help="random walks (default) or every execution with at most --budget deviations")
    e.add_argument("--budget", type=int, default=2, help="deviations for --mode exhaustive (default 2)")
    e.add_argument("--runs", type=int, default=1000, help="most executions per profile (default 1000)")
    e.add_argument("--time", type=float, default=None, help="most seconds per profile")
    e.add_argument("--seed", type=int, default=0, help="first random seed (default 0)")
    r = sub.add_parser("replay", help="re-run the execution a replay token names and print its timeline")
    r.add_argument("token", help="the token after 'replay:' in explore's output")


def _sites(opts) -> tuple[tuple[str, str | None], ...]:
    """The site overrides asked for, checked against the driver's sites: ValueError with one line."""
    out: dict[str, str | None] = {}
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


def _profiles(names: list[str]) -> list[str]:
    if names == ["all"]:
        return list(EXPLORE_PROFILES)
    for n in names:
        if n not in PROFILES or n == "sc":
            raise ValueError(f"unknown profile {n!r}; choose from {', '.join(EXPLORE_PROFILES)} or all")
    return names


def run_explore(opts) -> int:
    """``igbsim explore``: the search per profile; 0, 1 or 2 (module docstring)."""
    from .runner import DriverConfig, Session   # (after the options are checked)
    from .search import bounded_search, random_search   # (loads the model: only once the options are checked)
    from .shrink import shrink   # (loads the model: only once the options are checked)
    from .timeline import render   # (loads the model: only once the options are checked)
    from .token import encode   # (loads the model: only once the options are checked)
    try:
        profiles = _profiles(opts.profile)
        sites = _sites(opts)
        if opts.budget < 0:
            raise ValueError(f"--budget {opts.budget}: a number of deviations, 0 or more")
        if opts.runs < 1 or (opts.time is not None and opts.time <= 0):
            raise ValueError("--runs and --time must be positive")
        variant = None
        if opts.variant:
            from .variant import load_variant   # (only when asked for)
            variant = str(load_variant(opts.variant).path)
        configs = [ScenarioConfig(opts.scenario, p, opts.packets, opts.ring, opts.cpus, opts.itr, opts.wthresh)
                   for p in profiles]
        for c in configs:
            c.check()
    except ValueError as exc:
        print(f"igbsim: error: {exc}", file=sys.stderr)
        return 2
    driver = DriverConfig(sites, variant)
    status = 0
    for config in configs:
        if config.below_minimum:
            print(f"note: a ring of {config.ring_size} descriptors is below igb's minimum (64); "
                  "DESC_NEEDED and TX_WAKE_THRESHOLD are scaled to it")
        session = Session(config, driver)
        if opts.mode == "exhaustive":
            result = bounded_search(session, opts.budget, time_s=opts.time, max_runs=opts.runs)
        else:
            result = random_search(session, seed=opts.seed, runs=opts.runs, time_s=opts.time)
        head = f"{config.profile} · {config.scenario} · {driver.describe()}"
        if result.stopped.startswith("error"):
            print(f"{head}: the model failed: {result.stopped}", file=sys.stderr)
            return 2
        if result.found is None:
            print(f"{head}: {_none_line(result, opts)}")
            continue
        status = 1
        found = shrink(session, result.found)
        shown = session.run(found.ranks, record=True)
        print(render(shown, header=f"{head}: {shown.violation.line() if shown.violation else 'violation'}"))
        print(f"replay: {encode(config, driver, found.ranks)}")
    return status


def _none_line(result, opts) -> str:
    if result.budget is not None and result.exhaustive:
        return f"no violation with at most {result.budget} deviations (exhaustive, {result.executions} executions)"
    if opts.mode == "exhaustive":
        done = "none" if result.budget is None else f"at most {result.budget}"
        return (f"no violation in {result.executions} executions; stopped by --{result.stopped} "
                f"(bound searched exhaustively: {done})")
    return f"no violation in {result.executions} random executions (seed {opts.seed}; not exhaustive)"


def run_replay(opts) -> int:
    """``igbsim replay TOKEN``: 1 when the violation reproduces, 0 when it does not, 2 on a bad token."""
    from .runner import Session   # (after the token is checked)
    from .timeline import render   # (loads the model: only once the options are checked)
    from .token import TokenError, decode   # (loads the model: only once the options are checked)
    try:
        config, driver, ranks = decode(opts.token)
        config.check()
    except (TokenError, ValueError) as exc:
        print(f"igbsim: error: {exc}", file=sys.stderr)
        return 2
    out = Session(config, driver).run(ranks, record=True)
    head = f"{config.profile} · {config.scenario} · {driver.describe()}"
    if out.violation is None:
        print(f"{head}: no violation on replay")
        return 0
    print(render(out, header=f"{head}: {out.violation.line()}"))
    return 1
