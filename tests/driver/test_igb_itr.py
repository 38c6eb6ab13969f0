"""Interrupt moderation: igb_update_itr, igb_set_itr, igb_update_ring_itr, igb_write_itr.

Expected values are arithmetic on igb_facts §3.10 and §1.7, not outputs of
the code:

* latency classes lowest 0 / low 1 / bulk 2 with the thresholds of
  ``igb_update_itr``; ``bytes/packets`` is C division of unsigned ints
  (``unsigned int packets, bytes``), so 16001 bytes in 2 packets is 8000
  per packet, not more than 8000;
* itr_val units are 0.25 us: 56 (70k/s), 196 (20k/s), 980 (4k/s), start 648;
* ``igb_update_ring_itr``: avg = max(rx, tx) bytes/packets, +24, at most
  3000, /3 strictly between 300 and 1200 else /2; setting 3 floors at 196;
* EITR = (itr_val & 0x7FFC, 0 -> 0x4) | CNT_IGNR (0x80000000), written
  only when set_itr is pending, at the start of the next interrupt.

End to end: igb counts ``skb->len`` per packet (``first->bytecount``; FCS
excluded), so 1514-byte frames give (1514 + 24) / 2 = 769 and EITR
interval 769 & 0x7FFC = 768 = 0x300 (a count with FCS would give 771).
"""
from types import SimpleNamespace

import pytest

from driver.igb.e1000_regs import E1000_EITR
from driver.igb.ethtool import igb_set_coalesce
from driver.igb.igb import SPEED_100, SPEED_1000, igb_ring_container
from driver.igb.itr import igb_set_itr, igb_update_itr, igb_update_ring_itr, igb_write_itr

LOWEST, LOW, BULK = 0, 1, 2
CNT_IGNR = 0x8000_0000


def container(itr, packets=0, nbytes=0):
    c = igb_ring_container()
    c.itr = itr
    c.total_packets = packets
    c.total_bytes = nbytes
    return c


# --- igb_update_itr ------------------------------------------------------------------------------
@pytest.mark.parametrize("start,packets,nbytes,expected", [
    # lowest: > 8000 bytes/packet -> bulk (TSO, jumbo)
    (LOWEST, 1, 8001, BULK),
    (LOWEST, 2, 16002, BULK),        # 8001 per packet
    (LOWEST, 2, 16001, LOW),         # 8000 per packet (integer division): not bulk; < 5 packets, > 512 B
    (LOWEST, 1, 8000, LOW),          # 8000: not bulk; 1 packet of > 512 bytes -> low
    # lowest: fewer than 5 packets and more than 512 bytes -> low
    (LOWEST, 4, 513, LOW),
    (LOWEST, 4, 512, LOWEST),        # 512 is not > 512
    (LOWEST, 5, 513, LOWEST),        # 5 is not < 5
    (LOWEST, 10, 1000, LOWEST),
    # low, more than 10000 bytes
    (LOW, 2, 16002, BULK),           # > 8000 per packet
    (LOW, 9, 10001, BULK),           # fewer than 10 packets
    (LOW, 10, 12010, BULK),          # 1201 per packet > 1200
    (LOW, 10, 12009, LOW),           # 1200 per packet (integer division): stays
    (LOW, 36, 10001, LOWEST),        # more than 35 packets of <= 1200 bytes
    (LOW, 35, 10001, LOW),           # 35 is not > 35
    # low, at most 10000 bytes
    (LOW, 36, 10000, LOW),           # 10000 is not > 10000: the small-bytes branch, 277 per packet
    (LOW, 2, 4002, BULK),            # 2001 per packet > 2000
    (LOW, 2, 4001, LOW),             # 2000 per packet (integer division): not bulk; 4001 is not < 512
    (LOW, 2, 511, LOWEST),           # <= 2 packets and < 512 bytes
    (LOW, 1, 100, LOWEST),
    (LOW, 2, 512, LOW),              # 512 is not < 512
    (LOW, 3, 100, LOW),              # 3 is not <= 2
    # bulk
    (BULK, 36, 25001, LOW),          # > 25000 bytes and > 35 packets
    (BULK, 35, 25001, BULK),
    (BULK, 36, 25000, BULK),         # 25000 is not > 25000, nor < 1500
    (BULK, 1, 1499, LOW),            # < 1500 bytes
    (BULK, 1, 1500, BULK),
    (BULK, 10, 20000, BULK),
])
def test_update_itr_classifies_and_clears_the_counters(start, packets, nbytes, expected):
    c = container(start, packets, nbytes)
    igb_update_itr(None, c)
    assert c.itr == expected
    assert (c.total_packets, c.total_bytes) == (0, 0)


@pytest.mark.parametrize("start", [LOWEST, LOW, BULK])
def test_update_itr_without_packets_changes_nothing(start):
    c = container(start, 0, 5000)
    igb_update_itr(None, c)
    assert (c.itr, c.total_packets, c.total_bytes) == (start, 0, 5000)


# --- igb_set_itr (single vector) ----------------------------------------------------------------
def q_vector(*, link=SPEED_1000, rx_setting=3, tx_setting=3, has_rx=False, itr_val=648, tx=None, rx=None):
    adapter = SimpleNamespace(link_speed=link, rx_itr_setting=rx_setting, tx_itr_setting=tx_setting)
    return SimpleNamespace(adapter=adapter, itr_val=itr_val, set_itr=0, rx_ring_index=0 if has_rx else None,
                           tx=tx if tx is not None else igb_ring_container(),
                           rx=rx if rx is not None else igb_ring_container())


def test_set_itr_below_gigabit_fixes_4k_and_leaves_the_counters():
    q = q_vector(link=SPEED_100, tx=container(LOWEST, 10, 600))
    igb_set_itr(q)
    assert (q.itr_val, q.set_itr) == (980, 1)
    assert (q.tx.total_packets, q.tx.total_bytes, q.tx.itr) == (10, 600, LOWEST)


@pytest.mark.parametrize("tx_class,rx_class,expected", [
    (LOWEST, LOWEST, 56), (LOW, LOWEST, 196), (LOWEST, LOW, 196), (BULK, LOWEST, 980), (LOW, BULK, 980),
])
def test_set_itr_maps_the_higher_class_of_rx_and_tx(tx_class, rx_class, expected):
    # setting 1 (dynamic, not conservative); no packets, so the classes stay as they are
    q = q_vector(rx_setting=1, tx_setting=1, tx=container(tx_class), rx=container(rx_class))
    igb_set_itr(q)
    assert (q.itr_val, q.set_itr) == (expected, 1)


def test_set_itr_updates_both_classes_from_their_counters():
    # tx: low -> bulk (2 packets, 4002 bytes); rx: low -> lowest (1 packet, 100 bytes)
    q = q_vector(rx_setting=1, tx_setting=1, tx=container(LOW, 2, 4002), rx=container(LOW, 1, 100))
    igb_set_itr(q)
    assert (q.tx.itr, q.rx.itr, q.itr_val) == (BULK, LOWEST, 980)
    assert (q.tx.total_packets, q.tx.total_bytes, q.rx.total_packets, q.rx.total_bytes) == (0, 0, 0, 0)


@pytest.mark.parametrize("has_rx,rx_setting,tx_setting,expected", [
    (True, 3, 1, 196),     # vector with an RX ring: the RX setting decides; 3 turns lowest into low
    (True, 1, 3, 56),
    (False, 1, 3, 196),    # TX-only vector: the TX setting decides
    (False, 3, 1, 56),
])
def test_set_itr_conservative_mode_turns_lowest_into_low(has_rx, rx_setting, tx_setting, expected):
    q = q_vector(has_rx=has_rx, rx_setting=rx_setting, tx_setting=tx_setting,
                 tx=container(LOWEST), rx=container(LOWEST))
    igb_set_itr(q)
    assert q.itr_val == expected


def test_set_itr_increase_goes_straight_to_the_new_value():
    # max(new*old / (new + old/4), new) is always new when new > old
    q = q_vector(itr_val=56, tx=container(BULK), rx=container(BULK))
    igb_set_itr(q)
    assert (q.itr_val, q.set_itr) == (980, 1)


def test_set_itr_unchanged_value_asks_for_no_write():
    q = q_vector(itr_val=196, tx=container(LOW), rx=container(LOW))
    igb_set_itr(q)
    assert (q.itr_val, q.set_itr) == (196, 0)


# --- igb_update_ring_itr (one vector per ring) --------------------------------------------------
@pytest.mark.parametrize("tx_packets,tx_bytes,setting,expected", [
    (10, 15140, 3, 769),     # 1514 + 24 = 1538, >= 1200 -> /2
    (1, 276, 1, 150),        # 300 is not > 300 -> /2
    (1, 277, 1, 100),        # 301 -> /3
    (1, 1175, 1, 399),       # 1199 -> /3
    (1, 1176, 1, 600),       # 1200 is not < 1200 -> /2
    (2, 1001, 1, 174),       # avg 500 (integer division) + 24 = 524 -> /3
    (1, 9000, 3, 1500),      # capped at 3000 -> /2
    (1, 2977, 1, 1500),      # 3001 -> 3000
    (1, 64, 1, 44),          # 88 -> /2
    (1, 64, 3, 196),         # conservative floor
    (1, 300, 3, 196),        # 324 / 3 = 108 -> floor
    (1, 368, 3, 196),        # 392 / 3 = 130 -> floor
    (1, 600, 3, 208),        # 624 / 3 = 208, above the floor
])
def test_update_ring_itr_from_the_average_wire_size(tx_packets, tx_bytes, setting, expected):
    q = q_vector(tx_setting=setting, itr_val=648, tx=container(LOW, tx_packets, tx_bytes))
    igb_update_ring_itr(q)
    assert (q.itr_val, q.set_itr) == (expected, 1)
    assert (q.tx.total_packets, q.tx.total_bytes) == (0, 0)


def test_update_ring_itr_takes_the_larger_average_of_rx_and_tx():
    q = q_vector(has_rx=True, rx_setting=1, tx=container(LOW, 1, 100), rx=container(LOW, 1, 1000))
    igb_update_ring_itr(q)
    assert q.itr_val == (1000 + 24) // 3      # 341
    q = q_vector(has_rx=True, rx_setting=1, tx=container(LOW, 1, 1000), rx=container(LOW, 1, 100))
    igb_update_ring_itr(q)
    assert q.itr_val == 341
    assert (q.rx.total_packets, q.rx.total_bytes, q.tx.total_packets, q.tx.total_bytes) == (0, 0, 0, 0)


def test_update_ring_itr_conservative_floor_follows_the_vectors_ring_kind():
    # RX+TX vector: the RX setting decides; here 1, so no floor even though the TX setting is 3
    q = q_vector(has_rx=True, rx_setting=1, tx_setting=3, tx=container(LOW, 1, 64))
    igb_update_ring_itr(q)
    assert q.itr_val == 44
    q = q_vector(has_rx=True, rx_setting=3, tx_setting=1, tx=container(LOW, 1, 64))
    igb_update_ring_itr(q)
    assert q.itr_val == 196


def test_update_ring_itr_without_work_only_clears_the_counters():
    q = q_vector(itr_val=648, tx=container(LOW, 0, 500), rx=container(LOW, 0, 700))
    igb_update_ring_itr(q)
    assert (q.itr_val, q.set_itr) == (648, 0)
    assert (q.tx.total_bytes, q.rx.total_bytes) == (0, 0)


def test_update_ring_itr_below_gigabit_fixes_4k_and_clears_the_counters():
    q = q_vector(link=SPEED_100, tx=container(LOW, 10, 640))
    igb_update_ring_itr(q)
    assert (q.itr_val, q.set_itr) == (980, 1)
    assert (q.tx.total_packets, q.tx.total_bytes) == (0, 0)


def test_update_ring_itr_same_value_asks_for_no_write():
    q = q_vector(itr_val=769, tx=container(LOW, 1, 1514))
    igb_update_ring_itr(q)
    assert (q.itr_val, q.set_itr) == (769, 0)


# --- igb_write_itr --------------------------------------------------------------------------------
class FakeKernel:
    def __init__(self):
        self.writes = []

    def writel(self, value, addr, offset=0, *, site=None):
        self.writes.append((addr, value))


def writer(itr_val, set_itr=1):
    k = FakeKernel()
    q = SimpleNamespace(adapter=SimpleNamespace(kernel=k), itr_val=itr_val, set_itr=set_itr,
                        itr_register="EITR(3)")
    return k, q


@pytest.mark.parametrize("itr_val,written", [
    (648, 0x288 | CNT_IGNR),
    (196, 0xC4 | CNT_IGNR),
    (769, 0x300 | CNT_IGNR),       # low two bits dropped
    (56, 0x38 | CNT_IGNR),
    (980, 0x3D4 | CNT_IGNR),
    (0, 0x4 | CNT_IGNR),           # moderation off: 0 becomes 0x4
    (3, 0x4 | CNT_IGNR),           # 3 & 0x7FFC = 0 -> 0x4
    (0x8004, 0x4 | CNT_IGNR),      # bits above 14 dropped
    (40000, 0x1C40 | CNT_IGNR),    # 10000 us << 2 = 0x9C40 does not fit the 13-bit interval
])
def test_write_itr_masks_and_sets_cnt_ignr(itr_val, written):
    k, q = writer(itr_val)
    igb_write_itr(q)
    assert k.writes == [("EITR(3)", written)]
    assert q.set_itr == 0


def test_write_itr_writes_only_when_asked():
    k, q = writer(196, set_itr=0)
    igb_write_itr(q)
    assert k.writes == []


# --- end to end: IgbSystem -------------------------------------------------------------------------
def test_full_size_frames_set_the_eitr_from_skb_len(system, send_frames, eitr_writes, tx_vector,
                                                     close_and_remove):
    s = system("82576", ring_size=256, up=False)
    writes = eitr_writes(s)
    assert s.open() == 0
    q, v = tx_vector(s)
    assert q.itr_register.offset == E1000_EITR(v)
    send_frames(s, 600, size=1514)
    # bytecount is skb->len = 1514: (1514 + 24) / 2 = 769 (with the FCS it would be 771)
    assert q.itr_val == 769
    assert s.nic.irq.read_eitr(v) == 769 & 0x7FFC == 0x300
    # first interrupt: the start value 648 pending since igb_configure_msix; then 769, once
    assert [w for vec, w in writes if vec == v] == [648 | CNT_IGNR, 0x300 | CNT_IGNR]
    close_and_remove(s)


def test_small_frames_are_floored_at_20k_in_conservative_mode_and_not_in_dynamic_mode(
        system, send_frames, eitr_writes, tx_vector, close_and_remove):
    s = system("82576", ring_size=256, up=False)
    writes = eitr_writes(s)
    assert s.open() == 0
    q, v = tx_vector(s)
    send_frames(s, 400, size=64)
    assert q.itr_val == 196                       # (64 + 24) / 2 = 44, floored at 196
    assert s.nic.irq.read_eitr(v) == 196
    assert igb_set_coalesce(s.adapter, tx_usecs=1) == 0   # dynamic, not conservative
    assert q.itr_val == 648 and q.set_itr == 1
    send_frames(s, 400, size=64)
    assert q.itr_val == 44
    assert [w for vec, w in writes if vec == v][-1] == 44 | CNT_IGNR
    assert s.nic.irq.read_eitr(v) == 44
    s.close()
