"""Timing variation drawn as choices: the options, their bounds and their sources, in one place.

Three latencies vary from one event to the next on a real machine. The
model draws each one, every time, through the engine's one choice mechanism
(``engine.choose_index(len(options), why)``): a seeded policy gives seeded
timing, :class:`~sim.engine.choice.FirstPolicy` the first option (the
minimum), a replay replays it, and the ordering explorer can enumerate the
options (so each table has at most 8, sorted ascending). Facts are from
``research/cpu_time_facts.md`` §6; a value that no source pins is marked
UNCONFIRMED and can be replaced through the argument named with it.

* **Store-buffer drain latency** (:data:`DRAIN_LATENCY_PS`, per ordering
  profile; ``Host(drain_delay_ps=…)`` fixes it): the time from one store
  leaving a CPU's buffer to the next one leaving it. Facts §6 [mem]: 1–5 ns
  if the cache line is already owned, 40–150 ns if a read-for-ownership
  (RFO) is needed, measured on x86 (Skylake). Options: three owned-line
  values (1, 3, 5 ns) and three RFO values (40, 95, 150 ns), uniformly
  weighted by a seeded policy. The same table is used for arm64, POWER and
  RISC-V: no per-architecture figure was found (UNCONFIRMED). ``sc`` has no
  store buffer.
* **MSI delivery latency** (:data:`MSI_DELIVERY_LATENCY_PS`;
  ``Host(msi_latency_ps=…)`` fixes it): from the MSI's posted write landing
  at the root complex to the CPU starting the handler. Facts §6: "MSI to
  handler start 0.5–5 µs typical" [mem] (UNCONFIRMED); C-state exits
  (2–100+ µs) and the >100 µs tails are left out. The hardirq entry cost is
  CPU time charged separately (the cost table, facts §5).
* **NIC DMA read jitter** (:data:`DMA_READ_JITTER_PS`;
  ``Nic(dma_read_jitter_ps=…)`` replaces it): added to the link's fixed
  read latency (:class:`~sim.host.pcie.PcieLink` ``read_latency_ps``) of
  every descriptor fetch and packet-buffer read. The root complex finds the
  line in the last-level cache (0) or in DRAM: 70–130 ns local, 130–200 ns
  remote (facts §6 "DRAM miss" [mem]). Options 0, 70, 130, 200 ns.
"""
from __future__ import annotations

from types import MappingProxyType

__all__ = ["DRAIN_LATENCY_PS", "MSI_DELIVERY_LATENCY_PS", "DMA_READ_JITTER_PS",
           "drain_latency_options", "as_options"]

_NS = 1000

#: Store-buffer drain options: owned line 1-5 ns, RFO 40-150 ns (facts §6, x86; others UNCONFIRMED).
_DRAIN_X86_PS = (1 * _NS, 3 * _NS, 5 * _NS, 40 * _NS, 95 * _NS, 150 * _NS)

#: Drain latency options per ordering profile name (a profile without a store buffer needs none).
DRAIN_LATENCY_PS = MappingProxyType({
    "x86-tso": _DRAIN_X86_PS,
    "arm64": _DRAIN_X86_PS,   # UNCONFIRMED: the x86 figures, no arm64 measurement found
    "power": _DRAIN_X86_PS,   # UNCONFIRMED: likewise
    "riscv": _DRAIN_X86_PS,   # UNCONFIRMED: likewise
})

#: MSI landing to handler start: 0.5-5 us typical (facts §6 [mem], UNCONFIRMED).
MSI_DELIVERY_LATENCY_PS = (500 * _NS, 1000 * _NS, 2000 * _NS, 3500 * _NS, 5000 * _NS)

#: Added to a NIC DMA read's latency: LLC hit, DRAM local fast/slow, remote (facts §6 [mem]).
DMA_READ_JITTER_PS = (0, 70 * _NS, 130 * _NS, 200 * _NS)

_MAX_OPTIONS = 8


def as_options(value, name: str) -> tuple[int, ...]:
    """``value`` as an option tuple: an int is one fixed option, a sequence is checked.

    Options are non-negative integer picoseconds, 1 to 8 of them, ascending
    (so :class:`~sim.engine.choice.FirstPolicy` picks the minimum).
    """
    opts = (value,) if isinstance(value, int) else tuple(value)
    if not 1 <= len(opts) <= _MAX_OPTIONS:
        raise ValueError(f"{name}: need 1 to {_MAX_OPTIONS} options, got {len(opts)}")
    if any(not isinstance(v, int) or v < 0 for v in opts) or list(opts) != sorted(opts):
        raise ValueError(f"{name}={opts!r}: options are ascending non-negative integers (ps)")
    return opts


def drain_latency_options(profile_name: str, override: int | tuple | None) -> tuple[int, ...]:
    """The drain latency options of a CPU under ``profile_name``, or ``override`` if given.

    Derived profiles (``arm64-wmb``, ``x86-tso~writel``: a barrier dropped or
    an accessor replaced) use their architecture's table.
    """
    if override is not None:
        return as_options(override, "drain_delay_ps")
    for name, opts in DRAIN_LATENCY_PS.items():
        if profile_name == name or profile_name.startswith((name + "-", name + "~")):
            return opts
    return (0,)   # no store buffer (sc) or an unknown profile: stores drain at once
