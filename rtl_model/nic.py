"""The igb NIC (TX side): register file, TX queues, DMA engine, packet buffer, MAC, interrupts, statistics.

Ports — the only ways in and out, as on a real board:

* BAR0 MMIO: :meth:`Nic.mmio_read` / :meth:`Nic.mmio_write` (map the Nic
  itself in the host's MMIO space); the MSI-X table lives in BAR3
  (:attr:`Nic.msix`, map it separately);
* DMA: every host-memory access goes through ``iommu`` (descriptor fetches,
  buffer reads, write-backs), timed by the PCIe ``link``; each read's latency
  adds a jitter drawn from ``dma_read_jitter_ps`` (options in ps, a choice;
  None = :data:`sim.host.timing.DMA_READ_JITTER_PS`, 0 = none);
* interrupts: MSI-X messages are posted writes handed to ``msi_sink(address,
  data)`` when they land; INTx Assert/Deassert messages are posted too and
  reach ``intx_sink(level)`` when they land;
* the wire: :attr:`Nic.mac` serialises frames; register a sink with
  ``nic.mac.add_sink(fn(frame, start_ps, end_ps))``.

Transmit data path: queues fetch descriptors into their caches
(:mod:`rtl_model.txq`); one scheduler process takes whole packets from the
queues in round-robin order (fair arbitration), reads their buffers by DMA,
applies the offloads (:mod:`rtl_model.offload`), and moves the frames into the
TX packet buffer; only then are the descriptors processed (TDH, write-back,
TXDW). A feeder hands buffered frames to the MAC while TCTL.EN is set; a frame
frees its packet-buffer space when it has left the wire.

Device reset (CTRL.RST, :meth:`Nic.device_reset`): every BAR0 register, every
queue, the packet buffer and the interrupt block return to their reset state;
the PCI side (the MSI-X table in BAR3) and the link survive. Work in flight
when the reset lands is discarded as it completes (queue epochs), so nothing
from before the reset is written back, sent or signalled after it.
"""
from __future__ import annotations

import logging

from sim.engine import Store
from sim.host.timing import DMA_READ_JITTER_PS, as_options

from . import descriptors as d
from .dma_engine import DmaEngine
from .interrupts import ICR_DOUTSYNC, ICR_LSC, InterruptBlock
from .mac import MacPort
from .offload import LegacyRequest, OffloadRequest, build_frames
from .profiles import NIC_82576, NicProfile
from .regs import (STATUS_FD, STATUS_LU, STATUS_SPEED_100, STATUS_SPEED_1000, TCTL_EN, TCTL_PSP, RegisterFile,
                   build_table)
from .stats import TxStats
from .txq import TxQueue

__all__ = ["Nic", "MsixTable"]

log = logging.getLogger("igbsim.nic")

CTRL_FRCSPD = 0x800
CTRL_RST = 0x0400_0000          # b26, software reset, self-clearing (facts §1.3)
CTRL_DEV_RST = 0x2000_0000      # b29, device (global) reset, 82580 and later (facts §1.3)
#: STATUS bits that describe the link; a device reset keeps them (the link stays up).
STATUS_LINK_BITS = STATUS_FD | STATUS_LU | STATUS_SPEED_100 | STATUS_SPEED_1000


class MsixTable:
    """The MSI-X table and PBA in BAR3: 16-byte entries (address lo/hi, data, vector control)."""

    PBA_OFFSET = 0x2000

    def __init__(self, nvec: int):
        self.entries = [[0, 0, 0, 1] for _ in range(nvec)]  # masked at reset (PCI spec)
        self.pending = [False] * nvec

    def mmio_read(self, offset: int, size: int) -> int:
        if offset >= self.PBA_OFFSET:
            return sum(1 << v for v, p in enumerate(self.pending) if p) >> (8 * (offset - self.PBA_OFFSET))
        v, word = divmod(offset, 16)
        if size != 4 or word % 4 or v >= len(self.entries):
            return 0
        return self.entries[v][word // 4]

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        v, word = divmod(offset, 16)
        if size != 4 or word % 4 or v >= len(self.entries) or offset >= self.PBA_OFFSET:
            log.warning("MSI-X table: ignored %d-byte write at %#x", size, offset)
            return
        self.entries[v][word // 4] = value & 0xFFFF_FFFF
        if word == 12 and not value & 1 and self.pending[v]:
            self.pending[v] = False
            self.on_unmask(v)

    def on_unmask(self, v: int) -> None:  # replaced by the Nic
        pass

    def clear_pending(self) -> None:
        """Forget every pending (masked) message: a device reset flushes the interrupts they stood for."""
        self.pending = [False] * len(self.pending)


class Nic:
    """An igb NIC (82576 by default) attached to a host through its ports."""

    #: Which descriptor of a multi-descriptor legacy packet supplies CMD.IC/VLE/IFCS, CSO and
    #: VLAN: "first" (I210/82575 datasheets, the default) or "eop" (8254x); see _legacy_request.
    legacy_fields_from = "first"

    def __init__(self, engine, iommu, link, *, profile: NicProfile = NIC_82576,
                 msi_sink=lambda addr, data: None, intx_sink=lambda level: None, name: str = "nic",
                 use_checksum_seed: bool = True, packets_in_flight: int = 4,
                 dma_read_jitter_ps: int | tuple | None = None):
        self.engine = engine
        self.use_checksum_seed = use_checksum_seed
        self.profile = profile
        self.name = name
        self.regs = RegisterFile(build_table(profile))
        jitter = as_options(DMA_READ_JITTER_PS if dma_read_jitter_ps is None else dma_read_jitter_ps,
                            "dma_read_jitter_ps")
        self.dma = DmaEngine(engine, iommu, link, msi_sink, intx_sink, who=name, read_jitter_options=jitter)
        self.msix = MsixTable(profile.num_msix_vectors)
        self.msix.on_unmask = self._send_msix
        self.irq = InterruptBlock(engine, num_vectors=profile.num_msix_vectors,
                                  num_tx_queues=profile.num_tx_queues, ivar_layout=profile.ivar_layout,
                                  eitr_unit_ps=profile.eitr_unit_ps, send_msix=self._send_msix,
                                  set_intx=self.dma.intx)
        self.stats = TxStats(self.regs)
        self.mac = MacPort(engine, profile.link_speed_mbps, name=f"{name}.mac")
        self.mac.add_sink(self._on_wire)
        self.mac.drop_sinks.append(self._on_mac_drop)
        self.queues = [TxQueue(self, n) for n in range(profile.num_tx_queues)]
        self.pb_free = profile.tx_packet_buffer_bytes
        self._pb_waiter = None
        self._pb_frames = Store(engine)     # replaced by a device reset: frames in the old one are void
        self._mac_bytes = 0                 # packet-buffer bytes handed to the MAC, not yet off the wire
        self._tx_enabled = engine.event("TCTL.EN")
        self._work = None
        self._rr = 0
        self.counters = {"malformed_drops": 0, "offload_drops": 0, "frames": 0, "resets": 0,
                         "reset_discards": 0}
        self.regs.bind({"nic": self, "irq": self.irq, **{q.name: q for q in self.queues}})
        self.packets_in_flight = packets_in_flight
        self._in_flight = 0
        self._commits = Store(engine)
        engine.spawn(self._scheduler(), f"{name}-tx-scheduler")
        engine.spawn(self._committer(), f"{name}-tx-commit")
        engine.spawn(self._feeder(), f"{name}-mac-feeder")

    # --- BAR0 ---------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        self.dma.flush_posted()  # the read's completion may not pass the NIC's posted writes
        return self.regs.read(offset, size)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.regs.write(offset, size, value)

    def on_ctrl_write(self, value: int) -> None:
        """CTRL.RST resets the device; CTRL.FRCSPD with SPD_SEL forces the MAC speed (facts §1.3).

        The other bits of a write that sets RST are not kept: the reset
        returns CTRL to its reset value, with RST itself reading back 0.
        """
        if value & CTRL_RST:
            self.device_reset()
            return
        if value & CTRL_DEV_RST:
            self.device_reset(keep_eitr=True, why="CTRL.DEV_RST")
            return
        self.regs.set("CTRL", value)
        if value & CTRL_FRCSPD:
            self._set_speed((10, 100, 1000, 1000)[(value >> 8) & 3])

    def on_tctl_write(self, value: int) -> None:
        """TCTL.EN starts and stops the transmitter (facts §1.4); the value is stored as written."""
        self.regs.set("TCTL", value)
        self._gate_tx(bool(value & TCTL_EN))

    def set_link(self, up: bool) -> None:
        """The link partner went away or came back: STATUS.LU follows, ICR.LSC is raised.

        While the link is down the transmitter holds frames in the packet
        buffer instead of sending them (igb_watchdog_task: "the controller
        stops DMA" on link loss), so descriptors stay unfinished in the ring
        until the driver resets the device. Speed and duplex bits keep their
        values (no renegotiation is modelled).
        """
        up = bool(up)
        if up == self.mac.link_up:
            return
        self.mac.set_link(up)
        status = self.regs.get("STATUS")
        self.regs.set("STATUS", status | STATUS_LU if up else status & ~STATUS_LU)
        self._gate_tx(bool(self.regs.get("TCTL") & TCTL_EN))
        self.irq.other_cause(ICR_LSC)
        self.engine.log(self.name, "link", int(up))

    def set_link_speed(self, mbps: int) -> None:
        """Autonegotiation settled on ``mbps`` (10/100/1000): MAC timing and STATUS speed bits, ICR.LSC."""
        self._set_speed(mbps)
        self.irq.other_cause(ICR_LSC)

    def _set_speed(self, mbps: int) -> None:
        """The MAC's timing and the STATUS speed bits follow ``mbps``."""
        self.mac.set_speed(mbps)
        status = self.regs.get("STATUS") & ~(STATUS_SPEED_100 | STATUS_SPEED_1000)
        status |= {100: STATUS_SPEED_100, 1000: STATUS_SPEED_1000}.get(mbps, 0)
        self.regs.set("STATUS", status)
        self.engine.log(self.name, "speed", mbps)

    def _gate_tx(self, enabled: bool) -> None:
        """Open or close the MAC feeder's gate: TCTL.EN set and the link up."""
        enabled = enabled and self.mac.link_up
        if enabled and not self._tx_enabled.triggered:
            self._tx_enabled.succeed()
        elif not enabled and self._tx_enabled.triggered:
            self._tx_enabled = self.engine.event("TCTL.EN")

    # --- device reset ------------------------------------------------------------
    def device_reset(self, keep_eitr: bool = False, why: str = "CTRL.RST") -> None:
        """CTRL.RST: return the device to its reset state, keeping the PCI side and the link.

        CTRL.DEV_RST (the "global device reset" igb asks for after a TX
        timeout on 82580 and later) does the same here except that EITR keeps
        its value (facts §6.4); that it resets everything else CTRL.RST does
        is UNCONFIRMED (no datasheet text read for its exact scope).

        Reset: every BAR0 register (table reset values with the profile's
        overrides; TXDCTL0 enabled as at power-on; CTRL.RST reads 0; the
        statistics read 0), every TX queue (:meth:`TxQueue.device_reset`), the
        interrupt block including EITR and its running counters (the INTx line
        deasserts), the MSI-X pending bits, and the packet buffer: frames not
        yet on the wire are discarded. TCTL.EN is 0 again, so the MAC feeder
        waits for it.

        Kept: the MSI-X table in BAR3 (PCI side), and the link — STATUS.LU,
        FD and the speed bits keep their values and the MAC its speed, since
        no link renegotiation is modelled. Also kept: a frame already being
        serialised (it finishes and frees its space), posted writes and MSI-X
        messages already on the link (they land), and the model's own
        observability counters.

        The reset takes no simulated time (the real one's duration is
        UNCONFIRMED; igb waits before touching the device again anyway).
        """
        self._reset_registers()
        for q in self.queues:
            q.device_reset()
        self.irq.reset(keep_eitr=keep_eitr)
        self.msix.clear_pending()
        self._gate_tx(False)
        self._discard_packet_buffer()
        self._rr = 0
        self.counters["resets"] += 1
        log.info("%s: device reset (%s)", self.name, why)
        self.engine.log(self.name, "reset", why)

    def _reset_registers(self) -> None:
        """Every register to its reset value, except the STATUS link bits (the link stays up)."""
        regs = self.regs
        link = regs.get("STATUS") & STATUS_LINK_BITS
        regs.reset()
        regs.set("STATUS", regs.get("STATUS") & ~STATUS_LINK_BITS | link)

    def _discard_packet_buffer(self) -> None:
        """Drop every buffered frame that has not started on the wire and reclaim its space.

        The buffer is replaced: the feeder drops a frame it took from the old
        one (it may hold one waiting for TCTL.EN), and the None put into the
        old one wakes it if it waits there. The space left in use is exactly
        what the MAC still holds — the frame it is serialising.
        """
        old, self._pb_frames = self._pb_frames, Store(self.engine)
        lost = len(old.items)
        old.items.clear()
        old.put(None)
        queued = self.mac.discard_queued()
        lost += len(queued)
        self._mac_bytes -= sum(map(len, queued))
        if lost:
            self.counters["reset_discards"] += lost
            self.engine.log(self.name, "reset_discard", lost)
        self.pb_free = self.profile.tx_packet_buffer_bytes - self._mac_bytes
        self._wake_pb_waiter()

    # --- interrupts ------------------------------------------------------------
    def tx_cause(self, q: int) -> None:
        """Queue ``q`` wrote back descriptors (TXDW); the message is posted behind the write-back."""
        self.irq.tx_queue_cause(q)

    def dma_fault_cause(self, q: int) -> None:
        self.irq.other_cause(ICR_DOUTSYNC)

    def _send_msix(self, v: int) -> None:
        addr_lo, addr_hi, data, ctrl = self.msix.entries[v]
        if ctrl & 1:
            self.msix.pending[v] = True
            return
        self.dma.msi((addr_hi << 32) | addr_lo, data)

    def flush_interval_ps(self, q: int) -> int:
        """The EITR interval of queue ``q``'s vector: the write-back flush timer (WTHRESH > 0)."""
        return self.irq.queue_interval_ps(q)

    # --- transmit path --------------------------------------------------------
    def scheduler_wake(self) -> None:
        if self._work is not None and not self._work.triggered:
            self._work.succeed()

    def _next_queue(self):
        qs = self.queues
        for k in range(len(qs)):
            q = qs[(self._rr + k) % len(qs)]
            if q.has_packet():
                self._rr = (q.n + 1) % len(qs)
                return q
        return None

    def _scheduler(self):
        """Take whole packets from the queues, round robin, and start their buffer reads.

        Up to ``packets_in_flight`` packets have buffer reads outstanding at
        once (PCIe read tags), so read latency overlaps; packets still enter
        the packet buffer in the order they were taken.
        """
        while True:
            q = self._next_queue() if self._in_flight < self.packets_in_flight else None
            if q is None:
                self._work = self.engine.event("tx work")
                yield self._work
                continue
            self._start_packet(q)

    def _start_packet(self, q: TxQueue) -> None:
        descs = q.take_packet()
        for _, _, desc in descs:
            if isinstance(desc, d.AdvContext):
                q.contexts[desc.idx % len(q.contexts)] = desc
        slots = q.contexts
        problems = d.validate_packet([x[2] for x in descs],
                                     contexts={i: slots[i % len(slots)] for i in range(8)
                                               if slots[i % len(slots)] is not None},
                                     ring_size=q.ring_size, max_packet_bytes=self.profile.max_tx_packet_bytes)
        if problems or q.dropping:
            reader = req = None
            # decided at take time: the next packet may be taken before this drop commits
            q.dropping = bool(descs) and not d.ends_packet(descs[-1][2])
        else:
            # the offload request binds the context *now*: a later packet's context
            # descriptor may overwrite the slot before this packet commits
            first = next(x[2] for x in descs if not isinstance(x[2], d.AdvContext))
            if isinstance(first, d.LegacyTx):
                req = self._legacy_request(first, descs[-1][2])
            else:
                req = self._offload_request(q, first)
            reader = self.engine.spawn(self._read_buffers(q, descs), f"{q.name}-buffers")
        self._in_flight += 1
        self._commits.put((q, q.epoch, descs, problems, reader, req))

    def _read_buffers(self, q: TxQueue, descs):
        """DMA-read a packet's buffers; returns the bytes, or None after a fault."""
        chunks = []
        for index, _, desc in descs:
            if isinstance(desc, d.AdvContext):
                continue
            n = desc_len(desc)
            if not n:
                continue
            data, ok = yield from self.dma.read(desc.buffer_addr, n, f"{q.name} buffer")
            if not ok:
                q.fault("buffer read", index)
                return None
            chunks.append(data)
        return b"".join(chunks)

    def _committer(self):
        """Move packets, in the order taken, into the packet buffer; then complete their descriptors."""
        halted = {}  # queue number -> epoch in which one of its packets' buffer reads faulted
        while True:
            q, epoch, descs, problems, reader, req = yield self._commits.get()
            packet = (yield reader) if reader is not None else None
            if epoch != q.epoch or halted.get(q.n) == epoch:
                pass  # taken before a queue reset, or behind a packet whose read faulted: the queue stopped there
            elif reader is None:
                self._drop(q, descs, "malformed_drops", problems or ["discarding up to EOP"])
            elif packet is None:
                halted[q.n] = epoch  # packets taken before this one still go out; none after it
            else:
                yield from self._commit_packet(q, descs, packet, req)
            self._in_flight -= 1
            self.scheduler_wake()

    def _commit_packet(self, q: TxQueue, descs, packet: bytes, req: OffloadRequest):
        result = build_frames(packet, req, psp=bool(self.regs.get("TCTL") & TCTL_PSP),
                              vet=self.regs.get("VET") & 0xFFFF, use_seed=self.use_checksum_seed,
                              max_bytes=self.profile.max_tx_packet_bytes)
        if result.problems:
            self._drop(q, descs, "offload_drops", result.problems)
            return
        epoch = q.epoch
        buffer = self._pb_frames
        for frame in result.frames:
            yield from self._reserve(len(frame))
            if self._pb_frames is not buffer:
                self.pb_free += len(frame)  # a device reset came while waiting for space: discard
                return
            buffer.put(frame)
        if q.epoch != epoch:
            return  # the queue was reset while waiting for packet-buffer space
        if req.tse:
            self.stats.count_tso_context()
        q.complete(descs)
        self.engine.log(q.name, "packet", len(result.frames), sum(map(len, result.frames)))

    def _offload_request(self, q: TxQueue, first: d.AdvData) -> OffloadRequest:
        """The offloads an advanced packet asks for: its first data descriptor and the context it names."""
        ctx = q.contexts[first.idx % len(q.contexts)]
        uses_ctx = first.tse or first.txsm or first.ixsm or first.vle
        if not uses_ctx or ctx is None:
            return OffloadRequest(ifcs=first.ifcs)
        return OffloadRequest(tse=first.tse, ixsm=first.ixsm, txsm=first.txsm, vle=first.vle, ifcs=first.ifcs,
                              maclen=ctx.maclen, iplen=ctx.iplen, l4len=ctx.l4len, mss=ctx.mss,
                              ipv4=ctx.tucmd_ipv4, l4t=ctx.l4t, vlan=ctx.vlan)

    def _legacy_request(self, first: d.LegacyTx, eop: d.LegacyTx) -> LegacyRequest:
        """The offloads a legacy packet asks for: IFCS, IC with CSS/CSO, VLE with the VLAN field.

        Which descriptor of a multi-descriptor packet carries them:

        * ``legacy_fields_from = "first"`` (default): all from the first.
          I210 datasheet §7.2.2.1: "For frames that span multiple descriptors,
          the VLAN, CSO, CMD.VLE, CMD.IC, and CMD.IFCS are valid only in the
          first descriptors and are ignored in the subsequent ones"; 82575EB
          SDM §5.6.5.2 "CSS must be set in the first descriptor for a packet"
          and §5.6.6 the Special (VLAN) field "is qualified only on the first
          descriptor of each packet when the VLE bit is set". No 82576
          datasheet was read: that it follows its 82575/I210 siblings is
          UNCONFIRMED.
        * ``"eop"``: the older 8254x rule (8254x SDM §3.3.3.1 note 1: "VLE,
          IFCS, and IC are qualified by EOP"), what QEMU's e1000 does; CSO
          and the VLAN field then also come from the EOP descriptor, CSS
          still from the first ("CSS must be set in the first descriptor").

        Not modelled: CTRL.VME gating VLAN insertion (82575EB SDM §5.6.5.3),
        as on the advanced path.
        """
        cmd = eop if self.legacy_fields_from == "eop" else first
        return LegacyRequest(ifcs=cmd.ifcs, ic=cmd.ic, css=first.css, cso=cmd.cso, vle=cmd.vle, vlan=cmd.vlan)

    def _drop(self, q: TxQueue, descs, counter: str, problems) -> None:
        self.counters[counter] += 1
        q.counters["malformed"] += 1
        log.warning("%s: dropped a packet at descriptor %s: %s", q.name, descs[0][0] if descs else "?",
                    "; ".join(problems) or "discarding up to EOP")
        self.engine.log(q.name, "drop", "; ".join(problems))
        q.complete(descs)

    # --- packet buffer and MAC ---------------------------------------------------
    def _reserve(self, n: int):
        while self.pb_free < n:
            self._pb_waiter = self.engine.event("packet buffer space")
            yield self._pb_waiter
        self.pb_free -= n

    def _feeder(self):
        """Hand buffered frames to the MAC in order while TCTL.EN is set.

        A frame from a packet buffer a device reset replaced meanwhile is
        dropped (the reset already reclaimed its space).
        """
        while True:
            buffer = self._pb_frames
            frame = yield buffer.get()
            if buffer is self._pb_frames and not self._tx_enabled.triggered:
                yield self._tx_enabled
            if buffer is not self._pb_frames:
                if frame is not None:   # held for TCTL.EN when a reset replaced the buffer
                    self.counters["reset_discards"] += 1
                continue
            self._mac_bytes += len(frame)
            yield self.mac.tx_fifo.put(frame)

    def _on_mac_drop(self, frame: bytes) -> None:
        """A frame the MAC lost to link down leaves the packet buffer all the same."""
        n = len(frame)
        self.pb_free += n
        self._mac_bytes -= n
        self._wake_pb_waiter()

    def _on_wire(self, frame: bytes, start_ps: int, end_ps: int) -> None:
        n = len(frame)
        self.pb_free += n
        self._mac_bytes -= n
        self.counters["frames"] += 1
        self.stats.count_frame(n, frame[:6])
        if self._pb_waiter is not None and not self._pb_waiter.triggered:
            self._pb_waiter.succeed()

    def _wake_pb_waiter(self) -> None:
        if self._pb_waiter is not None and not self._pb_waiter.triggered:
            self._pb_waiter.succeed()


def desc_len(desc) -> int:
    return desc.dtalen if isinstance(desc, d.AdvData) else desc.length
