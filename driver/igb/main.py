"""The adapter's life: probe, open, up, down, reset, close, remove (igb_facts §3.3, §3.11).

``igb_probe`` maps BAR0, creates the net device (8 TX queues, as
``alloc_etherdev_mq``), sizes the queues (``rss_queues`` = min(MAC maximum,
online CPUs)), gets the MSI-X vectors and allocates the q_vectors and
rings. ``igb_open`` (a generator: it sleeps) follows ``__igb_open``:
resources, ``igb_configure``, IRQs, NAPI, clear pending causes,
``igb_irq_enable``, start the queues, schedule the watchdog task.
``igb_down``/``igb_up`` are the halves of ``igb_reinit_locked``, which
``igb_reset_task`` runs: the reset path after a TX timeout.

Only the TX side is modelled: RX rings are counted (their IVAR entries and
vectors exist as in Linux) but have no descriptors.
"""
from __future__ import annotations

import logging
from collections import Counter

from driver.platform import pci_resource_len, pci_resource_start
from stack.core.napi import napi_disable, napi_enable
from stack.core.dev import dev_close
from stack.core.netdevice import (NETIF_F_GSO_UDP_L4, NETIF_F_HIGHDMA, NETIF_F_HW_CSUM,
                                  NETIF_F_HW_VLAN_CTAG_TX, NETIF_F_IP_CSUM, NETIF_F_IPV6_CSUM, NETIF_F_SG,
                                  NETIF_F_TSO, NETIF_F_TSO6, NetDevice, netif_carrier_off, netif_running,
                                  netif_tx_start_all_queues, netif_tx_stop_all_queues)

from .configure import igb_configure_tx, igb_get_hw_control, igb_release_hw_control, igb_setup_tctl
from .e1000_regs import (E1000_CTRL, E1000_CTRL_DEV_RST, E1000_CTRL_RST, E1000_ICR, E1000_IMC, E1000_RCTL,
                         E1000_RCTL_EN, E1000_TCTL, E1000_TCTL_EN, E1000_TCTL_PSP, E1000_TSICR, E1000_VET,
                         ETHERNET_IEEE_VLAN_TYPE)
from .hw import e1000_hw, get_mac_type, rd32, wr32, wrfl
from .igb import (HZ_FROM_STACK as HZ, IGB_DEFAULT_ITR, IGB_DEFAULT_TX_WORK, IGB_DEFAULT_TXD,
                  IGB_FLAG_NEED_LINK_UPDATE, IGB_MAX_TX_QUEUES, __IGB_DOWN, __IGB_RESETTING, __IGB_TESTING)
from .interrupts import (igb_alloc_q_vectors, igb_configure_msix, igb_free_irq, igb_free_q_vectors,
                         igb_irq_disable, igb_irq_enable, igb_request_irq, igb_reset_interrupt_capability,
                         igb_set_interrupt_capability)
from .rings import igb_clean_all_tx_rings, igb_free_all_tx_resources, igb_setup_all_tx_resources
from .sites import IGB_SITES
from .watchdog import igb_tx_timeout, igb_update_stats, igb_watchdog, igb_watchdog_task
from .xmit import igb_xmit_frame

__all__ = ["igb_adapter", "igb_probe", "igb_remove", "igb_open", "igb_close", "igb_up", "igb_down",
           "igb_reset", "igb_reinit_locked", "igb_reset_task", "igb_configure", "igb_init_interrupt_scheme",
           "igb_clear_interrupt_scheme"]

log = logging.getLogger("igbsim.driver.igb")
_IGB_DOWN = __IGB_DOWN


class igb_adapter:
    """``struct igb_adapter``: everything the driver keeps per device."""

    def __init__(self, kernel, net, pdev, netdev: NetDevice, mac, io_addr):
        self.kernel = kernel
        self.net = net
        self.pdev = pdev
        self.netdev = netdev
        self.io_addr = io_addr
        self.hw = e1000_hw(kernel, mac, io_addr)
        self.flags = 0
        self.state = {_IGB_DOWN}  # __IGB_DOWN (a class body would mangle the name)
        self.rss_queues = min(mac.max_rss_queues, len(kernel.host.cpus))
        self.num_tx_queues = self.num_rx_queues = self.num_q_vectors = 0
        self.q_vector: list = []
        self.tx_ring: list = []
        self.tx_ring_count = IGB_DEFAULT_TXD
        self.rx_ring_count = IGB_DEFAULT_TXD
        self.tx_work_limit = IGB_DEFAULT_TX_WORK
        self.rx_itr_setting = IGB_DEFAULT_ITR
        self.tx_itr_setting = IGB_DEFAULT_ITR
        self.vfs_allocated_count = 0
        self.eims_enable_mask = 0
        self.eims_other = 0
        self.msix_entries: list = []
        self.irq_cpu = 0
        self.link_speed = 0
        self.link_duplex = 0
        self.link_check_timeout = 0
        self.status_cache = 0
        self.tx_timeout_factor = 1
        self.tx_timeout_count = 0
        self.global_device_reset = False
        self.resets = 0
        self.hang_reports: list = []
        self.stats: Counter = Counter()
        # The timer and work callbacks call their igb functions by name when they run (late-bound, as
        # the netdev ops in igb_probe are).
        self.watchdog_timer = net.timers.timer_setup(lambda t: igb_watchdog(self))
        self.watchdog_task = kernel.INIT_WORK(lambda w: igb_watchdog_task(self), "igb_watchdog_task")
        self.reset_task = kernel.INIT_WORK(lambda w: igb_reset_task(self), "igb_reset_task")


# --- probe / remove ------------------------------------------------------------------------------
def igb_probe(kernel, net, pdev, mac_type: str = "82576", name: str = "eth0", *, irq_cpu: int = 0,
              tx_ring_count: int = IGB_DEFAULT_TXD, rss_queues: int | None = None) -> igb_adapter:
    """Bind the driver to ``pdev``: map BAR0, create ``name``, set up queues and vectors.

    Raises RuntimeError (the probe fails, nothing is kept) if the vectors or
    the rings' memory cannot be had.
    """
    mac = get_mac_type(mac_type)
    kernel.sites.declare_all(IGB_SITES)
    io_addr = kernel.ioremap(pci_resource_start(pdev, 0), pci_resource_len(pdev, 0), "igb-bar0")
    netdev = NetDevice(net, name, num_tx_queues=IGB_MAX_TX_QUEUES, num_rx_queues=IGB_MAX_TX_QUEUES)
    adapter = igb_adapter(kernel, net, pdev, netdev, mac, io_addr)
    netdev.priv = adapter
    # igb_netdev_ops. Each op calls its igb function through this module's name for it, looked up when
    # the core calls (late-bound), so a replacement installed after probe (sim/explore/variant.py)
    # takes effect too. The cost is one Python call per op, nothing measurable per packet.
    netdev.ndo_open = lambda dev: igb_open(dev)
    netdev.ndo_stop = lambda dev: igb_close(dev)
    netdev.ndo_start_xmit = lambda skb, dev: igb_xmit_frame(skb, dev)
    netdev.ndo_tx_timeout = lambda dev, txqueue: igb_tx_timeout(dev, txqueue)
    netdev.watchdog_timeo = 5 * HZ
    netdev.features = (NETIF_F_SG | NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM
                       | NETIF_F_HW_CSUM | NETIF_F_HIGHDMA | NETIF_F_HW_VLAN_CTAG_TX
                       | NETIF_F_GSO_UDP_L4)   # igb_probe: mac.type >= e1000_82576 (both profiles)
    netdev.hw_features = netdev.features
    adapter.irq_cpu = irq_cpu
    adapter.tx_ring_count = tx_ring_count
    if rss_queues is not None:
        adapter.rss_queues = max(1, min(rss_queues, mac.max_rss_queues))
    err = igb_init_interrupt_scheme(adapter)
    if err:
        kernel.iounmap(io_addr)
        net.devices.remove(netdev)
        raise RuntimeError(f"{name}: igb probe failed ({err}): "
                           + ("no MSI-X vectors" if err == -28 else "no memory for the queues"))
    netdev.real_num_tx_queues = adapter.num_tx_queues
    igb_get_hw_control(adapter)   # let the firmware know the driver owns the device
    netif_carrier_off(netdev)
    netif_tx_stop_all_queues(netdev)
    return adapter


def igb_init_interrupt_scheme(adapter) -> int:
    """Vectors, then the q_vectors and rings; 0 or a negative errno with the vectors given back."""
    err = igb_set_interrupt_capability(adapter)
    if err:
        return err
    err = igb_alloc_q_vectors(adapter)
    if err:
        log.error("%s: Unable to allocate memory for vectors", adapter.netdev.name)
        igb_reset_interrupt_capability(adapter)
    return err


def igb_clear_interrupt_scheme(adapter) -> None:
    igb_free_q_vectors(adapter)
    igb_reset_interrupt_capability(adapter)


def igb_remove(adapter):
    """Generator: close the device if it runs, give back vectors, hardware control and BAR0."""
    if netif_running(adapter.netdev):
        yield from dev_close(adapter.netdev)
    yield from adapter.kernel.cancel_work_sync(adapter.reset_task)
    yield from adapter.kernel.cancel_work_sync(adapter.watchdog_task)
    igb_clear_interrupt_scheme(adapter)
    igb_release_hw_control(adapter)
    adapter.kernel.iounmap(adapter.io_addr)
    adapter.net.devices.remove(adapter.netdev)


# --- open / close ----------------------------------------------------------------------------------
def igb_configure(adapter):
    """Generator: hardware control, TCTL, then every TX ring (``igb_configure`` minus RX)."""
    igb_get_hw_control(adapter)
    igb_setup_tctl(adapter)
    yield from igb_configure_tx(adapter)


def igb_open(netdev):
    """``ndo_open`` (``__igb_open``), a generator; 0 or a negative errno with everything undone."""
    adapter = netdev.priv
    if __IGB_TESTING in adapter.state:
        return -16
    netif_carrier_off(netdev)
    err = igb_setup_all_tx_resources(adapter)
    if err:
        yield from igb_reset(adapter)
        return err
    yield from igb_configure(adapter)
    err = igb_request_irq(adapter)
    if err:
        igb_release_hw_control(adapter)
        igb_free_all_tx_resources(adapter)
        yield from igb_reset(adapter)
        return err
    netdev.real_num_tx_queues = adapter.num_tx_queues
    _bring_up(adapter)
    return 0


def _bring_up(adapter) -> None:
    """The part ``__igb_open`` and ``igb_up`` share: NAPI, clear causes, IRQs on, queues, watchdog."""
    hw = adapter.hw
    adapter.state.discard(__IGB_DOWN)
    for q_vector in adapter.q_vector:
        napi_enable(q_vector.napi)
    rd32(hw, E1000_TSICR)   # clear any pending interrupts
    rd32(hw, E1000_ICR)
    igb_irq_enable(adapter)
    netif_tx_start_all_queues(adapter.netdev)
    hw.get_link_status = True
    adapter.kernel.schedule_work(adapter.watchdog_task)


def igb_close(netdev):
    """``ndo_stop`` (``__igb_close``), a generator: down, free IRQs, free the rings."""
    adapter = netdev.priv
    if __IGB_DOWN not in adapter.state:
        yield from igb_down(adapter)
    igb_free_irq(adapter)
    igb_free_all_tx_resources(adapter)
    return 0


def igb_up(adapter):
    """Generator: reconfigure after a reset and bring the queues back."""
    yield from igb_configure(adapter)
    igb_configure_msix(adapter)   # the reset cleared GPIE, IVAR and the masks
    _bring_up(adapter)
    return 0


def igb_down(adapter):
    """Generator: stop TX in the hardware, interrupts, NAPI and timers; reset; free queued packets."""
    hw = adapter.hw
    kernel = adapter.kernel
    netdev = adapter.netdev
    adapter.state.add(__IGB_DOWN)
    wr32(hw, E1000_RCTL, rd32(hw, E1000_RCTL) & ~E1000_RCTL_EN, "igb_down.rctl")
    netif_carrier_off(netdev)
    netif_tx_stop_all_queues(netdev)
    wr32(hw, E1000_TCTL, rd32(hw, E1000_TCTL) & ~E1000_TCTL_EN, "igb_down.tctl")
    wrfl(hw)   # flush both disables and wait for them to finish
    yield kernel.usleep_range(10000, 11000)
    igb_irq_disable(adapter)
    adapter.flags &= ~IGB_FLAG_NEED_LINK_UPDATE
    for q_vector in adapter.q_vector:
        yield from napi_disable(q_vector.napi)
    adapter.net.timers.del_timer(adapter.watchdog_timer)
    igb_update_stats(adapter)   # record the stats before reset
    adapter.link_speed = adapter.link_duplex = 0
    yield from igb_reset(adapter)
    igb_clean_all_tx_rings(adapter)


def igb_reset(adapter):
    """Generator: ``mac.ops.reset_hw`` (mask, stop RX/TX, CTRL.RST or DEV_RST) then the VLAN ethertype."""
    hw = adapter.hw
    kernel = adapter.kernel
    wr32(hw, E1000_IMC, 0xFFFF_FFFF, "e1000_reset_hw.imc")
    wr32(hw, E1000_RCTL, 0, "e1000_reset_hw.rctl")
    wr32(hw, E1000_TCTL, E1000_TCTL_PSP, "e1000_reset_hw.tctl")
    wrfl(hw)
    yield kernel.usleep_range(10000, 20000)
    rst = E1000_CTRL_DEV_RST if adapter.global_device_reset else E1000_CTRL_RST
    adapter.global_device_reset = False
    wr32(hw, E1000_CTRL, rd32(hw, E1000_CTRL) | rst, "e1000_reset_hw.ctrl")
    yield kernel.msleep(1)   # igb_get_auto_rd_done: the NVM auto-read after reset
    wr32(hw, E1000_IMC, 0xFFFF_FFFF, "e1000_reset_hw.imc_after")
    rd32(hw, E1000_ICR, "e1000_reset_hw.icr")
    wr32(hw, E1000_VET, ETHERNET_IEEE_VLAN_TYPE, "igb_reset.vet")


def igb_reinit_locked(adapter):
    """Generator: ``igb_down`` then ``igb_up`` under __IGB_RESETTING."""
    while __IGB_RESETTING in adapter.state:
        yield adapter.kernel.usleep_range(1000, 2000)
    adapter.state.add(__IGB_RESETTING)
    yield from igb_down(adapter)
    yield from igb_up(adapter)
    adapter.state.discard(__IGB_RESETTING)


def igb_reset_task(adapter):
    """Generator (process context, sleeps): reinitialise the adapter unless it is down or resetting."""
    if __IGB_DOWN in adapter.state or __IGB_RESETTING in adapter.state:
        return
    log.error("%s: Reset adapter", adapter.netdev.name)
    adapter.kernel.engine.log(adapter.netdev.name, "reset_adapter")
    adapter.resets += 1
    yield from igb_reinit_locked(adapter)
