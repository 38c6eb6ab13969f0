"""The host's interrupt controller: message-signalled interrupts (MSI-X) and a level INTx line.

A device raises an MSI-X interrupt by a posted memory write of ``data`` to
``address`` (the address and data the OS programmed into the device's MSI-X
table). On x86 such writes go to the 0xFEEx_xxxx window and never reach
memory; here :meth:`MsiController.deliver` receives them and calls the
handler registered for that data value — what ``request_irq`` would hook.
A write with an unknown address or data is recorded and logged (a spurious
interrupt), never raised.
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

    def __init__(self, engine):
        self.engine = engine
        self._handlers: dict[int, tuple[str, Callable[[], None]]] = {}
        self._next_data = 0x40
        self.received: list[tuple[int, str]] = []
        self.spurious: list[tuple[int, int, int]] = []
        self.intx_level = False
        self.intx_handlers: list[Callable[[bool], None]] = []

    def allocate(self, name: str, handler: Callable[[], None], cpu: int = 0) -> tuple[int, int]:
        """A new vector for ``handler``; returns the (address, data) to program into the device."""
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
        handler()

    def set_intx(self, level: bool) -> None:
        """The legacy INTx line changed level."""
        level = bool(level)
        if level != self.intx_level:
            self.intx_level = level
            self.engine.log("intx", "level", int(level))
            for fn in self.intx_handlers:
                fn(level)
