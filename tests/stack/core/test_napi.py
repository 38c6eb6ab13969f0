"""NAPI scheduling and net_rx_action (stack_facts §9.4, §10; net/core/dev.c).

Expected behaviour: napi_schedule from a hard-IRQ handler puts the napi on
that CPU's poll list and raises NET_RX there; the poll runs on that CPU in
softirq:NET_RX context with budget = weight (64); a poll that returns its
whole weight is polled again; napi_complete_done clears SCHED and answers
True (re-enable the IRQ) unless a schedule was missed meanwhile; one
net_rx_action run stops after netdev_budget (300) packets or when jiffies
reach start + usecs_to_jiffies(netdev_budget_usecs) — counting time_squeeze
— and puts back, in order, the unpolled napis, the newly scheduled ones,
then the repolls.
"""
import pytest

from driver.platform import Kernel
from sim.engine import MS, NS, US, Engine
from sim.host import Host
from stack.core.netcore import NetCore
from stack.core.napi import (NAPIF_STATE_MISSED, NAPIF_STATE_NPSVC, NAPIF_STATE_SCHED, napi_complete_done,
                             napi_disable, napi_enable, napi_schedule, napi_struct, netif_napi_add)
from stack.core.netdevice import NetDevice
from stack.core.softirq import NET_RX_SOFTIRQ


def state(napi) -> int:
    """The napi's state word, loaded by the current CPU."""
    return napi.net.ctx.cpu.load(napi.state_addr, 8)


def make_napi(net, dev, name, results, log, charge_ps=0):
    """A napi whose poll returns the next of ``results`` (completing when below the budget)."""
    napi = napi_struct(name)
    napi.priv = {"completed": []}
    it = iter(results)

    def poll(n, budget):
        cpu = net.ctx.cpu
        log.append((name, cpu.index, cpu.context, budget, net.engine.now))
        if charge_ps:
            cpu.charge(charge_ps)
        work = next(it)
        if work < budget:
            n.priv["completed"].append(napi_complete_done(n, work))
        return work

    netif_napi_add(dev, napi, poll)
    napi_enable(napi)
    return napi


def hardirq(net, cpu, fn):
    with net.ctx.on_cpu(cpu, "hardirq:eth0-TxRx-0"):
        return fn()


@pytest.fixture
def dev(net):
    return NetDevice(net, "eth0", 4)


def test_irq_handler_schedules_napi_and_it_is_polled_on_that_cpu_in_net_rx(net, dev):
    log = []
    napi = make_napi(net, dev, "q0", [3], log)
    assert hardirq(net, 1, lambda: napi_schedule(napi)) is True
    assert net.softirq.per_cpu[1].pending == 1 << NET_RX_SOFTIRQ
    assert net.softirq.per_cpu[0].pending == 0
    assert log == []
    net.engine.run()
    assert log == [("q0", 1, "softirq:NET_RX", 64, 0)]
    assert napi.priv["completed"] == [True] and state(napi) == 0
    assert net.softirq.count(NET_RX_SOFTIRQ, 1) == 1 and net.softirq.count(NET_RX_SOFTIRQ, 0) == 0


def test_with_the_driver_kernel_the_msi_handler_path_charges_hardirq_then_net_rx():
    latency = 500 * NS   # MSI landed -> handler starts, fixed here (sim.host.timing draws it otherwise)
    host = Host(Engine(), "x86-tso", ncpus=2, msi_latency_ps=latency)
    k = Kernel(host)
    net = NetCore(host, ctx=k)
    dev = NetDevice(net)
    log = []
    napi = make_napi(net, dev, "q0", [1], log, charge_ps=1 * US)
    msg = k.request_irq("eth0-TxRx-0", lambda irq, dev_id: napi_schedule(napi), cpu=1)
    host.msi.deliver(msg.address, msg.data)
    host.engine.run()
    # NET_RX runs at the interrupt's exit, after the handler's 200 ns of entry cost have passed
    assert log == [("q0", 1, "softirq:NET_RX", 64, latency + 200 * NS)]
    acct = host.cpus[1].account
    assert acct["hardirq:eth0-TxRx-0"] == 200 * NS  # the platform's hardirq entry cost
    assert acct["softirq:NET_RX"] == 1 * US
    assert host.engine.now == latency + 1200 * NS
    assert net.softirq.count(NET_RX_SOFTIRQ) == 1


def test_a_second_schedule_while_scheduled_is_missed_and_polls_once_more(net, dev):
    log = []
    napi = make_napi(net, dev, "q0", [1, 1], log)
    hardirq(net, 0, lambda: napi_schedule(napi))
    assert hardirq(net, 0, lambda: napi_schedule(napi)) is False  # SCHED already: MISSED
    net.engine.run()
    # 1st poll: complete_done sees MISSED -> stays SCHED, back on the list, False (IRQ stays off);
    # NET_RX runs again (a restart) and the 2nd poll completes for real.
    assert [e[0] for e in log] == ["q0", "q0"]
    assert napi.priv["completed"] == [False, True] and state(napi) == 0
    assert net.softirq.count(NET_RX_SOFTIRQ, 0) == 2


def test_a_poll_that_uses_its_whole_weight_is_polled_again_then_stops(net, dev):
    log = []
    napi = make_napi(net, dev, "q0", [64, 10], log)
    hardirq(net, 0, lambda: napi_schedule(napi))
    net.engine.run()
    assert len(log) == 2 and napi.work == 74
    assert state(napi) == 0 and napi.priv["completed"] == [True]
    assert net.softnet_data[0].time_squeeze == 0
    net.engine.run()
    assert len(log) == 2  # completed: nothing polls it any more


def test_budget_of_300_spans_napis_and_squeezes(net, dev):
    log = []
    napis = [make_napi(net, dev, f"q{i}", [64, 0], log) for i in range(1, 7)]
    for n in napis:
        hardirq(net, 0, lambda n=n: napi_schedule(n))
    net.engine.run()
    # Run 1: q1..q5 use 5 x 64 = 320 >= 300 -> time_squeeze; back: [q6] + [] + [q1..q5].
    # Run 2: q6 64 (repoll), q1..q5 complete with 0.  Run 3: q6 completes.
    assert [e[0] for e in log] == ["q1", "q2", "q3", "q4", "q5", "q6"] * 2
    assert all(e[3] == 64 for e in log)
    assert net.softnet_data[0].time_squeeze == 1
    assert net.softirq.count(NET_RX_SOFTIRQ, 0) == 3
    assert all(state(n) == 0 for n in napis)


@pytest.mark.parametrize("budget_usecs,squeezes,net_rx_runs", [
    # Default 2*USEC_PER_SEC/HZ = 8000 us = 2 jiffies. Run 1 (limit j2): q1 ends 3 ms (j0), q2 6 ms (j1),
    # q3 9 ms (j2) -> squeeze. Run 2 by ksoftirqd at 9 ms (limit j4): q4 ends 12 ms (j3), q5 15 ms (j3).
    (8000, 1, 2),
    # 2000 us (the 4.12 default) = 1 jiffy. Run 1 (limit j1): q1 3 ms (j0), q2 6 ms (j1) -> squeeze;
    # run 2 at 6 ms (limit j2): q3 9 ms (j2) -> squeeze; run 3 at 9 ms (limit j3): q4 12 ms (j3) -> squeeze;
    # run 4 at 12 ms (limit j4): q5 15 ms (j3).
    (2000, 3, 4),
])
def test_time_limit_squeezes_and_leaves_the_rest_to_ksoftirqd(net, dev, budget_usecs, squeezes, net_rx_runs):
    net.netdev_budget_usecs = budget_usecs
    log = []
    napis = [make_napi(net, dev, f"q{i}", [1], log, charge_ps=3 * MS) for i in range(1, 6)]
    for n in napis:
        hardirq(net, 0, lambda n=n: napi_schedule(n))
    net.engine.run()
    assert [e[0] for e in log] == ["q1", "q2", "q3", "q4", "q5"]
    assert [e[4] for e in log] == [0, 3 * MS, 6 * MS, 9 * MS, 12 * MS]
    assert net.softnet_data[0].time_squeeze == squeezes
    assert net.softirq.count(NET_RX_SOFTIRQ, 0) == net_rx_runs
    # The first squeeze re-raised NET_RX after a jiffy of softirq time: ksoftirqd ran the rest.
    assert net.softirq.per_cpu[0].ksoftirqd_wakeups == 1
    assert net.host.cpus[0].account["softirq:NET_RX"] == 15 * MS
    assert net.engine.now == 15 * MS


def test_napi_stays_disabled_until_enabled_and_remembers_a_missed_schedule(net, dev):
    log = []
    napi = napi_struct("q0")
    polls = iter([0, 0])

    def poll(n, budget):
        log.append(n.name)
        napi_complete_done(n, 0)
        return next(polls)

    netif_napi_add(dev, napi, poll)
    assert state(napi) == NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC
    assert hardirq(net, 0, lambda: napi_schedule(napi)) is False
    assert net.softirq.per_cpu[0].pending == 0
    napi_enable(napi)
    assert state(napi) == NAPIF_STATE_MISSED  # Linux's napi_enable clears SCHED|NPSVC only
    assert hardirq(net, 0, lambda: napi_schedule(napi)) is True
    net.engine.run()
    assert log == ["q0", "q0"] and state(napi) == 0


def test_napi_disable_waits_for_the_scheduled_poll_then_owns_the_napi(net, dev):
    log = []
    napi = make_napi(net, dev, "q0", [64], log)  # whole weight: the core completes it (disable pending)
    done = []

    def disabler():
        hardirq(net, 0, lambda: napi_schedule(napi))  # NET_RX now waits behind this process
        yield from napi_disable(napi)
        done.append(net.engine.now)

    net.engine.spawn(disabler())
    net.engine.run()
    assert len(log) == 1                 # polled once, not repolled: disable was pending
    assert done == [20 * US]             # one usleep_range(20, 200) while SCHED was set
    assert state(napi) == NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC
    assert hardirq(net, 0, lambda: napi_schedule(napi)) is False
    net.engine.run()
    assert len(log) == 1
