"""A violating execution as text: its deviations and the NIC's and driver's steps on the slots involved.

One row per step, oldest first, in lanes: ``choice`` (each deviation from
the in-order execution, marked ``⚡``: an out-of-order or delayed drain, a
stale load, a preemption, a delayed device event), ``nic`` (tail writes as
the NIC receives them, descriptor fetches, buffer reads, write-backs),
``cpu`` (unmaps) and the violation (``✗``). Rows about other slots and
packets are left out, so a timeline stays short (at most :data:`MAX_ROWS`).
"""
from __future__ import annotations

__all__ = ["render", "MAX_ROWS"]

MAX_ROWS = 30

_KIND = {"tie": "ran out of turn", "drain": "drained out of order", "drain-latency": "drain delayed",
         "stale-load": "stale load", "msi-latency": "MSI delayed", "nic dma-read-jitter": "NIC read delayed",
         "fault dma_map": "DMA mapping failed"}


def _deviation_text(why: str, n: int, rank: int, label: str) -> str:
    kind = why.split(" cpu")[0] if not why.startswith("stale-load") else "stale-load"
    what = _KIND.get(kind, why)
    who = f"{label}: " if label else ""
    return f"⚡ {who}{what} ({why}, option {rank} of {n})"


def render(outcome, *, header: str = "") -> str:
    """The timeline of ``outcome`` (recorded with ``record=True``)."""
    v = outcome.violation
    rows: list[tuple[int, int, str, str]] = []
    for k, why, n, rank, label, t in outcome.steps:
        if rank:
            rows.append((t, 0, "choice", _deviation_text(why, n, rank, label)))
    keys = _keys(v)
    for seq, (t, lane, text) in enumerate(outcome.events):
        if lane == "violation" or not keys or any(key in text for key in keys):
            rows.append((t, 1 + seq, lane, ("✗ " + text) if lane == "violation" else text))
    rows.sort(key=lambda r: (r[0], r[1]))
    if len(rows) > MAX_ROWS:
        rows = [r for r in rows if r[2] in ("choice", "violation")][-MAX_ROWS:] if \
            sum(r[2] in ("choice", "violation") for r in rows) >= MAX_ROWS else _trim(rows)
    t0 = rows[0][0] if rows else 0
    out = [header] if header else []
    out.append(f"{'time (ns)':>10}  {'lane':<9} step")
    for t, _, lane, text in rows:
        out.append(f"{(t - t0) / 1000:>10.1f}  {lane:<9} {text}")
    return "\n".join(out) + "\n"


def _keys(v) -> list[str]:
    if v is None:
        return []
    keys = []
    if v.slot is not None:
        keys.append(f"desc[{v.slot}]")
    if v.packet is not None:
        keys.append(f"packet {v.packet}")
    keys.append("TDT")
    return keys


def _trim(rows):
    """Keep every deviation and the violation, and the rows closest before the violation."""
    must = [r for r in rows if r[2] in ("choice", "violation")]
    others = [r for r in rows if r[2] not in ("choice", "violation")]
    keep = others[-(MAX_ROWS - len(must)):] if len(must) < MAX_ROWS else []
    return sorted(must + keep, key=lambda r: (r[0], r[1]))
