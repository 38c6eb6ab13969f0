"""The native engine: integer picosecond time, generator processes, events.

:class:`Engine` implements :class:`sim.engine.api.EngineAPI` on its own
scheduler; the events it runs are the shared ones of :mod:`sim.engine.events`.
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
nobody waits for, stops :meth:`Engine.run` with that exception
(:meth:`Engine._unhandled_failure`).
"""
from __future__ import annotations

from collections import deque
from functools import partial
from heapq import heappop, heappush
from typing import Any, Callable, Generator, Sequence

from .api import EngineBase
from .choice import SeededPolicy
from .events import FIRED, Call, Event, Failure, SimulationError

__all__ = ["Engine", "Process"]


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
            if w is not FIRED:
                target._add_waiter(self)
                return
            # Already fired: continue at once with its value.
            v = target.value
            try:
                if v.__class__ is Failure:
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
        self.value = Failure(exc)
        self.engine._ready.append(_Fire(self))


class _Fire:
    """Fires a finished process's event (its waiters resume with its return value)."""

    __slots__ = ("proc",)

    def __init__(self, proc: Process):
        self.proc = proc

    def _run(self) -> None:
        Event._run(self.proc)


_BAD = object()
_IDLE = object()   # Engine._skip_limit outside run(): no skipping


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


class Engine(EngineBase):
    """The event loop. Time is an integer number of picoseconds in :attr:`now`.

    ``policy`` decides every nondeterministic choice (see
    :mod:`sim.engine.choice`); the default is a seeded policy with seed 0 and
    FIFO ties, so two runs of the same model are identical.
    """

    def __init__(self, policy=None):
        self.now = 0
        self._heap: list = []
        self._seq = 0
        self._ready: deque = deque()
        self.policy = policy if policy is not None else SeededPolicy(0)
        self.records: list | None = None
        # skip_to's limit: the exclusive stop time of the run in progress; _IDLE outside run()
        self._skip_limit = _IDLE
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

    def call_later(self, delay_ps: int, fn: Callable, *args) -> Call:
        """Run ``fn(*args)`` after ``delay_ps``; returns a handle with ``cancel()``."""
        if delay_ps < 0:
            raise SimulationError(f"call_later with negative delay {delay_ps}")
        call = Call(fn, args)
        if delay_ps == 0:
            self._ready.append(call)
        else:
            self._seq += 1
            heappush(self._heap, (self.now + delay_ps, self._seq, call))
        return call

    def ready_items(self) -> Sequence:
        """The items due now, in the order FIFO would run them (read-only; a tie's options in this order).

        A policy that orders ties by what each item is (the ordering
        explorer) reads it inside ``choose(n, "tie")``: option ``i`` is
        ``ready_items()[i]``.
        """
        return self._ready

    def skip_to(self, until: int, inline: Callable | None = None) -> bool:
        """Move time to ``until`` now if nothing else is due until then (see :class:`EngineAPI`).

        Items due meanwhile for which ``inline(item)`` is true (work that
        calls back into nobody, such as a store buffer's drain step) are run
        on the way, at their times and in their order, as the loop would run
        them. Only inside :meth:`run` without a step budget, and never to or
        past the run's stop time: the run goes on exactly as if the caller had
        waited for an event at ``until`` (a run that stops at an Event may
        return once the skipping context next waits, not at the Event). False if something else
        is due first (``now`` may then have moved to the last item run inline).
        """
        limit = self._skip_limit
        if limit is _IDLE or self._ready or (limit is not None and until >= limit):
            return False
        heap = self._heap
        while heap and heap[0][0] <= until:
            item = heap[0][2]
            if inline is None or not inline(item):
                return False
            self.now = heappop(heap)[0]
            item._run()
            if self._ready:
                return False
        self.now = until
        return True

    def _unhandled_failure(self, failure: Failure) -> None:
        """A failed event fired with nobody waiting: stop the run with its exception."""
        raise failure.exc

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
            if until.waiter is FIRED:  # already fired: nothing to run up to
                return
            stop_event = until
            stop_time = None
        else:
            stop_event = None
            stop_time = until
            if stop_time is not None and stop_time <= self.now:
                return  # 'until' is exclusive: nothing is due before it
        budget = max_steps if max_steps is not None else -1
        self._skip_limit = stop_time if budget < 0 else _IDLE
        try:
            if self.policy.choose_ties:
                self._loop_explore(stop_time, stop_event, budget)
            elif stop_event is None and budget < 0:
                self._loop_fast(stop_time)
            else:
                self._loop_fifo(stop_time, stop_event, budget)
        finally:
            self._skip_limit = _IDLE
        if stop_time is not None and self.now < stop_time:
            self.now = stop_time
        if stop_event is not None and stop_event.waiter is not FIRED:
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
                if stop_event is not None and stop_event.waiter is FIRED:
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
                if stop_event is not None and stop_event.waiter is FIRED:
                    return
            if not self._advance(stop_time):
                return
