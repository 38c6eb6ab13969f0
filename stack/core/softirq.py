"""Softirqs: per-CPU pending bits, run where Linux runs them, on the stack of what invoked them.

What Linux does (``kernel/softirq.c``, cpu_time_facts §1) and how the model maps it:

* ``raise_softirq_irqoff(nr)`` sets bit ``nr`` in this CPU's pending mask.
  In interrupt context (hardirq, serving a softirq, bottom halves disabled:
  ``in_interrupt()``) that is all; outside it, ksoftirqd is woken.
* Softirqs start at exactly three places: **interrupt exit**
  (:meth:`Softirq.irq_exit`, on the hardirq's stack, if the interrupted code
  was not itself in interrupt context), **``local_bh_enable``** when the
  disable count drops to zero (on the caller's stack: a task that enables
  bottom halves runs the pending softirqs), and **ksoftirqd/N**, a task per
  CPU.
* ``__do_softirq`` (:meth:`Softirq.do_softirq`): take the pending mask,
  clear it, run each set bit's handler from the lowest bit up (HI, TIMER,
  NET_TX, NET_RX, BLOCK, IRQ_POLL, TASKLET, SCHED, HRTIMER, RCU) with
  interrupts enabled, counting one execution per bit (``/proc/softirqs``).
  If handlers raised more, restart -- at most :data:`MAX_SOFTIRQ_RESTART`
  passes and while less than :data:`MAX_SOFTIRQ_TIME_MS` has passed -- else
  wake ksoftirqd (``ksoftirqd_wakeups``).
* CPU time: the handlers run in their CPU's time, accounted to
  ``softirq:NAME`` (top's ``si``); an interrupt may preempt them.

Not modelled: the 4.9-6.4 "let ksoftirqd do its job" deferral (while
ksoftirqd is runnable, ``irq_exit`` and ``local_bh_enable`` run nothing), and
``need_resched()`` ending the loop early.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

from .jiffies import jiffies, msecs_to_jiffies, time_before

__all__ = [
    "HI_SOFTIRQ", "TIMER_SOFTIRQ", "NET_TX_SOFTIRQ", "NET_RX_SOFTIRQ", "BLOCK_SOFTIRQ",
    "IRQ_POLL_SOFTIRQ", "TASKLET_SOFTIRQ", "SCHED_SOFTIRQ", "HRTIMER_SOFTIRQ", "RCU_SOFTIRQ",
    "NR_SOFTIRQS", "SOFTIRQ_NAMES", "MAX_SOFTIRQ_RESTART", "MAX_SOFTIRQ_TIME_MS",
    "Softirq", "SoftirqCpu", "tasklet_struct",
]

(HI_SOFTIRQ, TIMER_SOFTIRQ, NET_TX_SOFTIRQ, NET_RX_SOFTIRQ, BLOCK_SOFTIRQ, IRQ_POLL_SOFTIRQ,
 TASKLET_SOFTIRQ, SCHED_SOFTIRQ, HRTIMER_SOFTIRQ, RCU_SOFTIRQ) = range(10)
NR_SOFTIRQS = 10
#: ``softirq_to_name``, the row labels of /proc/softirqs.
SOFTIRQ_NAMES = ("HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED",
                 "HRTIMER", "RCU")
#: Passes of ``__do_softirq`` before the rest is left to ksoftirqd.
MAX_SOFTIRQ_RESTART = 10
#: Time budget of one ``__do_softirq`` (``msecs_to_jiffies(2)``: 1 jiffy at HZ=250).
MAX_SOFTIRQ_TIME_MS = 2


class tasklet_struct:
    """``struct tasklet_struct``: ``func()`` run once from TASKLET_SOFTIRQ per :meth:`Softirq.tasklet_schedule`."""

    __slots__ = ("func", "scheduled", "runs")

    def __init__(self, func: Callable[[], object]):
        self.func = func
        #: ``TASKLET_STATE_SCHED``: queued on a CPU's tasklet_vec, not yet run.
        self.scheduled = False
        self.runs = 0


class SoftirqCpu:
    """One CPU's softirq state: pending mask, per-vector execution counts, ksoftirqd, tasklet_vec."""

    __slots__ = ("index", "cpu", "pending", "counts", "ksoftirqd_wakeups", "ksoftirqd_runs",
                 "in_ksoftirqd", "ksoftirqd", "_wake", "tasklet_vec")

    def __init__(self, index: int, cpu):
        self.index = index
        self.cpu = cpu
        self.pending = 0
        #: Handler executions per vector (a /proc/softirqs column).
        self.counts = [0] * NR_SOFTIRQS
        self.ksoftirqd_wakeups = 0
        self.ksoftirqd_runs = 0
        #: True while ksoftirqd runs the softirqs (tcp_small_queue_check looks).
        self.in_ksoftirqd = False
        #: The ksoftirqd/N task (its Context).
        self.ksoftirqd = None
        self._wake = None
        #: Tasklets scheduled on this CPU, in order (``tasklet_vec``).
        self.tasklet_vec: deque[tasklet_struct] = deque()


class Softirq:
    """The softirq machinery of one host: handlers, per-CPU state, and the ksoftirqd tasks.

    ``ctx`` is the execution context (``.cpu``, see :mod:`stack.core.context`)
    that tells which CPU raises.
    """

    def __init__(self, engine, host, ctx):
        self.engine = engine
        self.ctx = ctx
        self.sched = host.sched
        self.per_cpu = [SoftirqCpu(i, cpu) for i, cpu in enumerate(host.cpus)]
        self._actions: list[Callable[[int], object] | None] = [None] * NR_SOFTIRQS
        self._contexts = tuple(f"softirq:{name}" for name in SOFTIRQ_NAMES)
        self._max_time_j = msecs_to_jiffies(MAX_SOFTIRQ_TIME_MS)
        host.sched.irq_exit = self.irq_exit
        for sc in self.per_cpu:
            sc.ksoftirqd = host.sched.cpus[sc.index].start_task(f"ksoftirqd/{sc.index}", self._ksoftirqd, sc)
        self.open_softirq(TASKLET_SOFTIRQ, self.tasklet_action)   # softirq_init

    # --- registration and raising ------------------------------------------------
    def open_softirq(self, nr: int, action: Callable[[int], object]) -> None:
        """Install ``action(cpu_index)`` as the handler of vector ``nr`` (replacing any)."""
        self._actions[nr] = action

    def raise_softirq_irqoff(self, nr: int) -> None:
        """Mark ``nr`` pending on the current CPU and make sure it will run there."""
        self.raise_on(self.ctx.cpu.index, nr)

    #: Linux's raise_softirq only differs in masking interrupts around the above.
    raise_softirq = raise_softirq_irqoff

    def raise_on(self, index: int, nr: int) -> None:
        """Mark ``nr`` pending on CPU ``index``; outside that CPU's interrupt context, wake its ksoftirqd."""
        sc = self.per_cpu[index]
        sc.pending |= 1 << nr
        running = self.sched.running
        if running is not None and running.run.index == index and running.run.in_interrupt():
            return   # interrupt exit, local_bh_enable or the softirq loop will run it
        self.wakeup_softirqd(sc)

    def wakeup_softirqd(self, sc: SoftirqCpu) -> None:
        """Make ksoftirqd/N runnable (if it sleeps)."""
        wake = sc._wake
        if wake is not None:
            sc._wake = None
            sc.ksoftirqd_wakeups += 1
            wake.succeed()

    # --- tasklets (kernel/softirq.c) ------------------------------------------------------
    def tasklet_schedule(self, t: tasklet_struct) -> None:
        """Queue ``t`` on the current CPU and raise TASKLET_SOFTIRQ there (once until it runs)."""
        if t.scheduled:
            return
        t.scheduled = True
        self.per_cpu[self.ctx.cpu.index].tasklet_vec.append(t)
        self.raise_softirq(TASKLET_SOFTIRQ)

    def tasklet_action(self, index: int) -> None:
        """TASKLET_SOFTIRQ on CPU ``index``: run every tasklet queued there, in order."""
        sc = self.per_cpu[index]
        lst, sc.tasklet_vec = sc.tasklet_vec, deque()
        for t in lst:
            t.scheduled = False
            t.runs += 1
            t.func()

    # --- where softirqs run -------------------------------------------------------------
    def irq_exit(self, run) -> None:
        """Interrupt exit (called on the hardirq's stack when the interrupted code was not in interrupt context)."""
        sc = self.per_cpu[run.index]
        if sc.pending:
            self.do_softirq(run)

    def local_bh_disable(self, run) -> None:
        """Bottom halves off on this CPU (nests): softirqs raised meanwhile wait for the enable."""
        if run.cpu.owed_ps:
            run.settle()
        run.bh_off += 1

    def local_bh_enable(self, run) -> None:
        """Bottom halves back on; at zero, pending softirqs run here, on the caller's stack."""
        if run.bh_off <= 0:
            raise RuntimeError(f"cpu{run.index}: local_bh_enable without local_bh_disable")
        run.bh_off -= 1
        if run.bh_off or run.hardirq or run.softirq:
            return
        sc = self.per_cpu[run.index]
        if not sc.pending:
            return
        running = self.sched.running
        if running is not None and running.run is run:
            self.do_softirq(run)
        else:
            self.wakeup_softirqd(sc)   # a synchronous caller: ksoftirqd runs them

    def do_softirq(self, run) -> None:
        """``__do_softirq`` on ``run``'s CPU, in the running context: passes bounded in number and time."""
        sc = self.per_cpu[run.index]
        engine = self.engine
        end = jiffies(engine.now) + self._max_time_j
        restart = MAX_SOFTIRQ_RESTART
        run.softirq += 1
        prev = run.cpu.context
        try:
            while True:
                pending = sc.pending
                sc.pending = 0
                nr = 0
                while pending:
                    if pending & 1:
                        sc.counts[nr] += 1
                        engine.log("softirq", SOFTIRQ_NAMES[nr], sc.index)
                        action = self._actions[nr]
                        if action is not None:   # raised but never opened: counted, nothing runs (as Linux)
                            run.set_name(self._contexts[nr])
                            action(sc.index)
                            if run.cpu.owed_ps:
                                run.settle()
                    pending >>= 1
                    nr += 1
                if not sc.pending:
                    break
                restart -= 1
                if not (restart and time_before(jiffies(engine.now), end)):
                    self.wakeup_softirqd(sc)
                    break
            run.set_name(prev)
        finally:
            run.softirq -= 1

    def _ksoftirqd(self, sc: SoftirqCpu):
        """ksoftirqd/N: sleep until woken; run the pending softirqs; give way to others."""
        run = self.sched.cpus[sc.index]
        while True:
            if not sc.pending:
                sc._wake = self.engine.event()
                run.sleep(sc._wake)
                continue
            sc.ksoftirqd_runs += 1
            sc.in_ksoftirqd = True
            self.do_softirq(run)
            sc.in_ksoftirqd = False
            run.cond_resched()

    # --- counters -------------------------------------------------------------------------
    def count(self, nr: int, cpu: int | None = None) -> int:
        """Executions of vector ``nr`` on ``cpu`` (all CPUs when None)."""
        if cpu is not None:
            return self.per_cpu[cpu].counts[nr]
        return sum(sc.counts[nr] for sc in self.per_cpu)

    def proc_softirqs(self) -> str:
        """The counters in the layout of ``/proc/softirqs``."""
        lines = [" " * 20 + "".join(f"CPU{sc.index:<8d}" for sc in self.per_cpu).rstrip()]
        for nr, name in enumerate(SOFTIRQ_NAMES):
            lines.append(f"{name:>12s}:" + "".join(f" {sc.counts[nr]:10d}" for sc in self.per_cpu))
        return "\n".join(lines) + "\n"
