"""Link loss at the NIC: STATUS.LU and ICR.LSC follow it, the transmitter holds frames, space is not lost.

Facts: STATUS.LU is bit 1 (igb_facts §1.3), ICR.LSC is 0x4 (§1.6); on link
loss the controller stops transmitting (igb_watchdog_task's comment, §3.11).
"""
from sim.assembly.nic_harness import NicTestHost

MS = 1_000_000_000
STATUS_LU, ICR_LSC = 0x2, 0x4
PB_BYTES = 40 * 1024     # the 82576 profile's TX packet buffer


def frame(tag: int, n: int = 1514) -> bytes:
    return bytes([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xB5, tag]) + bytes(n - 15)


def test_status_lu_and_lsc_follow_the_link():
    h = NicTestHost()
    assert h.rd32("STATUS") & STATUS_LU
    h.nic.set_link(False)
    assert not h.rd32("STATUS") & STATUS_LU
    assert h.rd32("ICR") & ICR_LSC
    h.nic.set_link(True)
    assert h.rd32("STATUS") & STATUS_LU and h.rd32("ICR") & ICR_LSC


def test_frames_wait_while_the_link_is_down_and_all_go_when_it_returns():
    h = NicTestHost()
    ring = h.setup_tx_ring(0, 256)
    h.enable_tx()
    h.send(ring, [frame(i) for i in range(10)])
    h.run_for(20_000_000)                   # 20 µs: a frame or two on the wire, more queued at the MAC
    sent = len(h.wire)
    h.nic.set_link(False)
    h.send(ring, [frame(i) for i in range(10, 60)])
    h.run_for(2 * MS)
    dropped = h.nic.mac.frames_dropped_link_down
    assert len(h.wire) == sent              # nothing is sent while the link is down
    h.nic.set_link(True)
    h.run_for(5 * MS)
    tags = [f[14] for f, _, _ in h.wire]
    assert tags == sorted(tags) and tags[-1] == 59
    assert len(tags) + dropped == 60        # what the MAC held when the link fell is lost, nothing else
    assert h.nic.pb_free == PB_BYTES        # and the packet buffer got all of its space back


def test_link_speed_sets_status_and_frame_timing():
    """100 Mb/s: STATUS.SPEED = 01b (bit 6), LSC raised, a 1514-byte frame takes (1518+20)*8*10 ns."""
    h = NicTestHost()
    h.nic.set_link_speed(100)
    assert h.rd32("STATUS") & 0xC0 == 0x40 and h.rd32("ICR") & ICR_LSC
    ring = h.setup_tx_ring(0, 64)
    h.enable_tx()
    h.send(ring, [frame(1), frame(2)])
    h.run_for(1 * MS)
    (f1, s1, e1), (f2, s2, e2) = h.wire
    assert e2 - e1 == (1518 + 20) * 8 * 10_000
