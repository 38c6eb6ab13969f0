"""WAVES: the environment's VCD of the NIC's state parses back with the signals and values it must have.

Runs one configuration-(a) test (``nic_desc_wb_msix`` on the 82576, seed 1)
under Icarus with ``WAVES_DIR`` set, as ``make sim WAVES=1`` does, then reads
the VCD with pyvcd's tokenizer (a reader independent of the writer's code
path) and checks: every declared signal is there; the ring pointers stay
inside the ring; at the end TDH has caught up with TDT (the test drains the
ring); the MAC was busy and idle; an MSI-X test shows EIMS set.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.oracle import read_vcd

REPO = Path(__file__).resolve().parents[3]
RING = 64   # TbConfig's default ring

pytestmark = pytest.mark.skipif(
    (shutil.which("iverilog") is None or shutil.which("vvp") is None) and not os.environ.get("CI"),
    reason="Icarus Verilog is not installed")


def test_env_waves_of_the_nic_state(tmp_path, monkeypatch):
    runner_mod = pytest.importorskip("cocotb_tools.runner")
    monkeypatch.syspath_prepend(str(REPO / "sim" / "tb"))
    monkeypatch.syspath_prepend(str(REPO))
    for var in ("SEED", "CORNERS", "PROFILES", "COVERAGE_FILE", "STATS_FILE"):
        monkeypatch.delenv(var, raising=False)
    waves = tmp_path / "waves"
    runner = runner_mod.get_runner("icarus")
    runner.build(sources=[REPO / "sim" / "hdl" / "nic_top.v"], hdl_toplevel="nic_top",
                 parameters={"CLK_HALF_PERIOD_PS": 10_000_000}, build_dir=tmp_path / "build",
                 always=True, timescale=("1ns", "1ps"))
    runner.test(hdl_toplevel="nic_top", test_module="test_env_nic", build_dir=tmp_path / "build",
                test_dir=tmp_path, extra_env={"SEED": "1", "CORNERS": "nic_desc_wb_msix", "PROFILES": "82576",
                                              "WAVES_DIR": str(waves)})
    vcd = read_vcd(waves / "nic_desc_wb_msix_82576_s1.vcd")
    for name in ("nic.txq0.TDH", "nic.txq0.TDT", "nic.txq0.fetch_ptr", "nic.txq0.desc_cache_fill",
                 "nic.txq0.wb_pending", "nic.pb.fill_bytes", "nic.irq.ICR", "nic.irq.EICR", "nic.irq.EIMS",
                 "nic.irq.eitr1_running", "nic.mac.busy"):
        assert name in vcd, f"{name} missing from the VCD"
    for name in ("nic.txq0.TDH", "nic.txq0.TDT", "nic.txq0.fetch_ptr"):
        assert all(0 <= v < RING for _, v in vcd[name]), f"{name} left the ring"
    assert vcd["nic.txq0.TDH"][-1][1] == vcd["nic.txq0.TDT"][-1][1], "the ring did not drain"
    assert {v for _, v in vcd["nic.mac.busy"]} == {0, 1}
    assert any(v & 0b10 for _, v in vcd["nic.irq.EIMS"]), "EIMS never held the TX vector (1)"
    for name, changes in vcd.items():
        assert [t for t, _ in changes] == sorted(t for t, _ in changes), f"{name}: time went backwards"
