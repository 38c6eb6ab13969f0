"""``igbsim run --perfetto FILE``: the run as a Chrome JSON trace, which the Perfetto UI (ui.perfetto.dev) opens.

A :mod:`sim.run.timeline` sink. What the UI shows (docs/run.md has the
picture in words):

* process **host CPUs** — one track per CPU, ``cpu0``, ``cpu1``, …: a slice per
  stretch of time under one accounting name (``task:server``,
  ``user:server``, ``softirq:NET_RX``, ``hardirq:eth0-tx-0``…), its
  category ``process``/``softirq``/``hardirq``, and nested in it the kernel
  functions whose CPU time filled it (``tcp_sendmsg``, ``igb_xmit_frame_ring``…);
* process **NIC <profile>** — per TX queue that did anything, tracks
  ``txqN descriptor fetch``, ``txqN buffer DMA`` (``txqN buffer DMA #k`` for
  reads overlapping in time: up to the NIC's packets in flight), ``txqN MAC``
  (each frame of the queue while the MAC serialises it), ``txqN write-back``;
  and ``interrupts``: an instant per MSI-X message the NIC sends;
* process **wire** — ``to partner`` and ``from partner``: each frame while it
  occupies the wire;
* flow arrows (``handled by``) from each descriptor write-back to the hardirq
  that handled it;
* counters (process **counters**): ring occupancy, BQL limit and in-flight,
  qdisc backlog, cwnd and ssthresh, bytes delivered to the partner.

Time: ``ts`` in µs, every time truncated to whole nanoseconds (so the UI's
ns integers round-trip exactly and nesting survives). Same run, same bytes:
keys sorted, nothing from the wall clock. The file is written as the run
goes (memory stays flat) into a temporary file beside ``path``, renamed
over it at the end; on a failure nothing is left behind.

Not the same writer as :mod:`sim.explore.perfetto` (which builds a whole
execution's events in memory and writes them with ``write_atomically``):
a run's trace can hold millions of events, so it is streamed.
"""
from __future__ import annotations

import json
import os

from .staging import drop, publish, stage

__all__ = ["PerfettoSink", "PIDS"]

#: process ids: the host's CPUs, the NIC, the wire, the counters
PIDS = {"cpu": 1, "nic": 2, "wire": 3, "counters": 4}
_FLOW = "handled by"
_CPU_TID0, _NIC_TID0, _WIRE_TID0 = 100, 1000, 5000


def _ns(ps: int) -> int:
    return ps // 1000


def _us(ns: int) -> float:
    return ns / 1000


def _category(name: str) -> str:
    kind = name.split(":", 1)[0]
    return {"task": "process", "user": "process"}.get(kind, kind)


class PerfettoSink:
    """Streams trace events to ``path`` (module docstring); :meth:`close` finishes the file."""

    def __init__(self, path, *, title: str, ncpus: int, nic_name: str):
        self.path = os.fspath(path)
        fd, self._tmp = stage(self.path)
        self._f = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self._first = True
        self._tids: dict[tuple, int] = {}
        self._next_tid = {"nic": _NIC_TID0, "wire": _WIRE_TID0}
        self._flows = 0
        self._wb_at: dict[int, tuple] = {}   # flow id -> (pid, tid, ts) of its write-back slice, until handled
        self.title = title
        self._f.write('{"displayTimeUnit": "ns",\n "metadata": ')
        self._f.write(json.dumps({"title": title, "source": "igbsim run",
                                  "time_axis": "ts in us of simulated time (truncated to whole ns)"},
                                 sort_keys=True))
        self._f.write(',\n "traceEvents": [\n')
        for pid, name in ((PIDS["cpu"], "host CPUs"), (PIDS["nic"], f"NIC {nic_name}"), (PIDS["wire"], "wire"),
                          (PIDS["counters"], "counters")):
            self._ev({"ph": "M", "pid": pid, "tid": 0, "name": "process_name", "args": {"name": name}})
            self._ev({"ph": "M", "pid": pid, "tid": 0, "name": "process_sort_index", "args": {"sort_index": pid}})
        for i in range(ncpus):
            self._thread(PIDS["cpu"], _CPU_TID0 + i, f"cpu{i}", i)

    # --- writing -------------------------------------------------------------------------------
    def _ev(self, ev: dict) -> None:
        if not self._first:
            self._f.write(",\n")
        self._first = False
        self._f.write(json.dumps(ev, sort_keys=True, ensure_ascii=False))

    def _thread(self, pid: int, tid: int, name: str, order: int) -> None:
        self._ev({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
        self._ev({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": order}})

    def _track(self, track: tuple) -> tuple[int, int]:
        """(pid, tid) of a NIC or wire track, declared on first use."""
        key = track
        tid = self._tids.get(key)
        if tid is None:
            if track[0] == "txq":
                _, q, part, lane = track
                pid, kind = PIDS["nic"], "nic"
                name = f"txq{q} {part}" + (f" #{lane}" if lane else "")
                parts = ("descriptor fetch", "buffer DMA", "MAC", "write-back")
                order = q * 100 + parts.index(part) * 10 + lane
            elif track[0] == "nic":
                pid, kind, name, order = PIDS["nic"], "nic", track[1], 1_000_000
            else:
                pid, kind, name, order = PIDS["wire"], "wire", track[1], 0 if track[1] == "to partner" else 1
            tid = self._next_tid[kind]
            self._next_tid[kind] += 1
            self._tids[key] = tid
            self._thread(pid, tid, name, order)
        return (PIDS["nic"] if track[0] in ("txq", "nic") else PIDS["wire"]), tid

    # --- the timeline's sink methods ------------------------------------------------------------
    def cpu_slice(self, cpu: int, name: str, start: int, end: int, children) -> None:
        a, b = _ns(start), _ns(end)
        if b <= a:
            return
        tid = _CPU_TID0 + cpu
        self._ev({"ph": "X", "pid": PIDS["cpu"], "tid": tid, "ts": _us(a), "dur": _us(b - a), "name": name,
                  "cat": _category(name)})
        for fn, s, e in children:
            s, e = max(_ns(s), a), min(_ns(e), b)
            if e > s:
                self._ev({"ph": "X", "pid": PIDS["cpu"], "tid": tid, "ts": _us(s), "dur": _us(e - s), "name": fn,
                          "cat": "function"})

    def nic_slice(self, track: tuple, name: str, start: int, end: int, args: dict):
        pid, tid = self._track(track)
        a, b = _ns(start), _ns(end)
        ev = {"ph": "X", "pid": pid, "tid": tid, "ts": _us(a), "dur": _us(max(b - a, 0)), "name": name,
              "cat": track[2] if track[0] == "txq" else "wire", "args": args}
        self._ev(ev)
        if track[0] == "txq" and track[2] == "write-back":
            self._flows += 1
            self._wb_at[self._flows] = (pid, tid, _us(a))
            return self._flows
        return None

    def instant(self, track: tuple, name: str, t: int, args: dict) -> None:
        pid, tid = self._track(track)
        self._ev({"ph": "i", "s": "t", "pid": pid, "tid": tid, "ts": _us(_ns(t)), "name": name, "cat": "irq",
                  "args": args})

    def flow(self, fid: int, cpu: int, t: int) -> None:
        pid, tid, ts = self._wb_at.pop(fid)   # the arrow's start: written only for a handled write-back
        self._ev({"ph": "s", "pid": pid, "tid": tid, "ts": ts, "id": fid, "name": _FLOW, "cat": "irq", "bp": "e"})
        self._ev({"ph": "f", "pid": PIDS["cpu"], "tid": _CPU_TID0 + cpu, "ts": _us(_ns(t)), "id": fid,
                  "name": _FLOW, "cat": "irq", "bp": "e"})

    def counters(self, t: int, values: dict) -> None:
        ts = _us(_ns(t))
        for name in sorted(values):
            self._ev({"ph": "C", "pid": PIDS["counters"], "tid": 0, "ts": ts, "name": name,
                      "args": {"value": values[name]}})

    def close(self, end_ps: int) -> None:
        """Finish the file and rename it over ``path``."""
        if self._f.closed:
            return
        try:
            self._f.write("\n]}\n")
            self._f.close()
            publish(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Drop the temporary file (a run that failed)."""
        if not self._f.closed:
            self._f.close()
        drop(self._tmp)
