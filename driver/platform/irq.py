"""Interrupts: vectors from the host's MSI controller, handlers run in hardirq context.

Linux splits this in two, and so does the model:

* ``pci_alloc_irq_vectors(dev, min_vecs, max_vecs)`` reserves a block of
  vectors for a device and returns their MSI messages, ``(address, data)``
  pairs to program into the device's MSI-X table (``pci_write_msi_msg`` in
  ``Kernel`` does that over MMIO). Fewer than ``min_vecs`` available -> the
  empty list (Linux: -ENOSPC), so a driver can fall back as igb does
  (MSI-X -> MSI -> INTx).
* ``request_irq(name, handler, dev_id, vector=msg)`` binds a handler to one
  of them; without ``vector`` it takes a fresh vector of its own.
  ``free_irq`` unbinds; ``pci_free_irq_vectors`` gives the block back and
  refuses while a handler is still bound (Linux BUGs).

When a device's message lands, it interrupts the CPU the message address
names (:meth:`sim.host.sched.CpuRun.interrupt`: at once, or when that CPU
enables interrupts again), and the handler runs as Linux calls it,
``handler(irq, dev_id)`` with ``irq`` = the vector's data value, in a
hardirq context ``hardirq:<name>``, charged the ``hardirq`` entry cost. A message for a vector with no handler is recorded
in ``spurious`` and logged — never raised into the device.

Vectors are never returned to the host's controller (it has no free); a
freed vector's messages are simply spurious. A run's vector count is tiny.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, NamedTuple

from .faults import FailureRequest
from .leaks import Leak

__all__ = ["MsiMsg", "IrqTable", "IRQ_NONE", "IRQ_HANDLED"]

log = logging.getLogger("igbsim.driver.platform.irq")

IRQ_NONE = 0
IRQ_HANDLED = 1


class MsiMsg(NamedTuple):
    """One MSI message: write ``data`` to ``address`` (``struct msi_msg``)."""

    address: int
    data: int


class _Vector:
    """A vector this kernel holds: its message, target CPU, owner, and the bound handler if any."""

    __slots__ = ("msg", "cpu", "owner", "standalone", "name", "handler", "dev_id", "fired")

    def __init__(self, cpu: int, owner: str, standalone: bool):
        self.msg: MsiMsg | None = None
        self.cpu = cpu
        self.owner = owner
        self.standalone = standalone
        self.name: str | None = None
        self.handler: Callable[[int, Any], Any] | None = None
        self.dev_id: Any = None
        self.fired = 0


class IrqTable:
    """The interrupt vectors of one kernel (see the module docstring)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.msi = kernel.host.msi
        self.ncpus = len(kernel.host.cpus)
        #: Most vectors one pci_alloc_irq_vectors may grant (None = no limit).
        self.max_vectors: int | None = None
        self._vectors: dict[int, _Vector] = {}      # data -> vector
        self._blocks: dict[str, list[_Vector]] = {}  # device name -> its pci_alloc_irq_vectors block
        self.spurious: list[tuple[int, int, str]] = []  # (time, data, why)

    def _new_vector(self, cpu: int, owner: str, standalone: bool) -> _Vector:
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"interrupt target cpu{cpu} does not exist (host has {self.ncpus})")
        vec = _Vector(cpu, owner, standalone)
        vec.msg = MsiMsg(*self.msi.allocate(f"{owner}-vec", lambda count, v=vec: self._fire(v, count), cpu))
        self._vectors[vec.msg.data] = vec
        return vec

    # --- vector blocks -------------------------------------------------------
    def pci_alloc_irq_vectors(self, dev, min_vecs: int, max_vecs: int, *,
                              spread: bool = False) -> list[MsiMsg]:
        """Reserve ``min_vecs..max_vecs`` vectors for ``dev``: their messages, or [] if too few.

        ``spread``: vector i targets CPU i mod ncpus (PCI_IRQ_AFFINITY-like);
        otherwise all target CPU 0.
        """
        if not 1 <= min_vecs <= max_vecs:
            raise ValueError(f"pci_alloc_irq_vectors: need 1 <= min_vecs <= max_vecs, got {min_vecs}, {max_vecs}")
        if dev.name in self._blocks:
            raise ValueError(f"pci_alloc_irq_vectors: {dev.name} already holds vectors; free them first")
        if self.kernel.faults.should_fail(FailureRequest("pci_alloc_irq_vectors", dev.name, max_vecs)):
            return []
        n = max_vecs if self.max_vectors is None else min(max_vecs, self.max_vectors)
        if n < min_vecs:
            return []
        block = [self._new_vector(i % self.ncpus if spread else 0, dev.name, False) for i in range(n)]
        self._blocks[dev.name] = block
        return [v.msg for v in block]

    def pci_free_irq_vectors(self, dev) -> None:
        """Give back ``dev``'s vector block; every handler on it must be freed first."""
        block = self._blocks.get(dev.name)
        if block is None:
            raise ValueError(f"pci_free_irq_vectors: {dev.name} holds no vectors")
        bound = [v.name for v in block if v.handler is not None]
        if bound:
            raise ValueError(f"pci_free_irq_vectors: {dev.name} still has handlers {bound}; free_irq them first")
        for v in block:
            del self._vectors[v.msg.data]
        del self._blocks[dev.name]

    # --- handlers ----------------------------------------------------------------
    def request_irq(self, name: str, handler: Callable[[int, Any], Any], dev_id: Any = None, *,
                    vector: MsiMsg | None = None, cpu: int | None = None) -> MsiMsg:
        """Bind ``handler`` to ``vector`` (from pci_alloc_irq_vectors) or to a new one on ``cpu`` (default 0).

        With ``vector`` and ``cpu`` both given, the vector's interrupts go to
        ``cpu`` from now on: its affinity, as ``/proc/irq/N/smp_affinity``
        (``irq_set_affinity``) sets it.
        """
        if vector is None:
            vec = self._new_vector(0 if cpu is None else cpu, name, True)
        else:
            vec = self._vectors.get(MsiMsg(*vector).data)
            if vec is None or vec.msg != MsiMsg(*vector):
                raise ValueError(f"request_irq({name}): {vector} is not a vector this kernel allocated")
            if vec.handler is not None:
                raise ValueError(f"request_irq({name}): vector {vec.msg.data:#x} is busy ({vec.name})")
            if cpu is not None:
                if not 0 <= cpu < self.ncpus:
                    raise ValueError(f"request_irq({name}): cpu{cpu} does not exist (host has {self.ncpus})")
                vec.cpu = cpu
        vec.name, vec.handler, vec.dev_id = name, handler, dev_id
        return vec.msg

    def free_irq(self, vector: MsiMsg | int, dev_id: Any = None) -> str:
        """Unbind the handler of ``vector`` (message or data value); returns its name, as Linux does."""
        data = vector if isinstance(vector, int) else MsiMsg(*vector).data
        vec = self._vectors.get(data)
        if vec is None or vec.handler is None:
            raise ValueError(f"free_irq: vector {data:#x} has no handler (already free?)")
        if vec.dev_id is not dev_id and vec.dev_id != dev_id:
            raise ValueError(f"free_irq({vec.name}): dev_id {dev_id!r} does not match the one requested")
        name = vec.name
        vec.name = vec.handler = vec.dev_id = None
        if vec.standalone:
            del self._vectors[data]
        return name

    def _fire(self, vec: _Vector, device_count: int) -> None:
        """A message for ``vec`` landed: interrupt its CPU, or record a spurious interrupt.

        ``device_count``: the memory write count when the message landed
        (:meth:`sim.host.msi.MsiController.deliver`), for ``take_interrupt``.
        """
        data = vec.msg.data
        if self._vectors.get(data) is not vec or vec.handler is None:
            self._spurious(data)
            return
        self.kernel.host.sched.cpus[vec.cpu].interrupt(vec.name, self._handle, vec, device_count)

    def _handle(self, vec: _Vector, device_count: int) -> None:
        """In the hardirq context on ``vec``'s CPU: the entry cost, then the handler."""
        data = vec.msg.data
        if self._vectors.get(data) is not vec or vec.handler is None:   # freed while pending
            self._spurious(data)
            return
        vec.fired += 1
        self.kernel.cpu.take_interrupt(device_count)
        self.kernel.charge("hardirq")
        vec.handler(data, vec.dev_id)

    def irq_inject_interrupt(self, name: str) -> None:
        """Fire the vector whose handler is called ``name`` now, as if its message had just landed.

        Linux's ``irq_inject_interrupt`` (debugfs ``irq/irqs/N`` ``trigger``,
        CONFIG_GENERIC_IRQ_INJECTION): the handler runs on the vector's CPU
        without the device having sent anything. ValueError names the bound
        vectors if none is called ``name``.
        """
        self._fire(self._named(name), self.msi.write_count())

    def _named(self, name: str) -> _Vector:
        """The bound vector whose handler is called ``name``; ValueError names the bound ones."""
        for vec in self._vectors.values():
            if vec.name == name and vec.handler is not None:
                return vec
        names = sorted(v.name for v in self._vectors.values() if v.handler is not None)
        raise ValueError(f"no vector named {name!r} (bound: {', '.join(names)})")

    def cpu_of(self, name: str) -> int:
        """The CPU the vector whose handler is called ``name`` interrupts (ValueError if none is)."""
        return self._named(name).cpu

    def _spurious(self, data: int) -> None:
        self.spurious.append((self.kernel.host.engine.now, data, "no handler"))
        log.warning("spurious interrupt: vector %#x has no handler", data)

    def fired(self, vector: MsiMsg | int) -> int:
        """How many times the handler of ``vector`` ran."""
        data = vector if isinstance(vector, int) else MsiMsg(*vector).data
        vec = self._vectors.get(data)
        return vec.fired if vec is not None else 0

    # --- leak accounting -------------------------------------------------------
    def live(self) -> list[Leak]:
        """Bound handlers and unreleased vector blocks."""
        out = [Leak("irq", v.name, 0, f"vector {v.msg.data:#x} cpu{v.cpu}")
               for v in self._vectors.values() if v.handler is not None]
        out += [Leak("irq_vectors", dev, 0, f"{len(block)} vector(s)") for dev, block in self._blocks.items()]
        return out
