"""``igbsim``: the command line. ``igbsim run`` runs a scenario and prints the report.

Bad input gets one clear line on stderr and exit status 2 — no usage
dump, no traceback; output files are created before the run. Progress goes
to stderr on long runs (``--progress`` forces it on, ``--quiet`` off); the
report goes to stdout. Ctrl-C stops the run at the next step: the report
(marked PARTIAL) and the pcap of what ran are written, exit status 130.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tomllib
from importlib import metadata

from sim.explore import options as explore_options
from sim.run.outputs import add_output_options, same_file_problem

from .units import MAX_BYTES, SizeError, human_size, parse_size

__all__ = ["main", "parse_args", "CliError"]

SCENARIOS = ("article", "bulk", "small-writes", "udp")
ORDERINGS = ("sc", "x86-tso", "arm64", "power", "riscv")
NICS = ("82576", "i210")
KERNELS = ("recent", "3.10")
SPEEDS = (10, 100, 1000)
RING_MIN, RING_MAX = 64, 4096     # IGB_MIN_TXD, IGB_MAX_TXD (driver/igb/igb.py; checked by tests/sim/run)
#: Help text of each scenario's default (bytes, write size); tests/sim/run checks them against
#: sim.run.scenarios.DEFAULTS (the CLI does not import the model before parsing).
DEFAULT_SIZES = {"article": ("1 MB", "64 KiB"), "bulk": ("50 MB", "64 KiB"), "small-writes": ("64 KiB", "64 B"),
                 "udp": ("160 KB", "4 KB")}
_UNITS = "K, M, G (and KB, MB, GB) are ×1000; Ki, Mi, Gi (and KiB, MiB, GiB) are ×1024"


class CliError(Exception):
    """A bad option: the message is the one line the user sees."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        raise CliError(message)


def _size(text: str) -> int:
    """``1500``, ``64K`` (64000), ``64KiB`` (65536), ``50M``, ``1GiB`` → bytes (:mod:`sim.run.units`)."""
    try:
        return parse_size(text)
    except SizeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _version() -> str:
    """The installed package's version, else pyproject.toml's (a checkout run without installing)."""
    try:
        return metadata.version("igbsim")
    except metadata.PackageNotFoundError:
        pyproject = pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="igbsim", description="Simulate Linux sending through an Intel igb NIC.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a scenario and print the report")
    explore_options.add_parsers(sub)
    r.add_argument("scenario", nargs="?", default="article", choices=SCENARIOS,
                   help="article: a server accepts one connection and send()s (default); bulk: one large "
                        "TCP transfer; small-writes: many small writes with TCP_NODELAY; udp: datagrams")
    r.add_argument("--bytes", type=_size, default=None,
                   help=f"payload bytes to send, at most {human_size(MAX_BYTES)} (default: " + ", ".join(
                       f"{k} {b}" for k, (b, _) in DEFAULT_SIZES.items()) + f"). {_UNITS}: 64K = 64000, "
                        "64KiB = 65536")
    r.add_argument("--write-size", type=_size, default=None,
                   help="bytes per send() call (default: " + ", ".join(
                       f"{k} {w}" for k, (_, w) in DEFAULT_SIZES.items()) + "); same units as --bytes")
    r.add_argument("--mtu", type=int, default=1500, help="device MTU, 576..9000 (default 1500)")
    r.add_argument("--speed", type=int, default=1000, help="link speed in Mb/s: 10, 100 or 1000 (default 1000)")
    r.add_argument("--ring-size", type=int, default=256,
                   help=f"TX descriptors, {RING_MIN}..{RING_MAX} (default 256); igb rounds it up to a multiple "
                        "of 8, as ethtool -G does, and the report says what it made of it")
    r.add_argument("--itr", type=int, default=3,
                   help="tx-usecs: 0 (off), 1, 3 (dynamic, default) or 10..10000 µs")
    r.add_argument("--nic", default="82576", choices=NICS,
                   help="the NIC's profile: 82576 (default) or i210")
    r.add_argument("--kernel", default="recent", choices=KERNELS,
                   help="the net core's and protocols' behaviour: recent (6.x, default) or 3.10")
    r.add_argument("--ordering", default="x86-tso", choices=ORDERINGS,
                   help="the CPUs' memory-ordering profile: " + ", ".join(ORDERINGS) + " (default x86-tso)")
    r.add_argument("--cpus", type=int, default=2, help="CPUs of the host, 1..8 (default 2)")
    r.add_argument("--seed", type=int, default=0,
                   help="seeds the payload and the timing draws (store drains, MSI and DMA latencies); the "
                        "same seed gives the same report and pcap (default 0)")
    r.add_argument("--pcap", default=None, help="write every frame, both directions, to this pcap file")
    r.add_argument("--progress", action="store_true", help="always show progress on stderr")
    r.add_argument("--quiet", action="store_true", help="never show progress")
    add_output_options(r)
    return p


def _check(opts) -> None:
    """Range checks argparse cannot express; CliError with one line."""
    if opts.command != "run":
        return   # explore and replay check their own options
    clash = same_file_problem(opts)
    if clash:
        raise CliError(clash)
    if not 576 <= opts.mtu <= 9000:
        raise CliError(f"--mtu {opts.mtu}: must be 576..9000")
    if opts.speed not in SPEEDS:
        raise CliError(f"--speed {opts.speed}: must be one of 10, 100, 1000")
    if not RING_MIN <= opts.ring_size <= RING_MAX:
        raise CliError(f"--ring-size {opts.ring_size}: must be {RING_MIN}..{RING_MAX}")
    if not (opts.itr in (0, 1, 3) or 10 <= opts.itr <= 10000):
        raise CliError(f"--itr {opts.itr}: must be 0, 1, 3 or 10..10000")
    if not 1 <= opts.cpus <= 8:
        raise CliError(f"--cpus {opts.cpus}: must be 1..8")
    if opts.pcap is not None:
        folder = os.path.dirname(os.path.abspath(opts.pcap))
        if not os.path.isdir(folder):
            raise CliError(f"--pcap {opts.pcap}: folder {folder} does not exist")
        _try_output(opts.pcap, "--pcap")
    if opts.scenario == "udp" and opts.write_size is not None and opts.write_size > 65507:
        raise CliError(f"--write-size {opts.write_size}: a UDP datagram holds at most 65507 bytes")
    if opts.progress and opts.quiet:
        raise CliError("--progress and --quiet contradict each other")


def _try_output(path: str, option: str) -> None:
    """Create ``path`` and write and flush a pcap header to it, before anything runs: a directory, a
    file we may not write or a full disk (``/dev/full``) is one line now, not a traceback after the run."""
    from sim.assembly.pcap import PcapWriter   # the header only (struct): no model loaded
    try:
        with open(path, "wb") as f:
            f.write(PcapWriter().getvalue())
            f.flush()
    except OSError as e:
        raise CliError(f"{option} {path}: {e.strerror or e}") from None


def parse_args(argv: list[str]):
    """Parsed and checked options, or CliError."""
    opts = build_parser().parse_args(argv)
    _check(opts)
    return opts


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``igbsim`` command."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = parse_args(argv)
    except CliError as e:
        print(f"igbsim: error: {e}", file=sys.stderr)
        return 2
    if opts.command in ("explore", "replay"):
        from sim.explore import cli as explore_cli   # after parsing: --help and option errors load no model
        return explore_cli.run_explore(opts) if opts.command == "explore" else explore_cli.run_replay(opts)
    from .scenarios import run_scenario  # after parsing: --help and option errors need no model loaded
    try:
        result, text = run_scenario(opts)
    except KeyboardInterrupt:     # before the run started, or a second Ctrl-C: nothing to report
        print("igbsim: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(text)
    sys.stdout.flush()
    for problem in result.write_errors:
        print(f"igbsim: error: {problem}", file=sys.stderr)
    if result.partial:            # Ctrl-C: the partial report and pcap are written
        print(f"igbsim: {result.partial}; the report above is partial", file=sys.stderr)
        return 130
    # the delivery check failed, the transfer did not finish or an output could not be written: exit 1
    return 0 if result.ok and not result.write_errors else 1


if __name__ == "__main__":
    sys.exit(main())
