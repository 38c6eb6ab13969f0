"""Run every benchmark and print side-by-side figures (ratios to a baseline, never pass/fail)."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import driver_nic, engine_pingpong, explore_speed, full_path, nic_frames, weak_profiles  # noqa: E402


def main() -> int:
    print(engine_pingpong.report(engine_pingpong.run()), flush=True)
    print()
    print(nic_frames.report(nic_frames.run()), flush=True)
    print()
    print(driver_nic.report(driver_nic.run()), flush=True)
    print()
    print(weak_profiles.report(weak_profiles.run()), flush=True)
    print()
    print(full_path.report(full_path.run()), flush=True)
    print()
    print(explore_speed.report(explore_speed.run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
