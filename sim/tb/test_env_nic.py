"""pyuvm environment, configuration (a): the NIC model alone, driven by descriptor-level sequences.

One test per (corner, NIC profile, seed): see :mod:`sim.verif.env` for the
corners and :mod:`sim.verif.config` for the seeds (``make sim SEED=n`` runs
every corner with seed n). The structure, checks and coverage are described
in docs/verification.md.
"""
import cocotb
import pyuvm

from sim.verif.config import NIC_CORNER_NAMES, PROFILES, SYSTEM_CORNER_NAMES, fresh_outputs, seeds, selected
from sim.verif.env import test_classes

fresh_outputs()
_CORNERS = selected("CORNERS", NIC_CORNER_NAMES + SYSTEM_CORNER_NAMES)
for _cls in test_classes("nic", selected("PROFILES", PROFILES), seeds(), only=_CORNERS):
    globals()[_cls.__name__] = pyuvm.test(timeout_time=2, timeout_unit="sec")(_cls)

if not any(isinstance(v, type) for k, v in list(globals().items()) if not k.startswith("_")):
    @cocotb.test(skip=True)
    async def no_corner_selected(dut):
        """CORNERS names none of this configuration's corners (or SEED no seed): nothing to run here."""
