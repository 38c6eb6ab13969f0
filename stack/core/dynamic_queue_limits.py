"""Dynamic queue limits: ``lib/dynamic_queue_limits.c`` (``include/linux/dynamic_queue_limits.h``).

``dql`` follows the kernel source line by line (6.x, without the optional
stall detector), including its 32-bit unsigned arithmetic (``POSDIFF``,
``AFTER_EQ``) so counters wrap as in C. The idea (stack_facts §9.3):

* the driver reports bytes handed to the NIC (``dql_queued``) and bytes
  completed (``dql_completed``); ``dql_avail = adj_limit − num_queued``;
* **starved** — the queue was over its limit and then ran empty, or was
  over the limit in the previous interval and everything queued then has
  completed — the limit grows by the bytes both sent and completed in the
  interval plus the previous over-limit;
* **busy the whole interval** — slack = max(limit + prev_ovlimit −
  2 × completed now, the non-over-limit part of the last enqueue); the
  lowest slack seen over ``slack_hold_time`` (HZ jiffies = 1 s) comes off
  the limit when that time has passed;
* the limit is clamped to [min_limit, max_limit]; ``adj_limit = limit +
  num_completed``.

A fresh queue has limit 0, so its first packet already stops it until the
first completion teaches BQL a limit. ``dql_reset`` leaves ``adj_limit``
as it was, exactly like the C code.
"""

from __future__ import annotations

from typing import Callable


__all__ = [
    "UINT_MAX", "DQL_MAX_OBJECT", "DQL_MAX_LIMIT", "DqlBug", "dql", "dql_init", "dql_reset",
    "dql_queued", "dql_avail", "dql_completed",
]

UINT_MAX = 0xFFFF_FFFF
DQL_MAX_OBJECT = UINT_MAX // 16
DQL_MAX_LIMIT = UINT_MAX // 2 - DQL_MAX_OBJECT
_SIGN = 0x8000_0000


class DqlBug(RuntimeError):
    """What the C code BUG()s on: completing more than was queued, an oversized object."""


def _posdiff(a: int, b: int) -> int:
    """``POSDIFF(A, B)``: ``A − B`` if positive as a signed 32-bit value, else 0."""
    d = (a - b) & UINT_MAX
    return d if 0 < d < _SIGN else 0


def _after_eq(a: int, b: int) -> bool:
    """``AFTER_EQ(A, B)``: ``(int)(A − B) >= 0``."""
    return ((a - b) & UINT_MAX) < _SIGN


class dql:
    """``struct dql``, zeroed as kzalloc leaves it; ``clock()`` gives jiffies."""

    __slots__ = ("num_queued", "adj_limit", "last_obj_cnt", "limit", "num_completed",
                 "prev_ovlimit", "prev_num_queued", "prev_last_obj_cnt", "lowest_slack",
                 "slack_start_time", "max_limit", "min_limit", "slack_hold_time", "clock")

    def __init__(self, clock: Callable[[], int]):
        self.num_queued = 0        # total ever queued
        self.adj_limit = 0         # limit + num_completed
        self.last_obj_cnt = 0      # count at last queuing
        self.limit = 0             # current limit
        self.num_completed = 0     # total ever completed
        self.prev_ovlimit = 0      # previous over limit
        self.prev_num_queued = 0   # previous queue total
        self.prev_last_obj_cnt = 0 # previous queuing count
        self.lowest_slack = 0      # lowest slack found
        self.slack_start_time = 0  # time slacks seen
        self.max_limit = 0
        self.min_limit = 0
        self.slack_hold_time = 0   # time to measure slack (jiffies)
        self.clock = clock

    @property
    def inflight(self) -> int:
        """Bytes queued and not yet completed (sysfs ``inflight``)."""
        return (self.num_queued - self.num_completed) & UINT_MAX


def dql_reset(d: dql) -> None:
    """Reset all dynamic values (``adj_limit`` is left alone, as in C)."""
    d.limit = 0
    d.num_queued = 0
    d.num_completed = 0
    d.last_obj_cnt = 0
    d.prev_num_queued = 0
    d.prev_last_obj_cnt = 0
    d.prev_ovlimit = 0
    d.lowest_slack = UINT_MAX
    d.slack_start_time = d.clock()


def dql_init(d: dql, hold_time: int) -> None:
    """Limits [0, DQL_MAX_LIMIT], slack hold time ``hold_time`` jiffies, then reset."""
    d.max_limit = DQL_MAX_LIMIT
    d.min_limit = 0
    d.slack_hold_time = hold_time
    dql_reset(d)


def dql_queued(d: dql, count: int) -> None:
    """Record ``count`` bytes handed to the device."""
    if count > DQL_MAX_OBJECT:
        raise DqlBug(f"dql_queued({count}) > DQL_MAX_OBJECT")
    d.last_obj_cnt = count
    d.num_queued = (d.num_queued + count) & UINT_MAX


def dql_avail(d: dql) -> int:
    """Bytes that may still be queued; negative when over the limit."""
    v = (d.adj_limit - d.num_queued) & UINT_MAX
    return v - (1 << 32) if v & _SIGN else v


def dql_completed(d: dql, count: int) -> None:
    """Record ``count`` completed bytes and adapt the limit (see the module docstring)."""
    num_queued = d.num_queued
    num_completed = d.num_completed
    if count > ((num_queued - num_completed) & UINT_MAX):
        raise DqlBug(f"dql_completed({count}) with only {(num_queued - num_completed) & UINT_MAX} queued")
    completed = (num_completed + count) & UINT_MAX
    limit = d.limit
    ovlimit = _posdiff((num_queued - num_completed) & UINT_MAX, limit)
    inprogress = (num_queued - completed) & UINT_MAX
    prev_inprogress = (d.prev_num_queued - num_completed) & UINT_MAX
    all_prev_completed = _after_eq(completed, d.prev_num_queued)

    if (ovlimit and not inprogress) or (d.prev_ovlimit and all_prev_completed):
        # Starved: grow by what was both sent and completed, plus the previous over-limit.
        limit = (limit + _posdiff(completed, d.prev_num_queued) + d.prev_ovlimit) & UINT_MAX
        d.slack_start_time = d.clock()
        d.lowest_slack = UINT_MAX
    elif inprogress and prev_inprogress and not all_prev_completed:
        # Busy the whole interval: measure slack, shrink by its minimum once the hold time passed.
        slack = _posdiff((limit + d.prev_ovlimit) & UINT_MAX, (2 * (completed - num_completed)) & UINT_MAX)
        slack_last_objs = _posdiff(d.prev_last_obj_cnt, d.prev_ovlimit) if d.prev_ovlimit else 0
        slack = max(slack, slack_last_objs)
        if slack < d.lowest_slack:
            d.lowest_slack = slack
        now = d.clock()
        if now > d.slack_start_time + d.slack_hold_time:  # time_after
            limit = _posdiff(limit, d.lowest_slack)
            d.slack_start_time = now
            d.lowest_slack = UINT_MAX

    limit = min(max(limit, d.min_limit), d.max_limit)
    if limit != d.limit:
        d.limit = limit
        ovlimit = 0

    d.adj_limit = (limit + completed) & UINT_MAX
    d.prev_ovlimit = ovlimit
    d.prev_last_obj_cnt = d.last_obj_cnt
    d.num_completed = completed
    d.prev_num_queued = num_queued
