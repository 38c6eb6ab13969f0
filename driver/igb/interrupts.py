"""Interrupts and NAPI: vectors, IVAR/GPIE/EIAC/EIAM/EIMS programming, handlers, ``igb_poll``.

MSI-X layout (igb_facts §3.9): vector 0 is "other" (link, DMA out of
sync, device reset), vectors 1…N are the q_vectors. Without queue pairing
(the default for 82576 below 5 queues and I210 below 3), RX-only vectors
come first, then TX-only ones, as ``igb_alloc_q_vectors`` lays them out.
RX rings are not modelled; an RX q_vector has its ring index (its IVAR
entry is programmed as Linux does) and no work.

The queue vectors auto-clear (EIAC) and auto-mask (EIAM with GPIE.EIAME):
``igb_msix_ring`` only writes the pending ITR and schedules NAPI;
``igb_poll`` re-arms the vector (EIMS) once ``napi_complete_done`` says so.

MSI and legacy INTx fallbacks are not modelled: without enough MSI-X
vectors, open fails with -ENOSPC and a clear message.
"""
from __future__ import annotations

import logging

from driver.platform import IRQ_HANDLED
from stack.core.napi import napi_complete_done, napi_schedule, netif_napi_add, netif_napi_del

from .clean import igb_clean_tx_irq
from .e1000_regs import (E1000_EIAC, E1000_EIAM, E1000_EIMC, E1000_EIMS, E1000_EITR, E1000_GPIE,
                         E1000_GPIE_EIAME, E1000_GPIE_MSIX_MODE, E1000_GPIE_NSICR, E1000_GPIE_PBA,
                         E1000_IAM, E1000_ICR, E1000_ICR_DOUTSYNC, E1000_ICR_DRSTA, E1000_ICR_LSC,
                         E1000_IMC, E1000_IMS, E1000_IMS_DOUTSYNC, E1000_IMS_DRSTA, E1000_IMS_LSC,
                         E1000_IVAR0, E1000_IVAR_MISC, E1000_IVAR_VALID)
from .hw import rd32, wr32, wrfl
from .igb import IGB_FLAG_HAS_MSIX, IGB_FLAG_QUEUE_PAIRS, IGB_RING_SIZE, __IGB_DOWN, igb_q_vector, igb_ring
from .itr import igb_set_itr, igb_update_ring_itr, igb_write_itr

__all__ = ["igb_set_interrupt_capability", "igb_reset_interrupt_capability", "igb_alloc_q_vectors",
           "igb_free_q_vectors", "igb_request_irq", "igb_free_irq", "igb_configure_msix",
           "igb_assign_vector", "igb_write_ivar", "igb_irq_enable", "igb_irq_disable",
           "igb_msix_other", "igb_msix_ring", "igb_poll", "igb_ring_irq_enable", "MSIX_BAR"]

log = logging.getLogger("igbsim.driver.igb")

#: BAR holding the MSI-X table (82576 and I210: BAR3).
MSIX_BAR = 3
_PCI_MSIX_ENTRY_SIZE = 16


def igb_set_interrupt_capability(adapter) -> int:
    """Pick queue pairing and ask for ``numvecs`` MSI-X vectors; 0 or -ENOSPC."""
    kernel = adapter.kernel
    mac = adapter.hw.mac
    if mac.pairs_queues(adapter.rss_queues):
        adapter.flags |= IGB_FLAG_QUEUE_PAIRS
    else:
        adapter.flags &= ~IGB_FLAG_QUEUE_PAIRS
    adapter.num_rx_queues = adapter.rss_queues
    adapter.num_tx_queues = adapter.rss_queues
    numvecs = adapter.num_rx_queues
    if not adapter.flags & IGB_FLAG_QUEUE_PAIRS:
        numvecs += adapter.num_tx_queues
    adapter.num_q_vectors = numvecs
    numvecs += 1   # the "other" vector
    msgs = kernel.pci_alloc_irq_vectors(adapter.pdev.dev, numvecs, numvecs)
    if not msgs:
        log.error("%s: cannot get %d MSI-X vectors (MSI and legacy INTx fallbacks are not modelled)",
                  adapter.netdev.name, numvecs)
        adapter.num_q_vectors = 0
        return -28  # -ENOSPC
    adapter.msix_entries = msgs
    _program_msix_table(adapter)
    adapter.flags |= IGB_FLAG_HAS_MSIX
    return 0


def _program_msix_table(adapter) -> None:
    """What ``pci_enable_msix_range`` does for the driver: write each entry's message, unmasked."""
    kernel = adapter.kernel
    start, length = adapter.pdev.bars[MSIX_BAR]
    table = kernel.ioremap(start, length, "msix-table")
    for entry, msg in enumerate(adapter.msix_entries):
        kernel.pci_write_msi_msg(table, entry, msg)
    kernel.iounmap(table)


def igb_reset_interrupt_capability(adapter) -> None:
    """Give the vectors back."""
    if adapter.flags & IGB_FLAG_HAS_MSIX:
        adapter.kernel.pci_free_irq_vectors(adapter.pdev.dev)
        adapter.msix_entries = []
        adapter.flags &= ~IGB_FLAG_HAS_MSIX


def igb_alloc_q_vectors(adapter) -> int:
    """q_vectors and their rings: RX-only vectors first when there are enough, then the rest; 0 or -ENOMEM."""
    q_vectors = adapter.num_q_vectors
    rxr_remaining, txr_remaining = adapter.num_rx_queues, adapter.num_tx_queues
    rxr_idx = txr_idx = v_idx = 0
    adapter.q_vector = []
    adapter.tx_ring = [None] * adapter.num_tx_queues
    if q_vectors >= rxr_remaining + txr_remaining:
        while rxr_remaining:
            if _alloc_q_vector(adapter, v_idx, 0, 0, 1, rxr_idx):
                return _alloc_failed(adapter)
            rxr_remaining -= 1
            rxr_idx += 1
            v_idx += 1
    while v_idx < q_vectors:
        rqpv = -(-rxr_remaining // (q_vectors - v_idx))
        tqpv = -(-txr_remaining // (q_vectors - v_idx))
        if _alloc_q_vector(adapter, v_idx, tqpv, txr_idx, rqpv, rxr_idx):
            return _alloc_failed(adapter)
        rxr_remaining -= rqpv
        txr_remaining -= tqpv
        rxr_idx += rqpv
        txr_idx += tqpv
        v_idx += 1
    return 0


def _alloc_failed(adapter) -> int:
    """``err_out:`` no queues, and the vectors allocated so far freed."""
    adapter.num_tx_queues = adapter.num_rx_queues = 0
    igb_free_q_vectors(adapter)
    return -12  # -ENOMEM


def _alloc_q_vector(adapter, v_idx: int, txr_count: int, txr_idx: int, rxr_count: int, rxr_idx: int) -> int:
    """``igb_alloc_q_vector``: one vector with at most one TX and one RX ring; 0 or -ENOMEM.

    Linux kzallocs the q_vector with its rings; the model kzallocs the TX
    ring's struct (the part holding its indices, :data:`~.igb.IGB_RING_SIZE`)
    and keeps the rest of the vector in Python.
    """
    ring_addr = 0
    if txr_count:
        ring_addr = adapter.kernel.kzalloc(IGB_RING_SIZE)
        if ring_addr is None:
            return -12  # -ENOMEM
    q_vector = igb_q_vector(adapter, v_idx)
    # late-bound: the poll function is looked up by name at each poll (see igb_probe's netdev ops)
    netif_napi_add(adapter.netdev, q_vector.napi, lambda napi, budget: igb_poll(napi, budget))
    q_vector.tx.work_limit = adapter.tx_work_limit
    if rxr_count:
        if not adapter.rx_itr_setting or adapter.rx_itr_setting > 3:
            q_vector.itr_val = adapter.rx_itr_setting
    elif not adapter.tx_itr_setting or adapter.tx_itr_setting > 3:
        q_vector.itr_val = adapter.tx_itr_setting
    if txr_count:
        ring = igb_ring(adapter, q_vector, txr_idx, adapter.vfs_allocated_count + txr_idx,
                        adapter.tx_ring_count, ring_addr)
        q_vector.tx.ring = ring
        adapter.tx_ring[txr_idx] = ring
    if rxr_count:
        q_vector.rx_ring_index = rxr_idx
    adapter.q_vector.append(q_vector)
    return 0


def igb_free_q_vectors(adapter) -> None:
    """Delete each vector's NAPI context and free its ring struct."""
    for q_vector in adapter.q_vector:
        netif_napi_del(q_vector.napi)
        if q_vector.tx.ring is not None:
            adapter.kernel.kfree(q_vector.tx.ring.addr)
    adapter.q_vector = []
    adapter.tx_ring = []
    adapter.num_q_vectors = 0


def _rx_reg_idx(q_vector) -> int | None:
    return None if q_vector.rx_ring_index is None else q_vector.adapter.vfs_allocated_count + q_vector.rx_ring_index


def igb_request_irq(adapter) -> int:
    """``igb_request_msix``: the other vector, then one per q_vector; then ``igb_configure_msix``."""
    kernel = adapter.kernel
    netdev = adapter.netdev
    entries = adapter.msix_entries
    cpu = adapter.irq_cpu
    # The handlers are late-bound: looked up by name at each interrupt (see igb_probe's netdev ops).
    kernel.request_irq(netdev.name, lambda irq, data: igb_msix_other(irq, data), adapter,
                       vector=entries[0], cpu=cpu)
    for i, q_vector in enumerate(adapter.q_vector):
        vector = i + 1
        q_vector.itr_register = adapter.io_addr + E1000_EITR(vector)
        if q_vector.rx_ring_index is not None and q_vector.tx.ring is not None:
            q_vector.name = f"{netdev.name}-TxRx-{q_vector.rx_ring_index}"
        elif q_vector.tx.ring is not None:
            q_vector.name = f"{netdev.name}-tx-{q_vector.tx.ring.queue_index}"
        else:
            q_vector.name = f"{netdev.name}-rx-{q_vector.rx_ring_index}"
        q_vector.msix_vector = entries[vector]
        q_vector.cpu = cpu
        kernel.request_irq(q_vector.name, lambda irq, data: igb_msix_ring(irq, data), q_vector,
                           vector=entries[vector], cpu=cpu)
    igb_configure_msix(adapter)
    return 0


def igb_free_irq(adapter) -> None:
    kernel = adapter.kernel
    kernel.free_irq(adapter.msix_entries[0], adapter)
    for i, q_vector in enumerate(adapter.q_vector):
        kernel.free_irq(adapter.msix_entries[i + 1], q_vector)


def igb_write_ivar(hw, msix_vector: int, index: int, offset: int) -> None:
    """Point one 8-bit IVAR entry at ``msix_vector`` (read-modify-write of the 32-bit register)."""
    ivar = rd32(hw, E1000_IVAR0(index))
    ivar &= ~(0xFF << offset)
    ivar |= (msix_vector | E1000_IVAR_VALID) << offset
    wr32(hw, E1000_IVAR0(index), ivar, "igb_configure_msix.ivar")


def igb_assign_vector(q_vector, msix_vector: int) -> None:
    """Map the vector's RX and TX queue causes to it (82576 column-major, I210 row-major IVAR)."""
    adapter = q_vector.adapter
    hw = adapter.hw
    rx_queue = _rx_reg_idx(q_vector)
    tx_queue = q_vector.tx.ring.reg_idx if q_vector.tx.ring is not None else None
    if hw.mac.ivar_layout == "column":
        if rx_queue is not None:
            igb_write_ivar(hw, msix_vector, rx_queue & 0x7, (rx_queue & 0x8) << 1)
        if tx_queue is not None:
            igb_write_ivar(hw, msix_vector, tx_queue & 0x7, ((tx_queue & 0x8) << 1) + 8)
    else:
        if rx_queue is not None:
            igb_write_ivar(hw, msix_vector, rx_queue >> 1, (rx_queue & 0x1) << 4)
        if tx_queue is not None:
            igb_write_ivar(hw, msix_vector, tx_queue >> 1, ((tx_queue & 0x1) << 4) + 8)
    q_vector.eims_value = 1 << msix_vector
    adapter.eims_enable_mask |= q_vector.eims_value
    q_vector.set_itr = 1   # the first interrupt writes the start ITR


def igb_configure_msix(adapter) -> None:
    """GPIE first ("or our settings won't stick"), the other cause on vector 0, then each q_vector."""
    hw = adapter.hw
    adapter.eims_enable_mask = 0
    wr32(hw, E1000_GPIE, E1000_GPIE_MSIX_MODE | E1000_GPIE_PBA | E1000_GPIE_EIAME | E1000_GPIE_NSICR,
         "igb_configure_msix.gpie")
    vector = 0
    adapter.eims_other = 1 << vector
    wr32(hw, E1000_IVAR_MISC, (vector | E1000_IVAR_VALID) << 8, "igb_configure_msix.ivar_misc")
    vector += 1
    adapter.eims_enable_mask |= adapter.eims_other
    for q_vector in adapter.q_vector:
        igb_assign_vector(q_vector, vector)
        vector += 1
    wrfl(hw)


def igb_irq_enable(adapter) -> None:
    """Auto-clear and auto-mask every vector, unmask them, and the other causes."""
    hw = adapter.hw
    mask = adapter.eims_enable_mask
    wr32(hw, E1000_EIAC, rd32(hw, E1000_EIAC) | mask, "igb_irq_enable.eiac")
    wr32(hw, E1000_EIAM, rd32(hw, E1000_EIAM) | mask, "igb_irq_enable.eiam")
    wr32(hw, E1000_EIMS, mask, "igb_irq_enable.eims")
    wr32(hw, E1000_IMS, E1000_IMS_LSC | E1000_IMS_DOUTSYNC | E1000_IMS_DRSTA, "igb_irq_enable.ims")


def igb_irq_disable(adapter) -> None:
    """Mask everything and stop auto-clearing, then flush (``synchronize_irq`` is implicit here)."""
    hw = adapter.hw
    mask = adapter.eims_enable_mask
    if adapter.flags & IGB_FLAG_HAS_MSIX:
        wr32(hw, E1000_EIAM, rd32(hw, E1000_EIAM) & ~mask, "igb_irq_disable.eiam")
        wr32(hw, E1000_EIMC, mask, "igb_irq_disable.eimc")
        wr32(hw, E1000_EIAC, rd32(hw, E1000_EIAC) & ~mask, "igb_irq_disable.eiac")
    wr32(hw, E1000_IAM, 0, "igb_irq_disable.iam")
    wr32(hw, E1000_IMC, 0xFFFF_FFFF, "igb_irq_disable.imc")
    wrfl(hw)


# --- handlers (hard-IRQ context) ------------------------------------------------------------------
def igb_msix_other(irq: int, adapter) -> int:
    """Vector 0: read ICR (clears it), act on reset/DMA/link causes, unmask vector 0 again."""
    hw = adapter.hw
    icr = rd32(hw, E1000_ICR, "igb_msix_other.icr")
    if icr & E1000_ICR_DRSTA:
        adapter.kernel.schedule_work(adapter.reset_task)
    if icr & E1000_ICR_DOUTSYNC:
        adapter.stats["doosync"] += 1
    if icr & E1000_ICR_LSC:
        hw.get_link_status = True
        if __IGB_DOWN not in adapter.state:
            adapter.net.timers.mod_timer(adapter.watchdog_timer, adapter.kernel.jiffies + 1)
    wr32(hw, E1000_EIMS, adapter.eims_other, "igb_msix_other.eims")
    return IRQ_HANDLED


def igb_msix_ring(irq: int, q_vector) -> int:
    """A queue vector fired: write the ITR computed last time, schedule NAPI (the vector is auto-masked)."""
    igb_write_itr(q_vector)
    napi_schedule(q_vector.napi)
    return IRQ_HANDLED


# --- NAPI (softirq context) -------------------------------------------------------------------------
def igb_poll(napi, budget: int) -> int:
    """Clean the TX ring; stay in polling while work remains, else complete and re-arm the vector."""
    q_vector = napi.priv
    clean_complete = True
    work_done = 0
    if q_vector.tx.ring is not None:
        clean_complete = igb_clean_tx_irq(q_vector, budget)
    if not clean_complete:
        return budget
    if napi_complete_done(napi, work_done):
        igb_ring_irq_enable(q_vector)
    return work_done


def igb_ring_irq_enable(q_vector) -> None:
    """Adaptive ITR update, then unmask this vector (EIMS) unless the adapter is going down."""
    adapter = q_vector.adapter
    has_rx = q_vector.rx_ring_index is not None
    if (has_rx and adapter.rx_itr_setting & 3) or (not has_rx and adapter.tx_itr_setting & 3):
        if adapter.num_q_vectors == 1 and not adapter.vfs_allocated_count:
            igb_set_itr(q_vector)
        else:
            igb_update_ring_itr(q_vector)
    if __IGB_DOWN not in adapter.state:
        wr32(adapter.hw, E1000_EIMS, q_vector.eims_value, "igb_ring_irq_enable.eims")
