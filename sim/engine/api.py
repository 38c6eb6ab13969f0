"""The engine API: what model code may call on ``engine``, declared once.

Model code — the NIC model, the driver and its kernel API, the net stack, the
simulated host — is written against :class:`EngineAPI` and nothing else, so
the same code runs on the native engine (:class:`sim.engine.Engine`: fast,
for scenarios, benchmarks and the explorer) and inside cocotb
(:class:`sim.tb.adapter.CocotbEngine`: the HDL simulator's time is the
model's time). ``tests/sim/engine/test_api.py`` checks that both implement every
member with the same signature.

A process is a generator. It waits by yielding an :class:`~sim.engine.events.Event`
(resumed with its value, or with its exception thrown in) or a delay from
``engine.timeout(d)`` (an int of picoseconds).

Running is not part of the API: whoever owns the simulation drives it —
``engine.run(...)`` on the native engine, the HDL simulator under cocotb
(where a test awaits ``engine.run(...)``). Model code never does.

:class:`EngineBase` is the half of the API whose code is the same on every
engine (choices, the trace, ``any_of``/``all_of``); both engines derive from it
and add time, processes and callbacks on their own scheduler.
"""
from __future__ import annotations

from typing import Any, Callable, Generator, Iterable, Protocol, Sequence

from .choice import Policy
from .events import Call, Condition, Event, SimulationError

__all__ = ["EngineAPI", "EngineBase"]


class EngineAPI(Protocol):
    """The engine as model code sees it: time, delays, events, processes, choices, the trace."""

    #: The choice policy answering ``choose``/``choose_index`` (see :mod:`sim.engine.choice`);
    #: ``policy.trace()`` is the run's recorded choices.
    policy: Policy
    #: The trace :meth:`log` appends to, or None while tracing is off.
    records: list | None

    @property
    def now(self) -> int:
        """Current simulated time in integer picoseconds."""

    def timeout(self, delay_ps: int) -> int:
        """A wait of ``delay_ps`` picoseconds: ``yield engine.timeout(d)`` in a process (0 = yield point)."""

    def timeout_event(self, delay_ps: int, value: Any = None) -> Event:
        """An Event that fires with ``value`` after ``delay_ps`` (to combine with any_of/all_of)."""

    def event(self, name: str | None = None) -> Event:
        """A new untriggered Event (``succeed(value)``/``fail(exc)`` trigger it)."""

    def spawn(self, gen: Generator, name: str | None = None) -> Event:
        """Start the generator ``gen`` as a process now; the returned Event fires with its return value."""

    def any_of(self, events: Iterable) -> Event:
        """An Event that fires when the first of ``events`` (Events or delays) fires."""

    def all_of(self, events: Iterable) -> Event:
        """An Event that fires when all of ``events`` (Events or delays) have fired."""

    def call_later(self, delay_ps: int, fn: Callable, *args) -> Call:
        """Run ``fn(*args)`` after ``delay_ps``; the handle's ``cancel()`` stops it."""

    def choose_index(self, n: int, why: str) -> int:
        """A nondeterministic choice of an index in ``range(n)``, made by the policy."""

    def skip_to(self, until: int, inline: Callable | None = None) -> bool:
        """Move time to ``until`` at once if nothing else is due until then; False otherwise.

        For a model whose own work fills ``[now, until)`` (a busy CPU): when
        no other item is ready or scheduled at or before ``until`` (except
        items ``inline`` accepts, run on the way in order), running on at
        once is the same run as waiting for an event at ``until``.
        """

    def choose(self, options: Sequence, why: str) -> Any:
        """A nondeterministic choice of one of ``options``, made by the policy."""

    def log(self, source: str, what: str, *data) -> None:
        """Append ``(now, source, what, *data)`` to :attr:`records` if tracing is on."""

    def start_trace(self) -> list:
        """Turn tracing on; returns the list :meth:`log` appends to."""


class EngineBase:
    """The members of :class:`EngineAPI` whose code is the same on every engine.

    A subclass provides ``policy``, ``records``, ``now`` and ``timeout_event``,
    and runs the shared :class:`~sim.engine.events.Event` classes on its own
    scheduler (see :mod:`sim.engine.events` for the two hooks they need).
    """

    # --- choices ----------------------------------------------------
    def skip_to(self, until: int, inline: Callable | None = None) -> bool:
        """Never skips: an engine that cannot see what is due (cocotb's scheduler) waits normally."""
        return False

    def choose_index(self, n: int, why: str) -> int:
        """Index in ``range(n)`` picked by the policy; ``why`` labels the choice."""
        if n <= 1:
            if n == 1:
                return 0
            raise SimulationError(f"choice '{why}' has no options")
        return self.policy.choose(n, why)

    def choose(self, options: Sequence, why: str) -> Any:
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

    # --- conditions -------------------------------------------------
    def any_of(self, events: Iterable) -> Event:
        """Fires when the first of ``events`` (Events or delays) fires."""
        return Condition(self, self._as_events(events), 1)

    def all_of(self, events: Iterable) -> Event:
        """Fires when all of ``events`` (Events or delays) have fired."""
        evs = self._as_events(events)
        return Condition(self, evs, len(evs))

    def _as_events(self, events: Iterable) -> list[Event]:
        return [e if isinstance(e, Event) else self.timeout_event(int(e)) for e in events]
