"""Ethtool settings: ring size (``-G``), interrupt coalescing (``-C``), channels (``-L``).

Each follows ``igb_ethtool.c``: ring sizes are clamped to 64…4096
(``IGB_MIN_TXD`` … ``IGB_MAX_TXD``) and rounded up to a multiple of 8 (not rejected;
:func:`igb_ring_count`); rx/tx-usecs accept 0
(moderation off), 1 and 3 (dynamic, 3 conservative) or 10…10000 µs, and
reject 2 and 4…9 with -EINVAL; tx-usecs is refused while queues are paired
(TX follows RX then). A change that needs new rings or vectors takes the
device down and up again, as igb does; those functions are generators.
"""
from __future__ import annotations

import logging

from stack.core.errno import EINVAL, ENOMEM
from stack.core.netdevice import netif_running

from .igb import (IGB_FLAG_QUEUE_PAIRS, IGB_MAX_ITR_USECS, IGB_MAX_TXD, IGB_MIN_ITR_USECS, IGB_MIN_TXD,
                  IGB_RING_SIZE, IGB_START_ITR, NON_Q_VECTORS, REQ_TX_DESCRIPTOR_MULTIPLE, __IGB_RESETTING,
                  igb_ring)
from .main import (igb_clear_interrupt_scheme, igb_close, igb_down, igb_init_interrupt_scheme, igb_open,
                   igb_up)
from .rings import igb_free_tx_resources, igb_setup_tx_resources

__all__ = ["igb_ring_count", "igb_get_ringparam", "igb_set_ringparam", "igb_get_coalesce", "igb_set_coalesce",
           "igb_get_channels", "igb_set_channels"]

log = logging.getLogger("igbsim.driver.igb")


def igb_get_ringparam(adapter) -> dict[str, int]:
    return {"tx_pending": adapter.tx_ring_count, "tx_max_pending": IGB_MAX_TXD,
            "rx_pending": adapter.rx_ring_count, "rx_max_pending": IGB_MAX_TXD}


def igb_ring_count(n: int) -> int:
    """The ring size igb makes of ``n`` descriptors asked for (``igb_set_ringparam``): clamped to
    ``IGB_MIN_TXD``..``IGB_MAX_TXD``, then rounded up (``ALIGN``) to a multiple of ``REQ_TX_DESCRIPTOR_MULTIPLE``."""
    n = max(min(n, IGB_MAX_TXD), IGB_MIN_TXD)
    return -(-n // REQ_TX_DESCRIPTOR_MULTIPLE) * REQ_TX_DESCRIPTOR_MULTIPLE


def igb_set_ringparam(adapter, tx_pending: int):
    """Generator: resize every TX ring (clamped, aligned to 8); 0 or a negative errno."""
    if tx_pending < 0:   # a u32 in ethtool: 0 is clamped to IGB_MIN_TXD like any small value
        log.error("%s: ring size %d: must not be negative", adapter.netdev.name, tx_pending)
        return -EINVAL
    while __IGB_RESETTING in adapter.state:
        yield adapter.kernel.usleep_range(1000, 2000)
    new_tx_count = igb_ring_count(tx_pending)
    if new_tx_count == adapter.tx_ring_count:
        return 0
    adapter.state.add(__IGB_RESETTING)
    try:
        if not netif_running(adapter.netdev):
            for ring in adapter.tx_ring:
                ring.count = new_tx_count
            adapter.tx_ring_count = new_tx_count
            return 0
        err = yield from _resize_running(adapter, new_tx_count)
        return err
    finally:
        adapter.state.discard(__IGB_RESETTING)


def _resize_running(adapter, new_tx_count: int):
    """Allocate the new rings first (nothing changes if that fails), then down, swap, up.

    The new rings are set up in a vmalloc'd array of ring structs and copied
    over the live ones (``memcpy``: the indices are loaded and stored through
    the CPU like every other member), as ``igb_set_ringparam`` does.
    """
    kernel = adapter.kernel
    temp_mem = kernel.vmalloc(IGB_RING_SIZE * len(adapter.tx_ring))
    if temp_mem is None:
        return -ENOMEM
    temp = [igb_ring(adapter, r.q_vector, r.queue_index, r.reg_idx, new_tx_count, temp_mem + IGB_RING_SIZE * i)
            for i, r in enumerate(adapter.tx_ring)]
    for i, t in enumerate(temp):
        err = igb_setup_tx_resources(t)
        if err:
            for done in temp[:i]:
                igb_free_tx_resources(done)
            kernel.vfree(temp_mem)
            return err
    yield from igb_down(adapter)
    for ring, t in zip(adapter.tx_ring, temp):
        igb_free_tx_resources(ring)
        for name in ("count", "size", "desc", "dma", "tx_buffer_info", "next_to_use", "next_to_clean"):
            setattr(ring, name, getattr(t, name))
    kernel.vfree(temp_mem)
    adapter.tx_ring_count = new_tx_count
    yield from igb_up(adapter)
    return 0


def _usecs(setting: int) -> int:
    return setting if setting <= 3 else setting >> 2


def igb_get_coalesce(adapter) -> dict[str, int]:
    return {"rx_coalesce_usecs": _usecs(adapter.rx_itr_setting),
            "tx_coalesce_usecs": 0 if adapter.flags & IGB_FLAG_QUEUE_PAIRS else _usecs(adapter.tx_itr_setting),
            "tx_max_coalesced_frames_irq": adapter.tx_work_limit}


def _bad_usecs(v: int) -> bool:
    return v < 0 or v > IGB_MAX_ITR_USECS or (3 < v < IGB_MIN_ITR_USECS) or v == 2


def igb_set_coalesce(adapter, rx_usecs: int | None = None, tx_usecs: int | None = None,
                     tx_max_coalesced_frames_irq: int = 0) -> int:
    """Set the ITR settings (µs, or 0/1/3) and push them to every q_vector; 0 or -EINVAL."""
    cur = igb_get_coalesce(adapter)
    rx = cur["rx_coalesce_usecs"] if rx_usecs is None else rx_usecs
    tx = cur["tx_coalesce_usecs"] if tx_usecs is None else tx_usecs
    for what, v in (("rx-usecs", rx), ("tx-usecs", tx)):
        if _bad_usecs(v):
            log.error("%s: %s %d: use 0, 1, 3 or %d..%d", adapter.netdev.name, what, v,
                      IGB_MIN_ITR_USECS, IGB_MAX_ITR_USECS)
            return -EINVAL
    if adapter.flags & IGB_FLAG_QUEUE_PAIRS and tx:
        log.error("%s: tx-usecs cannot be set while TX and RX share vectors", adapter.netdev.name)
        return -EINVAL
    if tx_max_coalesced_frames_irq:
        adapter.tx_work_limit = tx_max_coalesced_frames_irq
    adapter.rx_itr_setting = rx if rx and rx <= 3 else rx << 2
    if adapter.flags & IGB_FLAG_QUEUE_PAIRS:
        adapter.tx_itr_setting = adapter.rx_itr_setting
    else:
        adapter.tx_itr_setting = tx if tx and tx <= 3 else tx << 2
    for q_vector in adapter.q_vector:
        q_vector.tx.work_limit = adapter.tx_work_limit
        has_rx = q_vector.rx_ring_index is not None
        q_vector.itr_val = adapter.rx_itr_setting if has_rx else adapter.tx_itr_setting
        if q_vector.itr_val and q_vector.itr_val <= 3:
            q_vector.itr_val = IGB_START_ITR
        q_vector.set_itr = 1
    return 0


def igb_get_channels(adapter) -> dict[str, int]:
    return {"max_combined": adapter.hw.mac.max_rss_queues, "combined_count": adapter.rss_queues,
            "max_other": NON_Q_VECTORS, "other_count": NON_Q_VECTORS}


def igb_set_channels(adapter, combined_count: int):
    """Generator: change the number of queue pairs (1…MAC maximum); reinitialises queues and vectors."""
    max_combined = adapter.hw.mac.max_rss_queues
    if not 1 <= combined_count <= max_combined:
        log.error("%s: %d channels: use 1..%d", adapter.netdev.name, combined_count, max_combined)
        return -EINVAL
    if combined_count == adapter.rss_queues:
        return 0
    adapter.rss_queues = combined_count
    netdev = adapter.netdev
    running = netif_running(netdev)
    if running:
        yield from igb_close(netdev)
    igb_clear_interrupt_scheme(adapter)
    if igb_init_interrupt_scheme(adapter):
        log.error("%s: Unable to allocate memory for queues", netdev.name)
        return -12
    netdev.real_num_tx_queues = adapter.num_tx_queues
    if running:
        return (yield from igb_open(netdev))
    return 0
