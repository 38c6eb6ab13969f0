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
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import driver_nic
from sim.run.cli import parse_args
from sim.run.scenarios import run_scenario

__all__ = ["run", "report"]


def _timed(argv: list[str]):
    t0 = time.perf_counter()
    result, _ = run_scenario(parse_args(argv))
    return result, time.perf_counter() - t0


def run(bulk_bytes: int = 20_000_000, small_writes: int = 4096) -> dict:
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bytes", type=int, default=20_000_000)
    p.add_argument("--writes", type=int, default=4096)
    a = p.parse_args(argv)
    print(report(run(a.bytes, a.writes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
