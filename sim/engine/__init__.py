"""igbsim's discrete-event engine (stdlib only).

Public API: :class:`Engine` (time in integer picoseconds, processes, events,
``choose``), :class:`Store`, the choice policies and :func:`explore`.
"""
from .choice import (ChoiceTrace, Exploration, ExplorationLimit, FirstPolicy, Policy,
                     ReplayDivergence, ReplayPolicy, SeededPolicy, explore)
from .core import PENDING, Engine, Event, Process, SimulationError
from .store import Store
from .units import MS, NS, PS, S, US, fmt_ps, ns, us

__all__ = [
    "Engine", "Event", "Process", "SimulationError", "PENDING", "Store",
    "Policy", "SeededPolicy", "FirstPolicy", "ReplayPolicy", "ReplayDivergence",
    "ChoiceTrace", "Exploration", "ExplorationLimit", "explore",
    "PS", "NS", "US", "MS", "S", "ns", "us", "fmt_ps",
]
