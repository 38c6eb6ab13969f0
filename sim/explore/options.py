"""The options of ``igbsim explore`` and ``igbsim replay`` (light: the ``igbsim`` command builds its parser
from this before any model is imported; :mod:`sim.explore.cli` runs them)."""
from __future__ import annotations

from .config import EXPLORE_PROFILES, SCENARIOS

__all__ = ["add_parsers", "JSON_SCHEMA"]

#: The ``--json`` document's schema name and version (docs/explore.md describes it).
JSON_SCHEMA = "igbsim-explore/1"


def add_parsers(sub) -> None:
    """The ``explore`` and ``replay`` subcommands of ``igbsim``."""
    e = sub.add_parser("explore", help="search the driver's orderings for DMA and barrier bugs")
    e.add_argument("--scenario", default=None, choices=SCENARIOS,
                   help="; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values()) +
                   " (default: tx; with --matrix: tx, tx-full and tx-burst)")
    e.add_argument("--profile", nargs="+", default=None, metavar="P",
                   help=f"ordering profiles: {', '.join(EXPLORE_PROFILES)} or all (default: arm64; "
                        "with --matrix: all)")
    e.add_argument("--drop", action="append", default=[], metavar="SITE", help="remove the barrier at SITE")
    e.add_argument("--relax", action="append", default=[], metavar="SITE",
                   help="writel -> writel_relaxed, readl -> readl_relaxed at SITE")
    e.add_argument("--barrier", action="append", default=[], metavar="SITE=PRIMITIVE",
                   help="run PRIMITIVE (a weaker one) at SITE")
    e.add_argument("--variant", default=None, metavar="FILE.py",
                   help="replacement driver functions, defined under their Linux names (docs/explore.md)")
    e.add_argument("--packets", type=int, default=None, help="packets in the scenario (default: its own)")
    e.add_argument("--ring", type=int, default=None, help="descriptors in the ring (8..4096, multiple of 8)")
    e.add_argument("--cpus", type=int, default=2, help="CPUs (default 2)")
    e.add_argument("--itr", type=int, default=3, help="ethtool -C rx-usecs (default 3: dynamic)")
    e.add_argument("--wthresh", type=int, default=None, help="TXDCTL.WTHRESH (default: the driver's)")
    e.add_argument("--mode", choices=("exhaustive", "random", "pct"), default="exhaustive",
                   help="every execution with at most --budget deviations (default), random walks, or PCT")
    e.add_argument("--budget", type=int, default=2, help="deviations for --mode exhaustive (default 2)")
    e.add_argument("--runs", type=int, default=None,
                   help="most executions per profile (default: none for exhaustive, 1000 otherwise)")
    e.add_argument("--time", type=float, default=None, help="most seconds per profile")
    e.add_argument("--seed", type=int, default=0, help="first seed of random and PCT runs (default 0)")
    e.add_argument("--json", default=None, metavar="FILE", help=f"write the results as JSON ({JSON_SCHEMA})")
    e.add_argument("--perfetto", default=None, metavar="FILE",
                   help="write the violating execution as a Perfetto trace (one file per profile: -PROFILE)")
    e.add_argument("--matrix", action="store_true",
                   help="every profile x every transmit and completion barrier site, dropped and weakened")
    e.add_argument("--jobs", type=int, default=2, help="worker processes for --matrix (default 2)")
    r = sub.add_parser("replay", help="re-run the execution a replay token names and print its timeline")
    r.add_argument("token", help="the token after 'replay:' in explore's output")
    r.add_argument("--perfetto", default=None, metavar="FILE", help="write the execution as a Perfetto trace")
