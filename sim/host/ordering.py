"""Memory-ordering profiles as data: what each architecture may reorder, what each barrier orders.

Accesses fall into four classes (``research/ordering_facts.md`` §2.4):

====  ==========================================
MR    memory (Normal, coherent DMA) read
MW    memory write
DR    device (MMIO) read
DW    device (MMIO) write
====  ==========================================

A :class:`Fence` is an ordering relation over those classes: for each class
of access *before* it, the set of classes *after* it that it orders. So
arm64 ``dmb oshst`` is "all writes before → all writes after", RISC-V
``fence w,o`` is "memory writes before → device writes after", POWER
``lwsync`` is {MR→MR, MR→MW, MW→MW}. A missing or weakened barrier is then
just a different table entry.

An :class:`OrderingProfile` holds, per architecture:

* ``store_buffer`` — stores may be delayed in a per-CPU buffer (store→load
  reordering); false only for ``sc``;
* ``reorder_stores`` — which (older, younger) store-class pairs may leave the
  buffer out of program order (stores to overlapping bytes never reorder, and
  device writes keep program order among themselves: Linux guarantees
  same-peripheral order and the model has one device per MMIO window);
* ``stale_loads`` — a memory load may return an older value of its location
  (load→load reordering), bounded by the CPU's last read barrier;
* ``barriers`` — the Fence of each Linux barrier primitive;
* ``accessors`` — the Fences around each MMIO accessor (``writel`` =
  fence-before + device write, ``readl`` = device read + fence-after, …);
* ``atomic_rmw`` — the Fence a plain atomic read-modify-write instruction
  implies on both sides of itself (what ``set_bit``/``clear_bit`` compile
  to; the Linux-level ordering of value-returning atomics is added on top by
  the caller, :mod:`stack.core.bitops`).

Facts encoded (Linux mappings, ``ordering_facts.md`` §2.4 unless noted):

* x86-64: TSO, FIFO store buffer, no stale loads; ``wmb`` = sfence,
  ``rmb`` = lfence, ``mb`` = mfence, ``dma_*mb``/``smp_wmb``/``smp_rmb`` =
  compiler barrier only, ``smp_mb`` = locked add; MMIO accessors are plain
  moves to UC memory (the FIFO buffer orders them).
* arm64: ``wmb``/``rmb``/``mb`` = ``dsb st/ld/sy`` (a DSB holds back every
  later instruction, so the "after" set is all classes); ``dma_wmb`` =
  ``dmb oshst``, ``dma_rmb`` = ``dmb oshld``, ``dma_mb`` = ``dmb osh``;
  ``smp_*`` = ``dmb ish*`` — inner-shareable, modelled as ordering memory
  classes only (devices sit in the outer-shareable domain); ``writel`` =
  ``dmb oshst; str``; ``readl`` = ``ldr; dmb oshld``; relaxed accessors have
  no barrier.
* POWER (powerpc64): ``wmb``/``rmb``/``mb`` = ``sync``; ``dma_*mb``,
  ``smp_wmb``/``smp_rmb`` = ``lwsync`` (cacheable memory only, no W→R);
  ``smp_mb`` = ``sync``; ``writel`` = ``sync; st``; ``readl`` =
  ``sync; ld; twi; isync``. In Linux's arch/powerpc/include/asm/io.h
  ``writel_relaxed``/``readl_relaxed`` are *defined as* ``writel``/``readl``,
  so they carry the same barriers; ``__raw_writel`` is the barrier-free store.
* RISC-V: ``wmb`` = ``fence ow,ow``, ``rmb`` = ``fence ir,ir``, ``mb`` =
  ``fence iorw,iorw``; ``smp_*`` = ``fence w,w`` / ``r,r`` / ``rw,rw``;
  ``writel`` = ``fence w,o; sw``; ``readl`` = ``lw; fence i,ir`` (older
  kernels: ``fence i,r``). ``dma_wmb``/``dma_rmb``/``dma_mb``: the kernels
  read define none, so the asm-generic defaults ``wmb``/``rmb``/``mb``
  apply — UNCONFIRMED for newer kernels, which may use a lighter fence.
* ``sc``: sequential consistency; every barrier is a no-op.

Atomic RMW instructions (``atomic_rmw``; cpu_time_facts §3,
Documentation/atomic_bitops.txt, atomic_t.txt):

* x86-64: every atomic RMW carries a LOCK prefix, and "x86 LOCK'd RMWs are
  full barriers" (cpu_time_facts §3; x86-TSO, Owens/Sarkar/Sewell: LOCK'd
  instructions drain the store buffer) — the same Fence as ``smp_mb``'s
  ``lock addl``. That is why ``smp_mb__{before,after}_atomic`` are no-ops there.
* arm64 (``ldset``/``stclr`` without A/L, or an ``ldxr``/``stxr`` loop),
  POWER (``ldarx``/``stdcx.``), RISC-V (``amoor.d``/``amoand.d`` without
  aq/rl): the instruction orders nothing; Linux's unordered ``set_bit``/
  ``clear_bit`` compile to exactly these.
* ``sc``: nothing to order.

Known limits of the operational model (documented, not hidden): load
buffering (a load satisfied by a program-order-later store of another CPU)
is not produced; POWER's non-multi-copy-atomicity (IRIW) is not modelled;
observer domains (inner vs outer shareable) are not distinguished for
memory→memory order.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Mapping

__all__ = [
    "MR", "MW", "DR", "DW", "R", "W", "M", "D", "ALL",
    "Fence", "Accessor", "OrderingProfile", "PROFILES", "get_profile",
    "BARRIER_NAMES", "ACCESSOR_NAMES",
]

MR, MW, DR, DW = 1, 2, 4, 8
R = MR | DR
W = MW | DW
M = MR | MW
D = DR | DW
ALL = MR | MW | DR | DW
_CLASSES = (MR, MW, DR, DW)


@dataclass(frozen=True)
class Fence:
    """An ordering relation: ``after_of[class]`` = classes after that it orders against ``class``.

    ``insn`` is the instruction(s) the primitive compiles to, for reports.
    """

    after_of: Mapping[int, int]
    insn: str = ""

    @classmethod
    def of(cls, insn: str, *pairs: tuple[int, int]) -> "Fence":
        """Build from (before_mask, after_mask) pairs; each pair orders every class in before against every class in after."""
        acc = {c: 0 for c in _CLASSES}
        for before, after in pairs:
            for c in _CLASSES:
                if before & c:
                    acc[c] |= after
        return cls(MappingProxyType(acc), insn)

    def orders(self, before_cls: int, after_cls: int) -> bool:
        """True if an access of ``before_cls`` before the fence is ordered before ``after_cls`` after it."""
        return bool(self.after_of[before_cls] & after_cls)

    def writes_before(self, after_mask: int) -> int:
        """Write classes that must be globally visible before later accesses in ``after_mask``."""
        return sum(c for c in (MW, DW) if self.after_of[c] & after_mask)

    @property
    def is_empty(self) -> bool:
        return not any(self.after_of.values())

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.after_of.items())))

    def __eq__(self, other) -> bool:
        return isinstance(other, Fence) and dict(self.after_of) == dict(other.after_of)


NONE = Fence.of("compiler barrier")


@dataclass(frozen=True)
class Accessor:
    """An MMIO accessor: a Fence before the device access and one after it."""

    before: Fence = NONE
    after: Fence = NONE


BARRIER_NAMES = ("mb", "rmb", "wmb", "dma_mb", "dma_rmb", "dma_wmb", "smp_mb", "smp_rmb", "smp_wmb")
ACCESSOR_NAMES = ("readl", "writel", "readl_relaxed", "writel_relaxed", "__raw_readl", "__raw_writel")


@dataclass(frozen=True)
class OrderingProfile:
    """One architecture's ordering rules; see the module docstring for the encoded facts."""

    name: str
    store_buffer: bool
    stale_loads: bool
    reorder_stores: frozenset[tuple[int, int]]
    barriers: Mapping[str, Fence]
    accessors: Mapping[str, Accessor]
    atomic_rmw: Fence
    notes: str = ""

    def barrier(self, name: str) -> Fence:
        """The Fence of Linux barrier ``name``; KeyError names the known ones."""
        try:
            return self.barriers[name]
        except KeyError:
            raise KeyError(f"{self.name} has no barrier '{name}'; known: {', '.join(self.barriers)}") from None

    def accessor(self, name: str) -> Accessor:
        try:
            return self.accessors[name]
        except KeyError:
            raise KeyError(f"{self.name} has no accessor '{name}'; known: {', '.join(self.accessors)}") from None

    def may_reorder(self, older_cls: int, younger_cls: int) -> bool:
        """True if a younger store may become visible before an older one (different bytes)."""
        return (older_cls, younger_cls) in self.reorder_stores

    def without_barrier(self, name: str) -> "OrderingProfile":
        """A copy where barrier ``name`` orders nothing (what the explorer calls 'dropped')."""
        self.barrier(name)
        return replace(self, name=f"{self.name}-{name}",
                       barriers=MappingProxyType({**self.barriers, name: NONE}))

    def with_accessor(self, name: str, acc: Accessor) -> "OrderingProfile":
        """A copy with accessor ``name`` replaced."""
        self.accessor(name)
        return replace(self, name=f"{self.name}~{name}",
                       accessors=MappingProxyType({**self.accessors, name: acc}))


def _profile(name, *, store_buffer, stale_loads, reorder, barriers, accessors, atomic_rmw,
             notes="") -> OrderingProfile:
    missing = set(BARRIER_NAMES) - set(barriers) or set(ACCESSOR_NAMES) - set(accessors)
    if missing:
        raise ValueError(f"profile {name} lacks {sorted(missing)}")
    return OrderingProfile(name, store_buffer, stale_loads, frozenset(reorder),
                           MappingProxyType(dict(barriers)), MappingProxyType(dict(accessors)), atomic_rmw,
                           notes)


# Store-class pairs a weak architecture may let leave the buffer out of order.
_WEAK_REORDER = {(MW, MW), (MW, DW), (DW, MW)}
_RAW = {"__raw_readl": Accessor(), "__raw_writel": Accessor()}

_SC = _profile(
    "sc", store_buffer=False, stale_loads=False, reorder=(),
    barriers={b: NONE for b in BARRIER_NAMES},
    accessors={a: Accessor() for a in ACCESSOR_NAMES},
    atomic_rmw=NONE,
    notes="sequential consistency: every access is globally visible in program order")

_X86 = _profile(
    "x86-tso", store_buffer=True, stale_loads=False, reorder=(),
    barriers={
        "wmb": Fence.of("sfence", (W, W)),
        "rmb": Fence.of("lfence", (R, R)),
        "mb": Fence.of("mfence", (ALL, ALL)),
        "dma_wmb": NONE, "dma_rmb": NONE,
        "dma_mb": Fence.of("mfence", (ALL, ALL)),
        "smp_wmb": NONE, "smp_rmb": NONE,
        "smp_mb": Fence.of("lock addl", (ALL, ALL)),
    },
    accessors={"readl": Accessor(), "writel": Accessor(),
               "readl_relaxed": Accessor(), "writel_relaxed": Accessor(), **_RAW},
    atomic_rmw=Fence.of("lock prefix", (ALL, ALL)),
    notes="TSO: FIFO store buffer; only store->load reordering")

_ARM64 = _profile(
    "arm64", store_buffer=True, stale_loads=True, reorder=_WEAK_REORDER,
    barriers={
        "wmb": Fence.of("dsb st", (W, ALL)),
        "rmb": Fence.of("dsb ld", (R, ALL)),
        "mb": Fence.of("dsb sy", (ALL, ALL)),
        "dma_wmb": Fence.of("dmb oshst", (W, W)),
        "dma_rmb": Fence.of("dmb oshld", (R, ALL)),
        "dma_mb": Fence.of("dmb osh", (ALL, ALL)),
        "smp_wmb": Fence.of("dmb ishst", (MW, MW)),
        "smp_rmb": Fence.of("dmb ishld", (MR, M)),
        "smp_mb": Fence.of("dmb ish", (M, M)),
    },
    accessors={
        "writel": Accessor(before=Fence.of("dmb oshst", (W, W))),
        "readl": Accessor(after=Fence.of("dmb oshld", (R, ALL))),
        "writel_relaxed": Accessor(), "readl_relaxed": Accessor(), **_RAW},
    atomic_rmw=NONE,
    notes="Armv8: Device-nGnRE keeps same-device order; Normal vs Device order needs DMB/DSB")

_SYNC = Fence.of("sync", (ALL, ALL))
_LWSYNC = Fence.of("lwsync", (MR, M), (MW, MW))
_POWER = _profile(
    "power", store_buffer=True, stale_loads=True, reorder=_WEAK_REORDER,
    barriers={
        "wmb": _SYNC, "rmb": _SYNC, "mb": _SYNC,
        "dma_wmb": _LWSYNC, "dma_rmb": _LWSYNC, "dma_mb": _SYNC,
        "smp_wmb": _LWSYNC, "smp_rmb": _LWSYNC, "smp_mb": _SYNC,
    },
    accessors={
        "writel": Accessor(before=_SYNC),
        "readl": Accessor(before=_SYNC, after=Fence.of("twi; isync", (R, ALL))),
        # arch/powerpc/include/asm/io.h: #define writel_relaxed(v, addr) writel(v, addr)
        "writel_relaxed": Accessor(before=_SYNC),
        "readl_relaxed": Accessor(before=_SYNC, after=Fence.of("twi; isync", (R, ALL))),
        **_RAW},
    atomic_rmw=NONE,
    notes="lwsync covers cacheable memory only and never orders W->R; only sync orders memory against I/O")

_RISCV = _profile(
    "riscv", store_buffer=True, stale_loads=True, reorder=_WEAK_REORDER,
    barriers={
        "wmb": Fence.of("fence ow,ow", (W, W)),
        "rmb": Fence.of("fence ir,ir", (R, R)),
        "mb": Fence.of("fence iorw,iorw", (ALL, ALL)),
        "dma_wmb": Fence.of("fence ow,ow (asm-generic wmb)", (W, W)),
        "dma_rmb": Fence.of("fence ir,ir (asm-generic rmb)", (R, R)),
        "dma_mb": Fence.of("fence iorw,iorw (asm-generic mb)", (ALL, ALL)),
        "smp_wmb": Fence.of("fence w,w", (MW, MW)),
        "smp_rmb": Fence.of("fence r,r", (MR, MR)),
        "smp_mb": Fence.of("fence rw,rw", (M, M)),
    },
    accessors={
        "writel": Accessor(before=Fence.of("fence w,o", (MW, DW))),
        "readl": Accessor(after=Fence.of("fence i,ir", (DR, R))),
        "writel_relaxed": Accessor(), "readl_relaxed": Accessor(), **_RAW},
    atomic_rmw=NONE,
    notes="RVWMO; no ordering between memory and I/O space without FENCE's i/o bits")

PROFILES: Mapping[str, OrderingProfile] = MappingProxyType(
    {p.name: p for p in (_SC, _X86, _ARM64, _POWER, _RISCV)})


def get_profile(name: str) -> OrderingProfile:
    """Profile by name (``sc``, ``x86-tso``, ``arm64``, ``power``, ``riscv``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown ordering profile '{name}'; choose one of: {', '.join(PROFILES)}") from None
