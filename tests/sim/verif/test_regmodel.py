"""The testbench register model against the facts sheet (research/igb_facts.md), values typed in by hand."""
import pytest

from sim.verif.regmodel import (
    RegisterModel, RegMirror, eitr, eitr_interval_us, gpie, ivar_misc, ivar_tx, ivar_tx_position,
    tctl, tdwbah, tdwbal, txdctl,
)

# facts §1.1 table
GLOBAL_OFFSETS = {
    "CTRL": 0x00000, "STATUS": 0x00008, "ICR": 0x000C0, "ICS": 0x000C8, "IMS": 0x000D0,
    "IMC": 0x000D8, "IAM": 0x000E0, "TCTL": 0x00400, "GPIE": 0x01514, "EICS": 0x01520,
    "EIMS": 0x01524, "EIMC": 0x01528, "EIAC": 0x0152C, "EIAM": 0x01530, "EICR": 0x01580,
    "EITR0": 0x01680, "EITR4": 0x01690, "IVAR0_0": 0x01700, "IVAR0_1": 0x01704, "IVAR_MISC": 0x01740,
}
# facts §1.1 access column
ACCESS = {"CTRL": "RW", "STATUS": "RO", "ICR": "RC", "ICS": "WO", "IMS": "RW", "IMC": "WO",
          "IAM": "RW", "TCTL": "RW", "GPIE": "RW", "EICS": "WO", "EIMS": "RW", "EIMC": "WO",
          "EIAC": "RW", "EIAM": "RW", "EICR": "W1C", "EITR0": "RW", "IVAR0_0": "RW", "IVAR_MISC": "RW"}
# facts §1.2 table: queue 0, 1, 2, 3 and 4 (the n >= 4 formula)
QUEUE_OFFSETS = {
    "TDBAL": (0x3800, 0x3900, 0x3A00, 0x3B00, 0xE100),
    "TDBAH": (0x3804, 0x3904, 0x3A04, 0x3B04, 0xE104),
    "TDLEN": (0x3808, 0x3908, 0x3A08, 0x3B08, 0xE108),
    "TDH": (0x3810, 0x3910, 0x3A10, 0x3B10, 0xE110),
    "TDT": (0x3818, 0x3918, 0x3A18, 0x3B18, 0xE118),
    "TXDCTL": (0x3828, 0x3928, 0x3A28, 0x3B28, 0xE128),
}


@pytest.mark.parametrize("profile", ["82576", "i210"])
def test_global_offsets_and_access_follow_the_facts_table(profile):
    m = RegisterModel(profile)
    for name, off in GLOBAL_OFFSETS.items():
        assert m.offset(name) == off, name
        assert m.name_at(off) == name
    for name, acc in ACCESS.items():
        assert m.reg(name).access == acc, name
    assert m.name_at(0x00004) is None


def test_queue_offsets_n_below_4_and_from_4():
    m = RegisterModel("82576")
    for field, offs in QUEUE_OFFSETS.items():
        for n, off in enumerate(offs):
            assert m.offset(f"{field}{n}") == off, (field, n)
            assert m.name_at(off) == f"{field}{n}"
    assert m.offset("TDWBAL0") == 0x3838 and m.offset("TDWBAH0") == 0x383C
    assert m.offset("TDWBAL4") == 0xE138 and m.offset("TDWBAH4") == 0xE13C
    assert m.offset("TDT15") == 0xE000 + 0x40 * 15 + 0x18
    assert m.name_at(0xE018) is None          # no 0xE000 alias of queue 0 on the 82576


def test_profile_sizes():
    big, small = RegisterModel("82576"), RegisterModel("I210")
    assert (big.num_tx_queues, big.num_vectors, small.num_tx_queues, small.num_vectors) == (16, 25, 4, 5)
    assert "TDT15" in big and "EITR24" in big and "EITR25" not in big
    assert "TDT4" not in small and "EITR4" in small and "EITR5" not in small
    assert [n for n in big.names() if n.startswith("IVAR0_")] == [f"IVAR0_{i}" for i in range(8)]
    assert [n for n in small.names() if n.startswith("IVAR0_")] == ["IVAR0_0", "IVAR0_1"]
    with pytest.raises(KeyError):
        small.reg("TDT4")


def test_i210_queue_blocks_decode_at_both_addresses():
    m = RegisterModel("i210")
    assert m.offset("TDT0") == 0x3818
    assert m.offsets("TDT0") == (0x3818, 0xE018)
    assert m.name_at(0xE018) == "TDT0" and m.name_at(0xE0E8) == "TXDCTL3"


def test_txdctl_bit_positions():
    assert txdctl(1, 0, 0, enable=False) == 0x1
    assert txdctl(0, 1, 0, enable=False) == 0x100
    assert txdctl(0, 0, 1, enable=False) == 0x10000
    assert txdctl(0, 0, 0) == 0x02000000
    assert txdctl(8, 1, 16) == 0x02100108      # I210 / 82576 without MSI-X (facts §1.5)
    assert txdctl(8, 1, 1) == 0x02010108       # 82576 with MSI-X
    assert txdctl(20, 1, 16) == 0x02100114     # i354
    with pytest.raises(ValueError):
        txdctl(32, 0, 0)


def test_other_builders():
    assert tctl() == 0x2 | 0x8 | 15 << 4 | 63 << 12 | 0x01000000
    assert tctl(en=False, psp=False, ct=0, cold=0, rtlc=False) == 0
    assert gpie() == 0xC0000011
    assert gpie(False, False, False, False) == 0
    assert gpie(msix_mode=True, eiame=False, pba=False, nsicr=False) == 0x10
    assert tdwbal(0x1_2345_6780) == 0x23456781 and tdwbah(0x1_2345_6780) == 0x1
    assert tdwbal(0x1000, enable=False, wb_on_eitr=True) == 0x1002
    with pytest.raises(ValueError):
        tdwbal(0x1002)


def test_ivar_layouts():
    # 82576 column-major: index q & 7, TX byte at bit 8 (q < 8) or 24 (q >= 8)
    assert ivar_tx(0, 1, "82576") == ("IVAR0_0", 8)
    assert ivar_tx(1, 1, "82576") == ("IVAR0_1", 8)
    assert ivar_tx(8, 1, "82576") == ("IVAR0_0", 24)
    assert ivar_tx(9, 1, "82576") == ("IVAR0_1", 24)
    # I210 row-major: index q >> 1, TX byte at bit 8 (even q) or 24 (odd q)
    assert ivar_tx(0, 1, "i210") == ("IVAR0_0", 8)
    assert ivar_tx(1, 1, "i210") == ("IVAR0_0", 24)
    assert ivar_tx_position("row", 8) == (4, 8)
    with pytest.raises(ValueError):
        ivar_tx(8, 1, "i210")                  # the I210 has 4 TX queues
    with pytest.raises(ValueError):
        ivar_tx(0, 5, "i210")                  # and 5 vectors
    assert RegisterModel("i210").ivar_tx(3, 4) == ("IVAR0_1", 24)
    assert ivar_misc(0) == 0x8000 and ivar_misc(3) == 0x8300


def test_eitr_encoding():
    assert eitr(49) == 0x80000000 | 196        # itr_val 196 -> 49 us (facts §1.7)
    assert eitr(49, cnt_ignr=False) == 196
    assert eitr(125, "i210") == 0x800001F4
    assert eitr(0) == 0x80000000
    assert eitr(8191) == 0x80007FFC
    with pytest.raises(ValueError):
        eitr(8192)
    assert eitr_interval_us(0x800000C4) == 49
    assert RegisterModel("i210").eitr(10) == 0x80000028


def test_mirror_rw_roundtrip_and_mismatch():
    mir = RegMirror(RegisterModel("82576"))
    assert mir.predicted("TDBAL0") is None
    assert mir.check_read("TDBAL0", 0x1234) is None           # nothing predicted yet: adopted
    assert mir.predict_write("TDBAL0", 0x8000_0000) is None
    assert mir.check_read("TDBAL0", 0x8000_0000) is None
    assert mir.check_read("TDBAL0", 0x8000_0008) is None      # low 4 bits not compared
    msg = mir.check_read("TDBAL0", 0x8000_1000)
    assert "TDBAL0" in msg and "0x80000000" in msg
    mir.predict_write("TDLEN0", 4096 + 5)                     # bits 6:0 read 0
    assert mir.predicted("TDLEN0") == 4096 and mir.check_read("TDLEN0", 4096) is None
    mir.predict_write("EITR1", eitr(49))                      # only Interval 14:2 compared
    assert mir.check_read("EITR1", 196) is None
    assert mir.check_read("EITR1", 200) is not None


def test_mirror_ro_w1c_and_volatile():
    mir = RegMirror(RegisterModel("i210"))
    assert "read-only" in mir.predict_write("STATUS", 0xFF)
    assert mir.predicted("STATUS") is None
    mir.assume("EICR", 0b111)
    assert mir.predict_write("EICR", 0b010) is None
    assert mir.predicted("EICR") == 0b101
    assert mir.check_read("EICR", 0xDEAD) is None             # volatile: never checked by value
    for name in ("TDH0", "ICR", "STATUS", "EIMS", "EICR"):
        assert not mir.is_checked(name)
    for name in ("TDBAL0", "TXDCTL0", "TCTL", "GPIE", "IVAR0_0", "EIAC", "EIAM", "EITR0"):
        assert mir.is_checked(name)
    mir.predict_write("EIMC", 0xF)
    assert mir.check_read("EIMC", 0x1234) is None             # WO: reads undefined


def test_mirror_txdctl_enable_lag_and_rules():
    mir = RegMirror(RegisterModel("i210"))
    mir.predict_write("TDT0", 5)
    mir.predict_write("TXDCTL0", txdctl(8, 1, 16))
    assert mir.predicted("TDT0") is None                      # ENABLE re-initialises TDT
    assert "TDLEN0" in mir.predict_write("TDLEN0", 4096)      # programmed while enabled
    assert mir.predict_write("TDBAL0", 0x1000) is None        # not in the facts' list
    mir.predict_write("TXDCTL0", txdctl(8, 1, 16, enable=False))
    assert mir.check_read("TXDCTL0", txdctl(8, 1, 16)) is None    # ENABLE may lag after a disable
    assert mir.check_read("TXDCTL0", txdctl(8, 1, 16, enable=False)) is None
    mir.predict_write("TXDCTL0", txdctl(8, 1, 16))
    assert mir.check_read("TXDCTL0", txdctl(8, 1, 16, enable=False)) is not None
    mir.predict_write("CTRL", 0x04000000)                     # CTRL.RST forgets everything
    assert mir.predicted("TXDCTL0") is None


def test_decoders_invert_the_builders():
    m = RegisterModel("82576")
    assert m.txdctl_fields(m.txdctl(8, 1, 16)) == {"pthresh": 8, "hthresh": 1, "wthresh": 16,
                                                    "enable": 1, "swflsh": 0}
    assert m.gpie_msix(m.gpie()) and not m.gpie_msix(m.gpie(msix_mode=False))
    assert m.eitr_interval_ps(m.eitr(49)) == 49_000_000 and m.eitr_interval_ps(0) == 0
    assert m.ICR_DOUTSYNC == 0x10000000 and m.ICR_TXDW == 0x1 and m.ICR_INT_ASSERTED == 0x80000000
    name, shift = m.ivar_tx(8, 3)                             # IVAR0_0 bits 31:24
    assert m.tx_vectors_of({name: 0x80 << 8 | m.ivar_entry(3) << shift}) == {0, 3}
    assert m.tx_vectors_of({name: 0x05 << 8}) == set()        # no valid bit
    mir = m.mirror()
    mir.predict_write(name, m.ivar_entry(3) << shift)
    assert m.tx_vectors(mir) == {3}
    assert mir.predict_write("0x5000", 1) is None and mir.check_read("0x5000", 2) is None   # unmodelled
