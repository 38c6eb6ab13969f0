"""Linux bit operations on simulated memory (``include/asm-generic/bitops/atomic.h``,
``Documentation/atomic_bitops.txt``).

**The CPU is an explicit first argument.** C code runs on an implicit
current CPU; the model has no per-thread CPU, so ``set_bit(nr, addr)`` is
written ``set_bit(cpu, nr, addr)`` here, ``cpu`` being the
:class:`~sim.host.cpu.Cpu` that executes it (the stack's ``net.ctx.cpu``).
Every access goes through that CPU, so its store buffer, stale-load window
and the profile's ordering rules apply.

``addr`` is the address of an ``unsigned long`` bitmap: bit ``nr`` is bit
``nr % 64`` of the 8-byte word at ``addr + 8 * (nr // 64)``.

Ordering, as Linux documents it (cpu_time_facts §3):

* :func:`set_bit`, :func:`clear_bit`: atomic and **unordered** — one
  atomic RMW instruction (:meth:`Cpu.atomic_rmw <sim.host.cpu.Cpu.atomic_rmw>`)
  with only what the architecture's instruction implies (x86's LOCK prefix
  makes it a full barrier; arm64, POWER, RISC-V: nothing).
* :func:`test_and_set_bit`, :func:`test_and_clear_bit`: **fully ordered
  when they change the bit** (``smp_mb`` before and after). As in
  asm-generic, they first test the bit with a ``READ_ONCE`` and return at
  once if the operation would change nothing: a "failed" one is a plain load
  (it may return a stale value on a weak profile) and orders nothing.
  x86's ``lock bts`` would still be a full barrier there; the model gives the
  documented (weaker) guarantee on every profile.
* :func:`test_bit`: a plain load.
* :func:`__test_and_set_bit`: the non-atomic variant (plain load, plain
  store), for bits only one CPU writes under a lock.
* :func:`smp_mb__before_atomic`, :func:`smp_mb__after_atomic`: upgrade the
  adjacent unordered RMW to a full barrier: ``smp_mb`` where the profile's
  atomic RMW does not already order everything ``smp_mb`` orders (weak
  profiles), nothing where it does (x86: "LOCK'd RMWs are full barriers").

No CPU time is charged here: the cost of atomics is the cost table's
business (:mod:`stack.core.cputime`).
"""
from __future__ import annotations

__all__ = [
    "BITS_PER_LONG", "set_bit", "clear_bit", "test_bit", "test_and_set_bit", "test_and_clear_bit",
    "__test_and_set_bit", "smp_mb__before_atomic", "smp_mb__after_atomic",
]

BITS_PER_LONG = 64
_WORD = BITS_PER_LONG // 8


def set_bit(cpu, nr: int, addr: int) -> None:
    """Atomically set bit ``nr`` (unordered)."""
    mask = 1 << (nr & 63)
    cpu.atomic_rmw(addr + _WORD * (nr >> 6), _WORD, lambda v: v | mask)


def clear_bit(cpu, nr: int, addr: int) -> None:
    """Atomically clear bit ``nr`` (unordered)."""
    keep = ~(1 << (nr & 63))
    cpu.atomic_rmw(addr + _WORD * (nr >> 6), _WORD, lambda v: v & keep)


def test_bit(cpu, nr: int, addr: int) -> bool:
    """Bit ``nr``, by a plain load."""
    return bool(cpu.load(addr + _WORD * (nr >> 6), _WORD) >> (nr & 63) & 1)


def test_and_set_bit(cpu, nr: int, addr: int) -> bool:
    """Set bit ``nr``; its old value. Fully ordered if it was clear, else a plain load."""
    p = addr + _WORD * (nr >> 6)
    mask = 1 << (nr & 63)
    if cpu.load(p, _WORD) & mask:
        return True
    return bool(cpu.atomic_rmw(p, _WORD, lambda v: v | mask, _smp_mb(cpu)) & mask)


def test_and_clear_bit(cpu, nr: int, addr: int) -> bool:
    """Clear bit ``nr``; its old value. Fully ordered if it was set, else a plain load."""
    p = addr + _WORD * (nr >> 6)
    mask = 1 << (nr & 63)
    if not cpu.load(p, _WORD) & mask:
        return False
    return bool(cpu.atomic_rmw(p, _WORD, lambda v: v & ~mask, _smp_mb(cpu)) & mask)


def __test_and_set_bit(cpu, nr: int, addr: int) -> bool:
    """Non-atomic test-and-set (a plain load, then a plain store if the bit was clear); the old bit."""
    p = addr + _WORD * (nr >> 6)
    mask = 1 << (nr & 63)
    old = cpu.load(p, _WORD)
    if old & mask:
        return True
    cpu.store(p, _WORD, old | mask)
    return False


def smp_mb__before_atomic(cpu) -> None:
    """Order everything before the next unordered atomic against it and all that follows."""
    _upgrade(cpu)


def smp_mb__after_atomic(cpu) -> None:
    """Order the preceding unordered atomic and everything before it against all that follows."""
    _upgrade(cpu)


def _smp_mb(cpu):
    return cpu.profile.barriers["smp_mb"]


def _upgrade(cpu) -> None:
    """``smp_mb`` unless the profile's atomic RMW already orders all that ``smp_mb`` orders."""
    mb = cpu.profile.barriers["smp_mb"]
    implied = cpu.profile.atomic_rmw.after_of
    if any(after & ~implied[c] for c, after in mb.after_of.items()):
        cpu.fence(mb)
