"""``igbsim run --json FILE``: the whole report, machine-readable, schema ``igbsim-run/1``.

:data:`SCHEMA` is the JSON Schema (draft 2020-12) of the document
:func:`report_doc` builds; ``python -m sim.run.json_report`` prints it.
docs/run.md describes every field. Compatibility: a reader checks
``schema``; fields may be *added* within ``igbsim-run/1``, never renamed,
removed or given another meaning (that makes ``igbsim-run/2``).

Units are in the names: ``_ps`` picoseconds of simulated time, ``_bytes``,
``_bps`` bits per second. Nothing from the wall clock is in the document
(the text report's wall time and real-time factor are left out), so the
same options and seed give byte-identical files: keys sorted, two-space
indent, UTF-8, written whole or not at all.
"""
from __future__ import annotations

import json

from stack.core.cputime import cpu_split, softirq_split
from stack.core.softirq import SOFTIRQ_NAMES

from .report import layer_table, tx_path_contexts

__all__ = ["SCHEMA", "SCHEMA_ID", "report_doc", "write_json"]

SCHEMA_ID = "igbsim-run/1"

_INT = {"type": "integer", "minimum": 0}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_INT_MAP = {"type": "object", "additionalProperties": _INT}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://igbsim.invalid/schemas/igbsim-run-1.json",
    "title": "igbsim run report",
    "type": "object",
    "required": ["schema", "config", "sim_time_ps", "finished", "partial", "ok", "layers", "softirqs", "cpus", "tx_path_ps",
                 "copies", "app_bytes", "delivered_bytes", "goodput", "driver", "nic", "interrupts", "wire",
                 "notes"],
    "additionalProperties": True,
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "config": {
            "type": "object",
            "required": ["scenario", "nic", "kernel", "ordering", "seed", "cpus", "bytes", "write_size", "mtu",
                         "speed_mbps", "ring_size", "itr"],
            "properties": {
                "scenario": {"enum": ["article", "bulk", "small-writes", "udp"]},
                "nic": _STR, "kernel": _STR, "ordering": _STR, "seed": {"type": "integer"},
                "cpus": _INT, "bytes": _INT, "write_size": _INT, "mtu": _INT, "speed_mbps": _INT,
                "ring_size": _INT, "itr": _INT,
            },
        },
        "sim_time_ps": _INT,
        "finished": {"type": "boolean", "description": "the transfer completed within the time limit"},
        "ok": {"type": "boolean", "description": "delivered right and finished: igbsim run exits 0"},
        "partial": {"type": ["string", "null"],
                    "description": "null, or why the run stopped early (e.g. interrupted at 20.000 ms simulated)"},
        "layers": {"type": "array", "items": {
            "type": "object", "required": ["layer", "calls", "packets", "bytes", "cpu_ps"],
            "properties": {"layer": _STR, "calls": _INT, "packets": _INT, "bytes": _INT, "cpu_ps": _INT}}},
        "softirqs": {
            "type": "object", "required": ["counts", "ksoftirqd_wakeups"],
            "properties": {
                "counts": {"type": "object", "description": "vector -> executions per CPU (/proc/softirqs)",
                           "additionalProperties": {"type": "array", "items": _INT}},
                "ksoftirqd_wakeups": {"type": "array", "items": _INT}}},
        "cpus": {"type": "array", "items": {
            "type": "object",
            "required": ["cpu", "us_ps", "sy_ps", "si_ps", "hi_ps", "idle_ps", "softirq_ps", "irqs_taken",
                         "preemptions", "spin_ps"],
            "properties": {"cpu": _INT, "us_ps": _INT, "sy_ps": _INT, "si_ps": _INT, "hi_ps": _INT,
                           "idle_ps": _INT, "softirq_ps": _INT_MAP, "irqs_taken": _INT, "preemptions": _INT,
                           "spin_ps": _INT}}},
        "tx_path_ps": {**_INT_MAP, "description": "CPU time of the transmit path per context"},
        "copies": {"type": "object", "required": ["bytes", "per_byte_sent"],
                   "properties": {"bytes": _INT_MAP, "per_byte_sent": _NUM}},
        "app_bytes": _INT,
        "delivered_bytes": _INT,
        "goodput": {"type": "object", "required": ["bps", "window_ps"],
                    "properties": {"bps": {"type": ["number", "null"]},
                                   "window_ps": {"oneOf": [{"type": "null"},
                                                           {"type": "array", "items": _INT,
                                                            "minItems": 2, "maxItems": 2}]},
                                   "why_not": _STR}},
        "driver": {"type": "object", "required": ["packets", "bytes", "doorbells", "restarts"],
                   "properties": {"packets": _INT, "bytes": _INT, "doorbells": _INT, "restarts": _INT}},
        "nic": {"type": "object", "required": ["frames", "writebacks"],
                "properties": {"frames": _INT, "writebacks": _INT}},
        "interrupts": {"type": "object", "required": ["vectors", "other"],
                       "properties": {"vectors": _INT_MAP, "other": _INT}},
        "wire": {"type": "object", "required": ["to_partner_frames", "to_host_frames"],
                 "properties": {"to_partner_frames": _INT, "to_host_frames": _INT}},
        "notes": {"type": "object", "additionalProperties": _STR,
                  "description": "the text report's free-form lines (delivery check, warnings...)"},
    },
}


def _config(opts, total: int, write_size: int) -> dict:
    return {"scenario": opts.scenario, "nic": opts.nic, "kernel": opts.kernel, "ordering": opts.ordering,
            "seed": opts.seed, "cpus": opts.cpus, "bytes": total, "write_size": write_size, "mtu": opts.mtu,
            "speed_mbps": opts.speed, "ring_size": opts.ring_size, "itr": opts.itr}


def report_doc(result, system, opts, *, total: int, write_size: int) -> dict:
    """The ``igbsim-run/1`` document of a finished run (``result``: the scenario's RunResult)."""
    net, host = result.net, result.host
    sirq = net.softirq
    counts = {name: [sc.counts[nr] for sc in sirq.per_cpu] for nr, name in enumerate(SOFTIRQ_NAMES)
              if any(sc.counts[nr] for sc in sirq.per_cpu)}
    split, per_vec = cpu_split(host), softirq_split(host)
    cpus = []
    for i, (row, vec, run) in enumerate(zip(split, per_vec, host.sched.cpus)):
        cpus.append({"cpu": i, "us_ps": row["us"], "sy_ps": row["sy"], "si_ps": row["si"], "hi_ps": row["hi"],
                     "idle_ps": row["idle"], "softirq_ps": dict(sorted(vec.items())), "irqs_taken": run.irqs_taken,
                     "preemptions": run.preemptions, "spin_ps": run.spin_ps})
    copies = dict(sorted(net.copy_bytes.items()))
    start, end = result.goodput_window
    if end > start and not getattr(result, "goodput_na", ""):
        goodput = {"bps": result.goodput_bps, "window_ps": [start, end],
                   "deliveries": getattr(result, "goodput_deliveries", 0)}
    else:
        goodput = {"bps": None, "window_ps": None,
                   "why_not": getattr(result, "goodput_na", "") or "too few bytes delivered for a steady state"}
    a = system.adapter
    rings = [r for r in a.tx_ring if r is not None]
    vectors = {}
    for q in a.q_vector:
        n = system.kernel.irq.fired(q.msix_vector) if q.msix_vector is not None else 0
        if n:
            vectors[q.name] = n
    notes = {k: str(v) for k, v in result.extra.items()}
    return {
        "schema": SCHEMA_ID,
        "config": _config(opts, total, write_size),
        "sim_time_ps": result.sim_time_ps,
        "finished": "warning" not in result.extra and not any("did not finish" in v for v in notes.values())
                    and not getattr(result, "partial", ""),
        "partial": getattr(result, "partial", "") or None,
        "ok": bool(getattr(result, "ok", True)) and not getattr(result, "partial", ""),
        "layers": [{"layer": n, "calls": c, "packets": p, "bytes": b, "cpu_ps": ps}
                   for n, c, p, b, ps in layer_table(net)],
        "softirqs": {"counts": counts, "ksoftirqd_wakeups": [sc.ksoftirqd_wakeups for sc in sirq.per_cpu]},
        "cpus": cpus,
        "tx_path_ps": dict(sorted(tx_path_contexts(net).items())),
        "copies": {"bytes": copies,
                   "per_byte_sent": sum(copies.values()) / result.app_bytes if result.app_bytes else 0.0},
        "app_bytes": result.app_bytes,
        "delivered_bytes": result.delivered_bytes,
        "goodput": goodput,
        "driver": {"packets": sum(r.tx_stats.packets for r in rings), "bytes": sum(r.tx_stats.bytes for r in rings),
                   "doorbells": system.host.site_counts.get("igb_tx_map.doorbell", 0),
                   "restarts": sum(r.tx_stats.restart_queue for r in rings)},
        "nic": {"frames": system.nic.counters["frames"],
                "writebacks": sum(q.counters.get("writebacks", 0) for q in system.nic.queues)},
        "interrupts": {"vectors": vectors,
                       "other": system.kernel.irq.fired(a.msix_entries[0]) if a.msix_entries else 0},
        "wire": {"to_partner_frames": system.wire.frames_a_to_b, "to_host_frames": system.wire.frames_b_to_a},
        "notes": notes,
    }


def dumps(doc: dict) -> str:
    """The document's text: sorted keys, two-space indent, a final newline."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json(path, doc: dict) -> None:
    """Write ``doc`` to ``path`` whole or not at all."""
    from sim.explore.perfetto import write_atomically  # the explorer's atomic writer; loaded only when writing
    write_atomically(path, dumps(doc))


if __name__ == "__main__":
    print(json.dumps(SCHEMA, indent=2, sort_keys=True))
