"""Run engine-API models inside cocotb: the HDL simulator's time becomes the model's time.

:class:`CocotbEngine` offers the same small API as :class:`sim.engine.Engine`
(``now``, ``timeout``, ``timeout_event``, ``event``, ``spawn``, ``any_of``,
``all_of``, ``call_later``, ``choose``/``choose_index``, ``log``,
``start_trace``/``records``), so a model written against that API — and
:class:`sim.engine.Store` — runs unchanged under cocotb 2.1:

* ``now`` is the simulator time (integer ps, minus an optional ``epoch_ps``);
* each process is a generator driven by a *trampoline* coroutine started with
  ``cocotb.start_soon``: a yielded int ``d > 0`` becomes ``await Timer(d ps)``;
  ``d == 0`` becomes ``await NullTrigger()`` (cocotb 2.x raises ``ValueError``
  on ``Timer(0)``; NullTrigger is a real yield point that does not advance
  time); a yielded :class:`Event` is awaited and its value sent back in, or
  its exception thrown in if it failed;
* events are this module's :class:`Event` (same interface as the native one,
  and also awaitable from cocotb coroutines: ``value = await proc``);
* choices go to the same policy objects as the native engine
  (:class:`sim.engine.SeededPolicy` by default).

Failures. A process that dies with an exception fails its Process event; a
failed event that nobody waits on is re-raised from a cocotb task, which fails
the running cocotb test (mirroring the native engine, where it stops
``Engine.run``). An awaited failed event raises in the awaiting coroutine.

Differences from the native engine (on purpose, documented):

* same-time ordering is cocotb's (FIFO within one simulator callback, the
  simulator's order across callbacks), so the ``choose_ties`` policy option is
  refused; models meant to give identical traces on both engines must not race
  (see :mod:`sim.examples.doorbell`);
* an event fires its waiters as soon as ``succeed``/``fail`` is called (there
  is no "triggered but not yet processed" state): a process yielding an
  already-triggered event continues at once;
* there is no ``run()`` loop to call: the HDL simulator runs; use
  ``await engine.run(until)`` or ``await event`` from the cocotb test.

:func:`pin_driver` maps a model output (an irq listener taking a level) onto a
DUT signal, so a model can sit behind a pin.
"""
from __future__ import annotations

from typing import Any, Callable, Generator, Iterable

import cocotb
import cocotb.simtime
from cocotb.triggers import Event as _CocotbEvent
from cocotb.triggers import NullTrigger, Timer

from sim.engine.choice import SeededPolicy
from sim.engine.core import PENDING, ChoicesAndTrace, SimulationError, _Failure

__all__ = ["CocotbEngine", "Event", "Process", "pin_driver", "hdl_time_ps"]


def _steps_per_ps() -> int:
    """Simulator steps per picosecond; the model needs a precision of 1 ps or finer."""
    prec = cocotb.simtime.time_precision  # e.g. -12 for 1 ps
    if prec > -12:
        raise SimulationError(
            f"HDL time precision is 1e{prec} s; the engine adapter needs 1 ps or finer "
            "(set `timescale .../1ps or COCOTB_HDL_TIMEPRECISION=1ps)")
    return 10 ** (-12 - prec)


def hdl_time_ps() -> int:
    """The simulator's current time in integer picoseconds (exact, no float)."""
    return cocotb.simtime.get_sim_time("step") // _steps_per_ps()


class Event:
    """Something that happens once, with a value; same interface as :class:`sim.engine.Event`.

    ``yield ev`` in a model process, or ``await ev`` in a cocotb coroutine.
    """

    __slots__ = ("engine", "name", "value", "_callbacks")

    def __init__(self, engine: "CocotbEngine", name: str | None = None):
        self.engine = engine
        self.name = name
        self.value = PENDING
        self._callbacks: list | None = None

    # --- triggering -------------------------------------------------
    def succeed(self, value: Any = None) -> "Event":
        """Trigger the event now; waiters resume in the current time step."""
        if self.value is not PENDING:
            raise SimulationError(f"{self!r} triggered twice")
        self.value = value
        self._fire()
        return self

    def fail(self, exc: BaseException) -> "Event":
        """Trigger the event as failed: ``exc`` is thrown into each waiter."""
        if self.value is not PENDING:
            raise SimulationError(f"{self!r} triggered twice")
        self.value = _Failure(exc)
        self._fire()
        return self

    @property
    def triggered(self) -> bool:
        """True once succeed() or fail() was called."""
        return self.value is not PENDING

    @property
    def processed(self) -> bool:
        """True once the waiters have been resumed (here: as soon as it is triggered)."""
        return self.value is not PENDING

    @property
    def ok(self) -> bool:
        """True if triggered and not failed."""
        v = self.value
        return v is not PENDING and v.__class__ is not _Failure

    # --- waiting ----------------------------------------------------
    def _add_callback(self, fn: Callable[["Event"], None]) -> None:
        """Call ``fn(self)`` when the event fires (the event must still be pending)."""
        if self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def _fire(self) -> None:
        cbs, self._callbacks = self._callbacks, None
        v = self.value
        if v.__class__ is _Failure:
            if cbs:
                v.handled = True
            else:
                self.engine._check_handled(v)
        if cbs:
            for fn in cbs:
                fn(self)

    async def _wait(self) -> Any:
        if self.value is PENDING:
            cev = _CocotbEvent()
            self._add_callback(lambda _ev: cev.set())
            await cev.wait()
        v = self.value
        if v.__class__ is _Failure:
            v.handled = True
            raise v.exc
        return v

    def __await__(self):
        """``await ev`` from a cocotb coroutine: its value, or its exception raised."""
        return self._wait().__await__()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or hex(id(self))}>"


class Process(Event):
    """A running generator; as an Event it fires with the generator's return value."""

    __slots__ = ("_gen", "_done", "task")

    def __init__(self, engine: "CocotbEngine", gen: Generator, name: str | None = None):
        super().__init__(engine, name or getattr(gen, "__name__", None))
        self._gen = gen
        self._done = False
        #: The cocotb Task running the trampoline.
        self.task = None

    @property
    def is_alive(self) -> bool:
        return not self._done


class _Call:
    """Handle of a :meth:`CocotbEngine.call_later` callback."""

    __slots__ = ("fn", "args", "cancelled")

    def __init__(self, fn: Callable, args: tuple):
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback after all."""
        self.cancelled = True


class _Condition(Event):
    """Fires when ``need`` of its events have fired; value maps event -> value (like the native one)."""

    __slots__ = ("_events", "_need", "_count")

    def __init__(self, engine: "CocotbEngine", events: list[Event], need: int):
        super().__init__(engine, "any_of" if need == 1 else "all_of")
        self._events = events
        self._need = need
        self._count = 0
        if need == 0:
            self.succeed({})
            return
        for ev in events:
            if ev.value is PENDING:
                ev._add_callback(self._child_fired)
            else:
                if ev.value.__class__ is _Failure:
                    ev.value.handled = True
                self._child_fired(ev)

    def _child_fired(self, ev: Event) -> None:
        if self.value is not PENDING:
            return
        v = ev.value
        if v.__class__ is _Failure:
            self.fail(v.exc)
            return
        self._count += 1
        if self._count >= self._need:
            self.succeed({e: e.value for e in self._events if e.ok})


class CocotbEngine(ChoicesAndTrace):
    """The engine API on top of cocotb 2.1: processes are cocotb Tasks, time is HDL time.

    ``policy`` decides ``choose``/``choose_index`` exactly as on the native
    engine (default ``SeededPolicy(0)``). ``epoch_ps`` is the HDL time (ps)
    that the model sees as time 0 (default 0: ``now`` is the HDL time);
    :meth:`from_now` starts the model clock at the current HDL time, which is
    what a test wants when it compares against a native run started at 0.
    Construct it inside a running cocotb test.
    """

    def __init__(self, policy=None, *, epoch_ps: int = 0):
        self.policy = policy if policy is not None else SeededPolicy(0)
        if getattr(self.policy, "choose_ties", False):
            raise ValueError("the cocotb adapter cannot order same-time items (cocotb does); "
                             "use a policy with choose_ties=False")
        self.epoch_ps = int(epoch_ps)
        self._steps_per_ps = _steps_per_ps()
        self.records: list | None = None

    @classmethod
    def from_now(cls, policy=None) -> "CocotbEngine":
        """An engine whose time 0 is the current HDL time."""
        return cls(policy, epoch_ps=hdl_time_ps())

    # --- time -------------------------------------------------------
    @property
    def now(self) -> int:
        """Model time in integer picoseconds: HDL time minus ``epoch_ps``."""
        return cocotb.simtime.get_sim_time("step") // self._steps_per_ps - self.epoch_ps

    @staticmethod
    def timeout(delay_ps: int) -> int:
        """A wait of ``delay_ps`` picoseconds; ``yield engine.timeout(d)`` in a process."""
        return delay_ps

    def _sleep(self, delay_ps: int):
        """The cocotb trigger for a model delay (NullTrigger for 0: Timer(0) is invalid in 2.x)."""
        if delay_ps > 0:
            return Timer(delay_ps * self._steps_per_ps, unit="step")
        return NullTrigger()

    def timeout_event(self, delay_ps: int, value: Any = None) -> Event:
        """A real Event that fires after ``delay_ps`` (to combine with any_of/all_of)."""
        if delay_ps < 0:
            raise SimulationError(f"negative delay {delay_ps}")
        ev = Event(self, f"timeout+{delay_ps}")
        self.call_later(delay_ps, ev.succeed, value)
        return ev

    # --- building blocks for models ---------------------------------
    def event(self, name: str | None = None) -> Event:
        """A new untriggered event."""
        return Event(self, name)

    def spawn(self, gen: Generator, name: str | None = None) -> Process:
        """Start a process (a cocotb Task) in the current time step; returns it (an Event)."""
        if not hasattr(gen, "send"):
            raise SimulationError(f"spawn() needs a generator, got {gen!r}")
        proc = Process(self, gen, name)
        proc.task = cocotb.start_soon(self._trampoline(proc), name=proc.name)
        return proc

    def any_of(self, events: Iterable) -> Event:
        """Fires when the first of ``events`` (Events or delays) fires."""
        return _Condition(self, self._as_events(events), 1)

    def all_of(self, events: Iterable) -> Event:
        """Fires when all of ``events`` (Events or delays) have fired."""
        evs = self._as_events(events)
        return _Condition(self, evs, len(evs))

    def _as_events(self, events: Iterable) -> list[Event]:
        return [e if isinstance(e, Event) else self.timeout_event(int(e)) for e in events]

    def call_later(self, delay_ps: int, fn: Callable, *args) -> _Call:
        """Run ``fn(*args)`` after ``delay_ps``; returns a handle with ``cancel()``."""
        if delay_ps < 0:
            raise SimulationError(f"call_later with negative delay {delay_ps}")
        call = _Call(fn, args)
        cocotb.start_soon(self._call_later(delay_ps, call), name=getattr(fn, "__name__", "call_later"))
        return call

    async def _call_later(self, delay_ps: int, call: _Call) -> None:
        if delay_ps > 0:
            await Timer(delay_ps * self._steps_per_ps, unit="step")
        if not call.cancelled:
            call.fn(*call.args)

    # --- running (from the cocotb side) -------------------------------
    async def run(self, until: "int | Event | None" = None) -> Any:
        """Wait (in a cocotb coroutine) until model time ``until`` or until an Event fires.

        With an Event, returns its value (raises if it failed). With None,
        returns at once: the simulator, not the adapter, owns the loop.
        """
        if isinstance(until, Event):
            return await until
        if until is not None:
            d = int(until) - self.now
            if d > 0:
                await Timer(d * self._steps_per_ps, unit="step")
        return None

    # --- internals ----------------------------------------------------
    async def _trampoline(self, proc: Process) -> None:
        """Drive one generator process with cocotb triggers."""
        gen = proc._gen
        send: Any = None
        exc: BaseException | None = None
        while True:
            try:
                target = gen.send(send) if exc is None else gen.throw(exc)
            except StopIteration as stop:
                proc._done = True
                proc.succeed(stop.value)
                return
            except BaseException as err:  # the process died: fail its event
                proc._done = True
                proc.fail(err)
                return
            send = None
            exc = None
            if target.__class__ is int:
                if target < 0:
                    proc._done = True
                    proc.fail(SimulationError(f"{proc!r} yielded a negative delay {target}"))
                    return
                await self._sleep(target)
            elif isinstance(target, Event):
                if target.engine is not self:
                    proc._done = True
                    proc.fail(SimulationError(f"{proc!r} yielded {target!r} of another engine"))
                    return
                if target.value is PENDING:
                    cev = _CocotbEvent()
                    target._add_callback(lambda _ev, cev=cev: cev.set())
                    await cev.wait()
                v = target.value
                if v.__class__ is _Failure:
                    v.handled = True
                    exc = v.exc
                else:
                    send = v
            else:
                proc._done = True
                proc.fail(SimulationError(f"{proc!r} yielded {target!r}; yield an Event or a delay"))
                return

    def _check_handled(self, failure: _Failure) -> None:
        """A failed event had no waiter: re-raise it soon (failing the test) unless someone takes it."""
        cocotb.start_soon(self._raise_unhandled(failure), name="unhandled model failure")

    @staticmethod
    async def _raise_unhandled(failure: _Failure) -> None:
        if not failure.handled:
            raise failure.exc


def pin_driver(signal, initial: int | None = 0) -> Callable[[int], None]:
    """A listener that drives ``signal`` (e.g. ``dut.irq``) with the level it is called with.

    ``dev.add_irq_listener(pin_driver(dut.irq))`` puts a model output on a
    pin. The write is a normal cocotb 2.x deposit, so the pin changes in the
    same simulator time step (a monitor sees the edge at the model's time).
    ``initial`` (default 0) is driven at once so the pin is not left at Z.
    """
    if initial is not None:
        signal.value = int(initial)

    def drive(level: int) -> None:
        signal.value = int(level)

    return drive
