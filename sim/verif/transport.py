"""The transport seam: the one place where the environment's agents reach the DUT.

Every agent talks to a :class:`Transport` and to nothing else: register
accesses go through :meth:`Transport.write_reg`/:meth:`read_reg` (BAR0) and
:meth:`write_msix` (BAR3); host memory is the memory responder's store
(:meth:`alloc`, :meth:`mem_write`, :meth:`mem_read`, :meth:`fault_address`);
what happens at the DUT's ports comes back as transactions
(:class:`~sim.verif.items.RegTxn`, :class:`~sim.verif.items.DmaTxn`,
:class:`~sim.verif.items.IrqTxn`, :class:`~sim.verif.items.WireFrame`) to the
observers registered with :meth:`observe`.

This module holds the seam and the level-L0 transports (transactions on HDL
time, no pins): :class:`NicTransport` (configuration a: the NIC model alone on
a simulated host, the testbench programming it) and :class:`SystemTransport`
(configuration b: the igb driver and the net core driving the NIC model).
A pin-level transport (AXI-Lite for BAR0, an AXI responder for DMA, AXI-Stream
for the wire — cocotbext-axi's BFMs would do) implements the same methods and
replaces these without touching sequences, scoreboard or coverage.

What is observed where (L0): register accesses as they arrive at the NIC's
BAR0 (after the posted-write latency); DMA at the NIC's side of the IOMMU,
stamped when the read data is sampled or the write lands; MSI-X messages and
INTx level changes as they land in the host (``pushed`` when the completion
of a register read the transport is performing pushed them out: PCIe lets no
read completion pass a posted write); frames when their last bit leaves the
MAC. The HDL top's pins follow the interrupts: ``dut.irq`` is the
INTx level and every MSI-X message pulses ``dut.msix_strobe`` with its data on
``dut.msix_data`` (the irq monitor checks HDL counted them all).

:meth:`Transport.state` reads the model's internal state (queue pointers,
descriptor-cache fill, packet-buffer fill, interrupt registers, EITR
counters, MAC busy) — for the waveform only, never for checking.
"""
from __future__ import annotations

import re
from typing import Callable

from sim.verif.items import DmaTxn, IrqTxn, RegTxn, WireFrame

__all__ = ["Transport", "NicTransport", "SystemTransport", "Observer", "dma_kind"]

MSIX_PULSE_PS = 1_000   # msix_strobe high time and minimum low time; the least time irq holds a level
_QUEUE = re.compile(r"txq(\d+)")


class Observer:
    """What a monitor implements to hear the DUT's ports (any subset; the rest stay no-ops)."""

    def on_reg(self, txn: RegTxn) -> None: ...
    def on_dma(self, txn: DmaTxn) -> None: ...
    def on_irq(self, txn: IrqTxn) -> None: ...
    def on_wire(self, txn: WireFrame) -> None: ...


def dma_kind(who: str) -> tuple[str, int]:
    """(DmaTxn kind, queue) of a DMA the NIC labelled ``who`` (e.g. ``nic:txq0 descriptor fetch``)."""
    m = _QUEUE.search(who)
    q = int(m.group(1)) if m else -1
    if "head write-back" in who:
        return "head_wb", q
    if "write-back" in who:
        return "writeback", q
    if "descriptor fetch" in who:
        return "desc_fetch", q
    return "buffer_read", q


class Transport:
    """The seam (see the module docstring). Subclasses implement the DUT side."""

    profile: str

    def __init__(self):
        self._observers: list[Observer] = []

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def _drive_irq_pin(self):
        """``dut.irq`` follows the INTx level, each level held at least MSIX_PULSE_PS: a rise and fall
        in one time step (a read pushing both messages out) still makes one pulse HDL can count."""
        while self._levels:
            self.dut.irq.value = self._levels.pop(0)
            yield MSIX_PULSE_PS
        self._leveling = False

    # --- time ---------------------------------------------------------------------------------
    def now_ps(self) -> int:
        raise NotImplementedError

    def hdl_time_ps(self) -> int:
        raise NotImplementedError

    async def wait_ps(self, ps: int) -> None:
        raise NotImplementedError

    # --- registers ----------------------------------------------------------------------------
    async def write_reg(self, offset: int, value: int) -> None:
        raise NotImplementedError

    async def read_reg(self, offset: int) -> int:
        raise NotImplementedError

    async def write_msix(self, vector: int, address: int, data: int, masked: bool = False) -> None:
        raise NotImplementedError

    def msi_target(self, vector: int, name: str) -> tuple[int, int]:
        """The (address, data) the host wants in MSI-X entry ``vector``."""
        raise NotImplementedError

    # --- host memory (the memory responder) ---------------------------------------------------
    def alloc(self, size: int) -> int:
        raise NotImplementedError

    def free(self, dma_addr: int) -> None:
        raise NotImplementedError

    def mem_write(self, dma_addr: int, data: bytes) -> None:
        raise NotImplementedError

    def mem_read(self, dma_addr: int, n: int) -> bytes:
        raise NotImplementedError

    def fault_address(self, size: int) -> int:
        """A DMA address of ``size`` bytes the IOMMU does not map: the NIC's access to it faults."""
        raise NotImplementedError

    # --- observation --------------------------------------------------------------------------
    def _emit(self, method: str, txn) -> None:
        for o in self._observers:
            getattr(o, method)(txn)

    def state(self) -> dict[str, int]:
        raise NotImplementedError

    def state_signals(self) -> list[tuple[str, int]]:
        raise NotImplementedError


class _DmaPortTap:
    """Stands between the NIC's DMA engine and the IOMMU; reports every access as a DmaTxn."""

    def __init__(self, iommu, engine, emit: Callable):
        self._iommu = iommu
        self._engine = engine
        self._emit = emit

    def dma_read_checked(self, iova: int, n: int, who: str):
        data, ok = self._iommu.dma_read_checked(iova, n, who)
        kind, q = dma_kind(who)
        self._emit("on_dma", DmaTxn(kind, q, iova, data, ok, self._engine.now))
        return data, ok

    def dma_write(self, iova: int, data, who: str) -> bool:
        ok = self._iommu.dma_write(iova, data, who)
        kind, q = dma_kind(who)
        self._emit("on_dma", DmaTxn(kind, q, iova, bytes(data), ok, self._engine.now))
        return ok

    def __getattr__(self, name):
        return getattr(self._iommu, name)


class _ModelPorts(Transport):
    """Common L0 plumbing over a NIC model on a CocotbEngine: port taps, HDL pins, memory, state."""

    def __init__(self, dut, engine, host, nic, profile: str):
        super().__init__()
        self.dut, self.engine, self.host, self.nic, self.profile = dut, engine, host, nic, profile
        self.msix_table: dict[int, list[int]] = {}   # vector -> [addr lo, addr hi, data, ctrl] as written
        self._coherent: dict[int, object] = {}       # dma address -> CoherentBuffer
        self._starts: list[int] = []
        self._strobes: list[int] = []
        self._strobing = False
        self._in_read = False
        self._levels: list[int] = []
        self._leveling = False
        self._tap_ports()

    # --- taps -----------------------------------------------------------------------------------
    def _tap_ports(self) -> None:
        nic, eng = self.nic, self.engine
        rd, wr = nic.mmio_read, nic.mmio_write

        def mmio_read(offset: int, size: int) -> int:
            self._in_read = True    # a read's completion pushes the NIC's posted writes out first
            try:
                value = rd(offset, size)
            finally:
                self._in_read = False
            self._emit("on_reg", RegTxn("rd", offset, value, eng.now))
            return value

        def mmio_write(offset: int, size: int, value: int) -> None:
            wr(offset, size, value)   # reported once it took effect (a waveform sampled now shows it)
            self._emit("on_reg", RegTxn("wr", offset, value, eng.now))

        nic.mmio_read, nic.mmio_write = mmio_read, mmio_write
        table_wr = nic.msix.mmio_write

        def msix_write(offset: int, size: int, value: int) -> None:
            v, word = divmod(offset, 16)
            if size == 4 and word % 4 == 0 and offset < nic.msix.PBA_OFFSET:
                self.msix_table.setdefault(v, [0, 0, 0, 1])[word // 4] = value & 0xFFFF_FFFF
            table_wr(offset, size, value)

        nic.msix.mmio_write = msix_write
        nic.dma.iommu = _DmaPortTap(nic.dma.iommu, eng, self._emit)
        to_host = nic.dma.msi_sink
        nic.dma.msi_sink = lambda addr, data: (self._on_msix(addr, data), to_host(addr, data))
        self.host.msi.intx_handlers.append(self._on_intx)
        nic.mac.add_sink(lambda frame, start, end: self._emit("on_wire", WireFrame(frame, start, end)))
        self.dut.irq.value = 0
        self.dut.msix_strobe.value = 0
        self.dut.msix_data.value = 0

    def _vector_of(self, addr: int, data: int) -> int:
        """The MSI-X entry a message came from: the table as written through BAR3 (or as the
        function holds it, for entries programmed before the taps, e.g. at probe)."""
        for table in (self.msix_table.items(), enumerate(self.nic.msix.entries)):
            for v, e in table:
                if e[2] == data and (e[1] << 32 | e[0]) == addr:
                    return v
        return -1

    def _on_msix(self, addr: int, data: int) -> None:
        vector = self._vector_of(addr, data)
        self._emit("on_irq", IrqTxn("msix", self.engine.now, vector=vector, data=data, pushed=self._in_read))
        self._strobes.append(data)
        if not self._strobing:
            self._strobing = True
            self.engine.spawn(self._strobe_pins(), "msix-strobe")

    def _strobe_pins(self):
        """One strobe per message, in order: data on msix_data, msix_strobe high then low."""
        while self._strobes:
            self.dut.msix_data.value = self._strobes.pop(0)
            self.dut.msix_strobe.value = 1
            yield MSIX_PULSE_PS
            self.dut.msix_strobe.value = 0
            yield MSIX_PULSE_PS
        self._strobing = False

    def _on_intx(self, level: bool) -> None:
        self._levels.append(int(level))
        if not self._leveling:
            self._leveling = True
            self.engine.spawn(self._drive_irq_pin(), "intx-pin")
        self._emit("on_irq", IrqTxn("intx", self.engine.now, level=bool(level), pushed=self._in_read))

    # --- time -----------------------------------------------------------------------------------
    def now_ps(self) -> int:
        return self.engine.now

    def hdl_time_ps(self) -> int:
        """The simulator's time (the model's time plus the test's epoch): what HDL waveforms show."""
        return self.engine.now + self.engine.epoch_ps

    async def wait_ps(self, ps: int) -> None:
        await self.engine.run(self.engine.now + max(0, int(ps)))

    # --- memory ---------------------------------------------------------------------------------
    def alloc(self, size: int) -> int:
        buf = self.host.dma.dma_alloc_coherent(max(1, size), owner="testbench")
        self._coherent[buf.dma_addr] = buf
        return buf.dma_addr

    def free(self, dma_addr: int) -> None:
        self.host.dma.dma_free_coherent(self._coherent.pop(dma_addr))

    def _cpu_addr(self, dma_addr: int, n: int) -> int:
        for base, buf in self._coherent.items():
            if base <= dma_addr and dma_addr + n <= base + buf.size:
                return buf.cpu_addr + (dma_addr - base)
        raise ValueError(f"testbench memory access at {dma_addr:#x}+{n} outside what it allocated")

    def mem_write(self, dma_addr: int, data: bytes) -> None:
        self.host.mem.write(self._cpu_addr(dma_addr, len(data)), data)

    def mem_read(self, dma_addr: int, n: int) -> bytes:
        return self.host.mem.read(self._cpu_addr(dma_addr, n), n)

    def fault_address(self, size: int) -> int:
        """Allocate and free at once: the address was real and is now unmapped (a use-after-unmap)."""
        buf = self.host.dma.dma_alloc_coherent(max(1, size), owner="testbench (freed)")
        self.host.dma.dma_free_coherent(buf)
        return buf.dma_addr

    # --- state for the waveform (model internals; never used for checking) ------------------------
    def _queues(self) -> range:
        return range(getattr(self, "n_queues", 1))

    def state_signals(self) -> list[tuple[str, int]]:
        from sim.assembly.nic_state import nic_state_signals  # the DUT side of the seam only
        return nic_state_signals(self.nic, len(self._queues()))

    def state(self) -> dict[str, int]:
        from sim.assembly.nic_state import nic_state  # the DUT side of the seam only
        return nic_state(self.nic, len(self._queues()), self.engine.now)


class NicTransport(_ModelPorts):
    """Configuration (a): the NIC model alone on a simulated host; the testbench is its only driver.

    Register writes leave the host CPU as ``writel`` (posted; they reach the
    NIC after the link's posted-write latency); a read waits for them and for
    its own completion, as ``readl`` does.
    """

    def __init__(self, dut, engine, profile: str, n_queues: int = 1):
        from sim.assembly.nic_harness import BAR0, BAR3, NicTestHost  # the DUT side of the seam only
        from sim.host.pcie import PCIE_82576, PCIE_I210  # the profile's link, as IgbSystem picks it
        self._bar0, self._bar3 = BAR0, BAR3
        link = PCIE_I210 if profile.lower() == "i210" else PCIE_82576
        self.h = NicTestHost(profile, engine=engine, link=link, drain_delay_ps=0, msi_latency_ps=0,
                             dma_read_jitter_ps=0)
        self.n_queues = n_queues
        self._names: dict[int, str] = {}
        super().__init__(dut, engine, self.h.host, self.h.nic, profile)

    async def write_reg(self, offset: int, value: int) -> None:
        self.h.cpu.writel(value & 0xFFFF_FFFF, self._bar0 + offset)

    async def read_reg(self, offset: int) -> int:
        cpu = self.h.cpu
        cpu.drain_all()
        await self.wait_ps(self.host.link.posted_write_latency_ps)
        value = cpu.readl(self._bar0 + offset)
        await self.wait_ps(self.host.mmio_read_latency_ps)
        return value

    async def write_msix(self, vector: int, address: int, data: int, masked: bool = False) -> None:
        base = self._bar3 + 16 * vector
        for word, value in enumerate((address & 0xFFFF_FFFF, address >> 32, data, int(masked))):
            self.h.cpu.writel(value, base + 4 * word)

    def msi_target(self, vector: int, name: str) -> tuple[int, int]:
        return self.host.msi.allocate(f"tb-{name}", lambda count: None)


class SystemTransport(_ModelPorts):
    """Configuration (b): the whole machine — igb driver, net core, NIC model — on HDL time.

    The driver owns the registers; the testbench hands it skbs
    (:meth:`xmit`) through ``dev_queue_xmit`` on a sender task, and reads
    registers only through the driver's own MMIO mapping (:meth:`read_reg`).
    """

    def __init__(self, dut, engine, profile: str, ring_size: int):
        from sim.assembly.system import IgbSystem  # the DUT side of the seam only
        self.s = IgbSystem(profile, ring_size=ring_size, engine=engine, ncpus=1,
                           drain_delay_ps=0, msi_latency_ps=0, dma_read_jitter_ps=0)
        self.n_queues = 1
        super().__init__(dut, engine, self.s.host, self.s.nic, profile)
        self.sender = None

    async def open(self) -> None:
        from stack.core.dev import dev_open  # the DUT side of the seam only
        rc = await self.engine.run(self.s.task(dev_open(self.s.netdev)))
        if rc:
            raise RuntimeError(f"dev_open failed: {rc}")

    def xmit(self, skbs: list, burst: int) -> None:
        """Hand ``skbs`` (built by :meth:`make_skb`) to ``dev_queue_xmit``, ``burst`` at a time (xmit_more)."""
        if self.sender is None:
            self.sender = self.s.sender()
        self.sender.send(skbs, burst=burst)

    def make_skb(self, spec) -> object:
        from sim.assembly.skbs import make_skb  # the DUT side of the seam only
        return make_skb(self.s.net, spec.frame, nr_frags=spec.nr_frags, gso_size=spec.gso_size,
                        csum=spec.csum or bool(spec.gso_size), vlan_tci=spec.vlan)

    def idle(self) -> bool:
        """Everything handed over is on the wire and cleaned."""
        ring = self.s.adapter.tx_ring[0]
        return (self.sender is None or (self.sender.done is not None and self.sender.done.triggered)) \
            and ring.next_to_clean == ring.next_to_use

    async def read_reg(self, offset: int) -> int:
        k = self.s.kernel
        io = self.s.adapter.io_addr

        def rd():
            return k.readl(io, offset)
            yield  # noqa: a kernel task; its CPU time elapses before it completes

        return await self.engine.run(self.s.task(rd(), comm="tb-regread"))

    async def write_reg(self, offset: int, value: int) -> None:
        raise RuntimeError("configuration (b): the igb driver owns the registers")
