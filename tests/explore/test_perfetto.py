"""sim.explore.perfetto: a recorded violating execution as a Perfetto (Chrome JSON) trace.

The execution is the explorer's headline race on arm64 (``igb_tx_map.publish``
dropped, two packets, a bounded search of depth 2). Expected values come
from the outcome itself, counted independently of the module: its rows,
its lanes, its marks and ``Outcome.violation.line()``.
"""
from __future__ import annotations

import json
import os
from itertools import pairwise

import pytest

from sim.explore.perfetto import write_trace
from sim.explore.runner import DriverConfig, Session
from sim.explore.scenarios import ScenarioConfig
from sim.explore.search import bounded_search


@pytest.fixture(scope="module")
def outcome():
    ses = Session(ScenarioConfig("tx", "arm64", packets=2), DriverConfig((("igb_tx_map.publish", None),)))
    r = bounded_search(ses, 2)
    assert r.found is not None
    o = ses.run(r.found.ranks, record=True)
    assert o.violation is not None and o.rows
    return o


@pytest.fixture
def trace(outcome, tmp_path):
    path = tmp_path / "race.json"
    write_trace(outcome, path, title="publish dropped")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _slices(trace):
    return [e for e in trace["traceEvents"] if e["ph"] in ("X", "i")]


def test_every_row_becomes_exactly_one_event_with_its_text_cells_mark_and_time(outcome, trace):
    slices = _slices(trace)
    assert len(slices) == len(outcome.rows)
    seen = [(e["args"]["text"], tuple(e["args"]["cells"]), e["args"]["mark"], e["args"]["sim_time_ps"])
            for e in sorted(slices, key=lambda e: e["ts"])]
    assert seen == [(r.text, r.cells, r.mark, r.time_ps) for r in outcome.rows]
    assert all(len(e["name"]) <= 62 for e in slices)           # mark, space, 60 characters


def test_one_named_sorted_track_per_lane_in_one_process(outcome, trace):
    meta = [e for e in trace["traceEvents"] if e["ph"] == "M"]
    names = {e["tid"]: e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    order = {e["tid"]: e["args"]["sort_index"] for e in meta if e["name"] == "thread_sort_index"}
    assert {"cpu0", "cpu1", "nic", "violations", "cpu0 store buffer → memory"} <= set(names.values())
    assert len(names) == len({r.lane for r in outcome.rows})
    ranked = [names[t] for t in sorted(names, key=order.get)]
    assert ranked.index("cpu0") < ranked.index("cpu0 store buffer → memory") < ranked.index("cpu1")
    assert ranked[-2:] == ["nic", "violations"]
    [proc] = [e for e in meta if e["name"] == "process_name"]
    assert proc["args"]["name"] == "igbsim explore: publish dropped"
    assert {e["pid"] for e in trace["traceEvents"]} == {proc["pid"]}
    for e, r in zip(sorted(_slices(trace), key=lambda e: e["ts"]), outcome.rows):
        want = f"cpu{r.lane[2:]} store buffer → memory" if r.lane.startswith("sb") else \
            {"violation": "violations"}.get(r.lane, r.lane)
        assert names[e["tid"]] == want
    assert trace["displayTimeUnit"] == "ns"


def test_timestamps_strictly_increase_in_row_order(trace):
    slices = _slices(trace)
    assert [e["args"]["step"] for e in slices] == list(range(len(slices)))   # file order is row order
    ts = [e["ts"] for e in slices]
    assert all(a < b for a, b in pairwise(ts))
    assert all(isinstance(t, float) for t in ts)


def test_deviations_and_violations_stand_out(outcome, trace):
    slices = sorted(_slices(trace), key=lambda e: e["ts"])
    for e, r in zip(slices, outcome.rows):
        want = {"⚡": ("deviation", "bad"), "✗": ("violation", "terrible")}.get(r.mark)
        if want:
            assert (e["cat"], e["cname"]) == want
        else:
            assert "cname" not in e and e["cat"] not in ("deviation", "violation")
    line = outcome.violation.line()
    assert [e for e in slices if e["args"]["text"] == line and e["cat"] == "violation"]
    assert trace["metadata"]["violation"] == line


def test_one_arrow_per_deviation_ending_at_the_violation(outcome, trace):
    line = outcome.violation.line()
    [bad] = [e for e in _slices(trace) if e["args"]["text"] == line]
    deviations = [i for i, r in enumerate(outcome.rows) if r.mark == "⚡"]
    assert deviations and max(deviations) < bad["ts"]           # here every deviation comes before it
    starts = [e for e in trace["traceEvents"] if e["ph"] == "s"]
    ends = [e for e in trace["traceEvents"] if e["ph"] == "f"]
    assert sorted(e["ts"] for e in starts) == [float(i) for i in deviations]
    assert sorted(e["id"] for e in starts) == sorted(e["id"] for e in ends)
    assert len({e["id"] for e in starts}) == len(starts)
    assert all(e["ts"] == bad["ts"] and e["tid"] == bad["tid"] and e["bp"] == "e" for e in ends)


def test_the_same_outcome_gives_the_same_bytes(outcome, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_trace(outcome, a, title="t")
    write_trace(outcome, b, title="t")
    assert a.read_bytes() == b.read_bytes()


def test_a_directory_path_raises_oserror_and_leaves_nothing(outcome, tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(OSError):
        write_trace(outcome, target, title="t")
    assert sorted(os.listdir(tmp_path)) == ["adir"] and os.listdir(target) == []
    with pytest.raises(OSError):
        write_trace(outcome, tmp_path / "missing" / "x.json", title="t")
    assert sorted(os.listdir(tmp_path)) == ["adir"]
