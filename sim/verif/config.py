"""One test's configuration: which DUT, which NIC profile, ring and thresholds, interrupt mode.

A :class:`TbConfig` lives in pyuvm's ConfigDB under ``"CFG"``; every component
reads it in ``build_phase``. Tests pick the configuration's *corner* (write-back
mode, interrupt mode, which bins of PTHRESH/HTHRESH/WTHRESH and EITR), and the
seed picks values inside it (:meth:`TbConfig.drawn`), so each corner is
exercised with different numbers on different seeds.

Seeds: ``SEED=n`` in the environment (``make sim SEED=n``) runs every test
with that seed only; otherwise :data:`DEFAULT_SEEDS`, the regression's list.
``CORNERS`` and ``PROFILES`` narrow a run the same way (:func:`selected`).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

__all__ = ["TbConfig", "DEFAULT_SEEDS", "seeds", "selected", "fresh_outputs", "check_knobs", "KnobError",
           "PROFILES", "RANGES", "NIC_CORNER_NAMES", "SYSTEM_CORNER_NAMES"]

#: The default regression: every test runs once per seed (failures print their seed).
DEFAULT_SEEDS = (1, 2, 3)
PROFILES = ("82576", "i210")

#: Bins a test corner may ask for: name -> (lo, hi) inclusive.
RANGES = {
    "0": (0, 0), "1": (1, 1), "1-8": (1, 8), "9-31": (9, 31), "2-31": (2, 31),
    "off": (0, 0), "on": (4, 40),
}


#: The test corners (defined in sim/verif/env.py; listed here so a bad CORNERS is caught before any
#: bench runs, without loading pyuvm).
NIC_CORNER_NAMES = ("nic_desc_wb_msix", "nic_burst_wb_eitr", "nic_head_wb_intx", "nic_intx", "nic_errors",
                    "nic_two_queues")
SYSTEM_CORNER_NAMES = ("driver_traffic",)


class KnobError(ValueError):
    """A SEED, CORNERS or PROFILES value that names nothing runnable."""


def seeds() -> tuple[int, ...]:
    """The seeds to run: ``SEED`` from the environment (non-negative integers), else the default list."""
    raw = os.environ.get("SEED")
    if raw is None or not raw.strip():
        return DEFAULT_SEEDS
    try:
        values = tuple(int(s) for s in raw.replace(",", " ").split())
    except ValueError:
        raise KnobError(f"SEED={raw!r}: expected a non-negative integer (or several)") from None
    if not values or any(v < 0 for v in values):
        raise KnobError(f"SEED={raw!r}: expected a non-negative integer (or several)")
    return values


def selected(var: str, known) -> tuple[str, ...]:
    """The names in environment variable ``var`` (space or comma separated), else all of ``known``.

    ``make sim CORNERS="nic_errors" PROFILES=i210`` narrows a run; an unknown name stops it with
    the list of known ones.
    """
    raw = [n.lower() for n in os.environ.get(var, "").replace(",", " ").split()]
    unknown = [n for n in raw if n not in known]
    if unknown:
        raise KnobError(f"{var}: unknown {', '.join(unknown)}; known: {' '.join(known)}")
    return tuple(raw) or tuple(known)


def check_knobs() -> str | None:
    """The first problem with SEED, CORNERS or PROFILES in the environment, or None."""
    try:
        seeds()
        selected("CORNERS", NIC_CORNER_NAMES + SYSTEM_CORNER_NAMES)
        selected("PROFILES", PROFILES)
    except KnobError as e:
        return str(e)
    return None


def main(argv=None) -> int:
    """``python -m sim.verif.config check``: one line and exit 2 on a bad knob (sim/tb/Makefile runs it first)."""
    import sys  # the command line only
    args = sys.argv[1:] if argv is None else argv
    if args != ["check"]:
        print("usage: python -m sim.verif.config check", file=sys.stderr)
        return 2
    problem = check_knobs()
    if problem:
        print(f"make sim: {problem}", file=sys.stderr)
        return 2
    return 0


def fresh_outputs() -> None:
    """A bench run starts its coverage database and statistics afresh (COVERAGE_FILE, STATS_FILE)."""
    for var in ("COVERAGE_FILE", "STATS_FILE"):
        path = os.environ.get(var)
        if path and os.path.exists(path):
            os.remove(path)


@dataclass(frozen=True)
class TbConfig:
    """Everything a test fixes about the DUT (see the module docstring)."""

    profile: str = "82576"
    corner: str = ""            # the test corner's name (sim/verif/env.py)
    dut: str = "nic"            # "nic" (configuration a) | "system" (configuration b)
    seed: int = 1
    ring_size: int = 64
    n_queues: int = 1           # configuration (a): TX queues driven at once (vectors 1..n)
    pthresh: int = 8
    hthresh: int = 1
    wthresh: int = 1
    head_wb: bool = False
    irq_mode: str = "msix"      # "msix" | "intx"
    eitr_us: int = 0
    n_items: int = 80
    waves: str | None = None    # VCD path, or None

    def drawn(self, pthresh="1-8", hthresh="1", wthresh="1", eitr="off") -> "TbConfig":
        """This configuration with thresholds and EITR drawn from the named bins with its seed."""
        rng = random.Random(f"cfg-{self.corner}-{self.seed}-{self.profile}-{self.dut}")
        pick = {k: rng.randint(*RANGES[v]) for k, v in
                (("pthresh", pthresh), ("hthresh", hthresh), ("wthresh", wthresh), ("eitr_us", eitr))}
        return replace(self, **pick)

    def reproduce(self) -> str:
        """The command that runs this test alone."""
        return f"make sim SEED={self.seed} CORNERS={self.corner} PROFILES={self.profile}"

    def describe(self) -> str:
        wb = "head write-back" if self.head_wb else f"WTHRESH {self.wthresh}"
        queues = f"{self.n_queues} queues × " if self.n_queues > 1 else ""
        return (f"{self.dut} {self.profile} seed {self.seed}: {queues}ring {self.ring_size}, PTHRESH {self.pthresh}, "
                f"HTHRESH {self.hthresh}, {wb}, {self.irq_mode} EITR {self.eitr_us} us, {self.n_items} items")


if __name__ == "__main__":
    raise SystemExit(main())
