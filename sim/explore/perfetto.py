"""A recorded execution as a trace for the Perfetto UI (ui.perfetto.dev): :func:`write_trace`.

The file is Chrome's JSON Trace Event Format, which Perfetto imports. What
the user sees: one process, ``igbsim explore: <title>``, with one track per
lane, in this order — ``cpu0``, ``cpu0 store buffer → memory``, ``cpu1``,
…, then any other lane by its own name, ``nic``, ``violations``. Each row of
the execution is one slice on its lane's track, named by its text (cut to
:data:`NAME_CHARS` characters); clicking it shows the full text, the cells
it touched, its mark and its simulated time. Deviations from the in-order
execution (``⚡``) and violations (``✗``) carry a category and a colour of
their own, and an arrow runs from each deviation to the first violation, so
the reordering that led to it is one click away.

The time axis counts *steps*, not time: row ``i`` starts at ``i`` µs and
lasts :data:`SLICE_US`. CPU code takes no simulated time in explore mode, so
dozens of rows share one simulated instant, and a real time axis would
stack them on top of each other; steps keep every row visible, evenly
spaced, in execution order. The simulated time of a row is in its
``args.sim_time_ps``.

The same outcome always gives the same bytes (sorted keys, nothing from the
real clock), and a file is written whole or not at all (a temporary file in
the same directory, renamed over ``path``).
"""
from __future__ import annotations

import json
import os

from sim.run.staging import drop, publish, stage

__all__ = ["NAME_CHARS", "SLICE_US", "events", "write_trace", "write_atomically"]

NAME_CHARS = 60     # a slice's name: the row's text cut to this length (the full text is in its args)
SLICE_US = 1.0      # a row's slice: one step of the step axis, end to end with the next row's
_PID = 1
_FLOW = "leads to"  # the name of the arrows from a deviation to the violation


def _lane_key(lane: str) -> tuple:
    """Tracks in order: each CPU then its store buffer, then other lanes by name, the NIC, the violations."""
    if lane[:3] == "cpu" and lane[3:].isdigit():
        return (0, int(lane[3:]), 0, "")
    if lane[:2] == "sb" and lane[2:].isdigit():
        return (0, int(lane[2:]), 1, "")
    return {"nic": (2, 0, 0, ""), "violation": (3, 0, 0, "")}.get(lane, (1, 0, 0, lane))


def _track_name(lane: str) -> str:
    if lane[:2] == "sb" and lane[2:].isdigit():
        return f"cpu{lane[2:]} store buffer → memory"
    return "violations" if lane == "violation" else lane


def _name(row) -> str:
    text = row.text if len(row.text) <= NAME_CHARS else row.text[:NAME_CHARS - 1] + "…"
    return f"{row.mark} {text}" if row.mark else text


def _first_violation(rows, violation) -> int | None:
    """The index of the row of ``Outcome.violation`` (else the first ``✗`` row), or None."""
    line = violation.line() if violation is not None else None
    bad = [i for i, r in enumerate(rows) if r.mark == "✗"]
    return next((i for i in bad if rows[i].text == line), bad[0] if bad else None)


def events(outcome, *, title: str) -> list[dict]:
    """The trace events of a recorded ``outcome`` (module docstring): metadata, one slice per row, arrows."""
    rows = outcome.rows
    lanes = sorted({r.lane for r in rows}, key=_lane_key)
    tid = {lane: i + 1 for i, lane in enumerate(lanes)}
    out = [{"ph": "M", "pid": _PID, "tid": 0, "name": "process_name", "args": {"name": f"igbsim explore: {title}"}}]
    for lane in lanes:
        out.append({"ph": "M", "pid": _PID, "tid": tid[lane], "name": "thread_name",
                    "args": {"name": _track_name(lane)}})
        out.append({"ph": "M", "pid": _PID, "tid": tid[lane], "name": "thread_sort_index",
                    "args": {"sort_index": tid[lane]}})
    bad = _first_violation(rows, outcome.violation)
    flows = 0
    for i, r in enumerate(rows):
        ev = {"ph": "X", "pid": _PID, "tid": tid[r.lane], "ts": float(i), "dur": SLICE_US, "name": _name(r),
              "cat": {"⚡": "deviation", "✗": "violation"}.get(r.mark, "step"),
              "args": {"step": i, "text": r.text, "cells": list(r.cells), "mark": r.mark,
                       "sim_time_ps": r.time_ps}}
        if r.mark:
            ev["cname"] = "terrible" if r.mark == "✗" else "bad"
        out.append(ev)
        if r.mark == "⚡" and bad is not None and i < bad:   # an arrow to the violation it came before
            flows += 1
            # After its slice, so the arrow binds to it (an arrow binds to the slice open on its track).
            out.append({"ph": "s", "pid": _PID, "tid": tid[r.lane], "ts": float(i), "id": flows,
                        "name": _FLOW, "cat": "deviation", "bp": "e"})
    for k in range(1, flows + 1):
        out.append({"ph": "f", "pid": _PID, "tid": tid[rows[bad].lane], "ts": float(bad), "id": k,
                    "name": _FLOW, "cat": "deviation", "bp": "e"})
    return out


def write_trace(outcome, path, *, title: str) -> None:
    """Write the recorded ``outcome`` to ``path`` as a Perfetto-readable JSON trace (module docstring).

    Raises :class:`OSError` (a directory, a missing or unwritable directory)
    and then leaves nothing behind: neither a partial ``path`` nor the temporary file.
    """
    v = outcome.violation
    doc = {"traceEvents": events(outcome, title=title), "displayTimeUnit": "ns",
           "metadata": {"title": title, "source": "igbsim explore",
                        "time_axis": "ts = step number in us (execution order); simulated time in args.sim_time_ps",
                        "ranks": list(outcome.ranks), "violation": v.line() if v is not None else None}}
    write_atomically(path, json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=1) + "\n")


def write_atomically(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all: a temporary file beside it, renamed over it.

    Raises :class:`OSError` (a directory, a missing or unwritable directory)
    and then leaves nothing behind.
    """
    fd, tmp = stage(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
        publish(tmp, path)
    except BaseException:
        drop(tmp)
        raise
