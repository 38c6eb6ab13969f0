"""The whole send path, socket to wire and back: how fast the simulator runs it.

Two figures, from ``igbsim run`` scenarios on the default host (82576,
x86-TSO, 2 CPUs, MTU 1500, 1 Gb/s):

* bulk TCP: the real-time factor, simulated seconds per wall-clock second,
  of a 20 MB transfer (the goal is >= 1: simulating the gigabit wire faster
  than real time), with the goodput it reached;
* 64-byte writes with TCP_NODELAY: ``send()`` calls per wall-clock second
  (each one a segment through TCP, IP, the qdisc, the driver and the NIC),
  and per simulated second for comparison.

Side by side with the driver + NIC figure of :mod:`benchmarks.driver_nic`
measured in the same run (packets through the driver alone), so the cost of
the layers above the driver shows as a ratio. Nothing is asserted on time.

Side by side with another version of the code (e.g. before a change)::

    git worktree add --detach /tmp/igbsim-base <commit>
    python benchmarks/full_path.py --against /tmp/igbsim-base
    git worktree remove /tmp/igbsim-base

measures instead the CPU time (``time.process_time``) of one
``run_scenario`` call per wire frame — the call's CPU time divided by the
frames the NIC model put on the wire (``result.nic.counters["frames"]``) —
for ``igbsim run bulk --bytes 5M`` and ``igbsim run small-writes --bytes
128K`` (64-byte writes, TCP_NODELAY), or the scenarios named with
``--scenarios`` (``bulk 20M`` too: ``--scenarios "bulk 20M"``). Each repeat
runs every scenario once on this tree and once on the other, alternating,
each in a fresh subprocess (the other tree's ``sim``, ``stack``, ``driver``
and ``rtl_model``, this tree's benchmark code; see
:mod:`benchmarks.against`) after one short untimed warm-up run; the report
gives the best and the median of the repeats per tree and the new/old ratios
of CPU time per frame (best to best, median to median).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import against  # no model code at module level: a --child picks its tree first

__all__ = ["run", "report", "compare", "report_compare", "SCENARIOS"]


def _scenario_api():
    """``parse_args`` and ``run_scenario`` of the tree in use."""
    from sim.run.cli import parse_args  # here, not at module level: a --child must first choose whose sim/
    from sim.run.scenarios import run_scenario  # same: imported after the --code-tree choice
    return parse_args, run_scenario


def _timed(argv: list[str]):
    parse_args, run_scenario = _scenario_api()
    t0 = time.perf_counter()
    result, _ = run_scenario(parse_args(argv))
    return result, time.perf_counter() - t0


def run(bulk_bytes: int = 20_000_000, small_writes: int = 4096) -> dict:
    from benchmarks import driver_nic  # not at module level: it imports sim, which a --child picks first
    bulk, bulk_wall = _timed(["run", "bulk", "--bytes", str(bulk_bytes), "--quiet"])
    small, small_wall = _timed(["run", "small-writes", "--bytes", str(64 * small_writes), "--write-size", "64",
                                "--quiet"])
    drv = driver_nic.run_once(64, packets=5_000, burst=1, check_memory=False)
    return {
        "bulk_bytes": bulk_bytes, "bulk_sim_s": bulk.sim_time_ps / 1e12, "bulk_wall_s": bulk_wall,
        "bulk_goodput": bulk.goodput_bps,
        "small_writes": small_writes, "small_sim_s": small.sim_time_ps / 1e12, "small_wall_s": small_wall,
        "small_segments": small.net.tcp.mib.get("OutSegs", 0),
        "driver_pps": drv["wall_pps"] if isinstance(drv, dict) and "wall_pps" in drv else None,
    }


def report(r: dict) -> str:
    rtf = r["bulk_sim_s"] / r["bulk_wall_s"]
    pps = r["small_writes"] / r["small_wall_s"]
    segs = r["small_segments"] / r["small_wall_s"]
    lines = [
        "Full path, socket to wire (82576, x86-TSO, MTU 1500, 1 Gb/s):",
        f"  bulk TCP {r['bulk_bytes'] / 1e6:.0f} MB: {r['bulk_sim_s'] * 1e3:.1f} ms simulated in "
        f"{r['bulk_wall_s']:.2f} s wall -> real-time factor {rtf:.3f} (goal >= 1; "
        f"goodput {r['bulk_goodput'] / 1e6:.1f} Mb/s)",
        f"  64-byte writes, TCP_NODELAY: {pps:,.0f} send()/s and {segs:,.0f} TCP segments/s wall "
        f"({r['small_writes']} writes, {r['small_segments']} segments (autocorking coalesces) in "
        f"{r['small_wall_s']:.2f} s; {r['small_sim_s'] * 1e3:.2f} ms simulated)",
    ]
    if r.get("driver_pps"):
        lines.append(f"  driver + NIC alone, 64 B packets: {r['driver_pps']:,.0f} packets/s wall; full path "
                     f"segments/s relative to it: {segs / r['driver_pps']:.2f}")
    return "\n".join(lines)


# --- this tree against another: CPU time per wire frame --------------------
#: name -> ``igbsim`` arguments of one timed run_scenario call
SCENARIOS = {"bulk 5M": ["run", "bulk", "--bytes", "5M", "--quiet"],
             "bulk 20M": ["run", "bulk", "--bytes", "20M", "--quiet"],
             "small-writes 128K": ["run", "small-writes", "--bytes", "128K", "--write-size", "64", "--quiet"]}
#: what ``--against`` measures unless ``--scenarios`` says otherwise
DEFAULT_COMPARE = ("bulk 5M", "small-writes 128K")


def measure_cpu(argv: list[str]) -> dict:
    """CPU seconds of one ``run_scenario`` call and the frames the NIC put on the wire in it."""
    parse_args, run_scenario = _scenario_api()
    opts = parse_args(argv)
    gc.collect()   # untimed
    t0 = time.process_time()
    result, _ = run_scenario(opts)
    cpu_s = time.process_time() - t0
    return {"cpu_s": cpu_s, "frames": result.nic.counters["frames"]}


def compare(other: str, repeats: int = 5, scenarios=DEFAULT_COMPARE) -> dict:
    """Each repeat: every scenario on this tree, then on ``other``, each in a fresh subprocess."""
    trees = {"new": against.ROOT, "old": os.path.abspath(other)}
    runs: dict = {(t, name): [] for t in trees for name in scenarios}
    where: dict[str, str] = {}
    for _ in range(repeats):
        for t, tree in trees.items():
            for name in scenarios:
                out = against.child(__file__, tree, ["--scenario", name])
                where[t] = out["sim"]
                runs[t, name].append(out)
    best = {k: min(v, key=lambda r: r["cpu_s"] / r["frames"]) for k, v in runs.items()}
    median = {k: statistics.median(r["cpu_s"] / r["frames"] for r in v) for k, v in runs.items()}
    return {"repeats": repeats, "where": where, "scenarios": list(scenarios), "best": best, "median": median,
            "runs": runs}


def report_compare(r: dict) -> str:
    lines = [f"Full path, CPU time (process_time) per wire frame, new vs old code, {r['repeats']} "
             f"alternating runs each in a fresh subprocess (best and median):",
             *(f"  {t}: {path}" for t, path in r["where"].items()),
             f"  {'scenario':<18} {'tree':<4} {'frames':>7} {'best CPU s':>10} {'best us/frame':>13} "
             f"{'median us/frame':>15}"]
    for name in r["scenarios"]:
        per = {}
        for t in ("new", "old"):
            b = r["best"][t, name]
            per[t] = b["cpu_s"] / b["frames"]
            lines.append(f"  {name:<18} {t:<4} {b['frames']:>7} {b['cpu_s']:>10.3f} {per[t] * 1e6:>13.1f} "
                         f"{r['median'][t, name] * 1e6:>15.1f}")
        lines.append(f"  {name:<18} new/old CPU per frame: best {per['new'] / per['old']:.2f}x, "
                     f"median {r['median']['new', name] / r['median']['old', name]:.2f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bytes", type=int, default=20_000_000)
    p.add_argument("--writes", type=int, default=4096)
    p.add_argument("--against", metavar="DIR", help="CPU per wire frame, this tree and the code in DIR, alternating")
    p.add_argument("--repeats", type=int, default=5, help="with --against (default 5)")
    p.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(DEFAULT_COMPARE),
                   help=f"with --against (default: {', '.join(DEFAULT_COMPARE)})")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--code-tree", help=argparse.SUPPRESS)
    p.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        against.use_code_tree(a.code_tree)
        measure_cpu(["run", "small-writes", "--bytes", "8K", "--quiet"])   # untimed warm-up
        out = measure_cpu(SCENARIOS[a.scenario])
        print(json.dumps({"sim": against.sim_dir(), **out}))
    elif a.against:
        print(report_compare(compare(a.against, a.repeats, a.scenarios)))
    else:
        print(report(run(a.bytes, a.writes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
