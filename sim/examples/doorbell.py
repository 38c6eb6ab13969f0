"""A doorbell device with a level interrupt: the smallest "one model, three ways" example.

What it models. A device has a write-only DOORBELL register and a read-to-clear
ICR (interrupt cause register). A host write to DOORBELL is posted: the device
notices it ``irq_latency_ps`` later (a fixed-latency pipeline, like a tail write
that has to cross PCIe and an internal clock domain), then sets the DOORBELL
cause bit in ICR and raises its ``irq`` output. The line stays high until the
host reads ICR, which returns the pending causes, clears them and lowers the
line. Doorbells that mature while the cause bit is still set coalesce into it:
one interrupt, one cause bit, however many writes (the hardware counts them in
:attr:`DoorbellDevice.coalesced`). A doorbell that matures after the read
raises the line again.

Why it is written this way. The model uses nothing but the engine API
(:class:`sim.engine.EngineAPI`: ``engine.now``, ``engine.timeout``,
``engine.event``, ``Event.succeed``, ``engine.spawn``, ``engine.log``) and
:class:`sim.engine.Store`, so the same code runs on the native engine
(:class:`sim.engine.Engine`) and inside cocotb through
:class:`sim.tb.adapter.CocotbEngine`, where time is the HDL simulator's time. Every observable step is an ``engine.log`` record
``(time_ps, source, what, *data)``, so a run is a trace that can be compared
across the two engines record for record.

Race freedom. The two engines agree on *when* things happen but not
necessarily on the order of two unrelated processes acting at the same
picosecond. The model therefore never lets two processes act on the same
state at the same time unless one causes the other (a doorbell write wakes the
pipeline process; a raised line wakes the host's interrupt handler), and a
stimulus should keep writes, maturities and ICR reads on different
picoseconds. The convenient way, used by the tests: writes on a 1 ns grid, an
irq latency of ``k ns + 250 ps`` and an ISR latency of ``k ns + 500 ps``
(so maturities end in 250 ps and reads in 750 ps).

Trace records (``source`` is the device's or the host's name):

* ``(t, dev, "doorbell", value)`` — a host write to DOORBELL;
* ``(t, dev, "coalesce", value)`` — a matured doorbell folded into a pending cause;
* ``(t, dev, "irq", 1)`` / ``(t, dev, "irq", 0)`` — the line rises / falls;
* ``(t, dev, "icr_read", causes)`` — the host read ICR (read-to-clear);
* ``(t, host, "irq_seen")``, ``(t, host, "isr", causes)``, ``(t, host, "done", n_isr, irq_level)``.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from sim.engine import EngineAPI, Store

__all__ = ["CAUSE_DOORBELL", "DoorbellDevice", "IrqLine", "irq_service", "host_program"]

#: ICR bit set when a doorbell matured (the only cause this device has).
CAUSE_DOORBELL = 0x1


class DoorbellDevice:
    """The device: DOORBELL register, read-to-clear ICR, a level ``irq`` output.

    ``write_doorbell`` and ``read_icr`` are register accesses: they take no
    simulated time and may be called from any process (or from a testbench
    coroutine under cocotb). The latency lives in one internal process fed
    through a :class:`Store`, so writes queue up in order and each one matures
    exactly ``irq_latency_ps`` after it was written.
    """

    def __init__(self, engine: EngineAPI, irq_latency_ps: int, *, name: str = "dev"):
        if not isinstance(irq_latency_ps, int) or irq_latency_ps < 0:
            raise ValueError(f"irq_latency_ps must be a non-negative int, got {irq_latency_ps!r}")
        self.engine = engine
        self.name = name
        self.irq_latency_ps = irq_latency_ps
        #: Last value written to DOORBELL.
        self.doorbell = 0
        #: Pending interrupt causes (read-to-clear).
        self.icr = 0
        #: Level of the interrupt output (0 or 1).
        self.irq = 0
        #: Counters: doorbell writes, line assertions, matured doorbells folded into a pending cause.
        self.writes = 0
        self.irq_count = 0
        self.coalesced = 0
        self._irq_listeners: list[Callable[[int], None]] = []
        self._posted = Store(engine)
        self.process = engine.spawn(self._pipeline(), name=f"{name}.pipeline")

    # --- ports --------------------------------------------------------
    def add_irq_listener(self, fn: Callable[[int], None]) -> None:
        """Call ``fn(level)`` every time the irq output changes (in registration order)."""
        self._irq_listeners.append(fn)

    def write_doorbell(self, value: int) -> None:
        """Host write to DOORBELL (zero time): posted, matures ``irq_latency_ps`` later."""
        eng = self.engine
        self.doorbell = value
        self.writes += 1
        eng.log(self.name, "doorbell", value)
        self._posted.put((eng.now, value))

    def read_icr(self) -> int:
        """Host read of ICR (zero time): returns the causes, clears them, lowers irq."""
        causes = self.icr
        self.icr = 0
        self.engine.log(self.name, "icr_read", causes)
        if self.irq:
            self._drive_irq(0)
        return causes

    # --- internals ----------------------------------------------------
    def _pipeline(self):
        """The device's only process: matures posted doorbells in write order."""
        eng = self.engine
        while True:
            t_write, value = yield self._posted.get()
            wait_ps = t_write + self.irq_latency_ps - eng.now
            if wait_ps > 0:
                yield eng.timeout(wait_ps)
            if self.icr & CAUSE_DOORBELL:
                # The cause is still pending (the host has not read ICR yet): coalesce.
                self.coalesced += 1
                eng.log(self.name, "coalesce", value)
            else:
                self.icr |= CAUSE_DOORBELL
                self._drive_irq(1)

    def _drive_irq(self, level: int) -> None:
        self.irq = level
        if level:
            self.irq_count += 1
        self.engine.log(self.name, "irq", level)
        for fn in self._irq_listeners:
            fn(level)


class IrqLine:
    """The host's view of a level interrupt line: ``yield line.wait()`` until it is high.

    It registers itself as an irq listener of ``dev``; a rising level triggers
    the Event the waiter is parked on (with the time it rose). If the line is
    already high when ``wait()`` is called the returned Event is already
    triggered, so a level-triggered handler cannot miss an interrupt.
    """

    def __init__(self, engine: EngineAPI, dev: DoorbellDevice):
        self.engine = engine
        self.dev = dev
        self._waiter = None
        dev.add_irq_listener(self._on_level)

    def wait(self):
        """An Event that fires (with the time in ps) once the line is high."""
        ev = self.engine.event("irq_line")
        if self.dev.irq:
            ev.succeed(self.engine.now)
        else:
            self._waiter = ev
        return ev

    def _on_level(self, level: int) -> None:
        ev = self._waiter
        if level and ev is not None:
            self._waiter = None
            ev.succeed(self.engine.now)


def irq_service(engine: EngineAPI, dev: DoorbellDevice, isr_latency_ps: int, icr_values: list | None = None,
                *, source: str = "host"):
    """The host's interrupt handler, as a process that never returns.

    Waits for the line, spends ``isr_latency_ps`` getting to the handler (entry
    latency, no other work), reads ICR and logs the causes. Appends each ICR
    value to ``icr_values`` if given.
    """
    line = IrqLine(engine, dev)
    while True:
        yield line.wait()
        engine.log(source, "irq_seen")
        yield engine.timeout(isr_latency_ps)
        causes = dev.read_icr()
        engine.log(source, "isr", causes)
        if icr_values is not None:
            icr_values.append(causes)


def host_program(engine: EngineAPI, dev: DoorbellDevice, gaps_ps: Sequence[int], *, isr_latency_ps: int,
                 settle_ps: int, values: Iterable[int] | None = None, source: str = "host"):
    """Host-side stimulus (a generator): ring the doorbell, service interrupts, report.

    Starts :func:`irq_service` as a separate process, then for each ``gap`` in
    ``gaps_ps`` sleeps ``gap`` ps and writes the doorbell (``values`` in order,
    default 1, 2, 3, ...). A gap of 0 writes in the same picosecond as the
    previous write. After the last write it sleeps ``settle_ps`` — choose it
    larger than ``irq_latency_ps + isr_latency_ps`` so every interrupt has been
    raised and serviced — logs ``done`` with the number of ISR runs and the
    line level, and returns the list of ICR values the handler read.
    """
    icr_values: list[int] = []
    engine.spawn(irq_service(engine, dev, isr_latency_ps, icr_values, source=source), name=f"{source}.isr")
    vals = list(values) if values is not None else list(range(1, len(gaps_ps) + 1))
    if len(vals) != len(gaps_ps):
        raise ValueError(f"{len(gaps_ps)} gaps but {len(vals)} values")
    for gap, value in zip(gaps_ps, vals):
        yield engine.timeout(gap)
        dev.write_doorbell(value)
    yield engine.timeout(settle_ps)
    engine.log(source, "done", len(icr_values), dev.irq)
    return icr_values
