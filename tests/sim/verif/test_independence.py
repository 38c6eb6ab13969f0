"""The scoreboard side of the environment must not lean on the model it checks.

Expected values come from the datasheet facts, scapy and arithmetic, so the
predictor, scoreboard, register model, coverage, sequences and descriptor
codec may not import the NIC model (``rtl_model``), the driver, the stack, the
assembly or the simulated host — not directly, not through anything they
import. Checked in a fresh interpreter, so nothing another test loaded hides
an import. Also: every mutant of the mutation script still applies to the
current source (the script would otherwise stop with an error).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[3]
INDEPENDENT = ("sim.verif.items", "sim.verif.txdesc", "sim.verif.frames", "sim.verif.predictor",
               "sim.verif.scoreboard", "sim.verif.regmodel", "sim.verif.coverage", "sim.verif.waves",
               "sim.verif.sequences", "sim.verif.config", "sim.verif.agents")
FORBIDDEN = ("rtl_model", "driver", "stack", "sim.assembly", "sim.host")


def loaded_after_import(modules) -> dict[str, list[str]]:
    """{module: what sys.modules holds right after importing it}, each import in one fresh interpreter.

    The modules are imported one after another; what a module brings in is
    what appears after its import that was not there before, plus what was
    already loaded (an earlier independent module's imports are checked too).
    """
    code = ("import sys, json, importlib\nout = {}\n"
            f"for m in {list(modules)!r}:\n"
            "    importlib.import_module(m)\n    out[m] = sorted(sys.modules)\n"
            "print(json.dumps(out))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _forbidden(loaded: list[str]) -> list[str]:
    return [m for m in loaded if m.split(".")[0] in FORBIDDEN or m.startswith(FORBIDDEN)]


def test_scoreboard_side_imports_nothing_from_the_model():
    loaded = loaded_after_import(INDEPENDENT)
    bad = {m: _forbidden(mods) for m, mods in loaded.items() if _forbidden(mods)}
    assert not bad, f"these load the model: {bad}"


def test_a_planted_model_import_would_be_seen():
    # the check itself: importing the transport's DUT side does load the model
    assert "rtl_model.nic" in loaded_after_import(["sim.assembly.nic_harness"])["sim.assembly.nic_harness"]


def test_every_mutant_still_applies():
    from sim.verif.mutate import MUTANTS  # here, not at the top: the other tests need a clean parent
    assert len(MUTANTS) >= 6
    for m in MUTANTS:
        text = (REPO / m.file).read_text()
        assert text.count(m.old) == 1, f"mutant {m.name}: its text occurs {text.count(m.old)} times in {m.file}"
        assert m.old != m.new


def test_the_corner_names_config_checks_are_the_corners_env_defines():
    from sim.verif.config import NIC_CORNER_NAMES, SYSTEM_CORNER_NAMES  # here: a clean parent above
    from sim.verif.env import NIC_CORNERS, SYSTEM_CORNERS  # here: env loads pyuvm and the adapter
    assert tuple(NIC_CORNERS) == NIC_CORNER_NAMES and tuple(SYSTEM_CORNERS) == SYSTEM_CORNER_NAMES
