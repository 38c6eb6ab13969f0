"""``void __iomem *``: a handle on an ioremapped window, and addresses inside it.

``ioremap(phys, size)`` returns an :class:`IoMem`; ``io + offset`` is an
:class:`IoAddr`, so a driver can keep a register's address the way igb keeps
``ring->tail = hw->hw_addr + E1000_TDT(reg_idx)``. Every access is checked
against the window: outside it, misaligned, or after ``iounmap`` is an
:class:`IoMemError` — a driver bug to stop on, not a bus event (a device
access that no BAR claims is the host's master abort instead).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IoMem", "IoAddr", "IoMemError"]


class IoMemError(ValueError):
    """An MMIO access outside its ioremapped window, misaligned, or after iounmap."""


@dataclass(frozen=True, eq=False)
class IoMem:
    """An ioremapped window ``[base, base + size)`` of the MMIO space (identity by object)."""

    base: int
    size: int
    name: str = ""

    def __add__(self, offset: int) -> "IoAddr":
        return IoAddr(self, offset)

    def __repr__(self) -> str:
        return f"<IoMem {self.name or '?'} {self.base:#x}+{self.size:#x}>"


@dataclass(frozen=True)
class IoAddr:
    """``io + offset``: an address inside an ioremapped window."""

    io: IoMem
    offset: int

    def __add__(self, offset: int) -> "IoAddr":
        return IoAddr(self.io, self.offset + offset)


def resolve(addr: IoMem | IoAddr, offset: int, size: int, live) -> int:
    """The bus address of an access of ``size`` bytes at ``addr + offset``, after checking it.

    ``live`` is the set of IoMem handles not yet unmapped.
    """
    if isinstance(addr, IoAddr):
        io, offset = addr.io, addr.offset + offset
    elif isinstance(addr, IoMem):
        io = addr
    else:
        raise IoMemError(f"MMIO access through {addr!r}: not an ioremap()ed address")
    if io not in live:
        raise IoMemError(f"MMIO access at {io!r}+{offset:#x} after iounmap (or never ioremapped here)")
    if offset < 0 or offset + size > io.size:
        raise IoMemError(f"MMIO access of {size} bytes at offset {offset:#x} is outside {io!r} "
                         f"(valid offsets 0..{io.size - size:#x})")
    if offset % size:
        raise IoMemError(f"misaligned {size}-byte MMIO access at offset {offset:#x} of {io!r}")
    return io.base + offset
