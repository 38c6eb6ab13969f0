"""Where skb memory comes from: ``SkbMemory`` (data buffers and page frags in simulated host memory).

Linux takes skb data from the slab (``kmalloc_reserve``) and page frags
from the page allocator; the model takes both from the host's DMA-able
pool (:class:`HostAllocator`) and keeps the live-skb and page accounting
that lets tests assert that nothing leaked (:class:`SkbLeak`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sim.host import DmaPoolExhausted

from .bug import KernelBug
from .context import CpuContext

if TYPE_CHECKING:
    from .skbuff import SkBuff

__all__ = ["SkbBug", "SkbLeak", "HostAllocator", "SkbMemory"]


class SkbBug(KernelBug):
    """A misuse Linux would BUG() on: skb_over_panic, skb_under_panic, double free, too many frags."""



class SkbLeak(AssertionError):
    """skbs or pages still live when a run says none should be."""



class HostAllocator:
    """Allocations from the host's kmalloc pool (``host.dma.kmalloc``); None when it is exhausted."""

    def __init__(self, host):
        self.dma = host.dma
        self.live = 0

    def alloc(self, size: int, align: int = 64) -> int | None:
        try:
            addr = self.dma.kmalloc(size, align)
        except DmaPoolExhausted:
            return None
        self.live += 1
        return addr

    def free(self, addr: int) -> None:
        self.dma.kfree(addr)
        self.live -= 1



class SkbMemory:
    """Where skb bytes come from and who writes them, plus live-skb and free accounting.

    ``ctx`` is the execution context (:mod:`stack.core.context`) whose current CPU
    does every store and load; ``net`` the NetCore that owns this memory
    (needed only to defer frees from hard-IRQ context).
    ``copy_ps_per_byte`` charges the writing CPU for each byte copied
    (0 by default: the cost table of a whole system sets it).
    """

    def __init__(self, host, allocator=None, ctx=None, net=None, copy_ps_per_byte: int = 0):
        self.host = host
        self.allocator = allocator if allocator is not None else HostAllocator(host)
        self.ctx = ctx if ctx is not None else CpuContext(host)
        self.net = net
        self.copy_ps_per_byte = copy_ps_per_byte
        #: Live skbs by id (what a leak report lists).
        self.live: dict[int, "SkBuff"] = {}
        #: Live page allocations: address -> reference count.
        self.pages: dict[int, int] = {}
        self.allocated = 0
        self.consumed = 0
        self.dropped = 0
        self.alloc_failures = 0
        self._next_id = 0

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- bytes through the current CPU -------------------------------------
    def write(self, addr: int, data) -> None:
        """A memcpy into host memory by the current CPU (through its store buffer)."""
        cpu = self.ctx.cpu
        cpu.store_bytes(addr, data)
        if self.copy_ps_per_byte:
            cpu.charge(self.copy_ps_per_byte * len(data))

    def read(self, addr: int, n: int) -> bytes:
        """``n`` bytes as the current CPU sees them (its own buffered stores included)."""
        return self.ctx.cpu.load_bytes(addr, n) if n else b""

    # --- pages ---------------------------------------------------------------
    def alloc_page(self, size: int, align: int = 64) -> int | None:
        """A page allocation of ``size`` bytes with one reference, or None."""
        addr = self.allocator.alloc(size, align)
        if addr is None:
            self.alloc_failures += 1
            return None
        self.pages[addr] = 1
        return addr

    def get_page(self, page: int) -> None:
        """Take another reference to ``page``."""
        if page not in self.pages:
            raise SkbBug(f"get_page({page:#x}): not a live page")
        self.pages[page] += 1

    def put_page(self, page: int) -> None:
        """Drop a reference to ``page``; the last one frees it."""
        refs = self.pages.get(page)
        if refs is None:
            raise SkbBug(f"put_page({page:#x}): not a live page (double put?)")
        if refs == 1:
            del self.pages[page]
            self.allocator.free(page)
        else:
            self.pages[page] = refs - 1

    # --- accounting ------------------------------------------------------------
    @property
    def freed(self) -> int:
        """skbs freed so far (consumed + dropped)."""
        return self.consumed + self.dropped

    def assert_no_leaks(self, when: str = "") -> None:
        """Raise :class:`SkbLeak` naming every live skb and page."""
        if not self.live and not self.pages:
            return
        what = [repr(s) for s in self.live.values()]
        what += [f"page {p:#x} refs={r}" for p, r in self.pages.items()]
        raise SkbLeak(f"{when + ': ' if when else ''}{len(self.live)} skb(s) and {len(self.pages)} "
                      f"page(s) live: " + ", ".join(what))
