"""``struct e1000_hw``: the MAC type, the register window, and ``rd32``/``wr32``/``wrfl``.

Only the two profiles the TX path is modelled for are here, 82576 and I210
(igb_facts §4–§5). What differs between them is data in :class:`MacInfo`:
the IVAR layout, the queue counts, when queues pair on one vector, the
TXDCTL.WTHRESH rule, and whether a TX timeout asks for a global device
reset (82580 and later). Both write EITR with CNT_IGNR (bit 31) in 1 µs
units (the 82575's duplicated-halves format is not modelled).

``wr32``/``rd32`` are ``writel``/``readl`` on ``hw_addr + reg`` at a named
barrier site (:mod:`.sites`); ``wrfl`` is the dummy STATUS read that flushes
posted writes.
"""
from __future__ import annotations

from dataclasses import dataclass

from .e1000_regs import E1000_STATUS
from .sites import SITE

__all__ = ["MacInfo", "MAC_TYPES", "e1000_82576", "e1000_i210", "get_mac_type", "e1000_hw",
           "rd32", "wr32", "wrfl"]


@dataclass(frozen=True)
class MacInfo:
    """What the driver knows about one MAC type."""

    name: str
    device_id: int
    max_rss_queues: int          # igb_get_max_rss_queues
    ivar_layout: str             # "column" (82576) or "row" (82580 and later)
    wthresh_msix: int            # IGB_TX_WTHRESH with MSI-X
    wthresh_other: int           # IGB_TX_WTHRESH otherwise
    global_reset_on_timeout: bool  # mac.type >= e1000_82580
    has_tncrs: bool              # TNCRS is invalid on i210/i211

    def pairs_queues(self, rss_queues: int) -> bool:
        """IGB_FLAG_QUEUE_PAIRS: TX and RX share a vector when there are more queues than half the max."""
        return rss_queues > self.max_rss_queues // 2


#: 82576: IVAR column-major; WTHRESH 1 with MSI-X (facts §1.5 → TXDCTL 0x02010108); 8 RSS queues.
e1000_82576 = MacInfo("82576", 0x10C9, 8, "column", 1, 16, False, True)
#: I210: IVAR row-major; WTHRESH 16 (TXDCTL 0x02100108); 4 RSS queues; TX timeout → global reset.
e1000_i210 = MacInfo("i210", 0x1533, 4, "row", 16, 16, True, False)

MAC_TYPES = {m.name: m for m in (e1000_82576, e1000_i210)}


def get_mac_type(name: str) -> MacInfo:
    """The MacInfo called ``name``; ValueError listing the known ones."""
    try:
        return MAC_TYPES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown igb MAC type {name!r}; known: {', '.join(MAC_TYPES)}") from None


class e1000_hw:
    """The hardware handle: MAC type, mapped BAR0, and the kernel that reaches it."""

    def __init__(self, kernel, mac: MacInfo, hw_addr):
        self.kernel = kernel
        self.mac = mac
        self.hw_addr = hw_addr
        self.get_link_status = True


def wr32(hw: e1000_hw, reg: int, value: int, site: str) -> None:
    """``wr32(reg, value)``: ``writel`` to the register at the named site."""
    hw.kernel.writel(value & 0xFFFF_FFFF, hw.hw_addr, reg, site=SITE[site])


def rd32(hw: e1000_hw, reg: int, site: str = "rd32") -> int:
    """``rd32(reg)``: ``readl`` of the register at the named site."""
    return hw.kernel.readl(hw.hw_addr, reg, site=SITE[site])


def wrfl(hw: e1000_hw) -> None:
    """``wrfl()``: read STATUS so every posted write has reached the device."""
    rd32(hw, E1000_STATUS, "wrfl")
