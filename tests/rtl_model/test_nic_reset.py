"""CTRL.RST, the device (software) reset: what it resets, what survives, and that nothing stale survives it.

igb_reset -> e1000_reset_hw_82575 writes CTRL | CTRL_RST, sleeps and then
reprograms everything; the model must behave as hardware does at that point.
Expected values come from the facts sheet (igb_facts §1.3 CTRL/STATUS bits,
§1.4 TCTL reset 0xF8, §1.5 TXDCTL, §1.8 statistics, §6.2 write-back) and from
arithmetic written out here, not from the model's output.
"""
import pytest

from rtl_model.profiles import get_nic_profile
from sim.assembly.nic_harness import BAR3, NicTestHost
from tests.rtl_model.frames import frame, tags

NS = 1000
US = 1_000_000
MS = 1_000_000_000

CTRL_RST = 0x0400_0000                     # CTRL b26 (facts §1.3)
CTRL_FD, CTRL_FRCSPD, CTRL_SPD_100 = 0x1, 0x800, 0x100
STATUS_FD, STATUS_LU, STATUS_SPEED_100, STATUS_SPEED_1000 = 0x1, 0x2, 0x40, 0x80
TCTL_EN = 0x2
TCTL_NO_EN = 0x8 | 0x0100_0000 | 15 << 4   # igb_setup_tctl's PSP | RTLC | CT=15, without EN
TXDCTL_ENABLE = 0x0200_0000
IMS_TXDW = 0x1
FRAME_WITH_FCS = 1514 + 4                  # a full-size frame as it sits in the packet buffer


def reset(h) -> None:
    """What e1000_reset_hw_82575 does: CTRL | CTRL_RST; then a read, so the write has landed."""
    h.wr32("CTRL", h.rd32("CTRL") | CTRL_RST)
    h.rd32("STATUS")


def reprogram_ring(h, ring, *, wthresh: int = 1) -> None:
    """igb_configure_tx_ring on the same ring memory after a reset: descriptors zeroed, indices 0."""
    q = ring.q
    h.cpu.store_bytes(ring.cpu_addr, bytes(16 * ring.size))
    ring.next_to_use = 0
    ring.posted.clear()
    h.wr32(f"TXDCTL{q}", 0)
    h.wr32(f"TDLEN{q}", 16 * ring.size)
    h.wr32(f"TDBAL{q}", ring.dma_addr & 0xFFFF_FFFF)
    h.wr32(f"TDBAH{q}", ring.dma_addr >> 32)
    h.wr32(f"TDH{q}", 0)
    h.wr32(f"TDT{q}", 0)
    h.wr32(f"TXDCTL{q}", TXDCTL_ENABLE | wthresh << 16 | 1 << 8 | 8)


def reset_time(h) -> int:
    (t,) = [r[0] for r in h.engine.records if r[1] == "nic" and r[2] == "reset"]
    return t


def records_after(h, t: int, source: str, what: str) -> list:
    return [r for r in h.engine.records if r[0] > t and r[1] == source and r[2] == what]


def msix_entry(h, v: int) -> list[int]:
    h.cpu.drain_all()
    return [h.cpu.readl(BAR3 + 16 * v + 4 * k) for k in range(4)]


# --- 1. registers ----------------------------------------------------------------------
def test_registers_read_their_reset_values_the_link_and_the_msix_table_survive():
    h = NicTestHost()
    r0 = h.setup_tx_ring(0, 64)
    h.setup_tx_ring(1, 128, wthresh=16)
    h.setup_msix([0, 1], eitr_us=50)
    h.enable_tx()
    h.wr32("CTRL", CTRL_FRCSPD | CTRL_SPD_100 | CTRL_FD)  # force 100 Mb/s full duplex
    h.run_for(10 * US)
    h.send(r0, [frame(60, i) for i in range(3)])
    h.run()
    entry1 = msix_entry(h, 1)
    # preconditions: everything below is programmed away from its reset value
    assert h.rd32("TDLEN1") == 128 * 16 and h.rd32("TDT0") == h.rd32("TDH0") == 3
    # EIMS: vectors 0..2 enabled, vector 1 (tx0) auto-masked by its message (EIAM, facts §6.5)
    assert h.rd32("GPIE") and h.rd32("EIMS") == 0b101 and h.rd32("EITR1") == 50 * 4
    assert h.nic.regs.get("GPTC") == 3                  # get(): no read-to-clear
    assert entry1[2] and entry1[3] == 0                 # data programmed, vector unmasked
    assert h.rd32("STATUS") & (STATUS_SPEED_100 | STATUS_SPEED_1000) == STATUS_SPEED_100

    reset(h)

    assert h.rd32("CTRL") & CTRL_RST == 0               # self-clearing
    assert h.rd32("TCTL") == 0xF8                       # PSP initial 1, CT initial 0xF [I210 p452]; EN 0
    assert h.rd32("TXDCTL0") == TXDCTL_ENABLE           # queue 0 enabled as at power-on, thresholds 0
    assert h.rd32("TXDCTL1") == 0
    for q in (0, 1):
        for reg in ("TDBAL", "TDBAH", "TDLEN", "TDH", "TDT", "TDWBAL"):
            assert h.rd32(f"{reg}{q}") == 0, f"{reg}{q}"
    for reg in ("IMS", "EIMS", "EIAC", "EIAM", "GPIE", "IVAR0_0", "IVAR0_1", "IVAR_MISC",
                "EITR0", "EITR1", "EITR2", "EICR", "ICR"):
        assert h.rd32(reg) == 0, reg
    assert h.rd32("GPTC") == 0 and h.rd32("TPT") == 0 and h.rd32("PTC64") == 0
    assert h.rd32("GOTCL") == 0 and h.rd32("GOTCH") == 0
    # the link stays up, full duplex, at the forced speed
    assert h.rd32("STATUS") & (STATUS_LU | STATUS_FD | STATUS_SPEED_100 | STATUS_SPEED_1000) == \
        STATUS_LU | STATUS_FD | STATUS_SPEED_100
    # the PCI side survives: the MSI-X table entry is still programmed
    assert msix_entry(h, 1) == entry1
    assert h.nic.counters["resets"] == 1


def test_every_register_but_status_reads_as_at_power_on():
    """Reset = power-on for every BAR0 register (table values plus the profile's overrides)."""
    for profile in ("82576", "i210"):
        fresh = NicTestHost(profile)
        h = NicTestHost(profile)
        ring = h.setup_tx_ring(0, 64)
        h.setup_msix([0], eitr_us=20)
        h.enable_tx()
        h.send(ring, [frame(100, i) for i in range(4)])
        h.run()
        reset(h)
        h.run()
        names = [n for n in h.nic.regs.table.names() if n != "STATUS"]
        assert {n: h.nic.regs.get(n) for n in names} == {n: fresh.nic.regs.get(n) for n in names}


def test_the_link_keeps_its_forced_speed_across_a_reset():
    """The link is not renegotiated: after the reset a 64-byte frame still takes (64 + 20) x 80 ns at 100 Mb/s."""
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 64)
    h.wr32("CTRL", CTRL_FRCSPD | CTRL_SPD_100 | CTRL_FD)
    h.run_for(10 * US)
    reset(h)
    reprogram_ring(h, ring)
    h.enable_tx()
    h.send(ring, [frame(60)])
    h.run()
    ((_, start, end),) = h.wire
    assert end - start == (64 + 20) * 80 * NS


# --- 2. nothing from before the reset survives it ----------------------------------------------
@pytest.mark.parametrize("profile", ["82576", "i210"])
def test_buffered_and_pending_work_before_a_reset_never_leaves(profile):
    """40 full-size frames with TCTL.EN clear: the packet buffer fills, WTHRESH holds write-backs; then CTRL.RST.

    The packet buffer holds floor(buffer / 1518) frames (82576: 40 KiB -> 26; I210: 20 KiB -> 13). Their
    descriptors are processed (DD = "in the packet buffer", facts §6.2); with WTHRESH 16 the first 16 are
    written back at once and the rest wait for the vector's 4 ms EITR interval. After the reset, with the
    ring reprogrammed elsewhere, MSI-X reprogrammed and TCTL.EN set, 10 ms pass (past that interval): no
    stale frame, write-back or interrupt. The reprogrammed ring then gets the whole packet buffer back.
    """
    h = NicTestHost(profile)
    fit = get_nic_profile(profile).tx_packet_buffer_bytes // FRAME_WITH_FCS
    burst = 16 if fit >= 16 else 0
    old = h.setup_tx_ring(0, 64, wthresh=16)
    h.setup_msix([0], eitr_us=4000)
    h.run_for(10 * US)
    h.engine.start_trace()
    h.send(old, [frame(1514, i) for i in range(40)])
    h.run_for(1 * MS)
    assert h.wire == []
    assert [h.dd(old, i) for i in range(40)] == [True] * burst + [False] * (40 - burst)
    assert len(h.interrupts) == (1 if burst else 0)

    reset(h)
    t_reset = reset_time(h)
    old_memory = h.host.mem.read(old.cpu_addr, 16 * old.size)
    irqs_before = len(h.interrupts)

    h.setup_msix([0], eitr_us=4000)
    new = h.setup_tx_ring(0, 64, wthresh=1)
    h.enable_tx()
    h.run_for(10 * MS)
    assert h.wire == []
    assert len(h.interrupts) == irqs_before
    assert h.host.mem.read(old.cpu_addr, 16 * old.size) == old_memory
    for what in ("fetch", "packet", "writeback"):
        assert records_after(h, t_reset, "txq0", what) == []

    # the whole packet buffer is free again: with TCTL.EN clear exactly `fit` frames are buffered
    h.wr32("TCTL", TCTL_NO_EN)
    h.send(new, [frame(1514, 100 + i) for i in range(fit + 1)])
    h.run_for(1 * MS)
    assert h.wire == []
    assert [h.dd(new, i) for i in range(fit + 1)] == [True] * fit + [False]
    h.enable_tx()
    h.run()
    assert tags(h) == [100 + i for i in range(fit + 1)]
    assert all(h.dd(new, i) for i in range(fit + 1))
    assert h.host.mem.read(old.cpu_addr, 16 * old.size) == old_memory
    assert len(h.interrupts) > irqs_before and {n for _, n in h.interrupts} == {"tx0"}


# --- 3. reset with buffer reads in flight ------------------------------------------------------
def test_a_reset_during_buffer_reads_loses_nothing_after_it_and_sends_nothing_stale():
    """TCTL.EN set; the reset lands after the descriptor fetch, while the buffer reads are in flight.

    The ring memory is then reused (as igb does after a reset), so a stale write-back would show as DD.
    TCTL.EN is 0 after the reset: the new frames are buffered (DD) but wait for it.
    """
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 64, wthresh=1)
    h.setup_msix([0])
    h.enable_tx()
    h.run_for(10 * US)
    h.engine.start_trace()
    h.send(ring, [frame(1514, i) for i in range(8)])
    while not [r for r in h.engine.records if r[1] == "txq0" and r[2] == "fetch"]:
        h.run_for(10 * NS)
    h.wr32("CTRL", CTRL_RST)      # lands 150 ns later; a 1514-byte read takes > 600 ns
    while not [r for r in h.engine.records if r[2] == "reset"]:
        h.run_for(10 * NS)
    t_reset = reset_time(h)
    before = [r for r in h.engine.records if r[0] <= t_reset]
    assert [r for r in before if r[1] == "txq0" and r[2] == "fetch"]
    assert not [r for r in before if r[2] in ("packet", "writeback", "msix", "tx")]

    h.run_for(1 * MS)
    assert h.wire == [] and h.interrupts == []
    assert not any(h.dd(ring, i) for i in range(8))

    reprogram_ring(h, ring)
    h.setup_msix([0])
    h.send(ring, [frame(1514, 50 + i) for i in range(5)])
    h.run_for(1 * MS)
    assert h.wire == []                                   # TCTL.EN is 0 after the reset
    assert [h.dd(ring, i) for i in range(8)] == [True] * 5 + [False] * 3
    h.enable_tx()
    h.run()
    assert tags(h) == [50, 51, 52, 53, 54]
    assert [h.dd(ring, i) for i in range(8)] == [True] * 5 + [False] * 3
    assert len(records_after(h, t_reset, "txq0", "packet")) == 5   # the new five, and only them


# --- packet buffer and MAC ------------------------------------------------------------------------
def test_the_frame_on_the_wire_finishes_the_queued_ones_are_discarded():
    """At 1 Gb/s a 1518-byte frame holds the wire 12.304 us: a reset landing inside frame 2 lets it finish.

    Frames 3.. were in the packet buffer (queued behind it) and are dropped. Afterwards the packet buffer
    holds exactly floor(40 KiB / 1518) = 26 frames again: nothing leaked, nothing credited twice.
    """
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 64)
    h.enable_tx()
    h.run_for(10 * US)
    h.send(ring, [frame(1514, i) for i in range(10)])
    while not h.wire:
        h.run_for(100 * NS)
    reset(h)
    h.run()
    assert tags(h) == [0, 1]
    (_, _, end0), (_, start1, end1) = h.wire
    assert start1 == end0 and end1 - start1 == (1518 + 20) * 8 * NS
    assert h.rd32("GPTC") == 1        # frame 2 left the wire after the reset: the fresh counters count it

    reprogram_ring(h, ring)
    fit = (40 * 1024) // FRAME_WITH_FCS
    h.send(ring, [frame(1514, 100 + i) for i in range(fit + 1)])
    h.run_for(1 * MS)
    assert [h.dd(ring, i) for i in range(fit + 1)] == [True] * fit + [False]
    h.enable_tx()
    h.run()
    assert tags(h)[2:] == [100 + i for i in range(fit + 1)]


# --- interrupts -------------------------------------------------------------------------------
def test_reset_deasserts_intx_and_clears_causes_and_masks():
    """Legacy mode: TXDW holds INTx up (facts §1.6); the reset drops the line, ICR and IMS read 0."""
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 64, wthresh=0)
    h.enable_tx()
    h.wr32("IMS", IMS_TXDW)
    h.run_for(10 * US)
    h.send(ring, [frame(100)])
    h.run()
    assert h.host.msi.intx_level
    reset(h)
    h.run()
    assert not h.host.msi.intx_level
    assert h.rd32("ICR") == 0 and h.rd32("IMS") == 0


def test_reset_stops_a_running_eitr_counter():
    """EITR 1 ms: a message reloads the counter (facts §6.4). After the reset the counter is idle again,
    so the first write-back after reprogramming interrupts at once, not when the old interval ends."""
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 64)
    h.setup_msix([0], eitr_us=1000)
    h.enable_tx()
    h.run_for(10 * US)
    h.send(ring, [frame(100)])
    h.run_for(50 * US)
    assert len(h.interrupts) == 1     # counter idle at first: immediate; now it runs for 1 ms
    reset(h)
    reprogram_ring(h, ring)
    h.setup_msix([0], eitr_us=1000)   # CNT_IGNR: the write itself does not touch the counter
    h.enable_tx()
    h.run_for(10 * US)
    t0 = h.engine.now
    h.send(ring, [frame(100)])
    h.run_for(100 * US)
    assert len(h.interrupts) == 2 and h.interrupts[1][0] - t0 < 100 * US


def test_reset_forgets_a_message_pending_on_a_masked_vector():
    """A cause for a vector masked in the MSI-X table sets its PBA bit; the reset flushes it, so unmasking
    the vector afterwards sends nothing for it."""
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 64)
    h.setup_msix([0])
    h.enable_tx()
    h.cpu.writel(1, BAR3 + 16 * 1 + 12)   # mask vector 1 (tx0) in the MSI-X table
    h.run_for(10 * US)
    h.send(ring, [frame(100)])
    h.run()
    h.cpu.drain_all()
    assert h.cpu.readl(BAR3 + 0x2000) == 0b10
    reset(h)
    h.cpu.drain_all()
    assert h.cpu.readl(BAR3 + 0x2000) == 0
    h.cpu.writel(0, BAR3 + 16 * 1 + 12)   # unmask
    h.run()
    assert h.interrupts == []


# --- CTRL.DEV_RST ------------------------------------------------------------------------------
CTRL_DEV_RST = 0x2000_0000                 # CTRL b29 (facts §1.3), igb's global device reset


def test_dev_rst_resets_like_rst_but_keeps_eitr():
    """DEV_RST (I210 TX-timeout path) clears the TX unit and masks but leaves EITR alone (facts §6.4)."""
    h = NicTestHost("i210")
    h.setup_tx_ring(0, 64)
    h.setup_msix([0], eitr_us=50)
    h.enable_tx()
    eitr_before = h.rd32("EITR1")
    assert eitr_before & 0x7FFC == 50 * 4
    h.wr32("CTRL", h.rd32("CTRL") | CTRL_DEV_RST)
    h.rd32("STATUS")
    assert h.rd32("CTRL") & CTRL_DEV_RST == 0
    assert h.rd32("TCTL") & TCTL_EN == 0
    assert h.rd32("TDLEN0") == 0 and h.rd32("EIMS") == 0
    assert h.rd32("EITR1") == eitr_before
    assert h.nic.counters["resets"] == 1
