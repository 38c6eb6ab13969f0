"""``igbsim run`` as a new user meets it (issue 13): ring sizes, odd inputs, help, the report's header, Ctrl-C.

Expected values from first principles:

* ring size: igb's ``igb_set_ringparam`` (what ``ethtool -G`` runs) clamps
  to IGB_MIN_TXD..IGB_MAX_TXD = 64..4096 (64 since Linux 6.6, "igb: Change
  IGB_MIN to allow set rx/tx value between 64 and 80") and rounds up to a
  multiple of REQ_TX_DESCRIPTOR_MULTIPLE = 8: 100 → 104, 81 → 88, 255 → 256,
  257 → 264; the NIC's TDLEN is 16 bytes per descriptor;
* sizes: K, M, G and KB, MB, GB are powers of 1000; Ki, Mi, Gi and KiB, MiB,
  GiB powers of 1024 (IEC 80000-13): 64K = 64000, 64KiB = 65536;
* an odd input is one line on stderr starting ``igbsim: error:``, nothing on
  stdout, exit status 2; an interrupted run exits 128 + SIGINT (2) = 130.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import signal
import subprocess
import sys
import tomllib

import pytest
from scapy.utils import rdpcap

from driver.igb.igb import IGB_MAX_TXD, IGB_MIN_TXD, REQ_TX_DESCRIPTOR_MULTIPLE
from sim.assembly.system import IgbSystem
from sim.run import cli, scenarios
from sim.run.cli import DEFAULT_SIZES, ORDERINGS, SCENARIOS, build_parser, parse_args
from sim.run.interrupt import stop_at_step_boundaries
from sim.run.scenarios import DEFAULTS, run_scenario
from sim.run.units import MAX_BYTES, SizeError, human_size, parse_size

ROOT = pathlib.Path(__file__).resolve().parents[3]


def run(*argv):
    return run_scenario(parse_args(["run", *argv]))


def cli_run(*argv, timeout=120):
    return subprocess.run([sys.executable, "-m", "sim.run.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def assert_one_line_exit_2(p, message):
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("igbsim: error:") and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


# --- 1. ring sizes go through igb's rounding -------------------------------------------------------
@pytest.mark.parametrize("asked, actual", [(100, 104), (81, 88), (255, 256), (257, 264), (64, 64), (65, 72)])
def test_a_ring_size_not_a_multiple_of_8_is_rounded_up_as_ethtool_does_and_the_transfer_completes(
        asked, actual, caplog):
    result, text = run("bulk", "--bytes", "4M", "--ring-size", str(asked), "--quiet")   # 4 MB: many laps around the ring
    assert actual == -(-asked // 8) * 8                                  # the rule, spelled out
    assert result.config["ring_size"] == actual and result.config["ring_size_asked"] == asked
    assert result.nic.regs.get("TDLEN0") == actual * 16
    assert "exactly the bytes sent" in text and "warning" not in text
    assert "outside the ring" not in caplog.text and "Tx Unit Hang" not in caplog.text
    if asked == actual:
        assert f"TX ring {actual} descriptors," in text
    else:
        assert f"TX ring {actual} descriptors (asked {asked}; igb rounds up to a multiple of 8)" in text


def test_the_cli_ring_range_is_igbs():
    assert (IGB_MIN_TXD, IGB_MAX_TXD, REQ_TX_DESCRIPTOR_MULTIPLE) == (64, 4096, 8)
    assert (cli.RING_MIN, cli.RING_MAX) == (IGB_MIN_TXD, IGB_MAX_TXD)
    assert parse_args(["run", "--ring-size", "64"]).ring_size == 64          # was refused below 80
    assert parse_args(["run", "--ring-size", "4096"]).ring_size == 4096
    for bad in ("63", "4097", "0", "-8"):
        with pytest.raises(cli.CliError, match="must be 64..4096"):
            parse_args(["run", "--ring-size", bad])


# --- 3. no tracebacks: sizes and output paths are checked before anything runs ---------------------
@pytest.mark.parametrize("argv, message", [
    (["run", "--bytes", "inf"], "'inf': must be a finite number of bytes"),
    (["run", "--bytes", "nan"], "'nan': must be a finite number of bytes"),
    (["run", "--bytes=-inf"], "must be a finite number of bytes"),
    (["run", "--write-size", "inf"], "must be a finite number of bytes"),
    (["run", "--bytes", "1e12"], "at most 100G"),
    (["run", "--bytes", "1e12"], "days"),
    (["run", "--write-size", "2T"], "at most 100G"),
    (["run", "--bytes", "1.5"], "not a whole number"),
    (["run", "--bytes", "0"], "must be positive"),
    (["run", "--bytes", "0x10"], "is not a size"),
    (["run", "--bytes", "64KX"], "is not a size"),
    (["run", "--pcap", "/dev/full"], "--pcap /dev/full: No space left on device"),
    (["run", "--pcap", "/tmp"], "--pcap /tmp: Is a directory"),
    (["run", "--pcap", ""], "No such file or directory"),
    (["run", "--ring-size", "100.5"], "invalid int value"),
    (["run", "--ring-size", "4097"], "must be 64..4096"),
])
def test_odd_inputs_give_one_clear_line_and_exit_2(argv, message):
    assert_one_line_exit_2(cli_run(*argv), message)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_pcap_in_a_folder_we_may_not_write_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert_one_line_exit_2(cli_run("run", "--pcap", str(folder / "x.pcap")), "Permission denied")
    finally:
        folder.chmod(0o700)


def test_the_pcap_is_created_with_its_header_before_the_run(tmp_path):
    path = tmp_path / "early.pcap"
    parse_args(["run", "--pcap", str(path)])
    assert path.read_bytes()[:4] == bytes.fromhex("4d3cb2a1")      # nanosecond magic, little-endian


@pytest.mark.parametrize("text, n", [
    ("1500", 1500), ("1500B", 1500), ("64K", 64000), ("64k", 64000), ("64KB", 64000), ("64kb", 64000),
    ("64Ki", 65536), ("64KiB", 65536), ("64kib", 65536), ("1M", 10 ** 6), ("1MB", 10 ** 6), ("1Mi", 2 ** 20),
    ("1MiB", 2 ** 20), ("1G", 10 ** 9), ("1GB", 10 ** 9), ("1Gi", 2 ** 30), ("1GiB", 2 ** 30),
    ("256Mi", 256 * 2 ** 20), ("1.5K", 1500), ("1e6", 10 ** 6), ("100G", 10 ** 11), (" 2 MB ", 2 * 10 ** 6),
])
def test_sizes_are_decimal_with_k_m_g_and_binary_with_ki_mi_gi(text, n):
    assert parse_size(text) == n


def test_sizes_of_256_mib_and_more_parse_and_100g_is_the_documented_maximum():
    assert parse_args(["run", "bulk", "--bytes", "256MiB"]).bytes == 268_435_456
    assert parse_args(["run", "bulk", "--bytes", "1G"]).bytes == 10 ** 9
    assert MAX_BYTES == 10 ** 11 and parse_size("100G") == MAX_BYTES
    with pytest.raises(SizeError, match="at most 100G"):
        parse_size("100000000001")


# --- 6. help, defaults, version, the report's configuration -----------------------------------------

@pytest.mark.parametrize("text", ["1e999999K", "1e1000000", "1e999999", "9" * 5000])
def test_an_astronomical_size_is_refused_at_once_with_the_maximum(text):
    with pytest.raises(SizeError, match="at most 100G"):
        parse_size(text)

def _run_actions():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices["run"]._actions}


def test_every_run_option_has_help_and_the_speed_its_default():
    actions = _run_actions()
    for dest in ("nic", "kernel", "ordering", "seed", "speed", "ring_size", "bytes", "write_size"):
        assert actions[dest].help, dest
    assert "default 1000" in actions["speed"].help
    assert "64..4096" in actions["ring_size"].help and "multiple of 8" in actions["ring_size"].help


def test_the_help_describes_each_default_size_in_a_unit_that_parses_back_to_it():
    actions = _run_actions()
    for scenario, (nbytes, write) in DEFAULTS.items():
        bytes_text, write_text = DEFAULT_SIZES[scenario]
        assert parse_size(bytes_text) == nbytes and parse_size(write_text) == write, scenario
        assert f"{scenario} {bytes_text}" in actions["bytes"].help
        assert f"{scenario} {write_text}" in actions["write_size"].help
    assert human_size(65536) == "64 KiB" and human_size(64000) == "64 KB" and human_size(10 ** 6) == "1 MB"
    assert "64K)" not in actions["write_size"].help and "64 KiB" in actions["write_size"].help
    assert "64K = 64000" in actions["bytes"].help and "64KiB = 65536" in actions["bytes"].help


def test_version_prints_the_packages_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    p = cli_run("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"igbsim {version}", (p.stdout, p.stderr)


def test_the_report_echoes_its_configuration_so_orderings_no_longer_print_the_same_report():
    texts = {}
    for ordering in ("x86-tso", "arm64", "power"):
        result, text = run("article", "--bytes", "30K", "--ordering", ordering, "--seed", "7", "--quiet")
        assert "exactly the bytes sent" in text
        texts[ordering] = text.split("\n", 1)[1]          # the first line has the wall time
        header = texts[ordering].split("\n\n", 1)[0]
        for needle in ("scenario article", "NIC 82576", "kernel recent", f"ordering {ordering}", "seed 7",
                       "CPUs 2", "payload 30,000 bytes (30 KB)", "write size 65,536 bytes (64 KiB)", "MTU 1500",
                       "speed 1000 Mb/s", "TX ring 256 descriptors", "ITR 3 (dynamic, conservative)"):
            assert needle in header, (needle, header)
    assert len(set(texts.values())) == 3


def test_the_readme_names_the_scenarios_and_says_what_the_article_is():
    readme = (ROOT / "README.md").read_text()
    for scenario in SCENARIOS:
        assert f"`{scenario}`" in readme, scenario
    assert "**the article**" in readme.lower()
    for ordering in ORDERINGS:
        assert ordering in readme


# --- 7. Ctrl-C: the partial report and a valid pcap, then 130 ----------------------------------------
def test_ctrl_c_writes_the_partial_report_and_a_valid_pcap_then_exits_130(tmp_path, monkeypatch, capsys):
    stopped_at = []

    def progress_printer(xfer, force, quiet):
        def show(now_ps):
            if now_ps >= 20_000_000_000:                   # 20 ms simulated: the user presses Ctrl-C
                stopped_at.append(now_ps)
                raise KeyboardInterrupt
        return show

    monkeypatch.setattr(scenarios, "_progress_printer", progress_printer)
    pcap = tmp_path / "partial.pcap"
    rc = cli.main(["run", "bulk", "--bytes", "5M", "--pcap", str(pcap)])
    out, err = capsys.readouterr()
    assert rc == 130
    now = stopped_at[0]
    assert out.startswith(f"PARTIAL: interrupted at {now / 1e9:.3f} ms simulated\n"), out[:200]
    assert "configuration: scenario bulk" in out and "goodput" in out and "did not finish" not in out
    assert "the report above is partial" in err and "Traceback" not in err
    frames = rdpcap(str(pcap))
    wire = next(line for line in out.splitlines() if line.startswith("wire: "))
    to_partner, back = [int(w) for w in wire.split() if w.isdigit()]
    assert len(frames) == to_partner + back > 0
    assert max(float(f.time) for f in frames) <= now / 1e12


def test_a_first_ctrl_c_is_taken_at_the_next_step_and_a_second_at_once():
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has another handler here")
    with stop_at_step_boundaries() as check:
        handler = signal.getsignal(signal.SIGINT)
        check()                                            # nothing asked: the run goes on
        handler(signal.SIGINT, None)                       # the first Ctrl-C only asks
        with pytest.raises(KeyboardInterrupt):
            check()                                        # ... the run stops at the step boundary
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)                   # the second one stops at once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_pcap_that_cannot_be_written_at_the_end_keeps_the_report_and_exits_1(tmp_path, monkeypatch, capsys):
    def full(self):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(IgbSystem, "close_capture", full)
    rc = cli.main(["run", "--bytes", "20K", "--quiet", "--pcap", str(tmp_path / "x.pcap")])
    out, err = capsys.readouterr()
    assert rc == 1 and "goodput" in out
    assert err.strip().splitlines() == [f"igbsim: error: --pcap {tmp_path / 'x.pcap'}: No space left on device"]
