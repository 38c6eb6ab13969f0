"""The files ``igbsim run`` can write besides its text report: ``--json``, ``--perfetto``, ``--vcd``, ``--plot``.

* :func:`add_output_options` adds the options to the ``run`` parser; each path
  is checked while the command line is parsed — before anything runs — and a
  bad one is one line and exit status 2 (a directory, a folder that does not
  exist or is not writable, the same file for two outputs);
* :func:`attach` (after the system is built) taps it when a timeline output
  is asked for (:mod:`sim.run.timeline`: the taps add no engine work, so the
  run is the same run with or without outputs);
* :meth:`Outputs.finish` (with the run's result) writes them all.

docs/run.md describes the files.
"""
from __future__ import annotations

import argparse
import atexit
import os

__all__ = ["add_output_options", "attach", "Outputs", "OUTPUTS"]

#: option -> (namespace attribute, help)
OUTPUTS = {
    "--json": ("json", "write the whole report as JSON to this file (schema igbsim-run/1, docs/run.md)"),
    "--perfetto": ("perfetto", "write a timeline to this file (Chrome JSON trace; open it in ui.perfetto.dev): "
                               "CPU contexts and kernel functions, NIC queues, wire, interrupts, counters"),
    "--vcd": ("vcd", "write the NIC's state as a waveform to this VCD file (GTKWave)"),
    "--plot": ("plot", "write one page of time series to this PNG file (goodput, cwnd, ring, BQL, "
                       "interrupt rate, CPU busy by context)"),
}


def _check_path(option: str, path: str) -> str:
    """The path, or ArgumentTypeError with the one line the user sees."""
    if not path:
        raise argparse.ArgumentTypeError(f"{option}: empty file name")
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{option} {path}: is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{option} {path}: folder {folder} is not writable")
    if os.path.exists(path) and not os.path.isfile(path):
        # the file is written beside and renamed over the path: that would replace a device or a pipe
        raise argparse.ArgumentTypeError(f"{option} {path}: not a regular file")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{option} {path}: not writable")
    return path


def same_file_problem(opts) -> str | None:
    """Two outputs, or an output and --pcap, naming one file (checked once every option is parsed)."""
    named = [("--pcap", getattr(opts, "pcap", None))]
    named += [(opt, getattr(opts, dest, None)) for opt, (dest, _) in OUTPUTS.items()]
    seen = {}
    for opt, path in named:
        if not path:
            continue
        real = os.path.realpath(path)
        if real in seen:
            return f"{opt} {path}: the same file as {seen[real]}"
        seen[real] = opt
    return None


class _OutputPath(argparse.Action):
    """Checks the path at parse time (two options naming one file: :func:`same_file_problem`)."""

    def __call__(self, parser, namespace, value, option_string=None):
        try:
            path = _check_path(option_string, value)
        except argparse.ArgumentTypeError as e:
            parser.error(str(e))
        setattr(namespace, self.dest, path)   # clashes between files: same_file_problem, after parsing


def add_output_options(parser) -> None:
    """``--json``, ``--perfetto``, ``--vcd``, ``--plot`` on the ``run`` parser."""
    g = parser.add_argument_group("output files (checked before the run)")
    for opt, (dest, text) in OUTPUTS.items():
        g.add_argument(opt, dest=dest, metavar="FILE", default=None, action=_OutputPath, help=text)


class Outputs:
    """The outputs of one run: the timeline sinks while it runs, everything written by :meth:`finish`."""

    def __init__(self, system, opts, *, total: int, write_size: int):
        self.system = system
        self.opts = opts
        self.total, self.write_size = total, write_size
        self.sinks: list = []
        self.timeline = None
        json_path = getattr(opts, "json", None)
        self.json_path = json_path
        title = f"igbsim run {opts.scenario} (nic {opts.nic}, seed {opts.seed})"
        ncpus = len(system.host.sched.cpus)
        if getattr(opts, "perfetto", None):
            from .perfetto_trace import PerfettoSink  # only when asked for
            self.sinks.append(PerfettoSink(opts.perfetto, title=title, ncpus=ncpus, nic_name=system.nic.profile.name))
        if getattr(opts, "vcd", None):
            from .nic_vcd import NicVcdSink  # only when asked for (pyvcd)
            nq = max(1, len([r for r in system.adapter.tx_ring if r is not None]))
            self.sinks.append(NicVcdSink(opts.vcd, system.nic, nq))
        if getattr(opts, "plot", None):
            from .plot import PlotSink  # only when asked for (matplotlib is loaded at the end)
            self.sinks.append(PlotSink(opts.plot, title=title, ncpus=ncpus))
        if self.sinks:
            from .timeline import Timeline  # only when a timeline output is asked for
            self.timeline = Timeline(system, self.sinks, scenario=opts.scenario)
            atexit.register(self.discard)   # a run that never finishes leaves no temporary files

    def finish(self, result) -> None:
        """Write every output asked for (call once, after the result is built)."""
        if self.timeline is not None:
            try:
                self.timeline.close()
            except BaseException:
                self.discard()
                raise
            finally:
                atexit.unregister(self.discard)
        if self.json_path:
            from .json_report import report_doc, write_json  # only when asked for
            write_json(self.json_path, report_doc(result, self.system, self.opts, total=self.total,
                                                  write_size=self.write_size))

    def discard(self) -> None:
        """Remove the temporary files of outputs not finished (a run that failed)."""
        for s in self.sinks:
            if hasattr(s, "discard"):
                s.discard()


def attach(system, opts, *, total: int, write_size: int) -> Outputs:
    """The outputs ``opts`` asks for, tapping ``system`` (built, not yet running) when a timeline is needed.

    ``total`` and ``write_size``: the run's payload bytes and bytes per call (the options or their defaults).
    """
    return Outputs(system, opts, total=total, write_size=write_size)
