"""Property tests of the NIC through its ports (hypothesis): bad input never breaks the model.

The NIC sits behind a host it must not trust. These tests drive it only
through sim.assembly.nic_harness.NicTestHost's ports — MMIO from the CPU, descriptors and
buffers in host memory, the doorbell — with random register writes and random
descriptor contents, and check the invariants a board would show:

* nothing raises out of the model: bad input is recorded and logged, DMA the
  IOMMU blocks ends up in ``host.iommu.faults``;
* TDH stays inside the ring and inside the region software handed over: it
  only moves from where it was towards TDT, never past it (facts §6.1);
* every descriptor fetch reads inside [TDBA, TDBA + TDLEN);
* every frame on the wire is a packet the test host published, in ring
  order (frames may be missing — after a fault the queue stops — but never
  invented, duplicated or reordered).

Observation uses the engine trace (``(t, "txqN", "fetch", start, k)``), a
recording wrapper around the DMA engine's read, and the register file's
side-effect-free ``get``; none of them changes what the NIC does.
"""
import os

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rtl_model import descriptors as d
from rtl_model.profiles import get_nic_profile
from rtl_model.regs import build_table, txq_name
from sim.host.iommu import IOVA_BASE, IOVA_SIZE
from sim.assembly.nic_harness import BAR0, BAR0_SIZE, NicTestHost, Offload
from tests.oracle import strip_fcs

# IGBSIM_PROPERTY_EXAMPLES=2000 for a soak run; the default keeps the suite fast.
SETTINGS = settings(max_examples=int(os.environ.get("IGBSIM_PROPERTY_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
US = 1_000_000
TXDCTL_ENABLE = 0x0200_0000
TXDCTL_SWFLSH = 0x0400_0000
TXQ_FIELDS = ("TDBAL", "TDBAH", "TDLEN", "TDH", "TXCTL", "TDT", "TXDCTL", "TDWBAL", "TDWBAH")


# --- shared helpers -----------------------------------------------------------------------------

def unmapped_addr(raw_addr: int) -> int:
    """``raw_addr`` moved out of the IOVA window if it fell inside (so nothing can map it later)."""
    if IOVA_BASE <= raw_addr < IOVA_BASE + IOVA_SIZE:
        return raw_addr ^ (1 << 63)
    return raw_addr


def record_dma_reads(h):
    """Wrap the NIC's DMA read (a generator step) so every request is logged: (iova, n, why)."""
    log = []
    dma = h.nic.dma
    inner = dma.read

    def read(iova, n, why):
        log.append((iova, n, why))
        return (yield from inner(iova, n, why))

    dma.read = read
    return log


def run_checked(h, ps, check):
    """Run the engine for ``ps``, calling ``check()`` after every time step that did something."""
    eng = h.engine
    end = eng.now + ps
    while True:
        t = eng.peek()
        if t is None or t >= end:
            break
        eng.run(t + 1)
        check()
    eng.run(end)
    check()


def on_wire(packet: bytes, vlan):
    """What a published packet looks like on the wire without FCS: VLAN tag, PSP padding."""
    if vlan is not None:
        packet = packet[:12] + (0x8100).to_bytes(2, "big") + vlan.to_bytes(2, "big") + packet[12:]
    return packet + bytes(max(0, 60 - len(packet)))


def assert_subsequence(frames, expected):
    """Each wire frame (FCS stripped) is the next-or-later expected packet: none invented or reordered."""
    j = 0
    for n, frame in enumerate(frames):
        body = strip_fcs(frame)
        while j < len(expected) and expected[j] != body:
            j += 1
        assert j < len(expected), f"wire frame {n} ({len(body)} bytes) is no published packet (in order)"
        j += 1


# --- (a) random register writes ------------------------------------------------------------------

_TABLES = {p: build_table(get_nic_profile(p)) for p in ("82576", "i210")}
_REG_OFFSETS = {p: sorted(t.offset_map()) for p, t in _TABLES.items()}


def _txq_value(field: str, ring_size: int):
    """Values worth writing to a TX queue register: valid, boundary and garbage."""
    any32 = st.integers(0, 0xFFFF_FFFF)
    if field == "TDT" or field == "TDH":
        return st.one_of(st.integers(0, 2 * ring_size), st.integers(0, 0xFFFF), any32)
    if field == "TXDCTL":
        return st.one_of(
            st.builds(lambda en, fl, p, hh, w: en * TXDCTL_ENABLE | fl * TXDCTL_SWFLSH | w << 16 | hh << 8 | p,
                      st.booleans(), st.booleans(), st.integers(0, 31), st.integers(0, 31), st.integers(0, 31)),
            any32)
    if field == "TDLEN":
        return st.one_of(st.sampled_from([0, 128, 16 * ring_size, 0x80000, 0xFFF80]),
                         st.integers(0, 0x1FFF).map(lambda k: 128 * k), any32)
    if field == "TDWBAL":
        return st.one_of(st.integers(0, 0xFFFF_FFFF).map(lambda v: v | 1), any32)
    return any32


@st.composite
def mmio_ops(draw, profile: str, ring_size: int, nqueues: int):
    """A list of MMIO writes/reads and engine runs."""
    ops = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["any", "reg", "txq", "txq", "txq", "read", "run", "run"]))
        if kind == "run":
            ops.append(("run", draw(st.sampled_from([0, 1, 1000, 150_000, 1 * US, 20 * US, 200 * US]))))
            continue
        size = draw(st.sampled_from([1, 2, 4, 4, 4, 8]))
        if kind == "txq":
            field = draw(st.sampled_from(TXQ_FIELDS))
            q = draw(st.integers(0, nqueues - 1))
            off = _TABLES[profile].by_name(txq_name(field, q)).offset
            if draw(st.integers(0, 9)) == 0:
                off += draw(st.integers(1, 3))
            else:
                size = 4
            value = draw(_txq_value(field, ring_size))
        elif kind in ("reg", "read"):
            off = draw(st.sampled_from(_REG_OFFSETS[profile])) + draw(st.sampled_from([0, 0, 0, 1, 2, 3]))
            value = draw(st.integers(0, 2**64 - 1))
        else:
            off = draw(st.integers(0, BAR0_SIZE - 1))
            value = draw(st.integers(0, 2**64 - 1))
        off = min(off, BAR0_SIZE - size)
        value &= (1 << (8 * size)) - 1
        ops.append(("read" if kind == "read" else "write", off, size, value))
    return ops


def _busy_host(profile: str, ring_size: int, eitr_us: int):
    """Two rings programmed, MSI-X on, TX on, packets posted and the doorbells rung: the NIC has work."""
    h = NicTestHost(profile)
    rings = [h.setup_tx_ring(q, ring_size, wthresh=w) for q, w in ((0, 1), (1, 4))]
    h.setup_msix(queues=(0, 1), eitr_us=eitr_us, reenable=True)
    h.enable_tx()
    for r in rings:
        h.send(r, [bytes([r.q]) * n for n in (60, 300, 1514)])
        h.post(r, bytes(range(256)) * 4, Offload(vlan=7), split=100)
        h.ring_doorbell(r)
    return h, rings


@SETTINGS
@given(data=st.data(), profile=st.sampled_from(["82576", "i210"]), ring_size=st.sampled_from([8, 16, 64]),
       eitr_us=st.sampled_from([0, 1, 50]))
def test_random_register_writes_never_raise(data, profile, ring_size, eitr_us):
    h, _ = _busy_host(profile, ring_size, eitr_us)
    nqueues = h.nic.profile.num_tx_queues
    for op in data.draw(mmio_ops(profile, ring_size, nqueues)):
        if op[0] == "run":
            h.run_for(op[1])
        elif op[0] == "read":
            _, off, size, _ = op
            h.cpu.mmio_read(BAR0 + off, size)
        else:
            _, off, size, value = op
            h.cpu.mmio_write(BAR0 + off, size, value)
    h.cpu.drain_all()
    h.run_for(2000 * US)
    assert h.host.mmio.faults == []  # every access hit the BAR
    for q in h.nic.queues:
        assert 0 <= h.nic.regs.get(f"TDH{q.n}") <= 0xFFFF and 0 <= h.nic.regs.get(f"TDT{q.n}") <= 0xFFFF
    assert all(f.who.startswith("nic:") for f in h.host.iommu.faults)


def test_ring_geometry_rewritten_under_traffic():
    """Regressions found by the property above: TDLEN/TDH rewritten while work is in flight.

    TDLEN zeroed with a descriptor fetch or a packet in flight divided by zero;
    TDH written past the ring end while disabled made the next enable issue a
    fetch of a negative length. The datasheet says to program these only while
    the queue is disabled; the model must merely survive and fetch nothing
    outside the ring as it is when the fetch returns.
    """
    cases = {
        "TDLEN 0, fetch in flight": lambda h, r: (h.send(r, [bytes(60)] * 3), h.wr32("TDLEN0", 0)),
        "TDLEN 0, packet in flight": lambda h, r: (h.send(r, [bytes(60)] * 3), h.run_for(900_000),
                                                   h.wr32("TDLEN0", 0)),
        "TDLEN shrunk, fetch in flight": lambda h, r: (h.send(r, [bytes(60)] * 12), h.wr32("TDLEN0", 16 * 8)),
        "TDH past the end at enable": lambda h, r: (h.wr32("TXDCTL0", 0), h.wr32("TDH0", 20),
                                                    h.wr32("TXDCTL0", TXDCTL_ENABLE), h.wr32("TDT0", 3)),
    }
    for name, act in cases.items():
        h = NicTestHost()
        ring = h.setup_tx_ring(0, 16, pthresh=0, hthresh=0, wthresh=0)
        h.enable_tx()
        h.cpu.drain_all()
        h.run()
        trace, reads = h.engine.start_trace(), record_dma_reads(h)
        act(h, ring)
        h.cpu.drain_all()
        h.run()
        q = h.nic.queues[0]
        for rec in trace:
            if rec[1:3] == ("txq0", "fetch"):
                assert rec[3] + rec[4] <= 16, name
        assert all(index < q.ring_size for index, _ in q.cache), name
        assert all(n > 0 for _, n, _ in reads), name
        assert h.host.iommu.faults == [], name


# --- (b) random descriptor contents --------------------------------------------------------------

def packet_bytes(n: int, salt: int) -> bytes:
    """Packet contents: cheap to draw and shrink; ChaosHost.post stamps a serial number on them."""
    return bytes((salt + 7 * i + (i >> 8)) & 0xFF for i in range(n))


def _packet_item(splits=(0, 0, 0, 100, 333, 700), bad=st.integers(0, 2**64 - 2**16).map(unmapped_addr)):
    """A well-formed packet: ("pkt", bytes, split, vlan, legacy, bad_addr or None).

    ``split`` cuts the buffer into descriptors of that many bytes; the default
    choices keep every packet within the 24-descriptor cache. ``bad_addr`` (one
    packet in 16) puts the buffer at an address nothing maps.
    """
    return st.tuples(
        st.just("pkt"),
        st.builds(packet_bytes, st.integers(17, 1514), st.integers(0, 255)),
        st.sampled_from(splits),
        st.one_of(st.none(), st.integers(0, 0xFFFF)),
        st.booleans(),
        st.integers(0, 15).flatmap(lambda k: bad if k == 5 else st.none()),  # not 0 or 15: hypothesis favours ends
    )


def _raw_item():
    """Garbage: ("raw", 16 random bytes) with the buffer address forced out of the IOVA window."""
    return st.tuples(st.just("raw"), st.binary(min_size=16, max_size=16))


def _shaped_item():
    """Random but typed descriptors: a random context, or a data descriptor with random flags."""
    ctx = st.builds(lambda *v: d.encode_adv_context(iplen=v[0], maclen=v[1], vlan=v[2], tucmd_ipv4=v[3],
                                                    l4t=v[4], idx=v[5], l4len=v[6], mss=v[7]),
                    st.integers(0, 511), st.integers(0, 127), st.integers(0, 0xFFFF), st.booleans(),
                    st.sampled_from(d.L4T_NAMES), st.integers(0, 7), st.integers(0, 255),
                    st.integers(0, 0xFFFF))
    data = st.builds(lambda a, n, f, idx, paylen: d.encode_adv_data(
        unmapped_addr(a), n, eop=f & 1 > 0, rs=f & 2 > 0, ifcs=f & 4 > 0, vle=f & 8 > 0, tse=f & 16 > 0,
        txsm=f & 32 > 0, ixsm=f & 64 > 0, idx=idx, paylen=paylen),
        st.integers(0, 2**64 - 1), st.integers(0, 0xFFFF), st.integers(0, 127), st.integers(0, 7),
        st.integers(0, 2**18 - 1))
    legacy = st.builds(lambda a, n, f: d.encode_legacy(unmapped_addr(a), n, eop=f & 1 > 0, rs=f & 2 > 0,
                                                       ifcs=f & 4 > 0, vle=f & 8 > 0),
                       st.integers(0, 2**64 - 1), st.integers(0, 0xFFFF), st.integers(0, 15))
    return st.tuples(st.just("raw"), st.one_of(ctx, data, legacy))


def _rounds(garbage: bool):
    # with garbage, also packets of more descriptors than the cache holds (split 40: up to 38)
    if garbage:
        packet = _packet_item((0, 0, 40, 64, 100, 333))
        item = st.one_of(packet, packet, packet, _raw_item(), _shaped_item())
    else:
        item = _packet_item()
    return st.lists(st.tuples(
        st.lists(item, min_size=1, max_size=12),
        st.sampled_from([0, 1000, 150_000, 2 * US, 20 * US, 100 * US]),   # time to run after the doorbell
        st.booleans() if garbage else st.just(False)),                   # reset the queue first
        min_size=1, max_size=8)


class ChaosHost:
    """The test host plus the bookkeeping of what software published and the invariant checks."""

    def __init__(self, ring_size, pthresh, hthresh, wthresh, eitr_us):
        self.h = h = NicTestHost()
        self.thresholds = (pthresh, hthresh, wthresh)
        self.ring = h.setup_tx_ring(0, ring_size, pthresh=pthresh, hthresh=hthresh, wthresh=wthresh)
        if eitr_us is not None:
            h.setup_msix(queues=(0,), eitr_us=eitr_us, reenable=True)
        h.enable_tx()
        self.size = ring_size
        self.trace = h.engine.start_trace()
        self.reads = record_dma_reads(h)
        self.expected = []          # wire bytes (no FCS) of every well-formed, mapped packet, in ring order
        self.eops = set()           # slots whose latest descriptor is the EOP (RS) of one of those
        self.head_seen = 0          # TDH at the last check
        self.next_to_clean = 0      # software's reclaim index (igb's next_to_clean)
        self.serial = 0
        self.first_bad = None       # len(expected) when the first packet with an unmapped buffer was posted
        self.checking = True
        h.cpu.drain_all()
        h.run()

    # software side ---------------------------------------------------------------------------------
    def free_slots(self):
        """Slots software may write, reclaimed the way igb_clean_tx_irq does it: by DD, not by TDH.

        TDH may run ahead of the write-backs (facts §1.2): a slot reused on the
        strength of TDH alone can be overwritten by the late write-back of its
        previous descriptor. A DD in host memory at slot j means every write-back
        aimed at a slot up to j has landed (they are issued in ring order and
        posted writes stay in order), so everything up to j is free.
        """
        h, ring, size = self.h, self.ring, self.size
        i = self.next_to_clean
        while i != ring.next_to_use:
            if d.has_dd(h.cpu.load_bytes(ring.desc_cpu_addr(i), 16)):
                self.next_to_clean = (i + 1) % size
            i = (i + 1) % size
        return size - 1 - (ring.next_to_use - self.next_to_clean) % size

    def write_raw(self, raw):
        self.eops.discard(self.ring.next_to_use)
        self.h.cpu.store_bytes(self.ring.desc_cpu_addr(self.ring.next_to_use), raw)
        self.ring.next_to_use = (self.ring.next_to_use + 1) % self.size

    def post(self, item) -> None:
        h, ring = self.h, self.ring
        if item[0] == "raw":
            raw = bytearray(item[1])
            addr = int.from_bytes(raw[:8], "little")
            raw[:8] = unmapped_addr(addr).to_bytes(8, "little")
            raw[12] &= 0xFE  # software writes STA (DD) as 0; a set DD would look written back
            if self.free_slots() >= 1:
                self.write_raw(bytes(raw))
            return
        _, packet, split, vlan, legacy, bad_addr = item
        self.serial += 1
        packet = self.serial.to_bytes(4, "big") + packet[4:]  # every published packet is distinct
        pieces = -(-len(packet) // split) if split else 1
        ndesc = pieces + (vlan is not None and not legacy)
        if ndesc > self.free_slots():
            return
        if legacy or bad_addr is not None:
            addr = bad_addr if bad_addr is not None else h._map_buffer(packet)
            step = split or len(packet)
            cuts = [(o, min(step, len(packet) - o)) for o in range(0, len(packet), step)]
            if not legacy and vlan is not None:
                self.write_raw(d.encode_adv_context(vlan=vlan))
            for k, (o, n) in enumerate(cuts):
                eop = k == len(cuts) - 1
                if legacy:
                    self.write_raw(d.encode_legacy(addr + o, n, eop=eop, rs=eop, ifcs=True))
                else:
                    self.write_raw(d.encode_adv_data(addr + o, n, eop=eop, rs=eop, ifcs=True,
                                                     vle=vlan is not None, paylen=len(packet) if k == 0 else 0))
            vlan = None if legacy else vlan
            last = (ring.next_to_use - 1) % self.size
        else:
            first, last = h.post(ring, packet, Offload(vlan=vlan) if vlan is not None else None, split=split)
            self.eops.difference_update((first + k) % self.size for k in range(ndesc))
        if bad_addr is None:
            self.expected.append(on_wire(packet, vlan))
            self.eops.add(last)
        elif self.first_bad is None:
            self.first_bad = len(self.expected)

    def doorbell(self):
        self.h.ring_doorbell(self.ring)

    def reset_queue(self):
        """What igb does to restart a ring: disable, TDH = TDT = 0, enable (facts §1.5)."""
        h, (p, hh, w) = self.h, self.thresholds
        self.checking = False
        h.wr32("TXDCTL0", 0)
        h.wr32("TDH0", 0)
        h.wr32("TDT0", 0)
        h.wr32("TXDCTL0", TXDCTL_ENABLE | w << 16 | hh << 8 | p)
        h.cpu.drain_all()
        h.run_for(h.host.link.posted_write_latency_ps + 1)
        self.ring.next_to_use = self.next_to_clean = 0
        self.head_seen = h.nic.regs.get("TDH0")
        self.checking = True
        run_checked(h, 50 * US, self.check)  # write-backs posted before the reset land before slots are reused

    # invariants ------------------------------------------------------------------------------------------
    def check(self):
        if not self.checking:
            return
        regs = self.h.nic.regs
        head, tail = regs.get("TDH0"), regs.get("TDT0")
        size = self.size
        assert 0 <= head < size, f"TDH {head} outside the ring of {size}"
        assert 0 <= tail < size
        assert (head - self.head_seen) % size <= (tail - self.head_seen) % size, (
            f"TDH moved from {self.head_seen} to {head}, past TDT {tail}")
        self.head_seen = head

    def check_fetches(self):
        base, span = self.ring.dma_addr, 16 * self.size
        for rec in self.trace:
            if rec[1] == "txq0" and rec[2] == "fetch":
                start, k = rec[3], rec[4]
                assert 0 <= start and k >= 1 and start + k <= self.size, f"fetch {start}+{k} outside the ring"
        for iova, n, why in self.reads:
            if "descriptor fetch" in why:
                assert base <= iova and iova + n <= base + span, f"fetch [{iova:#x}, +{n}) outside the ring"
                assert (iova - base) % 16 == 0 and n % 16 == 0 and n > 0

    def check_faults(self):
        faults = self.h.host.iommu.faults
        stops = [rec for rec in self.trace if rec[1] == "txq0" and rec[2] == "fault"]
        assert len(faults) >= len(stops)
        for f in faults:
            assert f.who.startswith("nic:")
            assert not IOVA_BASE <= f.iova < IOVA_BASE + IOVA_SIZE, f"fault on a published IOVA: {f}"


def _play(ch: ChaosHost, rounds):
    for items, run_ps, reset in rounds:
        if reset:
            ch.reset_queue()
        for item in items:
            ch.post(item)
        ch.doorbell()
        run_checked(ch.h, run_ps, ch.check)
    ch.h.cpu.drain_all()
    run_checked(ch.h, 5000 * US, ch.check)
    nic = ch.h.nic
    event(f"frames on the wire: {min(len(ch.h.wire), 10)}{'+' if len(ch.h.wire) >= 10 else ''}")
    event(f"queue stopped by a fault: {nic.queues[0].faulted}")
    event(f"packets dropped: {nic.counters['malformed_drops'] + nic.counters['offload_drops'] > 0}")
    event(f"queue resets: {sum(1 for r in rounds if r[2])}")


# WTHRESH > 1 without an EITR interval never flushes a partial burst, so no DD, no reclaim: the ring
# then fills and stays full (correct, but it stops the test); weight the choices towards progress.
thresholds = dict(pthresh=st.integers(0, 31), hthresh=st.integers(0, 31),
                  wthresh=st.one_of(st.sampled_from([0, 1]), st.integers(0, 23)),
                  eitr_us=st.sampled_from([None, 0, 10, 10]))


def _pkt(n, split=0, legacy=False, bad=None):
    return ("pkt", packet_bytes(n, 0), split, None, legacy, bad)


@SETTINGS
@given(ring_size=st.sampled_from([8, 16, 32, 64]), rounds=_rounds(garbage=True), **thresholds)
# Regression: the queue re-enabled while a descriptor fetch was in flight took the stale
# descriptors into the new ring state: 3 frames sent and TDH = 3 with TDT = 0.
@example(ring_size=8, rounds=[([_pkt(17)] * 3, 0, False), ([], 0, True)],
         pthresh=0, hthresh=0, wthresh=0, eitr_us=None)
# Regression: a packet longer than the descriptor cache is dropped up to its EOP; with reads
# pipelined, its tail was taken before the drop committed and went out as a frame of its own.
@example(ring_size=32, rounds=[([_pkt(41, 40), ("raw", bytes(16)), _pkt(937, 40, legacy=True)], 0, False)],
         pthresh=0, hthresh=0, wthresh=0, eitr_us=None)
def test_random_descriptors_keep_ring_invariants(ring_size, rounds, pthresh, hthresh, wthresh, eitr_us):
    ch = ChaosHost(ring_size, pthresh, hthresh, wthresh, eitr_us)
    _play(ch, rounds)
    ch.check_fetches()
    ch.check_faults()
    assert_subsequence([f for f, _, _ in ch.h.wire], ch.expected)
    for (_, s0, e0), (_, s1, _) in zip(ch.h.wire, ch.h.wire[1:]):
        assert s0 <= s1 and e0 <= s1


@SETTINGS
@given(ring_size=st.sampled_from([8, 16, 32, 64]), rounds=_rounds(garbage=False), **thresholds)
# Regression: the third packet's buffer is unmapped; its read faulted while the second packet's
# reads were still in flight, and the second packet (earlier in the ring) was discarded too.
@example(ring_size=8, rounds=[([_pkt(17), _pkt(65, 64), _pkt(17, bad=0)], 0, False)],
         pthresh=0, hthresh=0, wthresh=0, eitr_us=None)
def test_well_formed_packets_all_go_out_in_order(ring_size, rounds, pthresh, hthresh, wthresh, eitr_us):
    """Only well-formed packets (some with unmapped buffers): everything before the first
    fault goes out, exactly once, in ring order; without a fault TDH catches up with TDT."""
    ch = ChaosHost(ring_size, pthresh, hthresh, wthresh, eitr_us)
    _play(ch, rounds)
    ch.check_fetches()
    ch.check_faults()
    frames = [strip_fcs(f) for f, _, _ in ch.h.wire]
    if ch.first_bad is not None:
        # the queue stops at the packet whose buffer is unmapped; all before it went out
        assert ch.h.host.iommu.faults and ch.h.nic.queues[0].faulted
        assert frames == ch.expected[:ch.first_bad]
    else:
        assert ch.h.host.iommu.faults == []
        assert frames == ch.expected
        regs = ch.h.nic.regs
        assert regs.get("TDH0") == regs.get("TDT0")
        if wthresh <= 1 or eitr_us:
            assert all(ch.h.dd(ch.ring, i) for i in ch.eops)
