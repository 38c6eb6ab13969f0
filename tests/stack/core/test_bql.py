"""Byte queue limits: dql_completed's limit adaptation, and the netdev hooks.

Every expected number below is worked by hand from lib/dynamic_queue_limits.c
(stack_facts §9.3), with unsigned 32-bit arithmetic:

    ovlimit            = POSDIFF(num_queued - num_completed, limit)
    inprogress         = num_queued - completed
    prev_inprogress    = prev_num_queued - num_completed
    all_prev_completed = AFTER_EQ(completed, prev_num_queued)
    starved:  (ovlimit && !inprogress) || (prev_ovlimit && all_prev_completed)
              -> limit += POSDIFF(completed, prev_num_queued) + prev_ovlimit
    busy:     inprogress && prev_inprogress && !all_prev_completed
              -> slack = max(POSDIFF(limit + prev_ovlimit, 2 * count),
                             prev_ovlimit ? POSDIFF(prev_last_obj_cnt, prev_ovlimit) : 0)
                 lowest_slack = min(...); after hold time: limit -= lowest_slack
    limit clamped to [min_limit, max_limit]; changed -> ovlimit = 0
    adj_limit = limit + completed;  dql_avail = adj_limit - num_queued
"""
import pytest

from stack.core.bql import bql_sysfs, netdev_tx_completed_queue, netdev_tx_reset_queue, netdev_tx_sent_queue
from sim.engine import Engine
from sim.host import Host
from stack.core.context import CpuContext
from stack.core.dynamic_queue_limits import (DQL_ADJ_LIMIT, DQL_LAST_OBJ_CNT, DQL_MAX_LIMIT, DQL_NUM_QUEUED,
                                             DQL_SHARED_SIZE, UINT_MAX, DqlBug, dql, dql_avail, dql_completed,
                                             dql_init, dql_queued)
from stack.core import qdisc
from stack.core.jiffies import HZ
from stack.core.qdisc import dev_activate
from stack.core.netdevice import (NetDevice, __netif_subqueue_stopped, netdev_get_tx_queue,
                                  netif_stop_subqueue, netif_xmit_stopped)


class Clock:
    """A settable jiffies counter."""

    def __init__(self):
        self.j = 0

    def __call__(self):
        return self.j


def fresh(clock=None):
    """A dql whose shared fields sit in a one-CPU x86 host's memory, used from that CPU."""
    host = Host(Engine(), "x86-tso", ncpus=1)
    d = dql(CpuContext(host), host.dma.kzalloc(DQL_SHARED_SIZE), clock or Clock())
    dql_init(d, HZ)
    return d


def get(d, offset):
    """A shared u32 field of ``d``, loaded by its CPU (which sees its own buffered stores)."""
    return d.ctx.cpu.load(d.addr + offset, 4)


def put(d, offset, value):
    d.ctx.cpu.store(d.addr + offset, 4, value)


def test_init_gives_limit_zero_and_the_first_packet_goes_over():
    d = fresh()
    assert (d.limit, d.min_limit, d.max_limit, d.slack_hold_time) == (0, 0, DQL_MAX_LIMIT, HZ)
    assert dql_avail(d) == 0
    dql_queued(d, 1000)
    assert dql_avail(d) == -1000


def test_limit_grows_when_the_queue_starves():
    d = fresh()
    dql_queued(d, 1000)
    # ovlimit = POSDIFF(1000, 0) = 1000, inprogress 0: starved.
    # limit = 0 + POSDIFF(1000, prev_num_queued 0) + prev_ovlimit 0 = 1000; adj = 1000 + 1000.
    dql_completed(d, 1000)
    assert (d.limit, get(d, DQL_ADJ_LIMIT), dql_avail(d)) == (1000, 2000, 1000)
    assert d.prev_ovlimit == 0  # the limit changed, so ovlimit was reset


def test_over_limit_last_interval_then_all_completed_also_counts_as_starved():
    d = fresh()
    dql_queued(d, 1000)
    dql_completed(d, 1000)                 # limit 1000, adj 2000, prev_num_queued 1000
    dql_queued(d, 600)
    dql_queued(d, 600)                     # num_queued 2200, avail 2000 - 2200 = -200
    assert dql_avail(d) == -200
    # completed 1600; ovlimit = POSDIFF(2200 - 1000, 1000) = 200; inprogress 600;
    # prev_inprogress = 1000 - 1000 = 0 -> neither branch; limit kept, ovlimit 200 kept.
    dql_completed(d, 600)
    assert (d.limit, get(d, DQL_ADJ_LIMIT), d.prev_ovlimit, dql_avail(d)) == (1000, 2600, 200, 400)
    # completed 2200 = prev_num_queued: all_prev_completed and prev_ovlimit 200 -> starved:
    # limit = 1000 + POSDIFF(2200, 2200) + 200 = 1200; adj = 1200 + 2200.
    dql_completed(d, 600)
    assert (d.limit, get(d, DQL_ADJ_LIMIT), d.prev_ovlimit) == (1200, 3400, 0)


def test_limit_shrinks_by_the_lowest_slack_once_the_hold_time_has_passed():
    clock = Clock()
    d = fresh(clock)
    dql_queued(d, 5000)
    dql_completed(d, 5000)        # starved at jiffy 0: limit 5000, adj 10000, slack_start 0
    assert (d.limit, get(d, DQL_ADJ_LIMIT)) == (5000, 10000)
    dql_queued(d, 2000)
    dql_queued(d, 2000)           # num_queued 9000
    clock.j = 10
    # completed 6000; ovlimit = POSDIFF(4000, 5000) = 0; inprogress 3000;
    # prev_inprogress = 5000 - 5000 = 0 -> not busy the whole interval: nothing.
    dql_completed(d, 1000)
    assert (d.limit, get(d, DQL_ADJ_LIMIT), d.lowest_slack) == (5000, 11000, UINT_MAX)
    dql_queued(d, 2000)           # num_queued 11000
    clock.j = 20
    # completed 7000; inprogress 4000; prev_inprogress 9000 - 6000 = 3000; not all previous done:
    # slack = POSDIFF(5000 + 0, 2 * 1000) = 3000 -> lowest 3000; 20 is not after 0 + 250: keep.
    dql_completed(d, 1000)
    assert (d.limit, get(d, DQL_ADJ_LIMIT), d.lowest_slack) == (5000, 12000, 3000)
    dql_queued(d, 1000)           # num_queued 12000
    clock.j = 260
    # completed 8500; inprogress 3500; prev_inprogress 11000 - 7000 = 4000:
    # slack = POSDIFF(5000, 2 * 1500) = 2000 -> lowest 2000; 260 is after 250:
    # limit = 5000 - 2000 = 3000, slack window restarts; adj = 3000 + 8500.
    dql_completed(d, 1500)
    assert (d.limit, get(d, DQL_ADJ_LIMIT), d.slack_start_time, d.lowest_slack) == (3000, 11500, 260, UINT_MAX)
    assert dql_avail(d) == -500


def test_slack_of_the_last_object_counts_when_the_previous_interval_was_over_limit():
    d = fresh()
    d.limit, d.num_completed, d.prev_num_queued = 1000, 0, 1500
    put(d, DQL_NUM_QUEUED, 1500)
    d.prev_ovlimit, d.prev_last_obj_cnt = 500, 1500
    put(d, DQL_LAST_OBJ_CNT, 1500)
    # count 700: completed 700; ovlimit POSDIFF(1500, 1000) = 500; inprogress 800;
    # prev_inprogress 1500; AFTER_EQ(700, 1500) false -> busy the whole interval:
    # slack = max(POSDIFF(1000 + 500, 2 * 700), POSDIFF(1500, 500)) = max(100, 1000) = 1000.
    dql_completed(d, 700)
    assert d.lowest_slack == 1000 and d.limit == 1000 and d.prev_ovlimit == 500


def test_limit_is_clamped_to_min_and_max():
    d = fresh()
    d.max_limit = 1500
    dql_queued(d, 5000)
    dql_completed(d, 5000)    # would be 5000
    assert (d.limit, get(d, DQL_ADJ_LIMIT)) == (1500, 6500)
    e = fresh()
    e.min_limit = 2000
    dql_queued(e, 500)
    dql_completed(e, 500)     # starved: 0 + 500 -> clamped up to 2000
    assert (e.limit, get(e, DQL_ADJ_LIMIT)) == (2000, 2500)


def test_counters_wrap_as_unsigned_32_bit():
    d = fresh()
    start = UINT_MAX - 99
    d.limit = 1000
    d.num_completed = d.prev_num_queued = start
    put(d, DQL_NUM_QUEUED, start)
    put(d, DQL_ADJ_LIMIT, (1000 + start) & UINT_MAX)
    assert get(d, DQL_ADJ_LIMIT) == 900
    dql_queued(d, 600)
    assert get(d, DQL_NUM_QUEUED) == 500 and dql_avail(d) == 400
    # completed 500 (wrapped); ovlimit POSDIFF(600, 1000) = 0; inprogress 0; prev_inprogress 0;
    # AFTER_EQ(500, 2^32 - 100) is true: nothing to adapt; adj = 1000 + 500.
    dql_completed(d, 600)
    assert (d.limit, get(d, DQL_ADJ_LIMIT), dql_avail(d)) == (1000, 1500, 1000)


def test_completing_more_than_queued_is_a_bug():
    d = fresh()
    dql_queued(d, 100)
    with pytest.raises(DqlBug):
        dql_completed(d, 101)


# --- netdev hooks -----------------------------------------------------------------------------
@pytest.fixture
def txq(net, monkeypatch):
    """The queue of a one-queue device with its qdisc live; ``dev.woken``: the queues scheduled, in order."""
    dev = NetDevice(net, "eth0", 1)
    dev_activate(dev)
    dev.woken = []
    monkeypatch.setattr(qdisc, "__netif_schedule", lambda q: dev.woken.append(q.dev_queue))
    return netdev_get_tx_queue(dev, 0)


def test_sent_sets_stack_xoff_when_avail_goes_negative(txq):
    netdev_tx_sent_queue(txq, 1000)  # limit 0: over at once
    assert netif_xmit_stopped(txq)
    assert not __netif_subqueue_stopped(txq.dev, 0)  # the driver did not stop it


def test_completion_clears_stack_xoff_and_schedules_the_queue(txq):
    dev = txq.dev
    netdev_tx_sent_queue(txq, 1000)
    netdev_tx_completed_queue(txq, 1, 1000)  # limit 1000, avail 1000
    assert not netif_xmit_stopped(txq) and dev.woken == [txq]
    netdev_tx_sent_queue(txq, 600)
    assert not netif_xmit_stopped(txq)       # avail 400
    netdev_tx_sent_queue(txq, 600)
    assert netif_xmit_stopped(txq)           # avail -200
    netdev_tx_completed_queue(txq, 1, 600)   # avail 400 (see the dql test above)
    assert not netif_xmit_stopped(txq) and dev.woken == [txq, txq]
    netdev_tx_completed_queue(txq, 0, 0)     # nothing completed: nothing happens
    assert dev.woken == [txq, txq]


def test_completion_does_not_schedule_a_queue_the_driver_still_holds(txq):
    dev = txq.dev
    netdev_tx_sent_queue(txq, 1000)
    netif_stop_subqueue(dev, 0)
    netdev_tx_completed_queue(txq, 1, 1000)
    assert __netif_subqueue_stopped(dev, 0) and dev.woken == []


def test_reset_forgets_in_flight_bytes(txq):
    netdev_tx_sent_queue(txq, 3000)
    assert bql_sysfs(txq) == {"limit": 0, "limit_min": 0, "limit_max": DQL_MAX_LIMIT,
                              "hold_time": 1000, "inflight": 3000}
    netdev_tx_reset_queue(txq)
    assert not netif_xmit_stopped(txq)
    assert bql_sysfs(txq)["inflight"] == 0 and txq.dql.limit == 0
