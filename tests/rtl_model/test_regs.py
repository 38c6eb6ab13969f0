"""Register table and MMIO decoder (rtl_model/regs.py) against research/igb_facts.md §1.

Every expected offset and value below is written out from the facts sheet (or from
arithmetic on it), not taken from the code under test.
"""
import dataclasses
import logging

import pytest
from hypothesis import given, settings, strategies as st

from rtl_model.profiles import NIC_82576, NIC_I210
from rtl_model.regs import (Access, RegisterFile, build_table, txq_canonical_offset, txq_name,
                            txq_offset)
from sim.assembly.nic_harness import NicTestHost

LOGGER = "igbsim.nic.regs"


@pytest.fixture(params=[NIC_82576, NIC_I210], ids=lambda p: p.name)
def profile(request):
    return request.param


@pytest.fixture
def rf(profile):
    return RegisterFile(build_table(profile))


@pytest.fixture
def rf_82576():
    return RegisterFile(build_table(NIC_82576))


@pytest.fixture
def rf_i210():
    return RegisterFile(build_table(NIC_I210))


class Recorder:
    """Stands in for one of the NIC's blocks: every handler call on it is recorded in ``calls``
    as ("owner.method", arguments...); read handlers return ``READ_VALUE``."""

    READ_VALUE = 0x42

    def __init__(self, name: str, calls: list):
        self._name = name
        self._calls = calls

    def __getattr__(self, method: str):
        def handler(*args):
            self._calls.append((f"{self._name}.{method}", *args))
            return self.READ_VALUE
        return handler


def bind_recorders(rf) -> list:
    """Bind ``rf``'s handlers to recorders for every block but the register file; the call list."""
    calls = []
    names = ("nic", "irq", *(f"txq{n}" for n in range(rf.table.profile.num_tx_queues)))
    rf.bind({name: Recorder(name, calls) for name in names})
    return calls


@pytest.fixture(params=["82576", "i210"])
def nic_regs(request):
    """The register file of a NIC as built: handlers bound to its blocks."""
    return NicTestHost(request.param).nic.regs


# --- offsets ------------------------------------------------------------------------------
GLOBAL_OFFSETS = {  # §1.1 (MSIXBM is 82575-only: not on either profile)
    "CTRL": 0x00000, "STATUS": 0x00008, "CTRL_EXT": 0x00018, "VET": 0x00038,
    "ICR": 0x000C0, "ITR": 0x000C4, "ICS": 0x000C8, "IMS": 0x000D0, "IMC": 0x000D8,
    "IAM": 0x000E0, "RCTL": 0x00100, "TCTL": 0x00400, "TCTL_EXT": 0x00404, "TIPG": 0x00410,
    "PBA": 0x01000, "GPIE": 0x01514, "EICS": 0x01520, "EIMS": 0x01524, "EIMC": 0x01528,
    "EIAC": 0x0152C, "EIAM": 0x01530, "EICR": 0x01580, "IVAR_MISC": 0x01740,
    "RXPBS": 0x02404, "TXPBS": 0x03404, "TDFH": 0x03410, "TDFT": 0x03418, "TDFHS": 0x03420,
    "TDFPC": 0x03430, "DTXCTL": 0x03590, "MRQC": 0x05818, "DCA_CTRL": 0x05B74,
    "TSICR": 0x0B66C,
}
GLOBAL_ACCESS = {  # §1.1 access column; EICR W1C per §1.6/§6.5 (MSI-X mode)
    "STATUS": Access.RO, "ICR": Access.RC, "ICS": Access.WO, "IMC": Access.WO,
    "EICS": Access.WO, "EIMC": Access.WO, "EICR": Access.W1C, "TSICR": Access.RC,
}
STAT_OFFSETS = {  # §1.8
    "SCC": 0x4014, "ECOL": 0x4018, "MCC": 0x401C, "LATECOL": 0x4020, "COLC": 0x4028,
    "DC": 0x4030, "TNCRS": 0x4034, "XONTXC": 0x404C, "XOFFTXC": 0x4054, "GPTC": 0x4080,
    "GOTCL": 0x4090, "GOTCH": 0x4094, "TOTL": 0x40C8, "TOTH": 0x40CC, "TPT": 0x40D4,
    "PTC64": 0x40D8, "PTC127": 0x40DC, "PTC255": 0x40E0, "PTC511": 0x40E4,
    "PTC1023": 0x40E8, "PTC1522": 0x40EC, "MPTC": 0x40F0, "BPTC": 0x40F4,
    "TSCTC": 0x40F8, "TSCTFC": 0x40FC, "IAC": 0x4100, "ICTXPTC": 0x410C,
    "ICTXATC": 0x4110, "ICTXQEC": 0x4118, "ICTXQMTC": 0x411C,
}
# §1.2 table: queues 0..3 by 0x3800 + 0x100n, queue 4 by 0xE000 + 0x40n.
TXQ_LEGACY_AND_Q4 = {
    "TDBAL": (0x3800, 0x3900, 0x3A00, 0x3B00, 0xE100),
    "TDBAH": (0x3804, 0x3904, 0x3A04, 0x3B04, 0xE104),
    "TDLEN": (0x3808, 0x3908, 0x3A08, 0x3B08, 0xE108),
    "TDH": (0x3810, 0x3910, 0x3A10, 0x3B10, 0xE110),
    "TXCTL": (0x3814, 0x3914, 0x3A14, 0x3B14, 0xE114),
    "TDT": (0x3818, 0x3918, 0x3A18, 0x3B18, 0xE118),
    "TXDCTL": (0x3828, 0x3928, 0x3A28, 0x3B28, 0xE128),
    "TDWBAL": (0x3838, 0x3938, 0x3A38, 0x3B38, 0xE138),
    "TDWBAH": (0x383C, 0x393C, 0x3A3C, 0x3B3C, 0xE13C),
}
# §1.2 I210 datasheet view: canonical 0xE000 + 0x40n for queues 0..3.
TXQ_I210_CANONICAL = {
    "TDBAL": (0xE000, 0xE040, 0xE080, 0xE0C0),
    "TDBAH": (0xE004, 0xE044, 0xE084, 0xE0C4),
    "TDLEN": (0xE008, 0xE048, 0xE088, 0xE0C8),
    "TDH": (0xE010, 0xE050, 0xE090, 0xE0D0),
    "TXCTL": (0xE014, 0xE054, 0xE094, 0xE0D4),
    "TDT": (0xE018, 0xE058, 0xE098, 0xE0D8),
    "TXDCTL": (0xE028, 0xE068, 0xE0A8, 0xE0E8),
    "TDWBAL": (0xE038, 0xE078, 0xE0B8, 0xE0F8),
    "TDWBAH": (0xE03C, 0xE07C, 0xE0BC, 0xE0FC),
}


def test_global_offsets_and_access(profile):
    """§1.1: every global register at its offset, with the access of the table."""
    table = build_table(profile)
    for name, offset in GLOBAL_OFFSETS.items():
        reg = table[offset]
        assert reg.name == name and reg.offset == offset
        assert reg.access is GLOBAL_ACCESS.get(name, Access.RW), name


def test_statistics_offsets_all_read_to_clear(profile):
    """§1.8: every TX statistics counter at its offset, all "R/clr"."""
    table = build_table(profile)
    for name, offset in STAT_OFFSETS.items():
        reg = table[offset]
        assert (reg.name, reg.access, reg.reset) == (name, Access.RC, 0)


def test_82576_queue_offsets_by_the_driver_formula():
    """§1.2: 82576 queues 0..3 at 0x3800 + 0x100n, queue 4 at 0xE000 + 0x40n (+ field)."""
    table = build_table(NIC_82576)
    for field, offsets in TXQ_LEGACY_AND_Q4.items():
        for n, offset in enumerate(offsets):
            assert table[offset].name == f"{field}{n}"
            assert table.offsets_of(f"{field}{n}") == (offset,)


def test_82576_last_queue_and_beyond():
    """§1.2 n≥4 formula up to queue 15: TDBAL15 = 0xE000 + 0x40*15 = 0xE3C0, TDT15 = 0xE3D8;
    queue 16 (0xE400) does not exist; nor does the I210-style 0xE000 block of queue 0."""
    table = build_table(NIC_82576)
    assert table[0xE3C0].name == "TDBAL15"
    assert table[0xE3D8].name == "TDT15"
    assert 0xE400 not in table and 0xE418 not in table
    assert 0xE000 not in table and 0xE018 not in table


def test_i210_queues_canonical_with_legacy_aliases():
    """§1.2: I210 canonical 0xE000 + 0x40n for n = 0..3, the 0x3800 + 0x100n addresses kept as
    aliases of the same registers; no queue 4 (4 TX queues)."""
    table = build_table(NIC_I210)
    for field, offsets in TXQ_I210_CANONICAL.items():
        for n, canonical in enumerate(offsets):
            alias = TXQ_LEGACY_AND_Q4[field][n]
            name = f"{field}{n}"
            assert table[canonical].name == name and table[canonical].offset == canonical
            assert table[alias] is table[canonical]
            assert table.offsets_of(name) == (canonical, alias)
    for offset in TXQ_LEGACY_AND_Q4["TDBAL"][4:] + TXQ_LEGACY_AND_Q4["TDT"][4:]:
        assert offset not in table


def test_i210_alias_and_canonical_reach_one_register(rf_i210):
    """§1.2: a write through the 0x3818 alias of TDT0 reads back at 0xE018 and vice versa."""
    rf_i210.write(0x3818, 4, 5)
    assert rf_i210.read(0xE018, 4) == 5
    rf_i210.write(0xE018, 4, 9)
    assert rf_i210.read(0x3818, 4) == 9
    assert rf_i210.get("TDT0") == 9


def test_82576_variant_with_e000_decoding():
    """§1.2 + profile doc: txq_e000_canonical=True gives the 82576 the I210-style decode."""
    table = build_table(dataclasses.replace(NIC_82576, txq_e000_canonical=True))
    assert table[0xE018] is table[0x3818]
    assert table[0xE118].name == "TDT4"


def test_txq_offset_helpers():
    """§1.2 formula: TDT(5) = 0xE000 + 0x40*5 + 0x18 = 0xE158; TDBAL(0) = 0x3800;
    TXDCTL(3) = 0x3B28; the canonical form of TDT(0) is 0xE018."""
    assert txq_offset("TDT", 5) == 0xE158
    assert txq_offset("TDBAL", 0) == 0x3800
    assert txq_offset("TXDCTL", 3) == 0x3B28
    assert txq_offset("TDWBAH", 4) == 0xE13C
    assert txq_canonical_offset("TDT", 0) == 0xE018
    assert txq_canonical_offset("TXDCTL", 2) == 0xE0A8
    assert txq_name("TDT", 5) == "TDT5"
    with pytest.raises(KeyError):
        txq_offset("TDX", 0)
    with pytest.raises(ValueError):
        txq_offset("TDT", -1)


def test_eitr_offsets_per_vector_count():
    """§1.7: EITR(n) = 0x1680 + 4n for n < num_msix_vectors: 82576 EITR24 = 0x16E0 (25 vectors),
    I210 EITR4 = 0x1690 (5 vectors); the next slot is not decoded."""
    t82576, ti210 = build_table(NIC_82576), build_table(NIC_I210)
    assert t82576[0x1680].name == "EITR0" and t82576[0x16E0].name == "EITR24"
    assert 0x16E4 not in t82576
    assert ti210[0x1680].name == "EITR0" and ti210[0x1690].name == "EITR4"
    assert 0x1694 not in ti210


def test_ivar_offsets(profile):
    """§1.1/§1.6: IVAR0 array at 0x1700 + 4*idx, 8 entries (0x1700..0x171C); IVAR_MISC 0x1740;
    MSIXBM (0x1600) is 82575-only and absent."""
    table = build_table(profile)
    for idx, offset in enumerate((0x1700, 0x1704, 0x1708, 0x170C, 0x1710, 0x1714, 0x1718, 0x171C)):
        assert table[offset].name == f"IVAR0_{idx}"
    assert 0x1720 not in table
    assert table[0x1740].name == "IVAR_MISC"
    assert 0x1600 not in table


def test_dtxmxpktsz_is_i210_only():
    """§5: DTXMXPKTSZ is I210-only (0x355C); reset 0x98 x 64 bytes = 9728 (§2.2)."""
    assert build_table(NIC_I210)[0x355C].reset == 0x98
    assert 0x98 * 64 == NIC_I210.max_tx_packet_bytes == 9728
    assert 0x355C not in build_table(NIC_82576)


def test_table_counts():
    """§1.1/§1.2/§1.6–1.8: 33 globals + 30 stats + 8 IVAR0 + vectors EITR + 9 per queue
    (+ DTXMXPKTSZ on the I210); the I210 adds 36 alias offsets."""
    t82576, ti210 = build_table(NIC_82576), build_table(NIC_I210)
    assert len(t82576.defs()) == 33 + 30 + 8 + 25 + 9 * 16 == 240
    assert len(t82576) == 240
    assert len(ti210.defs()) == 33 + 30 + 8 + 5 + 9 * 4 + 1 == 113
    assert len(ti210) == 113 + 36


def test_table_is_immutable(profile):
    """The table is shared data: no item assignment, through itself or its offset map."""
    table = build_table(profile)
    with pytest.raises(TypeError):
        table[0x8] = table[0x0]
    with pytest.raises(TypeError):
        table.offset_map()[0x8] = table[0x0]
    with pytest.raises(KeyError):
        table.by_name("NOPE")


# --- reset values ---------------------------------------------------------------------------
def test_reset_values(rf, profile):
    """§1.3 STATUS = LU 0x2 | FD 0x1 | SPEED_1000 0x80 = 0x83; §1.4 TCTL = PSP 0x8 | CT 0xF<<4
    = 0xF8, TIPG = 8 | 4<<10 | 6<<20 = 0x00601008; §1.1 VET 0x8100, TCTL_EXT COLD 0x42<<10 =
    0x10800; counters, masks and causes 0."""
    assert rf.read(0x0008, 4) == 0x83
    assert rf.read(0x0400, 4) == 0xF8
    assert rf.read(0x0410, 4) == 0x00601008
    assert rf.read(0x0038, 4) == 0x8100
    assert rf.read(0x0404, 4) == 0x00010800
    for name in ("CTRL", "ICR", "IMS", "EIMS", "EICR", "GPIE", "EIAC", "EIAM", "EITR0", "IVAR0_0"):
        assert rf.get(name) == 0, name
    for name in STAT_OFFSETS:
        assert rf.get(name) == 0


def test_queue_reset_values(rf):
    """§1.2/§1.5: ring registers 0; TXDCTL0 ENABLE 0x02000000 and TXCTL 0x2A00 (bits 9, 11, 13)
    are the documented UNCONFIRMED choices (QEMU's 82576 reset); TXDCTL of other queues 0."""
    assert rf.get("TXDCTL0") == 0x02000000
    assert rf.get("TXDCTL1") == 0
    assert rf.get("TXCTL0") == 0x2A00
    for field in ("TDBAL", "TDBAH", "TDLEN", "TDH", "TDT", "TDWBAL", "TDWBAH"):
        assert rf.get(f"{field}0") == 0 and rf.get(f"{field}3") == 0


def test_packet_buffer_resets(rf_82576, rf_i210):
    """§5: I210 TXPBS/RXPBS defaults 0x04000014 / 0xA2; 82576 0x28 / 0x40 (UNCONFIRMED, QEMU)."""
    assert rf_i210.read(0x3404, 4) == 0x04000014
    assert rf_i210.read(0x2404, 4) == 0x000000A2
    assert rf_82576.read(0x3404, 4) == 0x28
    assert rf_82576.read(0x2404, 4) == 0x40


@pytest.mark.parametrize("speed,status", [(1000, 0x83), (100, 0x43), (10, 0x03)])
def test_status_reports_the_profile_link_speed(speed, status):
    """§1.3: STATUS SPEED_1000 0x80, SPEED_100 0x40, neither for 10 Mb/s; LU|FD = 0x3."""
    table = build_table(dataclasses.replace(NIC_82576, link_speed_mbps=speed))
    assert RegisterFile(table).read(0x8, 4) == status


def test_unknown_reset_override_is_rejected():
    """A profile may only override registers the table has (a configuration error otherwise)."""
    with pytest.raises(ValueError):
        build_table(dataclasses.replace(NIC_82576, reset_overrides=(("NOPE", 1),)))


def test_reset_restores_and_keeps(rf):
    """reset(): every register back to its reset value (§1.4 TCTL 0xF8), except those kept
    (§6.4: EITR is not reset by CTRL.DEV_RST)."""
    rf.write(0x0400, 4, 0x0103F0FA)
    rf.write(0x1680, 4, 0x800000C4)
    rf.write(0x00D0, 4, 0x4)
    rf.reset(keep=("EITR0",))
    assert rf.read(0x0400, 4) == 0xF8
    assert rf.get("EITR0") == 0x800000C4
    assert rf.get("IMS") == 0


def test_reset_keeps_the_bound_handlers(nic_regs):
    """reset() returns values, not behaviour: IMS writes still set bits afterwards (§6.5)."""
    before = {name: nic_regs.handlers(name) for name in nic_regs.table.names()}
    nic_regs.reset()
    assert {name: nic_regs.handlers(name) for name in nic_regs.table.names()} == before
    nic_regs.write(0x00D0, 4, 0x1)
    nic_regs.write(0x00D0, 4, 0x4)
    assert nic_regs.read(0x00D0, 4) == 0x5


# --- access semantics -----------------------------------------------------------------------
def test_read_to_clear_counter(rf):
    """§1.8: statistics are R/clr: GPTC (0x4080) returns its value once, then 0."""
    rf.set("GPTC", 7)
    assert rf.read(0x4080, 4) == 7
    assert rf.read(0x4080, 4) == 0


def test_icr_and_tsicr_read_to_clear(rf):
    """§1.1: ICR (0xC0) is R/clr; TSICR (0xB66C) is RC (read at open to clear it)."""
    rf.set("ICR", 0x1)  # TXDW
    assert rf.read(0x00C0, 4) == 0x1 and rf.read(0x00C0, 4) == 0
    rf.set("TSICR", 0x2)
    assert rf.read(0xB66C, 4) == 0x2 and rf.read(0xB66C, 4) == 0


def test_statistics_ignore_writes(rf):
    """§1.8: counters are read-only apart from clear-on-read; a write changes nothing."""
    rf.set("TPT", 3)
    rf.write(0x40D4, 4, 0xFFFFFFFF)
    assert rf.get("TPT") == 3
    rf.write(0x40D4, 4, 0)
    assert rf.get("TPT") == 3


def test_eicr_write_one_to_clear(rf):
    """§6.5: in MSI-X mode EICR is not cleared by a read; writing 1 clears those bits."""
    rf.set("EICR", 0b1011)
    assert rf.read(0x1580, 4) == 0b1011
    assert rf.read(0x1580, 4) == 0b1011
    rf.write(0x1580, 4, 0b0010)
    assert rf.get("EICR") == 0b1001


def test_write_only_registers_read_zero(rf):
    """§1.1: ICS, IMC, EICS, EIMC are WO: reads return 0."""
    rf.write(0x00C8, 4, 0x4)
    for offset in (0x00C8, 0x00D8, 0x1520, 0x1528):
        assert rf.read(offset, 4) == 0


def test_ims_sets_imc_clears(nic_regs):
    """§1.1/§6.5: IMS writes set mask bits (read returns the mask), IMC writes clear them."""
    nic_regs.write(0x00D0, 4, 0x5)
    nic_regs.write(0x00D0, 4, 0x2)
    assert nic_regs.read(0x00D0, 4) == 0x7
    nic_regs.write(0x00D8, 4, 0x1)
    assert nic_regs.read(0x00D0, 4) == 0x6


def test_eims_sets_eimc_clears(nic_regs):
    """§6.5: EIMS/EIMC set and clear extended mask bits without read-modify-write."""
    nic_regs.write(0x1524, 4, 0x3)
    nic_regs.write(0x1524, 4, 0x10)
    assert nic_regs.read(0x1524, 4) == 0x13
    nic_regs.write(0x1528, 4, 0x2)
    assert nic_regs.read(0x1524, 4) == 0x11


def test_ics_and_eics_set_causes(nic_regs):
    """§6.5: EICS writes set EICR bits; ICS sets ICR bits (LSC 0x4). The causes live in the
    interrupt block, so they are read back through EICR and ICR."""
    nic_regs.write(0x1520, 4, 0x2)
    assert nic_regs.read(0x1580, 4) == 0x2
    nic_regs.write(0x00C8, 4, 0x4)
    assert nic_regs.read(0x00C0, 4) == 0x4


def test_read_only_write_is_ignored_and_logged(rf, caplog):
    """§1.1: STATUS is RO: a write is ignored (0x83 stays) and logged."""
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rf.write(0x0008, 4, 0)
    assert rf.read(0x0008, 4) == 0x83
    assert rf.ignored_writes == 1
    assert any("STATUS" in r.getMessage() for r in caplog.records)


def test_rw_register_stores(rf):
    """§1.1: a plain RW register (GPIE) reads back what was written: MSIX_MODE|PBA|EIAME|NSICR."""
    rf.write(0x1514, 4, 0xC0000011)
    assert rf.read(0x1514, 4) == 0xC0000011


# --- write masks ------------------------------------------------------------------------------
def test_ring_register_masks(rf, profile):
    """§1.2: TDLEN bits 19:7 only; TDH/TDT bits 15:0; TDBAL low 4 bits ignored (16-byte
    aligned, [I210 p296])."""
    q1 = txq_offset if profile is NIC_82576 else txq_canonical_offset
    rf.write(q1("TDLEN", 1), 4, 0xFFFFFFFF)
    assert rf.get("TDLEN1") == 0x000FFF80
    rf.write(q1("TDLEN", 1), 4, 4096 + 5)
    assert rf.get("TDLEN1") == 4096
    rf.write(q1("TDH", 1), 4, 0x12345678)
    assert rf.get("TDH1") == 0x5678
    rf.write(q1("TDT", 1), 4, 0xABCD1234)
    assert rf.get("TDT1") == 0x1234
    rf.write(q1("TDBAL", 1), 4, 0x1234567F)
    assert rf.get("TDBAL1") == 0x12345670
    rf.write(q1("TDBAH", 1), 4, 0xFFFFFFFF)
    assert rf.get("TDBAH1") == 0xFFFFFFFF


def test_txdctl_mask_and_driver_values(rf):
    """§1.5: TXDCTL PTHRESH 4:0, HTHRESH 12:8, WTHRESH 20:16, ENABLE 25, SWFLSH 26, PRIORITY 27
    → all-ones reads back 0x0E1F1F1F; the driver's 0x02100108 and 0x02010108 are kept."""
    rf.write(0x3928, 4, 0xFFFFFFFF)  # TXDCTL1 (alias on the I210)
    assert rf.get("TXDCTL1") == 0x0E1F1F1F
    rf.write(0x3928, 4, 0x02100108)
    assert rf.read(0x3928, 4) == 0x02100108
    rf.write(0x3928, 4, 0x02010108)
    assert rf.read(0x3928, 4) == 0x02010108


def test_eitr_and_tipg_masks(rf):
    """§1.7: EITR Interval bits 14:2 + CNT_IGNR b31 → all-ones reads 0x80007FFC; the driver's
    196 | CNT_IGNR = 0x800000C4 is kept. §1.4: TIPG fields span bits 29:0."""
    rf.write(0x1684, 4, 0xFFFFFFFF)
    assert rf.get("EITR1") == 0x80007FFC
    rf.write(0x1684, 4, 0x800000C4)
    assert rf.read(0x1684, 4) == 0x800000C4
    rf.write(0x0410, 4, 0xFFFFFFFF)
    assert rf.get("TIPG") == 0x3FFFFFFF


def test_values_wider_than_32_bits_are_truncated(rf):
    """A 32-bit register keeps 32 bits of whatever is written (GPIE, §1.1)."""
    rf.write(0x1514, 4, (0x5 << 32) | 0x10)
    assert rf.get("GPIE") == 0x10
    rf.set("GPIE", (1 << 40) | 0x1)
    assert rf.get("GPIE") == 0x1


# --- bad input -------------------------------------------------------------------------------
def test_unknown_offset_reads_zero_ignores_writes_and_logs(rf, caplog):
    """§1.1: MSIXBM (0x1600) is 82575-only: unknown here → read 0, write ignored, logged,
    counted; a repeat is logged below WARNING so polling does not flood the log."""
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert rf.read(0x1600, 4) == 0
        rf.write(0x1600, 4, 0x1)
        assert rf.read(0x1600, 4) == 0
    assert rf.unknown_accesses == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # first read, first write
    assert all("0x1600" in r.getMessage() for r in warnings)


@pytest.mark.parametrize("offset,size", [
    (0x3818, 2),   # TDT0 (legacy address), 16-bit
    (0x3818, 8),   # 64-bit
    (0x3818, 1),
    (0x3819, 4),   # misaligned
    (0x000A, 4),   # STATUS + 2
    (0x3818, 0),
])
def test_bad_size_or_alignment_is_ignored(rf, caplog, offset, size):
    """Only aligned 32-bit accesses are decoded (the driver's rd32/wr32); others are ignored,
    read 0, counted and logged."""
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rf.write(offset, size, 0xFFFF)
        assert rf.read(offset, size) == 0
    assert rf.get("TDT0") == 0 and rf.get("STATUS") == 0x83
    assert rf.bad_accesses == 2
    assert caplog.records


# --- handlers ---------------------------------------------------------------------------------
def test_write_handler_replaces_the_store(rf, profile):
    """§1.2: the TDT doorbell: the handler gets the masked value (bits 15:0) instead of a store."""
    calls = bind_recorders(rf)
    rf.write(0x3818, 4, 0x12345)
    assert calls == [("txq0.on_tdt_write", 0x2345)]
    assert rf.get("TDT0") == 0
    if profile is NIC_I210:
        rf.write(0xE018, 4, 7)  # canonical address, same register
        assert calls == [("txq0.on_tdt_write", 0x2345), ("txq0.on_tdt_write", 7)]


def test_read_handler_replaces_the_value(rf):
    """A read handler supplies the value (IMS: the interrupt block's mask), not the storage."""
    rf.set("IMS", 3)
    calls = bind_recorders(rf)
    assert rf.read(0x00D0, 4) == Recorder.READ_VALUE
    assert calls == [("irq.read_ims",)]


def test_array_register_handlers_get_their_index(rf):
    """EITR(n) and IVAR0[i] hand their element number to the interrupt block (§1.6, §1.7)."""
    calls = bind_recorders(rf)
    rf.write(0x1684, 4, 0x800000C4)   # EITR1
    rf.read(0x170C, 4)                # IVAR0[3]
    assert calls == [("irq.write_eitr", 1, 0x800000C4), ("irq.read_ivar", 3)]


def test_handler_on_read_to_clear_register_owns_clearing(rf):
    """With a read handler on an RC register (ICR, §1.1), clearing is the handler's business."""
    rf.set("ICR", 0x4)
    bind_recorders(rf)
    assert rf.read(0x00C0, 4) == Recorder.READ_VALUE
    assert rf.read(0x00C0, 4) == Recorder.READ_VALUE
    assert rf.get("ICR") == 0x4


def test_handlers_take_effect_when_bound(rf):
    """Before bind, IMS is plain RW storage; once bound, its writes go to the interrupt block."""
    assert rf.handlers("IMS") == (None, None)
    rf.write(0x00D0, 4, 0x4)
    assert rf.get("IMS") == 0x4
    calls = bind_recorders(rf)
    rf.write(0x00D0, 4, 0x1)
    assert calls == [("irq.write_ims", 0x1)] and rf.get("IMS") == 0x4


def test_unknown_names_are_errors(rf):
    """A register the table lacks, or a block the table names but nobody supplies, is a model
    bug, reported at once."""
    with pytest.raises(KeyError):
        rf.handlers("TDT99")
    with pytest.raises(LookupError, match="txq0"):   # the queues' blocks are missing
        rf.bind({"nic": Recorder("nic", []), "irq": Recorder("irq", [])})
    with pytest.raises(KeyError):
        rf.get("NOPE")
    with pytest.raises(KeyError):
        rf.set("NOPE", 1)


def test_get_and_set_bypass_handlers_masks_and_logging(rf, caplog):
    """The model's own access: no handler (IMS, TDT0), no mask (TDLEN), no clearing (GPTC), no log."""
    calls = bind_recorders(rf)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        rf.set("IMS", 0x1)
        rf.set("IMS", 0x2)
        rf.set("TDLEN0", 0x7F)
        rf.set("TDT0", 0x10)
        rf.set("STATUS", 0x0)
        rf.set("GPTC", 9)
        assert rf.get("GPTC") == 9 and rf.get("GPTC") == 9
    assert rf.get("IMS") == 0x2
    assert rf.get("TDLEN0") == 0x7F
    assert rf.get("TDT0") == 0x10 and calls == []
    assert rf.get("STATUS") == 0
    assert not caplog.records


def test_octet_counter_pairs_clear_on_high_dword(rf):
    """§1.8 (igb reads GOTCH "to clear GOTCL"): reading the low dword does not clear; reading
    the high dword returns it and clears both — GOTCL/GOTCH and TOTL/TOTH."""
    bind_recorders(rf)
    for low, high, low_off, high_off in (("GOTCL", "GOTCH", 0x4090, 0x4094),
                                         ("TOTL", "TOTH", 0x40C8, 0x40CC)):
        rf.set(low, 0x10)
        rf.set(high, 0x2)
        assert rf.read(low_off, 4) == 0x10
        assert rf.get(low) == 0x10
        assert rf.read(high_off, 4) == 0x2
        assert rf.get(low) == 0 and rf.get(high) == 0


# --- random input never raises ------------------------------------------------------------
_KNOWN_OFFSETS = sorted(set(build_table(NIC_82576)) | set(build_table(NIC_I210)))
_QUIET = logging.getLogger("igbsim.test.regs.quiet")
_QUIET.disabled = True


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from([NIC_82576, NIC_I210]),
    ops=st.lists(st.tuples(
        st.booleans(),
        st.one_of(st.sampled_from(_KNOWN_OFFSETS), st.integers(-8, 0x20000)),
        st.integers(-2, 9),
        st.integers(-(1 << 40), 1 << 40),
    ), max_size=60),
)
def test_random_accesses_never_raise(name, ops):
    """Bad input never ends in a traceback (DESIGN conventions): any (offset, size, value)
    read or write returns, reads give a 32-bit value, and every register stays 32-bit."""
    rf = RegisterFile(build_table(name), log=_QUIET)
    for is_write, offset, size, value in ops:
        if is_write:
            assert rf.write(offset, size, value) is None
        else:
            assert 0 <= rf.read(offset, size) <= 0xFFFFFFFF
    for reg in rf.table.names():
        assert 0 <= rf.get(reg) <= 0xFFFFFFFF
