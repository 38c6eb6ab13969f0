"""The host's interrupt controller: message-signalled interrupts (MSI-X) and a level INTx line.

A device raises an MSI-X interrupt by a posted memory write of ``data`` to
``address`` (the address and data the OS programmed into the device's MSI-X
table). On x86 such writes go to the 0xFEEx_xxxx window and never reach
memory; here :meth:`MsiController.deliver` receives them and calls the
handler registered for that data value — what ``request_irq`` would hook.
A write with an unknown address or data is recorded and logged (a spurious
interrupt), never raised.

The handler runs one *delivery latency* after the message lands (LAPIC
delivery and the CPU reaching the handler; one of ``latency_options``, a
choice, :mod:`sim.host.timing`), and is called as ``handler(device_count)``:
the memory write count when the message landed. Every device write ahead of
the message in PCIe order had landed by then (posted writes do not pass
posted writes), so the handler's CPU passes it to
:meth:`~sim.host.cpu.Cpu.take_interrupt` and may no longer read what those
writes replaced. The INTx line carries no such count: its level changes
reach :attr:`MsiController.intx_handlers` at once, and a driver orders its
loads behind the DMA by reading the cause register (PCI msi-howto).
"""
from __future__ import annotations

import logging
from typing import Callable

__all__ = ["MsiController", "MSI_ADDRESS_BASE"]

log = logging.getLogger("igbsim.host.msi")

#: x86 local-APIC message address window (Intel SDM: 0xFEEx_xxxx).
MSI_ADDRESS_BASE = 0xFEE0_0000
_MSI_WINDOW = 0x10_0000


class MsiController:
    """Allocates (address, data) pairs for vectors and dispatches arriving messages."""

    def __init__(self, engine, history=None, latency_options: tuple[int, ...] = (0,)):
        self.engine = engine
        self.history = history
        self.latency_options = latency_options
        self._handlers: dict[int, tuple[str, Callable[[int], None]]] = {}
        self._next_data = 0x40
        self.received: list[tuple[int, str]] = []
        self.spurious: list[tuple[int, int, int]] = []
        self.intx_level = False
        self.intx_handlers: list[Callable[[bool], None]] = []

    def allocate(self, name: str, handler: Callable[[int], None], cpu: int = 0) -> tuple[int, int]:
        """A new vector for ``handler(device_count)``; returns the (address, data) to program into the device."""
        data = self._next_data
        self._next_data += 1
        self._handlers[data] = (name, handler)
        return MSI_ADDRESS_BASE | (cpu << 12), data

    def deliver(self, address: int, data: int) -> None:
        """A message arrived (called when the device's posted write lands)."""
        entry = self._handlers.get(data)
        if not MSI_ADDRESS_BASE <= address < MSI_ADDRESS_BASE + _MSI_WINDOW or entry is None:
            self.spurious.append((self.engine.now, address, data))
            log.warning("spurious MSI: write of %#x to %#x matches no vector", data, address)
            return
        name, handler = entry
        self.received.append((self.engine.now, name))
        self.engine.log("msi", name)
        count = self.write_count()
        opts = self.latency_options
        if len(opts) == 1:
            if not opts[0]:
                handler(count)
                return
            delay = opts[0]
        else:
            delay = opts[self.engine.choose_index(len(opts), "msi-latency")]
        self.engine.call_later(delay, handler, count)

    def write_count(self) -> int:
        """The memory write count now: what a message landing now carries (0 without value histories)."""
        return self.history.gver if self.history is not None else 0

    def set_intx(self, level: bool) -> None:
        """The legacy INTx line changed level."""
        level = bool(level)
        if level != self.intx_level:
            self.intx_level = level
            self.engine.log("intx", "level", int(level))
            for fn in self.intx_handlers:
                fn(level)
