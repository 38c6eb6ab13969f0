"""``igbsim explore`` / ``igbsim replay``: exit status 0/1/2, one line for bad input, tokens that replay."""
from __future__ import annotations

import pytest

from sim.run.cli import main

HEADLINE = ["--drop", "igb_tx_map.publish", "--relax", "igb_tx_map.doorbell", "--packets", "2"]


@pytest.mark.parametrize("argv, says", [
    (["explore", "--drop", "nope"], "unknown barrier site"),
    (["explore", "--profile", "vax"], "unknown profile"),
    (["explore", "--scenario", "rx"], "invalid choice"),
    (["explore", "--mode", "exhaustive", "--budget", "-1"], "--budget"),
    (["explore", "--ring", "100"], "multiple of 8"),
    (["explore", "--barrier", "igb_tx_map.publish=mb"], "not weaker"),
    (["explore", "--relax", "igb_tx_map.publish"], "not an ordered MMIO accessor"),
    (["replay", "garbage"], "not a replay token"),
    (["replay", "igbx1.AAAA"], "does not parse"),
])
def test_bad_input_is_one_line_and_exit_2(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_a_found_violation_exits_1_with_a_token_whose_replay_prints_the_same_timeline(capsys):
    assert main(["explore", "--profile", "arm64", *HEADLINE, "--runs", "400"]) == 1
    out = capsys.readouterr().out
    assert "published-before-consumed" in out and "✗" in out and "⚡" in out
    (token,) = [line.removeprefix("replay: ") for line in out.splitlines() if line.startswith("replay: ")]
    assert main(["replay", token]) == 1
    assert capsys.readouterr().out == out.split("replay: ")[0]


def test_no_violation_within_the_bound_exits_0(capsys):
    assert main(["explore", "--profile", "x86-tso", *HEADLINE, "--runs", "60"]) == 0
    assert "no violation in 60 random executions" in capsys.readouterr().out
