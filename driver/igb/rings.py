"""TX ring resources: ``igb_setup_tx_resources`` … ``igb_free_tx_resources`` (igb_facts §3.2, §3.3).

The descriptor ring is coherent DMA memory of ``count * 16`` bytes rounded
up to 4 KiB; ``tx_buffer_info`` is a vmalloc area of ``count`` slots
(``next_to_watch`` of slot i lives at its start, see :mod:`.igb`), with a
Python :class:`~driver.igb.igb.igb_tx_buffer` per slot for the other fields.
``igb_clean_tx_ring`` frees every packet still between next_to_clean and
next_to_use (each counted as a drop), unmaps its buffers and resets BQL.
"""
from __future__ import annotations

import logging

from driver.platform import DMA_TO_DEVICE
from stack.core.bql import netdev_tx_reset_queue
from stack.core.netdevice import netdev_get_tx_queue
from stack.core.skbuff import dev_kfree_skb_any

from .igb import IGB_TX_BUFFER_SIZE, NTW_SLOT, igb_ring, igb_tx_buffer

__all__ = ["igb_setup_tx_resources", "igb_setup_all_tx_resources", "igb_free_tx_resources",
           "igb_free_all_tx_resources", "igb_clean_tx_ring", "igb_clean_all_tx_rings"]

log = logging.getLogger("igbsim.driver.igb")


def igb_setup_tx_resources(tx_ring: igb_ring) -> int:
    """Allocate ``tx_buffer_info`` and the descriptor ring; 0 or -ENOMEM (nothing kept on failure)."""
    kernel = tx_ring.adapter.kernel
    size = IGB_TX_BUFFER_SIZE * tx_ring.count
    ntw = kernel.vmalloc(size)
    if ntw is None:
        return _no_memory(tx_ring)
    tx_ring.ntw = ntw
    tx_ring.tx_buffer_info = [igb_tx_buffer() for _ in range(tx_ring.count)]
    tx_ring.size = (tx_ring.count * 16 + 4095) & ~4095   # round up to nearest 4K
    desc, dma = kernel.dma_alloc_coherent(tx_ring.dev, tx_ring.size)
    if desc is None:
        kernel.vfree(ntw)
        tx_ring.ntw = 0
        tx_ring.tx_buffer_info = None
        return _no_memory(tx_ring)
    tx_ring.desc, tx_ring.dma = desc, dma
    tx_ring.next_to_use = 0
    tx_ring.next_to_clean = 0
    return 0


def _no_memory(tx_ring: igb_ring) -> int:
    log.error("%s: Unable to allocate memory for the Tx descriptor ring", tx_ring.netdev.name)
    return -12


def igb_setup_all_tx_resources(adapter) -> int:
    """Every ring, unwinding the ones already set up if one fails."""
    for i, ring in enumerate(adapter.tx_ring):
        err = igb_setup_tx_resources(ring)
        if err:
            log.error("%s: Allocation for Tx Queue %u failed", adapter.netdev.name, i)
            for done in adapter.tx_ring[:i]:
                igb_free_tx_resources(done)
            return err
    return 0


def igb_free_tx_resources(tx_ring: igb_ring) -> None:
    """Clean the ring, then free ``tx_buffer_info`` and the descriptors."""
    igb_clean_tx_ring(tx_ring)
    kernel = tx_ring.adapter.kernel
    kernel.vfree(tx_ring.ntw or None)
    tx_ring.ntw = 0
    tx_ring.tx_buffer_info = None
    if tx_ring.desc is None:
        return
    kernel.dma_free_coherent(tx_ring.dev, tx_ring.size, tx_ring.desc, tx_ring.dma)
    tx_ring.desc = None


def igb_free_all_tx_resources(adapter) -> None:
    for ring in adapter.tx_ring:
        if ring.desc is not None:
            igb_free_tx_resources(ring)


def igb_clean_tx_ring(tx_ring: igb_ring) -> None:
    """Free every packet still in the ring (dropped), unmap its buffers, reset BQL and the indices."""
    if tx_ring.tx_buffer_info is None:
        return
    kernel = tx_ring.adapter.kernel
    dev = tx_ring.dev
    info = tx_ring.tx_buffer_info
    i = tx_ring.next_to_clean
    while i != tx_ring.next_to_use:
        tx_buffer = info[i]
        eop = kernel.read_le64(tx_ring.ntw + NTW_SLOT * i) - 1
        if eop < 0:
            log.error("%s: slot %d between next_to_clean and next_to_use holds no packet",
                      tx_ring.netdev.name, i)
            break
        dev_kfree_skb_any(tx_buffer.skb)   # free all the Tx ring sk_buffs
        tx_buffer.skb = None
        tx_ring.tx_dropped += 1
        kernel.dma_unmap_single(dev, tx_buffer.dma, tx_buffer.len, DMA_TO_DEVICE)
        tx_buffer.len = 0
        kernel.write_le64(tx_ring.ntw + NTW_SLOT * i, 0)
        while i != eop:     # unmap the remaining buffers of the packet
            i = i + 1 if i + 1 < tx_ring.count else 0
            b = info[i]
            if b.len:
                kernel.dma_unmap_page(dev, b.dma, b.len, DMA_TO_DEVICE)
                b.len = 0
        i = i + 1 if i + 1 < tx_ring.count else 0
    netdev_tx_reset_queue(netdev_get_tx_queue(tx_ring.netdev, tx_ring.queue_index))
    tx_ring.next_to_use = 0
    tx_ring.next_to_clean = 0


def igb_clean_all_tx_rings(adapter) -> None:
    for ring in adapter.tx_ring:
        igb_clean_tx_ring(ring)
