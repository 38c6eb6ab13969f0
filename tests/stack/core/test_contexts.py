"""Bottom halves and spinlocks on the simulated CPUs (kernel/softirq.c, include/linux/spinlock.h).

* A softirq raised by an interrupt that lands while its CPU has bottom halves
  disabled does not run at the interrupt's exit (``in_interrupt()`` is true
  there); it runs at ``local_bh_enable``, on the stack of the task that
  enables them (cpu_time_facts §1, point 2).
* A context that finds a spinlock held on another CPU spins, busy, until the
  holder releases it; the spin is its CPU's time.
* Spinning on a lock held by the context an interrupt preempted, on the same
  CPU, is a deadlock.

Expected times are sums of the charges these tests make.
"""
from __future__ import annotations

import pytest

from sim.engine import US
from stack.core.softirq import NET_TX_SOFTIRQ
from stack.core.spinlock import (
    Deadlock,
    local_bh_disable,
    local_bh_enable,
    spin_lock,
    spin_lock_bh,
    spin_unlock,
    spin_unlock_bh,
    spinlock_t,
)


def _task(net, cpu: int, comm: str, body):
    run = net.host.sched.cpus[cpu]
    return run.start_task(comm, body, run).done


def _task_with_an_interrupt_raising_net_tx(net, bh_off: bool) -> list:
    """A 10 µs task on CPU 0 (bottom halves off throughout if ``bh_off``); at 2 µs a 1 µs interrupt raises
    NET_TX. Returns what ran when: the NET_TX handler's (time, context) and the task's marks."""
    ran = []
    net.softirq.open_softirq(NET_TX_SOFTIRQ, lambda index: ran.append((net.engine.now, net.ctx.cpu.context)))

    def body(run):
        if bh_off:
            local_bh_disable(net)
        run.cpu.charge(10 * US)
        run.settle()
        ran.append((net.engine.now, "task done"))
        if bh_off:
            local_bh_enable(net)     # pending softirqs run here, in this task
            ran.append((net.engine.now, "after enable"))

    def handler():
        net.ctx.cpu.charge(1 * US)
        net.softirq.raise_softirq_irqoff(NET_TX_SOFTIRQ)

    _task(net, 0, "app", body)
    net.engine.call_later(2 * US, net.host.sched.cpus[0].interrupt, "eth0", handler)
    net.engine.run()
    return ran


def test_softirqs_raised_under_local_bh_disable_wait_for_local_bh_enable(net):
    ran = _task_with_an_interrupt_raising_net_tx(net, bh_off=True)
    # 10 µs of the task's own time + the 1 µs handler that preempted it, then NET_TX at the enable
    assert ran == [(11 * US, "task done"), (11 * US, "softirq:NET_TX"), (11 * US, "after enable")]
    assert net.softirq.count(NET_TX_SOFTIRQ, 0) == 1


def test_without_local_bh_disable_the_softirq_runs_at_the_interrupt_exit(net):
    ran = _task_with_an_interrupt_raising_net_tx(net, bh_off=False)
    assert ran == [(3 * US, "softirq:NET_TX"), (11 * US, "task done")]


def test_a_lock_held_on_one_cpu_makes_the_other_spin_for_the_rest_of_the_critical_section(net):
    lock = spinlock_t(net, "test")
    log = []

    def holder(run):
        spin_lock(lock)
        run.cpu.charge(5 * US)
        spin_unlock(lock)
        log.append(("released", net.engine.now))

    def waiter(run):
        run.sleep(1 * US)
        spin_lock(lock)
        log.append(("acquired", net.engine.now))
        spin_unlock(lock)

    _task(net, 0, "holder", holder)
    _task(net, 1, "waiter", waiter)
    net.engine.run()
    lock_ps, line_ps = net.costs["spin_lock"], net.costs["lock_line_transfer"]
    held_until = lock_ps + 5 * US
    assert log == [("released", held_until), ("acquired", held_until)]
    assert lock.contended == 1 and lock.acquired == 2
    run1 = net.host.sched.cpus[1]
    assert run1.spin_ps == held_until - 1 * US
    net.host.sched.flush_accounts()
    # CPU 1 was busy spinning, then paid the lock and its cache line moving from CPU 0
    assert net.host.cpus[1].account["task:waiter"] == held_until - 1 * US + lock_ps + line_ps


def test_an_interrupt_spinning_on_a_lock_its_cpu_holds_is_a_deadlock(net):
    lock = spinlock_t(net, "sk_lock.slock")

    def task(run):
        spin_lock(lock)                 # without _bh/_irqsave: the interrupt can come in
        run.cpu.charge(5 * US)
        run.settle()
        spin_unlock(lock)

    _task(net, 0, "app", task)
    net.engine.call_later(1 * US, net.host.sched.cpus[0].interrupt, "eth0", spin_lock, lock)
    with pytest.raises(Deadlock, match="same CPU"):
        net.engine.run()


def test_spin_lock_bh_keeps_the_softirq_that_takes_the_lock_off_its_cpu_until_the_unlock(net):
    lock = spinlock_t(net, "sk_lock.slock")
    log = []

    def softirq(index):
        spin_lock(lock)                 # bh_lock_sock: would deadlock if it could run inside the section
        log.append(("softirq", net.engine.now))
        spin_unlock(lock)

    def task(run):
        spin_lock_bh(lock)
        run.cpu.charge(5 * US)
        run.settle()
        log.append(("unlock", net.engine.now))
        spin_unlock_bh(lock)

    net.softirq.open_softirq(NET_TX_SOFTIRQ, softirq)
    _task(net, 0, "app", task)
    net.engine.call_later(1 * US, net.host.sched.cpus[0].interrupt, "eth0",
                          net.softirq.raise_softirq_irqoff, NET_TX_SOFTIRQ)
    net.engine.run()
    assert [what for what, _ in log] == ["unlock", "softirq"]
