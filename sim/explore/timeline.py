"""A violating execution as a swim-lane timeline: one row per step, a column per actor.

Columns: each CPU's program (``cpuN``: its loads, stores, barriers, device
writes and atomics on the watched cells, with the kernel function), each
CPU's store buffer becoming visible (``sbN→mem``), and the NIC. Deviations
from the in-order execution are marked ``⚡`` (a store kept buffered while
someone reads it, a stale load, a preemption, a delay), violations ``✗``.
Only steps on the cells involved are kept — the violation's slot, the
cells of every deviation, the ring indices and the queue state for a
stop/wake problem — with every barrier and device write, so a timeline
stays short (at most :data:`MAX_ROWS` rows).
"""
from __future__ import annotations

__all__ = ["render", "MAX_ROWS"]

MAX_ROWS = 30
_WIDTH = 44


def _lanes(rows) -> list[str]:
    cpus = sorted({r.lane[3:] for r in rows if r.lane.startswith("cpu") and r.lane[3:].isdigit()} |
                  {r.lane[2:] for r in rows if r.lane.startswith("sb") and r.lane[2:].isdigit()}, key=int)
    out = []
    for c in cpus:
        out += [f"cpu{c}", f"sb{c}"]
    return out + ["nic"]


def _relevant(outcome) -> set[str]:
    """Cell-name prefixes the timeline keeps."""
    v = outcome.violation
    keep = {c for r in outcome.rows if r.mark == "⚡" for c in r.cells}
    slots = {c[c.index("[") + 1:c.index("]")] for c in keep if "[" in c}
    if v is not None and v.slot is not None:
        slots.add(str(v.slot))
    keep |= {f"desc[{i}]." for i in slots} | {f"tx_buffer[{i}]." for i in slots}
    if v is not None and v.invariant in ("lost-wake-up", "stranded", "not-cleaned", "interrupt-lost"):
        keep |= {"tx_ring->", "txq->state"}
    return keep


def _keep(row, keep: set[str], packet: str | None) -> bool:
    if row.mark or row.lane == "violation":
        return True
    if row.cells:
        if row.lane.startswith("sb") and not any(c.startswith("desc[") or c.endswith("next_to_watch")
                                                 or c in keep for c in row.cells):
            return False   # a store becoming visible: only the descriptor's, next_to_watch's, or a deviation's
        return any(c.startswith(k) or c == k for c in row.cells for k in keep)
    if row.lane == "nic":
        return packet is not None and packet in row.text or "TDT" in row.text or \
            any(k in row.text for k in keep if k.startswith("desc["))
    return "[" in row.text and "]" in row.text   # barriers and device writes at their sites


def select(outcome) -> list:
    """The rows the timeline shows (module docstring)."""
    v = outcome.violation
    keep = _relevant(outcome)
    packet = f"packet {v.packet}" if v is not None and v.packet is not None else None
    rows = [r for r in outcome.rows if _keep(r, keep, packet)]
    first_bad = next((i for i, r in enumerate(rows) if r.mark == "✗"), len(rows) - 1)
    rows = rows[:first_bad + 1]                     # up to the first violation
    if len(rows) > MAX_ROWS:
        must = [i for i, r in enumerate(rows) if r.mark]
        room = MAX_ROWS - len(must)
        near = sorted(set(range(len(rows))) - set(must), key=lambda i: -i)[:max(room, 0)]
        rows = [rows[i] for i in sorted(set(must[-MAX_ROWS:]) | set(near))]
    return rows


def render(outcome, *, header: str = "", explanation: str = "") -> str:
    """The timeline of a recorded ``outcome`` (module docstring)."""
    rows = select(outcome)
    lanes = _lanes(outcome.rows)
    col = {lane: i for i, lane in enumerate(lanes)}
    out = [header] if header else []
    titles = [lane + ("→mem" if lane.startswith("sb") else "") for lane in lanes]
    out.append(f"{'ns':>9}  " + "".join(t.ljust(_WIDTH) for t in titles).rstrip())
    t0 = outcome.rows[0].time_ps if outcome.rows else 0
    for r in rows:
        if r.lane == "violation":
            out.append(f"{(r.time_ps - t0) / 1000:>9.1f}  ✗ {r.text}")
            continue
        i = col.get(r.lane, len(lanes) - 1)
        text = (r.mark + " " if r.mark else "") + r.text
        out.append(f"{(r.time_ps - t0) / 1000:>9.1f}  " + " " * (_WIDTH * i) + text)
    if explanation:
        out.append(explanation)
    return "\n".join(out) + "\n"
