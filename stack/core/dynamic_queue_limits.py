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

**Shared fields in simulated memory.** The transmit side (``dql_queued``,
``dql_avail``) and the completion side (``dql_completed``) run on different
CPUs without a common lock, and share the enqueue-path cache line of the C
struct: ``num_queued``, ``adj_limit``, ``last_obj_cnt`` (u32 each, at
:data:`DQL_NUM_QUEUED`, :data:`DQL_ADJ_LIMIT`, :data:`DQL_LAST_OBJ_CNT` from
``dql.addr``). Those are loaded and stored through the executing CPU
(``dql.ctx.cpu``) with the accesses of the 6.x source:

* ``dql_queued``: ``WRITE_ONCE(last_obj_cnt, count)``, then the plain
  ``num_queued += count`` (a load and a store);
* ``dql_avail``: ``READ_ONCE(adj_limit) - READ_ONCE(num_queued)``;
* ``dql_completed``: ``READ_ONCE(num_queued)`` first, the plain store of
  ``adj_limit``, ``READ_ONCE(last_obj_cnt)``;
* ``dql_reset``: plain stores of ``num_queued`` and ``last_obj_cnt``.

(In the model ``READ_ONCE``/``WRITE_ONCE`` and plain accesses of an aligned
u32 are the same single-copy-atomic load or store.) The fields only the
completion side touches (``limit``, ``num_completed``, ``prev_*``,
``lowest_slack``, ``slack_start_time``) and the configuration stay Python.
"""

from __future__ import annotations

from typing import Callable


__all__ = [
    "UINT_MAX", "DQL_MAX_OBJECT", "DQL_MAX_LIMIT", "DQL_NUM_QUEUED", "DQL_ADJ_LIMIT", "DQL_LAST_OBJ_CNT",
    "DQL_SHARED_SIZE", "DqlBug", "dql", "dql_init", "dql_reset",
    "dql_queued", "dql_avail", "dql_completed",
]

UINT_MAX = 0xFFFF_FFFF
DQL_MAX_OBJECT = UINT_MAX // 16
DQL_MAX_LIMIT = UINT_MAX // 2 - DQL_MAX_OBJECT
_SIGN = 0x8000_0000

#: Byte offsets of the shared fields from ``dql.addr`` (struct dql's first three u32s).
DQL_NUM_QUEUED = 0
DQL_ADJ_LIMIT = 4
DQL_LAST_OBJ_CNT = 8
#: Bytes of simulated memory the shared fields take.
DQL_SHARED_SIZE = 12


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
    """``struct dql``: the shared fields in simulated memory at ``addr``, the rest zeroed Python.

    ``ctx.cpu`` is the CPU executing the code that touches it (the net
    core's execution context); ``addr`` points at :data:`DQL_SHARED_SIZE`
    zeroed bytes (kzalloc'd with the queue); ``clock()`` gives jiffies.
    """

    __slots__ = ("ctx", "addr", "limit", "num_completed", "prev_ovlimit", "prev_num_queued",
                 "prev_last_obj_cnt", "lowest_slack", "slack_start_time", "max_limit", "min_limit",
                 "slack_hold_time", "clock")

    def __init__(self, ctx, addr: int, clock: Callable[[], int]):
        self.ctx = ctx
        self.addr = addr
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
        """Bytes queued and not yet completed (sysfs ``inflight``: a plain load of num_queued)."""
        return (self.ctx.cpu.load(self.addr + DQL_NUM_QUEUED, 4) - self.num_completed) & UINT_MAX


def dql_reset(d: dql) -> None:
    """Reset all dynamic values (``adj_limit`` is left alone, as in C)."""
    cpu = d.ctx.cpu
    d.limit = 0
    cpu.store(d.addr + DQL_NUM_QUEUED, 4, 0)
    d.num_completed = 0
    cpu.store(d.addr + DQL_LAST_OBJ_CNT, 4, 0)
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
    cpu = d.ctx.cpu
    a = d.addr
    cpu.store(a + DQL_LAST_OBJ_CNT, 4, count)                                          # WRITE_ONCE
    cpu.store(a + DQL_NUM_QUEUED, 4, (cpu.load(a + DQL_NUM_QUEUED, 4) + count) & UINT_MAX)  # +=


def dql_avail(d: dql) -> int:
    """Bytes that may still be queued; negative when over the limit."""
    cpu = d.ctx.cpu
    v = (cpu.load(d.addr + DQL_ADJ_LIMIT, 4) - cpu.load(d.addr + DQL_NUM_QUEUED, 4)) & UINT_MAX
    return v - (1 << 32) if v & _SIGN else v


def dql_completed(d: dql, count: int) -> None:
    """Record ``count`` completed bytes and adapt the limit (see the module docstring)."""
    cpu = d.ctx.cpu
    num_queued = cpu.load(d.addr + DQL_NUM_QUEUED, 4)  # READ_ONCE
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

    cpu.store(d.addr + DQL_ADJ_LIMIT, 4, (limit + completed) & UINT_MAX)
    d.prev_ovlimit = ovlimit
    d.prev_last_obj_cnt = cpu.load(d.addr + DQL_LAST_OBJ_CNT, 4)  # READ_ONCE
    d.num_completed = completed
    d.prev_num_queued = num_queued
