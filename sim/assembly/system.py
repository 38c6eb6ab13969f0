"""One simulated machine with an igb NIC, built with the layers asked for: the reference setup and its parts.

:class:`IgbSystem` wires the layers together only at their ports, as a board
does: the NIC's BAR0 and MSI-X BAR in the host's MMIO space, its DMA through
the host's IOMMU, its MSI-X messages into the host's interrupt controller;
the driver reaches the NIC only through the kernel API
(``driver.platform.Kernel``) on the host's CPUs. What it always has, and what
is optional:

* always: the engine, the host, the NIC model, the kernel API, the net core
  with its device layer (qdiscs, NET_TX, the RX backlog: :mod:`stack.core.dev`),
  the igb driver probed as ``eth0``, and the wire
  (:class:`sim.assembly.wire.Wire`) at the NIC's MAC, which logs every frame
  with its times. Skbs reach the driver only through ``dev_queue_xmit``, as
  in Linux: :meth:`IgbSystem.sender` gives a program writing frames to a
  packet socket (:class:`sim.assembly.sender.PacketSender`);
* ``stack=True``: the protocol layers — IPv4/ARP/UDP (:mod:`stack.ipv4.inet`),
  TCP and the socket calls (:mod:`stack.socket`) — configured as
  ``ip addr add 10.0.0.1/24`` on ``eth0`` with the MTU asked for;
* ``partner=True``: a link partner (:class:`sim.assembly.partner.LinkPartner`,
  10.0.0.2) at the far end of the wire, capturing both directions into a
  pcap when asked.

**The receive shortcut.** The NIC model has no receive path. A frame the
partner sends arrives at the time the wire says; it is written into a fresh
skb in host memory as the NIC's DMA would (no CPU store), and handed to
``netif_rx`` from the interrupt CPU in a ``hardirq:eth0-rx`` context — the
per-CPU backlog then delivers it in NET_RX softirq context through
``netif_receive_skb``, exactly where the driver's RX clean would. This is
the only place the model takes a shortcut around hardware.
"""
from __future__ import annotations

from driver.igb import IGB_SITES, igb_probe, igb_remove
from driver.igb.ethtool import igb_set_coalesce
from driver.igb.igb import IGB_FLAG_QUEUE_PAIRS
from driver.platform import Kernel, PciDev
from rtl_model.nic import Nic
from rtl_model.profiles import get_nic_profile
from sim.engine import MS, US, Engine, SeededPolicy
from sim.host import Host
from sim.host.pcie import PCIE_82576, PCIE_I210
from stack.core import dev as dev_layer
from stack.core.dev import dev_close, dev_open
from stack.core.netcore import NetCore
from stack.core.netdevice import netif_carrier_ok
from stack.core.skbuff import NET_SKB_PAD, alloc_skb, skb_put
from stack.initcalls import net_init
from stack.ipv4 import iproute2

from .partner import LinkPartner
from .pcap import PcapWriter
from .sender import PacketSender
from .wire import Wire

__all__ = ["IgbSystem", "BAR0", "BAR3", "HOST_IP", "PARTNER_IP", "HOST_MAC", "PARTNER_MAC"]

BAR0, BAR0_SIZE = 0xF000_0000, 0x2_0000   # 128 KiB of registers
BAR3, BAR3_SIZE = 0xF010_0000, 0x4000     # MSI-X table and PBA
_LINKS = {"82576": PCIE_82576, "i210": PCIE_I210}

HOST_IP, PARTNER_IP = "10.0.0.1", "10.0.0.2"
HOST_MAC, PARTNER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


class IgbSystem:
    """A host with ``ncpus`` CPUs under ``ordering``, an igb NIC of ``nic`` profile, the driver probed.

    Hardware and driver: ``ring_size`` and ``queues`` are what ethtool -G / -L
    would set before open; ``irq_cpu`` is where the NIC's vectors are
    delivered; ``itr`` is ethtool -C rx/tx-usecs (3: dynamic, igb's default);
    ``speed_mbps`` the link speed. ``barriers`` drops or weakens driver
    barrier sites: ``{site name: weaker primitive, or None to drop}``,
    validated by ``kernel.sites.apply``. ``stale_window``/``drain_delay_ps``
    tune the weak-memory model (see :class:`sim.host.Host`).
    ``drain_delay_ps``, ``msi_latency_ps`` and ``dma_read_jitter_ps`` fix the
    store-buffer drain latency, the MSI delivery latency and the NIC's DMA
    read jitter; None (the default) draws each, every time, from its
    documented options (:mod:`sim.host.timing`), so the seed varies timing. ``engine``: run
    on this engine (e.g. a cocotb adapter's) instead of a new native one.

    Kernel: ``kernel_version`` ("recent" or "3.10") selects the net core's
    and the protocols' behaviour; ``stack`` adds the protocol layers and
    ``mtu``; ``partner`` puts a link partner at the wire's far end
    (``partner_options`` for :class:`LinkPartner`) and ``pcap`` captures the
    wire. ``wire_log``: the wire keeps every frame (:meth:`frames`, ``wire.a_to_b``)
    — the tests' default; a long run turns it off and keeps counters only.
    See the module docstring.
    """

    def __init__(self, nic: str = "82576", *, ordering: str = "x86-tso", ncpus: int = 2, seed: int = 0,
                 policy=None, ring_size: int = 256, queues: int | None = None, irq_cpu: int = 0,
                 iommu: bool = True, barriers: dict | None = None, stale_window: int | None = None,
                 drain_delay_ps: int | None = None, msi_latency_ps: int | None = None,
                 dma_read_jitter_ps: int | None = None, engine=None, kernel_version: str = "recent", stack: bool = False,
                 mtu: int = 1500, itr: int = 3, speed_mbps: int = 1000, partner: bool = False,
                 partner_options: dict | None = None, pcap: str | None = None, wire_log: bool = True):
        profile = get_nic_profile(nic)
        self.engine = engine if engine is not None else Engine(policy if policy is not None else SeededPolicy(seed))
        link = _LINKS.get(profile.name, PCIE_82576)
        extra = {} if stale_window is None else {"stale_window": stale_window}
        self.host = Host(self.engine, ordering, ncpus=ncpus, link=link, iommu=iommu,
                         drain_delay_ps=drain_delay_ps, msi_latency_ps=msi_latency_ps, **extra)
        self.nic = Nic(self.engine, self.host.iommu, link, profile=profile,
                       msi_sink=self.host.msi.deliver, intx_sink=self.host.msi.set_intx,
                       dma_read_jitter_ps=dma_read_jitter_ps)
        self.host.map_device("nic-bar0", BAR0, BAR0_SIZE, self.nic)
        self.host.map_device("nic-bar3", BAR3, BAR3_SIZE, self.nic.msix)
        self.kernel = Kernel(self.host)
        self.net = NetCore(self.host, ctx=self.kernel, kernel_version=kernel_version)
        if stack:
            net_init(self.net)   # at boot, before any driver probes
        self.pdev = PciDev("0000:01:00.0", 0x8086, profile.device_id,
                           {0: (BAR0, BAR0_SIZE), 3: (BAR3, BAR3_SIZE)})
        if barriers:   # before probe, so the configuration covers the probe's own accesses
            self.kernel.sites.declare_all(IGB_SITES)
            self.kernel.sites.apply(barriers)
        self.irq_cpu = irq_cpu
        self.adapter = igb_probe(self.kernel, self.net, self.pdev, profile.name, "eth0", irq_cpu=irq_cpu,
                                 tx_ring_count=ring_size, rss_queues=queues)
        self.netdev = self.adapter.netdev
        self.netdev.mtu = mtu
        if stack:
            iproute2.ip_link_set_address(self.netdev, HOST_MAC)
            iproute2.ip_addr_add(self.net, self.netdev, f"{HOST_IP}/24")
        if speed_mbps != 1000:
            self.nic.set_link_speed(speed_mbps)
        if itr != 3:   # ethtool -C; with TX and RX sharing vectors, rx-usecs sets both (tx-usecs is refused)
            tx_usecs = None if self.adapter.flags & IGB_FLAG_QUEUE_PAIRS else itr
            err = igb_set_coalesce(self.adapter, rx_usecs=itr, tx_usecs=tx_usecs)
            if err:
                raise ValueError(f"coalescing {itr}: rejected by igb ({err})")
        self.pcap = PcapWriter(pcap) if pcap else None
        self.wire = Wire(self.engine, speed_mbps=speed_mbps, pcap=self.pcap, keep_log=wire_log)
        self.wire.attach_mac(self.nic.mac)
        self.partner = None
        if partner:
            opts = {"mtu": mtu, "mss": mtu - 40, **(partner_options or {})}
            self.partner = LinkPartner(self.engine, mac=PARTNER_MAC, ip=PARTNER_IP, wire=self.wire, **opts)
            self.wire.attach_partner(self.partner)
        self.wire.to_host = self._receive
        self.rx_frames = 0
        self._senders: list[PacketSender] = []

    # --- running --------------------------------------------------------------
    def task(self, gen, cpu: int = 0, comm: str = "ip"):
        """Run sleeping kernel code or a program (a generator) as a task on ``cpu``; the Event of its end."""
        return self.kernel.spawn_task(gen, cpu, comm)

    def run_task(self, gen, cpu: int = 0, comm: str = "ip"):
        """Run ``gen`` as a task to completion; its result."""
        proc = self.task(gen, cpu, comm)
        self.engine.run(until=proc)
        if not proc.triggered:
            raise RuntimeError(f"{comm}: did not finish")
        return proc.value

    def run(self, until: int | None = None) -> None:
        self.engine.run(until)

    def run_for(self, ps: int) -> None:
        self.engine.run(self.engine.now + ps)

    def run_until(self, done, limit_ps: int, step_ps: int = 10 * MS, progress=None) -> bool:
        """Run until ``done()`` is true or ``limit_ps`` passes; ``progress(now)`` after each step."""
        engine = self.engine
        while not done():
            if engine.now >= limit_ps:
                return False
            engine.run(min(engine.now + step_ps, limit_ps))
            if progress is not None:
                progress(engine.now)
        return True

    # --- the device --------------------------------------------------------------
    def open(self) -> int:
        """``ip link set eth0 up``: 0 or the driver's error."""
        return self.run_task(dev_open(self.netdev), comm="ip")

    def bring_up(self) -> None:
        """``ip link set eth0 up`` and wait for the carrier (the watchdog task reads STATUS.LU)."""
        if self.open():
            raise RuntimeError("eth0: open failed")
        limit = self.engine.now + 1000 * MS
        while not netif_carrier_ok(self.netdev) and self.engine.now < limit:
            self.engine.run(self.engine.now + 100 * US)

    def close(self) -> None:
        """``ip link set eth0 down``; what senders have not written yet fails with ENETDOWN (freed as drops)."""
        self.run_task(dev_close(self.netdev), comm="ip")
        for s in self._senders:
            s.drop_backlog()

    def remove(self) -> None:
        """Unbind the driver (closing the device first if it is up)."""
        self.run_task(igb_remove(self.adapter), comm="rmmod")

    # --- sending ----------------------------------------------------------------
    def sender(self, cpu: int = 0, queue: int | None = 0, comm: str = "sender") -> PacketSender:
        """A program on CPU ``cpu`` writing frames to a packet socket; XPS pins ``cpu`` to TX ``queue``."""
        s = PacketSender(self, cpu, queue, comm)
        self._senders.append(s)
        return s

    # --- the receive shortcut -------------------------------------------------------------------
    def _receive(self, frame: bytes, time_ps: int) -> None:
        """A frame from the wire: the receive interrupt on the interrupt CPU (module docstring)."""
        self.host.sched.cpus[self.irq_cpu].interrupt("eth0-rx", self._rx_irq, frame)

    def _rx_irq(self, frame: bytes) -> None:
        """The receive interrupt (hardirq): the frame DMA'd into an skb is visible to this CPU; ``netif_rx``."""
        self.kernel.charge("hardirq")
        skb = alloc_skb(self.net.skb, len(frame), NET_SKB_PAD)
        if skb is None:
            self.netdev.stats.rx_dropped += 1
            return
        self.host.mem.write(skb_put(skb, len(frame)), frame)   # the device's DMA of the frame
        self.kernel.cpu.take_interrupt(self.host.msi.write_count())   # it precedes the interrupt: visible
        skb.dev = self.netdev
        self.rx_frames += 1
        dev_layer.netif_rx(skb)

    # --- observing -------------------------------------------------------------
    def frames(self) -> list[bytes]:
        """Frames our NIC put on the wire, without their FCS (needs ``wire_log``)."""
        if not self.wire.keep_log:
            raise ValueError("the wire keeps no log (IgbSystem(wire_log=False))")
        return [f.frame for f in self.wire.a_to_b]

    def leaks(self):
        """What the kernel still holds (mappings, coherent memory, allocations, IRQs, ioremaps)."""
        return self.kernel.leaks()

    def close_capture(self) -> None:
        """Finish the pcap file, if one is being written."""
        if self.pcap is not None:
            self.pcap.close()
