"""ethtool -G / -C / -L on the igb driver: igb_set_ringparam, igb_set_coalesce, igb_set_channels.

Expected values from igb_facts §3.9, §3.10 and §4:

* ring sizes: clamp to IGB_MIN_TXD 64 (Linux 6.6, "igb: Change IGB_MIN to
  allow set rx/tx value between 64 and 80"; 80 before) .. IGB_MAX_TXD 4096,
  then ALIGN to REQ_TX_DESCRIPTOR_MULTIPLE 8; TDLEN = count * 16 bytes;
* rx/tx-usecs: 0 (off), 1, 3 (dynamic) or 10..10000 us stored as usecs << 2;
  2, 4..9 and above 10000 are -EINVAL (-22); each q_vector gets
  itr_val = the setting (IGB_START_ITR 648 for 1 and 3) and set_itr = 1, so
  the next interrupt writes EITR = (itr_val & 0x7FFC, 0 -> 0x4) | CNT_IGNR;
* channels: 1..max_rss_queues (82576: 8, I210: 4); queues pair on one
  vector when rss_queues > max/2; numvecs = rx + (paired ? 0 : tx) + 1
  (the "other" vector), q_vectors = numvecs - 1.

The functions that sleep (ring and channel changes on a running device) are
generators run as tasks with ``IgbSystem.run_task``.
"""
import pytest

from driver.igb.e1000_regs import E1000_EITR
from driver.igb.ethtool import (igb_get_channels, igb_get_coalesce, igb_get_ringparam, igb_set_channels,
                                igb_set_coalesce, igb_set_ringparam)
from driver.igb.igb import IGB_FLAG_QUEUE_PAIRS
from sim.engine import MS
from stack.core.errno import EINVAL
from stack.core.skbuff import skb_from_bytes

CNT_IGNR = 0x8000_0000
FRAME = (b"\x02" + bytes(range(256)) * 6)[:1514]


# --- igb_set_ringparam -----------------------------------------------------------------------------
@pytest.mark.parametrize("asked,count", [
    (0, 64), (10, 64), (63, 64), (64, 64), (65, 72), (79, 80), (80, 80), (81, 88), (87, 88), (88, 88),
    (256, 256), (1001, 1008),
    (4089, 4096), (4095, 4096), (4096, 4096), (5000, 4096),
])
def test_ringparam_clamps_and_rounds_up_to_a_multiple_of_8(asked, count, system, close_and_remove):
    s = system("82576", up=False)
    assert s.run_task(igb_set_ringparam(s.adapter, asked)) == 0
    assert s.adapter.tx_ring_count == count
    assert [r.count for r in s.adapter.tx_ring] == [count] * s.adapter.num_tx_queues
    assert igb_get_ringparam(s.adapter)["tx_pending"] == count
    assert s.open() == 0
    for ring in s.adapter.tx_ring:
        assert s.nic.regs.get(f"TDLEN{ring.reg_idx}") == count * 16
    close_and_remove(s)


def test_ringparam_negative_is_rejected_and_changes_nothing(system):
    s = system("82576", ring_size=256, up=False)
    assert s.run_task(igb_set_ringparam(s.adapter, -8)) == -EINVAL
    assert s.adapter.tx_ring_count == 256 and [r.count for r in s.adapter.tx_ring] == [256, 256]


def test_ringparam_on_a_running_device_goes_down_and_up_and_still_transmits(system, send_frames, close_and_remove):
    s = system("82576", ring_size=256)
    assert s.nic.regs.get("TDLEN0") == 256 * 16
    send_frames(s, 300)
    assert s.run_task(igb_set_ringparam(s.adapter, 1000)) == 0        # -> 1000 (already a multiple of 8)
    assert s.adapter.tx_ring_count == 1000
    for ring in s.adapter.tx_ring:
        assert ring.count == 1000 and ring.size == 16384            # 16000 bytes rounded up to 4K
        assert s.nic.regs.get(f"TDLEN{ring.reg_idx}") == 16000
        assert (ring.next_to_use, ring.next_to_clean) == (0, 0)
    send_frames(s, 1200)                                             # more than the ring holds
    assert s.run_task(igb_set_ringparam(s.adapter, 85)) == 0         # -> 88
    assert s.nic.regs.get("TDLEN0") == 88 * 16
    send_frames(s, 200)
    close_and_remove(s)


def test_ringparam_same_size_changes_nothing(system, send_frames, close_and_remove):
    s = system("82576", ring_size=256)
    ring = s.adapter.tx_ring[0]
    desc = ring.desc
    assert s.run_task(igb_set_ringparam(s.adapter, 250)) == 0        # 250 -> 256: unchanged
    assert ring.desc == desc and s.adapter.tx_ring_count == 256
    send_frames(s, 50)
    close_and_remove(s)


def test_ringparam_resize_with_packets_in_flight_frees_every_skb(system, close_and_remove):
    s = system("82576", ring_size=256)
    snd = s.sender(cpu=0, queue=0)
    snd.send([skb_from_bytes(s.net.skb, FRAME) for _ in range(400)], burst=32)
    s.run_for(200_000_000)                        # 200 us: a few frames out, the queue stopped (BQL)
    in_ring = s.adapter.tx_ring[0].next_to_use - s.adapter.tx_ring[0].next_to_clean
    held = s.netdev.qdisc.qlen                   # waiting in the qdisc for the stopped queue
    assert in_ring > 0 and held > 0
    assert s.run_task(igb_set_ringparam(s.adapter, 512)) == 0
    assert s.nic.regs.get("TDLEN0") == 512 * 16
    # igb_clean_tx_ring frees what the ring still held at igb_down with dev_kfree_skb_any (a drop),
    # whether or not the NIC had sent it: here they had all left, the cleaner had not run yet.
    # igb_down's carrier off deactivates the qdisc (dev_deactivate): what it held is dropped, and
    # so is what the program writes until the carrier is back (the noop qdisc).
    assert s.net.skb.dropped == in_ring + held + snd.xmit_errors
    s.run_for(20 * MS)
    assert snd.done.triggered and not s.net.skb.live
    assert s.net.skb.consumed + s.net.skb.dropped == 400
    assert s.net.skb.consumed <= len(s.wire.a_to_b) <= 400
    assert all(f == FRAME for f in s.frames())
    close_and_remove(s)


# --- igb_set_coalesce ----------------------------------------------------------------------------
@pytest.mark.parametrize("usecs,setting,itr_val", [
    (0, 0, 0), (1, 1, 648), (3, 3, 648), (10, 40, 40), (50, 200, 200), (10000, 40000, 40000),
])
def test_coalesce_accepts_0_1_3_and_10_to_10000(usecs, setting, itr_val, system):
    s = system("82576", up=False)        # 2 queues of 8: not paired, tx-usecs allowed
    a = s.adapter
    assert not a.flags & IGB_FLAG_QUEUE_PAIRS
    assert igb_set_coalesce(a, rx_usecs=usecs, tx_usecs=usecs) == 0
    assert (a.rx_itr_setting, a.tx_itr_setting) == (setting, setting)
    c = igb_get_coalesce(a)
    assert (c["rx_coalesce_usecs"], c["tx_coalesce_usecs"]) == (usecs, usecs)
    assert [(q.itr_val, q.set_itr) for q in a.q_vector] == [(itr_val, 1)] * a.num_q_vectors


@pytest.mark.parametrize("usecs", [2, 4, 9, 10001, -1, -10])
@pytest.mark.parametrize("which", ["rx_usecs", "tx_usecs"])
def test_coalesce_rejects_2_4_to_9_above_10000_and_negative_and_changes_nothing(which, usecs, system):
    s = system("82576", up=False)
    a = s.adapter
    assert igb_set_coalesce(a, rx_usecs=50, tx_usecs=20) == 0
    for q in a.q_vector:
        q.set_itr = 0
    before = (a.rx_itr_setting, a.tx_itr_setting, [(q.itr_val, q.set_itr) for q in a.q_vector])
    assert igb_set_coalesce(a, **{which: usecs}) == -EINVAL == -22
    assert (a.rx_itr_setting, a.tx_itr_setting, [(q.itr_val, q.set_itr) for q in a.q_vector]) == before


def test_coalesce_tx_usecs_is_refused_while_queues_are_paired(system):
    s = system("82576", queues=8, up=False)   # 8 > 8/2: paired
    a = s.adapter
    assert a.flags & IGB_FLAG_QUEUE_PAIRS
    assert igb_set_coalesce(a, tx_usecs=50) == -EINVAL
    assert igb_get_coalesce(a)["tx_coalesce_usecs"] == 0
    assert igb_set_coalesce(a, rx_usecs=50) == 0  # TX follows RX
    assert (a.rx_itr_setting, a.tx_itr_setting) == (200, 200)
    assert [q.itr_val for q in a.q_vector] == [200] * 8


def test_coalesce_0_writes_eitr_0x4_at_the_next_interrupt_and_stays_there(system, send_frames, close_and_remove,
                                                                          eitr_writes, tx_vector):
    s = system("82576", up=False)
    writes = eitr_writes(s)
    assert s.open() == 0
    send_frames(s, 100)
    q, v = tx_vector(s)
    assert q.itr_val == 769                       # adaptive before
    n = len(writes)
    assert igb_set_coalesce(s.adapter, tx_usecs=0) == 0
    assert writes[n:] == []                       # not written by ethtool itself
    send_frames(s, 300)
    assert [w for vec, w in writes[n:] if vec == v] == [0x4 | CNT_IGNR]   # once: no adaptive updates at 0
    assert q.itr_val == 0
    assert s.nic.irq.read_eitr(v) == 0x4
    close_and_remove(s)


@pytest.mark.parametrize("before_open", [False, True])
def test_coalesce_50us_writes_itr_val_200_at_the_next_interrupt(before_open, system, send_frames, close_and_remove,
                                                                 eitr_writes, tx_vector):
    s = system("82576", up=False)
    writes = eitr_writes(s)
    if before_open:
        assert igb_set_coalesce(s.adapter, tx_usecs=50) == 0
    assert s.open() == 0
    q, v = tx_vector(s)
    if not before_open:
        assert igb_set_coalesce(s.adapter, tx_usecs=50) == 0
    assert q.itr_val == 200
    send_frames(s, 300)
    assert [w for vec, w in writes if vec == v][-1] == 200 | CNT_IGNR == 0x800000C8
    assert q.itr_val == 200                       # fixed: the traffic does not move it
    assert s.nic.irq.read_eitr(v) == 200
    close_and_remove(s)


# --- igb_set_channels -----------------------------------------------------------------------------
def expected_vectors(nic, n):
    max_q = {"82576": 8, "i210": 4}[nic]
    paired = n > max_q // 2
    q_vectors = n if paired else 2 * n
    return paired, q_vectors, q_vectors + 1


def check_layout(s, nic, n):
    a = s.adapter
    paired, q_vectors, numvecs = expected_vectors(nic, n)
    assert a.rss_queues == n and a.num_tx_queues == n and a.num_rx_queues == n
    assert bool(a.flags & IGB_FLAG_QUEUE_PAIRS) == paired
    assert a.num_q_vectors == len(a.q_vector) == q_vectors
    assert len(a.msix_entries) == numvecs
    assert len(a.tx_ring) == n and s.netdev.real_num_tx_queues == n
    assert sorted(r.queue_index for r in a.tx_ring) == list(range(n))
    assert igb_get_channels(a)["combined_count"] == n


@pytest.mark.parametrize("nic,n", [("82576", n) for n in range(1, 9)] + [("i210", n) for n in range(1, 5)])
def test_channels_reinitialise_queues_and_vectors(nic, n, system, send_frames, close_and_remove):
    s = system(nic, up=False)
    assert s.run_task(igb_set_channels(s.adapter, n)) == 0
    check_layout(s, nic, n)
    assert s.open() == 0
    for i, q in enumerate(s.adapter.q_vector):
        assert q.itr_register.offset == E1000_EITR(i + 1)
    send_frames(s, 40, queue=n - 1)
    close_and_remove(s)


@pytest.mark.parametrize("nic,bad", [("82576", 0), ("82576", 9), ("82576", -1), ("i210", 0), ("i210", 5)])
def test_channels_out_of_range_are_rejected_and_change_nothing(nic, bad, system, send_frames, close_and_remove):
    s = system(nic)
    a = s.adapter
    before = (a.rss_queues, a.flags, list(a.q_vector), list(a.tx_ring), list(a.msix_entries))
    assert s.run_task(igb_set_channels(a, bad)) == -EINVAL
    assert (a.rss_queues, a.flags, list(a.q_vector), list(a.tx_ring), list(a.msix_entries)) == before
    send_frames(s, 20)
    close_and_remove(s)


@pytest.mark.parametrize("nic,sequence", [("82576", [4, 5, 1, 8, 2]), ("i210", [3, 1, 4, 2])])
def test_channels_on_a_running_device_still_transmit_on_every_queue(nic, sequence, system, send_frames,
                                                                    close_and_remove):
    s = system(nic)
    for n in sequence:
        assert s.run_task(igb_set_channels(s.adapter, n)) == 0
        check_layout(s, nic, n)
        for queue in range(n):
            send_frames(s, 30, queue=queue)
        assert s.net.skb.dropped == 0
    close_and_remove(s)


def test_channels_keep_the_ring_size_and_a_fixed_coalesce_setting(system, send_frames, close_and_remove):
    s = system("82576")
    assert igb_set_coalesce(s.adapter, rx_usecs=20, tx_usecs=50) == 0
    assert s.run_task(igb_set_ringparam(s.adapter, 512)) == 0
    assert s.run_task(igb_set_channels(s.adapter, 3)) == 0
    a = s.adapter
    assert [q.itr_val for q in a.q_vector if q.rx_ring_index is not None] == [80] * 3
    assert [q.itr_val for q in a.q_vector if q.rx_ring_index is None] == [200] * 3
    assert [r.count for r in a.tx_ring] == [512] * 3
    assert [s.nic.regs.get(f"TDLEN{r.reg_idx}") for r in a.tx_ring] == [512 * 16] * 3
    send_frames(s, 40, queue=2)
    close_and_remove(s)
