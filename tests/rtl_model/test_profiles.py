"""NIC profiles (rtl_model/profiles.py) against research/igb_facts.md."""
import dataclasses

import pytest

from rtl_model.profiles import NIC_82576, NIC_I210, PROFILES, NicProfile, get_nic_profile


def test_82576_profile_values():
    """82576: device id 0x10C9; 16 queues and 25 vectors (UNCONFIRMED, facts §4/§8);
    column-major IVAR (§1.6); EITR 1 µs (§6.4, UNCONFIRMED); 0x7FFC Interval mask (§1.7);
    24-entry cache / WTHRESH 23 (§6.1, I210 figures); 9728-byte max frame (§2.2);
    2 contexts per queue (§5); queues 0–3 at 0x3800 only (§1.2, K-regs formula)."""
    p = NIC_82576
    assert p.name == "82576"
    assert p.device_id == 0x10C9
    assert p.num_tx_queues == 16
    assert p.num_msix_vectors == 25
    assert p.ivar_layout == "column"
    assert p.eitr_unit_ps == 1_000_000
    assert p.eitr_interval_mask == 0x7FFC
    assert p.tx_desc_cache_size == 24
    assert p.max_wthresh == 23
    assert p.tx_packet_buffer_bytes == 40 * 1024
    assert p.max_tx_packet_bytes == 9728
    assert p.link_speed_mbps == 1000
    assert p.tx_context_slots == 2
    assert p.txq_e000_canonical is False
    assert p.optional_registers == ()


def test_i210_profile_values():
    """I210: device id 0x1533; 4 TX queues [I210 p457, §4]; 5 vectors (§1.6); row-major
    IVAR (§1.6); 1 µs EITR (§1.7); 24-entry cache, WTHRESH max 23 (§6.1, §1.5);
    20 KiB TX buffer (TXPBS default, §5); DTXMXPKTSZ 9728 (§2.2); canonical 0xE000 (§1.2)."""
    p = NIC_I210
    assert p.name == "i210"
    assert p.device_id == 0x1533
    assert p.num_tx_queues == 4
    assert p.num_msix_vectors == 5
    assert p.ivar_layout == "row"
    assert p.eitr_unit_ps == 1_000_000
    assert p.eitr_interval_mask == 0x7FFC
    assert p.tx_desc_cache_size == 24
    assert p.max_wthresh == 23
    assert p.tx_packet_buffer_bytes == 20 * 1024
    assert p.max_tx_packet_bytes == 9728
    assert p.link_speed_mbps == 1000
    assert p.tx_context_slots == 2
    assert p.txq_e000_canonical is True
    assert p.optional_registers == ("DTXMXPKTSZ",)


@pytest.mark.parametrize("profile,kb", [(NIC_I210, 20), (NIC_82576, 40)], ids=["i210", "82576"])
def test_tx_packet_buffer_matches_txpbs_reset(profile, kb):
    """§1.1/§5: TXPBS.TXPB0SIZE (bits 5:0, KB) at reset equals tx_packet_buffer_bytes:
    I210 0x04000014 -> 0x14 = 20 KB; 82576 0x28 = 40 KB (UNCONFIRMED, QEMU's value)."""
    txpbs = profile.reset_values["TXPBS"]
    assert txpbs & 0x3F == kb
    assert profile.tx_packet_buffer_bytes == kb * 1024


def test_wthresh_fits_the_descriptor_cache():
    """§6.1: I210 caches 24 descriptors per queue and allows WTHRESH 0..23."""
    for p in PROFILES.values():
        assert p.max_wthresh == p.tx_desc_cache_size - 1 == 23


def test_get_nic_profile_by_name():
    """The CLI names: "82576" (default device) and "i210", case-insensitive."""
    assert get_nic_profile("82576") is NIC_82576
    assert get_nic_profile("i210") is NIC_I210
    assert get_nic_profile("I210") is NIC_I210
    assert set(PROFILES) == {"82576", "i210"}


def test_unknown_profile_is_a_keyerror_listing_the_names():
    """A typo names itself and every known profile."""
    with pytest.raises(KeyError) as info:
        get_nic_profile("82599")
    text = str(info.value)
    assert "82599" in text and "82576" in text and "i210" in text


def test_profiles_are_frozen():
    """Profiles are shared, immutable data; variants come from dataclasses.replace."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        NIC_82576.num_tx_queues = 8
    variant = dataclasses.replace(NIC_82576, link_speed_mbps=100)
    assert variant.link_speed_mbps == 100 and NIC_82576.link_speed_mbps == 1000


@pytest.mark.parametrize("changes", [
    {"ivar_layout": "diagonal"},        # §1.6 knows column and row only
    {"num_tx_queues": 0},
    {"num_tx_queues": 17},
    {"num_msix_vectors": 33},           # EITR(32) = 0x1700 would overlap IVAR0 (§1.1)
    {"link_speed_mbps": 2500},
    {"max_wthresh": 24},                # must stay below the 24-entry cache (§6.1)
])
def test_invalid_profiles_are_rejected(changes):
    """Configuration errors surface when the profile is built, as ValueError."""
    with pytest.raises(ValueError):
        dataclasses.replace(NIC_82576, **changes)


def test_profile_is_a_nicprofile():
    """Both instances are NicProfile (the type other blocks accept)."""
    assert all(isinstance(p, NicProfile) for p in PROFILES.values())
