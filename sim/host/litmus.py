"""Litmus programs: tiny multi-CPU (and device) programs run on the simulated host.

A :class:`Litmus` names some shared variables (each in its own cache line
of a coherent DMA buffer, so both the CPUs and the device can reach them),
gives each CPU thread a list of operations, optionally gives the device a
list too, and names the registers whose final values form the outcome.
Every operation is atomic; between two operations of a thread there is a
scheduling point, so with a tie-exploring policy every interleaving of
threads, store-buffer drains and device steps is a choice.

:func:`run_litmus` runs one execution under a policy; :func:`enumerate_litmus`
runs them all (stateless depth-first re-execution) and returns the set of
outcomes, the number of executions and a replayable witness for each
outcome. The store-buffer drain latency is fixed at 0: with ties explored,
every drain order is already a choice, so drawing latencies would multiply
the executions without adding an outcome.

CPU operations: :class:`St`, :class:`Ld`, :class:`Barrier`, :class:`MmioWr`,
:class:`MmioRd`. Device operations: :class:`WaitDoorbell`, :class:`DmaRd`,
:class:`DmaWr`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sim.engine import Engine, Exploration, Policy, explore

from .machine import Host
from .ordering import OrderingProfile

__all__ = [
    "Litmus", "St", "Ld", "Barrier", "MmioWr", "MmioRd", "WaitDoorbell", "DmaRd", "DmaWr",
    "run_litmus", "enumerate_litmus", "DOORBELL_BASE",
]

#: Where the litmus device's one-register BAR sits in the MMIO space.
DOORBELL_BASE = 0xF000_0000
_SLOT = 64  # one variable per cache line
_SIZE = 4   # every variable is a 32-bit word


# --- CPU operations ------------------------------------------------------
@dataclass(frozen=True)
class St:
    """``var = value`` (a plain 32-bit store)."""
    var: str
    value: int

    def run(self, cpu, ctx: "_Context") -> None:
        cpu.store(ctx.cpu_addr[self.var], _SIZE, self.value)


@dataclass(frozen=True)
class Ld:
    """``reg = var`` (a plain 32-bit load)."""
    var: str
    reg: str

    def run(self, cpu, ctx: "_Context") -> None:
        ctx.regs[self.reg] = cpu.load(ctx.cpu_addr[self.var], _SIZE)


@dataclass(frozen=True)
class Barrier:
    """A Linux barrier primitive by name (``smp_wmb``, ``dma_rmb``, …)."""
    name: str

    def run(self, cpu, ctx: "_Context") -> None:
        cpu.barrier(self.name)


@dataclass(frozen=True)
class MmioWr:
    """Write ``value`` to the device's doorbell with accessor ``writel``/``writel_relaxed``/…"""
    accessor: str
    value: int = 1

    def run(self, cpu, ctx: "_Context") -> None:
        cpu.mmio_write(DOORBELL_BASE, _SIZE, self.value, self.accessor)


@dataclass(frozen=True)
class MmioRd:
    """``reg = doorbell`` with accessor ``readl``/``readl_relaxed``/…"""
    accessor: str
    reg: str

    def run(self, cpu, ctx: "_Context") -> None:
        ctx.regs[self.reg] = cpu.mmio_read(DOORBELL_BASE, _SIZE, self.accessor)


# --- device operations ---------------------------------------------------
@dataclass(frozen=True)
class WaitDoorbell:
    """The device waits until a doorbell write reaches it."""


@dataclass(frozen=True)
class DmaRd:
    """``reg = var`` read by the device through the IOMMU."""
    var: str
    reg: str

    def run(self, host, ctx: "_Context") -> None:
        data = host.iommu.dma_read(ctx.dma_addr[self.var], _SIZE, "litmus-device")
        ctx.regs[self.reg] = int.from_bytes(data, "little")


@dataclass(frozen=True)
class DmaWr:
    """``var = value`` written by the device through the IOMMU."""
    var: str
    value: int

    def run(self, host, ctx: "_Context") -> None:
        host.iommu.dma_write(ctx.dma_addr[self.var], self.value.to_bytes(_SIZE, "little"), "litmus-device")


@dataclass(frozen=True)
class Litmus:
    """A litmus program; ``observe`` lists the registers that make up an outcome tuple."""

    name: str
    init: dict[str, int]
    threads: tuple[tuple, ...]
    observe: tuple[str, ...]
    device: tuple = ()
    doc: str = field(default="", compare=False)


class _Context:
    """Per-execution state: variable addresses and the register file."""

    def __init__(self, host: Host, litmus: Litmus):
        names = list(litmus.init)
        buf = host.dma.dma_alloc_coherent(_SLOT * max(1, len(names)), owner="litmus")
        self.cpu_addr = {n: buf.cpu_addr + _SLOT * i for i, n in enumerate(names)}
        self.dma_addr = {n: buf.dma_addr + _SLOT * i for i, n in enumerate(names)}
        self.regs: dict[str, int] = {}
        for n, v in litmus.init.items():
            host.mem.write32(self.cpu_addr[n], v)


class _LitmusDevice:
    """A one-register device: a write to it is a doorbell the device thread waits for."""

    def __init__(self, engine):
        self.engine = engine
        self.value = 0
        self.rung = engine.event("doorbell")

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.value = value
        if not self.rung.triggered:
            self.rung.succeed(value)

    def mmio_read(self, offset: int, size: int) -> int:
        return self.value


def _cpu_thread(cpu, ops, ctx):
    for k, op in enumerate(ops):
        if k:
            yield 0
        op.run(cpu, ctx)


def _device_thread(host, dev, ops, ctx):
    for k, op in enumerate(ops):
        if k:
            yield 0
        if isinstance(op, WaitDoorbell):
            yield dev.rung
        else:
            op.run(host, ctx)


def run_litmus(litmus: Litmus, profile: str | OrderingProfile, policy: Policy) -> tuple:
    """One execution of ``litmus`` on a fresh host under ``policy``; returns the outcome tuple."""
    engine = Engine(policy)
    host = Host(engine, profile, ncpus=len(litmus.threads), mmio_latency=False, drain_delay_ps=0)
    dev = _LitmusDevice(engine)
    host.map_device("litmus", DOORBELL_BASE, 0x1000, dev)
    ctx = _Context(host, litmus)
    if host.history is not None:
        for cpu in host.cpus:  # the initial values happen-before every thread
            cpu.horizon = host.history.gver
    for cpu, ops in zip(host.cpus, litmus.threads):
        engine.spawn(_cpu_thread(cpu, ops, ctx), cpu.name)
    if litmus.device:
        engine.spawn(_device_thread(host, dev, litmus.device, ctx), "device")
    engine.run(max_steps=100_000)
    missing = [r for r in litmus.observe if r not in ctx.regs]
    # A device that never saw its doorbell leaves its registers unset: report them as None.
    return tuple(ctx.regs.get(r) if r not in missing else None for r in litmus.observe)


def enumerate_litmus(litmus: Litmus, profile: str | OrderingProfile,
                     max_executions: int = 200_000) -> Exploration:
    """Every execution of ``litmus`` under ``profile``: outcomes, counts, witnesses."""
    return explore(lambda policy: run_litmus(litmus, profile, policy),
                   ties=True, max_executions=max_executions)
