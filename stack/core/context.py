"""Which CPU the stack's code is running on, and which accounting context it charges.

Linux code finds "this CPU" with ``smp_processor_id()`` and knows whether it
runs in hard-IRQ or softirq context from the preempt count. The model keeps
the current CPU on an *execution context* object, ``ctx.cpu`` (a
:class:`~sim.host.Cpu`; its ``context`` attribute names the accounting
context: ``task:…``, ``user:…``, ``softirq:NET_RX``, ``hardirq:…``).

Kernel code normally runs in a context on a simulated CPU
(:mod:`sim.host.sched`): the scheduler keeps ``ctx.cpu`` equal to the CPU of
the context that runs, so nothing here needs to switch CPUs. The driver's
``driver.platform.Kernel`` is such an object, so a whole system passes its
Kernel to :class:`~stack.core.netcore.NetCore` and the stack and the driver
agree on the current CPU. :class:`CpuContext` is the same thing for the
stack alone (tests, or a host without the driver).

It also keeps ``bugs``, the kernel bug reports (:mod:`stack.core.bug`) of this host.

``on_cpu(index, context)`` is for *synchronous* callers only (a test calling
a stack function directly, outside any context): it makes CPU ``index``
current with name ``context`` for the block (what ``in_hardirq()`` and
``in_serving_softirq()`` see). No simulated time passes for synchronous
code and it is not accounted; the block's caller may take the time it
charged with ``cpu.settle()`` (a delay to yield).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["CpuContext", "drive", "in_hardirq", "in_serving_softirq", "HARDIRQ", "SOFTIRQ"]

HARDIRQ = "hardirq:"
SOFTIRQ = "softirq:"


def in_hardirq(cpu) -> bool:
    """True while ``cpu`` runs a hard-IRQ handler (Linux ``in_hardirq()``)."""
    return cpu.context.startswith(HARDIRQ)


def in_serving_softirq(cpu) -> bool:
    """True while ``cpu`` runs a softirq handler (Linux ``in_serving_softirq()``)."""
    return cpu.context.startswith(SOFTIRQ)


def drive(run, gen):
    """Run generator ``gen`` in the running task: each item it yields is a sleep (a delay or an Event),
    answered with the wake value (or the Event's exception thrown in); returns its return value."""
    value = None
    exc = None
    while True:
        try:
            item = gen.send(value) if exc is None else gen.throw(exc)
        except StopIteration as stop:
            return stop.value
        exc = None
        try:
            value = run.sleep(item)
        except BaseException as e:   # the Event failed: the generator gets the exception
            value, exc = None, e


class CpuContext:
    """The current CPU of a host, for stack code that runs without the driver's Kernel."""

    def __init__(self, host, cpu: int = 0):
        self.host = host
        self.cpu = self._cpu(cpu)
        host.sched.holders.append(self)
        #: Kernel bugs detected so far (:class:`~stack.core.bug.BugReport`, oldest first).
        self.bugs: list = []

    def _cpu(self, index: int):
        if not 0 <= index < len(self.host.cpus):
            raise ValueError(f"cpu{index} does not exist (host has {len(self.host.cpus)} CPUs)")
        return self.host.cpus[index]

    @contextmanager
    def on_cpu(self, index: int, context: str = "softirq:NET_RX") -> Iterator:
        """Run the block on CPU ``index`` charging ``context``; restores both after (blocks nest).

        For synchronous callers (outside any context). Do not yield to the
        engine inside one: another process's block would interleave with it,
        which is detected on exit and raised.
        """
        cpu = self._cpu(index)
        if self.host.sched.running is not None:
            raise RuntimeError(f"on_cpu({index}, {context!r}) inside {self.host.sched.running!r}: "
                               "code running in a context is already on its CPU")
        prev_cpu, prev_ctx = self.cpu, cpu.switch(context)
        self.cpu = cpu
        try:
            yield cpu
        finally:
            interleaved = self.cpu is not cpu or cpu.context != context
            if not interleaved and prev_cpu is not cpu:
                cpu.sync_owed_ps = 0   # time the caller did not take (settle) stays with the block
            cpu.switch(prev_ctx)
            self.cpu = prev_cpu
            if interleaved:
                raise RuntimeError(f"on_cpu({index}, {context!r}) blocks interleaved: "
                                   "a process yielded inside one while another switched CPU")

    @property
    def run(self):
        """The current CPU's execution state (:class:`sim.host.sched.CpuRun`)."""
        return self.cpu.run

    def spawn_task(self, gen, cpu: int = 0, comm: str = "task"):
        """Run generator ``gen`` (sleeping kernel code, or a program's system calls) as a task on CPU
        ``cpu``; the Event that fires with its return value."""
        run = self.host.sched.cpus[self._cpu(cpu).index]
        return run.start_task(comm, drive, run, gen).done

    def user_time(self, comm: str, ps: int) -> None:
        """The program ``comm`` computes in user space for ``ps`` (top's ``us``), then is back in its task."""
        run = self.cpu.run
        prev = run.set_name("user:" + comm)
        self.cpu.charge(ps)
        run.set_name(prev)
