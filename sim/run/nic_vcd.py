"""``igbsim run --vcd FILE``: the NIC's state as a waveform (GTKWave opens it).

A :mod:`sim.run.timeline` sink over :class:`sim.verif.waves.StateWaves`,
with the signals of :mod:`sim.assembly.nic_state` for every TX queue the
driver uses: per queue ``TDH``, ``TDT``, ``fetch_ptr``, ``desc_cache_fill``,
``wb_pending``, ``fetching``, ``enabled``; ``nic.pb.fill_bytes``;
``nic.irq.ICR``/``EICR``/``EIMS``/``INTx``; ``nic.irq.eitrN_running``;
``nic.mac.busy``. Sampled at every NIC event — each register access, DMA
start and landing, frame start and end on the MAC, logged NIC event — so
every change shows at the time it happened (1 ps timescale, the model's
time). Same run, same bytes. Written to a temporary file beside ``path`` and
renamed over it at the end.
"""
from __future__ import annotations

import os

from sim.assembly.nic_state import nic_state, nic_state_signals
from sim.verif.waves import StateWaves
from .staging import drop, publish, stage

__all__ = ["NicVcdSink"]


class NicVcdSink:
    """Samples the NIC's state into a VCD at ``path`` (module docstring)."""

    def __init__(self, path, nic, n_queues: int):
        self.path = os.fspath(path)
        self.nic = nic
        self.n_queues = n_queues
        fd, self._tmp = stage(self.path)
        os.close(fd)
        self.waves = StateWaves(self._tmp, nic_state_signals(nic, n_queues))
        self._closed = False

    def nic_changed(self, t_ps: int) -> None:
        self.waves.sample(t_ps, nic_state(self.nic, self.n_queues, t_ps))

    def close(self, end_ps: int) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.nic_changed(end_ps)
            self.waves.close()
            publish(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self._closed = True
        self.waves.close()
        drop(self._tmp)
