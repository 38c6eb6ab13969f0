"""The igb driver's TX path, one module per part of ``igb_main.c`` (see each module's docstring).

* :mod:`.e1000_regs` — register offsets and bits (the driver's own copy);
* :mod:`.igb` — ``igb.h``: constants, rings, buffers, q_vectors;
* :mod:`.hw` — MAC types (82576, I210), ``rd32``/``wr32``/``wrfl``;
* :mod:`.sites` — every barrier and ordered MMIO access, named;
* :mod:`.rings`, :mod:`.configure` — ring resources and register programming;
* :mod:`.xmit`, :mod:`.clean` — transmit and completion;
* :mod:`.interrupts`, :mod:`.itr` — vectors, handlers, NAPI poll, moderation;
* :mod:`.watchdog` — link, stats, hang detection, timeout;
* :mod:`.main` — probe, open, close, up, down, reset, the reset task;
* :mod:`.ethtool` — ring size, coalescing, channels.
"""
from .hw import MAC_TYPES, get_mac_type
from .main import igb_adapter, igb_close, igb_open, igb_probe, igb_remove
from .sites import IGB_SITES

__all__ = ["igb_probe", "igb_remove", "igb_open", "igb_close", "igb_adapter", "IGB_SITES", "MAC_TYPES",
           "get_mac_type"]
