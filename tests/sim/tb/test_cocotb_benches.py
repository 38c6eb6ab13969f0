"""Run the cocotb benches of sim/tb under Icarus Verilog, so `pytest` runs them too.

Same testbench modules and HDL tops as ``make -C sim/tb`` (the Makefile flow),
driven through ``cocotb_tools.runner`` with a build directory under pytest's
``tmp_path``. Under pytest the runner itself turns a failing cocotb test into
a failure (``sys.exit(1)``); the results file is checked here as well, including
the number of tests, so a bench that silently stops collecting tests fails too.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TB_DIR = REPO / "sim" / "tb"
HDL_DIR = REPO / "sim" / "hdl"

# (bench name as in sim/tb/Makefile, HDL top, sources in sim/hdl, cocotb test modules in sim/tb,
#  number of cocotb tests, HDL parameters — the Makefile's <bench>_COMPILE_ARGS -P overrides)
BENCHES = [
    ("doorbell", "doorbell_top", ["doorbell_top.v"], ["test_doorbell", "test_adapter"], 7, {}),
    ("nic", "nic_top", ["nic_top.v"], ["test_nic"], 3, {}),
    # the igb driver on the NIC model; nic_top with a 50 kHz clock (test_driver checks it)
    ("driver", "nic_top", ["nic_top.v"], ["test_driver"], 2, {"CLK_HALF_PERIOD_PS": 10_000_000}),
    # the pyuvm environment (sim/verif): one test per (corner, profile, seed) with the default seeds
    # (sim.verif.config.DEFAULT_SEEDS): 5 NIC corners x 2 profiles x 3 seeds, 1 system corner x 2 x 3
    # the pyuvm environment with one seed (make sim runs the default seeds and enforces coverage)
    ("env_nic", "nic_top", ["nic_top.v"], ["test_env_nic"], 12, {"CLK_HALF_PERIOD_PS": 10_000_000}),
    ("env_driver", "nic_top", ["nic_top.v"], ["test_env_driver"], 2, {"CLK_HALF_PERIOD_PS": 10_000_000}),
]

#: Environment variables the env benches read (sim/verif/config.py, sim/verif/env.py); a stray one in
#: the caller's environment would narrow the run (changing the test count), dump waves, or overwrite
#: a coverage file, so the simulator never inherits them here.
ENV_KNOBS = ("SEED", "CORNERS", "PROFILES", "WAVES_DIR", "COVERAGE_FILE", "STATS_FILE")

# In CI (CI=true) a missing simulator is a setup bug, not a reason to skip.
pytestmark = pytest.mark.skipif(
    (shutil.which("iverilog") is None or shutil.which("vvp") is None) and not os.environ.get("CI"),
    reason="Icarus Verilog (iverilog/vvp) is not installed; `sudo apt-get install -y iverilog` "
           "(or `make sim`, which installs it when run as root) to run the cocotb benches",
)


@pytest.mark.parametrize("bench,toplevel,sources,modules,n_tests,parameters", BENCHES, ids=[b[0] for b in BENCHES])
def test_cocotb_bench(bench, toplevel, sources, modules, n_tests, parameters, tmp_path, monkeypatch):
    runner_mod = pytest.importorskip("cocotb_tools.runner", reason="cocotb is not installed")
    from cocotb_tools.check_results import get_results  # only once importorskip found cocotb

    # The runner passes this process's sys.path to the simulator's Python as PYTHONPATH:
    # the model is imported as `sim.*` from the repository root, the test modules from sim/tb.
    monkeypatch.syspath_prepend(str(TB_DIR))
    monkeypatch.syspath_prepend(str(REPO))
    # The runner hands this process's environment to the simulator: no stray env-bench knobs.
    for var in ENV_KNOBS:
        monkeypatch.delenv(var, raising=False)

    runner = runner_mod.get_runner("icarus")
    build_dir = tmp_path / "sim_build"
    runner.build(
        sources=[HDL_DIR / s for s in sources],
        hdl_toplevel=toplevel,
        parameters=parameters,
        build_dir=build_dir,
        always=True,
        timescale=("1ns", "1ps"),
    )
    extra_env = {"GPI_LOG_LEVEL": "WARNING"}
    if bench.startswith("env_"):
        extra_env["SEED"] = "1"
    results = runner.test(
        hdl_toplevel=toplevel,
        test_module=modules,
        build_dir=build_dir,
        test_dir=tmp_path,
        extra_env=extra_env,
    )
    tests, failed = get_results(Path(results))
    assert failed == 0, f"{failed} of {tests} cocotb tests failed; see {results}"
    assert tests == n_tests, f"expected {n_tests} cocotb tests, the simulator ran {tests}"
