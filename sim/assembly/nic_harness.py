"""The NIC-alone harness: a host and the NIC model on its bus, with no driver and no kernel stack.

Its reason to exist next to :class:`sim.assembly.system.IgbSystem` (the whole
machine, igb driver and net core included) is to test the NIC model by
itself: rings are programmed directly with register writes, descriptors and
buffers written straight into host memory — no igb, no skbs, no qdisc in
between. The NIC model's tests (``tests/rtl_model``), the cocotb NIC bench
(``sim/tb/test_nic.py``) and the NIC-only benchmark use it. It still
reaches the NIC only through its ports — MMIO writes and reads from a CPU,
descriptors and buffers in host memory through the DMA API, MSI-X messages
into the host's interrupt controller, and frames captured off the wire with
their timestamps. Register programming follows what igb does
(``igb_configure_tx_ring``, ``igb_setup_tctl``, ``igb_configure_msix``) so
the values are realistic.

Checksum seeds: like the Linux stack, :meth:`NicTestHost.post` leaves the
pseudo-header sum in the L4 checksum field for checksum offload (with the
length) and for TSO (without it, as ``igb_tso`` adjusts it), because the NIC
adds to what software left there.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from rtl_model import descriptors as d
from rtl_model.nic import Nic
from rtl_model.offload import pseudo_header
from rtl_model.profiles import get_nic_profile
from rtl_model.regs import txq_name
from sim.engine import Engine, SeededPolicy
from sim.host import Host
from sim.host.iommu import DmaDirection
from sim.host.pcie import PCIE_82576
from stack.core.checksum import csum_partial

__all__ = ["NicTestHost", "TxRing", "Offload", "BAR0", "BAR3"]

BAR0 = 0xF000_0000
BAR0_SIZE = 0x2_0000   # 128 KiB register window
BAR3 = 0xF010_0000
BAR3_SIZE = 0x4000     # MSI-X table and PBA

TXDCTL_ENABLE = 0x0200_0000
TCTL_EN, TCTL_PSP, TCTL_RTLC = 0x2, 0x8, 0x0100_0000
GPIE_NSICR, GPIE_MSIX_MODE, GPIE_EIAME, GPIE_PBA = 0x1, 0x10, 0x4000_0000, 0x8000_0000
IVAR_VALID = 0x80
EITR_CNT_IGNR = 0x8000_0000


@dataclass(frozen=True)
class Offload:
    """What to ask of the NIC for one packet (the fields igb_tso/igb_tx_csum fill in)."""

    tso_mss: int = 0          # >0: TSO with this MSS
    csum: bool = False        # L4 checksum offload (TXSM)
    ipv4: bool = True
    l4t: str = "tcp"
    maclen: int = 14
    iplen: int = 20
    l4len: int = 20
    vlan: int | None = None   # insert this TCI (VLE)


@dataclass
class TxRing:
    """A TX ring the test host set up: where it is and the software indices."""

    q: int
    size: int
    cpu_addr: int
    dma_addr: int
    next_to_use: int = 0
    posted: list = field(default_factory=list)   # (first index, eop index) per packet

    def desc_cpu_addr(self, i: int) -> int:
        return self.cpu_addr + 16 * i


class NicTestHost:
    """Engine + host + NIC, wired through the ports; see the module docstring."""

    def __init__(self, profile: str = "82576", *, ordering: str = "x86-tso", seed: int = 0,
                 policy=None, link=PCIE_82576, iommu: bool = True, use_checksum_seed: bool = True,
                 engine=None, drain_delay_ps=None, msi_latency_ps=None, dma_read_jitter_ps=None):
        # ``engine``: run on this engine (e.g. a cocotb adapter's CocotbEngine) instead of
        # a new native one; ``seed``/``policy`` then do not apply. Only rd32/run/run_for
        # drive the engine themselves: with another engine, let time pass its own way.
        # The three latencies: None draws them as choices (sim.host.timing), a value fixes them.
        self.engine = engine if engine is not None else Engine(policy if policy is not None else SeededPolicy(seed))
        self.host = Host(self.engine, ordering, ncpus=1, link=link, iommu=iommu,
                         drain_delay_ps=drain_delay_ps, msi_latency_ps=msi_latency_ps)
        self.cpu = self.host.cpus[0]
        self.nic = Nic(self.engine, self.host.iommu, link, profile=get_nic_profile(profile),
                       msi_sink=self.host.msi.deliver, intx_sink=self.host.msi.set_intx,
                       use_checksum_seed=use_checksum_seed, dma_read_jitter_ps=dma_read_jitter_ps)
        self.host.map_device("nic-bar0", BAR0, BAR0_SIZE, self.nic)
        self.host.map_device("nic-bar3", BAR3, BAR3_SIZE, self.nic.msix)
        self.wire: list[tuple[bytes, int, int]] = []
        self.nic.mac.add_sink(lambda frame, start, end: self.wire.append((frame, start, end)))
        self.interrupts: list[tuple[int, str]] = []
        self._reenable = False

    # --- MMIO --------------------------------------------------------------
    def offset(self, name: str) -> int:
        return self.nic.regs.table.by_name(name).offset

    def wr32(self, name: str, value: int) -> None:
        """``wr32(hw, REG, value)``: a posted 32-bit register write."""
        self.cpu.writel(value, BAR0 + self.offset(name))

    def rd32(self, name: str) -> int:
        """``rd32(hw, REG)``: a register read (waits for earlier posted writes)."""
        self.cpu.drain_all()
        self.run_for(self.host.link.posted_write_latency_ps)
        return self.cpu.readl(BAR0 + self.offset(name))

    # --- set-up --------------------------------------------------------------
    def setup_tx_ring(self, q: int = 0, size: int = 256, *, pthresh: int = 8, hthresh: int = 1,
                      wthresh: int = 1, head_wb_addr: int | None = None) -> TxRing:
        """Allocate a ring and program it as igb_configure_tx_ring does (plus optional head write-back)."""
        buf = self.host.dma.dma_alloc_coherent(16 * size, owner=f"tx ring {q}")
        ring = TxRing(q, size, buf.cpu_addr, buf.dma_addr)
        self.wr32(txq_name("TXDCTL", q), 0)
        self.wr32(txq_name("TDLEN", q), 16 * size)
        self.wr32(txq_name("TDBAL", q), buf.dma_addr & 0xFFFF_FFFF)
        self.wr32(txq_name("TDBAH", q), buf.dma_addr >> 32)
        self.wr32(txq_name("TDH", q), 0)
        self.wr32(txq_name("TDT", q), 0)
        if head_wb_addr is not None:
            self.wr32(txq_name("TDWBAL", q), (head_wb_addr & 0xFFFF_FFFC) | 1)
            self.wr32(txq_name("TDWBAH", q), head_wb_addr >> 32)
        self.wr32(txq_name("TXDCTL", q), TXDCTL_ENABLE | wthresh << 16 | hthresh << 8 | pthresh)
        return ring

    def enable_tx(self, psp: bool = True) -> None:
        """igb_setup_tctl: PSP, RTLC, CT = 15, then EN."""
        self.wr32("TCTL", (TCTL_PSP if psp else 0) | TCTL_RTLC | 15 << 4 | TCTL_EN)

    def setup_msix(self, queues=(0,), eitr_us: int = 0, reenable: bool = False) -> dict[int, int]:
        """igb_configure_msix-like: vector 0 = other causes, vector 1+i = TX queue i; returns q -> vector.

        ``reenable``: each handler writes its EIMS bit back, as igb does when
        NAPI completes (the message auto-masked it through EIAM).
        """
        self._reenable = reenable
        self.wr32("GPIE", GPIE_MSIX_MODE | GPIE_PBA | GPIE_EIAME | GPIE_NSICR)
        vec_of = {}
        for i, q in enumerate(queues):
            v = 1 + i
            vec_of[q] = v
            self._program_msix_entry(v, f"tx{q}")
            self._write_ivar_tx(q, v)
            self.wr32(f"EITR{v}", ((eitr_us * 4) & 0x7FFC or 0x4) | EITR_CNT_IGNR if eitr_us else EITR_CNT_IGNR)
        self._program_msix_entry(0, "other")
        self.wr32("IVAR_MISC", (0 | IVAR_VALID) << 8)
        mask = sum(1 << v for v in list(vec_of.values()) + [0])
        self.wr32("EIAC", mask)
        self.wr32("EIAM", mask)
        self.wr32("EIMS", mask)
        return vec_of

    def _program_msix_entry(self, v: int, name: str) -> None:
        addr, data = self.host.msi.allocate(f"nic-{name}", lambda count, n=name, v=v: self._on_irq(n, v, count))
        base = BAR3 + 16 * v
        self.cpu.writel(addr & 0xFFFF_FFFF, base)
        self.cpu.writel(addr >> 32, base + 4)
        self.cpu.writel(data, base + 8)
        self.cpu.writel(0, base + 12)  # unmask

    def _write_ivar_tx(self, q: int, v: int) -> None:
        if self.nic.profile.ivar_layout == "column":
            index, shift = q & 7, ((q & 8) << 1) + 8
        else:
            index, shift = q >> 1, ((q & 1) << 4) + 8
        name = f"IVAR0_{index}"
        cur = self.nic.regs.get(name)
        self.wr32(name, (cur & ~(0xFF << shift)) | ((v | IVAR_VALID) << shift))

    def _on_irq(self, name: str, v: int, device_count: int) -> None:
        self.cpu.take_interrupt(device_count)
        self.interrupts.append((self.engine.now, name))
        if self._reenable:
            self.wr32("EIMS", 1 << v)

    # --- sending -----------------------------------------------------------------
    def post(self, ring: TxRing, packet: bytes, offload: Offload | None = None, *,
             split: int = 0, rs: bool = True) -> tuple[int, int]:
        """Write one packet's descriptors (and buffer) into the ring, as igb_tx_map does; no doorbell.

        ``split`` > 0 cuts the buffer into pieces of that size, one data
        descriptor each. Returns (first index, EOP index).
        """
        data = _seed_checksum(packet, offload) if offload else bytes(packet)
        first = ring.next_to_use
        paylen = len(data)
        tse = bool(offload and offload.tso_mss)
        if offload and (tse or offload.csum or offload.vlan is not None):
            self._write_desc(ring, d.encode_adv_context(
                iplen=offload.iplen, maclen=offload.maclen, vlan=offload.vlan or 0,
                tucmd_ipv4=offload.ipv4, l4t=offload.l4t if (tse or offload.csum) else "udp",
                l4len=offload.l4len if tse else 0, mss=offload.tso_mss if tse else 0))
            if tse:
                paylen -= offload.maclen + offload.iplen + offload.l4len
        pieces = _pieces(len(data), split or d.IGB_MAX_DATA_PER_TXD)
        addr = self._map_buffer(data)
        last = ring.next_to_use
        for k, (off, n) in enumerate(pieces):
            eop = k == len(pieces) - 1
            last = ring.next_to_use
            self._write_desc(ring, d.encode_adv_data(
                addr + off, n, eop=eop, rs=rs and eop, ifcs=True, tse=tse,
                vle=bool(offload and offload.vlan is not None),
                txsm=bool(offload and (offload.csum or tse)), ixsm=bool(offload and tse and offload.ipv4),
                paylen=paylen if k == 0 else 0))
        ring.posted.append((first, last))
        return first, last

    def _write_desc(self, ring: TxRing, raw: bytes) -> None:
        self.cpu.store_bytes(ring.desc_cpu_addr(ring.next_to_use), raw)
        ring.next_to_use = (ring.next_to_use + 1) % ring.size

    def _map_buffer(self, data: bytes) -> int:
        cpu_addr = self.host.dma.kmalloc(max(len(data), 1))
        self.cpu.store_bytes(cpu_addr, data)
        return self.host.dma.dma_map_single(cpu_addr, max(len(data), 1), DmaDirection.TO_DEVICE)

    def ring_doorbell(self, ring: TxRing) -> None:
        """``dma_wmb()`` was implied by posting; ``writel(next_to_use, tail)``."""
        self.cpu.writel(ring.next_to_use, BAR0 + self.offset(txq_name("TDT", ring.q)))

    def send(self, ring: TxRing, packets, offload: Offload | None = None, **kw) -> None:
        for p in packets:
            self.post(ring, p, offload, **kw)
        self.ring_doorbell(ring)

    # --- observing -------------------------------------------------------------------
    def dd(self, ring: TxRing, index: int) -> bool:
        """The DD bit of descriptor ``index`` as host memory holds it now."""
        return d.has_dd(self.host.mem.read(ring.desc_cpu_addr(index), 16))

    def run(self, until: int | None = None) -> None:
        self.engine.run(until)

    def run_for(self, ps: int) -> None:
        self.engine.run(self.engine.now + ps)


def _pieces(n: int, size: int) -> list[tuple[int, int]]:
    if n == 0:
        return [(0, 0)]
    return [(off, min(size, n - off)) for off in range(0, n, size)]


def _seed_checksum(packet: bytes, off: Offload) -> bytes:
    """Leave the pseudo-header sum in the L4 checksum field, as the Linux stack does for offload."""
    if not (off.csum or off.tso_mss) or off.l4t not in ("tcp", "udp"):
        return bytes(packet)
    buf = bytearray(packet)
    ip_off = off.maclen
    l4_off = ip_off + off.iplen
    l4_len = 0 if off.tso_mss else len(packet) - l4_off
    pseudo = pseudo_header(packet, ip_off, off.ipv4, off.l4t, l4_len)
    where = l4_off + (16 if off.l4t == "tcp" else 6)
    struct.pack_into("!H", buf, where, csum_partial(pseudo))
    return bytes(buf)
