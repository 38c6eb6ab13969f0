"""TX statistics (rtl_model/stats.py) against research/igb_facts.md §1.8.

Expected counts are written out by hand from the bucket limits and the frame lengths.
"""
import pytest

from rtl_model.stats import ptc_register
from sim.assembly.nic_harness import NicTestHost

PTC = ("PTC64", "PTC127", "PTC255", "PTC511", "PTC1023", "PTC1522")
UNICAST = bytes.fromhex("001b21aabbcc")
BROADCAST = bytes.fromhex("ffffffffffff")
IPV4_MCAST = bytes.fromhex("01005e000001")
IPV6_MCAST = bytes.fromhex("333300000001")


@pytest.fixture(params=["82576", "i210"])
def nic(request):
    """A NIC as built: its register file has the table's handlers bound (the octet pairs' too)."""
    return NicTestHost(request.param).nic


@pytest.fixture
def rf(nic):
    return nic.regs


@pytest.fixture
def stats(nic):
    return nic.stats


@pytest.mark.parametrize("length,bucket", [
    (60, "PTC64"),      # shorter than 64 (TCTL.PSP=0 only): counted in PTC64, documented choice
    (64, "PTC64"),
    (65, "PTC127"),
    (127, "PTC127"),
    (128, "PTC255"),
    (255, "PTC255"),
    (256, "PTC511"),
    (511, "PTC511"),
    (512, "PTC1023"),
    (1023, "PTC1023"),
    (1024, "PTC1522"),
    (1522, "PTC1522"),
    (1523, None),       # above 1522: no size bucket (documented choice)
    (9728, None),       # DTXMXPKTSZ maximum (§2.2)
])
def test_size_buckets_at_every_boundary(rf, stats, length, bucket):
    """§1.8 PTC64/127/255/511/1023/1522 (0x40D8..0x40EC): exactly one bucket counts a frame of
    64, 65–127, 128–255, 256–511, 512–1023 or 1024–1522 bytes incl. FCS; jumbo frames none."""
    stats.count_frame(length, UNICAST)
    for name in PTC:
        assert rf.get(name) == (1 if name == bucket else 0), name
    assert ptc_register(length) == bucket


def test_packet_and_octet_counts(rf, stats):
    """§1.8 GPTC, TPT +1 per frame; GOTC and TOT add the length incl. FCS: 64 + 1518 = 1582."""
    stats.count_frame(64, UNICAST)
    stats.count_frame(1518, UNICAST)
    assert rf.get("GPTC") == 2 and rf.get("TPT") == 2
    assert (rf.get("GOTCL"), rf.get("GOTCH")) == (1582, 0)
    assert (rf.get("TOTL"), rf.get("TOTH")) == (1582, 0)
    assert rf.get("MPTC") == 0 and rf.get("BPTC") == 0


@pytest.mark.parametrize("dst,mptc,bptc", [
    (UNICAST, 0, 0),
    (IPV4_MCAST, 1, 0),     # group bit set
    (IPV6_MCAST, 1, 0),
    (BROADCAST, 0, 1),      # broadcast is not counted as multicast
    (bytes.fromhex("ffffffffffef"), 1, 0),  # group bit, not all ones
])
def test_multicast_and_broadcast(rf, stats, dst, mptc, bptc):
    """§1.8 MPTC (0x40F0): group-addressed, not broadcast; BPTC (0x40F4): ff:ff:ff:ff:ff:ff."""
    stats.count_frame(64, dst)
    assert rf.get("MPTC") == mptc
    assert rf.get("BPTC") == bptc


def test_short_destination_counts_as_neither(rf, stats):
    """A destination shorter than 6 bytes (a runt from a broken ring) is neither multicast nor
    broadcast, and never raises."""
    stats.count_frame(64, b"")
    stats.count_frame(64, b"\x01")
    stats.count_frame(64, memoryview(b"\xff\xff\xff"))
    assert rf.get("MPTC") == 0 and rf.get("BPTC") == 0
    assert rf.get("GPTC") == 3


def test_octet_carry_from_low_into_high_dword(rf, stats):
    """§1.8 GOTCL/GOTCH, TOTL/TOTH form 64-bit counts: 0x1_FFFFFFF0 + 64 = 0x2_00000030."""
    for low, high in (("GOTCL", "GOTCH"), ("TOTL", "TOTH")):
        rf.set(low, 0xFFFFFFF0)
        rf.set(high, 0x1)
    stats.count_frame(64, UNICAST)
    assert (rf.get("GOTCL"), rf.get("GOTCH")) == (0x30, 0x2)
    assert (rf.get("TOTL"), rf.get("TOTH")) == (0x30, 0x2)


def test_driver_reads_octets_low_then_high(rf, stats):
    """§1.8: igb reads GOTCL, then GOTCH (which clears the pair); TOTH alone also clears TOTL."""
    rf.set("GOTCL", 0xFFFFFFF0)
    stats.count_frame(100, UNICAST)  # 0xFFFFFFF0 + 100 = 0x1_00000054
    assert rf.read(0x4090, 4) == 0x54
    assert rf.read(0x4094, 4) == 0x1
    assert rf.read(0x4090, 4) == 0 and rf.read(0x4094, 4) == 0
    assert rf.read(0x40CC, 4) == 0  # TOTH: 100 octets fit in TOTL
    assert rf.get("TOTL") == 0


def test_counters_clear_on_mmio_read(rf, stats):
    """§1.8: counters are R/clr: a driver read returns the count and zeroes the register."""
    stats.count_frame(64, BROADCAST)
    assert rf.read(0x4080, 4) == 1   # GPTC
    assert rf.read(0x4080, 4) == 0
    assert rf.read(0x40F4, 4) == 1   # BPTC
    assert rf.read(0x40D8, 4) == 1   # PTC64
    assert rf.get("TPT") == 1        # untouched by the other reads


def test_tso_context_count(rf, stats):
    """§1.8 TSCTC (0x40F8): +1 per TSO context, read-to-clear."""
    stats.count_tso_context()
    stats.count_tso_context()
    assert rf.read(0x40F8, 4) == 2
    assert rf.read(0x40F8, 4) == 0


def test_counters_saturate(rf, stats):
    """Documented choice: 32-bit counters stick at 0xFFFFFFFF and the 64-bit octet counts at
    2**64 - 1 instead of wrapping."""
    rf.set("GPTC", 0xFFFFFFFF)
    rf.set("GOTCL", 0xFFFFFFFF)
    rf.set("GOTCH", 0xFFFFFFFF)
    rf.set("TOTL", 0xFFFFFFFF)
    rf.set("TOTH", 0xFFFFFFFE)
    stats.count_frame(64, UNICAST)
    assert rf.get("GPTC") == 0xFFFFFFFF
    assert (rf.get("GOTCL"), rf.get("GOTCH")) == (0xFFFFFFFF, 0xFFFFFFFF)
    assert (rf.get("TOTL"), rf.get("TOTH")) == (0x3F, 0xFFFFFFFF)  # 0xFFFFFFFE_FFFFFFFF + 64
    assert rf.get("TPT") == 1
