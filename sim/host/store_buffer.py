"""A CPU's store buffer: which buffered stores may become visible next, kept up to date as stores come and go.

A buffered store may leave (become globally visible) once no older buffered
store must precede it (the rule of :mod:`sim.host.cpu`, from the profile's
tables in :mod:`sim.host.ordering`):

* **coherence** — an older store to a shared byte;
* **store-class order** — an older store of a class the profile never lets
  this one pass (``reorder_stores``; arm64/POWER/RISC-V keep device writes in
  order, ``ordering_facts.md`` §2.1);
* **a fence mark** between the two that orders the pair of classes.

Rescanning the buffer for that at every drain step costs O(n) per step and
O(n²) per fence (driver bursts buffer ~100-500 stores), so the relation is
computed once per store, when it enters:

* Class order and fence marks hold back a prefix: a store of class ``d`` is
  held back by every older class-``c`` store before the newest mark ordering
  ``c`` before ``d`` (or by every older class-``c`` store if the pair may
  never reorder). So each store records one bound per class (``bounds``) and,
  if the oldest buffered store of that class is below it, waits in a queue
  per class pair whose bounds never decrease; committing the oldest store of
  a class releases the queue's front. No fence entry is kept in the buffer.
* Coherence is a few explicit edges: the buffered stores sharing a byte with
  the new one (found through :class:`_RangeIndex`, which never walks the
  qwords of a long store) each list it as a dependant.

A store with nothing holding it back is *ready*; ``ready`` is kept sorted
oldest first, so the drain choice is exactly the oldest-first list of
eligible stores a full rescan would give (recorded choice traces replay).

A profile whose ``reorder_stores`` is empty (x86-TSO) has a FIFO buffer:
only the oldest store may leave, and none of the above is needed (not even
the range index: forwarding scans the buffer, see :meth:`StoreBuffer.writes_over`).
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from itertools import islice
from operator import attrgetter

from .ordering import DW, MW, Fence, OrderingProfile

__all__ = ["BufferedStore", "StoreBuffer", "SHORT_STORE_MAX_BYTES"]

#: Stores up to this long are indexed per 8-byte qword; longer ones (payload copies) per 4 KiB page.
SHORT_STORE_MAX_BYTES = 64
_PAGE_SHIFT = 12
_STORE_CLASSES = (MW, DW)
_by_seq = attrgetter("seq")


class BufferedStore:
    """One store in a store buffer: a memory write (``data`` bytes) or a device write (``data`` an int).

    ``seq`` is its program-order position; ``nblk`` how many reasons still
    hold it back; ``deps`` the younger stores that share a byte with it;
    ``over`` the older stores sharing a byte with it; ``bounds`` its
    class-order/fence bound per store class (``MW``, ``DW``).
    """

    __slots__ = ("cls", "addr", "size", "data", "seq", "live", "nblk", "deps", "over", "bounds")

    def __init__(self, cls: int, addr: int, size: int, data):
        self.cls = cls
        self.addr = addr
        self.size = size
        self.data = data
        self.live = True

    def __repr__(self) -> str:
        return f"<store {'MW' if self.cls == MW else 'DW'} {self.addr:#x}+{self.size} #{getattr(self, 'seq', '?')}>"


class StoreBuffer:
    """The stores one CPU has issued and not yet made visible, with what holds each back.

    :meth:`add` enters a store, :meth:`mark` a fence, :meth:`eligible` lists
    the stores that may leave now (oldest first), :meth:`remove` takes a
    leaving store out and releases what it held back, :meth:`closure` lists
    what must leave for a set of stores to be visible, :meth:`writes_over`
    finds the buffered memory writes a load must forward from.
    """

    def __init__(self, profile: OrderingProfile):
        self.fifo = not profile.reorder_stores
        self._next_seq = 0
        # live stores oldest first (FIFO: exactly; reordering: committed ones are skipped, popped at the front)
        self._order: deque[BufferedStore] = deque()
        self._ranges = _RangeIndex()
        #: Stores nothing holds back, oldest first (reordering profiles only).
        self.ready: list[BufferedStore] = []
        # live stores per class, oldest first (committed ones skipped as above)
        self._by_class = {c: deque() for c in _STORE_CLASSES}
        # (older class, younger class) -> position of the newest fence mark ordering the pair
        self._fence_bound = {(c, d): 0 for c in _STORE_CLASSES for d in _STORE_CLASSES}
        # (older class, younger class) -> FIFO of (bound, store) waiting for the older class to drain below bound
        self._waiting = {(c, d): deque() for c in _STORE_CLASSES for d in _STORE_CLASSES}
        # younger class -> older classes it may never pass
        self._in_order = {d: tuple(c for c in _STORE_CLASSES if not profile.may_reorder(c, d))
                          for d in _STORE_CLASSES}

    # --- entering ----------------------------------------------------
    def add(self, store: BufferedStore) -> None:
        """Enter a store (the youngest); work out once what holds it back."""
        s = store.seq = self._next_seq
        self._next_seq = s + 1
        self._order.append(store)
        if self.fifo:
            return
        d = store.cls
        nblk = 0
        bounds = []
        in_order = self._in_order[d]
        for c in _STORE_CLASSES:
            bound = s if c in in_order else self._fence_bound[c, d]
            bounds.append(bound)
            older = self._by_class[c]
            if older and older[0].seq < bound:
                self._waiting[c, d].append((bound, store))
                nblk += 1
        store.bounds = tuple(bounds)
        over = self._ranges.overlapping(store.addr, store.addr + store.size)
        for o in over:
            o.deps.append(store)
        store.over = over
        store.deps = []
        store.nblk = nblk + len(over)
        self._by_class[d].append(store)
        self._ranges.add(store)
        if not store.nblk:
            self.ready.append(store)   # the youngest: the list stays sorted

    def mark(self, fence: Fence) -> None:
        """A fence after every store buffered so far: it orders them before later ones by its write parts."""
        if self.fifo:
            return   # a FIFO buffer already keeps every pair in order
        pos = self._next_seq
        bound = self._fence_bound
        for c in _STORE_CLASSES:
            after = fence.after_of[c]
            for d in _STORE_CLASSES:
                if after & d:
                    bound[c, d] = pos

    # --- leaving -----------------------------------------------------
    def eligible(self) -> list[BufferedStore]:
        """The stores that may leave now, oldest first (do not modify the list)."""
        return [self._order[0]] if self.fifo else self.ready

    def oldest(self) -> BufferedStore:
        """The oldest buffered store (always eligible)."""
        return self._order[0]

    def remove(self, store: BufferedStore) -> None:
        """Take an eligible store out (it is becoming visible) and release what it held back."""
        store.live = False
        order = self._order
        if self.fifo:
            if order.popleft() is not store:
                raise AssertionError(f"{store} left a FIFO store buffer out of order")
            return
        ready = self.ready
        i = bisect_left(ready, store.seq, key=_by_seq)
        if i == len(ready) or ready[i] is not store:
            raise AssertionError(f"{store} left the store buffer while held back")
        del ready[i]
        self._ranges.remove(store)
        for dep in store.deps:
            dep.nblk -= 1
            if not dep.nblk:
                insort(ready, dep, key=_by_seq)
        store.deps = store.over = None   # drop references to other stores
        c = store.cls
        same = self._by_class[c]
        if same[0] is store:
            same.popleft()
            while same and not same[0].live:
                same.popleft()
            oldest = same[0].seq if same else self._next_seq
            for d in _STORE_CLASSES:
                waiting = self._waiting[c, d]
                while waiting and waiting[0][0] <= oldest:
                    dep = waiting.popleft()[1]
                    dep.nblk -= 1
                    if not dep.nblk:
                        insort(ready, dep, key=_by_seq)
        while order and not order[0].live:
            order.popleft()

    def closure(self, pred) -> list[BufferedStore]:
        """Every buffered store matching ``pred`` and everything holding it back, directly or not; oldest first.

        Making them visible in that order is always allowed: each one's
        blockers are older and in the list.
        """
        order = self._order
        if self.fifo:   # every older store holds a store back: all up to the youngest match
            n = len(order)
            for k, store in enumerate(reversed(order)):
                if pred(store):
                    return list(islice(order, n - k))
            return []
        out = []
        need: set[int] = set()
        below_mw = below_dw = 0   # stores of that class below this position are needed
        for store in reversed(order):
            if not store.live:
                continue
            if (store.seq < (below_mw if store.cls == MW else below_dw) or store.seq in need
                    or pred(store)):
                out.append(store)
                b_mw, b_dw = store.bounds
                if b_mw > below_mw:
                    below_mw = b_mw
                if b_dw > below_dw:
                    below_dw = b_dw
                for o in store.over:
                    need.add(o.seq)
        out.reverse()
        return out

    # --- forwarding ----------------------------------------------------
    def writes_over(self, addr: int, size: int) -> list[BufferedStore]:
        """Buffered memory writes sharing a byte with ``[addr, addr + size)``, oldest first.

        A FIFO buffer is scanned (it keeps no range index: on x86-TSO stores
        drain in order and few loads meet a long buffer, so indexing every
        store would cost more than it saves).
        """
        end = addr + size
        if self.fifo:
            return [s for s in self._order if s.cls == MW and s.addr < end and addr < s.addr + s.size]
        hits = self._ranges.overlapping(addr, end)
        if not hits:
            return hits
        hits = [s for s in hits if s.cls == MW]
        if len(hits) > 1:
            hits.sort(key=_by_seq)
        return hits


class _RangeIndex:
    """The byte ranges of buffered stores, for "which of them share a byte with [lo, hi)".

    Short stores (up to :data:`SHORT_STORE_MAX_BYTES`: descriptor qwords,
    ring fields, doorbells) are listed under each 8-byte qword and each 4 KiB
    page they touch; long ones (payload copies, up to 64 KiB) under each page
    only. A short range looks in its qwords, a long one in its pages (at most
    17 for 64 KiB), so no query or update walks the qwords of a long store.
    """

    __slots__ = ("qwords", "short_pages", "long_pages")

    def __init__(self):
        self.qwords: dict[int, list] = {}
        self.short_pages: dict[int, list] = {}
        self.long_pages: dict[int, list] = {}

    @staticmethod
    def _keys(store):
        lo, hi = store.addr, store.addr + store.size
        pages = range(lo >> _PAGE_SHIFT, ((hi - 1) >> _PAGE_SHIFT) + 1)
        if hi - lo <= SHORT_STORE_MAX_BYTES:
            return range(lo >> 3, ((hi - 1) >> 3) + 1), pages
        return None, pages

    def add(self, store) -> None:
        qwords, pages = self._keys(store)
        if qwords is None:
            _add_to(self.long_pages, pages, store)
        else:
            _add_to(self.qwords, qwords, store)
            _add_to(self.short_pages, pages, store)

    def remove(self, store) -> None:
        qwords, pages = self._keys(store)
        if qwords is None:
            _remove_from(self.long_pages, pages, store)
        else:
            _remove_from(self.qwords, qwords, store)
            _remove_from(self.short_pages, pages, store)

    def overlapping(self, lo: int, hi: int) -> list:
        """Indexed stores sharing a byte with ``[lo, hi)`` (each once, in no particular order)."""
        out: list = []
        if self.long_pages:
            _collect(self.long_pages, range(lo >> _PAGE_SHIFT, ((hi - 1) >> _PAGE_SHIFT) + 1), lo, hi, out)
        if hi - lo <= SHORT_STORE_MAX_BYTES:
            _collect(self.qwords, range(lo >> 3, ((hi - 1) >> 3) + 1), lo, hi, out)
        else:
            _collect(self.short_pages, range(lo >> _PAGE_SHIFT, ((hi - 1) >> _PAGE_SHIFT) + 1), lo, hi, out)
        return out


def _add_to(index: dict, keys, store) -> None:
    for k in keys:
        lst = index.get(k)
        if lst is None:
            index[k] = [store]
        else:
            lst.append(store)


def _remove_from(index: dict, keys, store) -> None:
    for k in keys:
        lst = index[k]
        if len(lst) == 1:
            del index[k]
        else:
            lst.remove(store)


def _collect(index: dict, keys, lo: int, hi: int, out: list) -> None:
    get = index.get
    for k in keys:
        lst = get(k)
        if lst:
            for s in lst:
                if s.addr < hi and lo < s.addr + s.size and s not in out:
                    out.append(s)
