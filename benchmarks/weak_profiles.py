"""Driver + NIC speed per ordering profile: packets per CPU-second on arm64, POWER, RISC-V as a ratio to x86-TSO.

The workload is :func:`benchmarks.driver_nic.run_once` (82576, 2 CPUs, ring
256, ITR 3, skbs through ``dev_queue_xmit`` to the real driver and NIC model,
completions cleaned by NAPI) with only the host's ordering profile changed.
Weak profiles cost more per packet: every store enters a store buffer that
may drain out of order (:mod:`sim.host.store_buffer`), loads may be stale
(:mod:`sim.host.coherence`). The figure is packets per second of this
process's CPU time (``time.process_time``; steadier than wall time on a
shared machine), the best of ``repeats`` runs (as :mod:`benchmarks.driver_nic`
does: other load on the machine only ever adds time), after one short
untimed warm-up run, and each weak profile's rate as a fraction of
x86-TSO's measured in the same run.

Side by side with another version of the code (e.g. before a change)::

    git worktree add --detach /tmp/igbsim-base <commit>
    python benchmarks/weak_profiles.py --against /tmp/igbsim-base
    git worktree remove /tmp/igbsim-base

runs every repeat once on this tree and once on the other, alternating, each
in a fresh subprocess (the other tree's ``sim``, ``stack``, ``driver`` and
``rtl_model``, this tree's benchmark code), and reports both trees' rates and
their new/old ratio. Nothing is asserted on time.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):
    sys.path.insert(0, ROOT)

from benchmarks import against  # imports no model code: a --child picks its tree first

__all__ = ["PROFILES", "CONFIGS", "run", "report", "compare", "report_compare"]

#: x86-TSO first: the reference the others are divided by.
PROFILES = ("x86-tso", "arm64", "power", "riscv")
#: (skb size, writes per CPU stretch) as in :mod:`benchmarks.driver_nic`: small packets one at a time,
#: and full-size ones in bursts (descriptor batches and a 1514-byte payload copy per packet).
CONFIGS = ((64, 1), (1514, 32))


def measure(size: int, burst: int, packets: int, profiles=PROFILES) -> dict[str, float]:
    """CPU seconds of one driver + NIC run of ``packets`` skbs per profile."""
    # here, not at module level: a --code-tree child must first choose whose sim/ the benchmark imports
    from benchmarks import driver_nic
    out = {}
    for p in profiles:
        gc.collect()   # untimed: each profile starts without the previous run's garbage
        out[p] = driver_nic.run_once(size, packets, burst, ordering=p, check_memory=False)["cpu_s"]
    return out


def warm_up() -> None:
    """One short untimed run, so that first-use costs (imports, caches) fall on no profile."""
    measure(64, 1, 100, PROFILES[:1])


def run(packets: int = 2_000, repeats: int = 3, configs=CONFIGS, profiles=PROFILES) -> dict:
    """Every configuration on every profile, ``repeats`` times, in this process."""
    warm_up()
    rows = []
    for size, burst in configs:
        runs = [measure(size, burst, packets, profiles) for _ in range(repeats)]
        rows.append({"size": size, "burst": burst, "cpu_s": _best(runs, profiles)})
    return {"packets": packets, "repeats": repeats, "rows": rows}


def _best(runs: list[dict], profiles) -> dict[str, float]:
    return {p: min(r[p] for r in runs) for p in profiles}


def report(result: dict) -> str:
    n = result["packets"]
    lines = [f"Driver + NIC per ordering profile (82576, ring 256, ITR 3), {n} packets per run, best of "
             f"{result['repeats']}: packets per CPU-second, and as a fraction of x86-tso's (goal >= 0.67)",
             "  " + f"{'skb':>6} {'burst':>5}" + "".join(f"  {p:>16}" for p in _profiles(result["rows"]))]
    for r in result["rows"]:
        lines.append(_row(r["size"], r["burst"], r["cpu_s"], n))
    return "\n".join(lines)


def _profiles(rows) -> list[str]:
    return list(rows[0]["cpu_s"])


def _row(size: int, burst: int, cpu_s: dict, packets: int, label: str = "") -> str:
    ref = packets / cpu_s["x86-tso"]
    cells = []
    for p, s in cpu_s.items():
        pps = packets / s
        cells.append(f"{pps:>8.0f}/s" + ("       " if p == "x86-tso" else f" {pps / ref:>5.2f}x"))
    return f"  {size:>4} B {burst:>5}  " + "  ".join(f"{c:>16}" for c in cells) + (f"  {label}" if label else "")


# --- this tree against another --------------------------------------------
def compare(other: str, packets: int = 1_000, repeats: int = 3, configs=CONFIGS, profiles=PROFILES) -> dict:
    """Each repeat on this tree, then on ``other``, each in a fresh subprocess; the best run per tree."""
    trees = {"new": ROOT, "old": os.path.abspath(other)}
    runs: dict = {(t, size, burst): [] for t in trees for size, burst in configs}
    where: dict[str, str] = {}
    for _ in range(repeats):
        for t, tree in trees.items():
            for size, burst in configs:
                out = _child(tree, size, burst, packets, profiles)
                where[t] = out["sim"]
                runs[t, size, burst].append(out["cpu_s"])
    rows = [{"tree": t, "size": size, "burst": burst, "cpu_s": _best(runs[t, size, burst], profiles)}
            for size, burst in configs for t in trees]
    return {"packets": packets, "repeats": repeats, "rows": rows, "where": where}


def _child(tree: str, size: int, burst: int, packets: int, profiles) -> dict:
    return against.child(__file__, tree, ["--size", str(size), "--burst", str(burst), "--packets", str(packets),
                                          "--profiles", ",".join(profiles)])


def report_compare(result: dict) -> str:
    n = result["packets"]
    lines = [f"Driver + NIC per ordering profile, new vs old code, {n} packets per run, best of "
             f"{result['repeats']} alternating runs: packets per CPU-second, weak profiles as a fraction of "
             f"x86-tso's",
             *(f"  {t}: {path}" for t, path in result["where"].items()),
             "  " + f"{'skb':>6} {'burst':>5}" + "".join(f"  {p:>16}" for p in _profiles(result["rows"]))]
    by = {(r["tree"], r["size"], r["burst"]): r["cpu_s"] for r in result["rows"]}
    for r in result["rows"]:
        lines.append(_row(r["size"], r["burst"], r["cpu_s"], n, r["tree"]))
        if r["tree"] == "old":
            new = by["new", r["size"], r["burst"]]
            old = r["cpu_s"]
            lines.append("  " + " " * 12 + "  ".join(f"{'new/old ' + format(old[p] / new[p], '.2f') + 'x':>16}"
                                                       for p in new))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--packets", type=int, default=None, help="per run (default 2000; 1000 with --against)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--against", metavar="DIR", help="also run the code in DIR (a git worktree), alternating")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--code-tree", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--burst", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--profiles", default=",".join(PROFILES), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    profiles = tuple(args.profiles.split(","))
    if args.child:
        against.use_code_tree(args.code_tree)
        warm_up()
        cpu_s = measure(args.size, args.burst, args.packets, profiles)
        print(json.dumps({"sim": against.sim_dir(), "cpu_s": cpu_s}))
    elif args.against:
        print(report_compare(compare(args.against, args.packets or 1_000, args.repeats, profiles=profiles)))
    else:
        print(report(run(args.packets or 2_000, args.repeats, profiles=profiles)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
