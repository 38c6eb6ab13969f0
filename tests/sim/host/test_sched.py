"""Contexts on simulated CPUs (sim.host.sched): time spent, preemption by interrupts, masking, accounting.

Expected times are sums of the charges the test itself makes; nothing is read back from the model.
"""
from __future__ import annotations

import pytest

from sim.engine import NS, US, Engine
from sim.engine.choice import explore
from sim.host import Host


@pytest.fixture
def host():
    return Host(Engine(), "x86-tso", ncpus=2)


def _task(host, cpu: int, comm: str, body):
    run = host.sched.cpus[cpu]
    return run.start_task(comm, body, run).done


def test_a_task_is_busy_for_what_it_charges_and_the_cpu_idles_otherwise(host):
    log = []

    def body(run):
        run.cpu.charge(3 * US)
        run.settle()
        log.append(host.engine.now)
        run.sleep(10 * US)              # off the CPU: idle time
        run.cpu.charge(2 * US)
        run.settle()
        log.append(host.engine.now)

    done = _task(host, 0, "t", body)
    host.engine.run()
    assert done.triggered and log == [3 * US, 15 * US]
    host.sched.flush_accounts()
    assert host.cpus[0].account["task:t"] == 5 * US
    assert host.cpus[0].account["idle"] == 10 * US


def test_an_interrupt_preempts_a_task_and_the_task_takes_longer_by_the_handler(host):
    ends = []

    def body(run):
        run.cpu.charge(10 * US)
        run.settle()
        ends.append(host.engine.now)

    def handler():
        host.cpus[0].charge(4 * US)

    _task(host, 0, "app", body)
    host.engine.call_later(3 * US, host.sched.cpus[0].interrupt, "eth0", handler)
    host.engine.run()
    assert ends == [14 * US]        # 10 µs of its own + the 4 µs handler that preempted it at 3 µs
    host.sched.flush_accounts()
    acct = host.cpus[0].account
    assert acct["task:app"] == 10 * US and acct["hardirq:eth0"] == 4 * US
    assert host.sched.cpus[0].preemptions == 1


def test_masked_interrupts_wait_for_local_irq_restore(host):
    seen = []

    def body(run):
        run.local_irq_disable()
        run.cpu.charge(5 * US)
        run.settle()                     # the interrupt arrives at 1 µs: it must wait
        seen.append(("restore", host.engine.now))
        run.local_irq_enable()
        run.cpu.charge(1 * US)
        run.settle()
        seen.append(("end", host.engine.now))

    def handler():
        seen.append(("irq", host.engine.now))
        host.cpus[0].charge(2 * US)

    _task(host, 0, "app", body)
    host.engine.call_later(1 * US, host.sched.cpus[0].interrupt, "eth0", handler)
    host.engine.run()
    assert seen == [("restore", 5 * US), ("irq", 5 * US), ("end", 8 * US)]


def test_an_interrupt_on_the_other_cpu_runs_concurrently(host):
    ends = []

    def body(run):
        run.cpu.charge(10 * US)
        run.settle()
        ends.append(("task", host.engine.now))

    def handler():
        host.cpus[1].charge(4 * US)

    _task(host, 0, "app", body)
    host.engine.call_later(3 * US, host.sched.cpus[1].interrupt, "eth1", handler)
    host.engine.run()
    assert ends == [("task", 10 * US)]     # CPU 1's handler took nothing from CPU 0


def test_runnable_tasks_share_a_cpu_at_reschedule_points_in_fifo_order(host):
    order = []

    def body(run, name):
        for i in range(2):
            run.cpu.charge(1 * US)
            run.settle()
            order.append((name, i, host.engine.now))
            run.cond_resched()

    for name in ("a", "b"):
        run = host.sched.cpus[0]
        run.start_task(name, body, run, name)
    host.engine.run()
    assert order == [("a", 0, 1 * US), ("b", 0, 2 * US), ("a", 1, 3 * US), ("b", 1, 4 * US)]


def test_each_cpu_accounts_exactly_the_elapsed_time_under_load(host):
    """Tasks, interrupts on both CPUs, sleeps and preemptions: every CPU's names sum to the elapsed time."""
    def body(run, n):
        for i in range(n):
            run.cpu.charge((1 + i % 3) * US)
            run.settle()
            if i % 4 == 3:
                run.sleep(2 * US)

    for cpu in (0, 1):
        run = host.sched.cpus[cpu]
        run.start_task(f"w{cpu}", body, run, 20 + cpu)
    for k in range(30):
        cpu = k % 2
        host.engine.call_later(k * 700 * NS, host.sched.cpus[cpu].interrupt, "irq",
                               host.cpus[cpu].charge, 300 * NS)
    host.engine.run()
    end = host.engine.now
    host.engine.run(until=end + 5 * US)   # some trailing idle time too
    host.sched.flush_accounts()
    for cpu in host.cpus:
        assert sum(cpu.account.values()) == end + 5 * US
        assert cpu.account["hardirq:irq"] == 15 * 300 * NS


def test_sleeping_with_interrupts_masked_is_a_bug(host):
    def body(run):
        run.local_irq_disable()
        run.sleep(1 * US)

    done = _task(host, 0, "bad", body)
    with pytest.raises(RuntimeError, match="scheduling while atomic"):
        host.engine.run()
    assert done.triggered and not done.ok


@pytest.mark.parametrize("interleave, outcomes", [(False, {1}), (True, {0, 1})])
def test_interleave_makes_every_memory_access_a_point_where_the_other_cpu_may_go_first(interleave, outcomes):
    """A writer on CPU 0 and a reader on CPU 1 started at the same time: without interleaving points
    the writer's zero-time code runs to its end first; with them, the reader may go first."""
    a = 0x1000

    def run_once(policy):
        host = Host(Engine(policy), "sc", ncpus=2)
        host.sched.interleave = interleave
        seen = []

        def writer(run):
            run.cpu.store(a, 8, 1)

        def reader(run):
            seen.append(run.cpu.load(a, 8))

        for cpu, body in ((0, writer), (1, reader)):
            run = host.sched.cpus[cpu]
            run.start_task(body.__name__, body, run)
        host.engine.run()
        return seen[0]

    assert explore(run_once).outcome_set == outcomes
