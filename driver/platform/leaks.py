"""Leak accounting: what a driver still holds, each item with its owner and size.

"Open then close leaves zero DMA mappings and no coherent memory allocated"
is checked with :meth:`LeakReport` from ``Kernel.leaks()``: every live
coherent buffer, streaming mapping, kzalloc/vmalloc object, requested IRQ,
interrupt-vector block and ioremap, with the function that took it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["Leak", "LeakReport", "LeakError", "caller_name", "LEAK_KINDS"]

#: Kinds of resource, in report order.
LEAK_KINDS = ("coherent", "streaming", "kzalloc", "vmalloc", "irq", "irq_vectors", "ioremap")

_PLATFORM = __name__.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Leak:
    """One resource still held: ``kind`` (see LEAK_KINDS), who took it, its size (0: not memory), details."""

    kind: str
    owner: str
    size: int
    what: str = ""

    def __str__(self) -> str:
        size = f"{self.size:>9} bytes" if self.size else " " * 15
        return f"{self.kind:<11} {size}  {self.owner}  {self.what}".rstrip()


@dataclass(frozen=True)
class LeakReport:
    """Every live resource; empty (falsy) when nothing is held."""

    items: tuple[Leak, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def of(self, kind: str) -> tuple[Leak, ...]:
        """The items of one kind."""
        return tuple(i for i in self.items if i.kind == kind)

    @property
    def coherent(self) -> tuple[Leak, ...]:
        return self.of("coherent")

    @property
    def streaming(self) -> tuple[Leak, ...]:
        return self.of("streaming")

    @property
    def allocations(self) -> tuple[Leak, ...]:
        """kzalloc and vmalloc objects."""
        return self.of("kzalloc") + self.of("vmalloc")

    def __str__(self) -> str:
        if not self.items:
            return "no leaks"
        lines = [f"{len(self.items)} resource(s) still held:"]
        lines += [f"  {i}" for i in sorted(self.items, key=lambda i: LEAK_KINDS.index(i.kind))]
        return "\n".join(lines)


class LeakError(AssertionError):
    """Resources were still held where none should be."""


def _in_platform(module: str) -> bool:
    return module == _PLATFORM or module.startswith(_PLATFORM + ".")


def caller_name() -> str:
    """The name of the first function outside ``driver.platform`` on the stack (who asked)."""
    f = sys._getframe(1)
    while f is not None and _in_platform(f.f_globals.get("__name__", "")):
        f = f.f_back
    return f.f_code.co_name if f is not None else "?"
