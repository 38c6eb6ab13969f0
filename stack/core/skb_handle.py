"""skb pointers as kernel addresses: what a ``struct sk_buff *`` stored in simulated memory holds.

Driver state that lives in simulated memory (``igb_tx_buffer.skb``) holds a
pointer to an skb, so it needs an integer that stands for one. The handle
of an skb is an address in the x86-64 direct map, one slab object per skb::

    skb_handle(skb) = SKB_HANDLE_BASE + skb.id * SKB_HANDLE_STRIDE

The table that resolves handles is the skb memory's own live table
(``SkbMemory.live``, by id): the stack's frees remove skbs from it, so a
freed skb's handle is *dead* as soon as the stack frees it, whoever frees
it. ids are never reused, so a dead handle stays dead (KASAN's quarantine,
without end): every use of a stale pointer is caught, never one that
happens to point at a new skb.

:func:`skb_from_handle` turns a loaded handle back into an skb: 0 is NULL,
a live handle its skb, a dead one a :class:`FreedSkb` whose every use
(freeing it, reading a field through it) is reported as a use-after-free
(:mod:`stack.core.bug`) and raises :class:`~stack.core.bug.UseAfterFree`.
Loading a stale pointer is not a bug in C; using it is, so the report
comes at the use, naming the function that loaded the pointer. A value
that was never a handle (e.g. uninitialised memory) is a wild pointer:
reported and raised at once, as the oops on dereferencing it would be.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .bug import KernelBug, UseAfterFree, report_bug

if TYPE_CHECKING:  # types for the annotations only
    from .skb_memory import SkbMemory
    from .skbuff import SkBuff

__all__ = ["SKB_HANDLE_BASE", "SKB_HANDLE_STRIDE", "skb_handle", "skb_from_handle", "FreedSkb"]

#: ``PAGE_OFFSET`` of x86-64 with 4-level paging: where kmalloc'd objects such as an sk_buff live.
SKB_HANDLE_BASE = 0xFFFF_8880_0000_0000
_SHIFT = 8
#: One slab object per skb: ``sizeof(struct sk_buff)`` (232 on x86-64 6.x) rounded up to the
#: skbuff_head_cache object size. UNCONFIRMED (from memory); only the handle values depend on it.
SKB_HANDLE_STRIDE = 1 << _SHIFT


def skb_handle(skb: SkBuff | None) -> int:
    """The address that stands for ``skb`` (0 for None, NULL)."""
    return 0 if skb is None else SKB_HANDLE_BASE + (skb.id << _SHIFT)


def skb_from_handle(mem: SkbMemory, handle: int, depth: int = 1) -> SkBuff | FreedSkb | None:
    """The skb of ``mem`` that ``handle`` stands for: None for NULL, a :class:`FreedSkb` if freed.

    ``depth`` picks the function named as the loading site in a report: the
    caller of this function (1), its caller (2), …
    """
    if not handle:
        return None
    off = handle - SKB_HANDLE_BASE
    if off > 0 and not off & (SKB_HANDLE_STRIDE - 1):
        skb = mem.live.get(off >> _SHIFT)
        if skb is not None:
            return skb
        if off >> _SHIFT <= mem._next_id:
            return FreedSkb(mem, handle, sys._getframe(depth).f_code.co_name)
    site = sys._getframe(depth).f_code.co_name
    raise report_bug(mem.ctx, KernelBug, "wild pointer", site, handle,
                     f"{site} loaded {handle:#x} as an skb pointer: no skb ever had that address")


class FreedSkb:
    """What a dead skb handle resolves to: reading any field through it is a use-after-free.

    Freeing it reads ``skb->users`` first, so ``kfree_skb``, ``consume_skb``,
    ``napi_consume_skb`` … of a freed skb are caught the same way.
    """

    __slots__ = ("_mem", "_handle", "_site")

    def __init__(self, mem: SkbMemory, handle: int, site: str):
        self._mem = mem
        self._handle = handle
        self._site = site

    def __getattr__(self, field: str):
        handle = self._handle
        raise report_bug(self._mem.ctx, UseAfterFree, "use-after-free", self._site, handle,
                         f"{self._site} loaded the pointer to skb #{(handle - SKB_HANDLE_BASE) >> _SHIFT}, "
                         f"freed before; then skb->{field} was read through it")

    def __repr__(self) -> str:
        return f"<freed skb {self._handle:#x}>"
