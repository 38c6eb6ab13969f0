"""Events: the one definition of "something that happens once", shared by every engine.

An :class:`Event` fires once with a value, or fails with an exception; the
processes waiting on it are resumed with the value, or get the exception
thrown in. :class:`Condition` is the Event behind ``any_of``/``all_of``;
:class:`Call` is the handle ``call_later`` returns.

The native engine (:mod:`sim.engine.core`) and the cocotb adapter
(:mod:`sim.tb.adapter`) both use these classes. What an event needs from the
engine it belongs to is two members:

* ``engine._ready.append(item)`` — the engine calls ``item._run()`` after
  this: later in the current time step on the native engine (so an event can
  be triggered but not yet processed), at once on the adapter (there,
  triggered and processed are the same moment);
* ``engine._unhandled_failure(failure)`` — a failed event fired with nobody
  waiting. The native engine raises the exception (it stops ``run()``); the
  adapter raises it from a cocotb task unless a waiter takes it first.

A *waiter* is any object with ``_resume(value)`` and ``_throw(exc)``: a
process, a condition's hook on one of its events, or the adapter's wake-up of
a cocotb task.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["Event", "Condition", "Call", "Failure", "SimulationError", "PENDING", "FIRED"]

#: Value of an event that has not been triggered yet.
PENDING = object()
#: Waiter slot of an event whose waiters have already been resumed.
FIRED = object()


class SimulationError(RuntimeError):
    """A model bug surfaced by the engine (deadlock guard, bad yield, double trigger)."""


class Failure:
    """Marks an event value as a failure carrying an exception.

    ``handled`` becomes true once a waiter has taken the exception; a failure
    nobody handles is reported through ``engine._unhandled_failure``.
    """

    __slots__ = ("exc", "handled")

    def __init__(self, exc: BaseException):
        self.exc = exc
        self.handled = False


class Event:
    """Something that happens once, at a simulated time, with a value.

    Waiters are stored in one slot: ``None`` (nobody), a single waiter, or a
    list of waiters; most events have exactly one waiter, so this avoids a
    list allocation per event on the hot path. The slot becomes
    :data:`FIRED` once the waiters have been resumed.
    """

    __slots__ = ("engine", "waiter", "value", "_name")

    def __init__(self, engine, name: str | None = None):
        self.engine = engine
        self.waiter = None
        self.value = PENDING
        if name is not None:  # unnamed events skip the store: they are the hot path
            self._name = name

    @property
    def name(self) -> str | None:
        """The event's name, if it was given one."""
        return getattr(self, "_name", None)

    # --- triggering -------------------------------------------------
    def succeed(self, value: Any = None) -> "Event":
        """Trigger the event now; waiters resume in the current time step."""
        if self.value is not PENDING:
            raise SimulationError(f"{self!r} triggered twice")
        self.value = value
        self.engine._ready.append(self)
        return self

    def fail(self, exc: BaseException) -> "Event":
        """Trigger the event as failed: ``exc`` is thrown into each waiter."""
        if self.value is not PENDING:
            raise SimulationError(f"{self!r} triggered twice")
        self.value = Failure(exc)
        self.engine._ready.append(self)
        return self

    @property
    def triggered(self) -> bool:
        """True once succeed() or fail() was called."""
        return self.value is not PENDING

    @property
    def processed(self) -> bool:
        """True once the waiters have been resumed."""
        return self.waiter is FIRED

    @property
    def ok(self) -> bool:
        """True if triggered and not failed."""
        v = self.value
        return v is not PENDING and v.__class__ is not Failure

    # --- waiting ----------------------------------------------------
    def _add_waiter(self, w) -> None:
        """Resume ``w`` when the event fires (the event must not be processed yet)."""
        cur = self.waiter
        if cur is None:
            self.waiter = w
        elif cur.__class__ is list:
            cur.append(w)
        else:
            self.waiter = [cur, w]

    def _run(self) -> None:
        """Resume the waiters (called by the engine when the event fires)."""
        w = self.waiter
        self.waiter = FIRED
        v = self.value
        if v.__class__ is Failure:
            self._run_failed(w, v)
        elif w is None:
            return
        elif w.__class__ is list:
            for x in w:
                x._resume(v)
        else:
            w._resume(v)

    def _run_failed(self, w, failure: Failure) -> None:
        if w is None:
            if not failure.handled:
                self.engine._unhandled_failure(failure)
            return
        failure.handled = True
        for x in (w if w.__class__ is list else (w,)):
            x._throw(failure.exc)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or hex(id(self))}>"


class Condition(Event):
    """Fires when ``need`` of its events have fired; value maps event -> value.

    Fails with the first failure among its events (which counts as handled).
    """

    __slots__ = ("_events", "_need", "_count")

    def __init__(self, engine, events: list[Event], need: int):
        super().__init__(engine, "any_of" if need == 1 else "all_of")
        self._events = events
        self._need = need
        self._count = 0
        if need == 0:
            self.succeed({})
            return
        for ev in events:
            if ev.waiter is not FIRED:
                ev._add_waiter(_ConditionHook(self))
            elif ev.ok:
                self._resume(ev.value)
            else:
                ev.value.handled = True
                self._throw(ev.value.exc)

    def _resume(self, _value: Any) -> None:
        if self.value is not PENDING:
            return
        self._count += 1
        if self._count >= self._need:
            self.succeed({ev: ev.value for ev in self._events if ev.ok})

    def _throw(self, exc: BaseException) -> None:
        if self.value is PENDING:
            self.fail(exc)


class _ConditionHook:
    """A condition's waiter on one of its events."""

    __slots__ = ("cond",)

    def __init__(self, cond: Condition):
        self.cond = cond

    def _resume(self, value: Any) -> None:
        self.cond._resume(value)

    def _throw(self, exc: BaseException) -> None:
        self.cond._throw(exc)


class Call:
    """A plain callback scheduled by ``call_later``; the engine runs it with ``_run()``."""

    __slots__ = ("fn", "args", "cancelled")

    def __init__(self, fn: Callable, args: tuple):
        self.fn = fn
        self.args = args
        self.cancelled = False

    def _run(self) -> None:
        if not self.cancelled:
            self.fn(*self.args)

    def cancel(self) -> None:
        """Do not run the callback after all."""
        self.cancelled = True
