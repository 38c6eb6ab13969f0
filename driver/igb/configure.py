"""Programming the transmit unit: ``igb_setup_tctl``, ``igb_configure_tx``, ``igb_configure_tx_ring``.

Register writes happen in the kernel's order (igb_facts §3.3): TXDCTL(0) = 0,
TCTL (with EN) before any ring; then every queue disabled, flushed, a
10–20 ms sleep, and per ring TDLEN (count × 16, not the 4 KiB-rounded
size), TDBAL, TDBAH, TDH = 0, TDT = 0, and last TXDCTL with the thresholds
and ENABLE. igb programs neither TDWBAL/TDWBAH (completion is by DD) nor TIPG.
"""
from __future__ import annotations

from .e1000_regs import (E1000_COLD_SHIFT, E1000_COLLISION_DISTANCE, E1000_COLLISION_THRESHOLD,
                         E1000_CT_SHIFT, E1000_CTRL_EXT, E1000_CTRL_EXT_DRV_LOAD, E1000_TCTL,
                         E1000_TCTL_COLD, E1000_TCTL_CT, E1000_TCTL_EN, E1000_TCTL_PSP, E1000_TCTL_RTLC,
                         E1000_TDBAH, E1000_TDBAL, E1000_TDH, E1000_TDLEN, E1000_TDT, E1000_TXDCTL,
                         E1000_TXDCTL_QUEUE_ENABLE)
from .hw import rd32, wr32, wrfl
from .igb import IGB_FLAG_HAS_MSIX, IGB_TX_BUFFER_SIZE, IGB_TX_HTHRESH, IGB_TX_PTHRESH, igb_ring
from .sites import SITE

__all__ = ["igb_get_hw_control", "igb_release_hw_control", "igb_setup_tctl", "igb_config_collision_dist",
           "igb_configure_tx", "igb_configure_tx_ring", "igb_txdctl_value"]


def igb_get_hw_control(adapter) -> None:
    """CTRL_EXT.DRV_LOAD: the driver, not the firmware, owns the device now."""
    hw = adapter.hw
    wr32(hw, E1000_CTRL_EXT, rd32(hw, E1000_CTRL_EXT) | E1000_CTRL_EXT_DRV_LOAD, "igb_get_hw_control.ctrl_ext")


def igb_release_hw_control(adapter) -> None:
    hw = adapter.hw
    wr32(hw, E1000_CTRL_EXT, rd32(hw, E1000_CTRL_EXT) & ~E1000_CTRL_EXT_DRV_LOAD,
         "igb_release_hw_control.ctrl_ext")


def igb_config_collision_dist(hw) -> None:
    """``igb_config_collision_dist``: TCTL.COLD = 63, flushed."""
    tctl = rd32(hw, E1000_TCTL)
    tctl &= ~E1000_TCTL_COLD
    tctl |= E1000_COLLISION_DISTANCE << E1000_COLD_SHIFT
    wr32(hw, E1000_TCTL, tctl, "igb_config_collision_dist.tctl")
    wrfl(hw)


def igb_setup_tctl(adapter) -> None:
    """Disable queue 0 (on by default on 82575/82576), then TCTL: PSP, RTLC, CT = 15, EN.

    The final write uses the TCTL value read before ``igb_config_collision_dist``,
    so the COLD it wrote is overwritten with the old field, exactly as the
    kernel's code order does (harmless in full duplex).
    """
    hw = adapter.hw
    wr32(hw, E1000_TXDCTL(0), 0, "igb_setup_tctl.txdctl0")
    tctl = rd32(hw, E1000_TCTL)
    tctl &= ~E1000_TCTL_CT
    tctl |= E1000_TCTL_PSP | E1000_TCTL_RTLC | (E1000_COLLISION_THRESHOLD << E1000_CT_SHIFT)
    igb_config_collision_dist(hw)
    tctl |= E1000_TCTL_EN
    wr32(hw, E1000_TCTL, tctl, "igb_setup_tctl.tctl")


def igb_txdctl_value(adapter) -> int:
    """PTHRESH | HTHRESH << 8 | WTHRESH << 16 (WTHRESH 1 on 82576 with MSI-X, else 16)."""
    mac = adapter.hw.mac
    wthresh = mac.wthresh_msix if adapter.flags & IGB_FLAG_HAS_MSIX else mac.wthresh_other
    return IGB_TX_PTHRESH | IGB_TX_HTHRESH << 8 | wthresh << 16


def igb_configure_tx_ring(adapter, ring: igb_ring) -> None:
    """Program one ring in the kernel's order; the queue is enabled by the last write."""
    hw = adapter.hw
    kernel = adapter.kernel
    reg_idx = ring.reg_idx
    tdba = ring.dma
    wr32(hw, E1000_TDLEN(reg_idx), ring.count * 16, "igb_configure_tx_ring.tdlen")
    wr32(hw, E1000_TDBAL(reg_idx), tdba & 0xFFFF_FFFF, "igb_configure_tx_ring.tdbal")
    wr32(hw, E1000_TDBAH(reg_idx), tdba >> 32, "igb_configure_tx_ring.tdbah")
    ring.tail = adapter.io_addr + E1000_TDT(reg_idx)
    wr32(hw, E1000_TDH(reg_idx), 0, "igb_configure_tx_ring.tdh")
    kernel.writel(0, ring.tail, site=SITE["igb_configure_tx_ring.tdt"])
    txdctl = igb_txdctl_value(adapter)
    # reinitialize tx_buffer_info: memset(tx_ring->tx_buffer_info, 0, …), CPU stores
    kernel.write_bytes(ring.tx_buffer_info.addr, bytes(IGB_TX_BUFFER_SIZE * ring.count))
    txdctl |= E1000_TXDCTL_QUEUE_ENABLE
    wr32(hw, E1000_TXDCTL(reg_idx), txdctl, "igb_configure_tx_ring.txdctl")


def igb_configure_tx(adapter):
    """Generator (it sleeps): disable every queue, flush, wait 10 ms, then program each ring."""
    hw = adapter.hw
    for ring in adapter.tx_ring:
        wr32(hw, E1000_TXDCTL(ring.reg_idx), 0, "igb_configure_tx.txdctl")
    wrfl(hw)
    yield adapter.kernel.usleep_range(10000, 20000)
    for ring in adapter.tx_ring:
        igb_configure_tx_ring(adapter, ring)
