"""Link, statistics, hang detection and recovery (igb_facts §3.11).

* ``igb_watchdog`` (a timer, every 2 s, 1 s while a link update is due)
  schedules ``igb_watchdog_task``: link state → carrier on/off and
  ``tx_timeout_factor``; ``igb_update_stats``; with the link down and work
  queued, a reset; otherwise arm the hang check on every ring and kick every
  queue vector through EICS so ``igb_clean_tx_irq`` runs it.
* A hang stops the queue; the net core's TX watchdog (``watchdog_timeo`` =
  5 s) then calls ``igb_tx_timeout``, which schedules the adapter's reset
  work, ``igb_reset_task`` (in :mod:`.main`, beside the ``igb_reinit_locked``
  = ``igb_down`` + ``igb_up`` it runs).
"""
from __future__ import annotations

import logging

from stack.core.jiffies import round_jiffies, time_after
from stack.core.netdevice import netif_carrier_off, netif_carrier_ok, netif_carrier_on

from .e1000_regs import (E1000_EICS, E1000_GOTCH, E1000_GOTCL, E1000_GPTC, E1000_STATUS, E1000_STATUS_FD,
                         E1000_STATUS_LU, E1000_STATUS_SPEED_100, E1000_STATUS_SPEED_1000, E1000_TOTH,
                         E1000_TPT, E1000_TSCTC, E1000_TSCTFC)
from .hw import rd32, wr32
from .igb import (HZ_FROM_STACK as HZ, IGB_FLAG_NEED_LINK_UPDATE, IGB_RING_FLAG_TX_DETECT_HANG, SPEED_10,
                  SPEED_100, SPEED_1000, __IGB_DOWN, igb_desc_unused)

__all__ = ["igb_watchdog", "igb_watchdog_task", "igb_has_link", "igb_update_stats", "igb_tx_timeout"]

log = logging.getLogger("igbsim.driver.igb")


def igb_watchdog(adapter) -> None:
    """The watchdog timer: defer the work to process context."""
    adapter.kernel.schedule_work(adapter.watchdog_task)


def igb_has_link(adapter) -> bool:
    """STATUS.LU, read when the hardware said the link may have changed."""
    hw = adapter.hw
    status = rd32(hw, E1000_STATUS)
    hw.get_link_status = False
    adapter.status_cache = status
    return bool(status & E1000_STATUS_LU)


def _speed_and_duplex(status: int) -> tuple[int, int]:
    speed = SPEED_1000 if status & E1000_STATUS_SPEED_1000 else (
        SPEED_100 if status & E1000_STATUS_SPEED_100 else SPEED_10)
    return speed, 2 if status & E1000_STATUS_FD else 1


def igb_watchdog_task(adapter) -> None:
    """Link, stats, hang-check arming and the software interrupt; re-arms the timer."""
    kernel = adapter.kernel
    netdev = adapter.netdev
    link = igb_has_link(adapter)
    if adapter.flags & IGB_FLAG_NEED_LINK_UPDATE:
        if time_after(kernel.jiffies, adapter.link_check_timeout + HZ):
            adapter.flags &= ~IGB_FLAG_NEED_LINK_UPDATE
        else:
            link = False
    if link and not netif_carrier_ok(netdev):
        adapter.link_speed, adapter.link_duplex = _speed_and_duplex(adapter.status_cache)
        log.info("igb: %s NIC Link is Up %d Mbps %s Duplex", netdev.name, adapter.link_speed,
                 "Full" if adapter.link_duplex == 2 else "Half")
        adapter.tx_timeout_factor = 14 if adapter.link_speed == SPEED_10 else 1
        netif_carrier_on(netdev)
    elif not link and netif_carrier_ok(netdev):
        adapter.link_speed = adapter.link_duplex = 0
        log.info("igb: %s NIC Link is Down", netdev.name)
        netif_carrier_off(netdev)
    igb_update_stats(adapter)
    for tx_ring in adapter.tx_ring:
        if not netif_carrier_ok(netdev) and igb_desc_unused(tx_ring) + 1 < tx_ring.count:
            # lost link with queued work the controller will never do: reset to flush Tx
            adapter.tx_timeout_count += 1
            kernel.schedule_work(adapter.reset_task)
            return
        tx_ring.flags |= IGB_RING_FLAG_TX_DETECT_HANG   # force detection of a hung controller
    eics = 0
    for q_vector in adapter.q_vector:
        eics |= q_vector.eims_value
    wr32(adapter.hw, E1000_EICS, eics, "igb_watchdog_task.eics")
    if __IGB_DOWN not in adapter.state:
        period = HZ if adapter.flags & IGB_FLAG_NEED_LINK_UPDATE else 2 * HZ
        now = kernel.jiffies
        adapter.net.timers.mod_timer(adapter.watchdog_timer, round_jiffies(now + period, now, kernel.cpu.index))


def igb_update_stats(adapter) -> None:
    """Accumulate the clear-on-read TX counters and the rings' software counts (skipped without link)."""
    netdev = adapter.netdev
    packets = sum(r.tx_stats.packets for r in adapter.tx_ring)
    bytes_ = sum(r.tx_stats.bytes for r in adapter.tx_ring)
    netdev.stats.tx_packets = adapter.stats["tx_packets_base"] + packets
    netdev.stats.tx_bytes = adapter.stats["tx_bytes_base"] + bytes_
    netdev.stats.tx_dropped = adapter.stats["tx_dropped_base"] + sum(r.tx_dropped for r in adapter.tx_ring)
    if adapter.link_speed == 0:
        return
    hw = adapter.hw
    s = adapter.stats
    s["gptc"] += rd32(hw, E1000_GPTC)
    s["gotc"] += rd32(hw, E1000_GOTCL)
    rd32(hw, E1000_GOTCH)   # to clear GOTCL (the high dword is discarded, as igb does)
    s["tot"] += rd32(hw, E1000_TOTH)
    s["tpt"] += rd32(hw, E1000_TPT)
    s["tsctc"] += rd32(hw, E1000_TSCTC)
    s["tsctfc"] += rd32(hw, E1000_TSCTFC)


def igb_tx_timeout(netdev, txqueue: int) -> None:
    """``ndo_tx_timeout``: count it, ask for a reset (global on i210), kick the queue vectors."""
    adapter = netdev.priv
    adapter.tx_timeout_count += 1
    log.error("%s: NETDEV WATCHDOG: transmit queue %d timed out", netdev.name, txqueue)
    if adapter.hw.mac.global_reset_on_timeout:
        adapter.global_device_reset = True
    adapter.kernel.schedule_work(adapter.reset_task)
    wr32(adapter.hw, E1000_EICS, adapter.eims_enable_mask & ~adapter.eims_other, "igb_tx_timeout.eics")
