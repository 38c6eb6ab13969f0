"""igbsim's discrete-event engine (stdlib only).

Public API: :class:`EngineAPI` (the interface model code is written against),
:class:`Engine` (the native implementation: time in integer picoseconds,
processes, events, ``choose``), :class:`Event`, :class:`Store`, the choice
policies and :func:`explore`. The cocotb adapter (:mod:`sim.tb.adapter`) is
the other implementation of :class:`EngineAPI`.
"""
from .api import EngineAPI
from .choice import (ChoiceTrace, Exploration, ExplorationLimit, FirstPolicy, Policy,
                     ReplayDivergence, ReplayPolicy, SeededPolicy, explore)
from .core import Engine, Process
from .events import PENDING, Event, SimulationError
from .store import Store
from .units import MS, NS, PS, S, US, fmt_ps, ns, us

__all__ = [
    "EngineAPI", "Engine", "Event", "Process", "SimulationError", "PENDING", "Store",
    "Policy", "SeededPolicy", "FirstPolicy", "ReplayPolicy", "ReplayDivergence",
    "ChoiceTrace", "Exploration", "ExplorationLimit", "explore",
    "PS", "NS", "US", "MS", "S", "ns", "us", "fmt_ps",
]
