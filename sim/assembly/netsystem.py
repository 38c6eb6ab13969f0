"""A host with the whole kernel stack, the igb NIC, the wire and a link partner: the reference setup.

``NetSystem`` builds on :class:`sim.assembly.system.IgbSystem` (host, NIC model,
kernel API, net core, igb driver) and adds, in Linux's order:

* the kernel's network layers — device layer and qdiscs (:mod:`stack.core.dev`),
  IPv4/ARP/UDP (:mod:`stack.ipv4.inet`), TCP and the socket calls
  (:mod:`stack.socket`) — configured as ``ip addr add 10.0.0.1/24`` on
  ``eth0``, with the MTU, link speed and coalescing asked for;
* the wire (:class:`sim.assembly.wire.Wire`) from the NIC's MAC to a link partner
  (:class:`sim.assembly.partner.LinkPartner`, 10.0.0.2), capturing both directions
  into a pcap when asked.

**The receive shortcut.** The NIC model has no receive path. A frame the
partner sends arrives at the time the wire says; it is written into a fresh
skb in host memory as the NIC's DMA would (no CPU store), and handed to
``netif_rx`` from the interrupt CPU in a ``hardirq:eth0-rx`` context — the
per-CPU backlog then delivers it in NET_RX softirq context through
``netif_receive_skb``, exactly where the driver's RX clean would. This is
the only place the model takes a shortcut around hardware.
"""
from __future__ import annotations

from driver.igb.ethtool import igb_set_coalesce
from sim.engine import MS, US
from .partner import LinkPartner
from .pcap import PcapWriter
from .system import IgbSystem
from stack.core import dev as dev_layer
from stack.ipv4 import inet
from stack.initcalls import net_init
from stack.core.skbuff import NET_SKB_PAD, alloc_skb, skb_put

__all__ = ["NetSystem", "HOST_IP", "PARTNER_IP", "HOST_MAC", "PARTNER_MAC"]

HOST_IP, PARTNER_IP = "10.0.0.1", "10.0.0.2"
HOST_MAC, PARTNER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


class NetSystem:
    """Our host (kernel stack + igb + NIC) wired to a link partner; see the module docstring."""

    def __init__(self, *, nic: str = "82576", ordering: str = "x86-tso", ncpus: int = 2, seed: int = 0,
                 ring_size: int = 256, itr: int = 3, mtu: int = 1500, speed_mbps: int = 1000,
                 kernel_version: str = "recent", pcap: str | None = None, irq_cpu: int = 0,
                 partner_options: dict | None = None):
        self.system = s = IgbSystem(nic, ordering=ordering, ncpus=ncpus, seed=seed, ring_size=ring_size,
                                    irq_cpu=irq_cpu)
        self.engine, self.host, self.kernel, self.net, self.nic = s.engine, s.host, s.kernel, s.net, s.nic
        self.netdev, self.adapter = s.netdev, s.adapter
        self.irq_cpu = irq_cpu
        net = self.net
        net_init(net, kernel_version=kernel_version)
        self.netdev.mtu = mtu
        inet.ip_link_set_address(self.netdev, HOST_MAC)
        inet.ip_addr_add(net, self.netdev, f"{HOST_IP}/24")
        if speed_mbps != 1000:
            self.nic.set_link_speed(speed_mbps)
        if itr != 3:
            err = igb_set_coalesce(self.adapter, rx_usecs=itr, tx_usecs=itr)
            if err:
                raise ValueError(f"coalescing {itr}: rejected by igb ({err})")
        self.pcap = PcapWriter(pcap) if pcap else None
        from .wire import Wire
        self.wire = Wire(self.engine, speed_mbps=speed_mbps, pcap=self.pcap)
        self.wire.attach_mac(self.nic.mac)
        opts = {"mtu": mtu, "mss": mtu - 40, **(partner_options or {})}
        self.partner = LinkPartner(self.engine, mac=PARTNER_MAC, ip=PARTNER_IP, wire=self.wire, **opts)
        self.wire.attach_partner(self.partner)
        self.wire.to_host = self._receive
        self.rx_frames = 0

    # --- bring-up -----------------------------------------------------------------------------
    def open(self) -> None:
        """``ip link set eth0 up`` and wait for the carrier (the watchdog task reads STATUS.LU)."""
        if self.system.open():
            raise RuntimeError("eth0: open failed")
        from stack.core.netdevice import netif_carrier_ok
        limit = self.engine.now + 1000 * MS
        while not netif_carrier_ok(self.netdev) and self.engine.now < limit:
            self.engine.run(self.engine.now + 100 * US)

    # --- the receive shortcut -------------------------------------------------------------------
    def _receive(self, frame: bytes, time_ps: int) -> None:
        """A frame from the wire: DMA it into an skb, ``netif_rx`` on the interrupt CPU (module docstring)."""
        net = self.net
        skb = alloc_skb(net.skb, len(frame), NET_SKB_PAD)
        if skb is None:
            self.netdev.stats.rx_dropped += 1
            return
        self.host.mem.write(skb_put(skb, len(frame)), frame)
        skb.dev = self.netdev
        self.rx_frames += 1
        with self.kernel.on_cpu(self.irq_cpu, "hardirq:eth0-rx") as cpu:
            cpu.take_interrupt()   # the receive interrupt: the DMA'd bytes are visible to this CPU
            dev_layer.netif_rx(skb)

    # --- running ----------------------------------------------------------------------------------
    def task(self, gen, cpu: int = 0, comm: str = "app"):
        """Run a program (a generator of socket calls) as a task on ``cpu``; its Process."""
        return self.kernel.spawn_task(gen, cpu, comm)

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

    def close(self) -> None:
        if self.pcap is not None:
            self.pcap.close()
