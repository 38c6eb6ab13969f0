"""One simulated machine with an igb NIC: host, NIC model, kernel, net core and the igb driver.

``IgbSystem`` wires the layers together only at their ports, as a board
does: the NIC's BAR0 and MSI-X BAR in the host's MMIO space, its DMA through
the host's IOMMU, its MSI-X messages into the host's interrupt controller;
the driver reaches the NIC only through the kernel API
(``driver.platform.Kernel``) on the host's CPUs. Frames leaving the MAC are
recorded on :attr:`IgbSystem.wire` with their start and end times.

Until the qdisc layer exists, :class:`DirectSender` stands in for
``dev_queue_xmit``: it hands skbs to the driver in order on one CPU, with
the ``xmit_more`` hint for all but the last of a burst, waits while the
queue is stopped (driver or BQL) and retries an skb the driver returned
``NETDEV_TX_BUSY`` for — what ``sch_direct_xmit`` does with a requeue. Without
carrier it holds its skbs (Linux deactivates the qdisc then). It
looks at the queue again when the queue is woken, when it is given more
skbs, and when the carrier comes back (the device was reset or
reconfigured: ``igb_up`` restarts the queues without scheduling them, and
in Linux the next ``dev_queue_xmit`` would run the qdisc).
"""
from __future__ import annotations

from collections import deque

from driver.igb import IGB_SITES, igb_probe, igb_remove
from driver.platform import Kernel, PciDev
from rtl_model.nic import Nic
from rtl_model.profiles import get_nic_profile
from sim.engine import MS, Engine, SeededPolicy
from sim.host import Host
from sim.host.pcie import PCIE_82576, PCIE_I210
from stack.core.netcore import NetCore
from stack.core.netdevice import (NETDEV_TX_BUSY, dev_close, dev_open, netdev_get_tx_queue, netdev_start_xmit,
                                  netif_carrier_ok, netif_running, netif_xmit_frozen_or_stopped)
from stack.core.skbuff import kfree_skb
from stack.initcalls import net_init

__all__ = ["IgbSystem", "DirectSender", "BAR0", "BAR3"]

BAR0, BAR0_SIZE = 0xF000_0000, 0x2_0000   # 128 KiB of registers
BAR3, BAR3_SIZE = 0xF010_0000, 0x4000     # MSI-X table and PBA
_LINKS = {"82576": PCIE_82576, "i210": PCIE_I210}


class IgbSystem:
    """A host with ``ncpus`` CPUs under ``ordering``, an igb NIC of ``nic`` profile, the driver probed.

    ``ring_size`` and ``queues`` are what ethtool -G / -L would set before
    open; ``irq_cpu`` is where the NIC's vectors are delivered.
    ``barriers`` drops or weakens driver barrier sites: ``{site name: weaker
    primitive, or None to drop}``, validated by ``kernel.sites.apply``.
    ``stale_window``/``drain_delay_ps`` tune the weak-memory model (see
    :class:`sim.host.Host`).
    ``stack=True`` initialises the kernel's network layers (:func:`stack.initcalls.net_init`:
    qdiscs, the RX backlog, IPv4, TCP, UDP, sockets), so skbs go out through ``dev_queue_xmit``.
    """

    def __init__(self, nic: str = "82576", *, ordering: str = "x86-tso", ncpus: int = 2, seed: int = 0,
                 policy=None, ring_size: int = 256, queues: int | None = None, irq_cpu: int = 0,
                 iommu: bool = True, barriers: dict | None = None, stale_window: int | None = None,
                 drain_delay_ps: int = 0, engine=None, stack: bool = False):
        profile = get_nic_profile(nic)
        self.engine = engine if engine is not None else Engine(policy if policy is not None else SeededPolicy(seed))
        link = _LINKS.get(profile.name, PCIE_82576)
        extra = {} if stale_window is None else {"stale_window": stale_window}
        self.host = Host(self.engine, ordering, ncpus=ncpus, link=link, iommu=iommu,
                         drain_delay_ps=drain_delay_ps, **extra)
        self.nic = Nic(self.engine, self.host.iommu, link, profile=profile,
                       msi_sink=self.host.msi.deliver, intx_sink=self.host.msi.set_intx)
        self.host.map_device("nic-bar0", BAR0, BAR0_SIZE, self.nic)
        self.host.map_device("nic-bar3", BAR3, BAR3_SIZE, self.nic.msix)
        self.wire: list[tuple[bytes, int, int]] = []
        self.nic.mac.add_sink(lambda frame, start, end: self.wire.append((frame, start, end)))
        self.kernel = Kernel(self.host)
        self.net = NetCore(self.host, ctx=self.kernel)
        if stack:
            net_init(self.net)
        self.pdev = PciDev("0000:01:00.0", 0x8086, profile.device_id,
                           {0: (BAR0, BAR0_SIZE), 3: (BAR3, BAR3_SIZE)})
        if barriers:   # before probe, so the configuration covers the probe's own accesses
            self.kernel.sites.declare_all(IGB_SITES)
            self.kernel.sites.apply(barriers)
        self.adapter = igb_probe(self.kernel, self.net, self.pdev, profile.name, "eth0", irq_cpu=irq_cpu,
                                 tx_ring_count=ring_size, rss_queues=queues)
        self.netdev = self.adapter.netdev
        self._senders: list[DirectSender] = []
        self.netdev.netif_schedule_hook = self._on_schedule
        self.netdev.carrier_hooks.append(self._on_carrier)

    # --- running --------------------------------------------------------------
    def task(self, gen, cpu: int = 0, comm: str = "ip"):
        """Run sleeping kernel code ``gen`` as a task on ``cpu``; returns its Process."""
        return self.kernel.spawn_task(gen, cpu, comm)

    def run_task(self, gen, cpu: int = 0, comm: str = "ip", limit_ps: int = 10_000 * MS):
        """Run ``gen`` as a task to completion (at most ``limit_ps`` of simulated time); its result."""
        proc = self.task(gen, cpu, comm)
        self.engine.run(until=proc if limit_ps is None else proc)
        if not proc.triggered:
            raise RuntimeError(f"{comm}: did not finish")
        return proc.value

    def open(self) -> int:
        """``ip link set eth0 up``: 0 or the driver's error."""
        return self.run_task(dev_open(self.netdev), comm="ip")

    def close(self) -> None:
        """``ip link set eth0 down``; skbs still waiting in a sender are dropped (``qdisc_reset``)."""
        self.run_task(dev_close(self.netdev), comm="ip")
        for s in self._senders:
            s.drop_backlog()

    def remove(self) -> None:
        """Unbind the driver (closing the device first if it is up)."""
        self.run_task(igb_remove(self.adapter), comm="rmmod")

    def run(self, until: int | None = None) -> None:
        self.engine.run(until)

    def run_for(self, ps: int) -> None:
        self.engine.run(self.engine.now + ps)

    # --- sending ----------------------------------------------------------------
    def sender(self, cpu: int = 0, queue: int = 0, comm: str = "sender") -> "DirectSender":
        """A sender feeding TX queue ``queue`` from CPU ``cpu`` (see :class:`DirectSender`)."""
        s = DirectSender(self, cpu, queue, comm)
        self._senders.append(s)
        return s

    def _on_carrier(self, dev, up: bool) -> None:
        """Carrier back (after a reset or ethtool change): senders look at their queue again."""
        if up:
            for s in self._senders:
                s.wake()

    def _on_schedule(self, txq) -> None:
        for s in self._senders:
            if s.txq is txq:
                s.wake()

    # --- observing -------------------------------------------------------------
    def frames(self) -> list[bytes]:
        """Frames seen on the wire, without their FCS."""
        return [f[:-4] for f, _, _ in self.wire]

    def leaks(self):
        """What the kernel still holds (mappings, coherent memory, allocations, IRQs, ioremaps)."""
        return self.kernel.leaks()


class DirectSender:
    """Hands skbs to ``ndo_start_xmit`` of one TX queue, in order, from one CPU (see the module docstring)."""

    def __init__(self, system: IgbSystem, cpu: int, queue: int, comm: str):
        self.system = system
        self.cpu = cpu
        self.queue = queue
        self.comm = comm
        self.txq = netdev_get_tx_queue(system.netdev, queue)
        self.backlog: deque = deque()
        self.sent = 0
        self.busy = 0
        self.stopped_waits = 0
        self._wake = None
        self._proc = None
        self.done = None

    def send(self, skbs, burst: int = 1, gap_ps: int = 0) -> None:
        """Queue ``skbs`` for transmission in bursts of ``burst`` (xmit_more within a burst)."""
        for skb in skbs:
            skb.queue_mapping = self.queue
            self.backlog.append(skb)
        self._burst = burst
        self._gap = gap_ps
        if self._proc is None or self._proc.triggered:
            self.done = self.system.engine.event(f"{self.comm} done")
            self._proc = self.system.engine.spawn(self._run(), self.comm)
        else:
            self.wake()   # new work: look at the queue again (as dev_queue_xmit runs the qdisc)

    def drop_backlog(self) -> int:
        """Free every skb not yet handed to the driver, as drops; how many."""
        n = len(self.backlog)
        with self.system.kernel.on_cpu(self.cpu, f"task:{self.comm}"):
            while self.backlog:
                kfree_skb(self.backlog.popleft())
        self.wake()
        return n

    def wake(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _run(self):
        kernel = self.system.kernel
        dev = self.system.netdev
        engine = self.system.engine
        while self.backlog:
            if not netif_running(dev):
                break
            if not netif_carrier_ok(dev) or netif_xmit_frozen_or_stopped(self.txq):
                self.stopped_waits += 1
                self._wake = engine.event("txq wake")
                yield self._wake
                continue
            n = 0
            with kernel.on_cpu(self.cpu, f"task:{self.comm}") as cpu:
                while self.backlog and n < self._burst and not netif_xmit_frozen_or_stopped(self.txq):
                    skb = self.backlog[0]
                    more = n + 1 < self._burst and len(self.backlog) > 1
                    rc = netdev_start_xmit(skb, dev, self.txq, more)
                    if rc == NETDEV_TX_BUSY:
                        self.busy += 1
                        break
                    self.backlog.popleft()
                    self.sent += 1
                    n += 1
                owed = cpu.settle()
            yield owed + self._gap
        self.done.succeed(self.sent)
