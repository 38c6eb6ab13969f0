"""Kernel timers (``struct timer_list``): callbacks run in the TIMER softirq at a jiffy.

``mod_timer(timer, expires)`` arms a timer on the current CPU. At the tick
that makes ``jiffies == expires`` (or the next tick, if that time is
already past) the timer is queued on its CPU and TIMER_SOFTIRQ is raised
there; the TIMER handler runs the queued callbacks, ``function(timer)``, in
``softirq:TIMER`` context. ``del_timer`` cancels; a timer counts as pending
from arming until its callback starts, as in Linux.

The tick is the CPU's local timer interrupt: a hardirq costing
``local_timer_interrupt`` from the cost table (:mod:`stack.core.cputime`),
whose exit runs TIMER. Only ticks that expire a timer are
modelled (the periodic tick is otherwise not).

Not modelled: the timer wheel's coarsening of far-away expiries, timer
migration, ``round_jiffies`` slack.
"""
from __future__ import annotations

from typing import Callable

from .jiffies import TICK_PS, jiffies
from .softirq import TIMER_SOFTIRQ

__all__ = ["timer_list", "Timers"]


class timer_list:
    """A timer: ``function(timer)`` runs at jiffy ``expires`` on the CPU it was armed on."""

    __slots__ = ("base", "function", "expires", "cpu", "_call", "_queued")

    def __init__(self, base: "Timers", function: Callable[["timer_list"], None]):
        self.base = base
        self.function = function
        self.expires = 0
        self.cpu = 0
        self._call = None     # engine call handle while armed
        self._queued = False  # expired, waiting for the TIMER softirq

    @property
    def pending(self) -> bool:
        return self._call is not None or self._queued


class Timers:
    """The timer bases of one host; installs the TIMER softirq handler."""

    def __init__(self, engine, softirq, ctx, costs):
        self.engine = engine
        self.costs = costs
        self.softirq = softirq
        self.ctx = ctx
        self.expired: list[list[timer_list]] = [[] for _ in softirq.per_cpu]
        #: Per CPU: timers due at the tick whose interrupt is on its way (one interrupt per tick).
        self._due: list[list[timer_list]] = [[] for _ in softirq.per_cpu]
        self.fired = 0
        softirq.open_softirq(TIMER_SOFTIRQ, self.run_timer_softirq)

    def timer_setup(self, function: Callable[[timer_list], None]) -> timer_list:
        """A new, unarmed timer calling ``function``."""
        return timer_list(self, function)

    def mod_timer(self, timer: timer_list, expires: int) -> bool:
        """(Re)arm ``timer`` for jiffy ``expires`` on the current CPU; True if it was pending."""
        was = self._detach(timer)
        now = self.engine.now
        fire = max(expires, jiffies(now) + 1) * TICK_PS
        timer.expires = expires
        timer.cpu = self.ctx.cpu.index
        timer._call = self.engine.call_later(fire - now, self._expire, timer)
        return was

    def del_timer(self, timer: timer_list) -> bool:
        """Cancel ``timer``; True if it was pending."""
        return self._detach(timer)

    def _detach(self, timer: timer_list) -> bool:
        if timer._call is not None:
            timer._call.cancel()
            timer._call = None
            return True
        if timer._queued:
            timer._queued = False
            queue = self.expired[timer.cpu]
            if timer in queue:  # else the softirq already took the queue and will skip it
                queue.remove(timer)
            return True
        return False

    def _expire(self, timer: timer_list) -> None:
        """The tick at ``expires``: the timer's CPU takes one local timer interrupt for all its due timers."""
        timer._call = None
        timer._queued = True
        due = self._due[timer.cpu]
        due.append(timer)
        if len(due) == 1:
            self.softirq.sched.cpus[timer.cpu].interrupt("timer", self._tick, timer.cpu)

    def _tick(self, index: int) -> None:
        """Local timer interrupt (hardirq): move the due timers to the expired list and raise TIMER."""
        self.ctx.cpu.charge(self.costs["local_timer_interrupt"])
        due, self._due[index] = self._due[index], []
        queued = [t for t in due if t._queued]   # not cancelled while the interrupt was on its way
        if queued:
            self.expired[index].extend(queued)
            self.softirq.raise_on(index, TIMER_SOFTIRQ)

    def run_timer_softirq(self, index: int) -> None:
        """The TIMER_SOFTIRQ handler: run this CPU's expired timers in order."""
        queue = self.expired[index]
        self.expired[index] = []
        for timer in queue:
            if not timer._queued:
                continue  # cancelled by an earlier callback
            timer._queued = False
            self.fired += 1
            timer.function(timer)
