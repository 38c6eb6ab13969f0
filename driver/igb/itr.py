"""Interrupt moderation: ``igb_update_itr``, ``igb_set_itr``, ``igb_update_ring_itr``, ``igb_write_itr``.

``itr_val`` is in EITR units of 0.25 µs (``usecs << 2``): 56 ≈ 70k ints/s,
196 ≈ 20k, 980 ≈ 4k, 648 the start value (igb_facts §3.10). The new value
is not written at once: ``set_itr`` asks ``igb_write_itr`` to write it at
the start of the next interrupt, because writing EITR restarts the
adapter's interval timer.
"""
from __future__ import annotations

from .e1000_regs import E1000_EITR_CNT_IGNR
from .igb import (IGB_20K_ITR, IGB_4K_ITR, IGB_70K_ITR, SPEED_1000, bulk_latency, igb_ring_container,
                  low_latency, lowest_latency)
from .sites import SITE

__all__ = ["igb_update_itr", "igb_set_itr", "igb_update_ring_itr", "igb_write_itr"]


def igb_update_itr(q_vector, ring_container: igb_ring_container) -> None:
    """Classify the traffic since the last update as lowest/low/bulk latency."""
    packets = ring_container.total_packets
    if packets == 0:
        return
    bytes_ = ring_container.total_bytes
    per_packet = bytes_ // packets   # C: unsigned int bytes / unsigned int packets (truncating)
    itrval = ring_container.itr
    if itrval == lowest_latency:
        if per_packet > 8000:
            itrval = bulk_latency
        elif packets < 5 and bytes_ > 512:
            itrval = low_latency
    elif itrval == low_latency:
        if bytes_ > 10000:
            if per_packet > 8000:
                itrval = bulk_latency
            elif packets < 10 or per_packet > 1200:
                itrval = bulk_latency
            elif packets > 35:
                itrval = lowest_latency
        elif per_packet > 2000:
            itrval = bulk_latency
        elif packets <= 2 and bytes_ < 512:
            itrval = lowest_latency
    elif itrval == bulk_latency:
        if bytes_ > 25000:
            if packets > 35:
                itrval = low_latency
        elif bytes_ < 1500:
            itrval = low_latency
    ring_container.total_bytes = 0
    ring_container.total_packets = 0
    ring_container.itr = itrval


def igb_set_itr(q_vector) -> None:
    """Single-vector adaptive moderation from the latency classes of both directions."""
    adapter = q_vector.adapter
    itr_val = q_vector.itr_val
    if adapter.link_speed != SPEED_1000:
        new_itr = IGB_4K_ITR
    else:
        igb_update_itr(q_vector, q_vector.tx)
        igb_update_itr(q_vector, q_vector.rx)
        current_itr = max(q_vector.rx.itr, q_vector.tx.itr)
        if current_itr == lowest_latency and (
                (q_vector.rx_ring_index is not None and adapter.rx_itr_setting == 3)
                or (q_vector.rx_ring_index is None and adapter.tx_itr_setting == 3)):
            current_itr = low_latency   # conservative mode: no 70k
        new_itr = {lowest_latency: IGB_70K_ITR, low_latency: IGB_20K_ITR,
                   bulk_latency: IGB_4K_ITR}.get(current_itr, itr_val)
    if new_itr != itr_val:
        if new_itr > itr_val:
            # as coded this always yields new_itr (the first operand is the smaller one)
            new_itr = max((new_itr * itr_val) // (new_itr + (itr_val >> 2)), new_itr)
        q_vector.itr_val = new_itr
        q_vector.set_itr = 1


def igb_update_ring_itr(q_vector) -> None:
    """Multi-vector adaptive moderation from the average wire size since the last interrupt."""
    adapter = q_vector.adapter
    new_val = q_vector.itr_val
    if adapter.link_speed != SPEED_1000:
        new_val = IGB_4K_ITR
    else:
        avg_wire_size = 0
        if q_vector.rx.total_packets:
            avg_wire_size = q_vector.rx.total_bytes // q_vector.rx.total_packets
        if q_vector.tx.total_packets:
            avg_wire_size = max(avg_wire_size, q_vector.tx.total_bytes // q_vector.tx.total_packets)
        if not avg_wire_size:
            _clear_counts(q_vector)
            return
        avg_wire_size += 24                      # CRC, preamble, inter-frame gap
        avg_wire_size = min(avg_wire_size, 3000)
        new_val = avg_wire_size // 3 if 300 < avg_wire_size < 1200 else avg_wire_size // 2
        if new_val < IGB_20K_ITR and (
                (q_vector.rx_ring_index is not None and adapter.rx_itr_setting == 3)
                or (q_vector.rx_ring_index is None and adapter.tx_itr_setting == 3)):
            new_val = IGB_20K_ITR                # conservative mode floors at 20k ints/s
    if new_val != q_vector.itr_val:
        q_vector.itr_val = new_val
        q_vector.set_itr = 1
    _clear_counts(q_vector)


def _clear_counts(q_vector) -> None:
    q_vector.rx.total_bytes = q_vector.rx.total_packets = 0
    q_vector.tx.total_bytes = q_vector.tx.total_packets = 0


def igb_write_itr(q_vector) -> None:
    """Write the pending ITR value (``& 0x7FFC``, at least 0x4) with CNT_IGNR into the vector's EITR."""
    if not q_vector.set_itr:
        return
    itr_val = q_vector.itr_val & 0x7FFC
    if not itr_val:
        itr_val = 0x4
    itr_val |= E1000_EITR_CNT_IGNR
    q_vector.adapter.kernel.writel(itr_val, q_vector.itr_register, site=SITE["igb_write_itr.eitr"])
    q_vector.set_itr = 0
