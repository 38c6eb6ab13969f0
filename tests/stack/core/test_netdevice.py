"""TX queue state, carrier, the ndo_start_xmit hand-off and the TX watchdog.

Expected behaviour is include/linux/netdevice.h and net/sched/sch_generic.c:
DRV_XOFF is the driver's stop bit, STACK_XOFF BQL's; netif_xmit_stopped
sees either, __netif_subqueue_stopped only the driver's; waking a queue
that was stopped schedules it (once), waking a running one does nothing;
the watchdog fires every watchdog_timeo jiffies (5 s = 5 * HZ by default)
and declares a timeout when a stopped queue's trans_start is more than
watchdog_timeo jiffies old (time_after: strictly more).
"""
import pytest

from sim.engine import MS, S
from stack.core.cputime import COSTS_PS
from stack.core.jiffies import HZ, TICK_PS
from stack.core import qdisc
from stack.core.bitops import clear_bit, set_bit
from stack.core.dev import dev_close, dev_open
from stack.core.netdevice import (NETDEV_TX_BUSY, NETDEV_TX_OK, __QUEUE_STATE_STACK_XOFF, NetDevice,
                                  __netif_subqueue_stopped, netdev_get_tx_queue, netdev_start_xmit,
                                  netif_carrier_off, netif_carrier_ok, netif_carrier_on, netif_running,
                                  netif_schedule_queue, netif_stop_subqueue, netif_tx_start_all_queues,
                                  netif_tx_stop_all_queues, netif_tx_stop_queue, netif_tx_wake_queue,
                                  netif_wake_subqueue, netif_xmit_stopped, txq_trans_update)
from stack.core.qdisc import dev_activate
from stack.core.skbuff import consume_skb, skb_from_bytes
from stack.core.softirq import TIMER_SOFTIRQ


@pytest.fixture
def dev(net, monkeypatch):
    """A 4-queue device whose queues have their own qdiscs; ``woken``: the queues scheduled, in order."""
    d = NetDevice(net, "eth0", num_tx_queues=4)
    dev_activate(d)
    d.woken = []
    monkeypatch.setattr(qdisc, "__netif_schedule", lambda q: d.woken.append(q.dev_queue))
    return d


def run(net, gen):
    """Run a generator function's body as a process to completion; its return value."""
    proc = net.engine.spawn(gen)
    net.engine.run(until=proc)
    return proc.value


def test_a_new_device_is_present_down_with_carrier_and_all_queues_running(dev):
    assert not netif_running(dev) and netif_carrier_ok(dev)
    assert [netdev_get_tx_queue(dev, i).index for i in range(4)] == [0, 1, 2, 3]
    assert not any(netif_xmit_stopped(q) for q in dev._tx)


def test_stop_and_wake_one_subqueue(dev):
    txq = netdev_get_tx_queue(dev, 2)
    netif_stop_subqueue(dev, 2)
    assert __netif_subqueue_stopped(dev, 2) and netif_xmit_stopped(txq)
    assert not __netif_subqueue_stopped(dev, 1)
    netif_wake_subqueue(dev, 2)
    assert not __netif_subqueue_stopped(dev, 2) and not netif_xmit_stopped(txq)
    assert dev.woken == [txq]
    netif_wake_subqueue(dev, 2)  # already running: no second schedule
    assert dev.woken == [txq]


def test_start_all_clears_the_stop_without_scheduling(dev):
    netif_tx_stop_all_queues(dev)
    assert all(netif_xmit_stopped(q) for q in dev._tx)
    netif_tx_start_all_queues(dev)
    assert not any(netif_xmit_stopped(q) for q in dev._tx)
    assert dev.woken == []


def test_stack_xoff_stops_xmit_but_is_not_the_driver_stop(dev):
    txq = netdev_get_tx_queue(dev, 0)
    set_bit(txq.ctx.cpu, __QUEUE_STATE_STACK_XOFF, txq.state_addr)
    assert netif_xmit_stopped(txq)
    assert not __netif_subqueue_stopped(dev, 0)
    netif_tx_wake_queue(txq)  # DRV_XOFF was not set: nothing to wake
    assert dev.woken == [] and netif_xmit_stopped(txq)
    netif_schedule_queue(txq)  # still stopped: BQL's wake path does not schedule
    assert dev.woken == []
    clear_bit(txq.ctx.cpu, __QUEUE_STATE_STACK_XOFF, txq.state_addr)
    netif_schedule_queue(txq)
    assert dev.woken == [txq]


def test_carrier_on_off_counts_transitions(dev):
    netif_carrier_off(dev)
    netif_carrier_off(dev)
    assert not netif_carrier_ok(dev)
    netif_carrier_on(dev)
    assert netif_carrier_ok(dev)
    assert (dev.carrier_down_count, dev.carrier_up_count) == (1, 1)


def test_start_xmit_hands_over_with_the_more_hint_and_stamps_trans_start(net, dev):
    sent = []

    def xmit(skb, d):
        if __netif_subqueue_stopped(d, skb.queue_mapping):
            return NETDEV_TX_BUSY
        sent.append((skb.id, skb.xmit_more))
        consume_skb(skb)
        return NETDEV_TX_OK

    dev.ndo_start_xmit = xmit
    txq = netdev_get_tx_queue(dev, 1)
    net.engine.run(until=3 * TICK_PS + 1)
    skb = skb_from_bytes(net.skb, bytes(60))
    skb.queue_mapping = 1
    netif_tx_stop_queue(txq)
    assert netdev_start_xmit(skb, dev, txq, more=True) == NETDEV_TX_BUSY
    assert txq.trans_start == 0
    netif_tx_wake_queue(txq)
    assert netdev_start_xmit(skb, dev, txq, more=True) == NETDEV_TX_OK
    assert sent == [(skb.id, True)] and txq.trans_start == 3
    net.skb.assert_no_leaks()


def test_dev_open_and_close_call_the_driver_and_may_sleep(net, dev):
    calls = []

    def ndo_open(d):
        calls.append(("open", net.engine.now))
        yield 5 * MS
        return 0

    dev.ndo_open = ndo_open
    dev.ndo_stop = lambda d: calls.append(("stop", net.engine.now))
    assert run(net, dev_open(dev)) == 0
    assert netif_running(dev)
    run(net, dev_close(dev))
    assert not netif_running(dev)
    assert calls == [("open", 0), ("stop", 5 * MS)]
    dev.ndo_open = lambda d: -12  # -ENOMEM
    assert run(net, dev_open(dev)) == -12 and not netif_running(dev)


def test_watchdog_declares_a_timeout_for_a_queue_stopped_too_long(net, dev):
    timeouts = []
    dev.ndo_tx_timeout = lambda d, q: timeouts.append(
        (q, net.engine.now, net.ctx.cpu.index, net.ctx.cpu.context))
    run(net, dev_open(dev))
    assert dev.watchdog_timeo == 5 * HZ
    netif_stop_subqueue(dev, 1)  # trans_start 0
    net.engine.run(until=11 * S)
    # 5 s: jiffies 1250 is not after 0 + 1250; 10 s: 2500 is -> timeout on queue 1.
    assert timeouts == [(1, 10 * S + COSTS_PS["local_timer_interrupt"], 0, "softirq:TIMER")]   # after the tick's interrupt
    assert netdev_get_tx_queue(dev, 1).trans_timeout == 1
    assert net.softirq.count(TIMER_SOFTIRQ, 0) == 2


def test_watchdog_leaves_a_queue_that_transmits_or_a_link_that_is_down(net, dev):
    timeouts = []
    dev.ndo_tx_timeout = lambda d, q: timeouts.append(q)
    run(net, dev_open(dev))
    txq = netdev_get_tx_queue(dev, 0)
    netif_tx_stop_queue(txq)
    net.engine.run(until=7 * S)
    txq_trans_update(txq)  # a transmit at 7 s: the stall clock restarts
    net.engine.run(until=11 * S)
    assert timeouts == []  # at 10 s: 2500 is not after 1750 + 1250
    netif_carrier_off(dev)
    net.engine.run(until=30 * S)
    assert timeouts == []  # no carrier: the watchdog stops checking (and re-arming)
    # 5 s and 10 s; the carrier loss at 11 s deactivates the qdiscs, and sch_generic.c's
    # dev_deactivate_many takes the watchdog down with them (dev_watchdog_down).
    assert net.softirq.count(TIMER_SOFTIRQ) == 2
