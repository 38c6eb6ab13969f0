"""The invariants checked on every execution; a violation names the invariant, the packet and the slot.

The checker keeps ghost state the model never reads:

* the descriptor ring as the CPUs' program order wrote it (every watched
  store, before it enters a store buffer: :class:`sim.explore.machine.Watch`);
* for each slot, what the tail write that published it covered: when the
  NIC receives a TDT value, the slots from the previous tail up to it are
  *published* with the ghost content of that moment;
* which DMA address belongs to which packet (``dma_map_single``), which
  buffers the NIC has read and which slots it has written back since they
  were published.

Invariants, by the name a violation carries:

``published-before-consumed``
    every descriptor the NIC fetches equals what the transmit that
    published it wrote (not a stale or partial descriptor), and the NIC
    fetches only published slots;
``payload-intact``
    every frame on the wire is byte for byte one of the packets (not
    poison, not stale);
``exactly-once``
    each packet leaves once (none lost, none twice);
``unmapped-before-done``
    a packet's buffer is unmapped only after the NIC has read it and
    written back DD for its EOP descriptor in this lap;
``use-of-freed-skb``
    the kernel's own report (KASAN-like ``kernel.bugs``);
``iommu-fault``
    no DMA the IOMMU blocked;
``not-cleaned`` / ``interrupt-lost`` / ``stranded`` / ``lost-wake-up`` / ``bql``
    at quiescence: every packet transmitted and cleaned; not a completion
    left with NAPI idle; no packet behind a tail never written (or left in
    the qdisc); no queue stopped with at least the wake threshold free; BQL
    never completed more than queued and has nothing in flight.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from driver.igb import clean as igb_clean
from driver.igb.igb import IGB_RING_FIELDS
from driver.platform import DMA_MAPPING_ERROR
from sim.assembly.skbs import frame_seq
from sim.host.sched import Deadlock
from stack.core.dynamic_queue_limits import DQL_NUM_QUEUED

from .record import DESC_FIELDS
from stack.core import netdevice
from stack.core.netdevice import netdev_get_tx_queue

__all__ = ["Violation", "Checker", "INVARIANTS"]

INVARIANTS = ("published-before-consumed", "payload-intact", "exactly-once", "unmapped-before-done",
              "use-of-freed-skb", "iommu-fault", "not-cleaned", "interrupt-lost", "stranded", "lost-wake-up",
              "bql", "dma-api", "deadlock")

_NAPI_STATE_SCHED = 1
#: The queue state bits (Linux's names start with two underscores, which a class body would mangle).
DRV_XOFF = 1 << getattr(netdevice, "__QUEUE_STATE_DRV_XOFF")
STACK_XOFF = 1 << getattr(netdevice, "__QUEUE_STATE_STACK_XOFF")


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its name, the packet number and ring slot (or None), when, and what."""

    invariant: str
    packet: int | None
    slot: int | None
    time_ps: int          # after t0, the start of the execution
    detail: str

    def line(self) -> str:
        """One line: the invariant, packet and slot, when (after t0, the start of the execution), what."""
        where = []
        if self.packet is not None:
            where.append(f"packet {self.packet}")
        if self.slot is not None:
            where.append(f"slot {self.slot}")
        at = f" ({', '.join(where)})" if where else ""
        return f"{self.invariant}{at} at t0+{self.time_ps / 1e6:.3f} us: {self.detail}"


class _Tap(list):
    """The engine's trace list, telling the checker each record as it is logged."""

    def __init__(self, on_record):
        super().__init__()
        self._on_record = on_record

    def append(self, record) -> None:
        super().append(record)
        self._on_record(record)


class _ObservedIommu:
    """The NIC's view of the IOMMU, reporting every device read and write to the checker."""

    def __init__(self, iommu, checker):
        self._iommu = iommu
        self._checker = checker

    def __getattr__(self, name):
        return getattr(self._iommu, name)

    def dma_read_checked(self, iova, n, who):
        phys = self._iommu.translate(iova)
        if phys is not None and self._checker.watch is not None and self._checker.watch.covers(phys, n):
            self._checker.watch.observe(None, phys, n)   # the device reads: buffered stores there may show
        data, ok = self._iommu.dma_read_checked(iova, n, who)
        self._checker.on_device_read(iova, data, ok, who)
        return data, ok

    def dma_write(self, iova, data, who):
        ok = self._iommu.dma_write(iova, data, who)
        self._checker.on_device_write(iova, bytes(data), ok, who)
        return ok


class Checker:
    """Ghost state and invariants for one execution from a warm state (module docstring)."""

    def __init__(self, warm):
        s = warm.system
        self.warm = warm
        self.system = s
        self.engine = s.engine
        ring = warm.ring
        self.ring = ring
        self.count = ring.count
        self.desc = ring.desc
        self.desc_dma = ring.dma
        self.ghost = bytearray(s.host.mem.read(ring.desc, 16 * ring.count))
        self.published: dict[int, tuple[bytes, int | None]] = {}
        self.written_back: set[int] = set()
        self.tail = s.nic.queues[0].tail
        self.packet_of_dma: dict[int, int] = {}
        self.slot_of_dma: dict[int, int] = {}     # buffer address -> the slot whose descriptor was last given it
        self.read_buffers: set[int] = set()
        self.dropped: set[int] = set()
        self.frames = {FIRST: f for FIRST, f in _numbered(warm.frames)}
        self.wire_start = len(s.wire.a_to_b)
        self.faults_start = len(s.host.iommu.faults)
        self.bugs_start = len(s.kernel.bugs)
        self.violations: list[Violation] = []
        self.t0 = s.engine.now                 # the execution starts here; violations are timed from it
        self.watch = None                      # the explore-mode Watch, once installed
        self.recorder = None                   # a Recorder in a recording execution (the timeline's rows)

    # --- installing ----------------------------------------------------------------------------------
    def install(self) -> None:
        """Hook the NIC's DMA, the kernel's DMA API and the engine's trace (a forked execution only)."""
        s = self.system
        s.nic.dma.iommu = _ObservedIommu(s.nic.dma.iommu, self)
        s.engine.records = _Tap(self.on_record)
        kernel = s.kernel
        map_single, unmap_single = kernel.dma_map_single, kernel.dma_unmap_single

        def dma_map_single(dev, cpu_addr, size, direction):
            dma = map_single(dev, cpu_addr, size, direction)
            seq = frame_seq(s.host.mem.read(cpu_addr, size)) if size >= 18 else None
            if dma == DMA_MAPPING_ERROR:
                if seq in self.frames:
                    self.dropped.add(seq)
            elif seq in self.frames:
                self.packet_of_dma[dma] = seq
            return dma

        def dma_unmap_single(dev, dma, size, direction):
            self.on_unmap(dma)
            return unmap_single(dev, dma, size, direction)

        kernel.dma_map_single = dma_map_single
        kernel.dma_unmap_single = dma_unmap_single

    # --- ghost program order ---------------------------------------------------------------------------
    def on_store(self, cpu, addr: int, data: bytes) -> None:
        """A watched CPU store in program order: the ghost descriptor ring follows it."""
        off = addr - self.desc
        if 0 <= off < 16 * self.count:
            self.ghost[off:off + len(data)] = data[:16 * self.count - off]
            if off % 16 == 0 and len(data) >= 8:   # a buffer address: which slot now carries that buffer
                self.slot_of_dma[int.from_bytes(data[:8], "little")] = off // 16

    # --- the NIC ------------------------------------------------------------------------------------------
    def on_record(self, record) -> None:
        """A trace record: the NIC receiving a tail value publishes the slots up to it."""
        if len(record) >= 4 and record[2] == "tdt" and record[1] == self.system.nic.queues[0].name:
            new = record[3]
            i = self.tail
            while i != new:
                raw = bytes(self.ghost[16 * i:16 * i + 16])
                self.published[i] = (raw, self.packet_of_dma.get(int.from_bytes(raw[:8], "little")))
                self.written_back.discard(i)
                i = (i + 1) % self.count
            self.tail = new
            self.event("nic", f"TDT = {new} arrives")

    def on_device_read(self, iova: int, data: bytes, ok: bool, who: str) -> None:
        off = iova - self.desc_dma
        if "descriptor fetch" in who and 0 <= off < 16 * self.count:
            first = off // 16
            for k in range(len(data) // 16):
                self._check_fetch((first + k) % self.count, data[16 * k:16 * k + 16])
            return
        seq = self.packet_of_dma.get(iova)
        if seq is not None:
            self.read_buffers.add(iova)
            self.event("nic", f"reads packet {seq}'s buffer")

    def _check_fetch(self, slot: int, raw: bytes) -> None:
        pub = self.published.get(slot)
        if pub is None:
            self.violate("published-before-consumed", None, slot,
                         "the NIC fetched a slot no tail write it received had published")
            return
        want, seq = pub
        self.event("nic", f"fetches desc[{slot}]" + (f" (packet {seq})" if seq is not None else ""))
        if raw != want:
            diff = [f"{name} {int.from_bytes(raw[a:b], 'little'):#x} (written {int.from_bytes(want[a:b], 'little'):#x})"
                    for a, b, name in DESC_FIELDS if raw[a:b] != want[a:b]]
            self.violate("published-before-consumed", seq, slot,
                         "the NIC read " + ", ".join(diff) + ": the transmit's stores were not yet visible")

    def on_device_write(self, iova: int, data: bytes, ok: bool, who: str) -> None:
        off = iova - self.desc_dma
        if "write-back" in who and 0 <= off < 16 * self.count:
            for k in range(len(data) // 16):
                slot = (off // 16 + k) % self.count
                self.written_back.add(slot)
                self.event("nic", f"writes back desc[{slot}] (DD)")

    # --- the driver ----------------------------------------------------------------------------------------
    def on_unmap(self, dma: int) -> None:
        seq = self.packet_of_dma.get(dma)
        if seq is None:
            return
        slots = [i for i, (raw, p) in self.published.items() if p == seq]
        eop = self._eop_of(slots) if slots else self.slot_of_dma.get(dma)
        self.event("cpu", f"unmaps packet {seq}'s buffer")
        if dma not in self.read_buffers:
            self.violate("unmapped-before-done", seq, eop, "unmapped before the NIC read its buffer")
        elif eop is None or eop not in self.written_back:
            self.violate("unmapped-before-done", seq, eop, "unmapped before the NIC wrote back DD for it in this lap")

    def _eop_of(self, slots: list[int]) -> int | None:
        for i in slots:
            raw = self.published[i][0]
            if int.from_bytes(raw[8:12], "little") & 0x01000000:
                return i
        return slots[-1] if slots else None

    # --- recording ----------------------------------------------------------------------------------------
    def event(self, lane: str, text: str, mark: str = "") -> None:
        """A step for the timeline (kept only in a recording execution)."""
        if self.recorder is not None:
            self.recorder.row(lane, text, mark=mark)

    def violate(self, invariant: str, packet, slot, detail: str) -> None:
        v = Violation(invariant, packet, slot, self.engine.now - self.t0, detail)
        self.violations.append(v)
        self.event("violation", v.line(), "✗")

    def kernel_bug(self, exc) -> None:
        """A KernelBug or Deadlock raised out of the run."""
        name = "deadlock" if isinstance(exc, Deadlock) else "use-of-freed-skb"
        if name == "use-of-freed-skb" and len(self.system.kernel.bugs) > self.bugs_start:
            return   # reported from kernel.bugs by finish()
        self.violate(name, None, None, str(exc).splitlines()[0])

    # --- quiescence -------------------------------------------------------------------------------------
    def finish(self) -> None:
        """The end-of-execution invariants (module docstring), after every store buffer drained."""
        s = self.system
        for report in s.kernel.bugs[self.bugs_start:]:
            self.violations.append(Violation("use-of-freed-skb", None, None, report.time_ps - self.t0,
                                             f"{report.kind} in {report.site} on cpu{report.cpu} ({report.context})"))
        for fault in s.host.iommu.faults[self.faults_start:]:
            self.violations.append(Violation("iommu-fault", None, None, getattr(fault, "time_ps", self.engine.now) - self.t0,
                                             str(fault).splitlines()[0]))
        s.host.drain_all()
        self._check_quiescence()   # first: a stranded packet is the cause of its "never sent"
        self._check_wire()

    def _check_wire(self) -> None:
        sent = Counter()
        for f in self.system.wire.a_to_b[self.wire_start:]:
            frame = f.frame
            seq = frame_seq(frame) if len(frame) >= 18 else None
            want = self.frames.get(seq)
            if want is None or frame[:len(want)] != want:
                self.violate("payload-intact", seq if want is not None else None, None,
                             f"a {len(frame)}-byte frame on the wire is none of the packets "
                             f"(first bytes {frame[:8].hex()})")
                continue
            sent[seq] += 1
        for seq in self.frames:
            n = sent[seq]
            if n > 1:
                self.violate("exactly-once", seq, None, f"sent {n} times")
            elif n == 0 and seq not in self.dropped:
                self.violate("exactly-once", seq, None, "never sent")

    def probe(self) -> None:
        """Just after the racing instant, with every CPU idle: the queue is not stopped with room to spare.

        Both CPUs' work at t0 is done; nothing will wake the queue but a
        later completion interrupt. Stores still buffered count as written
        (``own_view``): the question is what the driver decided, not what is
        visible yet.
        """
        if not _idle(self.system):
            return
        # and nothing in flight: a completion still to come would wake the queue (a delay, not a loss)
        ring, mem = self.ring, self.system.host.mem
        ntu = int.from_bytes(self._latest(ring.addr + _ring_off("next_to_use"), 2), "little")
        ntc = int.from_bytes(self._latest(ring.addr + _ring_off("next_to_clean"), 2), "little")
        if ntu == ntc:
            self._check_wake(ntu, ntc, self._latest(netdev_get_tx_queue(self.system.netdev, 0).state_addr, 1)[0])

    def _latest(self, addr: int, size: int) -> bytes:
        """The bytes as the last CPU to store there has them (its store buffer over memory)."""
        for cpu in self.system.host.cpus:
            if cpu.holds(addr, size):
                return cpu.own_view(addr, size)
        return self.system.host.mem.read(addr, size)

    def _check_wake(self, ntu: int, ntc: int, state: int | None = None) -> None:
        if state is None:
            state = self.system.host.mem.read(netdev_get_tx_queue(self.system.netdev, 0).state_addr, 1)[0]
        free = (ntc - ntu - 1) % self.ring.count
        if state & DRV_XOFF and free >= igb_clean.TX_WAKE_THRESHOLD and \
                not any(v.invariant == "lost-wake-up" for v in self.violations):
            self.violate("lost-wake-up", None, None, f"the queue is stopped with {free} descriptors free "
                         f"(the wake threshold is {igb_clean.TX_WAKE_THRESHOLD}) and no CPU will wake it")

    def _check_quiescence(self) -> None:
        s = self.system
        ring = self.ring
        mem = s.host.mem
        ntu = mem.read32(ring.addr + _ring_off("next_to_use")) & 0xFFFF
        ntc = mem.read32(ring.addr + _ring_off("next_to_clean")) & 0xFFFF
        nic_q = s.nic.queues[0]
        txq = netdev_get_tx_queue(s.netdev, 0)
        if nic_q.tail != ntu:
            self.violate("stranded", None, nic_q.tail, f"next_to_use is {ntu} but the last tail written is "
                         f"{nic_q.tail}: descriptors wait behind a doorbell never rung")
        elif ntc != ntu:
            napi = ring.q_vector.napi
            if nic_q.head == ntu and not mem.read(napi.state_addr, 1)[0] & _NAPI_STATE_SCHED:
                self.violate("interrupt-lost", None, ntc, f"the NIC finished up to {ntu}, NAPI is idle, "
                             f"and slots from {ntc} were never cleaned")
            else:
                self.violate("not-cleaned", None, ntc, f"next_to_clean {ntc} never reached next_to_use {ntu}")
        self._check_wake(ntu, ntc)
        state = mem.read(txq.state_addr, 1)[0]
        qlen = txq.qdisc.qlen
        if qlen and not state & (DRV_XOFF | STACK_XOFF):
            self.violate("stranded", None, None, f"{qlen} packets left in the qdisc of a running queue")
        d = txq.dql
        queued = mem.read32(d.addr + DQL_NUM_QUEUED)
        if d.num_completed > queued:
            self.violate("bql", None, None, f"completed {d.num_completed} bytes, more than the {queued} queued")
        elif queued != d.num_completed:
            self.violate("bql", None, None, f"{queued - d.num_completed} bytes still in flight at quiescence")


def _idle(system) -> bool:
    """No CPU runs or has anything ready to run."""
    return all(run.current is None and not run.runq and not run.preempted for run in system.host.sched.cpus)


def _numbered(frames):
    return [(frame_seq(f), f) for f in frames]


def _ring_off(name: str) -> int:
    return IGB_RING_FIELDS[name][0]
