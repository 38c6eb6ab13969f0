"""Agents: one per interface of the NIC, each a driver, a monitor and a sequencer (or the subset it needs).

| agent | interface | driver | monitor publishes |
|---|---|---|---|
| :class:`RegAgent` | BAR0 register access (MMIO) | :class:`RegDriver`: ``RegItem`` reads and writes | every access at the NIC's port (:class:`~sim.verif.items.RegTxn`), the testbench's and the igb driver's |
| :class:`MemAgent` | host memory and DMA | the memory responder is the transport's host memory (passive at L0) | every DMA: descriptor fetch, buffer read, write-back, head write-back (:class:`~sim.verif.items.DmaTxn`) |
| :class:`IrqAgent` | MSI-X messages, INTx level | — | every message and level change (:class:`~sim.verif.items.IrqTxn`); checks the HDL pins counted them |
| :class:`WireAgent` | the MAC's transmit side | — | every frame with its times (:class:`~sim.verif.items.WireFrame`) |
| :class:`TxAgent` | descriptor rings (configuration a) | :class:`TxDescDriver`: packets into a ring, doorbells | what it posted (:class:`Posting`) and each doorbell |
| :class:`SkbAgent` | ``dev_queue_xmit`` (configuration b) | :class:`SkbDriver`: skbs to the igb driver in ``xmit_more`` bursts | what it handed over |

Every agent reaches the DUT through the transport from ConfigDB (``"TRANSPORT"``),
so a pin-level transport replaces the L0 one without touching this file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cocotb.triggers import SimTimeoutError, with_timeout
from pyuvm import (ConfigDB, uvm_agent, uvm_analysis_port, uvm_driver, uvm_monitor,
                   uvm_sequence_item, uvm_sequencer, uvm_subscriber)

from sim.verif import txdesc
from sim.verif.items import DmaTxn, SkbSpec, TxPacket
from sim.verif.predictor import expected_dd
from sim.verif.transport import Observer

__all__ = ["RegItem", "TxPacketItem", "SkbItem", "Posting", "Doorbell", "Listener",
           "RegAgent", "MemAgent", "IrqAgent", "WireAgent", "TxAgent", "SkbAgent", "RingTracker"]

RING_STUCK_PS = 20_000_000_000   # 20 ms without ring space: the DUT stopped completing descriptors
RECLAIM_POLL_PS = 2_000_000      # 2 us between TDH reads while the ring is full
FAULT_WAIT_PS = 1_000_000_000    # 1 ms for a DMA fault's interrupt (DOUTSYNC) to come
#: Time for a full transmit packet buffer to leave at 1 Gb/s: 40 KiB (the larger profile's) is 328 us.
DRAIN_PS = 400_000_000


# --- sequence items ------------------------------------------------------------------------------
class RegItem(uvm_sequence_item):
    """A register write (``op == "wr"``) or read (``"rd"``; the driver fills ``value``).

    ``op == "msix"`` programs MSI-X table entry ``value`` (BAR3) with a host
    vector named ``reg``: address and data as the host's interrupt controller
    hands them out, entry unmasked.
    """

    def __init__(self, name: str = "reg", op: str = "wr", reg: str = "", value: int = 0):
        super().__init__(name)
        self.op, self.reg, self.value = op, reg, value

    def __str__(self) -> str:
        return f"{self.op} {self.reg} {self.value:#010x}"


class TxPacketItem(uvm_sequence_item):
    """One :class:`~sim.verif.items.TxPacket` for the descriptor agent."""

    def __init__(self, name: str = "tx_packet", pkt: TxPacket | None = None):
        super().__init__(name)
        self.pkt = pkt


class SkbItem(uvm_sequence_item):
    """One :class:`~sim.verif.items.SkbSpec` for the skb agent."""

    def __init__(self, name: str = "skb", spec: SkbSpec | None = None):
        super().__init__(name)
        self.spec = spec


@dataclass
class Posting:
    """A packet the descriptor driver wrote into a ring: slots ``[first, first + n)`` modulo the ring."""

    pkt: TxPacket
    queue: int
    first: int
    n: int
    ring_size: int
    t_ps: int
    buffers: list[int] = field(default_factory=list)   # DMA addresses the driver allocated (freed on reclaim)

    @property
    def slots(self) -> list[int]:
        return [(self.first + k) % self.ring_size for k in range(self.n)]

    @property
    def end(self) -> int:
        """The ring index after the packet's last descriptor (what TDH reads once it is processed)."""
        return (self.first + self.n) % self.ring_size


@dataclass
class Doorbell:
    """A tail write: ``tail`` for ``batch`` packets posted since the previous one."""

    queue: int
    tail: int
    batch: int
    t_ps: int


def Listener(name: str, parent, fn):
    """An analysis export of ``parent`` that calls ``fn(txn)``: how one component takes several streams."""
    return uvm_subscriber.uvm_AnalysisImp(name, parent, fn)


def _transport(component):
    return ConfigDB().get(component, "", "TRANSPORT")


# --- monitors ----------------------------------------------------------------------------------------
class _PortMonitor(uvm_monitor, Observer):
    """Registers with the transport in build_phase and republishes what it hears on ``ap``."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)
        self.count = 0
        _transport(self).observe(self)

    def _publish(self, txn) -> None:
        self.count += 1
        self.ap.write(txn)


class RegMonitor(_PortMonitor):
    def on_reg(self, txn) -> None:
        self._publish(txn)


class DmaMonitor(_PortMonitor):
    def on_dma(self, txn) -> None:
        self._publish(txn)


class IrqMonitor(_PortMonitor):
    """Interrupts as the host receives them; at the end, HDL must have counted every one on the pins.

    The pins are driven by the transport from the same events, so this checks
    the path to HDL (pulse widths, no lost strobe), not the NIC.
    """

    def build_phase(self):
        super().build_phase()
        self.msix = self.intx_rises = 0
        self.dut = ConfigDB().get(self, "", "DUT")
        self.hdl_base = (int(self.dut.msix_count.value), int(self.dut.irq_count.value))

    def on_irq(self, txn) -> None:
        if txn.kind == "msix":
            self.msix += 1
        elif txn.level:
            self.intx_rises += 1
        self._publish(txn)

    def check_phase(self):
        got = (int(self.dut.msix_count.value) - self.hdl_base[0], int(self.dut.irq_count.value) - self.hdl_base[1])
        assert got == (self.msix, self.intx_rises), (
            f"irq pins: HDL counted {got[0]} MSI-X strobes and {got[1]} INTx rises; "
            f"the host received {self.msix} messages and {self.intx_rises} rises")


class WireMonitor(_PortMonitor):
    def on_wire(self, txn) -> None:
        self._publish(txn)


# --- drivers -------------------------------------------------------------------------------------
class RegDriver(uvm_driver):
    """Executes RegItems through the transport, by register name (the register model's)."""

    def build_phase(self):
        self.transport = _transport(self)
        self.regs = ConfigDB().get(self, "", "REGMODEL")

    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            if item.op == "msix":
                address, data = self.transport.msi_target(item.value, item.reg)
                await self.transport.write_msix(item.value, address, data)
                self.seq_item_port.item_done()
                continue
            offset = self.regs.offset(item.reg)
            if item.op == "wr":
                await self.transport.write_reg(offset, item.value)
            else:
                item.value = await self.transport.read_reg(offset)
            self.seq_item_port.item_done()


class RingTracker(uvm_subscriber):
    """What the descriptor driver knows about completion: write-backs and head values it has seen.

    Fed by the DMA monitor. A slot may be reused only once its packet is
    processed *and* every write-back it will get has landed (a later
    write-back would overwrite the slot's new descriptor).
    """

    def build_phase(self):
        self.queue = ConfigDB().get(self, "", "QUEUE")
        self.ring_base = ConfigDB().get(self, "", "RING_BASES")[self.queue]
        self.written: set[int] = set()   # ring indices written back since they were last posted
        self.head: int | None = None     # the last head value seen (head write-back or TDH read)

    def write(self, txn: DmaTxn) -> None:
        if txn.queue != self.queue:
            return
        if txn.kind == "writeback" and txn.ok:
            first = (txn.addr - self.ring_base) // 16
            self.written.update(range(first, first + len(txn.data) // 16))
        elif txn.kind == "head_wb" and txn.ok:
            self.head = int.from_bytes(txn.data[:4], "little")

    def forget(self, slots) -> None:
        self.written.difference_update(slots)


class TxDescDriver(uvm_driver):
    """Configuration (a): writes each packet's descriptors and buffers into its ring, rings the doorbell.

    Keeps the ring as a driver would (next_to_use, next_to_clean), reclaims
    slots only when the packet is processed and its write-backs landed, and
    waits (reading TDH) when the ring is full. A packet with a DMA fault is
    posted alone on an idle ring; the driver then waits for DOUTSYNC and
    recovers the queue as igb's reset would: disable, TDH = TDT, enable.
    """

    def build_phase(self):
        self.transport = _transport(self)
        self.cfg = ConfigDB().get(self, "", "CFG")
        self.regs = ConfigDB().get(self, "", "REGMODEL")
        self.cfg_queue = ConfigDB().get(self, "", "QUEUE")   # the queue this driver owns
        self.ring_base = ConfigDB().get(self, "", "RING_BASES")[self.cfg_queue]
        self.posted_ap = uvm_analysis_port("posted_ap", self)
        self.doorbell_ap = uvm_analysis_port("doorbell_ap", self)
        self.size = self.cfg.ring_size
        self.ntu = self.ntc = 0
        self.outstanding: list[Posting] = []
        self.batch = 0
        self.tracker: RingTracker | None = None
        self.fault_seen = None   # set by the env: an awaitable that fires on DOUTSYNC

    # --- ring bookkeeping -------------------------------------------------------------------------
    def unused(self) -> int:
        return self.size - 1 - (self.ntu - self.ntc) % self.size

    def _processed(self, p: Posting, head: int | None) -> bool:
        """Head has moved past ``p`` (head lies outside [ntc, p.end) going forward)."""
        if head is None:
            return False
        return (head - self.ntc) % self.size >= (p.end - self.ntc) % self.size

    def _reclaimable(self, p: Posting) -> bool:
        want = [s for s, dd in zip(p.slots, self.expect_dd(p)) if dd]
        if want:
            return all(s in self.tracker.written for s in want)
        return self._processed(p, self.tracker.head)

    def expect_dd(self, p: Posting) -> list[bool]:
        """Which of the packet's descriptors get DD: the predictor's rule (one place for it)."""
        return expected_dd(p.pkt, wthresh=self.cfg.wthresh, head_wb=self.cfg.head_wb)

    def reclaim(self) -> None:
        while self.outstanding and self._reclaimable(self.outstanding[0]):
            p = self.outstanding.pop(0)
            h = self.tracker.head
            if h is None or (h - p.first) % self.size < p.n:
                self.tracker.head = p.end   # the packet is done: the head is at least past it
            self.tracker.forget(p.slots)
            for addr in p.buffers:
                self.transport.free(addr)
            self.ntc = p.end

    async def read_head(self) -> None:
        self.tracker.head = await self.transport.read_reg(self.regs.offset(f"TDH{self.cfg_queue}"))

    async def wait_for_space(self, n: int) -> None:
        deadline = self.transport.now_ps() + RING_STUCK_PS
        self.reclaim()
        if self.unused() < n:
            await self.ring_doorbell()   # the batch so far must go out before its slots come back
        while self.unused() < n:
            await self.read_head()
            self.reclaim()
            if self.unused() >= n:
                return
            if self.transport.now_ps() >= deadline:
                raise AssertionError(
                    f"[ring.progress] ring stuck: {n} descriptors needed, {self.unused()} free for "
                    f"{RING_STUCK_PS // 10**6} us (next_to_clean {self.ntc}, next_to_use {self.ntu}, "
                    f"head {self.tracker.head}); seed {self.cfg.seed}")
            await self.transport.wait_ps(RECLAIM_POLL_PS)

    async def wait_idle(self) -> None:
        """Until every posted packet is reclaimed."""
        await self.wait_for_space(self.size - 1)

    # --- posting ----------------------------------------------------------------------------------
    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            await self.post(item.pkt)
            self.seq_item_port.item_done()

    async def post(self, pkt: TxPacket) -> None:
        if pkt.n_descriptors >= self.size:
            raise ValueError(f"a packet of {pkt.n_descriptors} descriptors cannot fit a ring of {self.size}")
        if pkt.error == "dma_fault" or pkt.idle_before:
            await self.ring_doorbell()
            await self.wait_idle()
        if pkt.idle_before:
            await self.transport.wait_ps(DRAIN_PS)   # the packet buffer empties onto the wire
        await self.wait_for_space(pkt.n_descriptors)
        addrs, allocated = self._buffers(pkt)
        descs = txdesc.encode_packet(pkt, addrs)
        first = self.ntu
        for k, raw in enumerate(descs):
            self.transport.mem_write(self.ring_base + 16 * ((first + k) % self.size), raw)
        self.ntu = (first + len(descs)) % self.size
        p = Posting(pkt, self.cfg_queue, first, len(descs), self.size, self.transport.now_ps(), allocated)
        self.tracker.forget(p.slots)
        self.outstanding.append(p)
        self.posted_ap.write(p)
        self.batch += 1
        if pkt.doorbell or pkt.error == "dma_fault":
            await self.ring_doorbell()
        if pkt.error == "dma_fault":
            await self.recover_from_fault(p)

    def _buffers(self, pkt: TxPacket) -> tuple[list[int], list[int]]:
        """One DMA buffer per data descriptor, holding its slice of the frame (a fault: the first unmapped).

        The unmapped address is taken last, so no buffer of this packet reuses it.
        """
        addrs, off = [], 0
        for k, n in enumerate(pkt.buffers):
            a = None if pkt.error == "dma_fault" and k == 0 else self.transport.alloc(max(n, 1))
            if a is not None:
                self.transport.mem_write(a, pkt.frame[off:off + n])
            addrs.append(a)
            off += n
        allocated = [a for a in addrs if a is not None]
        if None in addrs:
            addrs[0] = self.transport.fault_address(max(pkt.buffers[0], 1))
        return addrs, allocated

    async def ring_doorbell(self) -> None:
        if not self.batch:
            return
        await self.transport.write_reg(self.regs.offset(f"TDT{self.cfg_queue}"), self.ntu)
        self.doorbell_ap.write(Doorbell(self.cfg_queue, self.ntu, self.batch, self.transport.now_ps()))
        self.batch = 0

    async def recover_from_fault(self, p: Posting) -> None:
        """Wait for DOUTSYNC, then restart the queue past the faulted packet (disable, TDH = TDT, enable)."""
        try:
            await with_timeout(self.fault_seen(), FAULT_WAIT_PS, "ps")
        except SimTimeoutError:
            raise AssertionError(f"[fault.doutsync] no ICR.DOUTSYNC within {FAULT_WAIT_PS // 10**6} us of a DMA "
                                 f"fault on queue {self.cfg_queue} (packet {p.pkt.seq}); seed {self.cfg.seed}") from None
        q, regs, t = self.cfg_queue, self.regs, self.transport
        await t.write_reg(regs.offset(f"TXDCTL{q}"), 0)
        await t.write_reg(regs.offset(f"TDH{q}"), self.ntu)
        await t.write_reg(regs.offset(f"TDT{q}"), self.ntu)
        await t.write_reg(regs.offset(f"TXDCTL{q}"),
                          regs.txdctl(self.cfg.pthresh, self.cfg.hthresh, self.cfg.wthresh, enable=True))
        for p_ in self.outstanding:
            for addr in p_.buffers:
                t.free(addr)
            self.tracker.forget(p_.slots)
        self.outstanding.clear()
        self.ntc = self.ntu
        self.tracker.head = self.ntu


class SkbDriver(uvm_driver):
    """Configuration (b): skbs to ``dev_queue_xmit``, a burst ending at the first item without xmit_more."""

    def build_phase(self):
        self.transport = _transport(self)
        self.posted_ap = uvm_analysis_port("posted_ap", self)
        self.pending: list[SkbSpec] = []

    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            self.pending.append(item.spec)
            if not item.spec.xmit_more:
                self.flush()
            self.seq_item_port.item_done()

    def flush(self) -> None:
        burst, self.pending = self.pending, []
        if not burst:
            return
        for spec in burst:
            self.posted_ap.write((spec, len(burst)))
        self.transport.xmit([self.transport.make_skb(s) for s in burst], burst=len(burst))


# --- agents ----------------------------------------------------------------------------------------
class RegAgent(uvm_agent):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = RegDriver("driver", self)
        self.monitor = RegMonitor("monitor", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)


class MemAgent(uvm_agent):
    """Passive at L0: the responder is the transport's host memory; the monitor sees every DMA."""

    def build_phase(self):
        self.monitor = DmaMonitor("monitor", self)


class IrqAgent(uvm_agent):
    def build_phase(self):
        self.monitor = IrqMonitor("monitor", self)


class WireAgent(uvm_agent):
    def build_phase(self):
        self.monitor = WireMonitor("monitor", self)


class TxAgent(uvm_agent):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = TxDescDriver("driver", self)
        self.tracker = RingTracker("tracker", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.driver.tracker = self.tracker


class SkbAgent(uvm_agent):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = SkbDriver("driver", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
