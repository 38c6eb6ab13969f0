"""What an execution did, step by step, in the words of the driver: for timelines and explanations.

:class:`Cells` names a watched address the way the driver's source does
(``desc[63].olinfo_status``, ``tx_buffer[0].next_to_watch``,
``tx_ring->next_to_clean``, ``txq->state``). :class:`Recorder` is installed
in a recording execution only (``Session.run(record=True)``): it adds a row
for every watched load and store a CPU makes (with the kernel function that
made it), every buffered store becoming visible, every barrier, device
write and atomic (told by the watch after the interleaving point) — and it numbers each CPU's watched loads and
stores, so an explanation can name one (``cpu0`` store 14) and a
confirmation run can insert a barrier right there (:class:`Insertion`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from driver.igb.igb import IGB_RING_FIELDS, IGB_TX_BUFFER_FIELDS, IGB_TX_BUFFER_SIZE
from stack.core.dynamic_queue_limits import DQL_ADJ_LIMIT, DQL_LAST_OBJ_CNT, DQL_NUM_QUEUED
from sim.host.ordering import MW
from stack.core.netdevice import netdev_get_tx_queue

__all__ = ["Cells", "Recorder", "Insertion", "Row", "DESC_FIELDS"]

#: The advanced transmit descriptor's read format: (first byte, end, field).
DESC_FIELDS = ((0, 8, "buffer_addr"), (8, 12, "cmd_type_len"), (12, 16, "olinfo_status"))
_HERE = ("/sim/host/", "/sim/explore/", "/sim/engine/", "/stack/core/bitops.py", "/driver/igb/igb.py",
         "/driver/platform/", "/greenlet")


@dataclass(frozen=True)
class Row:
    """One step: when, which lane (``cpuN``, ``sbN`` = CPU N's store buffer to memory, ``nic``), what, and the
    cells it touched."""

    time_ps: int
    lane: str
    text: str
    cells: tuple[str, ...] = ()
    mark: str = ""            # "⚡" a deviation, "✗" a violation


@dataclass(frozen=True)
class Insertion:
    """Run ``primitive`` on CPU ``cpu`` right after its watched store number ``store`` or right before its
    watched load number ``load`` (a confirmation run)."""

    cpu: int
    primitive: str
    store: int | None = None
    load: int | None = None


class Cells:
    """Names of the watched cells of one warm machine."""

    def __init__(self, system):
        ring = system.adapter.tx_ring[0]
        txq = netdev_get_tx_queue(system.netdev, 0)
        self.desc, self.count = ring.desc, ring.count
        self.buffers = ring.tx_buffer_info.addr
        self.fixed = {ring.addr + IGB_RING_FIELDS["next_to_use"][0]: "tx_ring->next_to_use",
                      ring.addr + IGB_RING_FIELDS["next_to_clean"][0]: "tx_ring->next_to_clean",
                      txq.state_addr: "txq->state", ring.q_vector.napi.state_addr: "napi->state",
                      txq.dql.addr + DQL_NUM_QUEUED: "dql.num_queued", txq.dql.addr + DQL_ADJ_LIMIT: "dql.adj_limit",
                      txq.dql.addr + DQL_LAST_OBJ_CNT: "dql.last_obj_cnt"}

    def name(self, addr: int) -> str:
        off = addr - self.desc
        if 0 <= off < 16 * self.count:
            i, o = divmod(off, 16)
            field = next(n for a, b, n in DESC_FIELDS if a <= o < b)
            return f"desc[{i}].{field}"
        off = addr - self.buffers
        if 0 <= off < IGB_TX_BUFFER_SIZE * self.count:
            i, o = divmod(off, IGB_TX_BUFFER_SIZE)
            field = next((n for n, (fo, fs) in IGB_TX_BUFFER_FIELDS.items() if fo <= o < fo + fs), f"+{o}")
            return f"tx_buffer[{i}].{field}"
        return self.fixed.get(addr, f"{addr:#x}")


def _caller() -> str:
    """The kernel function that made the access: the first frame outside the machine and the explorer."""
    f = sys._getframe(2)
    while f is not None:
        path = f.f_code.co_filename
        if not any(h in path for h in _HERE):
            return f.f_code.co_name
        f = f.f_back
    return "?"


class Recorder:
    """Rows of one execution (module docstring); installed on every CPU of ``system`` by :meth:`install`."""

    def __init__(self, system, cells: Cells):
        self.system = system
        self.engine = system.engine
        self.cells = cells
        self.rows: list[Row] = []
        #: (cpu, "store"/"load", number) -> (cell, function): where each watched access was made.
        self.where: dict[tuple[int, str, int], tuple[str, str]] = {}
        #: The reorderings, in order: ("hidden", writer cpu, store number, reader cpu or None, cell) and
        #: ("stale", cpu, load number, cell).
        self.reorderings: list[tuple] = []

    def running_lane(self) -> str:
        """The lane of the CPU whose context runs now (``nic`` outside any context)."""
        ctx = self.system.host.sched.running
        return f"cpu{ctx.run.index}" if ctx is not None else "nic"

    def row(self, lane: str, text: str, cells=(), mark: str = "") -> None:
        self.rows.append(Row(self.engine.now, lane, text, tuple(cells), mark))

    def install(self) -> None:
        """Wrap each CPU's commit, to see stores become visible (this execution's process only)."""
        for cpu in self.system.host.cpus:
            self._wrap(cpu)

    def _wrap(self, cpu) -> None:
        sb = f"sb{cpu.index}"
        commit, cells, watch = cpu._commit, self.cells, cpu.watch

        def _commit(e):
            if e.cls == MW and watch.covers(e.addr, e.size):   # a shared memory store becomes visible
                name = cells.name(e.addr)
                self.row(sb, f"{name} = {int.from_bytes(e.data, 'little'):#x} visible", (name,))
            commit(e)

        cpu._commit = _commit

    # --- told by the Watch -------------------------------------------------------------------------
    def note(self, cpu, kind: str, *what) -> None:
        """A barrier, device write or atomic, after its interleaving point."""
        lane = f"cpu{cpu.index}"
        if kind == "barrier":
            name, site = what
            runs = self.system.host.site_overrides.get(site, name) if site is not None else name
            change = "" if runs == name else " (dropped)" if runs is None else f" (weakened to {runs})"
            self.row(lane, name + (f" [{site}]" if site else "") + change)
        elif kind == "device write":
            value, site, accessor = what
            self.row(lane, f"{accessor}({value:#x}) [{site or '?'}]")
        else:
            name = self.cells.name(what[0])
            self.row(lane, f"atomic {name} ({_caller()})", (name,))

    def store(self, cpu, addr: int, data: bytes, seq: int) -> None:
        name, fn = self.cells.name(addr), _caller()
        self.where[(cpu.index, "store", seq)] = (name, fn)
        self.row(f"cpu{cpu.index}", f"st {name} = {int.from_bytes(data, 'little'):#x}  ({fn})", (name,))

    def load(self, cpu, addr: int, seq: int) -> None:
        name, fn = self.cells.name(addr), _caller()
        self.where[(cpu.index, "load", seq)] = (name, fn)
        self.row(f"cpu{cpu.index}", f"ld {name}  ({fn})", (name,))

    def hidden(self, writer, reader, addr: int, store_seq: int | None) -> None:
        name = self.cells.name(addr)
        who = f"cpu{reader.index}" if reader is not None else "the NIC"
        self.reorderings.append(("hidden", writer.index, store_seq, None if reader is None else reader.index, name))
        self.row(f"sb{writer.index}", f"{name} still buffered as {who} reads it", (name,), "⚡")

    def stale(self, cpu, addr: int, load_seq: int) -> None:
        name = self.cells.name(addr)
        self.reorderings.append(("stale", cpu.index, load_seq, name))
        self.row(f"cpu{cpu.index}", f"ld {name} returns an older value", (name,), "⚡")
