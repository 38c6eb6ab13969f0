"""Softirq pending bits, Linux handler order, restart limits, counters, CPU time; kernel timers.

Expected behaviour is kernel/softirq.c: handlers run lowest bit first (HI,
TIMER, NET_TX, NET_RX, BLOCK, IRQ_POLL, TASKLET, SCHED, HRTIMER, RCU) on the
CPU that raised them; /proc/softirqs counts executions, not raises;
__do_softirq restarts at most MAX_SOFTIRQ_RESTART (10) passes and while
jiffies < start + msecs_to_jiffies(2) (= 1 jiffy at HZ=250), then leaves
the rest to ksoftirqd. Timers fire at the tick where jiffies reaches
their expiry, in TIMER softirq context on the CPU that armed them.
"""
from sim.engine import MS, US
from stack.core.jiffies import HZ, TICK_PS, msecs_to_jiffies, usecs_to_jiffies
from stack.core.cputime import COSTS_PS
from stack.core.softirq import (HI_SOFTIRQ, MAX_SOFTIRQ_RESTART, NET_RX_SOFTIRQ, NET_TX_SOFTIRQ, RCU_SOFTIRQ,
                                TASKLET_SOFTIRQ, TIMER_SOFTIRQ)
from driver.platform.kernel import HZ as DRIVER_HZ


def recorder(net, log):
    def make(nr):
        def action(index):
            cpu = net.ctx.cpu
            log.append((nr, index, cpu.index, cpu.context))
        return action
    return make


def test_hz_matches_the_driver_kernel():
    assert HZ == DRIVER_HZ == 250
    assert TICK_PS == 4 * MS
    assert msecs_to_jiffies(2) == 1 and usecs_to_jiffies(2000) == 1 and usecs_to_jiffies(8000) == 2


def test_handlers_run_in_linux_order_on_the_raising_cpu_counted_once_each(net):
    log = []
    make = recorder(net, log)
    for nr in (HI_SOFTIRQ, TIMER_SOFTIRQ, NET_TX_SOFTIRQ, NET_RX_SOFTIRQ, TASKLET_SOFTIRQ, RCU_SOFTIRQ):
        net.softirq.open_softirq(nr, make(nr))
    with net.ctx.on_cpu(1, "hardirq:eth0"):
        for nr in (TASKLET_SOFTIRQ, NET_RX_SOFTIRQ, TIMER_SOFTIRQ, NET_TX_SOFTIRQ, TASKLET_SOFTIRQ):
            net.softirq.raise_softirq_irqoff(nr)
    assert log == []  # nothing runs inside the interrupt handler
    net.engine.run()
    assert log == [(TIMER_SOFTIRQ, 1, 1, "softirq:TIMER"), (NET_TX_SOFTIRQ, 1, 1, "softirq:NET_TX"),
                   (NET_RX_SOFTIRQ, 1, 1, "softirq:NET_RX"), (TASKLET_SOFTIRQ, 1, 1, "softirq:TASKLET")]
    assert net.softirq.count(TASKLET_SOFTIRQ, 1) == 1
    assert net.softirq.count(TASKLET_SOFTIRQ, 0) == 0
    assert net.softirq.count(HI_SOFTIRQ) == 0


def test_proc_softirqs_layout(net):
    with net.ctx.on_cpu(1, "hardirq:eth0"):
        net.softirq.raise_softirq_irqoff(NET_RX_SOFTIRQ)
    net.engine.run()
    lines = net.softirq.proc_softirqs().splitlines()
    assert lines[0] == " " * 20 + "CPU0       CPU1"
    assert lines[1 + NET_RX_SOFTIRQ] == "      NET_RX:          0          1"
    assert len(lines) == 11


def _irq(net, cpu: int, fn) -> None:
    """An interrupt on ``cpu`` whose handler is ``fn``: its exit runs the softirqs it raised."""
    net.host.sched.cpus[cpu].interrupt("x", fn)


def test_a_handler_that_raises_itself_restarts_ten_times_then_ksoftirqd_takes_over(net):
    runs = []
    sc = net.softirq.per_cpu[0]

    def tasklet(index):
        runs.append(sc.in_ksoftirqd)
        if len(runs) < 16:
            net.softirq.raise_softirq_irqoff(TASKLET_SOFTIRQ)

    net.softirq.open_softirq(TASKLET_SOFTIRQ, tasklet)
    _irq(net, 0, lambda: net.softirq.raise_softirq_irqoff(TASKLET_SOFTIRQ))
    net.engine.run()
    assert MAX_SOFTIRQ_RESTART == 10
    assert runs == [False] * 10 + [True] * 6
    assert sc.ksoftirqd_wakeups == 1 and sc.ksoftirqd_runs == 1
    assert net.softirq.count(TASKLET_SOFTIRQ, 0) == 16


def test_restart_stops_after_one_jiffy_of_softirq_time(net):
    runs = []
    sc = net.softirq.per_cpu[0]

    def tasklet(index):
        runs.append((net.engine.now, sc.in_ksoftirqd))
        net.ctx.cpu.charge(3 * MS)
        if len(runs) < 4:
            net.softirq.raise_softirq_irqoff(TASKLET_SOFTIRQ)

    net.softirq.open_softirq(TASKLET_SOFTIRQ, tasklet)
    _irq(net, 0, lambda: net.softirq.raise_softirq_irqoff(TASKLET_SOFTIRQ))
    net.engine.run()
    # Pass 1 at 0 ms (jiffy 0, end = 1); 3 ms is still jiffy 0 -> pass 2; 6 ms is jiffy 1 -> ksoftirqd.
    # ksoftirqd: pass 3 at 6 ms (end = 2); 9 ms is jiffy 2 -> stop, ksoftirqd runs again at once.
    assert runs == [(0, False), (3 * MS, False), (6 * MS, True), (9 * MS, True)]
    assert sc.ksoftirqd_wakeups == 1
    assert net.host.cpus[0].account["softirq:TASKLET"] == 12 * MS
    assert net.engine.now == 12 * MS


def test_handler_cpu_time_is_charged_to_its_softirq_context_and_elapses(net, host):
    net.softirq.open_softirq(NET_TX_SOFTIRQ, lambda index: net.ctx.cpu.charge(7 * US))

    def handler():
        net.ctx.cpu.charge(1 * US)
        net.softirq.raise_softirq_irqoff(NET_TX_SOFTIRQ)
    host.sched.cpus[1].interrupt("eth0", handler)
    net.engine.run()
    assert host.cpus[1].account["softirq:NET_TX"] == 7 * US
    assert host.cpus[1].account["hardirq:eth0"] == 1 * US
    assert net.engine.now == 8 * US  # the handler settled the CPU's whole charged time


# --- timers ----------------------------------------------------------------------------------
def test_a_timer_fires_at_its_jiffy_in_timer_softirq_on_the_arming_cpu(net):
    fired = []
    t = net.timers.timer_setup(lambda timer: fired.append(
        (net.engine.now, net.ctx.cpu.index, net.ctx.cpu.context)))
    with net.ctx.on_cpu(1, "task:x"):
        assert net.timers.mod_timer(t, 3) is False
    assert t.pending
    net.engine.run()
    # the callback runs in the TIMER softirq at the exit of the tick's interrupt, which took its time
    assert fired == [(3 * TICK_PS + COSTS_PS["local_timer_interrupt"], 1, "softirq:TIMER")] and not t.pending


def test_an_expiry_in_the_past_fires_at_the_next_tick(net):
    fired = []
    t = net.timers.timer_setup(lambda timer: fired.append(net.engine.now))
    net.engine.run(until=5 * TICK_PS + 7)
    net.timers.mod_timer(t, 2)
    net.engine.run()
    assert fired == [6 * TICK_PS + COSTS_PS["local_timer_interrupt"]]


def test_mod_timer_rearms_and_del_timer_cancels(net):
    fired = []
    t = net.timers.timer_setup(lambda timer: fired.append(net.engine.now))
    net.timers.mod_timer(t, 10)
    assert net.timers.mod_timer(t, 4) is True
    net.engine.run()
    assert fired == [4 * TICK_PS + COSTS_PS["local_timer_interrupt"]]
    net.timers.mod_timer(t, 8)
    assert net.timers.del_timer(t) is True and net.timers.del_timer(t) is False
    net.engine.run()
    assert fired == [4 * TICK_PS + COSTS_PS["local_timer_interrupt"]]
