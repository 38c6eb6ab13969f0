"""Byte queue limits, the netdev side: the ``netdev_tx_*_queue`` hooks of ``include/linux/netdevice.h``.

The limit itself is :mod:`stack.core.dynamic_queue_limits` (``dql``, one per
TX queue, made with the queue). :func:`netdev_tx_sent_queue` sets
STACK_XOFF when the queue goes over its limit;
:func:`netdev_tx_completed_queue` clears it and re-schedules the queue once
there is room again.

The two hooks run on different CPUs (``ndo_start_xmit`` under the TX lock,
the TX clean in NET_RX) and share the queue's state word and the dql's
enqueue-path fields, all in simulated memory; the barrier pairs are Linux's
(cpu_time_facts §3, 6.x netdevice.h):

* sent: ``dql_queued``; if over the limit, ``set_bit(STACK_XOFF)``,
  ``smp_mb__after_atomic()`` (3.10: ``smp_mb()``; the same ordering in the
  model), then ``dql_avail`` again — a completion on another CPU may just
  have made room — and ``clear_bit`` if so;
* completed: ``dql_completed``, ``smp_mb()``, then if there is room
  ``test_and_clear_bit(STACK_XOFF)`` and, if it was set, schedule the queue.

Either the sender's re-check sees the completion's ``adj_limit`` or the
completion's ``test_and_clear_bit`` sees STACK_XOFF: the store-buffering
shape that would leave the queue stopped for good is forbidden by the two
barriers. (6.12+ also writes ``trans_start`` and an
``smp_mb__before_atomic`` before the ``set_bit``, for ``dev_watchdog``;
``trans_start`` is still Python here, see :mod:`stack.core.netdevice`.)
"""
from __future__ import annotations

from .bitops import clear_bit, set_bit, smp_mb__after_atomic, test_and_clear_bit
from .dynamic_queue_limits import dql_avail, dql_completed, dql_queued, dql_reset
from .jiffies import HZ
from .netdevice import __QUEUE_STATE_STACK_XOFF, netdev_queue, netif_schedule_queue

__all__ = ["netdev_tx_sent_queue", "netdev_tx_completed_queue", "netdev_tx_reset_queue", "bql_sysfs"]


# --- the netdev hooks ----------------------------------------------------------------------------
def netdev_tx_sent_queue(txq: netdev_queue, nbytes: int) -> None:
    """The driver queued ``nbytes`` to the NIC; over the limit -> STACK_XOFF (then re-check)."""
    d = txq.dql
    dql_queued(d, nbytes)
    if dql_avail(d) >= 0:
        return
    cpu = txq.ctx.cpu
    set_bit(cpu, __QUEUE_STATE_STACK_XOFF, txq.state_addr)
    # The XOFF flag must be set before checking dql_avail again: netdev_tx_completed_queue
    # updates the dql before it tests the flag.
    smp_mb__after_atomic(cpu)
    if dql_avail(d) >= 0:
        clear_bit(cpu, __QUEUE_STATE_STACK_XOFF, txq.state_addr)


def netdev_tx_completed_queue(txq: netdev_queue, pkts: int, nbytes: int) -> None:
    """The driver reaped ``pkts``/``nbytes``; back under the limit -> clear STACK_XOFF, schedule."""
    if not nbytes:
        return
    d = txq.dql
    dql_completed(d, nbytes)
    cpu = txq.ctx.cpu
    # Without it the sender's re-check may miss this update and the queue stays stopped forever.
    cpu.barrier("smp_mb")
    if dql_avail(d) < 0:
        return
    if test_and_clear_bit(cpu, __QUEUE_STATE_STACK_XOFF, txq.state_addr):
        netif_schedule_queue(txq)


def netdev_tx_reset_queue(txq: netdev_queue) -> None:
    """Forget everything in flight (ring cleaned at down/reset): ``clear_bit(STACK_XOFF)``, ``dql_reset``."""
    clear_bit(txq.ctx.cpu, __QUEUE_STATE_STACK_XOFF, txq.state_addr)
    dql_reset(txq.dql)


def bql_sysfs(txq: netdev_queue) -> dict[str, int]:
    """``/sys/class/net/DEV/queues/tx-N/byte_queue_limits/*`` (hold_time in ms)."""
    d = txq.dql
    return {"limit": d.limit, "limit_min": d.min_limit, "limit_max": d.max_limit,
            "hold_time": d.slack_hold_time * 1000 // HZ, "inflight": d.inflight}
