"""What happened when, during an ``igbsim run``: the recorder behind ``--perfetto``, ``--vcd`` and ``--plot``.

:class:`Timeline` taps a built :class:`~sim.assembly.system.IgbSystem` at
its seams — nothing in the model changes, no engine item is added (so a run
with outputs is the same run as one without: same choices, same figures) —
and hands what it sees to its *sinks*, objects with any of these methods:

* ``cpu_slice(cpu, name, start_ps, end_ps, children)`` — a stretch of time
  one CPU spent under one accounting name (``task:<comm>``, ``user:<comm>``,
  ``softirq:<VECTOR>``, ``hardirq:<irq name>``, ``idle``), with
  ``children``: ``[(function, start_ps, end_ps)]``, the kernel functions whose
  charged CPU time filled it, in order (see *Function slices* below);
* ``nic_slice(track, name, start_ps, end_ps, args)`` — NIC work with a
  duration: ``track`` is ``("txq", n, part)`` with part ``descriptor fetch``,
  ``buffer DMA``, ``MAC`` or ``write-back``, or ``("wire", direction)``;
  returns an id (or None) that ``flow`` may name;
* ``instant(track, name, t_ps, args)`` — an MSI-X message leaving the NIC
  (``("nic", "interrupts")``);
* ``flow(from_id, cpu, t_ps)`` — the write-back ``from_id`` was handled by the
  hardirq that started on ``cpu`` at ``t_ps``;
* ``counters(t_ps, values)`` — ``{name: number}`` of the counters that
  changed (ring occupancy, BQL limit and in-flight, cwnd, ssthresh, qdisc
  backlog, bytes delivered to the partner);
* ``nic_changed(t_ps)`` — the NIC's state may have changed (a register
  access, a DMA starting or landing, a frame starting or ending, a logged
  NIC event);
* ``close(end_ps)`` — the run is over.

**CPU slices.** Each CPU adds every stretch of time to one accounting name
(:mod:`sim.host.sched`, ``CpuRun._account``); the timeline taps that, so
its slices are exactly the CPU's accounting: preemption by an interrupt
ends the task's slice and starts the hardirq's, and the task's resumes
after. Adjacent stretches under the same name are one slice.

**Function slices.** Kernel code charges its CPU time per function
(``stack.core.cputime.charge``: ``net.fn_ctx_time``) or per primitive
(the driver's ``Kernel.charge``: named here by the nearest driver
function on the Python call stack, e.g. ``igb_xmit_frame_ring``). A charge
is *owed* and spent at the context's next observable step, under the same
accounting name; so a CPU's charges under one name, in order, fill that
name's slices in order, none starting before it was charged. A function
whose time is cut by a preemption continues in the name's next slice. Time
no function charged (spinning, stalls, ``user:`` time) stays the parent's.

**Frames.** The MAC sends the packet buffer's frames in the order they
entered it; the timeline notes each frame's queue as its space is reserved
(one committer fills the buffer, a packet at a time), so every frame on
the wire is on its queue's ``MAC`` track.

**Flows.** A queue's write-back raises TXDW; the queue's vector's next
hardirq handles it: each write-back that landed before a hardirq of the
vector owning its queue started gets an arrow to that hardirq.
"""
from __future__ import annotations

import sys
from collections import deque

from driver.igb.igb import IGB_RING_FIELDS
from stack.core.dynamic_queue_limits import DQL_NUM_QUEUED

_NTU, _NTC = IGB_RING_FIELDS["next_to_use"][0], IGB_RING_FIELDS["next_to_clean"][0]

__all__ = ["Timeline"]

_MAX_PENDING = 4096   # unconsumed charges kept per (CPU, name): a bound, not expected to be reached


class Timeline:
    """Taps ``system`` (module docstring) and feeds ``sinks``; :meth:`close` at the end of the run."""

    def __init__(self, system, sinks: list, *, scenario: str = ""):
        self.system = system
        self.engine = system.engine
        self.sinks = list(sinks)
        self._cpu_sinks = [s.cpu_slice for s in self.sinks if hasattr(s, "cpu_slice")]
        self._nic_sinks = [s for s in self.sinks if hasattr(s, "nic_slice")]
        self._instant_sinks = [s.instant for s in self.sinks if hasattr(s, "instant")]
        self._flow_sinks = [s.flow for s in self.sinks if hasattr(s, "flow")]
        self._counter_sinks = [s.counters for s in self.sinks if hasattr(s, "counters")]
        self._change_sinks = [s.nic_changed for s in self.sinks if hasattr(s, "nic_changed")]
        self.scenario = scenario
        ncpu = len(system.host.sched.cpus)
        self._open: list[list | None] = [None] * ncpu          # per CPU: [name, start, end]
        self._charges: dict[tuple[int, str], deque] = {}        # (cpu, name) -> [fn, ps left, charged at]
        self._counters: dict[str, float] = {}
        self._wb_pending: dict[int, list] = {}                   # nic queue -> [(landed ps, flow id)]
        self._frame_queue: deque = deque()                       # queue of each frame in the packet buffer
        self._lanes: dict[tuple[int, str], list[bool]] = {}      # (queue, part) -> lane busy
        self._closed = False
        self._tap_cpus()
        self._tap_charges()
        self._tap_nic()

    # --- helpers --------------------------------------------------------------------------------
    def _vector_map(self) -> dict[str, list[int]]:
        """hardirq name -> NIC queues whose write-backs it handles (igb's q_vectors)."""
        out: dict[str, list[int]] = {}
        for qv in getattr(self.system.adapter, "q_vector", []) or []:
            ring = getattr(getattr(qv, "tx", None), "ring", None)
            if qv is not None and ring is not None:
                out.setdefault(qv.name, []).append(ring.reg_idx)
        return out

    def _changed(self) -> None:
        now = self.engine.now
        for f in self._change_sinks:
            f(now)
        if self._counter_sinks:
            self._sample_counters(now)

    # --- CPUs -------------------------------------------------------------------------------------
    def _tap_cpus(self) -> None:
        for run in self.system.host.sched.cpus:
            orig = run._account

            def account(run=run, orig=orig):
                name, start = run.cpu.context, run.since
                orig()
                end = run.engine.now
                if end > start:
                    self._stretch(run.index, name, start, end)
            run._account = account

    def _stretch(self, cpu: int, name: str, start: int, end: int) -> None:
        op = self._open[cpu]
        if op is not None and op[0] == name and op[2] == start:
            op[2] = end
            return
        if op is not None:
            self._emit_cpu(cpu, *op)
        self._open[cpu] = [name, start, end]
        if name.startswith("hardirq:"):
            self._handled(cpu, name[len("hardirq:"):], start)
        if self._counter_sinks:
            self._sample_counters(self.engine.now)

    def _emit_cpu(self, cpu: int, name: str, start: int, end: int) -> None:
        children = []
        q = self._charges.get((cpu, name))
        t = start
        while q and t < end:
            item = q[0]
            fn, left, at = item
            if at >= end:
                break
            t = max(t, at)
            take = min(left, end - t)
            if children and children[-1][0] == fn and children[-1][2] == t:
                children[-1][2] = t + take
            else:
                children.append([fn, t, t + take])
            t += take
            if take == left:
                q.popleft()
            else:
                item[1] = left - take
        for f in self._cpu_sinks:
            f(cpu, name, start, end, children)

    def _tap_charges(self) -> None:
        """Charges by function: ``net.fn_ctx_time`` (stack functions) and the driver's ``Kernel.charge``."""
        net, kernel, me = self.system.net, self.system.kernel, self

        class _FnTap(dict):
            def __setitem__(self, key, value):
                delta = value - self.get(key, 0)
                super().__setitem__(key, value)
                if delta > 0:
                    me._charged(net.ctx.cpu.index, key[1], key[0], delta)

        net.fn_ctx_time = _FnTap(net.fn_ctx_time)
        orig = kernel.charge

        def charge(primitive: str) -> None:
            cpu = kernel.cpu
            before = cpu.owed_ps
            orig(primitive)
            ps = cpu.owed_ps - before
            if ps > 0:
                self._charged(cpu.index, cpu.context, _driver_function(primitive), ps)
        kernel.charge = charge

    def _charged(self, cpu: int, name: str, fn: str, ps: int) -> None:
        q = self._charges.get((cpu, name))
        if q is None:
            q = self._charges[(cpu, name)] = deque()
        if q and q[-1][0] == fn and q[-1][2] == self.engine.now:
            q[-1][1] += ps
            return
        q.append([fn, ps, self.engine.now])
        if len(q) > _MAX_PENDING:
            q.popleft()

    # --- the NIC ----------------------------------------------------------------------------------
    def _tap_nic(self) -> None:
        nic, engine = self.system.nic, self.engine
        dma = nic.dma
        read, write = dma.read, dma.write

        def dma_read(iova, n, why):
            t0 = engine.now
            lane = self._lane_take(why)
            self._changed()
            result = yield from read(iova, n, why)
            self._dma_done(why, t0, engine.now, n, lane)
            return result

        def dma_write(iova, data, why, done=None):
            t0 = engine.now
            lane = self._lane_take(why)

            def landed(ok, t0=t0, why=why, n=len(data), lane=lane):
                self._dma_done(why, t0, engine.now, n, lane)
                if done is not None:
                    done(ok)
            write(iova, data, why, landed)
            self._changed()

        dma.read, dma.write = dma_read, dma_write
        rd, wr = nic.mmio_read, nic.mmio_write

        def mmio_read(offset, size):
            value = rd(offset, size)
            self._changed()
            return value

        def mmio_write(offset, size, value):
            wr(offset, size, value)
            self._changed()
        nic.mmio_read, nic.mmio_write = mmio_read, mmio_write
        self._tap_packet_buffer(nic)
        self._tap_mac(nic.mac)
        engine.records = _LogTap(self._on_log)

    def _tap_packet_buffer(self, nic) -> None:
        """Which queue each frame entering the packet buffer came from (the MAC sends them in that order).

        One committer moves packets into the buffer, one at a time, each frame after its space is reserved.
        """
        commit, reserve = nic._commit_packet, nic._reserve
        current = [-1]

        def commit_packet(q, descs, packet, req):
            current[0] = q.n
            return (yield from commit(q, descs, packet, req))

        def reserve_space(n):
            yield from reserve(n)
            self._frame_queue.append(current[0])
        nic._commit_packet, nic._reserve = commit_packet, reserve_space

    def _tap_mac(self, mac) -> None:
        """The MAC: a frame's start (busy_until set) and its end (the sinks)."""
        me = self
        base = type(mac)
        value = mac.__dict__.pop("busy_until_ps", 0)

        def get(obj):
            return obj.__dict__.get("_tl_busy_until_ps", 0)

        def put(obj, v):
            obj.__dict__["_tl_busy_until_ps"] = v
            me._changed()
        mac.__class__ = type(base.__name__, (base,), {"busy_until_ps": property(get, put)})
        mac.__dict__["_tl_busy_until_ps"] = value
        mac.add_sink(self._frame_sent)

    def _lane_take(self, why: str):
        """A free lane of the DMA's track (overlapping DMAs of one queue and kind get lanes 0, 1, ...)."""
        part = _part(why)
        if part is None:
            return None
        lanes = self._lanes.setdefault((_queue_of(why), part), [])
        for i, busy in enumerate(lanes):
            if not busy:
                lanes[i] = True
                return i
        lanes.append(True)
        return len(lanes) - 1

    def _dma_done(self, why: str, start: int, end: int, n: int, lane) -> None:
        part = _part(why)
        if part is None:
            self._changed()
            return
        q = _queue_of(why)
        self._lanes[(q, part)][lane] = False
        name = {"write-back": "head write-back" if "head" in why else "descriptor write-back",
                "descriptor fetch": "descriptor fetch", "buffer DMA": "buffer read"}[part]
        ids = [s.nic_slice(("txq", q, part, lane), name, start, end, {"bytes": n}) for s in self._nic_sinks]
        if part == "write-back":
            fid = next((i for i in ids if i is not None), None)
            self._wb_pending.setdefault(q, []).append((end, fid))
        self._changed()

    def _handled(self, cpu: int, irq: str, start: int) -> None:
        if not self._wb_pending:
            return
        for q in self._vector_map().get(irq, ()):   # (the rings exist only once the device is open)
            pending = self._wb_pending.get(q)
            if not pending:
                continue
            keep = []
            for landed, fid in pending:
                if landed <= start:
                    if fid is not None:
                        for f in self._flow_sinks:
                            f(fid, cpu, start)
                else:
                    keep.append((landed, fid))
            self._wb_pending[q] = keep

    def _frame_sent(self, frame, start: int, end: int) -> None:
        q = self._frame_queue.popleft() if self._frame_queue else -1
        args = {"bytes": len(frame)}
        for s in self._nic_sinks:
            if q >= 0:
                s.nic_slice(("txq", q, "MAC", 0), "frame", start, end, args)
            s.nic_slice(("wire", "to partner"), "frame", start, end, args)
        self._changed()

    def _on_log(self, rec) -> None:
        now, what = rec[0], rec[2]
        if what == "discard":   # a device reset dropped frames not yet on the wire
            for _ in range(min(rec[3], len(self._frame_queue))):
                self._frame_queue.pop()
        elif what == "msix":
            for f in self._instant_sinks:
                f(("nic", "interrupts"), f"MSI-X vector {rec[3]}", now, {"vector": rec[3]})
        elif what == "b->a":
            for s in self._nic_sinks:
                s.nic_slice(("wire", "from partner"), "frame", rec[4], rec[5], {"bytes": rec[3]})
        self._changed()

    # --- counters ---------------------------------------------------------------------------------
    def _sample_counters(self, now: int) -> None:
        values = self.counter_values()
        last = self._counters
        changed = {k: v for k, v in values.items() if last.get(k) != v and (v or k in last)}
        if changed:
            last.update(changed)
            for f in self._counter_sinks:
                f(now, changed)

    def counter_values(self) -> dict[str, float]:
        """Counters read without side effects (plain attributes and host memory, no CPU loads)."""
        s = self.system
        out: dict[str, float] = {}
        mem = s.host.mem
        txqs = getattr(s.netdev, "_tx", None) or []
        for ring in getattr(s.adapter, "tx_ring", []) or []:
            if ring is None or not ring.count:
                continue
            # memory, not CPU loads (ring.next_to_use is one): reading must not change the execution
            ntu = mem.read16(ring.addr + _NTU)
            ntc = mem.read16(ring.addr + _NTC)
            i = ring.queue_index
            out[f"ring occupancy tx{i} (descriptors)"] = (ntu - ntc) % ring.count
            if i >= len(txqs):
                continue
            txq = txqs[i]
            d = getattr(txq, "dql", None)
            if d is not None:
                queued = int.from_bytes(mem.read(d.addr + DQL_NUM_QUEUED, 4), "little")
                out[f"BQL limit tx{i} (bytes)"] = d.limit
                out[f"BQL inflight tx{i} (bytes)"] = (queued - d.num_completed) & 0xFFFF_FFFF
            qd = getattr(txq, "qdisc", None)
            if qd is not None and hasattr(qd, "backlog"):
                out[f"qdisc backlog tx{i} (bytes)"] = qd.backlog
        tcp = getattr(s.net, "tcp", None)
        if tcp is not None:
            for sk in sorted(getattr(tcp, "ehash", {}).values(), key=lambda k: getattr(k, "sport", 0) or 0):
                if hasattr(sk, "snd_cwnd"):
                    out["cwnd (segments)"] = sk.snd_cwnd
                    if sk.snd_ssthresh < 0x7FFF_FFFF:
                        out["ssthresh (segments)"] = sk.snd_ssthresh
                    break
        p = s.partner
        if p is not None:
            out["delivered to partner (bytes)"] = _partner_bytes(p, self.scenario)
        return out

    # --- the end ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Flush open slices and close every sink (once)."""
        if self._closed:
            return
        self._closed = True
        self.system.host.sched.flush_accounts()
        for cpu, op in enumerate(self._open):
            if op is not None:
                self._emit_cpu(cpu, *op)
                self._open[cpu] = None
        self._changed()
        for s in self.sinks:
            if hasattr(s, "close"):
                s.close(self.engine.now)


class _LogTap:
    """Stands in for the engine's trace list: each ``append`` goes to the timeline, nothing is kept."""

    def __init__(self, fn):
        self.append = fn

    def __len__(self) -> int:
        return 0


def _part(why: str) -> str | None:
    """The NIC track part of a DMA the NIC labelled ``why`` (``txq0 descriptor fetch``, ``txq0 buffer``...)."""
    if why.endswith("write-back"):
        return "write-back"
    if why.endswith("descriptor fetch"):
        return "descriptor fetch"
    if why.endswith(" buffer"):
        return "buffer DMA"
    return None


def _queue_of(why: str) -> int:
    i = why.find("txq")
    if i < 0:
        return -1
    j = i + 3
    while j < len(why) and why[j].isdigit():
        j += 1
    return int(why[i + 3:j]) if j > i + 3 else -1


def _partner_bytes(partner, scenario: str) -> int:
    """Payload bytes the partner received in order: its UDP port 9 (udp) or its TCP connections."""
    if scenario == "udp":
        return partner.received_bytes(9)
    return sum(c.bytes_received for c in getattr(partner, "connections", {}).values())


_DRIVER_DIRS = ("/driver/igb/", "/stack/")
#: Accessor macros in C (igb's wr32/rd32/wrfl): their cost belongs to the function that calls them.
_SKIP_FILES = ("/driver/igb/hw.py",)


def _driver_function(primitive: str) -> str:
    """The nearest driver or stack function on the call stack (the code a primitive's cost belongs to)."""
    f = sys._getframe(2)
    while f is not None:
        path = f.f_code.co_filename
        if any(d in path for d in _DRIVER_DIRS) and not path.endswith(_SKIP_FILES):
            name = f.f_code.co_name
            if not name.startswith("<"):
                return name
        f = f.f_back
    return primitive
