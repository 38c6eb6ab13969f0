"""Which CPU the stack's code is running on, and which accounting context it charges.

Linux code finds "this CPU" with ``smp_processor_id()`` and knows whether it
runs in hard-IRQ or softirq context from the preempt count. The model keeps
both on one *execution context* object with

* ``cpu`` — the current :class:`~sim.host.Cpu` (its ``context`` attribute
  names the accounting context: ``task:…``, ``softirq:NET_RX``,
  ``hardirq:…``),
* ``on_cpu(index, context)`` — a context manager that makes CPU ``index``
  current and charges its time to ``context`` for the block, restoring both
  after, and
* ``bugs`` — the kernel bug reports (:mod:`stack.core.bug`) of this host.

The driver's ``driver.platform.Kernel`` has exactly this shape, so a whole
system passes its Kernel to :class:`~stack.core.netcore.NetCore` and the stack and
the driver agree on the current CPU. :class:`CpuContext` is the same thing
for the stack alone (tests, or a host without the driver).

Never yield to the engine inside an ``on_cpu`` block: another process could
switch CPUs meanwhile. Run the block's work synchronously, leave the block,
then ``yield cpu.settle()`` to let the charged time pass.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["CpuContext", "in_hardirq", "in_serving_softirq", "HARDIRQ", "SOFTIRQ"]

HARDIRQ = "hardirq:"
SOFTIRQ = "softirq:"


def in_hardirq(cpu) -> bool:
    """True while ``cpu`` runs a hard-IRQ handler (Linux ``in_hardirq()``)."""
    return cpu.context.startswith(HARDIRQ)


def in_serving_softirq(cpu) -> bool:
    """True while ``cpu`` runs a softirq handler (Linux ``in_serving_softirq()``)."""
    return cpu.context.startswith(SOFTIRQ)


class CpuContext:
    """The current CPU of a host, for stack code that runs without the driver's Kernel."""

    def __init__(self, host, cpu: int = 0):
        self.host = host
        self.cpu = self._cpu(cpu)
        #: Kernel bugs detected so far (:class:`~stack.core.bug.BugReport`, oldest first).
        self.bugs: list = []

    def _cpu(self, index: int):
        if not 0 <= index < len(self.host.cpus):
            raise ValueError(f"cpu{index} does not exist (host has {len(self.host.cpus)} CPUs)")
        return self.host.cpus[index]

    @contextmanager
    def on_cpu(self, index: int, context: str = "softirq:NET_RX") -> Iterator:
        """Run the block on CPU ``index`` charging ``context``; restores both after (blocks nest).

        Do not yield to the engine inside one: another process's block would
        interleave with it, which is detected on exit and raised.
        """
        cpu = self._cpu(index)
        prev_cpu, prev_ctx = self.cpu, cpu.switch(context)
        self.cpu = cpu
        try:
            yield cpu
        finally:
            interleaved = self.cpu is not cpu or cpu.context != context
            cpu.switch(prev_ctx)
            self.cpu = prev_cpu
            if interleaved:
                raise RuntimeError(f"on_cpu({index}, {context!r}) blocks interleaved: "
                                   "a process yielded inside one while another switched CPU")
