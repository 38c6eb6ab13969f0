"""Process context for driver code that sleeps: tasks and the system workqueue.

Driver code runs synchronously on the current CPU (``kernel.on_cpu``), and
must never yield to the engine inside an ``on_cpu`` block. Code that sleeps
(``msleep``, ``napi_disable``, ``igb_down``) is therefore written as a
generator, and :func:`run_task` runs it as a task: each stretch between two
yields executes inside ``on_cpu(cpu, "task:<comm>")``, then the CPU time the
stretch charged elapses, then whatever the generator yielded (a delay or an
Event) is waited for outside the block.

The workqueue (``schedule_work``/``cancel_work_sync``/``flush_work``) runs a
:class:`work_struct`'s function as such a task on a kworker: queueing work
that is already pending does nothing (Linux: returns false), and a work
re-queued while it runs runs again afterwards.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

__all__ = ["run_task", "work_struct", "Workqueue"]


def run_task(kernel, gen, cpu: int = 0, comm: str = "task"):
    """Generator: drive ``gen`` as a task on CPU ``cpu`` (see the module docstring); its return value."""
    context = f"task:{comm}"
    value = None
    while True:
        with kernel.on_cpu(cpu, context) as c:
            try:
                item = gen.send(value)
            except StopIteration as stop:
                owed = c.settle()
                result = stop.value
                break
            owed = c.settle()
        if owed:
            yield owed
        value = yield item
    if owed:
        yield owed
    return result


class work_struct:
    """A deferred function ``func(work)`` (plain or generator), run by a kworker."""

    __slots__ = ("func", "name", "pending", "running", "runs", "_done")

    def __init__(self, func: Callable[["work_struct"], Any], name: str = ""):
        self.func = func
        self.name = name or getattr(func, "__name__", "work")
        self.pending = False
        self.running = False
        self.runs = 0
        self._done = None


class Workqueue:
    """``system_wq`` of one kernel: each queued work runs as its own kworker task on ``cpu``."""

    def __init__(self, kernel, cpu: int = 0):
        self.kernel = kernel
        self.cpu = cpu

    def schedule_work(self, work: work_struct) -> bool:
        """Queue ``work``; False if it was already pending."""
        if work.pending:
            return False
        work.pending = True
        if not work.running:
            self.kernel.engine.spawn(self._worker(work), f"kworker:{work.name}")
        return True

    def _worker(self, work: work_struct):
        kernel = self.kernel
        work.running = True
        while work.pending:
            work.pending = False
            work.runs += 1
            comm = f"kworker/{self.cpu}:{work.name}"
            with kernel.on_cpu(self.cpu, f"task:{comm}") as c:
                result = work.func(work)
                owed = c.settle()
            if owed:
                yield owed
            if inspect.isgenerator(result):
                yield from run_task(kernel, result, self.cpu, comm)
        work.running = False
        done, work._done = work._done, None
        if done is not None:
            done.succeed()

    def cancel_work(self, work: work_struct) -> bool:
        """Unqueue ``work`` if it has not started; True if it was pending."""
        was = work.pending
        work.pending = False
        return was

    def flush_work(self, work: work_struct):
        """Generator: wait until ``work`` is neither pending nor running."""
        while work.running:
            if work._done is None:
                work._done = self.kernel.engine.event()
            yield work._done

    def cancel_work_sync(self, work: work_struct):
        """Generator: cancel ``work`` and wait for a running instance to finish; True if it was pending."""
        was = self.cancel_work(work)
        yield from self.flush_work(work)
        return was
