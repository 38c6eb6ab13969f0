"""A FIFO store (queue) of items between processes, written only against the engine API.

Because it uses nothing but ``engine.event()`` and ``Event.succeed`` (see
:class:`sim.engine.api.EngineAPI`), the same class works on the native engine
and on the cocotb adapter.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from .api import EngineAPI

__all__ = ["Store"]


class Store:
    """FIFO queue with optional capacity; ``put``/``get`` return events to yield on.

    Getters are served in arrival order; a ``get`` on a non-empty store is
    already triggered, so the getter resumes in the same time step (behind
    whatever is already ready then).
    """

    __slots__ = ("engine", "capacity", "items", "_getters", "_putters")

    def __init__(self, engine: EngineAPI, capacity: int | None = None):
        if capacity is not None and capacity < 1:
            raise ValueError("Store capacity must be at least 1")
        self.engine = engine
        self.capacity = capacity
        self.items: deque = deque()
        self._getters: deque = deque()
        self._putters: deque = deque()

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: Any):
        """Add ``item``; the returned event fires once it is in the store."""
        ev = self.engine.event("Store.put")
        if self._getters:
            self._getters.popleft().succeed(item)
            ev.succeed()
        elif self.capacity is None or len(self.items) < self.capacity:
            self.items.append(item)
            ev.succeed()
        else:
            self._putters.append((ev, item))
        return ev

    def get(self):
        """Take the oldest item; the returned event fires with it."""
        ev = self.engine.event("Store.get")
        if self.items:
            ev.succeed(self.items.popleft())
            if self._putters:
                pev, item = self._putters.popleft()
                self.items.append(item)
                pev.succeed()
        else:
            self._getters.append(ev)
        return ev
