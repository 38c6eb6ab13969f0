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
  the new one each list it as a dependant. They are found through a range
  index: short stores (up to :data:`SHORT_STORE_MAX_BYTES`: descriptor
  qwords, ring fields, doorbells, small payloads) listed under each 64-byte
  line and each 4 KiB page they touch, long ones (payload copies, up to
  64 KiB) under each page only; a short range looks in its one or two lines,
  a long one in its pages (at most 17 for 64 KiB). No query or update walks
  the qwords of a store, and a line holds a few stores at most (four 16-byte
  descriptors), so the lists a short query scans stay short.

A store with nothing holding it back is *ready*; ``ready`` is kept sorted
oldest first, so the drain choice is exactly the oldest-first list of
eligible stores a full rescan would give (recorded choice traces replay).

A profile whose ``reorder_stores`` is empty (x86-TSO) has a FIFO buffer
(:class:`FifoStoreBuffer`): only the oldest store may leave, and none of the
above is needed. :func:`new_store_buffer` picks the class for a profile.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from itertools import islice
from operator import attrgetter

from .ordering import DW, MW, Fence, OrderingProfile

__all__ = ["BufferedStore", "StoreBuffer", "FifoStoreBuffer", "new_store_buffer", "SHORT_STORE_MAX_BYTES"]

#: Stores up to this long are indexed per 64-byte line; longer ones (payload copies) per 4 KiB page.
SHORT_STORE_MAX_BYTES = 64
_LINE_SHIFT = 6
_PAGE_SHIFT = 12
_STORE_CLASSES = (MW, DW)
_by_seq = attrgetter("seq")


class BufferedStore:
    """One store in a store buffer: a memory write (``data`` bytes) or a device write (``data`` an int).

    ``seq`` is its program-order position in the buffer, ``order`` in its
    CPU's stores (the CPU numbers them: :meth:`sim.host.cpu.Cpu.store_mark`); ``nblk`` how many reasons still
    hold it back; ``deps`` the younger stores that share a byte with it;
    ``over`` the older stores sharing a byte with it; ``bounds`` its
    class-order/fence bound per store class (``MW``, ``DW``).
    """

    __slots__ = ("cls", "addr", "size", "data", "seq", "order", "live", "nblk", "deps", "over", "bounds")

    def __init__(self, cls: int, addr: int, size: int, data):
        self.cls = cls
        self.addr = addr
        self.size = size
        self.data = data
        self.live = True

    def __repr__(self) -> str:
        return f"<store {'MW' if self.cls == MW else 'DW'} {self.addr:#x}+{self.size} #{getattr(self, 'seq', '?')}>"


def new_store_buffer(profile: OrderingProfile) -> "StoreBuffer | FifoStoreBuffer":
    """The store buffer a CPU under ``profile`` has: FIFO if no store-class pair may reorder."""
    return StoreBuffer(profile) if profile.reorder_stores else FifoStoreBuffer(profile)


class StoreBuffer:
    """The stores one CPU has issued and not yet made visible, with what holds each back.

    :meth:`add` enters a store, :meth:`mark` a fence, :meth:`eligible` lists
    the stores that may leave now (oldest first), :meth:`remove` takes a
    leaving store out and releases what it held back, :meth:`closure` lists
    what must leave for a set of stores to be visible, :meth:`writes_over`
    finds the buffered memory writes a load must forward from.
    """

    def __init__(self, profile: OrderingProfile):
        self._next_seq = 0
        #: Stores nothing holds back, oldest first.
        self.ready: list[BufferedStore] = []
        # live stores per class, oldest first (committed ones are skipped, popped when they reach the front)
        self._by_class = {c: deque() for c in _STORE_CLASSES}
        # (older class, younger class) -> FIFO of (bound, store) waiting for the older class to drain below bound
        waiting = {(c, d): deque() for c in _STORE_CLASSES for d in _STORE_CLASSES}
        # older class -> the queues its commits may release
        self._waiting_on = {c: tuple(waiting[c, d] for d in _STORE_CLASSES) for c in _STORE_CLASSES}
        # younger class -> per older class (MW, DW): (may never pass it, its live stores, the queue to wait in)
        self._rules = {d: tuple((not profile.may_reorder(c, d), self._by_class[c], waiting[c, d])
                                for c in _STORE_CLASSES) for d in _STORE_CLASSES}
        # younger class -> per older class (MW, DW): position of the newest fence mark ordering the pair
        self._fence_bound = {d: [0, 0] for d in _STORE_CLASSES}
        # the range index (module docstring): line -> short stores, page -> short stores, page -> long stores
        self._lines: dict[int, list] = {}
        self._short_pages: dict[int, list] = {}
        self._long_pages: dict[int, list] = {}

    # --- entering ----------------------------------------------------
    def add(self, store: BufferedStore) -> None:
        """Enter a store (the youngest); work out once what holds it back."""
        s = store.seq = self._next_seq
        self._next_seq = s + 1
        d = store.cls
        (keep_mw, older_mw, wait_mw), (keep_dw, older_dw, wait_dw) = self._rules[d]
        fenced_mw, fenced_dw = self._fence_bound[d]
        nblk = 0
        b_mw = s if keep_mw else fenced_mw
        if older_mw and older_mw[0].seq < b_mw:
            wait_mw.append((b_mw, store))
            nblk = 1
        b_dw = s if keep_dw else fenced_dw
        if older_dw and older_dw[0].seq < b_dw:
            wait_dw.append((b_dw, store))
            nblk += 1
        store.bounds = (b_mw, b_dw)
        lo = store.addr
        last = lo + store.size - 1
        over = self._overlapping(lo, last)
        for o in over:
            o.deps.append(store)
        store.over = over
        store.deps = []
        store.nblk = nblk = nblk + len(over)
        (older_mw if d == MW else older_dw).append(store)
        if store.size <= SHORT_STORE_MAX_BYTES:
            _add_to(self._lines, lo >> _LINE_SHIFT, last >> _LINE_SHIFT, store)
            _add_to(self._short_pages, lo >> _PAGE_SHIFT, last >> _PAGE_SHIFT, store)
        else:
            _add_to(self._long_pages, lo >> _PAGE_SHIFT, last >> _PAGE_SHIFT, store)
        if not nblk:
            self.ready.append(store)   # the youngest: the list stays sorted

    def mark(self, fence: Fence) -> None:
        """A fence after every store buffered so far: it orders them before later ones by its write parts."""
        pos = self._next_seq
        after_mw, after_dw = fence.after_of[MW], fence.after_of[DW]
        for d, bound in self._fence_bound.items():
            if after_mw & d:
                bound[0] = pos
            if after_dw & d:
                bound[1] = pos

    # --- leaving -----------------------------------------------------
    def eligible(self) -> list[BufferedStore]:
        """The stores that may leave now, oldest first (do not modify the list)."""
        return self.ready

    def oldest(self) -> BufferedStore:
        """The oldest buffered store (nothing older can hold it back: always ready)."""
        return self.ready[0]

    def remove(self, store: BufferedStore) -> None:
        """Take an eligible store out (it is becoming visible) and release what it held back."""
        store.live = False
        ready = self.ready
        i = bisect_left(ready, store.seq, key=_by_seq)
        if i == len(ready) or ready[i] is not store:
            raise AssertionError(f"{store} left the store buffer while held back")
        del ready[i]
        lo = store.addr
        last = lo + store.size - 1
        if store.size <= SHORT_STORE_MAX_BYTES:
            _remove_from(self._lines, lo >> _LINE_SHIFT, last >> _LINE_SHIFT, store)
            _remove_from(self._short_pages, lo >> _PAGE_SHIFT, last >> _PAGE_SHIFT, store)
        else:
            _remove_from(self._long_pages, lo >> _PAGE_SHIFT, last >> _PAGE_SHIFT, store)
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
            for waiting in self._waiting_on[c]:
                while waiting and waiting[0][0] <= oldest:
                    dep = waiting.popleft()[1]
                    dep.nblk -= 1
                    if not dep.nblk:
                        insort(ready, dep, key=_by_seq)

    def closure(self, pred) -> list[BufferedStore]:
        """Every buffered store matching ``pred`` and everything holding it back, directly or not; oldest first.

        Making them visible in that order is always allowed: each one's
        blockers are older and in the list. One pass, youngest first: a
        store is needed if it matches, if a needed store shares a byte with
        it, or if it lies below a needed store's bound for its class.
        """
        live = [st for same in self._by_class.values() for st in same if st.live]
        live.sort(key=_by_seq, reverse=True)
        out = []
        need: set[int] = set()
        below_mw = below_dw = 0   # stores of that class below this position are needed
        for store in live:
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
        """Buffered memory writes sharing a byte with ``[addr, addr + size)``, oldest first."""
        hits = self._overlapping(addr, addr + size - 1)
        if not hits:
            return hits
        hits = [s for s in hits if s.cls == MW]
        if len(hits) > 1:
            hits.sort(key=_by_seq)
        return hits

    def _overlapping(self, lo: int, last: int) -> list:
        """Buffered stores sharing a byte with ``[lo, last]`` (each once, in no particular order)."""
        out: list = []
        if self._long_pages:
            _collect(self._long_pages, lo >> _PAGE_SHIFT, last >> _PAGE_SHIFT, lo, last, out)
        if last - lo < SHORT_STORE_MAX_BYTES:
            _collect(self._lines, lo >> _LINE_SHIFT, last >> _LINE_SHIFT, lo, last, out)
        else:
            _collect(self._short_pages, lo >> _PAGE_SHIFT, last >> _PAGE_SHIFT, lo, last, out)
        return out


# Keys first..last of an index (a zero-length store is listed under its first key, and never overlaps).
def _add_to(index: dict, first: int, last: int, store) -> None:
    k = first
    while True:
        lst = index.get(k)
        if lst is None:
            index[k] = [store]
        else:
            lst.append(store)
        if k >= last:
            return
        k += 1


def _remove_from(index: dict, first: int, last: int, store) -> None:
    k = first
    while True:
        lst = index[k]
        if len(lst) == 1:
            del index[k]
        else:
            lst.remove(store)
        if k >= last:
            return
        k += 1


def _collect(index: dict, first: int, last: int, lo: int, hi_last: int, out: list) -> None:
    """Append to ``out`` the stores listed under keys first..last that share a byte with ``[lo, hi_last]``."""
    get = index.get
    k = first
    while True:
        lst = get(k)
        if lst:
            for s in lst:
                if s.addr <= hi_last and lo < s.addr + s.size and s not in out:
                    out.append(s)
        if k >= last:
            return
        k += 1


#: Memory stores longer than this stay out of the FIFO buffer's line index (a payload copy would
#: touch hundreds of lines): forwarding scans them, few at a time.
_FIFO_LONG = 256


class FifoStoreBuffer:
    """A FIFO store buffer (x86-TSO): only the oldest store may leave; the interface of :class:`StoreBuffer`.

    Forwarding looks up the buffered memory stores per 64-byte line (stores
    longer than :data:`_FIFO_LONG` bytes -- payload copies -- are kept in one
    short list instead): most loads (ring fields, queue state, descriptors)
    find none there and skip any scan of the buffer.
    """

    def __init__(self, profile: OrderingProfile):
        self._next_seq = 0
        self._order: deque[BufferedStore] = deque()
        self._lines: dict[int, list] = {}   # 64-byte line -> buffered memory stores touching it, oldest first
        self._long: deque[BufferedStore] = deque()   # buffered memory stores longer than _FIFO_LONG, oldest first

    def add(self, store: BufferedStore) -> None:
        store.seq = self._next_seq
        self._next_seq += 1
        self._order.append(store)
        if store.cls == MW:
            if store.size > _FIFO_LONG:
                self._long.append(store)
                return
            lines = self._lines
            for line in range(store.addr >> 6, ((store.addr + store.size - 1) >> 6) + 1):
                lst = lines.get(line)
                if lst is None:
                    lines[line] = [store]
                else:
                    lst.append(store)

    def mark(self, fence: Fence) -> None:
        """Nothing to do: a FIFO buffer already keeps every pair of stores in order."""

    def eligible(self) -> list[BufferedStore]:
        return [self._order[0]]

    def oldest(self) -> BufferedStore:
        return self._order[0]

    def remove(self, store: BufferedStore) -> None:
        store.live = False
        if self._order.popleft() is not store:
            raise AssertionError(f"{store} left a FIFO store buffer out of order")
        if store.cls == MW:   # the oldest store is the first of each of its lists
            if store.size > _FIFO_LONG:
                self._long.popleft()
                return
            lines = self._lines
            for line in range(store.addr >> 6, ((store.addr + store.size - 1) >> 6) + 1):
                lst = lines[line]
                if len(lst) == 1:
                    del lines[line]
                else:
                    del lst[0]

    def closure(self, pred) -> list[BufferedStore]:
        """Every store up to the youngest one matching ``pred`` (each waits for all older ones), oldest first."""
        order = self._order
        n = len(order)
        for k, store in enumerate(reversed(order)):
            if pred(store):
                return list(islice(order, n - k))
        return []

    def writes_over(self, addr: int, size: int) -> list[BufferedStore]:
        end = addr + size
        lines = self._lines
        first, last = addr >> 6, (end - 1) >> 6
        if first == last and not self._long:
            lst = lines.get(first)
            return [s for s in lst if s.addr < end and addr < s.addr + s.size] if lst else []
        found = {s.seq: s for s in self._long if s.addr < end and addr < s.addr + s.size}
        if last - first > 64:   # a long load: scan the buffer rather than its lines
            found.update((s.seq, s) for s in self._order if s.cls == MW and s.addr < end and addr < s.addr + s.size)
        else:
            for line in range(first, last + 1):
                for s in lines.get(line, ()):
                    if s.addr < end and addr < s.addr + s.size:
                        found[s.seq] = s
        return [found[k] for k in sorted(found)]
