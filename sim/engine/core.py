"""The discrete-event engine: integer picosecond time, generator processes, events.

A process is a Python generator. It waits by yielding:

* an :class:`Event` (resumed with the event's value, or with the event's
  exception thrown in if the event failed);
* ``engine.timeout(delay_ps)``, which is just the integer delay: sleeping
  allocates nothing but one heap entry.

Scheduling. Future work sits in a ``(time, seq, item)`` heap; work due *now*
sits in a FIFO "ready" deque. When time advances to ``t`` every heap entry due
at ``t`` moves, in ``seq`` order, to the ready deque, and anything made ready
while running at ``t`` is appended behind it, so the default order is exactly
``(time, seq)``: deterministic ties. Which same-time item runs first is a
*choice*: with a policy whose ``choose_ties`` is true, the engine asks the
policy (:meth:`Engine.choose_index`) every time more than one item is ready.
Every other nondeterministic decision in the simulator goes through the same
``choose``/``choose_index`` call, so one recorded list of choices replays a
whole run (see :mod:`sim.engine.choice`).

Failures. ``Event.fail(exc)`` throws ``exc`` into every waiting process; a
failed event that nobody waits on, or a process that dies with an exception
nobody waits for, stops :meth:`Engine.run` with that exception.
"""
from __future__ import annotations

from collections import deque
from functools import partial
from heapq import heappop, heappush
from typing import Any, Callable, Generator, Iterable

__all__ = [
    "Engine", "Event", "Process", "SimulationError", "PENDING", "ChoicesAndTrace",
]

#: Value of an event that has not been triggered yet.
PENDING = object()
#: Waiter slot of an event whose waiters have already been resumed.
_FIRED = object()


class SimulationError(RuntimeError):
    """A model bug surfaced by the engine (deadlock guard, bad yield, double trigger)."""


class _Failure:
    """Marks an event value as a failure carrying an exception."""

    __slots__ = ("exc", "handled")

    def __init__(self, exc: BaseException):
        self.exc = exc
        self.handled = False


class Event:
    """Something that happens once, at a simulated time, with a value.

    Waiters are stored in one slot: ``None`` (nobody), a single waiter, or a
    list of waiters; most events have exactly one waiter, so this avoids a
    list allocation per event on the hot path.
    """

    __slots__ = ("engine", "waiter", "value", "_name")

    def __init__(self, engine: "Engine", name: str | None = None):
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
        self.value = _Failure(exc)
        self.engine._ready.append(self)
        return self

    @property
    def triggered(self) -> bool:
        """True once succeed() or fail() was called."""
        return self.value is not PENDING

    @property
    def processed(self) -> bool:
        """True once the waiters have been resumed."""
        return self.waiter is _FIRED

    @property
    def ok(self) -> bool:
        """True if triggered and not failed."""
        v = self.value
        return v is not PENDING and v.__class__ is not _Failure

    # --- waiting ----------------------------------------------------
    def _add_waiter(self, w) -> None:
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
        self.waiter = _FIRED
        v = self.value
        if v.__class__ is _Failure:
            self._run_failed(w, v)
        elif w is None:
            return
        elif w.__class__ is list:
            for x in w:
                x._resume(v)
        else:
            w._resume(v)

    def _run_failed(self, w, failure: _Failure) -> None:
        if w is None:
            if not failure.handled:
                raise failure.exc
            return
        failure.handled = True
        for x in (w if w.__class__ is list else (w,)):
            x._throw(failure.exc)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or hex(id(self))}>"


class Process(Event):
    """A running generator; as an Event it fires with the generator's return value."""

    __slots__ = ("_send", "_gen", "_done")

    def __init__(self, engine: "Engine", gen: Generator, name: str | None = None):
        if not hasattr(gen, "send"):
            raise SimulationError(f"spawn() needs a generator, got {gen!r}")
        super().__init__(engine, name or getattr(gen, "__name__", None))
        self._gen = gen
        self._send = gen.send
        self._done = False
        engine._ready.append(self)

    @property
    def is_alive(self) -> bool:
        return not self._done

    def _resume(self, value: Any = None) -> None:
        try:
            target = self._send(value)
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except BaseException as exc:  # the process died: fail its event
            self._die(exc)
            return
        # Fast paths (inline): a positive delay, or an event nobody waits on yet.
        if target.__class__ is int:
            if target > 0:
                eng = self.engine
                eng._seq += 1
                heappush(eng._heap, (eng.now + target, eng._seq, self))
                return
        else:
            try:
                if target.waiter is None:
                    target.waiter = self
                    return
            except AttributeError:
                pass  # not an Event: _wait_on reports it
        self._wait_on(target)

    # Scheduled (started, or woken from a delay) = resumed with None: no extra call on the hot path.
    _run = _resume

    def _throw(self, exc: BaseException) -> None:
        try:
            target = self._gen.throw(exc)
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except BaseException as err:
            self._die(err)
            return
        self._wait_on(target)

    def _wait_on(self, target) -> None:
        """Park the process on what it yielded: a delay or an event."""
        while True:
            if target.__class__ is int:
                eng = self.engine
                if target > 0:
                    eng._seq += 1
                    heappush(eng._heap, (eng.now + target, eng._seq, self))
                elif target == 0:  # a yield point: back of the ready queue
                    eng._ready.append(self)
                else:
                    self._die(SimulationError(f"{self!r} yielded a negative delay {target}"))
                return
            w = getattr(target, "waiter", _BAD)
            if w is _BAD:
                self._die(SimulationError(f"{self!r} yielded {target!r}; yield an Event or a delay"))
                return
            if w is not _FIRED:
                target._add_waiter(self)
                return
            # Already fired: continue at once with its value.
            v = target.value
            try:
                if v.__class__ is _Failure:
                    target = self._gen.throw(v.exc)
                else:
                    target = self._send(v)
            except StopIteration as stop:
                self._finish(stop.value)
                return
            except BaseException as exc:
                self._die(exc)
                return

    def _finish(self, value: Any) -> None:
        self._done = True
        self.value = value
        self.engine._ready.append(_Fire(self))

    def _die(self, exc: BaseException) -> None:
        self._done = True
        self.value = _Failure(exc)
        self.engine._ready.append(_Fire(self))


class _Fire:
    """Fires a finished process's event (its waiters resume with its return value)."""

    __slots__ = ("proc",)

    def __init__(self, proc: Process):
        self.proc = proc

    def _run(self) -> None:
        Event._run(self.proc)


_BAD = object()


class _Call:
    """A plain callback scheduled on the engine (no process needed)."""

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


class _Timeout(Event):
    """An Event that fires by itself after a delay (for use inside any_of/all_of)."""

    __slots__ = ("_fire_value",)

    def __init__(self, engine: "Engine", delay_ps: int, value: Any = None):
        if delay_ps < 0:
            raise SimulationError(f"negative delay {delay_ps}")
        super().__init__(engine, f"timeout+{delay_ps}")
        self._fire_value = value
        engine._seq += 1
        heappush(engine._heap, (engine.now + delay_ps, engine._seq, self))

    def _run(self) -> None:
        self.value = self._fire_value
        Event._run(self)


class _Condition(Event):
    """Fires when ``need`` of its events have fired; value maps event -> value."""

    __slots__ = ("_events", "_need", "_count")

    def __init__(self, engine: "Engine", events: list[Event], need: int):
        super().__init__(engine, "any_of" if need == 1 else "all_of")
        self._events = events
        self._need = need
        self._count = 0
        if need == 0:
            self.succeed({})
            return
        for ev in events:
            if ev.waiter is _FIRED:
                self._resume(ev.value) if ev.ok else self._throw(ev.value.exc)
            else:
                ev._add_waiter(_CondWaiter(self))

    def _resume(self, _value: Any) -> None:
        if self.value is not PENDING:
            return
        self._count += 1
        if self._count >= self._need:
            self.succeed({ev: ev.value for ev in self._events if ev.ok})

    def _throw(self, exc: BaseException) -> None:
        if self.value is PENDING:
            self.fail(exc)


class _CondWaiter:
    __slots__ = ("cond",)

    def __init__(self, cond: _Condition):
        self.cond = cond

    def _resume(self, value: Any) -> None:
        self.cond._resume(value)

    def _throw(self, exc: BaseException) -> None:
        self.cond._throw(exc)


class ChoicesAndTrace:
    """The part of the engine API that is the same on every engine: choices and the event trace.

    Shared by :class:`Engine` and the cocotb adapter; needs ``self.policy``,
    ``self.records`` and ``self.now``.
    """

    def choose_index(self, n: int, why: str) -> int:
        """Index in ``range(n)`` picked by the policy; ``why`` labels the choice."""
        if n <= 1:
            if n == 1:
                return 0
            raise SimulationError(f"choice '{why}' has no options")
        return self.policy.choose(n, why)

    def choose(self, options, why: str):
        """One of ``options`` picked by the policy; ``why`` labels the choice."""
        return options[self.choose_index(len(options), why)]

    # --- tracing ----------------------------------------------------
    def log(self, source: str, what: str, *data) -> None:
        """Append ``(now, source, what, *data)`` to :attr:`records` if tracing is on."""
        if self.records is not None:
            self.records.append((self.now, source, what, *data))

    def start_trace(self) -> list:
        """Turn tracing on; returns the list that :meth:`log` appends to."""
        self.records = []
        return self.records


class Engine(ChoicesAndTrace):
    """The event loop. Time is an integer number of picoseconds in :attr:`now`.

    ``policy`` decides every nondeterministic choice (see
    :mod:`sim.engine.choice`); the default is a seeded policy with seed 0 and
    FIFO ties, so two runs of the same model are identical.
    """

    def __init__(self, policy=None):
        from .choice import SeededPolicy  # local: choice imports nothing from here at load

        self.now = 0
        self._heap: list = []
        self._seq = 0
        self._ready: deque = deque()
        self.policy = policy if policy is not None else SeededPolicy(0)
        self.records: list | None = None
        # event() is called per packet, per descriptor, per wait: bind it once (a C-level partial).
        self.event = partial(Event, self)

    # --- building blocks for models --------------------------------
    # event(name=None) -> Event: a new untriggered event. Bound in __init__
    # as functools.partial(Event, self), because it is on every hot path.

    @staticmethod
    def timeout(delay_ps: int) -> int:
        """A wait of ``delay_ps`` picoseconds; ``yield engine.timeout(d)`` in a process."""
        return delay_ps

    def timeout_event(self, delay_ps: int, value: Any = None) -> Event:
        """A real Event that fires after ``delay_ps`` (to combine with any_of/all_of)."""
        return _Timeout(self, delay_ps, value)

    def spawn(self, gen: Generator, name: str | None = None) -> Process:
        """Start a process in the current time step; returns it (an Event for joining)."""
        return Process(self, gen, name)

    def any_of(self, events: Iterable) -> Event:
        """Fires when the first of ``events`` (Events or delays) fires."""
        return _Condition(self, self._as_events(events), 1)

    def all_of(self, events: Iterable) -> Event:
        """Fires when all of ``events`` (Events or delays) have fired."""
        evs = self._as_events(events)
        return _Condition(self, evs, len(evs))

    def _as_events(self, events: Iterable) -> list[Event]:
        return [e if isinstance(e, Event) else _Timeout(self, int(e)) for e in events]

    def call_later(self, delay_ps: int, fn: Callable, *args) -> _Call:
        """Run ``fn(*args)`` after ``delay_ps``; returns a handle with ``cancel()``."""
        if delay_ps < 0:
            raise SimulationError(f"call_later with negative delay {delay_ps}")
        call = _Call(fn, args)
        if delay_ps == 0:
            self._ready.append(call)
        else:
            self._seq += 1
            heappush(self._heap, (self.now + delay_ps, self._seq, call))
        return call

    # --- running ----------------------------------------------------
    def peek(self) -> int | None:
        """Time of the next scheduled work, or None when nothing is left."""
        if self._ready:
            return self.now
        return self._heap[0][0] if self._heap else None

    def run(self, until: int | Event | None = None, max_steps: int | None = None) -> None:
        """Run until nothing is left, until time ``until`` (exclusive), or until an Event fires.

        ``max_steps`` bounds the number of items run (a guard against a model
        that never stops); exceeding it raises :class:`SimulationError`.
        """
        if isinstance(until, Event):
            if until.waiter is _FIRED:  # already fired: nothing to run up to
                return
            stop_event = until
            stop_time = None
        else:
            stop_event = None
            stop_time = until
            if stop_time is not None and stop_time <= self.now:
                return  # 'until' is exclusive: nothing is due before it
        budget = max_steps if max_steps is not None else -1
        if getattr(self.policy, "choose_ties", False):
            self._loop_explore(stop_time, stop_event, budget)
        elif stop_event is None and budget < 0:
            self._loop_fast(stop_time)
        else:
            self._loop_fifo(stop_time, stop_event, budget)
        if stop_time is not None and self.now < stop_time:
            self.now = stop_time
        if stop_event is not None and stop_event.waiter is not _FIRED:
            raise SimulationError(f"nothing left to run at t={self.now} ps but {stop_event!r} never fired")

    def _advance(self, stop_time: int | None) -> bool:
        """Move everything due at the next time into the ready deque."""
        heap = self._heap
        if not heap:
            return False
        t = heap[0][0]
        if stop_time is not None and t >= stop_time:
            return False
        self.now = t
        ready = self._ready
        while heap and heap[0][0] == t:
            ready.append(heappop(heap)[2])
        return True

    def _loop_fast(self, stop_time) -> None:
        """The hot loop: FIFO ties, no stop event, no step budget."""
        ready = self._ready
        pop = ready.popleft
        heap = self._heap
        while True:
            while ready:
                pop()._run()
            if not heap:
                return
            t = heap[0][0]
            if stop_time is not None and t >= stop_time:
                return
            self.now = t
            ready.append(heappop(heap)[2])
            while heap and heap[0][0] == t:
                ready.append(heappop(heap)[2])

    def _loop_fifo(self, stop_time, stop_event, budget) -> None:
        ready = self._ready
        pop = ready.popleft
        while True:
            while ready:
                pop()._run()
                if budget >= 0:
                    budget -= 1
                    if budget < 0:
                        raise SimulationError(f"run() exceeded its step budget at t={self.now} ps")
                if stop_event is not None and stop_event.waiter is _FIRED:
                    return
            if not self._advance(stop_time):
                return

    def _loop_explore(self, stop_time, stop_event, budget) -> None:
        ready = self._ready
        choose = self.policy.choose
        while True:
            while ready:
                n = len(ready)
                if n > 1:
                    i = choose(n, "tie")
                    item = ready[i]
                    del ready[i]
                else:
                    item = ready.popleft()
                item._run()
                if budget >= 0:
                    budget -= 1
                    if budget < 0:
                        raise SimulationError(f"run() exceeded its step budget at t={self.now} ps")
                if stop_event is not None and stop_event.waiter is _FIRED:
                    return
            if not self._advance(stop_time):
                return
