"""Completion: ``igb_clean_tx_irq`` and the "Detected Tx Unit Hang" check (igb_facts §3.8).

Runs in NAPI poll (NET_RX softirq). Walks packets from ``next_to_clean``:
reads ``next_to_watch`` (published by ``igb_tx_map``), ``smp_rmb`` (site
``igb_clean_tx_irq.eop``), tests DD in the EOP descriptor's write-back,
frees the skb and unmaps every buffer; at most ``work_limit`` (128)
packets per call. Then BQL completion, statistics, the hang check the
watchdog armed, and the wake-up (``smp_mb`` at ``igb_clean_tx_irq.wake``)
once ``TX_WAKE_THRESHOLD`` descriptors are free.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from driver.platform import DMA_TO_DEVICE
from stack.core.bql import netdev_tx_completed_queue
from stack.core.jiffies import time_after
from stack.core.netdevice import (__netif_subqueue_stopped, netdev_get_tx_queue, netif_carrier_ok,
                                  netif_stop_subqueue, netif_wake_subqueue)
from stack.core.skbuff import napi_consume_skb

from .e1000_regs import E1000_STATUS, E1000_STATUS_TXOFF, E1000_TDH, E1000_TXD_STAT_DD
from .hw import rd32
from .igb import (HZ_FROM_STACK, IGB_RING_FLAG_TX_DETECT_HANG, IGB_TYPE_SKB, TX_WAKE_THRESHOLD, __IGB_DOWN,
                  igb_desc_unused, igb_ring)
from .sites import SITE

__all__ = ["igb_clean_tx_irq", "TxHangReport"]

log = logging.getLogger("igbsim.driver.igb")


@dataclass(frozen=True)
class TxHangReport:
    """The fields of igb's "Detected Tx Unit Hang" message, as it prints them."""

    time_ps: int
    queue: int
    tdh: int
    tdt: int
    next_to_use: int
    next_to_clean: int
    time_stamp: int
    next_to_watch: int   # the EOP descriptor index the stuck packet waits on
    jiffies: int
    desc_status: int

    def __str__(self) -> str:
        return ("Detected Tx Unit Hang\n"
                f"  Tx Queue             <{self.queue}>\n"
                f"  TDH                  <{self.tdh:x}>\n"
                f"  TDT                  <{self.tdt:x}>\n"
                f"  next_to_use          <{self.next_to_use:x}>\n"
                f"  next_to_clean        <{self.next_to_clean:x}>\n"
                "buffer_info[next_to_clean]\n"
                f"  time_stamp           <{self.time_stamp:x}>\n"
                f"  next_to_watch        <desc {self.next_to_watch:x}>\n"
                f"  jiffies              <{self.jiffies:x}>\n"
                f"  desc.status          <{self.desc_status:x}>")


def igb_clean_tx_irq(q_vector, napi_budget: int) -> bool:
    """Reclaim completed TX descriptors; True when the ring is completely cleaned."""
    adapter = q_vector.adapter
    tx_ring: igb_ring = q_vector.tx.ring
    if __IGB_DOWN in adapter.state:
        return True
    kernel = tx_ring.kernel
    dev = tx_ring.dev
    count = tx_ring.count
    info = tx_ring.tx_buffer_info
    desc = tx_ring.desc
    budget = q_vector.tx.work_limit
    total_bytes = total_packets = 0
    i = tx_ring.next_to_clean
    eop_site = SITE["igb_clean_tx_irq.eop"]
    while True:
        tx_buffer = info[i]
        eop_desc = tx_buffer.next_to_watch
        if not eop_desc:
            break                                        # no work pending
        kernel.smp_rmb(eop_site)                         # prevent any other reads prior to eop_desc
        if not kernel.read_le32(eop_desc + 12) & E1000_TXD_STAT_DD:
            break                                        # pending work has not been completed
        tx_buffer.next_to_watch = 0                      # clear next_to_watch to prevent false hangs
        total_bytes += tx_buffer.bytecount
        total_packets += tx_buffer.gso_segs
        if tx_buffer.type == IGB_TYPE_SKB:
            napi_consume_skb(tx_buffer.skb, napi_budget)
        kernel.dma_unmap_single(dev, tx_buffer.dma, tx_buffer.len, DMA_TO_DEVICE)
        tx_buffer.len = 0
        eop = (eop_desc - desc) >> 4
        while i != eop:                                  # unmap the remaining buffers of the packet
            i += 1
            if i == count:
                i = 0
            tx_buffer = info[i]
            size = tx_buffer.len
            if size:
                kernel.dma_unmap_page(dev, tx_buffer.dma, size, DMA_TO_DEVICE)
                tx_buffer.len = 0
        i += 1
        if i == count:
            i = 0
        budget -= 1
        if not budget:
            break
    txq = netdev_get_tx_queue(tx_ring.netdev, tx_ring.queue_index)
    netdev_tx_completed_queue(txq, total_packets, total_bytes)
    tx_ring.next_to_clean = i
    tx_ring.tx_stats.bytes += total_bytes
    tx_ring.tx_stats.packets += total_packets
    q_vector.tx.total_bytes += total_bytes
    q_vector.tx.total_packets += total_packets
    if tx_ring.flags & IGB_RING_FLAG_TX_DETECT_HANG and _check_hang(adapter, tx_ring, i):
        return True   # we are about to reset, no point in enabling stuff
    if total_packets and netif_carrier_ok(tx_ring.netdev) and igb_desc_unused(tx_ring) >= TX_WAKE_THRESHOLD:
        # make sure that anybody stopping the queue after this sees the new next_to_clean
        kernel.smp_mb(SITE["igb_clean_tx_irq.wake"])
        if __netif_subqueue_stopped(tx_ring.netdev, tx_ring.queue_index) and __IGB_DOWN not in adapter.state:
            netif_wake_subqueue(tx_ring.netdev, tx_ring.queue_index)
            tx_ring.tx_stats.restart_queue += 1
    return bool(budget)


def _check_hang(adapter, tx_ring: igb_ring, i: int) -> bool:
    """The watchdog asked for a hang check: report and stop the queue if the packet at NTC is stuck."""
    kernel = tx_ring.kernel
    hw = adapter.hw
    tx_ring.flags &= ~IGB_RING_FLAG_TX_DETECT_HANG
    tx_buffer = tx_ring.tx_buffer_info[i]
    eop_desc = tx_buffer.next_to_watch
    jiffies = kernel.jiffies
    if not (eop_desc and time_after(jiffies, tx_buffer.time_stamp + adapter.tx_timeout_factor * HZ_FROM_STACK)
            and not rd32(hw, E1000_STATUS, "igb_clean_tx_irq.hang_status") & E1000_STATUS_TXOFF):
        return False
    report = TxHangReport(
        time_ps=kernel.engine.now, queue=tx_ring.queue_index,
        tdh=rd32(hw, E1000_TDH(tx_ring.reg_idx), "igb_clean_tx_irq.hang_tdh"),
        tdt=kernel.readl(tx_ring.tail, site=SITE["igb_clean_tx_irq.hang_tdt"]),
        next_to_use=tx_ring.next_to_use, next_to_clean=tx_ring.next_to_clean,
        time_stamp=tx_buffer.time_stamp, next_to_watch=(eop_desc - tx_ring.desc) >> 4, jiffies=jiffies,
        desc_status=kernel.read_le32(eop_desc + 12))
    adapter.hang_reports.append(report)
    log.error("%s: %s", adapter.netdev.name, report)
    kernel.engine.log(adapter.netdev.name, "tx_hang", tx_ring.queue_index)
    netif_stop_subqueue(tx_ring.netdev, tx_ring.queue_index)
    return True
