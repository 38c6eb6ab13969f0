"""``igbsim run``'s output files: --json against its schema, --perfetto's tracks, --vcd's values, --plot's PNG.

One short run writes all four; the checks read the files back:

* JSON: valid against ``igbsim-run/1`` (jsonschema), and the figures agree
  with the run's own result;
* Perfetto (Chrome JSON): the trace processor could not be run here (no
  network for its binary), so the file is parsed directly — every CPU track
  and every queue track has slices, slices on a track nest (in the whole
  nanoseconds Perfetto reads), counters for ring occupancy, BQL, cwnd and
  the qdisc are present, every flow end has its start on a write-back
  slice, before it;
* VCD (pyvcd's tokenizer): every queue's TDH has caught up with its TDT at
  the end, the MAC was busy and idle again, the packet buffer emptied;
* PNG: the signature, a real size.

Also: the same seed gives byte-identical JSON, VCD and Perfetto files; a
run with every output gives the same report as one without (the taps add
no work to the engine); bad output paths are one line and exit 2.
"""
from __future__ import annotations

import json
from collections import defaultdict

import jsonschema
import pytest

from sim.run import cli, scenarios
from sim.run.cli import parse_args
from sim.run.json_report import SCHEMA, SCHEMA_ID
from sim.run.progress import ProgressBar
from sim.run.scenarios import run_scenario
from tests.oracle import read_vcd

ARGS = ["run", "article", "--bytes", "100K", "--quiet", "--seed", "5"]


def _run_all(folder, tag: str):
    paths = {k: folder / f"{tag}.{ext}" for k, ext in
             (("json", "json"), ("perfetto", "trace.json"), ("vcd", "vcd"), ("plot", "png"))}
    argv = ARGS + [x for k, p in paths.items() for x in (f"--{k}", str(p))]
    result, text = run_scenario(parse_args(argv))
    return result, text, paths


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    return _run_all(folder, "a")


# --- JSON ---------------------------------------------------------------------------------------
def test_json_validates_against_its_schema_and_matches_the_run(outputs):
    result, _, paths = outputs
    doc = json.loads(paths["json"].read_text())
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert doc["schema"] == SCHEMA_ID
    assert doc["config"]["scenario"] == "article" and doc["config"]["bytes"] == 100_000
    assert doc["config"]["seed"] == 5
    assert doc["delivered_bytes"] == result.delivered_bytes == 100_000
    assert doc["finished"] is True
    assert doc["sim_time_ps"] == result.sim_time_ps
    assert doc["goodput"]["bps"] == result.goodput_bps
    assert sum(c["us_ps"] + c["sy_ps"] + c["si_ps"] + c["hi_ps"] + c["idle_ps"] for c in doc["cpus"]) \
        == len(doc["cpus"]) * result.sim_time_ps
    assert doc["nic"]["frames"] == doc["wire"]["to_partner_frames"] > 0


def test_a_document_missing_a_field_fails_the_schema(outputs):
    doc = json.loads(outputs[2]["json"].read_text())
    del doc["goodput"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


# --- Perfetto -----------------------------------------------------------------------------------
def _trace(path):
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    return events, names


def _ns(us: float) -> int:
    return round(us * 1000)   # what Perfetto's JSON importer makes of a ts in µs


def test_perfetto_every_cpu_and_queue_track_has_slices_and_they_nest(outputs):
    events, names = _trace(outputs[2]["perfetto"])
    slices = defaultdict(list)
    for e in events:
        assert e["ph"] not in ("B", "E")   # complete events only: nothing to balance by hand
        if e["ph"] == "X":
            slices[names[(e["pid"], e["tid"])]].append((_ns(e["ts"]), _ns(e["ts"]) + _ns(e["dur"]), e["name"]))
    tracks = set(names.values())
    cpus = sorted(t for t in tracks if t.startswith("cpu"))
    queues = sorted(t for t in tracks if t.startswith("txq"))
    assert cpus == ["cpu0", "cpu1"]
    assert {"txq0 descriptor fetch", "txq0 buffer DMA", "txq0 MAC", "txq0 write-back"} <= set(queues) or \
        {"txq1 descriptor fetch", "txq1 buffer DMA", "txq1 MAC", "txq1 write-back"} <= set(queues)
    for t in cpus + queues + ["to partner", "from partner"]:
        assert slices[t], f"no slices on track {t}"
    for t, items in slices.items():   # proper nesting: sorted by start (longest first), a stack
        stack = []
        for s, e, name in sorted(items, key=lambda x: (x[0], -x[1])):
            while stack and stack[-1][1] <= s:
                stack.pop()
            assert not stack or e <= stack[-1][1], f"{t}: {name} [{s}, {e}] overlaps {stack[-1]}"
            stack.append((s, e, name))
    mac = sum(len(v) for t, v in slices.items() if t.endswith(" MAC"))
    assert mac == len(slices["to partner"])   # every frame on the wire is on its queue's MAC track
    cpu0 = {n for _, _, n in slices["cpu0"]}
    assert {"task:server", "softirq:NET_RX"} <= cpu0 and any(n.startswith("hardirq:") for n in cpu0)
    assert {"tcp_sendmsg", "tcp_ack", "igb_clean_tx_irq"} <= cpu0   # kernel functions nested in them


def test_perfetto_counters_instants_and_flows(outputs):
    events, names = _trace(outputs[2]["perfetto"])
    counters = {e["name"] for e in events if e["ph"] == "C"}
    for prefix in ("ring occupancy", "BQL limit", "BQL inflight", "cwnd", "qdisc backlog"):
        assert any(c.startswith(prefix) for c in counters), prefix
    assert any(e["ph"] == "i" and e["name"].startswith("MSI-X") for e in events)
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    assert ends and set(starts) == set(ends)
    wb = defaultdict(set)
    for e in events:
        if e["ph"] == "X" and names[(e["pid"], e["tid"])].endswith("write-back"):
            wb[(e["pid"], e["tid"])].add(_ns(e["ts"]))
    for i, f in ends.items():
        s = starts[i]
        assert names[(s["pid"], s["tid"])].endswith("write-back") and _ns(s["ts"]) in wb[(s["pid"], s["tid"])]
        assert names[(f["pid"], f["tid"])].startswith("cpu") and _ns(f["ts"]) >= _ns(s["ts"])
        hard = [e for e in events if e["ph"] == "X" and (e["pid"], e["tid"]) == (f["pid"], f["tid"])
                and e["name"].startswith("hardirq:") and _ns(e["ts"]) == _ns(f["ts"])]
        assert hard, f"flow {i} does not end where a hardirq starts"


# --- VCD ----------------------------------------------------------------------------------------
def test_vcd_parses_back_with_the_nic_state(outputs):
    values = read_vcd(outputs[2]["vcd"])
    signals = set(values)
    for s in ("nic.txq0.TDH", "nic.txq0.TDT", "nic.txq0.desc_cache_fill", "nic.txq0.wb_pending", "nic.pb.fill_bytes",
              "nic.irq.ICR", "nic.irq.EICR", "nic.irq.EIMS", "nic.irq.eitr0_running", "nic.mac.busy"):
        assert s in signals, s
    last = {name: vals[-1][1] for name, vals in values.items()}
    busy = [v for _, v in values["nic.mac.busy"]]
    assert busy.count(1) > 10 and busy[-1] == 0           # busy per frame, idle at the end
    used = [q for q in range(8) if last.get(f"nic.txq{q}.TDT", 0) > 0]
    assert used
    for q in used:   # TDH caught up with TDT: everything the driver handed over went out
        assert last[f"nic.txq{q}.TDH"] == last[f"nic.txq{q}.TDT"]
    assert max(len(values[f"nic.txq{q}.TDH"]) for q in used) > 10   # the data queue's head moved along
    assert last["nic.pb.fill_bytes"] == 0
    assert max(v for _, v in values["nic.pb.fill_bytes"]) > 0


# --- PNG ----------------------------------------------------------------------------------------
def test_plot_writes_a_png(outputs):
    data = outputs[2]["plot"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# --- determinism, no perturbation -----------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(outputs, tmp_path):
    _, _, again = _run_all(tmp_path, "b")
    for k in ("json", "vcd", "perfetto", "plot"):
        assert again[k].read_bytes() == outputs[2][k].read_bytes(), k


def test_outputs_do_not_change_the_run(outputs, tmp_path):
    path = tmp_path / "only.json"
    run_scenario(parse_args(ARGS + ["--json", str(path)]))
    assert path.read_bytes() == outputs[2]["json"].read_bytes()


# --- paths ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_argv, message", [
    (lambda d: ["--json", str(d)], "is a directory"),
    (lambda d: ["--perfetto", str(d / "missing" / "t.json")], "does not exist"),
    (lambda d: ["--vcd", str(d / "x"), "--plot", str(d / "x")], "the same file as --vcd"),
    (lambda d: ["--pcap", str(d / "x"), "--json", str(d / "x")], "the same file as --pcap"),
    (lambda d: ["--json", str(d / "x"), "--pcap", str(d / "x")], "the same file as --pcap"),   # either order
    (lambda d: ["--json", "/dev/null"], "not a regular file"),   # renaming over it would replace the device
])
def test_a_bad_output_path_is_one_line_and_exit_2(tmp_path, capsys, make_argv, message):
    assert cli.main(["run", "article", *make_argv(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.glob(".igbsim-*"))


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(monkeypatch):
    xfer = scenarios.Transfer(100)
    monkeypatch.setattr(scenarios.sys.stderr, "isatty", lambda: False, raising=False)
    assert not isinstance(scenarios._progress_printer(xfer, True, False), ProgressBar)
    monkeypatch.setattr(scenarios.sys.stderr, "isatty", lambda: True, raising=False)
    assert isinstance(scenarios._progress_printer(xfer, True, False), ProgressBar)
    assert not isinstance(scenarios._progress_printer(xfer, False, True), ProgressBar)   # --quiet: never


def test_an_output_that_cannot_be_written_at_the_end_keeps_the_report_and_exits_1(tmp_path, monkeypatch, capsys):
    from sim.run import json_report  # the writer to break

    def full(path, doc):
        raise OSError(28, "No space left on device", str(path))
    monkeypatch.setattr(json_report, "write_json", full)
    assert cli.main(["run", "article", "--bytes", "100K", "--json", str(tmp_path / "r.json")]) == 1
    out, err = capsys.readouterr()
    assert "delivery check" in out and "Traceback" not in err
    assert "r.json: No space left on device" in err and err.count("\n") == 1, err
