"""Probe, open, close, remove: the registers igb writes, in the kernel's order, and nothing leaked.

Expected register values and order come from igb_facts §3.3 (igb_configure,
igb_setup_tctl, igb_configure_tx, igb_configure_tx_ring), §1.5 (TXDCTL =
PTHRESH 8 | HTHRESH 1 << 8 | WTHRESH << 16 | ENABLE), §1.6 (GPIE, IVAR
layouts) and §3.9 (vector layout, igb_irq_enable) — written out here.
"""
import pytest

from stack.core.skbuff import skb_from_bytes

TXQ_BASE = {0: 0x3800, 1: 0x3900}
TDBAL, TDBAH, TDLEN, TDH, TDT, TXDCTL = 0x00, 0x04, 0x08, 0x10, 0x18, 0x28
TCTL, GPIE, IVAR_MISC, EIAC, EIAM, EIMS, IMS = 0x400, 0x1514, 0x1740, 0x152C, 0x1530, 0x1524, 0xD0
IVAR0 = 0x1700
TCTL_EN, TCTL_PSP, TCTL_RTLC, TCTL_COLD = 0x2, 0x8, 0x0100_0000, 0x003F_F000
#: TCTL at reset: PSP = 1, CT = 0xF, COLD = 0 (I210 p452, facts §1.4).
TCTL_RESET = TCTL_PSP | 0xF << 4


def recorded_writes(s):
    """Wrap the NIC's BAR0 so every register write that lands is recorded as (offset, value)."""
    writes = []
    inner = s.nic.mmio_write

    def record(offset, size, value):
        writes.append((offset, value))
        inner(offset, size, value)

    s.nic.mmio_write = record
    return writes


def open_system(system, nic):
    s = system(nic, ncpus=2, up=False)
    writes = recorded_writes(s)
    assert s.open() == 0
    return s, writes


@pytest.mark.parametrize("nic, txdctl", [("82576", 0x0201_0108), ("i210", 0x0210_0108)])
def test_ring_registers_are_written_in_the_kernels_order_with_its_values(nic, txdctl, system):
    s, writes = open_system(system, nic)
    rings = s.adapter.tx_ring
    assert [r.reg_idx for r in rings] == [0, 1]   # rss_queues = min(max, 2 CPUs) = 2
    tx_offsets = {TCTL} | {TXQ_BASE[q] + f for q in (0, 1) for f in (TDBAL, TDBAH, TDLEN, TDH, TDT, TXDCTL)}
    tx_writes = [(o, v) for o, v in writes if o in tx_offsets]
    expected = [(TXQ_BASE[0] + TXDCTL, 0),                               # igb_setup_tctl: queue 0 off
                (TCTL, TCTL_RESET | 63 << 12),                            # igb_config_collision_dist
                (TCTL, TCTL_RESET | TCTL_RTLC | TCTL_EN)]                 # then EN, before the rings
    expected += [(TXQ_BASE[q] + TXDCTL, 0) for q in (0, 1)]               # igb_configure_tx
    for q, ring in enumerate(rings):                                      # igb_configure_tx_ring
        expected += [(TXQ_BASE[q] + TDLEN, 256 * 16), (TXQ_BASE[q] + TDBAL, ring.dma & 0xFFFF_FFFF),
                     (TXQ_BASE[q] + TDBAH, ring.dma >> 32), (TXQ_BASE[q] + TDH, 0),
                     (TXQ_BASE[q] + TDT, 0), (TXQ_BASE[q] + TXDCTL, txdctl)]
    assert tx_writes[:len(expected)] == expected
    # the last TCTL write reuses the value read before igb_config_collision_dist: COLD is back to 0
    assert s.nic.regs.get("TCTL") & TCTL_COLD == 0
    assert ring.size == 4096 and ring.dma % 16 == 0
    for q in (0, 1):
        assert s.nic.regs.get(f"TXDCTL{q}") == txdctl
        assert s.nic.regs.get(f"TDLEN{q}") == 4096


@pytest.mark.parametrize("nic, ivar", [
    # 82576 column-major: q -> IVAR0[q & 7], RX at bit 0, TX at bit 8 (facts §1.6).
    # vectors: 0 other, 1 rx0, 2 rx1, 3 tx0, 4 tx1 (RX-only vectors first, no pairing at 2 queues).
    ("82576", {0: 0x83 << 8 | 0x81, 1: 0x84 << 8 | 0x82}),
    # I210 row-major: q -> IVAR0[q >> 1], RX at (q & 1) * 16, TX at that + 8.
    ("i210", {0: 0x84 << 24 | 0x82 << 16 | 0x83 << 8 | 0x81}),
])
def test_msix_vector_layout_and_interrupt_programming(nic, ivar, system):
    s, writes = open_system(system, nic)
    names = [q.name for q in s.adapter.q_vector]
    assert names == ["eth0-rx-0", "eth0-rx-1", "eth0-tx-0", "eth0-tx-1"]
    gpie = [i for i, (o, _) in enumerate(writes) if o == GPIE]
    assert writes[gpie[0]] == (GPIE, 0x8000_0000 | 0x4000_0000 | 0x10 | 0x1)  # PBA|EIAME|MSIX_MODE|NSICR
    after = [o for o, _ in writes[gpie[0]:]]
    assert after.index(IVAR_MISC) < after.index(IVAR0)     # other cause first, then the queues
    for index, value in ivar.items():
        assert s.nic.irq.read_ivar(index) == value
    assert s.nic.irq.read_ivar_misc() & 0xFF00 == 0x80 << 8   # vector 0 | VALID at bits 15:8
    mask = 0b11111                                             # vectors 0..4
    assert s.nic.irq.read_eiac() & mask == mask
    assert s.nic.irq.read_eiam() & mask == mask
    assert s.nic.irq.read_eims() == mask
    assert s.nic.irq.read_ims() == 0x4 | 0x1000_0000 | 0x4000_0000   # LSC | DOUTSYNC | DRSTA


def test_open_then_close_leaves_no_mapping_skb_or_coherent_memory(system):
    s, _ = open_system(system, "82576")
    probe_held = {(leak.kind, leak.what) for leak in s.leaks().items}
    frames = [bytes([i]) * 200 for i in range(40)]
    s.sender().send([skb_from_bytes(s.net.skb, f, 2) for f in frames], burst=8)
    s.run_for(2_000_000_000)
    assert s.frames() == frames
    s.close()
    after = s.leaks()
    assert not after.streaming and not after.coherent
    assert {(leak.kind, leak.what) for leak in after.items} <= probe_held
    assert not any(leak.kind == "vmalloc" for leak in after.allocations)
    s.net.skb.assert_no_leaks("after close")
    s.remove()
    s.kernel.assert_no_leaks("after remove")


def test_close_with_packets_still_queued_frees_them_as_drops(system):
    s, _ = open_system(system, "82576")
    s.nic.mmio_write(TCTL, 4, s.nic.regs.get("TCTL") & ~TCTL_EN)   # the NIC stops transmitting
    # 100 KB queued: more than the 40 KB packet buffer, so descriptors stay in the ring unfinished
    frames = [bytes([i]) * 1000 for i in range(100)]
    sender = s.sender()
    sender.send([skb_from_bytes(s.net.skb, f) for f in frames], burst=100)
    s.run_for(2_000_000_000)
    ring = s.adapter.tx_ring[0]
    # waiting above the driver: in the qdisc (the queue stopped) and not yet written by the program
    in_ring, waiting = ring.next_to_use - ring.next_to_clean, s.netdev.qdisc.qlen + len(sender.backlog)
    completed = ring.tx_stats.packets
    assert in_ring > 0 and in_ring + waiting + completed == 100 and not s.frames()
    s.close()
    s.net.skb.assert_no_leaks("after close")
    # freed by igb_clean_tx_ring or the qdisc reset, as drops; the completed ones were consumed
    assert s.net.skb.dropped == in_ring + waiting and s.net.skb.consumed == completed
    assert ring.tx_dropped == in_ring
    assert not s.leaks().streaming


def test_open_fails_cleanly_when_the_ring_cannot_be_allocated(system):
    s = system("82576", up=False)
    s.kernel.inject_failure("vmalloc", after=2)   # the second ring's tx_buffer_info
    assert s.open() == -12
    assert not s.leaks().coherent and not s.leaks().streaming
    assert not any(leak.kind == "vmalloc" for leak in s.leaks().allocations)
