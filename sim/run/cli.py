"""``igbsim``: the command line. ``igbsim run`` runs a scenario and prints the report.

Bad input gets one clear line on stderr and exit status 2 — no usage
dump, no traceback. Progress goes to stderr on long runs (``--progress``
forces it on, ``--quiet`` off); the report goes to stdout.
"""
from __future__ import annotations

import argparse
import os
import sys

from sim.explore import options as explore_options

__all__ = ["main", "parse_args", "CliError"]

SCENARIOS = ("article", "bulk", "small-writes", "udp")
ORDERINGS = ("sc", "x86-tso", "arm64", "power", "riscv")
NICS = ("82576", "i210")
KERNELS = ("recent", "3.10")
SPEEDS = (10, 100, 1000)
_SUFFIX = {"": 1, "k": 1000, "m": 1000 ** 2, "g": 1000 ** 3, "ki": 1024, "mi": 1024 ** 2, "gi": 1024 ** 3}


class CliError(Exception):
    """A bad option: the message is the one line the user sees."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        raise CliError(message)


def _size(text: str) -> int:
    """``1500``, ``64K``, ``50M``, ``1Gi`` → bytes."""
    t = text.strip().lower().removesuffix("b")
    for suf in sorted(_SUFFIX, key=len, reverse=True):
        if suf and t.endswith(suf):
            num, mult = t[: -len(suf)], _SUFFIX[suf]
            break
    else:
        num, mult = t, 1
    try:
        value = int(float(num) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 1500, 64K, 50M)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="igbsim", description="Simulate Linux sending through an Intel igb NIC.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a scenario and print the report")
    explore_options.add_parsers(sub)
    r.add_argument("scenario", nargs="?", default="article", choices=SCENARIOS,
                   help="article: a server accepts one connection and send()s (default); bulk: one large "
                        "TCP transfer; small-writes: many small writes with TCP_NODELAY; udp: datagrams")
    r.add_argument("--bytes", type=_size, default=None,
                   help="payload bytes to send (default: article 1M, bulk 50M, small-writes 64K, udp 160K)")
    r.add_argument("--write-size", type=_size, default=None,
                   help="bytes per send() call (default: 64K; small-writes: 64; udp: 4000)")
    r.add_argument("--mtu", type=int, default=1500, help="device MTU, 576..9000 (default 1500)")
    r.add_argument("--speed", type=int, default=1000, help="link speed in Mb/s: 10, 100 or 1000")
    r.add_argument("--ring-size", type=int, default=256, help="TX descriptors, 80..4096 (default 256)")
    r.add_argument("--itr", type=int, default=3,
                   help="tx-usecs: 0 (off), 1, 3 (dynamic, default) or 10..10000 µs")
    r.add_argument("--nic", default="82576", choices=NICS)
    r.add_argument("--kernel", default="recent", choices=KERNELS)
    r.add_argument("--ordering", default="x86-tso", choices=ORDERINGS)
    r.add_argument("--cpus", type=int, default=2, help="CPUs of the host, 1..8 (default 2)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--pcap", default=None, help="write every frame, both directions, to this pcap file")
    r.add_argument("--progress", action="store_true", help="always show progress on stderr")
    r.add_argument("--quiet", action="store_true", help="never show progress")
    return p


def _check(opts) -> None:
    """Range checks argparse cannot express; CliError with one line."""
    if opts.command != "run":
        return   # explore and replay check their own options
    if not 576 <= opts.mtu <= 9000:
        raise CliError(f"--mtu {opts.mtu}: must be 576..9000")
    if opts.speed not in SPEEDS:
        raise CliError(f"--speed {opts.speed}: must be one of 10, 100, 1000")
    if not 80 <= opts.ring_size <= 4096:
        raise CliError(f"--ring-size {opts.ring_size}: must be 80..4096")
    if not (opts.itr in (0, 1, 3) or 10 <= opts.itr <= 10000):
        raise CliError(f"--itr {opts.itr}: must be 0, 1, 3 or 10..10000")
    if not 1 <= opts.cpus <= 8:
        raise CliError(f"--cpus {opts.cpus}: must be 1..8")
    if opts.pcap is not None:
        folder = os.path.dirname(os.path.abspath(opts.pcap))
        if not os.path.isdir(folder):
            raise CliError(f"--pcap {opts.pcap}: folder {folder} does not exist")
    if opts.scenario == "udp" and opts.write_size is not None and opts.write_size > 65507:
        raise CliError(f"--write-size {opts.write_size}: a UDP datagram holds at most 65507 bytes")
    if opts.progress and opts.quiet:
        raise CliError("--progress and --quiet contradict each other")


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
    except KeyboardInterrupt:
        print("igbsim: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(text)
    return 0 if result.ok else 1   # the delivery check failed or the transfer did not finish: exit 1


if __name__ == "__main__":
    sys.exit(main())
