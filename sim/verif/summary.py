"""The environment's throughput over a regression: ``python -m sim.verif.summary STATS.jsonl...``.

Each env bench appends one JSON line per test to its ``stats.jsonl``
(:meth:`sim.verif.env.IgbEnv.report_phase`): the transactions its monitors
saw at the DUT's ports and the test's wall time. This prints the totals and
the rate, which is what the environment costs per transaction.
"""
from __future__ import annotations

import json
import sys


def summarize(paths: list[str]) -> str:
    tests, wall, counts = 0, 0.0, {}
    for path in paths:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                tests += 1
                wall += rec["wall_s"]
                for k, v in rec["transactions"].items():
                    counts[k] = counts.get(k, 0) + v
    total = sum(counts.values())
    rate = total / wall if wall else 0.0
    parts = ", ".join(f"{k} {v}" for k, v in counts.items())
    return f"{tests} tests, {total} transactions ({parts}) in {wall:.1f} s of test time: {rate:,.0f} transactions/s"


def main(argv=None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m sim.verif.summary STATS.jsonl...", file=sys.stderr)
        return 2
    try:
        print(summarize(paths))
    except (OSError, ValueError, KeyError) as e:
        print(f"sim.verif.summary: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
