"""The ordering explorer's speed: executions per second, time to a counterexample, a bounded-exhaustive pass.

Three figures, for :mod:`sim.explore` (each execution a forked copy of a
warm machine, :class:`sim.explore.runner.Session`):

1. executions per wall-clock second of the ``tx`` scenario with 3 packets,
   per ordering profile: ``n`` executions along the in-order prefix ``()``
   and ``n`` random ones (``RandomTail(seed, 0.05)``, seeds 0 .. n-1, the
   same in every repeat), the median of ``repeats`` timings; the warm build
   (``Session(...)``, once per configuration) is timed apart (median too);
2. the time to the first counterexample: arm64, ``igb_tx_map.publish``
   dropped and ``igb_tx_map.doorbell`` relaxed to ``writel_relaxed``,
   ``tx`` with 2 packets, the default search ``bounded_search(ses, 2)``,
   warm build included (goal < 1 s), median of ``repeats``;
3. a bounded-exhaustive pass over the unmodified driver, ``tx`` with 2
   packets, at most 2 deviations, per profile: its time (warm build apart),
   executions, and whether the bound was covered (goal < 60 s per profile),
   run once (capped at ``cap_s`` seconds).

Times are wall clock (``time.perf_counter``): every execution runs in a
forked child, so the parent's CPU time (``time.process_time``, which the
other benchmarks use) would leave out nearly all the work. Wall time on a
shared machine only ever grows with other load, so the report prints the
load average beside the figures; read them as upper bounds. Nothing is
asserted on time.

``--quick`` runs fewer executions and one repeat (the bounded-exhaustive
pass still runs in full).
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sim.explore.runner import DriverConfig, Session  # noqa: E402
from sim.explore.scenarios import ScenarioConfig  # noqa: E402
from sim.explore.search import RandomTail, bounded_search  # noqa: E402

__all__ = ["PROFILES", "BROKEN", "run", "report"]

PROFILES = ("x86-tso", "arm64", "power", "riscv")
#: Figure 2's driver: the descriptor publish barrier dropped and the doorbell relaxed.
BROKEN = DriverConfig((("igb_tx_map.publish", None), ("igb_tx_map.doorbell", "writel_relaxed")))
#: Goals, in seconds: figure 2 (including the warm build), figure 3 (per profile).
GOAL_COUNTEREXAMPLE_S = 1.0
GOAL_EXHAUSTIVE_S = 60.0
RANDOM_P = 0.05


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def executions_per_second(profile: str, n: int, repeats: int) -> dict:
    """Figure 1 for one profile (module docstring)."""
    config = ScenarioConfig("tx", profile, packets=3)
    builds, in_order, random_ = [], [], []
    choices: dict[str, list[int]] = {"in-order": [], "random": []}
    odd = 0   # executions of the unmodified driver that failed or found a violation (none expected)
    for _ in range(repeats):
        gc.collect()
        build_s, ses = _timed(lambda: Session(config, DriverConfig(())))
        builds.append(build_s)
        outs = []
        in_order.append(_timed(lambda: [outs.append(ses.run(())) for _ in range(n)])[0])
        choices["in-order"] += [o.choices for o in outs]
        odd += sum(1 for o in outs if o.error or o.violations)
        outs = []
        random_.append(_timed(lambda: [outs.append(ses.run((), tail=RandomTail(k, RANDOM_P))) for k in range(n)])[0])
        choices["random"] += [o.choices for o in outs]
        odd += sum(1 for o in outs if o.error or o.violations)
        del ses
    return {"profile": profile, "build_s": statistics.median(builds),
            "in_order_per_s": n / statistics.median(in_order), "random_per_s": n / statistics.median(random_),
            "choices": {k: statistics.mean(v) for k, v in choices.items()}, "odd": odd}


def first_counterexample(repeats: int) -> dict:
    """Figure 2 (module docstring): the warm build and the default search, timed together."""
    times = []
    result = None
    for _ in range(repeats):
        gc.collect()
        t, result = _timed(lambda: bounded_search(Session(ScenarioConfig("tx", "arm64", packets=2), BROKEN), 2))
        times.append(t)
    return {"seconds": statistics.median(times), "executions": result.executions,
            "violation": result.violation.line() if result.violation else None,
            "stopped": result.stopped}


def exhaustive_pass(profile: str, cap_s: float) -> dict:
    """Figure 3 for one profile (module docstring)."""
    gc.collect()
    build_s, ses = _timed(lambda: Session(ScenarioConfig("tx", profile, packets=2), DriverConfig(())))
    search_s, r = _timed(lambda: bounded_search(ses, 2, time_s=cap_s))
    return {"profile": profile, "build_s": build_s, "seconds": search_s, "executions": r.executions,
            "exhaustive": r.exhaustive, "stopped": r.stopped,
            "violation": r.violation.line() if r.violation else None}


def run(n: int = 40, repeats: int = 5, profiles=PROFILES, cap_s: float = 600.0) -> dict:
    """All three figures; ``n`` executions of each kind per repeat for figure 1."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"n": n, "repeats": repeats, "cap_s": cap_s, "load": load, "cpus": os.cpu_count(),
            "rate": [executions_per_second(p, n, repeats) for p in profiles],
            "first": first_counterexample(repeats),
            "exhaustive": [exhaustive_pass(p, cap_s) for p in profiles]}


def _goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(r: dict) -> str:
    load = "" if r["load"] is None else f"load average {r['load'][0]:.2f} on {r['cpus']} CPUs; "
    lines = [f"Ordering explorer speed (sim.explore; every execution a forked child, so wall clock, "
             f"time.perf_counter; {load}a shared machine: other load only adds time)",
             f"1. executions per wall-clock second, tx with 3 packets, unmodified driver, median of {r['repeats']} "
             f"x {r['n']} executions per kind (no goal)",
             f"   in-order: prefix (); random: RandomTail(seed, {RANDOM_P}), seeds 0..{r['n'] - 1}; warm build "
             f"(Session, once per configuration) excluded and shown apart; choices = questions per execution",
             f"   {'profile':>8}  {'in-order':>10}  {'random':>10}  {'random/in-order':>15}  {'warm build':>10}"
             f"  {'choices (in-order/random)':>25}"]
    ref = None
    for x in r["rate"]:
        ref = ref or x
        c = x["choices"]
        lines.append(f"   {x['profile']:>8}  {x['in_order_per_s']:>8.1f}/s  {x['random_per_s']:>8.1f}/s  "
                     f"{x['random_per_s'] / x['in_order_per_s']:>14.2f}x  {x['build_s']:>9.3f}s"
                     f"  {format(c['in-order'], '.1f') + ' / ' + format(c['random'], '.1f'):>25}"
                     + (f"  ({x['odd']} failed or violated!)" if x["odd"] else ""))
    others = [x for x in r["rate"] if x is not ref]
    if others:
        lines.append("   as a fraction of " + ref["profile"] + "'s in-order rate: "
                     + ", ".join(f"{x['profile']} {x['in_order_per_s'] / ref['in_order_per_s']:.2f}x" for x in others))
    f = r["first"]
    lines += [f"2. time to the first counterexample, including the warm build: arm64, {BROKEN.describe()}, "
              f"tx with 2 packets, bounded_search(ses, 2), median of {r['repeats']} (goal < {GOAL_COUNTEREXAMPLE_S:g} s)",
              f"   {f['seconds']:.2f} s, {f['executions']} executions: goal "
              f"{_goal(f['violation'] is not None and f['seconds'] < GOAL_COUNTEREXAMPLE_S)}",
              f"   {f['violation'] or 'NO violation found' + (' (stopped: ' + f['stopped'] + ')' if f['stopped'] else '')}",
              f"3. bounded-exhaustive pass, unmodified driver, tx with 2 packets, at most 2 deviations, once per "
              f"profile (capped at {r['cap_s']:g} s; goal < {GOAL_EXHAUSTIVE_S:g} s per profile, warm build apart)",
              f"   {'profile':>8}  {'time':>8}  {'executions':>10}  {'per second':>10}  {'exhaustive':>10}  "
              f"{'warm build':>10}  goal"]
    for x in r["exhaustive"]:
        tail = f"  {x['violation']}" if x["violation"] else (f"  (stopped: {x['stopped']})" if x["stopped"] else "")
        lines.append(f"   {x['profile']:>8}  {x['seconds']:>7.2f}s  {x['executions']:>10}  "
                     f"{x['executions'] / x['seconds']:>8.1f}/s  {'yes' if x['exhaustive'] else 'no':>10}  "
                     f"{x['build_s']:>9.3f}s  {_goal(x['exhaustive'] and x['seconds'] < GOAL_EXHAUSTIVE_S)}{tail}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--executions", type=int, default=None, help="per kind per repeat for figure 1 (default 40; 10 with --quick)")
    ap.add_argument("--repeats", type=int, default=None, help="figures 1 and 2 (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="10 executions per kind, 1 repeat")
    ap.add_argument("--cap", type=float, default=600.0, help="seconds per profile for figure 3 (default 600)")
    ap.add_argument("--profiles", default=",".join(PROFILES))
    args = ap.parse_args(argv)
    n = args.executions or (10 if args.quick else 40)
    repeats = args.repeats or (1 if args.quick else 5)
    print(report(run(n, repeats, tuple(args.profiles.split(",")), args.cap)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
