"""Run engine-API models inside cocotb: the HDL simulator's time becomes the model's time.

:class:`CocotbEngine` is the second implementation of
:class:`sim.engine.api.EngineAPI` (the native :class:`sim.engine.Engine` is the
first), so a model written against that API — and :class:`sim.engine.Store` —
runs unchanged under cocotb 2.1. Only time and waiting are mapped here; the
rest is the engine's own code:

* events, ``any_of``/``all_of`` conditions and ``call_later`` handles are the
  shared classes of :mod:`sim.engine.events`, and choices and the trace come
  from :class:`sim.engine.api.EngineBase`, as on the native engine; choices go
  to the same policy objects (:class:`sim.engine.SeededPolicy` by default);
* ``now`` is the simulator time (integer ps, minus an optional ``epoch_ps``);
* each process is a generator driven by a *trampoline* coroutine started with
  ``cocotb.start_soon``: a yielded int ``d > 0`` becomes ``await Timer(d ps)``;
  ``d == 0`` becomes ``await NullTrigger()`` (cocotb 2.x raises ``ValueError``
  on ``Timer(0)``; NullTrigger is a real yield point that does not advance
  time); a yielded Event is waited for (a waiter on it sets a cocotb trigger)
  and its value sent back in, or its exception thrown in if it failed;
* a :class:`Process` is awaitable from cocotb coroutines (``value = await
  proc``); any Event is, through ``await engine.run(ev)``.

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
  ``await engine.run(until)`` or ``await proc`` from the cocotb test.

:func:`pin_driver` maps a model output (an irq listener taking a level) onto a
DUT signal, so a model can sit behind a pin.
"""
from __future__ import annotations

from typing import Any, Callable, Generator

import cocotb
import cocotb.simtime
from cocotb.triggers import Event as _CocotbEvent
from cocotb.triggers import NullTrigger, Timer

from sim.engine.api import EngineBase
from sim.engine.choice import SeededPolicy
from sim.engine.events import FIRED, Call, Event, Failure, SimulationError

__all__ = ["CocotbEngine", "Process", "pin_driver", "hdl_time_ps"]


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


class _RunNow:
    """The adapter's ready queue: an event appended runs at once.

    cocotb owns the order of same-time work, so a triggered event resumes its
    waiters right away (it is processed as soon as it is triggered); a waiting
    process is a cocotb task that its :class:`_Wakeup` schedules.
    """

    __slots__ = ()

    @staticmethod
    def append(item) -> None:
        item._run()


class _Wakeup:
    """The waiter of a cocotb task parked on a model Event: sets a cocotb trigger when it fires."""

    __slots__ = ("trigger",)

    def __init__(self):
        self.trigger = _CocotbEvent()

    def _resume(self, _value: Any) -> None:
        self.trigger.set()

    def _throw(self, _exc: BaseException) -> None:
        self.trigger.set()


async def _fired(ev: Event) -> None:
    """Wait (in a cocotb task) until ``ev`` has fired."""
    if ev.waiter is not FIRED:
        wake = _Wakeup()
        ev._add_waiter(wake)
        await wake.trigger.wait()


async def _outcome(ev: Event) -> Any:
    """Wait until ``ev`` has fired; its value, or its exception raised (the failure is then handled)."""
    await _fired(ev)
    v = ev.value
    if v.__class__ is Failure:
        v.handled = True
        raise v.exc
    return v


class Process(Event):
    """A running generator driven by a cocotb task; as an Event it fires with the return value.

    ``value = await proc`` from a cocotb coroutine joins it (its exception is
    raised there if it died).
    """

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

    def __await__(self):
        return _outcome(self).__await__()


class CocotbEngine(EngineBase):
    """:class:`~sim.engine.api.EngineAPI` on top of cocotb 2.1: processes are cocotb Tasks, time is HDL time.

    ``policy`` decides ``choose``/``choose_index`` exactly as on the native
    engine (default ``SeededPolicy(0)``). ``epoch_ps`` is the HDL time (ps)
    that the model sees as time 0 (default 0: ``now`` is the HDL time);
    :meth:`from_now` starts the model clock at the current HDL time, which is
    what a test wants when it compares against a native run started at 0.
    Construct it inside a running cocotb test.
    """

    def __init__(self, policy=None, *, epoch_ps: int = 0):
        self.policy = policy if policy is not None else SeededPolicy(0)
        if self.policy.choose_ties:
            raise ValueError("the cocotb adapter cannot order same-time items (cocotb does); "
                             "use a policy with choose_ties=False")
        self.epoch_ps = int(epoch_ps)
        self._steps_per_ps = _steps_per_ps()
        self.records: list | None = None
        # Where the shared Event.succeed/fail hand a triggered event: it runs at once.
        self._ready = _RunNow()

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

    def call_later(self, delay_ps: int, fn: Callable, *args) -> Call:
        """Run ``fn(*args)`` after ``delay_ps``; returns a handle with ``cancel()``."""
        if delay_ps < 0:
            raise SimulationError(f"call_later with negative delay {delay_ps}")
        call = Call(fn, args)
        cocotb.start_soon(self._call_later(delay_ps, call), name=getattr(fn, "__name__", "call_later"))
        return call

    async def _call_later(self, delay_ps: int, call: Call) -> None:
        if delay_ps > 0:
            await Timer(delay_ps * self._steps_per_ps, unit="step")
        call._run()

    # --- running (from the cocotb side) -------------------------------
    async def run(self, until: "int | Event | None" = None) -> Any:
        """Wait (in a cocotb coroutine) until model time ``until`` or until an Event fires.

        With an Event, returns its value (raises if it failed). With None,
        returns at once: the simulator, not the adapter, owns the loop.
        """
        if isinstance(until, Event):
            return await _outcome(until)
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
                await _fired(target)
                v = target.value
                if v.__class__ is Failure:
                    v.handled = True
                    exc = v.exc
                else:
                    send = v
            else:
                proc._done = True
                proc.fail(SimulationError(f"{proc!r} yielded {target!r}; yield an Event or a delay"))
                return

    def _unhandled_failure(self, failure: Failure) -> None:
        """A failed event had no waiter: re-raise it soon (failing the test) unless someone takes it."""
        cocotb.start_soon(self._raise_unhandled(failure), name="unhandled model failure")

    @staticmethod
    async def _raise_unhandled(failure: Failure) -> None:
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
