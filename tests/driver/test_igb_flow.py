"""Flow control and completion: queue stop/wake on a full ring, the NAPI work limit, BQL, re-arming.

Thresholds from igb_facts §3.4–§3.8 and §4: igb_xmit_frame_ring needs
``count + 3`` free descriptors; igb_tx_map stops the queue early when
fewer than DESC_NEEDED = MAX_SKB_FRAGS + 4 = 21 are free; igb_clean_tx_irq
wakes it when at least TX_WAKE_THRESHOLD = 2 × 21 = 42 are free, and
cleans at most IGB_DEFAULT_TX_WORK = 128 packets per call.
"""
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

import driver.igb.clean as clean_mod
import driver.igb.interrupts as irq_mod
import driver.igb.xmit as xmit_mod
from driver.igb.igb import TXD_USE_COUNT, igb_desc_unused
from sim.engine import MS
from sim.assembly.skbs import frame_seq, make_skb, numbered_frame
from stack.core.netdevice import netdev_get_tx_queue
from stack.core.skbuff import skb_from_bytes

DESC_NEEDED, TX_WAKE_THRESHOLD, WORK_LIMIT = 21, 42, 128


@pytest.fixture
def watch(monkeypatch):
    """Record igb_desc_unused at every stop and wake the driver does, and at every accepted xmit."""
    events = []

    def wrap(mod, name, kind):
        inner = getattr(mod, name)

        def wrapper(dev, index):
            ring = dev.priv.tx_ring[index]
            events.append((kind, igb_desc_unused(ring)))
            return inner(dev, index)
        monkeypatch.setattr(mod, name, wrapper)

    wrap(xmit_mod, "netif_stop_subqueue", "stop")
    wrap(xmit_mod, "netif_wake_subqueue", "reprieve")
    wrap(clean_mod, "netif_wake_subqueue", "wake")
    inner_ring = xmit_mod.igb_xmit_frame_ring

    def xmit_ring(skb, ring):
        count = TXD_USE_COUNT(skb.len - skb.data_len) + sum(TXD_USE_COUNT(f.size) for f in skb.shinfo.frags)
        free = igb_desc_unused(ring)
        rc = inner_ring(skb, ring)
        events.append(("busy" if rc else "accepted", free, count))
        return rc
    monkeypatch.setattr(xmit_mod, "igb_xmit_frame_ring", xmit_ring)
    return events


@pytest.mark.parametrize("nic", ["82576", "i210"])
def test_flooding_an_80_descriptor_ring_stops_and_wakes_at_the_thresholds(nic, watch, system, no_bql_limit):
    s = system(nic, ring_size=80)
    no_bql_limit(s)
    sizes = [60, 1514, 300, 1514, 1514, 900]
    frames = [numbered_frame(n, sizes[n % len(sizes)]) for n in range(600)]
    skbs = [skb_from_bytes(s.net.skb, f, n % 3) for n, f in enumerate(frames)]  # 1-3 descriptors each
    sender = s.sender()
    sender.send(skbs, burst=16)
    s.run_for(50 * MS)
    assert [frame_seq(f) for f in s.frames()] == list(range(600))      # every packet once, in order
    assert s.frames() == frames
    stops = [free for kind, free, *_ in watch if kind == "stop"]
    wakes = [free for kind, free, *_ in watch if kind == "wake"]
    assert stops and wakes, "the ring never filled"
    assert all(free < DESC_NEEDED for free in stops)   # tx_map stops early, below 21 free
    assert all(free >= TX_WAKE_THRESHOLD for free in wakes)
    accepted = [(free, count) for kind, free, *rest in watch if kind == "accepted" for count in rest]
    assert all(free >= count + 3 for free, count in accepted)
    assert s.netdev.qdisc.stats()["requeues"] > 0      # skbs waited in the qdisc for the stopped queue
    ring = s.adapter.tx_ring[0]
    assert ring.tx_stats.restart_queue == len(wakes)
    dql = netdev_get_tx_queue(s.netdev, 0).dql
    assert dql.inflight == 0 and dql.num_completed == sum(len(f) for f in frames)
    s.close()
    s.net.skb.assert_no_leaks()


def test_napi_cleans_at_most_128_packets_per_poll_and_rearms_after_completing(monkeypatch, system, no_bql_limit):
    s = system("82576", ring_size=1024)
    no_bql_limit(s)
    s.adapter.tx_itr_setting = 10_000 << 2          # ethtool -C tx-usecs 10000: one IRQ per 10 ms
    for q in s.adapter.q_vector:
        q.itr_val, q.set_itr = s.adapter.tx_itr_setting, 1
    tx_q = s.adapter.tx_ring[0].q_vector
    cleaned, rearmed = [], []
    inner_clean, inner_enable = irq_mod.igb_clean_tx_irq, irq_mod.igb_ring_irq_enable

    masked = []

    def clean(q, budget):
        s.host.drain_all()
        s.host.mmio.flush_posted()
        masked.append(not s.nic.irq.read_eims() & q.eims_value)   # EIAM auto-masked the vector
        before = q.tx.ring.tx_stats.packets
        done = inner_clean(q, budget)
        if q is tx_q:   # the other queues' vectors are polled too, after the watchdog's first kick
            cleaned.append((q.tx.ring.tx_stats.packets - before, done))
        return done

    def enable(q):
        inner_enable(q)
        s.host.drain_all()           # the EIMS write leaves the store buffer…
        s.host.mmio.flush_posted()   # …and lands: observe the NIC's mask right after the re-arm
        if q is tx_q:   # the RX-only vectors also re-arm after the watchdog's first kick
            rearmed.append(bool(s.nic.irq.read_eims() & q.eims_value))
    completed = []
    inner_complete = irq_mod.napi_complete_done

    def complete(napi, work):
        ok = inner_complete(napi, work)
        if napi is tx_q.napi:   # False when a schedule was MISSED during the poll: NAPI polls again
            completed.append(ok)
        return ok
    monkeypatch.setattr(irq_mod, "igb_clean_tx_irq", clean)
    monkeypatch.setattr(irq_mod, "igb_ring_irq_enable", enable)
    monkeypatch.setattr(irq_mod, "napi_complete_done", complete)
    # a first packet makes the vector write its 10 ms EITR; then 500 packets arrive within one interval
    s.sender().send([skb_from_bytes(s.net.skb, numbered_frame(0, 60))])
    s.run_for(1 * MS)
    frames = [numbered_frame(n, 60) for n in range(1, 501)]
    s.sender().send([skb_from_bytes(s.net.skb, f) for f in frames], burst=32)
    s.run_for(30 * MS)
    assert s.frames()[1:] == frames
    assert max(n for n, _ in cleaned) == WORK_LIMIT           # a poll never takes more than 128
    full = [done for n, done in cleaned if n == WORK_LIMIT]
    assert full and not any(full)                             # …and then it asks to be polled again
    assert sum(n for n, _ in cleaned) == 501
    assert all(masked)                                        # no interrupt while NAPI polls
    assert rearmed and all(rearmed)                           # EIMS bit set again after napi_complete_done
    assert len(completed) == sum(1 for n, done in cleaned if done)   # a finished poll completes NAPI…
    assert len(rearmed) == sum(completed)                              # …and re-arms unless MISSED
    assert netdev_get_tx_queue(s.netdev, 0).dql.inflight == 0
    assert s.kernel.cpu.load(tx_q.napi.state_addr, 8) == 0   # idle: not scheduled, not disabled
    s.close()
    s.net.skb.assert_no_leaks()


def test_a_packet_needing_more_than_the_free_descriptors_gets_busy_then_goes(watch, system, no_bql_limit):
    """count + 3 > free: NETDEV_TX_BUSY (the "hard error"), queue stopped, retried after the wake.

    A TSO skb of 54 header bytes, 16 frags of 1000 B and one of 33000 B needs
    1 + 16 + 2 = 19 descriptors, so 22 free. The ring (80) is left with
    exactly 21 free while the transmitter is stopped: 26 full frames fill
    the 40 KiB packet buffer (26 × 1518 ≤ 40960 < 27 × 1518) and complete,
    then 58 more wait in the ring (79 − 58 = 21, not below DESC_NEEDED).
    """
    s = system("82576", ring_size=80)
    no_bql_limit(s)
    s.nic.mmio_write(0x400, 4, s.nic.regs.get("TCTL") & ~0x2)      # TCTL.EN off
    sender = s.sender()
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1514)) for n in range(26)], burst=26)
    s.run_for(2 * MS)
    ring = s.adapter.tx_ring[0]
    assert ring.tx_stats.packets == 26 and igb_desc_unused(ring) == 79
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1514)) for n in range(26, 84)], burst=58)
    s.run_for(2 * MS)
    assert igb_desc_unused(ring) == 21 and not s.frames()
    payload = bytes(range(256)) * 191 + bytes(49000 - 256 * 191)
    tso = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2")
           / TCP(sport=5001, dport=80, seq=1000, flags="PA") / payload)
    big = make_skb(s.net, bytes(tso), headlen=54, frag_sizes=[1000] * 16 + [33000], gso_size=1448)
    sender.send([big])
    s.run_for(1 * MS)
    assert ("busy", 21, 19) in watch and [kind for kind, *_ in watch].count("busy") == 1
    assert any(kind == "stop" and free == 21 for kind, free, *_ in watch)   # __igb_maybe_stop_tx
    s.nic.mmio_write(0x400, 4, s.nic.regs.get("TCTL") | 0x2)       # the transmitter resumes
    s.run_for(20 * MS)
    frames = s.frames()
    assert [frame_seq(f) for f in frames[:84]] == list(range(84))
    segments = frames[84:]
    assert len(segments) == -(-49000 // 1448)                        # 34 segments, after the wait
    assert b"".join(f[54:] for f in segments) == payload
    assert netdev_get_tx_queue(s.netdev, 0).dql.inflight == 0
    s.close()
    s.net.skb.assert_no_leaks()
