"""The NIC end to end through its ports: timing from first principles, write-back modes, interrupts, faults.

Expected values are arithmetic written out here from the PCIe, Ethernet and
datasheet facts (igb_facts §1.5, §6.1–§6.4), not read off the model.
"""
import pytest

from sim.assembly.nic_harness import BAR0, NicTestHost
from tests.rtl_model.frames import frame, tags
from rtl_model import descriptors as d

NS = 1000
US = 1_000_000


def make_host(**kw):
    h = NicTestHost(**kw)
    return h


def ready(h, ring_size=256, **ring_kw):
    ring = h.setup_tx_ring(0, ring_size, **ring_kw)
    h.enable_tx()
    h.run_for(10 * US)
    return ring


# --- timing ------------------------------------------------------------------------
def test_first_frame_latency_is_mmio_plus_fetch_plus_read_plus_serialisation():
    """One 60-byte frame (64 with FCS), ring and buffer below 4 GiB, 2.5 GT/s x4 (1 ns per byte).

    * posted MMIO write of TDT reaches the NIC: 150 ns (PcieLink default);
    * descriptor fetch, 16 bytes: 600 ns latency + request TLP 20 B + completion 16+20 B = 656 ns;
    * buffer read, 60 bytes (one completion): 600 + 20 + (60+20) = 700 ns;
    * serialisation: preamble/SFD 8 + 64 bytes at 8 ns/byte = 576 ns to the last FCS bit;
    * each of the two DMA reads waits the DMA read jitter on top: fixed here at 130 ns (a
      local DRAM miss, sim.host.timing), the store-buffer drain of the TDT write at 0.
    """
    jitter = 130 * NS
    h = make_host(drain_delay_ps=0, dma_read_jitter_ps=jitter)
    ring = ready(h)
    t0 = h.engine.now
    h.send(ring, [frame(60)])
    h.run()
    (f, start, end), = h.wire
    assert len(f) == 64
    last_bit = end - 12 * 8 * NS  # the MAC reports the end including the 12-byte gap
    assert last_bit - t0 == 150 * NS + (656 * NS + jitter) + (700 * NS + jitter) + 576 * NS


@pytest.mark.parametrize("payload,wire_ns", [(1514, 12_304), (60, 672)])
def test_back_to_back_frames_leave_at_line_rate(payload, wire_ns):
    """At 1 Gb/s a 1518-byte frame takes 12.304 us and a 64-byte one 672 ns, gap and preamble included."""
    n = 200
    h = make_host()
    ring = ready(h, ring_size=512)
    h.send(ring, [frame(payload, i % 256) for i in range(n)])
    h.run()
    assert len(h.wire) == n
    first_start = h.wire[0][1]
    last_end = h.wire[-1][2]
    expected = n * wire_ns * NS
    assert abs((last_end - first_start) - expected) <= expected / 1000
    assert all(a[2] <= b[1] for a, b in zip(h.wire, h.wire[1:]))


def test_eitr_spaces_interrupts_under_continuous_traffic():
    """EITR 50 us, one message per interval at most under load (facts §6.4); the handler re-enables EIMS."""
    h = make_host()
    ring = ready(h, ring_size=1024)
    h.setup_msix([0], eitr_us=50, reenable=True)
    h.run_for(10 * US)
    h.send(ring, [frame(1514, i % 256) for i in range(600)])  # ~7.4 ms of traffic
    h.run()
    sent = h.nic.irq.msix_times[1]          # when the NIC issued each message
    arrived = [t for t, name in h.interrupts if name == "tx0"]
    assert len(sent) == len(arrived) > 20
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= 50 * US
    # a message is a posted write: it may wait behind write-backs, never overtake them
    assert all(a >= s for s, a in zip(sent, arrived))


# --- write-back modes ------------------------------------------------------------
def test_wthresh_0_writes_back_rs_descriptors_only():
    """WTHRESH = 0: only descriptors with RS are written back, right after processing (facts §6.2)."""
    h = make_host()
    ring = ready(h, wthresh=0)
    for i in range(4):
        h.post(ring, frame(100, i), rs=(i % 2 == 1))
    h.ring_doorbell(ring)
    h.run()
    assert [h.dd(ring, i) for i in range(4)] == [False, True, False, True]


def test_wthresh_1_writes_back_every_descriptor_as_processed():
    """WTHRESH = 1 (igb on 82576 with MSI-X): every processed descriptor, RS or not, gets DD."""
    h = make_host()
    ring = ready(h, wthresh=1)
    for i in range(4):
        h.post(ring, frame(100, i), rs=False)
    h.ring_doorbell(ring)
    h.run()
    assert [h.dd(ring, i) for i in range(5)] == [True] * 4 + [False]


def test_wthresh_16_bursts_on_threshold_and_on_eitr_expiry():
    """WTHRESH = 16: write-back when 16 are ready, the rest when the vector's EITR interval expires."""
    h = make_host()
    ring = ready(h, wthresh=16)
    h.setup_msix([0], eitr_us=100)
    h.run_for(10 * US)
    t0 = h.engine.now
    h.send(ring, [frame(100, i) for i in range(20)])
    h.run(t0 + 50 * US)  # all 20 processed by now; only the first 16 written back
    assert [h.dd(ring, i) for i in range(20)] == [True] * 16 + [False] * 4
    h.run()
    assert all(h.dd(ring, i) for i in range(20))


def test_swflsh_flushes_accumulated_write_backs():
    """TXDCTL.SWFLSH forces the accumulated descriptors out (facts §1.5)."""
    h = make_host()
    ring = ready(h, wthresh=16)
    h.setup_msix([0], eitr_us=4000)  # a long throttle interval: nothing flushes by itself for 4 ms
    t0 = h.engine.now
    h.send(ring, [frame(100, i) for i in range(3)])
    h.run(t0 + 1000 * US)
    assert not any(h.dd(ring, i) for i in range(3))
    txdctl = h.nic.regs.get("TXDCTL0")
    h.wr32("TXDCTL0", txdctl | 0x0400_0000)
    h.run(h.engine.now + 10 * US)
    assert all(h.dd(ring, i) for i in range(3))


def test_head_writeback_writes_the_head_not_dd():
    """TDWBAL bit 0: the head index goes to TDWBAH:TDWBAL, no descriptor gets DD (facts §6.3)."""
    h = make_host()
    wb = h.host.dma.dma_alloc_coherent(64)
    ring = ready(h, head_wb_addr=wb.dma_addr)
    h.send(ring, [frame(100, i) for i in range(5)])
    h.run()
    assert h.host.mem.read32(wb.cpu_addr) == 5
    assert not any(h.dd(ring, i) for i in range(5))


def test_tdh_reaches_tdt_and_counts_processed_descriptors():
    h = make_host()
    ring = ready(h)
    h.send(ring, [frame(100, i) for i in range(7)])
    h.run()
    assert h.rd32("TDH0") == 7 == h.rd32("TDT0")


# --- gating, bad input, faults ------------------------------------------------------
def test_nothing_leaves_until_tctl_en():
    """Descriptors and data are fetched with the queue enabled, but the wire waits for TCTL.EN (facts §1.5)."""
    h = make_host()
    ring = h.setup_tx_ring(0, 64)
    h.run_for(10 * US)
    h.send(ring, [frame(100)])
    h.run_for(100 * US)
    assert h.wire == [] and h.dd(ring, 0)
    h.enable_tx()
    h.run()
    assert len(h.wire) == 1


def test_tdt_outside_the_ring_is_ignored_and_nothing_is_lost():
    h = make_host()
    ring = ready(h, ring_size=64)
    h.send(ring, [frame(100, 1)])
    h.run()
    h.wr32("TDT0", 64)  # one past the last index
    h.run()
    assert h.nic.queues[0].counters["tdt_out_of_range"] == 1
    assert h.rd32("TDT0") == 1
    h.send(ring, [frame(100, 2)])
    h.run()
    assert tags(h) == [1, 2]


def test_buffer_dma_fault_stops_the_queue_and_raises_a_cause():
    """An unmapped buffer: IOMMU fault recorded, queue stopped, DOUTSYNC cause; no exception."""
    h = make_host()
    ring = ready(h)
    h.post(ring, frame(100, 1))
    # a descriptor whose buffer address was never mapped
    h._write_desc(ring, d.encode_adv_data(0xDEAD_0000, 100, eop=True, rs=True, paylen=100))
    h.post(ring, frame(100, 3))
    h.ring_doorbell(ring)
    h.run()
    assert tags(h) == [1]
    assert h.host.iommu.faults and h.host.iommu.faults[0].iova == 0xDEAD_0000
    assert h.nic.queues[0].faulted
    assert h.rd32("ICR") & 0x1000_0000


def test_malformed_packet_is_dropped_counted_and_completed():
    """TSE with MSS 0: the packet is dropped and counted, its descriptors still complete."""
    h = make_host()
    ring = ready(h)
    h._write_desc(ring, d.encode_adv_context(iplen=20, maclen=14, tucmd_ipv4=True, l4t="tcp", l4len=20, mss=0))
    addr = h._map_buffer(frame(200))
    h._write_desc(ring, d.encode_adv_data(addr, 200, eop=True, rs=True, tse=True, txsm=True, ixsm=True,
                                          paylen=200 - 54))
    h.post(ring, frame(100, 9))
    h.ring_doorbell(ring)
    h.run()
    assert h.nic.counters["malformed_drops"] == 1
    assert tags(h) == [9]
    assert h.dd(ring, 1) and h.dd(ring, 2)


def test_unknown_register_reads_zero_and_ignores_writes():
    h = make_host()
    h.cpu.writel(0x1234_5678, BAR0 + 0x1FFF0)
    h.run()
    assert h.cpu.readl(BAR0 + 0x1FFF0) == 0


def test_statistics_count_frames_and_clear_on_read():
    """GPTC/TPT count frames, GOTC octets with FCS, PTC64/PTC1522 buckets (facts §1.8)."""
    h = make_host()
    ring = ready(h)
    h.send(ring, [frame(60, 1), frame(1514, 2), frame(60, 3)])
    h.run()
    assert h.rd32("GPTC") == 3
    assert h.rd32("GPTC") == 0
    assert h.rd32("PTC64") == 2 and h.rd32("PTC1522") == 1
    assert h.rd32("GOTCL") == 64 + 1518 + 64


def test_msix_message_never_overtakes_its_write_back():
    """When a message lands, every write-back the NIC posted before issuing it is already in memory."""
    h = make_host()
    ring = ready(h, wthresh=1)
    h.setup_msix([0], reenable=True)
    h.run_for(10 * US)
    trace = h.engine.start_trace()
    promised = []   # per message: descriptor indices written back before it was issued
    post_msi = h.nic.dma.msi

    def msi(address, data):
        promised.append([r[3] for r in trace if r[1] == "txq0" and r[2] == "writeback"])
        post_msi(address, data)

    h.nic.dma.msi = msi
    checks = []
    name = "nic-tx0"
    data = next(k for k, (n, _) in h.host.msi._handlers.items() if n == name)
    _, inner = h.host.msi._handlers[data]

    def handler(device_count):
        indices = promised[len(checks)]
        checks.append(all(h.dd(ring, i) for i in indices))
        inner(device_count)

    h.host.msi._handlers[data] = (name, handler)
    h.send(ring, [frame(100, i) for i in range(30)])
    h.run()
    assert len(checks) == len(promised) > 1 and all(checks)


def test_queues_are_served_round_robin():
    """Two busy queues share the wire packet by packet (fair arbitration)."""
    h = make_host()
    r0 = h.setup_tx_ring(0, 64)
    r1 = h.setup_tx_ring(1, 64)
    h.enable_tx()
    h.run_for(10 * US)
    for i in range(10):
        h.post(r0, frame(200, 0))
        h.post(r1, frame(200, 1))
    h.ring_doorbell(r0)
    h.ring_doorbell(r1)
    h.run()
    seen = tags(h)
    assert sorted(seen) == [0] * 10 + [1] * 10
    # queue 0's descriptors arrive first, so its first packets_in_flight packets are taken
    # before queue 1 has any; from then on the queues alternate until queue 0 runs dry
    k = h.nic.packets_in_flight
    assert seen[:k] == [0] * k
    assert seen[k:2 * (10 - k) + k] == [1, 0] * (10 - k)


def test_legacy_intx_level_follows_icr_and_ims():
    """Without MSI-X: TXDW sets ICR, the INTx line rises while ICR & IMS, an ICR read lowers it (facts §1.6)."""
    h = make_host()
    ring = ready(h, wthresh=0)
    h.wr32("IMS", 0x1)  # TXDW
    h.run_for(10 * US)
    h.send(ring, [frame(100)])
    h.run()
    assert h.host.msi.intx_level
    assert h.rd32("ICR") & 0x1
    h.run()
    assert not h.host.msi.intx_level


def test_i210_profile_sends_through_its_queue_registers():
    """I210: 4 queues at 0xE000 + 0x40 n (facts §1.2), row-major IVAR, same data path."""
    h = make_host(profile="i210")
    ring = h.setup_tx_ring(3, 64)
    h.setup_msix([3])
    h.enable_tx()
    h.run_for(10 * US)
    h.send(ring, [frame(100, 7)])
    h.run()
    assert tags(h) == [7]
    assert [name for _, name in h.interrupts] == ["tx3"]


# --- descriptor fetch policy (facts §6.1) ------------------------------------------------
def fetches(h):
    return [(r[3], r[4]) for r in h.engine.records if r[1] == "txq0" and r[2] == "fetch"]


def test_empty_queue_fetches_everything_available_and_never_past_tdt():
    h = make_host()
    ring = ready(h, ring_size=64)
    h.engine.start_trace()
    h.send(ring, [frame(100, i) for i in range(5)])
    h.run()
    assert fetches(h) == [(0, 5)]


def test_a_fetch_stops_at_the_ring_end():
    """Indices 62, 63 then 0, 1: two DMA requests, the first ending at the last descriptor."""
    h = make_host()
    ring = ready(h, ring_size=64)
    h.send(ring, [frame(100, i) for i in range(62)])
    h.run()
    h.engine.start_trace()
    h.send(ring, [frame(100, i) for i in range(4)])
    h.run()
    assert fetches(h) == [(62, 2), (0, 2)]


def _stalled_queue(pthresh, hthresh, cached):
    """A queue whose cache holds ``cached`` whole one-descriptor packets that cannot move on."""
    h = make_host()
    ring = ready(h, ring_size=64, pthresh=pthresh, hthresh=hthresh)
    q = h.nic.queues[0]
    h.nic.packets_in_flight = 0          # hold every packet in the cache
    h.send(ring, [frame(100, i) for i in range(cached)])
    h.run()
    assert len(q.cache) == cached and not q.fetching
    h.engine.start_trace()
    return h, ring, q


def test_prefetch_waits_for_hthresh_descriptors_in_host_memory():
    h, ring, q = _stalled_queue(pthresh=8, hthresh=4, cached=2)
    h.send(ring, [frame(100, i) for i in range(3)])  # 3 available < HTHRESH 4
    h.run()
    assert fetches(h) == []
    h.send(ring, [frame(100)])                        # now 4 available
    h.run()
    assert fetches(h) == [(2, 4)]


def test_no_prefetch_while_the_cache_holds_pthresh_descriptors():
    h, ring, q = _stalled_queue(pthresh=4, hthresh=1, cached=4)
    h.send(ring, [frame(100, i) for i in range(6)])
    h.run()
    assert fetches(h) == []


def test_intx_assert_never_overtakes_its_write_back():
    """Assert_INTx is a posted message: when the line rises, the DD it announces is in memory."""
    h = make_host()
    ring = ready(h, wthresh=0)
    h.wr32("IMS", 0x1)
    h.run_for(10 * US)
    seen = []
    h.host.msi.intx_handlers.append(lambda level: level and seen.append(h.dd(ring, 0)))
    h.send(ring, [frame(100)])
    h.run()
    assert seen == [True]
    assert h.nic.dma.intx_delivered[0][0] > h.nic.irq.intx_changes[0][0]


def test_register_read_pushes_posted_write_backs_ahead_of_it():
    """A read completion may not pass the NIC's posted writes: after any register read, DD is there."""
    h = make_host()
    ring = ready(h, wthresh=0)
    h.send(ring, [frame(60)])
    # run until the packet is processed but its write-back has not landed yet
    while not h.nic.queues[0].counters["writebacks"]:
        h.run_for(10 * NS)
    assert not h.dd(ring, 0)
    h.cpu.readl(BAR0 + h.offset("STATUS"))
    assert h.dd(ring, 0)


@pytest.mark.parametrize("spd_sel,mbps,status_bits", [(0, 10, 0), (1, 100, 0x40), (2, 1000, 0x80)])
def test_forced_speed_sets_the_serialisation_rate(spd_sel, mbps, status_bits):
    """CTRL.FRCSPD | SPD_SEL (facts §1.3): a 64-byte frame takes (64 + 20) * 8 bit times."""
    h = make_host()
    ring = ready(h)
    h.wr32("CTRL", 0x800 | spd_sel << 8 | 0x1)
    h.send(ring, [frame(60), frame(60)])
    h.run()
    (_, s0, e0), (_, s1, e1) = h.wire
    assert e0 - s0 == (64 + 20) * 8 * (1_000_000 // mbps)
    assert s1 == e0
    assert h.rd32("STATUS") & 0xC0 == status_bits


def test_wthresh_without_a_throttle_interval_still_writes_back():
    """EITR interval 0 means no throttling: the flush timer expires at once, the ring never stalls."""
    h = make_host()
    ring = ready(h, wthresh=16)
    h.send(ring, [frame(100, i) for i in range(3)])
    h.run()
    assert all(h.dd(ring, i) for i in range(3))
