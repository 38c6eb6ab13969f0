"""Value histories for weak loads: which older values a CPU's memory load may still return.

Under a profile with ``stale_loads`` a memory load may return an older value
of its location, as long as that value was still current at (or written
after) the CPU's *read horizon* — the global write count at its last read
barrier — and is not older than a value the same CPU already saw there
(per-location coherence, CoRR). That is load→load reordering, expressed
without speculation.

Bookkeeping is per aligned 8-byte word ("qword"). Every write to memory —
a CPU store leaving its buffer or a device DMA write — bumps a global write
counter ``gver`` and, for each qword it touches, records the replaced value
with the interval in which it was current. At most ``window`` old values are
kept per qword: the stale-load window of DESIGN.md. A load that spans two
qwords always reads current memory, and writes longer than
``HISTORY_MAX_WRITE_BYTES`` record nothing (documented simplifications: both
only remove stale outcomes, never allow one the architecture forbids).

Each superseded value also records *who* replaced it: a CPU store (written
through :meth:`ValueHistory.cpu_write` as it leaves a store buffer) or a
device (every other write: DMA through the IOMMU, and host-side writes that
no CPU's store buffer holds). That is what interrupt entry needs
(:meth:`sim.host.cpu.Cpu.take_interrupt`): a CPU that took an MSI whose
posted write landed at write count ``c`` may no longer read a value that a
*device* write at or before ``c`` replaced, nor anything older at that
location, while values that CPU stores replaced stay readable (bounded by the
read horizon as before). A long device write (over ``HISTORY_MAX_WRITE_BYTES``,
e.g. a batched descriptor write-back) therefore drops the history of the
qwords it covers: it records no entry, and without the drop an older value
there would stay offered after the interrupt.
"""
from __future__ import annotations

__all__ = ["ValueHistory", "DEFAULT_STALE_WINDOW"]

#: How many superseded values per qword a weak load may still return.
DEFAULT_STALE_WINDOW = 4
#: Writes longer than this (payload copies, DMA of whole buffers) keep no history: loads of those
#: bytes may then only return newer values. That loses some stale outcomes, never adds an illegal one.
HISTORY_MAX_WRITE_BYTES = 64
_PAGE_SHIFT = 12


class ValueHistory:
    """Records superseded qword values of a :class:`~sim.host.memory.PhysMemory`.

    Install with :meth:`attach`; the memory then calls :meth:`before_write`
    before every write, while the old bytes are still there.
    """

    __slots__ = ("mem", "window", "gver", "_old", "_written_at", "_by_cpu", "_by_page")

    def __init__(self, mem, window: int = DEFAULT_STALE_WINDOW):
        if window < 0:
            raise ValueError("stale window must be >= 0")
        self.mem = mem
        self.window = window
        self.gver = 0
        # qword -> list of (written_at, replaced_at, bytes8, by_device), oldest first
        self._old: dict[int, list] = {}
        # qword -> gver of the write that made the current value
        self._written_at: dict[int, int] = {}
        # true while a CPU store is being written (cpu_write); any other write is a device's
        self._by_cpu = False
        # 4 KiB page -> the qwords in it that have a history (so a long range need not walk its qwords)
        self._by_page: dict[int, set[int]] = {}

    def attach(self) -> "ValueHistory":
        self.mem.before_write = self.before_write
        return self

    def cpu_write(self, addr: int, data: bytes) -> None:
        """Write ``data`` to memory as a CPU store leaving its store buffer (not a device write)."""
        self._by_cpu = True
        try:
            self.mem.write(addr, data)
        finally:
            self._by_cpu = False

    def before_write(self, addr: int, length: int) -> None:
        """Memory hook: remember the values this write is about to replace, and who replaced them."""
        self.gver += 1
        by_device = not self._by_cpu
        if length > HISTORY_MAX_WRITE_BYTES:
            if by_device:
                self._forget(addr, length)
            return  # bulk data: not worth a per-qword history (see HISTORY_MAX_WRITE_BYTES)
        g = self.gver
        first = q = addr & ~7
        end = addr + length
        old = self.mem.read(first, (end - first + 7) & ~7)   # every qword it touches, in one read
        histories, written_at, window = self._old, self._written_at, self.window
        while q < end:
            hist = histories.get(q)
            entry = (written_at.get(q, 0), g, old[q - first:q - first + 8], by_device)
            if hist is None:
                histories[q] = [entry]
                page = self._by_page.get(q >> _PAGE_SHIFT)
                if page is None:
                    self._by_page[q >> _PAGE_SHIFT] = {q}
                else:
                    page.add(q)
            else:
                hist.append(entry)
                if len(hist) > window:
                    del hist[0]
            written_at[q] = g
            q += 8

    def _forget(self, addr: int, length: int) -> None:
        """A long device write replaces ``[addr, addr + length)``: no older value there is offered again."""
        g = self.gver
        old = self._old
        for q in self.recorded_qwords(addr, length):
            del old[q]
            self._written_at[q] = g
            self._by_page[q >> _PAGE_SHIFT].discard(q)

    def recorded_qwords(self, addr: int, length: int) -> list[int]:
        """The qwords touching ``[addr, addr + length)`` that have a history, looked up per 4 KiB page.

        Only these can ever offer a load an older value than the current one:
        a qword without history offers its current value alone, whatever the
        loading CPU saw before (used for long writes, whose own qwords record
        nothing: see ``HISTORY_MAX_WRITE_BYTES``).
        """
        lo = addr & ~7
        end = addr + length
        out: list[int] = []
        get = self._by_page.get
        for page in range(lo >> _PAGE_SHIFT, ((end - 1) >> _PAGE_SHIFT) + 1):
            qs = get(page)
            if qs:
                out.extend(q for q in qs if lo <= q < end)
        return out

    def written_at(self, addr: int) -> int:
        """Write count at which the current value of ``addr``'s qword was written."""
        return self._written_at.get(addr & ~7, 0)

    def only_current(self, q: int, floor: int, device_floor: int) -> int:
        """If a load of qword ``q`` may return its current value only, that value's write count; else -1.

        The common case of :meth:`candidates`, without building the list.
        """
        hist = self._old.get(q)
        if hist:
            _, replaced_at, _, by_device = hist[-1]
            if not (replaced_at <= floor or by_device and replaced_at <= device_floor):
                return -1
        return self._written_at.get(q, 0)

    def candidates(self, addr: int, floor: int, device_floor: int = 0) -> list[tuple[int, bytes | None]]:
        """Values of ``addr``'s qword a load may return, newest first, as (written_at, bytes8).

        The current value comes first with ``bytes8 = None`` (read it from
        memory); older values follow if they were replaced after ``floor``,
        stopping at the first one a device write at or before
        ``device_floor`` replaced (that write is visible; see the module docstring).
        """
        q = addr & ~7
        out: list = [(self._written_at.get(q, 0), None)]
        hist = self._old.get(q)
        if hist:
            for written_at, replaced_at, data, by_device in reversed(hist):
                if replaced_at <= floor or by_device and replaced_at <= device_floor:
                    break
                out.append((written_at, data))
        return out
