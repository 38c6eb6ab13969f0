"""TX ring resources: ``igb_setup_tx_resources`` … ``igb_free_tx_resources`` (igb_facts §3.2, §3.3).

The descriptor ring is coherent DMA memory of ``count * 16`` bytes rounded
up to 4 KiB; ``tx_buffer_info`` is a vmalloc area of ``count`` ``struct
igb_tx_buffer`` (:class:`~driver.igb.igb.igb_tx_buffer_info`: a view per
slot, every member access a CPU load or store). ``igb_clean_tx_ring`` frees
every packet still between next_to_clean and next_to_use (each counted as a
drop), unmaps its buffers and resets BQL.
"""
from __future__ import annotations

import logging

from driver.platform import DMA_TO_DEVICE
from stack.core.bql import netdev_tx_reset_queue
from stack.core.netdevice import netdev_get_tx_queue
from stack.core.skbuff import dev_kfree_skb_any

from .igb import IGB_TX_BUFFER_SIZE, IGB_TYPE_SKB, igb_ring, igb_tx_buffer_info

__all__ = ["igb_setup_tx_resources", "igb_setup_all_tx_resources", "igb_free_tx_resources",
           "igb_free_all_tx_resources", "igb_clean_tx_ring", "igb_clean_all_tx_rings"]

log = logging.getLogger("igbsim.driver.igb")


def igb_setup_tx_resources(tx_ring: igb_ring) -> int:
    """Allocate ``tx_buffer_info`` and the descriptor ring; 0 or -ENOMEM (nothing kept on failure)."""
    kernel = tx_ring.kernel
    size = IGB_TX_BUFFER_SIZE * tx_ring.count
    info = kernel.vmalloc(size)
    if info is None:
        return _no_memory(tx_ring)
    tx_ring.tx_buffer_info = igb_tx_buffer_info(kernel, tx_ring.adapter.net.skb, info, tx_ring.count)
    tx_ring.size = (tx_ring.count * 16 + 4095) & ~4095   # round up to nearest 4K
    desc, dma = kernel.dma_alloc_coherent(tx_ring.dev, tx_ring.size)
    if desc is None:
        kernel.vfree(info)
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
    kernel = tx_ring.kernel
    if tx_ring.tx_buffer_info is not None:
        kernel.vfree(tx_ring.tx_buffer_info.addr)
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
    """Free every packet still in the ring (dropped), unmap its buffers, reset BQL and the indices.

    Linux's walk: free the skb, unmap the first buffer, unmap every later
    buffer up to the EOP descriptor, clear ``next_to_watch`` of the slot the
    walk ends on. The model reads ``next_to_watch`` first, to stop (with an
    error) at a slot that holds no packet instead of walking forever.
    """
    info = tx_ring.tx_buffer_info
    if info is None:
        return
    kernel = tx_ring.kernel
    dev = tx_ring.dev
    desc = tx_ring.desc
    count = tx_ring.count
    i = tx_ring.next_to_clean
    while i != tx_ring.next_to_use:
        tx_buffer = info[i]
        eop_desc = tx_buffer.next_to_watch
        if not eop_desc:
            log.error("%s: slot %d between next_to_clean and next_to_use holds no packet",
                      tx_ring.netdev.name, i)
            break
        if tx_buffer.type == IGB_TYPE_SKB:     # free all the Tx ring sk_buffs
            dev_kfree_skb_any(tx_buffer.skb)
        tx_ring.tx_dropped += 1
        kernel.dma_unmap_single(dev, tx_buffer.dma, tx_buffer.len, DMA_TO_DEVICE)
        eop = (eop_desc - desc) >> 4
        while i != eop:     # unmap the remaining buffers of the packet
            i = i + 1 if i + 1 < count else 0
            tx_buffer = info[i]
            size = tx_buffer.len
            if size:
                kernel.dma_unmap_page(dev, tx_buffer.dma, size, DMA_TO_DEVICE)
        tx_buffer.next_to_watch = 0
        i = i + 1 if i + 1 < count else 0
    netdev_tx_reset_queue(netdev_get_tx_queue(tx_ring.netdev, tx_ring.queue_index))
    tx_ring.next_to_use = 0
    tx_ring.next_to_clean = 0


def igb_clean_all_tx_rings(adapter) -> None:
    for ring in adapter.tx_ring:
        igb_clean_tx_ring(ring)
