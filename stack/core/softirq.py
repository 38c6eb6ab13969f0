"""Softirqs: per-CPU pending bits, and a per-CPU daemon that runs the handlers in Linux order.

What Linux does (``kernel/softirq.c``) and how the model maps it:

* ``raise_softirq_irqoff(nr)`` sets bit ``nr`` in this CPU's pending mask.
  Raised from a hard-IRQ handler, the softirqs run at ``irq_exit`` on the
  same CPU; raised elsewhere, at the next ``local_bh_enable`` or in
  ksoftirqd. Here every raise wakes the CPU's daemon process, which runs at
  the same simulated time as soon as the raiser yields to the engine — for
  an interrupt handler (an engine callback) that is right after it returns.
* ``__do_softirq``: take the pending mask, clear it, run each set bit's
  handler from the lowest bit up (HI, TIMER, NET_TX, NET_RX, BLOCK,
  IRQ_POLL, TASKLET, SCHED, HRTIMER, RCU), counting one execution per bit
  (``/proc/softirqs``: a softirq raised several times before it runs counts
  once). If handlers raised more, restart — at most
  :data:`MAX_SOFTIRQ_RESTART` passes and while less than
  :data:`MAX_SOFTIRQ_TIME_MS` has passed — else wake **ksoftirqd**, which
  here is the same daemon carrying on after a yield (so other work ready at
  that time runs first), counted in ``ksoftirqd_wakeups``.
* CPU time: a plain handler runs inside ``ctx.on_cpu(cpu, "softirq:NAME")``
  (stack_facts §10: ``si`` time) and the daemon then yields the CPU's
  charged time (``cpu.settle()``), so simulated time passes while the
  softirq works. A handler that is a generator function manages its own
  blocks (``Softirq.running``) and yields between them — ``net_rx_action``
  does, so time passes between NAPI polls and its time limit means something.

The model has no CPU scheduler: a task process on the same CPU is not
held off while the daemon runs. ``need_resched()`` is always false.
"""
from __future__ import annotations

import inspect
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
    """One CPU's softirq state: pending mask, per-vector execution counts, ksoftirqd counters, tasklet_vec."""

    __slots__ = ("index", "cpu", "pending", "counts", "ksoftirqd_wakeups", "ksoftirqd_runs",
                 "in_ksoftirqd", "process", "_wake", "tasklet_vec")

    def __init__(self, index: int, cpu):
        self.index = index
        self.cpu = cpu
        self.pending = 0
        #: Handler executions per vector (a /proc/softirqs column).
        self.counts = [0] * NR_SOFTIRQS
        self.ksoftirqd_wakeups = 0
        self.ksoftirqd_runs = 0
        self.in_ksoftirqd = False
        self.process = None
        self._wake = None
        #: Tasklets scheduled on this CPU, in order (``tasklet_vec``).
        self.tasklet_vec: deque[tasklet_struct] = deque()


class Softirq:
    """The softirq machinery of one host: handlers, and a daemon process per CPU.

    ``ctx`` is the execution context (``.cpu``, ``.on_cpu(index, context)``,
    see :mod:`stack.core.context`) that tells which CPU raises.
    """

    def __init__(self, engine, host, ctx):
        self.engine = engine
        self.ctx = ctx
        self.per_cpu = [SoftirqCpu(i, cpu) for i, cpu in enumerate(host.cpus)]
        self._actions: list[Callable[[int], object] | None] = [None] * NR_SOFTIRQS
        self._generator = [False] * NR_SOFTIRQS
        self._contexts = tuple(f"softirq:{name}" for name in SOFTIRQ_NAMES)
        self._max_time_j = msecs_to_jiffies(MAX_SOFTIRQ_TIME_MS)
        for sc in self.per_cpu:
            sc.process = engine.spawn(self._daemon(sc), f"softirqd/{sc.index}")
        self.open_softirq(TASKLET_SOFTIRQ, self.tasklet_action)   # softirq_init

    # --- registration and raising ------------------------------------------------
    def open_softirq(self, nr: int, action: Callable[[int], object]) -> None:
        """Install ``action(cpu_index)`` as the handler of vector ``nr`` (replacing any)."""
        self._actions[nr] = action
        self._generator[nr] = inspect.isgeneratorfunction(action) or inspect.isgeneratorfunction(
            getattr(action, "func", None))

    def raise_softirq_irqoff(self, nr: int) -> None:
        """Mark ``nr`` pending on the current CPU and make sure it will run there."""
        self.raise_on(self.ctx.cpu.index, nr)

    #: Linux's raise_softirq only differs in masking interrupts around the above.
    raise_softirq = raise_softirq_irqoff

    def raise_on(self, index: int, nr: int) -> None:
        """Mark ``nr`` pending on CPU ``index`` (a timer tick on that CPU, for example)."""
        sc = self.per_cpu[index]
        sc.pending |= 1 << nr
        wake = sc._wake
        if wake is not None:
            sc._wake = None
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

    def running(self, index: int, nr: int):
        """The ``on_cpu`` block a generator handler wraps its synchronous work in."""
        return self.ctx.on_cpu(index, self._contexts[nr])

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

    # --- the per-CPU daemon ------------------------------------------------------------
    def _daemon(self, sc: SoftirqCpu):
        """Sleep until something is pending; run ``__do_softirq``; hand leftovers to ksoftirqd."""
        engine = self.engine
        while True:
            if not sc.pending:
                sc.in_ksoftirqd = False
                sc._wake = engine.event()
                yield sc._wake
                continue
            if sc.in_ksoftirqd:
                sc.ksoftirqd_runs += 1
            yield from self._do_softirq(sc)
            if sc.pending:
                if not sc.in_ksoftirqd:
                    sc.in_ksoftirqd = True
                    sc.ksoftirqd_wakeups += 1
                    engine.log("softirq", "ksoftirqd", sc.index)
                yield 0  # ksoftirqd is a thread: what is ready at this time goes first

    def _do_softirq(self, sc: SoftirqCpu):
        """One ``__do_softirq``: passes over the pending mask, bounded in number and time."""
        engine = self.engine
        cpu = sc.cpu
        end = jiffies(engine.now) + self._max_time_j
        restart = MAX_SOFTIRQ_RESTART
        while True:
            pending = sc.pending
            sc.pending = 0
            nr = 0
            while pending:
                if pending & 1:
                    sc.counts[nr] += 1
                    engine.log("softirq", SOFTIRQ_NAMES[nr], sc.index)
                    action = self._actions[nr]
                    if action is None:
                        pass  # raised but never opened: counted, nothing to run (as Linux)
                    elif self._generator[nr]:
                        yield from action(sc.index)
                    else:
                        with self.ctx.on_cpu(sc.index, self._contexts[nr]):
                            action(sc.index)
                    owed = cpu.settle()
                    if owed:
                        yield owed
                pending >>= 1
                nr += 1
            if not sc.pending:
                return
            restart -= 1
            if not (restart and time_before(jiffies(engine.now), end)):
                return
