"""Proof that the environment catches bugs: plant one model bug at a time and show which check fails.

    python -m sim.verif.mutate            # every mutant (make mutate)
    python -m sim.verif.mutate --list     # what each mutant plants
    python -m sim.verif.mutate tso_last_short dd_without_rs

Each mutant is one textual change to a file of the NIC model (``rtl_model/``):
the script copies the working tree (tracked and new files) to a temporary
directory, applies the change there, and runs the environment's benches
(``make -C sim/tb BENCHES="env_nic env_driver"``) on the mutant's corners
with a fixed seed. A mutant is *killed* when at least one test fails; the checks named in
the failures (``[check]`` in the scoreboard's messages) are reported. First
the same corners run unmutated, which must pass — otherwise a kill proves
nothing. Exit status: 0 when every mutant is killed, 1 otherwise, 2 on bad
arguments.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = 3
_KINDS = re.compile(r"failure\(s\) in ([a-z_.]+(?:, [a-z_.]+)*);")
_NAMED = re.compile(r"\[([a-z_]+\.[a-z_]+)\]")


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str       # relative to the repository
    old: str        # must occur exactly once
    new: str
    what: str
    corners: str    # the corners to run (CORNERS), on the 82576 unless ``profiles`` says otherwise
    profiles: str = "82576"


MUTANTS = (
    Mutant("dd_without_rs", "rtl_model/txq.py",
           "                if _rs(desc):\n                    self._write_back([(index, raw)], \"rs\")",
           "                if True:\n                    self._write_back([(index, raw)], \"rs\")",
           "at WTHRESH 0, DD is written back for every descriptor, not only RS ones",
           "nic_desc_wb_msix"),
    Mutant("tso_last_short", "rtl_model/offload.py",
           "        buf = bytearray(header) + payload[i * req.mss:(i + 1) * req.mss]",
           "        buf = bytearray(header) + payload[i * req.mss:min((i + 1) * req.mss, "
           "len(payload) - (i == count - 1))]",
           "the last TSO segment is one byte short",
           "nic_desc_wb_msix nic_burst_wb_eitr"),
    Mutant("udp_csum_skipped", "rtl_model/offload.py",
           "    l4 = req.maclen + req.iplen\n    at = l4 + L4_CSUM_OFFSET[req.l4t]\n",
           "    l4 = req.maclen + req.iplen\n    at = l4 + L4_CSUM_OFFSET[req.l4t]\n"
           "    if req.l4t == \"udp\" and not req.tse:\n        return\n",
           "checksum offload (TXSM) skipped for UDP",
           "nic_desc_wb_msix nic_burst_wb_eitr"),
    Mutant("msix_before_writeback", "rtl_model/txq.py",
           "        payload = b\"\".join(d.writeback_dd(raw) for _, raw in run)\n"
           "        self.nic.dma.write(self.desc_addr(run[0][0]), payload, f\"{self.name} write-back\")",
           "        payload = b\"\".join(d.writeback_dd(raw) for _, raw in run)\n"
           "        self.nic.tx_cause(self.n)\n"
           "        self.nic.dma.write(self.desc_addr(run[0][0]), payload, f\"{self.name} write-back\")",
           "the MSI-X message is posted before the write-back it reports",
           "nic_desc_wb_msix"),
    Mutant("pthresh_ignored", "rtl_model/txq.py",
           "            if not (len(self.cache) < pthresh and avail >= max(hthresh, 1)):",
           "            if not (avail >= max(hthresh, 1)):",
           "PTHRESH ignored: the queue prefetches whenever the cache has room",
           "nic_desc_wb_msix", "82576 i210"),
    Mutant("ring_wrap_off_by_one", "rtl_model/txq.py",
           "        k = min(avail, free, size - self.fetch_ptr)",
           "        k = min(avail, free, size - self.fetch_ptr + 1)",
           "a descriptor fetch at the ring's end reads one slot past it",
           "nic_desc_wb_msix"),
    Mutant("head_wb_off_by_one", "rtl_model/txq.py",
           '        self.nic.dma.write(addr, self.head.to_bytes(4, "little"), f"{self.name} head write-back")',
           '        self.nic.dma.write(addr, ((self.head + 1) % self.ring_size).to_bytes(4, "little"), '
           'f"{self.name} head write-back")',
           "head write-back reports one descriptor more than was processed",
           "nic_head_wb_intx"),
    Mutant("doutsync_not_raised", "rtl_model/nic.py",
           "    def dma_fault_cause(self, q: int) -> None:\n        self.irq.other_cause(ICR_DOUTSYNC)",
           "    def dma_fault_cause(self, q: int) -> None:\n        pass",
           "a DMA fault stops the queue but raises no interrupt cause",
           "nic_errors"),
    Mutant("slow_dma_reads", "rtl_model/dma_engine.py",
           "        latency = link.read_latency_ps\n",
           "        latency = 10 * link.read_latency_ps\n",
           "every DMA read takes ten times its round trip (6 us)",
           "nic_desc_wb_msix"),
    Mutant("vlan_tci_byte_swapped", "rtl_model/offload.py",
           '    return frame[:12] + struct.pack("!HH", vet & 0xFFFF, tci & 0xFFFF) + frame[12:]',
           '    return frame[:12] + struct.pack("!H", vet & 0xFFFF) + struct.pack("<H", tci & 0xFFFF) + frame[12:]',
           "the inserted VLAN tag carries its TCI little-endian",
           "nic_desc_wb_msix driver_traffic"),
    Mutant("eitr_ignored", "rtl_model/interrupts.py",
           "            if ready & 1 and self._counter[v] is None:",
           "            if ready & 1:",
           "a message is sent while the vector's EITR counter is still running",
           "nic_burst_wb_eitr"),
)


def _copy_tree(dst: Path) -> None:
    """The working tree's tracked and new (not ignored) files."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split("\n")
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


def _apply(root: Path, m: Mutant) -> None:
    path = root / m.file
    text = path.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"mutant {m.name}: the text to replace occurs {text.count(m.old)} times in {m.file}")
    path.write_text(text.replace(m.old, m.new))


def _run_bench(root: Path, corners: str, profiles: str) -> tuple[int, int, set[str], list[str]]:
    """(tests, failed, check names, failing test names) of the env benches on ``corners`` × ``profiles``."""
    env = dict(os.environ, SEED=str(SEED), CORNERS=corners, PROFILES=profiles, PYTHONDONTWRITEBYTECODE="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.pop("COVERAGE_FILE", None)
    benches = [b for b, prefix in (("env_nic", "nic_"), ("env_driver", "driver_"))
               if any(c.startswith(prefix) for c in corners.split())]
    subprocess.run(["make", "-s", "-C", str(root / "sim/tb"), f"BENCHES={' '.join(benches)}"], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tests = failed = 0
    checks, names = set(), []
    for bench in benches:
        results = root / f"sim/tb/sim_build/{bench}/results.xml"
        if not results.exists():
            return 0, 0, {f"(no results: the {bench} bench did not run)"}, []
        for case in ET.parse(results).iter("testcase"):
            if case.find("skipped") is not None:
                continue
            tests += 1
            bad = case.find("failure") if case.find("failure") is not None else case.find("error")
            if bad is not None:
                failed += 1
                names.append(case.get("name"))
                checks.update(_checks_named((bad.get("message") or "") + "\n" + (bad.text or "")))
    return tests, failed, checks, names


def _checks_named(text: str) -> set[str]:
    """The scoreboard checks a failure names, or its error's last line (an assertion elsewhere)."""
    m = _KINDS.search(text)
    if m:
        return set(m.group(1).split(", "))
    named = set(_NAMED.findall(text))
    if named:
        return named
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return {lines[-1][:120]} if lines else {"(no message)"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.verif.mutate", description=__doc__.split("\n")[0])
    ap.add_argument("mutants", nargs="*", help="mutant names (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args(argv)
    known = {m.name: m for m in MUTANTS}
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:24} {m.file:26} {m.what}")
        return 0
    unknown = [n for n in args.mutants if n not in known]
    if unknown:
        print(f"unknown mutant(s): {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    chosen = [known[n] for n in args.mutants] or list(MUTANTS)
    survivors = 0
    with tempfile.TemporaryDirectory(prefix="igbsim-mutate-") as tmp:
        base = Path(tmp) / "base"
        _copy_tree(base)
        corners = " ".join(sorted({c for m in chosen for c in m.corners.split()}))
        profiles = " ".join(sorted({p for m in chosen for p in m.profiles.split()}))
        tests, failed, checks, names = _run_bench(base, corners, profiles)
        print(f"unmutated: {tests} tests, {failed} failed" + (f" ({', '.join(names)})" if failed else ""))
        if failed or not tests:
            print("the unmutated model must pass first", file=sys.stderr)
            return 1
        for m in chosen:
            root = Path(tmp) / m.name
            _copy_tree(root)
            _apply(root, m)
            t0 = time.monotonic()
            tests, failed, checks, names = _run_bench(root, m.corners, m.profiles)
            verdict = "KILLED" if failed else "SURVIVED"
            survivors += not failed
            print(f"{m.name:24} {verdict:8} {failed}/{tests} tests failed in {time.monotonic() - t0:4.0f} s; "
                  f"checks: {', '.join(sorted(checks)) or '-'}  ({m.what})")
            shutil.rmtree(root, ignore_errors=True)
    print(f"{len(chosen) - survivors} of {len(chosen)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
