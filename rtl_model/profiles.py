"""Per-device parameters of the NIC model: the 82576 (default) and the I210.

A :class:`NicProfile` is plain data. Every block of the NIC model (register
table, TX queues, descriptor cache, interrupt block, MAC) reads its sizes and
units from here instead of hard-coding them, so a variant is one
``dataclasses.replace(NIC_82576, ...)`` away.

Sources (keys as in ``research/igb_facts.md`` §9): the I210 datasheet
[I210 pN], the kernel headers [K-regs, K-def, K-h]. No 82576 datasheet was
available (facts §6, §8): every 82576 number not shared with the driver is
marked UNCONFIRMED below and is a documented, configurable default. Where a
value comes from QEMU's igb model (an 82576 emulator, ``hw/net/igb_core.c``
``igb_mac_reg_init``), that is peer-emulator evidence, not a datasheet read.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NicProfile", "NIC_82576", "NIC_I210", "PROFILES", "get_nic_profile"]

_PS_PER_US = 1_000_000


@dataclass(frozen=True, slots=True)
class NicProfile:
    """What differs between the modelled igb devices.

    Attributes:
        name: short profile name, the key of :data:`PROFILES` ("82576", "i210").
        device_id: PCI device id (82576 copper 0x10C9, I210 copper 0x1533).
        num_tx_queues: hardware TX queues. I210: 4 [I210 p457–p459].
            82576: 16 — UNCONFIRMED (facts §4, §8: no datasheet; consistent
            with the driver's Q_IDX_82576 VF layout, QEMU's 16 queues and
            DPDK's igb max_tx_queues 16 for the 82576).
        num_msix_vectors: MSI-X vectors, and so the number of EITR(n)
            registers and EICR/EIMS vector bits. I210: 5 (EICR bits 4:0,
            facts §1.6). 82576: 25 — UNCONFIRMED (the figure usually quoted
            for the 82576; the Linux driver uses at most MAX_MSIX_ENTRIES 10).
        ivar_layout: how IVAR0 maps queues to entries (facts §1.6): "column"
            on the 82576 (queue q -> IVAR0[q & 7], byte by q & 8), "row" on
            the I210 (queue q -> IVAR0[q >> 1], byte by q & 1).
        eitr_unit_ps: one EITR Interval unit in picoseconds. I210: 1 µs
            [I210 p427]. 82576: 1 µs — UNCONFIRMED (facts §6.4: the driver
            treats it like the I210; the 82575 used 256 ns).
        eitr_interval_mask: EITR bits holding Interval: 14:2 = 0x7FFC
            [I210 p427]; the driver also masks with 0x7FFC on the 82576.
        tx_desc_cache_size: on-chip TX descriptor cache per queue, in
            descriptors. I210: 24 [I210 p458, facts §6.1]. 82576: 24 —
            UNCONFIRMED (facts §6.1), the I210 figure.
        max_wthresh: largest usable TXDCTL.WTHRESH. I210: 23 [I210 p459].
            82576: 23 — UNCONFIRMED, follows from the assumed 24-entry cache.
        tx_packet_buffer_bytes: on-chip TX packet buffer (data FIFO) that the
            MAC drains. I210: 20 KiB = TXPBS.TXPB0SIZE of the driver's
            I210_TXPBSIZE_DEFAULT 0x04000014 (KB units, bits 5:0), which the
            driver writes at probe (facts §5). 82576: 40 KiB — UNCONFIRMED,
            QEMU's 82576 reset value TXPBS = 0x28 (KB).
        max_tx_packet_bytes: largest frame the TX DMA accepts: DTXMXPKTSZ
            default 9728 bytes (facts §2.2; I210_DTXMXPKTSZ_DEFAULT 0x98 x 64).
            82576: 9728 — UNCONFIRMED (no DTXMXPKTSZ register there).
        link_speed_mbps: link speed the MAC serialises at and STATUS reports
            at reset (1000, 100 or 10). Default 1000 full duplex.
        tx_context_slots: advanced context descriptors remembered per queue:
            2, selected by the IDX LSB [I210 p291, facts §5]. 82576: 2 —
            UNCONFIRMED (QEMU's 82576 model also keeps 2, by IDX bit 0).
        txq_e000_canonical: where queues 0–3 decode. True (I210): every
            queue's canonical block is 0xE000 + 0x40*n and queues 0–3 are
            also decoded at the older 0x3800 + 0x100*n addresses, aliases of
            the same registers [I210 p457–p459, facts §1.2]. False (82576
            default): queues 0–3 only at 0x3800 + 0x100*n, queues 4+ at
            0xE000 + 0x40*n — the e1000_regs.h formula [K-regs]. QEMU's 82576
            model decodes both forms for queues 0–3 (UNCONFIRMED on silicon).
        optional_registers: names of registers from the register table's
            optional catalogue that this device has: DTXMXPKTSZ (0x355C) is
            I210-only (facts §5).
        reset_overrides: ``(register name, reset value)`` pairs that replace
            the register table's generic reset values for this device; used
            for the packet-buffer sizes and open to variants.
    """

    name: str
    device_id: int
    num_tx_queues: int
    num_msix_vectors: int
    ivar_layout: str
    eitr_unit_ps: int = _PS_PER_US
    eitr_interval_mask: int = 0x7FFC
    tx_desc_cache_size: int = 24
    max_wthresh: int = 23
    tx_packet_buffer_bytes: int = 20 * 1024
    max_tx_packet_bytes: int = 9728
    link_speed_mbps: int = 1000
    tx_context_slots: int = 2
    txq_e000_canonical: bool = False
    optional_registers: tuple[str, ...] = ()
    reset_overrides: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        """Reject profiles no model block could work with (a configuration error)."""
        if self.ivar_layout not in ("column", "row"):
            raise ValueError(f"profile {self.name}: ivar_layout must be 'column' or 'row', "
                             f"not {self.ivar_layout!r}")
        if not 1 <= self.num_tx_queues <= 16:
            raise ValueError(f"profile {self.name}: num_tx_queues {self.num_tx_queues} not in 1..16")
        if not 1 <= self.num_msix_vectors <= 32:
            # EITR(n) = 0x1680 + 4n must stay below IVAR0 at 0x1700 (facts §1.1),
            # and EICR has one bit per vector.
            raise ValueError(f"profile {self.name}: num_msix_vectors {self.num_msix_vectors} "
                             "not in 1..32")
        if self.link_speed_mbps not in (10, 100, 1000):
            raise ValueError(f"profile {self.name}: link_speed_mbps {self.link_speed_mbps} "
                             "not one of 10, 100, 1000")
        if not 0 <= self.max_wthresh < self.tx_desc_cache_size:
            raise ValueError(f"profile {self.name}: max_wthresh {self.max_wthresh} must be "
                             f"below tx_desc_cache_size {self.tx_desc_cache_size}")

    @property
    def reset_values(self) -> dict[str, int]:
        """:attr:`reset_overrides` as a fresh dict (name -> reset value)."""
        return dict(self.reset_overrides)


NIC_82576 = NicProfile(
    name="82576",
    device_id=0x10C9,
    num_tx_queues=16,          # UNCONFIRMED (facts §4, §8)
    num_msix_vectors=25,       # UNCONFIRMED
    ivar_layout="column",      # facts §1.6
    tx_packet_buffer_bytes=40 * 1024,  # UNCONFIRMED: QEMU TXPBS reset 0x28
    txq_e000_canonical=False,  # K-regs split formula
    # UNCONFIRMED: QEMU igb_mac_reg_init values for the 82576.
    reset_overrides=(("TXPBS", 0x28), ("RXPBS", 0x40)),
)
"""Intel 82576 (the default device). Numbers not in the driver are UNCONFIRMED (see fields)."""

NIC_I210 = NicProfile(
    name="i210",
    device_id=0x1533,
    num_tx_queues=4,           # I210 p457–p459
    num_msix_vectors=5,        # facts §1.6
    ivar_layout="row",         # facts §1.6
    tx_packet_buffer_bytes=20 * 1024,  # TXPB0SIZE of I210_TXPBSIZE_DEFAULT
    txq_e000_canonical=True,   # I210 p457–p459 aliases
    optional_registers=("DTXMXPKTSZ",),
    # I210_TXPBSIZE_DEFAULT / I210_RXPBSIZE_DEFAULT, the values the driver
    # writes at probe (facts §5) — taken as the reset values.
    reset_overrides=(("TXPBS", 0x04000014), ("RXPBS", 0x000000A2)),
)
"""Intel I210: the datasheet-backed second profile."""

PROFILES: dict[str, NicProfile] = {p.name: p for p in (NIC_82576, NIC_I210)}


def get_nic_profile(name: str) -> NicProfile:
    """The profile called ``name`` (case-insensitive); KeyError lists the known names."""
    try:
        return PROFILES[str(name).lower()]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise KeyError(f"unknown NIC profile {name!r}; known profiles: {known}") from None
