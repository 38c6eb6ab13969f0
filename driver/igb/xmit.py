"""Transmit: ``igb_xmit_frame`` … ``igb_tx_map`` and ``igb_maybe_stop_tx`` (igb_facts §3.4–§3.7).

The order of every store, barrier and doorbell is the kernel's:

1. ``igb_xmit_frame_ring`` counts descriptors (one per 32 KiB of the linear
   part and of each frag) and stops the queue unless ``count + 3`` are free;
2. ``igb_tso``/``igb_tx_csum`` write a context descriptor when TSO, checksum
   offload or VLAN insertion is asked for (no context caching);
3. ``igb_tx_map`` maps the linear part and each frag, writes the data
   descriptors (RS|EOP only on the last), charges BQL, then ``dma_wmb``
   (site ``igb_tx_map.publish``), publishes ``next_to_watch``, advances
   ``next_to_use``, stops the queue early below ``DESC_NEEDED`` and rings
   the doorbell (``writel`` at ``igb_tx_map.doorbell``) unless more
   packets follow (``xmit_more``) and the queue is still running.

A mapping failure unwinds every mapping of the packet, frees it as a drop
and gives its descriptors back (``dma_error`` path). Header edits (IPv4
``tot_len``/``check``, the L4 pseudo-header length) are CPU stores into the
skb, as in Linux.
"""
from __future__ import annotations

import logging
import struct

from driver.platform import DMA_MAPPING_ERROR, DMA_TO_DEVICE
from stack.core.bql import netdev_tx_sent_queue
from stack.core.checksum import csum_fold, csum_partial, csum_replace_by_diff
from stack.core.dev import skb_checksum_help
from stack.core.netdevice import (NETDEV_TX_BUSY, NETDEV_TX_OK, netdev_get_tx_queue, netif_stop_subqueue,
                                  netif_wake_subqueue, netif_xmit_stopped)
from stack.core.skbuff import (CHECKSUM_PARTIAL, SKB_GSO_UDP_L4, dev_kfree_skb_any, pskb_expand_head,
                               skb_checksum_start_offset, skb_cow_head, skb_frag_off, skb_frag_page,
                               skb_frag_size, skb_headlen, skb_is_gso, skb_network_offset, skb_put, skb_shinfo,
                               skb_tailroom, skb_vlan_tag_get, skb_vlan_tag_present, vlan_get_protocol)

from .e1000_regs import (E1000_ADVTXD_DCMD_DEXT, E1000_ADVTXD_DCMD_IFCS, E1000_ADVTXD_DCMD_TSE,
                         E1000_ADVTXD_DCMD_VLE, E1000_ADVTXD_DTYP_CTXT, E1000_ADVTXD_DTYP_DATA,
                         E1000_ADVTXD_IDX_SHIFT, E1000_ADVTXD_L4LEN_SHIFT, E1000_ADVTXD_MACLEN_SHIFT,
                         E1000_ADVTXD_MAC_TSTAMP, E1000_ADVTXD_MSS_SHIFT, E1000_ADVTXD_PAYLEN_SHIFT,
                         E1000_ADVTXD_TUCMD_IPV4, E1000_ADVTXD_TUCMD_L4T_TCP, E1000_ADVTXD_TUCMD_L4T_UDP,
                         E1000_TXD_CMD_DEXT, E1000_TXD_POPTS_IXSM, E1000_TXD_POPTS_TXSM)
from .igb import (DESC_NEEDED, IGB_MAX_DATA_PER_TXD, IGB_MIN_TX_LEN, IGB_RING_FLAG_TX_CTX_IDX,
                  IGB_TX_FLAGS_CSUM, IGB_TX_FLAGS_IPV4, IGB_TX_FLAGS_TSO, IGB_TX_FLAGS_TSTAMP,
                  IGB_TX_FLAGS_VLAN, IGB_TX_FLAGS_VLAN_MASK, IGB_TX_FLAGS_VLAN_SHIFT, IGB_TYPE_SKB,
                  TXD_USE_COUNT, igb_desc_unused, igb_ring)
from .sites import SITE

__all__ = ["igb_xmit_frame", "igb_xmit_frame_ring", "igb_tso", "igb_tx_csum", "igb_tx_ctxtdesc",
           "igb_tx_cmd_type", "igb_tx_olinfo_status", "igb_tx_map", "igb_maybe_stop_tx",
           "__igb_maybe_stop_tx", "IGB_TXD_DCMD"]

log = logging.getLogger("igbsim.driver.igb")

#: EOP | RS: the last data descriptor of every packet.
IGB_TXD_DCMD = 0x01000000 | 0x08000000
_TCP_CHECK_OFFSET = 16   # offsetof(struct tcphdr, check)
_UDP_CHECK_OFFSET = 6    # offsetof(struct udphdr, check)
_PAGE_MASK = ~0xFFF


# --- helpers on skb header bytes (CPU loads and stores through the current CPU) ----------------
def _be16(kernel, addr: int) -> int:
    return struct.unpack(">H", kernel.read_bytes(addr, 2))[0]


def _put_be16(kernel, addr: int, value: int) -> None:
    kernel.write_bytes(addr, struct.pack(">H", value & 0xFFFF))


# --- descriptor writes --------------------------------------------------------------------------
def igb_tx_ctxtdesc(tx_ring: igb_ring, first, vlan_macip_lens: int, type_tucmd: int,
                    mss_l4len_idx: int) -> None:
    """Write a context descriptor at next_to_use and advance it."""
    kernel = tx_ring.kernel
    i = tx_ring.next_to_use
    addr = tx_ring.desc + 16 * i
    i += 1
    tx_ring.next_to_use = i if i < tx_ring.count else 0
    type_tucmd |= E1000_TXD_CMD_DEXT | E1000_ADVTXD_DTYP_CTXT
    if tx_ring.flags & IGB_RING_FLAG_TX_CTX_IDX:
        mss_l4len_idx |= tx_ring.reg_idx << 4
    kernel.write_bytes(addr, struct.pack("<IIII", vlan_macip_lens, 0, type_tucmd, mss_l4len_idx))


def igb_tso(tx_ring: igb_ring, first) -> tuple[int, int]:
    """Set up TSO: (0 = not TSO / 1 = context written / <0 error, hdr_len)."""
    skb = first.skb
    if skb.ip_summed != CHECKSUM_PARTIAL or not skb_is_gso(skb):
        return 0, 0
    err = skb_cow_head(skb, 0)
    if err < 0:
        return err, 0
    kernel = tx_ring.kernel
    sh = skb_shinfo(skb)
    ip = skb.head + skb.network_header
    l4 = skb.head + skb.transport_header
    type_tucmd = E1000_ADVTXD_TUCMD_L4T_UDP if sh.gso_type & SKB_GSO_UDP_L4 else E1000_ADVTXD_TUCMD_L4T_TCP
    version = kernel.read_bytes(ip, 1)[0] >> 4
    if version == 4:
        ihl = (kernel.read_bytes(ip, 1)[0] & 0xF) * 4
        csum_start = skb.head + skb.csum_start
        trans_start = ip + ihl
        span = csum_start - trans_start  # tunnel headers between IP and L4; 0 normally
        # csum_fold(csum_partial(trans_start, span, 0)): 0xFFFF when nothing lies in between
        _put_be16(kernel, ip + 10, csum_fold(csum_partial(kernel.read_bytes(trans_start, span) if span else b"")))
        type_tucmd |= E1000_ADVTXD_TUCMD_IPV4
        _put_be16(kernel, ip + 2, 0)   # tot_len
        first.tx_flags |= IGB_TX_FLAGS_TSO | IGB_TX_FLAGS_CSUM | IGB_TX_FLAGS_IPV4
    else:
        _put_be16(kernel, ip + 4, 0)   # payload_len
        first.tx_flags |= IGB_TX_FLAGS_TSO | IGB_TX_FLAGS_CSUM
    l4_offset = l4 - skb.data
    paylen = skb.len - l4_offset
    if type_tucmd & E1000_ADVTXD_TUCMD_L4T_TCP:
        hdr_len = (kernel.read_bytes(l4 + 12, 1)[0] >> 4) * 4 + l4_offset
        check = l4 + _TCP_CHECK_OFFSET
    else:
        hdr_len = 8 + l4_offset
        check = l4 + _UDP_CHECK_OFFSET
    _put_be16(kernel, check, csum_replace_by_diff(_be16(kernel, check), paylen))  # htonl(paylen)
    gso_segs = sh.gso_segs   # first->gso_segs, as just stored (the compiler keeps it in a register)
    first.gso_segs = gso_segs
    first.bytecount += (gso_segs - 1) * hdr_len
    mss_l4len_idx = (hdr_len - l4_offset) << E1000_ADVTXD_L4LEN_SHIFT
    mss_l4len_idx |= sh.gso_size << E1000_ADVTXD_MSS_SHIFT
    vlan_macip_lens = l4 - ip
    vlan_macip_lens |= (ip - skb.data) << E1000_ADVTXD_MACLEN_SHIFT
    vlan_macip_lens |= first.tx_flags & IGB_TX_FLAGS_VLAN_MASK
    igb_tx_ctxtdesc(tx_ring, first, vlan_macip_lens, type_tucmd, mss_l4len_idx)
    return 1, hdr_len


def igb_tx_csum(tx_ring: igb_ring, first) -> None:
    """Checksum offload (and/or VLAN insertion) context, when the skb asks for one."""
    skb = first.skb
    vlan_macip_lens = 0
    type_tucmd = 0
    if skb.ip_summed == CHECKSUM_PARTIAL:
        if skb.csum_offset == _TCP_CHECK_OFFSET:
            type_tucmd = E1000_ADVTXD_TUCMD_L4T_TCP
        elif skb.csum_offset != _UDP_CHECK_OFFSET:
            skb_checksum_help(skb)
            skb = None
        if skb is not None:
            first.tx_flags |= IGB_TX_FLAGS_CSUM
            vlan_macip_lens = skb_checksum_start_offset(skb) - skb_network_offset(skb)
    if skb is None or skb.ip_summed != CHECKSUM_PARTIAL:     # csum_failed:
        if not first.tx_flags & IGB_TX_FLAGS_VLAN:
            return
        skb = first.skb
        type_tucmd = 0
    vlan_macip_lens |= skb_network_offset(skb) << E1000_ADVTXD_MACLEN_SHIFT   # no_csum:
    vlan_macip_lens |= first.tx_flags & IGB_TX_FLAGS_VLAN_MASK
    igb_tx_ctxtdesc(tx_ring, first, vlan_macip_lens, type_tucmd, 0)


def igb_tx_cmd_type(skb, tx_flags: int) -> int:
    """DTYP_DATA | DEXT | IFCS, plus VLE, TSE and the timestamp request from the flags."""
    cmd_type = E1000_ADVTXD_DTYP_DATA | E1000_ADVTXD_DCMD_DEXT | E1000_ADVTXD_DCMD_IFCS
    if tx_flags & IGB_TX_FLAGS_VLAN:
        cmd_type |= E1000_ADVTXD_DCMD_VLE
    if tx_flags & IGB_TX_FLAGS_TSO:
        cmd_type |= E1000_ADVTXD_DCMD_TSE
    if tx_flags & IGB_TX_FLAGS_TSTAMP:
        cmd_type |= E1000_ADVTXD_MAC_TSTAMP
    return cmd_type


def igb_tx_olinfo_status(tx_ring: igb_ring, tx_flags: int, paylen: int) -> int:
    """PAYLEN and the TXSM/IXSM requests of the first data descriptor."""
    olinfo_status = paylen << E1000_ADVTXD_PAYLEN_SHIFT
    if tx_ring.flags & IGB_RING_FLAG_TX_CTX_IDX:
        olinfo_status |= tx_ring.reg_idx << E1000_ADVTXD_IDX_SHIFT
    if tx_flags & IGB_TX_FLAGS_CSUM:
        olinfo_status |= E1000_TXD_POPTS_TXSM << 8
    if tx_flags & IGB_TX_FLAGS_IPV4:
        olinfo_status |= E1000_TXD_POPTS_IXSM << 8
    return olinfo_status


def igb_tx_map(tx_ring: igb_ring, first, hdr_len: int) -> int:
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
    # Force memory writes to complete before letting h/w know there are new
    # descriptors to fetch, and make sure next_to_watch is written after them.
    kernel.dma_wmb(SITE["igb_tx_map.publish"])
    first.next_to_watch = daddr    # set next_to_watch value indicating a packet is present
    i += 1
    if i == count:
        i = 0
    tx_ring.next_to_use = i
    igb_maybe_stop_tx(tx_ring, DESC_NEEDED)
    if netif_xmit_stopped(txq) or not skb.xmit_more:
        kernel.writel(i, tx_ring.tail, site=SITE["igb_tx_map.doorbell"])
    return 0


def _unmappable(kernel, frag) -> int:
    """A frag whose page is not in host memory cannot be DMA-mapped: a mapping error."""
    log.error("igb: frag %r is not in host memory; it cannot be DMA-mapped", frag)
    return DMA_MAPPING_ERROR


def _dma_error(tx_ring: igb_ring, first, i: int) -> int:
    """``dma_error:`` unmap every buffer of the packet, free it as a drop, give back its slots."""
    kernel = tx_ring.kernel
    dev = tx_ring.dev
    info = tx_ring.tx_buffer_info
    log.error("%s: TX DMA map failed", tx_ring.netdev.name)
    kernel.engine.log(tx_ring.netdev.name, "tx_dma_map_failed", tx_ring.queue_index)
    first_i = info.index_of(first)
    while i != first_i:     # clear dma mappings for failed tx_buffer_info map
        tx_buffer = info[i]
        size = tx_buffer.len
        if size:
            kernel.dma_unmap_page(dev, tx_buffer.dma, size, DMA_TO_DEVICE)
        tx_buffer.len = 0
        i = i - 1 if i else tx_ring.count - 1
    size = first.len
    if size:
        kernel.dma_unmap_single(dev, first.dma, size, DMA_TO_DEVICE)
    first.len = 0
    dev_kfree_skb_any(first.skb)
    first.skb = None
    tx_ring.tx_dropped += 1
    tx_ring.next_to_use = i
    return -1


# --- flow control ----------------------------------------------------------------------------------
def __igb_maybe_stop_tx(tx_ring: igb_ring, size: int) -> int:
    """Stop the queue, then look again: another CPU may just have made room (``smp_mb`` between)."""
    netdev = tx_ring.netdev
    netif_stop_subqueue(netdev, tx_ring.queue_index)
    tx_ring.kernel.smp_mb(SITE["igb_maybe_stop_tx.recheck"])
    if igb_desc_unused(tx_ring) < size:
        return -16  # -EBUSY
    netif_wake_subqueue(netdev, tx_ring.queue_index)   # a reprieve!
    tx_ring.tx_stats.restart_queue2 += 1
    return 0


def igb_maybe_stop_tx(tx_ring: igb_ring, size: int) -> int:
    """0 if ``size`` descriptors are free (fast path), else the stop-and-recheck slow path."""
    if igb_desc_unused(tx_ring) >= size:
        return 0
    return __igb_maybe_stop_tx(tx_ring, size)


# --- entry points ------------------------------------------------------------------------------------
def igb_xmit_frame_ring(skb, tx_ring: igb_ring) -> int:
    """Queue one skb on ``tx_ring``: NETDEV_TX_OK (sent or dropped) or NETDEV_TX_BUSY (ring full)."""
    count = TXD_USE_COUNT(skb_headlen(skb))
    for frag in skb_shinfo(skb).frags:
        count += TXD_USE_COUNT(skb_frag_size(frag))
    if igb_maybe_stop_tx(tx_ring, count + 3):
        return NETDEV_TX_BUSY   # this is a hard error
    first = tx_ring.tx_buffer_info[tx_ring.next_to_use]
    first.type = IGB_TYPE_SKB
    first.skb = skb
    first.bytecount = skb.len
    first.gso_segs = 1
    tx_flags = 0
    if skb_vlan_tag_present(skb):
        tx_flags |= IGB_TX_FLAGS_VLAN | (skb_vlan_tag_get(skb) << IGB_TX_FLAGS_VLAN_SHIFT)
    first.tx_flags = tx_flags
    first.protocol = vlan_get_protocol(skb, tx_ring.kernel.read_bytes)
    tso, hdr_len = igb_tso(tx_ring, first)
    if tso < 0:
        dev_kfree_skb_any(first.skb)   # out_drop:
        first.skb = None
        tx_ring.tx_dropped += 1
        return NETDEV_TX_OK
    if not tso:
        igb_tx_csum(tx_ring, first)
    igb_tx_map(tx_ring, first, hdr_len)
    return NETDEV_TX_OK


def igb_xmit_frame(skb, netdev) -> int:
    """``ndo_start_xmit``: pad to 17 bytes (TCTL.PSP's minimum), pick the ring, transmit."""
    adapter = netdev.priv
    if skb.len < IGB_MIN_TX_LEN:
        if _skb_put_padto(adapter.kernel, skb, IGB_MIN_TX_LEN):
            return NETDEV_TX_OK
    r_idx = skb.queue_mapping
    if r_idx >= adapter.num_tx_queues:
        r_idx = r_idx % adapter.num_tx_queues
    return igb_xmit_frame_ring(skb, adapter.tx_ring[r_idx])


def _skb_put_padto(kernel, skb, length: int) -> int:
    """``skb_put_padto``: zero-pad the linear part to ``length``; on failure free the skb, nonzero."""
    pad = length - skb.len
    if skb.data_len or (skb_tailroom(skb) < pad and pskb_expand_head(skb, 0, pad)):
        dev_kfree_skb_any(skb)   # a nonlinear runt cannot happen: frags come after a full header
        return -12
    kernel.write_bytes(skb_put(skb, pad), bytes(pad))
    return 0
