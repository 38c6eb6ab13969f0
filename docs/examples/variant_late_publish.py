"""A broken ``igb_tx_map``: ``next_to_watch`` published before the barrier that orders the descriptors.

What it changes: a copy of ``igb_tx_map`` (``driver/igb/xmit.py``) with one
line moved. The driver's own code does

    kernel.dma_wmb(SITE["igb_tx_map.publish"])
    first.next_to_watch = daddr

and this variant does the store first and the barrier after it:

    first.next_to_watch = daddr
    kernel.dma_wmb(SITE["igb_tx_map.publish"])

Why it is wrong: ``next_to_watch`` is how the cleaner (``igb_clean_tx_irq``,
NAPI on another CPU) learns that a packet is in the ring; it then reads DD in
that packet's EOP descriptor. The barrier must make the descriptor writes
visible before ``next_to_watch``. After the store it orders nothing between
them, so on a weakly ordered CPU (arm64) the cleaner may see the new
``next_to_watch`` while the EOP slot still holds the previous lap's
write-back with DD set: it frees the skb and unmaps buffers the NIC has not
read yet (a use-after-free by DMA). On x86 ``dma_wmb`` is only a compiler
barrier and stores become visible in program order anyway, so the same
code is harmless there: the bug exists only where the barrier matters.
The barrier still sits before the doorbell, so the NIC side is unchanged.

How to run it (the explorer searches both profiles: under arm64 the model
allows the bad execution, under x86-tso it has none; a seeded run rarely
meets it, which is why this is a job for the explorer)::

    igbsim explore --variant docs/examples/variant_late_publish.py --profile arm64 x86-tso

Only ``igb_tx_map`` is replaced; everything it calls is the driver's own,
imported below.
"""
from driver.igb.igb import DESC_NEEDED, IGB_MAX_DATA_PER_TXD
from driver.igb.sites import SITE
from driver.igb.xmit import (_PAGE_MASK, IGB_TXD_DCMD, _dma_error, _unmappable, igb_maybe_stop_tx,
                             igb_tx_cmd_type, igb_tx_olinfo_status)
from driver.platform import DMA_TO_DEVICE
from stack.core.bql import netdev_tx_sent_queue
from stack.core.netdevice import netdev_get_tx_queue, netif_xmit_stopped
from stack.core.skbuff import skb_frag_off, skb_frag_page, skb_frag_size, skb_headlen, skb_shinfo


def igb_tx_map(tx_ring, first, hdr_len: int) -> int:
    """Map the packet, write its data descriptors, publish it and ring the doorbell; 0 or -1."""
    kernel = tx_ring.kernel
    dev = tx_ring.dev
    skb = first.skb
    count = tx_ring.count
    info = tx_ring.tx_buffer_info
    desc = tx_ring.desc
    tx_flags = first.tx_flags
    cmd_type = igb_tx_cmd_type(skb, tx_flags)
    i = tx_ring.next_to_use
    olinfo = igb_tx_olinfo_status(tx_ring, tx_flags, skb.len - hdr_len)
    size = skb_headlen(skb)
    data_len = skb.data_len
    dma = kernel.dma_map_single(dev, skb.data, size, DMA_TO_DEVICE)
    tx_buffer = first
    frags = skb_shinfo(skb).frags
    f = 0
    while True:
        if kernel.dma_mapping_error(dev, dma):
            return _dma_error(tx_ring, first, i)
        tx_buffer.len = size       # record length, and DMA address
        tx_buffer.dma = dma
        daddr = desc + 16 * i
        kernel.write_le64(daddr, dma)
        kernel.write_le32(daddr + 12, olinfo)
        while size > IGB_MAX_DATA_PER_TXD:
            kernel.write_le32(daddr + 8, cmd_type ^ IGB_MAX_DATA_PER_TXD)
            i += 1
            if i == count:
                i = 0
            daddr = desc + 16 * i
            olinfo = 0
            kernel.write_le32(daddr + 12, 0)
            dma += IGB_MAX_DATA_PER_TXD
            size -= IGB_MAX_DATA_PER_TXD
            kernel.write_le64(daddr, dma)
        if not data_len:
            break
        kernel.write_le32(daddr + 8, cmd_type ^ size)
        i += 1
        if i == count:
            i = 0
        olinfo = 0
        frag = frags[f]
        f += 1
        size = skb_frag_size(frag)
        data_len -= size
        page = skb_frag_page(frag)
        if type(page) is int:   # skb_frag_dma_map: the frag's struct page and the offset in it
            phys = page + skb_frag_off(frag)
            dma = kernel.dma_map_page(dev, phys & _PAGE_MASK, phys & ~_PAGE_MASK, size, DMA_TO_DEVICE)
        else:
            dma = _unmappable(kernel, frag)
        tx_buffer = info[i]
    # write last descriptor with RS and EOP bits
    cmd_type |= size | IGB_TXD_DCMD
    kernel.write_le32(daddr + 8, cmd_type)
    txq = netdev_get_tx_queue(tx_ring.netdev, tx_ring.queue_index)
    netdev_tx_sent_queue(txq, first.bytecount)
    first.time_stamp = kernel.jiffies
    first.next_to_watch = daddr    # THE BUG: published before the barrier below orders the descriptors
    kernel.dma_wmb(SITE["igb_tx_map.publish"])   # still before the doorbell, too late for next_to_watch
    i += 1
    if i == count:
        i = 0
    tx_ring.next_to_use = i
    igb_maybe_stop_tx(tx_ring, DESC_NEEDED)
    if netif_xmit_stopped(txq) or not skb.xmit_more:
        kernel.writel(i, tx_ring.tail, site=SITE["igb_tx_map.doorbell"])
    return 0
