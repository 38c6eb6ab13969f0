"""Every barrier and ordered MMIO accessor of the igb driver, as a named site with its reason.

Names are ``<function>.<what>``; the primitive is what Linux uses there
(``wr32``/``rd32`` are ``writel``/``readl``, igb_facts §3.12). A host
configuration can drop or weaken any of them
(``kernel.sites.drop("igb_tx_map.publish")``); the default is Linux.
"""
from __future__ import annotations

from driver.platform import BarrierSite

__all__ = ["IGB_SITES", "SITE"]

_S = BarrierSite

IGB_SITES: tuple[BarrierSite, ...] = (
    # --- transmit (igb_tx_map, __igb_maybe_stop_tx) -------------------------------------------
    _S("igb_tx_map.publish", "dma_wmb",
       "descriptors visible before next_to_watch and before the doorbell"),
    _S("igb_tx_map.doorbell", "writel",
       "TDT write ordered after the descriptor stores it publishes"),
    _S("igb_maybe_stop_tx.recheck", "smp_mb",
       "queue stop visible before re-reading next_to_clean (lost wake-up with the cleaner)"),
    # --- completion (igb_clean_tx_irq) -------------------------------------------------------------
    _S("igb_clean_tx_irq.eop", "smp_rmb",
       "read next_to_watch before the EOP descriptor's status it points to"),
    _S("igb_clean_tx_irq.wake", "smp_mb",
       "next_to_clean visible before testing whether the queue is stopped"),
    _S("igb_clean_tx_irq.hang_tdh", "readl", "hang report: the hardware head"),
    _S("igb_clean_tx_irq.hang_tdt", "readl", "hang report: the tail as the NIC holds it"),
    _S("igb_clean_tx_irq.hang_status", "readl", "hang check: STATUS.TXOFF (paused by flow control)"),
    # --- interrupts -------------------------------------------------------------------------------
    _S("igb_write_itr.eitr", "writel", "new EITR interval, at the start of the interrupt"),
    _S("igb_ring_irq_enable.eims", "writel", "unmask the vector after NAPI completes"),
    _S("igb_msix_other.icr", "readl", "read-to-clear the other causes"),
    _S("igb_msix_other.eims", "writel", "unmask the other-causes vector"),
    _S("igb_irq_enable.eiac", "writel", "auto-clear the queue vectors' EICR bits"),
    _S("igb_irq_enable.eiam", "writel", "auto-mask the queue vectors after each message"),
    _S("igb_irq_enable.eims", "writel", "unmask every vector"),
    _S("igb_irq_enable.ims", "writel", "unmask LSC, DOUTSYNC and DRSTA on the other vector"),
    _S("igb_irq_disable.eiam", "writel", "stop auto-masking"),
    _S("igb_irq_disable.eimc", "writel", "mask every vector"),
    _S("igb_irq_disable.eiac", "writel", "stop auto-clearing"),
    _S("igb_irq_disable.iam", "writel", "no auto-mask of ICR"),
    _S("igb_irq_disable.imc", "writel", "mask every other cause"),
    _S("igb_configure_msix.gpie", "writel", "MSI-X mode first, or the vector settings won't stick"),
    _S("igb_configure_msix.ivar", "writel", "map a queue's cause to its vector"),
    _S("igb_configure_msix.ivar_misc", "writel", "map the other causes to vector 0"),
    _S("igb_watchdog_task.eics", "writel", "software interrupt so every ring gets cleaned"),
    _S("igb_tx_timeout.eics", "writel", "kick the queue vectors after a TX timeout"),
    # --- bring-up and tear-down -----------------------------------------------------------------------
    _S("igb_get_hw_control.ctrl_ext", "writel", "tell the firmware the driver owns the device"),
    _S("igb_release_hw_control.ctrl_ext", "writel", "give the device back to the firmware"),
    _S("igb_setup_tctl.txdctl0", "writel", "disable queue 0, enabled by default on 82575/82576"),
    _S("igb_setup_tctl.tctl", "writel", "PSP, RTLC, collision threshold, then EN"),
    _S("igb_config_collision_dist.tctl", "writel", "collision distance 63"),
    _S("igb_configure_tx.txdctl", "writel", "disable every TX queue before programming it"),
    _S("igb_configure_tx_ring.tdlen", "writel", "ring length in bytes"),
    _S("igb_configure_tx_ring.tdbal", "writel", "ring base, low dword"),
    _S("igb_configure_tx_ring.tdbah", "writel", "ring base, high dword"),
    _S("igb_configure_tx_ring.tdh", "writel", "head to 0"),
    _S("igb_configure_tx_ring.tdt", "writel", "tail to 0"),
    _S("igb_configure_tx_ring.txdctl", "writel", "thresholds and enable, after the ring registers"),
    _S("igb_down.tctl", "writel", "stop transmitting"),
    _S("igb_reset.vet", "writel", "VLAN ethertype 0x8100"),
    _S("wrfl", "readl", "flush posted writes (a STATUS read)"),
    _S("rd32", "readl", "plain register read (link, statistics, read-modify-write)"),
)

#: name -> site, for the call sites.
SITE = {s.name: s for s in IGB_SITES}

IGB_SITES += (
    _S("igb_down.rctl", "writel", "stop receiving"),
    _S("e1000_reset_hw.imc", "writel", "mask every interrupt before the reset"),
    _S("e1000_reset_hw.rctl", "writel", "receiver off before the reset"),
    _S("e1000_reset_hw.tctl", "writel", "transmitter off (PSP only) before the reset"),
    _S("e1000_reset_hw.ctrl", "writel", "CTRL.RST (DEV_RST for a global reset): reset the MAC"),
    _S("e1000_reset_hw.imc_after", "writel", "mask every interrupt again after the reset"),
    _S("e1000_reset_hw.icr", "readl", "clear causes pending from before the reset"),
)
SITE = {s.name: s for s in IGB_SITES}
