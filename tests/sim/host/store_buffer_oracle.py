"""A reference store buffer: the eligibility rule as stated, recomputed from scratch at every question.

:class:`ReferenceStoreBuffer` has the interface of the buffers of
:func:`sim.host.store_buffer.new_store_buffer` but keeps nothing but the program-order
list of stores and fence marks, and answers every question by rescanning it
with the rule of :mod:`sim.host.cpu` written out literally: an older store
``o`` holds a younger store ``e`` back if they share a byte, or the profile
does not let ``e``'s class pass ``o``'s, or a fence mark between them orders
``o``'s class before ``e``'s. Slow (cubic at worst) and obviously right, so a
run with it is the oracle for a run with the incremental buffer.

:func:`saw_every_qword` is the reference for ``Cpu._saw_own_write``: the
per-qword ``seen`` update for every write, whatever its length.

:func:`recording` wraps either kind of buffer so that each drain step's list
of eligible stores is logged.
"""
from __future__ import annotations

from sim.host.ordering import DW

__all__ = ["ReferenceStoreBuffer", "saw_every_qword", "recording", "describe"]


class ReferenceStoreBuffer:
    """Program-order list of ``("store", store)`` and ``("fence", fence)``; every answer by rescanning."""

    def __init__(self, profile):
        self.profile = profile
        self.items: list[tuple[str, object]] = []

    def add(self, store) -> None:
        self.items.append(("store", store))

    def mark(self, fence) -> None:
        self.items.append(("fence", fence))

    def _holds_back(self, i: int, j: int) -> bool:
        """Does the store at ``items[i]`` have to become visible before the store at ``items[j]`` (i < j)?"""
        o, e = self.items[i][1], self.items[j][1]
        if o.addr < e.addr + e.size and e.addr < o.addr + o.size:
            return True
        if not self.profile.may_reorder(o.cls, e.cls):
            return True
        return any(kind == "fence" and f.orders(o.cls, e.cls) for kind, f in self.items[i + 1:j])

    def _blockers(self, j: int) -> list[int]:
        return [i for i in range(j) if self.items[i][0] == "store" and self._holds_back(i, j)]

    def eligible(self) -> list:
        return [s for j, (kind, s) in enumerate(self.items) if kind == "store" and not self._blockers(j)]

    def oldest(self):
        return next(s for kind, s in self.items if kind == "store")

    def remove(self, store) -> None:
        j = next(j for j, (kind, s) in enumerate(self.items) if s is store)
        assert not self._blockers(j), f"{store} left while an older store had to go first"
        del self.items[j]

    def closure(self, pred) -> list:
        need = {j for j, (kind, s) in enumerate(self.items) if kind == "store" and pred(s)}
        todo = list(need)
        while todo:
            for i in self._blockers(todo.pop()):
                if i not in need:
                    need.add(i)
                    todo.append(i)
        return [self.items[j][1] for j in sorted(need)]

    def writes_over(self, addr: int, size: int) -> list:
        return [s for kind, s in self.items if kind == "store" and s.cls != DW
                and s.addr < addr + size and addr < s.addr + s.size]


def saw_every_qword(cpu, addr: int, size: int) -> None:
    """Reference ``Cpu._saw_own_write``: every qword the write touched was seen at the current write count."""
    g = cpu.history.gver
    q = addr & ~7
    while q < addr + size:
        cpu.seen[q] = g
        q += 8


def describe(store) -> tuple:
    """What identifies a buffered store across two runs: class, address, length, value."""
    return (store.cls, store.addr, store.size, store.data if store.cls == DW else bytes(store.data))


def recording(make, log: list):
    """A store-buffer factory like ``make`` (profile -> buffer) whose buffers log each :meth:`eligible` answer."""
    def make_recording(profile):
        sb = make(profile)
        eligible = sb.eligible

        def logged():
            out = eligible()
            log.append(tuple(describe(s) for s in out))
            return out
        sb.eligible = logged
        return sb
    return make_recording
