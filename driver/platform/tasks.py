"""Process context for driver code that sleeps: the system workqueue.

Driver code that sleeps (``msleep``, ``napi_disable``, ``igb_down``) is
written as a generator: each item it yields is a sleep, a delay in ps or an
Event to wait for. It runs as a *task* on a simulated CPU
(:meth:`stack.core.context.CpuContext.spawn_task`, :mod:`sim.host.sched`):
the code between two yields executes on the CPU and spends its CPU time
there, and while the task sleeps the CPU is free for others.

The workqueue (``schedule_work``/``cancel_work_sync``/``flush_work``) runs a
:class:`work_struct`'s function as such a task on a kworker: queueing work
that is already pending does nothing (Linux: returns false), and a work
re-queued while it runs runs again afterwards.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from stack.core.context import drive

__all__ = ["work_struct", "Workqueue"]


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
            work.running = True
            run = self.kernel.host.sched.cpus[self.cpu]
            run.start_task(f"kworker/{self.cpu}:{work.name}", self._worker, run, work)
        return True

    def _worker(self, run, work: work_struct) -> None:
        """The kworker: run ``work`` until it is no longer re-queued."""
        while work.pending:
            work.pending = False
            work.runs += 1
            result = work.func(work)
            if inspect.isgenerator(result):
                drive(run, result)
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
