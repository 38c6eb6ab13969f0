"""Byte queue limits, the netdev side: the ``netdev_tx_*_queue`` hooks of ``include/linux/netdevice.h``.

The limit itself is :mod:`stack.core.dynamic_queue_limits` (``dql``, one per
TX queue, made with the queue). :func:`netdev_tx_sent_queue` sets
STACK_XOFF when the queue goes over its limit;
:func:`netdev_tx_completed_queue` clears it and re-schedules the queue once
there is room again.

The BQL state is Python attributes, not simulated memory: the
``smp_mb()`` pairs between these two hooks are not subject to the host's
ordering model.
"""
from __future__ import annotations

from .dynamic_queue_limits import dql_avail, dql_completed, dql_queued, dql_reset
from .jiffies import HZ
from .netdevice import QUEUE_STATE_STACK_XOFF, netdev_queue, netif_schedule_queue

__all__ = ["netdev_tx_sent_queue", "netdev_tx_completed_queue", "netdev_tx_reset_queue", "bql_sysfs"]


# --- the netdev hooks ----------------------------------------------------------------------------
def netdev_tx_sent_queue(txq: netdev_queue, nbytes: int) -> None:
    """The driver queued ``nbytes`` to the NIC; over the limit -> STACK_XOFF."""
    d = txq.dql
    dql_queued(d, nbytes)
    if dql_avail(d) >= 0:
        return
    txq.state |= QUEUE_STATE_STACK_XOFF
    # Linux: smp_mb(), then check again in case a completion on another CPU just made room.
    if dql_avail(d) >= 0:
        txq.state &= ~QUEUE_STATE_STACK_XOFF


def netdev_tx_completed_queue(txq: netdev_queue, pkts: int, nbytes: int) -> None:
    """The driver reaped ``pkts``/``nbytes``; back under the limit -> clear STACK_XOFF, schedule."""
    if not nbytes:
        return
    d = txq.dql
    dql_completed(d, nbytes)
    if dql_avail(d) < 0:
        return
    if txq.state & QUEUE_STATE_STACK_XOFF:
        txq.state &= ~QUEUE_STATE_STACK_XOFF
        netif_schedule_queue(txq)


def netdev_tx_reset_queue(txq: netdev_queue) -> None:
    """Forget everything in flight (ring cleaned at down/reset)."""
    txq.state &= ~QUEUE_STATE_STACK_XOFF
    dql_reset(txq.dql)


def bql_sysfs(txq: netdev_queue) -> dict[str, int]:
    """``/sys/class/net/DEV/queues/tx-N/byte_queue_limits/*`` (hold_time in ms)."""
    d = txq.dql
    return {"limit": d.limit, "limit_min": d.min_limit, "limit_max": d.max_limit,
            "hold_time": d.slack_hold_time * 1000 // HZ, "inflight": d.inflight}
