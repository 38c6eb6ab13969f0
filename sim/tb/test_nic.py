"""cocotb bench for the igb NIC model at transaction level (L0): the model runs on HDL time.

Top level: ``sim/hdl/nic_top.v``. Run with ``make -C sim/tb`` (Makefile flow,
this bench is the ``nic`` one) or through pytest
(``tests/sim/tb/test_cocotb_benches.py``, runner flow).

The NIC (:class:`rtl_model.nic.Nic`), the simulated host around it and the
test host programming it (:class:`sim.assembly.nic_harness.NicTestHost`) run on
:class:`~sim.tb.adapter.CocotbEngine`, so their time is the simulator's. The
test reaches the NIC only through its ports, as the test host does: register
writes and reads from the host CPU, descriptors and buffers in host memory,
MSI-X messages into the host's interrupt controller, the INTx line, frames off
the MAC. The harness top adds pins: the INTx level drives ``dut.irq`` and each
MSI-X message that lands pulses ``dut.msix_strobe`` with its data on
``dut.msix_data``; small HDL consumers count and latch them.

The expected values come from the test itself, not from the model: packets
and their frames (PSP padding, FCS by ``zlib.crc32``), Ethernet arithmetic
(1 Gb/s, preamble and IPG) and PCIe arithmetic written out here
(:func:`first_frame_window`). No check reads the model's own timing
parameters or internal records.

* :func:`msix_transmit` — MSI-X mode: eight packets (short, padded, full-size)
  on one ring, one doorbell. Checks the frames on the wire (count, lengths,
  contents equal to what was posted plus PSP padding, FCS by ``zlib.crc32``,
  duration at 1 Gb/s by arithmetic, back to back without overlap, each frame
  completing at the HDL time the model claims, the first one starting inside
  the window PCIe arithmetic allows after the doorbell), DD bits in host
  memory, TDH == TDT, the MSI-X message (the vector's table entry read back
  through BAR3, ordered behind the write-back it reports, seen by HDL on the
  strobe), auto-mask and re-arm through EIMS (the owed message inside a
  PCIe-arithmetic window after the EIMS write).
* :func:`intx_legacy` — GPIE.MSIX_MODE = 0, IMS = TXDW: ``dut.irq`` rises
  when the host's interrupt controller sees the INTx level rise (recorded
  through the host's ``intx_handlers``, the port a driver hooks), with the
  write-back it reports already in host memory, and stays up (a level, not
  re-pulsed) while frames go out; an ICR read returns TXDW | INT_ASSERTED and
  lowers the pin; a second ICR read returns 0; the pin's edges are exactly the
  level changes the host saw; no MSI-X message is sent.
* :func:`adapter_runs_nic_like_native` — a test of the engine adapter
  (:mod:`sim.tb.adapter`), not of the NIC: a short MSI-X scenario on HDL time
  and on the native engine gives the same trace, frames and messages, record
  for record.

Importing this module outside a simulator is safe (nothing touches
``cocotb.top`` at import time).
"""
from __future__ import annotations

import logging
import random
import zlib

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl_model.interrupts import ICR_INT_ASSERTED, ICR_TXDW
from rtl_model.regs import txq_name
from sim.engine import Engine, Store
from sim.assembly.nic_harness import BAR0, BAR3, NicTestHost
from sim.tb.adapter import CocotbEngine, hdl_time_ps, pin_driver

NS = 1_000          # ps
US = 1_000_000      # ps
CLK_PERIOD_PS = 8_000          # nic_top's default CLK_HALF_PERIOD_PS * 2
MSIX_PULSE_PS = 1 * NS         # msix_strobe high time (and minimum low time between strobes)
BYTE_TIME_PS_1G = 8 * NS       # one byte at 1 Gb/s
PREAMBLE_IPG_BYTES = 8 + 12    # preamble/SFD + inter-packet gap around every frame
MIN_FRAME = 60                 # TCTL.PSP pads shorter frames (without FCS) to this
RING_SIZE = 32
# Packet lengths without FCS: minimum, full size, padded by PSP, and in between.
PACKET_LENGTHS = [60, 1514, 42, 200, 1000, 60, 1514, 128]
TIMEOUT_PS = 500 * US

# --- PCIe arithmetic for the timing windows (datasheet numbers, not the model's) -----------------
#: Time of one data byte on the link. 82576: PCIe 2.5 GT/s x4 with 8b/10b, so 4 lanes x 250 MB/s
#: = 1 GB/s, 1 ns a byte. I210: 2.5 GT/s x1, 250 MB/s, 4 ns a byte. NicTestHost builds an 82576.
PCIE_BYTE_PS = {"82576": 1 * NS, "i210": 4 * NS}
PROFILE = "82576"
#: TLP framing, header and LCRC around the payload: at most a quarter on top of the bytes moved
#: (20-24 bytes per TLP; completions of 64 bytes and up).
TLP_OVERHEAD = 1.25
#: Upper bound of one DMA read round trip (request out to last completion in), or of one posted
#: write crossing the link. UNCONFIRMED: platform-dependent; published server DMA read latencies
#: are around 0.5-1 us, 2 us leaves room. Only the high end of the windows uses it.
DMA_ROUND_TRIP_MAX_PS = 2 * US
#: Slack on the high end for everything not counted (NIC internal latency, packet buffer, clocking).
WINDOW_SLACK_PS = 1 * US
DESC_BYTES = 16


def _quiet_loggers() -> None:
    # The models log warnings for bad input only; the expected paths are silent.
    logging.getLogger("igbsim").setLevel(logging.WARNING)


def make_packets(seed: int, lengths=PACKET_LENGTHS) -> list[bytes]:
    """Packets of the given lengths with seeded random bytes (unicast destination MAC)."""
    rng = random.Random(seed)
    out = []
    for n in lengths:
        p = bytearray(rng.randbytes(n))
        p[0] &= 0xFE            # unicast
        out.append(bytes(p))
    return out


def expected_frame(packet: bytes) -> bytes:
    """What must go on the wire: the packet, zero-padded to 60 bytes (PSP), then the FCS."""
    body = packet.ljust(MIN_FRAME, b"\0")
    return body + (zlib.crc32(body) & 0xFFFF_FFFF).to_bytes(4, "little")


def wire_time_ps(frame_len: int) -> int:
    """Wire time of a frame (FCS included) at 1 Gb/s, with preamble and IPG: plain arithmetic."""
    return (frame_len + PREAMBLE_IPG_BYTES) * BYTE_TIME_PS_1G


def first_frame_window(t_doorbell: int, n_desc: int, buffers: list[int], profile: str = PROFILE) -> tuple[int, int]:
    """(earliest, latest) start of the first frame after a doorbell at ``t_doorbell``: PCIe arithmetic.

    Low end: before the MAC can start, at least one descriptor (16 bytes) and the
    first packet's bytes must have crossed the link, at the link's byte time, with
    no latency at all. High end: the doorbell (a posted write) and one read round
    trip per read (the descriptor fetch, then each buffer of the first packet),
    each bounded by :data:`DMA_ROUND_TRIP_MAX_PS` (UNCONFIRMED), plus every byte
    that may cross before the frame (all ``n_desc`` descriptors fetched at once and
    the buffers) with TLP overhead, plus :data:`WINDOW_SLACK_PS`.
    """
    byte_ps = PCIE_BYTE_PS[profile]
    low = t_doorbell + (DESC_BYTES + sum(buffers)) * byte_ps
    reads = 1 + len(buffers)
    moved = DESC_BYTES * n_desc + sum(buffers)
    high = (t_doorbell + DMA_ROUND_TRIP_MAX_PS + reads * DMA_ROUND_TRIP_MAX_PS
            + int(moved * TLP_OVERHEAD * byte_ps) + WINDOW_SLACK_PS)
    return low, high


#: The checks here are PCIe arithmetic: the drawn latencies (sim.host.timing) are fixed at none.
FIXED_TIMING = {"drain_delay_ps": 0, "msi_latency_ps": 0, "dma_read_jitter_ps": 0}


class NicBench:
    """A NicTestHost on a CocotbEngine, with its interrupt outputs on the harness pins.

    Records, for every frame the MAC completes, ``(hdl_time_ps, frame,
    start_ps, end_ps)`` (model times; ``hdl_time_ps`` is the simulator's time
    when the MAC handed it over), and for every MSI-X message landing in the
    host ``(model time, address, data, dd)`` where ``dd`` is the DD bits of
    the ring's descriptors in host memory at that moment.
    """

    def __init__(self, dut, ring_size: int = RING_SIZE, trace: bool = False):
        self.dut = dut
        self.engine = CocotbEngine.from_now()
        #: The engine trace from before the host is built (``trace=True``), else None.
        self.trace = self.engine.start_trace() if trace else None
        self.h = NicTestHost(engine=self.engine, **FIXED_TIMING)
        self.ring = None
        self.ring_size = ring_size
        # INTx: the host's interrupt controller sees the line; so does the pin.
        self.h.host.msi.intx_handlers.append(pin_driver(dut.irq))
        # MSI-X: tap the message on its way from the NIC's DMA engine into the host.
        dut.msix_strobe.value = 0
        dut.msix_data.value = 0
        self.messages: list[tuple[int, int, int, list[bool]]] = []
        self._strobes = Store(self.engine)
        to_host = self.h.nic.dma.msi_sink
        self.h.nic.dma.msi_sink = lambda addr, data: (self._on_msix(addr, data), to_host(addr, data))
        self.engine.spawn(self._strobe_driver(), "msix-strobe")
        self.frames: list[tuple[int, bytes, int, int]] = []
        self.h.nic.mac.add_sink(self._on_wire)

    def _on_msix(self, addr: int, data: int) -> None:
        dd = [self.h.dd(self.ring, i) for i in range(self.ring.size)] if self.ring else []
        self.messages.append((self.engine.now, addr, data, dd))
        self._strobes.put(data)

    def _strobe_driver(self):
        """One strobe per message, in order: data on msix_data, msix_strobe high then low."""
        while True:
            data = yield self._strobes.get()
            self.dut.msix_data.value = data
            self.dut.msix_strobe.value = 1
            yield MSIX_PULSE_PS
            self.dut.msix_strobe.value = 0
            yield MSIX_PULSE_PS

    def _on_wire(self, frame: bytes, start_ps: int, end_ps: int) -> None:
        self.frames.append((hdl_time_ps() - self.engine.epoch_ps, frame, start_ps, end_ps))

    async def rd32(self, name: str) -> int:
        """A register read as NicTestHost.rd32 does it, but letting HDL time pass for the posted writes."""
        h = self.h
        h.cpu.drain_all()
        await self.engine.run(self.engine.now + h.host.link.posted_write_latency_ps)
        return h.cpu.readl(BAR0 + h.offset(name))

    async def wait_until(self, cond, what: str, timeout_ps: int = TIMEOUT_PS, step_ps: int = 1 * US) -> None:
        """Let HDL time pass until ``cond()`` holds; fail after ``timeout_ps``."""
        deadline = self.engine.now + timeout_ps
        while not cond():
            assert self.engine.now < deadline, f"timed out after {timeout_ps} ps waiting for {what}"
            await self.engine.run(self.engine.now + step_ps)


async def _start_on_clock(dut) -> None:
    """Begin on a rising clock edge, out of the read-only phase (model time 0 on a clock edge)."""
    await RisingEdge(dut.clk)
    await ReadOnly()
    await RisingEdge(dut.clk)


async def _watch_pin(signal, edges: list, epoch_ps: int) -> None:
    """Record (model time, level) for every rising and falling edge of ``signal``."""
    while True:
        await RisingEdge(signal)
        edges.append((hdl_time_ps() - epoch_ps, 1))
        await FallingEdge(signal)
        edges.append((hdl_time_ps() - epoch_ps, 0))


def _next_clock_edge(t_ps: int) -> int:
    """First rising clock edge strictly after ``t_ps`` (model time 0 is on a rising edge)."""
    return (t_ps // CLK_PERIOD_PS + 1) * CLK_PERIOD_PS


def msix_scenario(h: NicTestHost, packets: list[bytes]):
    """Set up ring 0 and MSI-X as igb does, enable TX, post ``packets`` and ring the doorbell once.

    It only issues CPU accesses (nothing waits), so it runs unchanged on either
    engine. Returns (ring, queue 0's vector).
    """
    ring = h.setup_tx_ring(0, RING_SIZE)
    vec = h.setup_msix((0,))[0]
    h.enable_tx()
    h.send(ring, packets)
    return ring, vec


def run_native(packets: list[bytes], until_ps: int):
    """:func:`msix_scenario` on the native engine up to ``until_ps``: (trace, frames as (frame, start, end),
    MSI-X messages as (time, address, data))."""
    eng = Engine()
    trace = eng.start_trace()
    h = NicTestHost(engine=eng, **FIXED_TIMING)
    msgs = []
    to_host = h.nic.dma.msi_sink
    h.nic.dma.msi_sink = lambda addr, data: (msgs.append((eng.now, addr, data)), to_host(addr, data))
    msix_scenario(h, packets)
    h.run(until_ps)
    return trace, h.wire, msgs


@cocotb.test()
async def msix_transmit(dut):
    """MSI-X mode: frames, their timing by arithmetic, DD, TDH == TDT, the MSI-X message on the strobe."""
    _quiet_loggers()
    await _start_on_clock(dut)
    b = NicBench(dut)
    h, eng = b.h, b.engine
    irq_count0 = int(dut.irq_count.value)
    msix_count0 = int(dut.msix_count.value)
    strobe_edges: list = []
    watcher = cocotb.start_soon(_watch_pin(dut.msix_strobe, strobe_edges, eng.epoch_ps))

    packets = make_packets(cocotb.RANDOM_SEED)
    t_doorbell = eng.now
    ring, vec = msix_scenario(h, packets)   # plain calls: no HDL time passes while posting
    b.ring = ring
    n = len(packets)

    await b.wait_until(lambda: len(b.frames) >= n and b.messages, "all frames and an MSI-X message")
    t_done = eng.now
    # No more frames come: wait as long as a full-size frame would take.
    await eng.run(eng.now + 2 * wire_time_ps(1518))
    assert len(b.frames) == n, f"{len(b.frames)} frames on the wire for {n} packets"

    # --- frames: contents, FCS, lengths --------------------------------------
    for i, ((hdl_t, frame, start, end), p) in enumerate(zip(b.frames, packets)):
        assert len(frame) == max(len(p), MIN_FRAME) + 4, f"frame {i}: {len(frame)} bytes for a {len(p)}-byte packet"
        assert frame[:-4] == p.ljust(MIN_FRAME, b"\0"), f"frame {i}: contents differ from the posted packet"
        assert frame[-4:] == (zlib.crc32(frame[:-4]) & 0xFFFF_FFFF).to_bytes(4, "little"), f"frame {i}: bad FCS"
    # --- frames: timing from HDL time ------------------------------------------
    for i, (hdl_t, frame, start, end) in enumerate(b.frames):
        assert hdl_t == end, f"frame {i}: the MAC handed it over at HDL time {hdl_t}, model says {end}"
        assert end - start == wire_time_ps(len(frame)), f"frame {i}: {end - start} ps on the wire"
    for i in range(1, n):
        assert b.frames[i][2] >= b.frames[i - 1][3], f"frame {i} starts before frame {i - 1} has left"
    # The first frame starts once the doorbell has landed, a descriptor has been fetched and
    # the first packet's buffer read: a window from PCIe arithmetic (first_frame_window).
    lo, hi = first_frame_window(t_doorbell, n, [len(packets[0])])
    assert lo <= b.frames[0][2] <= hi, \
        f"first frame started {b.frames[0][2] - t_doorbell} ps after the doorbell; PCIe arithmetic allows " \
        f"{lo - t_doorbell}..{hi - t_doorbell} ps"

    # --- descriptors: DD in host memory, TDH == TDT -------------------------------
    for first, eop in ring.posted:
        assert h.dd(ring, eop), f"descriptor {eop} (EOP, RS) has no DD in host memory"
    assert not h.dd(ring, ring.next_to_use), "DD set on a descriptor that was never posted"
    tdt = await b.rd32(txq_name("TDT", 0))
    tdh = await b.rd32(txq_name("TDH", 0))
    assert tdt == ring.next_to_use == n, f"TDT {tdt}, next_to_use {ring.next_to_use}"
    assert tdh == tdt, f"TDH {tdh} != TDT {tdt} after transmission"

    # --- MSI-X: one message for the TX vector, behind its write-back ---------------
    # The vector's MSI-X table entry as the host reads it back through BAR3.
    entry_lo, entry_hi, entry_data = (h.cpu.readl(BAR3 + 16 * vec + 4 * k) for k in range(3))
    assert len(b.messages) == 1, f"{len(b.messages)} MSI-X messages; EIAM auto-masks after the first"
    t_msg, addr, data, dd = b.messages[0]
    assert (addr, data) == ((entry_hi << 32) | entry_lo, entry_data), "message is not the vector's table entry"
    assert h.interrupts == [(t_msg, "tx0")], f"host saw {h.interrupts}"
    assert dd[ring.posted[0][1]], "the MSI-X message overtook the write-back it reports"
    # Re-arm as igb does when NAPI completes: the cause still owed is sent at once, i.e. after the
    # EIMS write (4 bytes) and then the message (4 bytes) have crossed the link, and within one
    # crossing bound each plus the slack.
    t_rearm = eng.now
    h.wr32("EIMS", 1 << vec)
    await b.wait_until(lambda: len(b.messages) == 2, "the message owed after EIMS re-arm", 20 * US, 100 * NS)
    rearm_lo = t_rearm + 2 * 4 * PCIE_BYTE_PS[PROFILE]
    rearm_hi = t_rearm + 2 * DMA_ROUND_TRIP_MAX_PS + WINDOW_SLACK_PS
    assert rearm_lo <= b.messages[1][0] <= rearm_hi, \
        f"owed message {b.messages[1][0] - t_rearm} ps after the EIMS write; arithmetic allows " \
        f"{rearm_lo - t_rearm}..{rearm_hi - t_rearm} ps"
    assert [m[0] for m in b.messages] == [t for t, _ in h.host.msi.received]
    await eng.run(eng.now + 4 * MSIX_PULSE_PS)
    watcher.cancel()

    # HDL saw one strobe per message, at the message's time, with its data.
    await ReadOnly()
    assert int(dut.msix_count.value) - msix_count0 == len(b.messages)
    assert int(dut.msix_last_data.value) == entry_data
    assert [t for t, v in strobe_edges if v == 1] == [m[0] for m in b.messages]
    assert int(dut.irq_count.value) == irq_count0 and dut.irq.value == 0, "INTx asserted in MSI-X mode"
    dut._log.info("%d frames, last one done at %.3f us; MSI-X at %s ps", n, t_done / US,
                  [m[0] for m in b.messages])


@cocotb.test()
async def intx_legacy(dut):
    """Legacy INTx: IMS TXDW raises dut.irq; it stays up until an ICR read lowers it."""
    _quiet_loggers()
    await _start_on_clock(dut)
    b = NicBench(dut)
    h, eng = b.h, b.engine
    # The INTx level as the host's interrupt controller sees it (the port a driver hooks), with
    # whether any posted packet's EOP descriptor had its DD in host memory at that moment.
    host_intx: list = []
    h.host.msi.intx_handlers.append(lambda level: host_intx.append(
        (eng.now, int(level), any(h.dd(b.ring, eop) for _, eop in b.ring.posted))))
    irq_count0 = int(dut.irq_count.value)
    msix_count0 = int(dut.msix_count.value)
    edges: list = []
    q_edges: list = []
    watchers = [cocotb.start_soon(_watch_pin(dut.irq, edges, eng.epoch_ps)),
                cocotb.start_soon(_watch_pin(dut.irq_q, q_edges, eng.epoch_ps))]

    packets = make_packets(cocotb.RANDOM_SEED + 1, [60, 1514, 300])
    ring = b.ring = h.setup_tx_ring(0, RING_SIZE)
    h.wr32("GPIE", 0)               # MSIX_MODE = 0: legacy interrupts
    h.wr32("IMS", ICR_TXDW)
    h.enable_tx()
    h.send(ring, packets)

    await b.wait_until(lambda: edges, "the irq pin to rise")
    t_rise = edges[0][0]
    assert edges == [(t_rise, 1)]
    # INTx is a posted Assert_INTx message: the pin rises when the host sees the level rise, and
    # (posted writes stay in order) the write-back it reports is already in host memory then.
    assert host_intx and host_intx[0][:2] == (t_rise, 1), \
        f"pin rose at {t_rise} ps; the host saw the INTx level change as {host_intx[:1]}"
    assert host_intx[0][2], "INTx reached the host before any write-back it reports"
    assert h.host.msi.intx_level is True

    await b.wait_until(lambda: len(b.frames) >= len(packets), "all frames")
    await eng.run(eng.now + 10 * US)
    await ReadOnly()
    assert dut.irq.value == 1, "INTx is a level: it must stay up until ICR is read"
    assert int(dut.irq_count.value) - irq_count0 == 1, "INTx was re-pulsed instead of held"
    await RisingEdge(dut.clk)

    icr = await b.rd32("ICR")
    t_read = eng.now
    assert icr & ICR_TXDW, f"ICR {icr:#x} lacks TXDW"
    assert icr & ICR_INT_ASSERTED, f"ICR {icr:#x} lacks INT_ASSERTED"
    await b.wait_until(lambda: len(edges) >= 2, "the irq pin to fall")
    t_fall = edges[1][0]
    assert t_fall >= t_read, "the pin fell before the ICR read"
    assert dut.irq.value == 0, "the ICR read did not lower the irq pin"
    assert edges == [(t_rise, 1), (t_fall, 0)]
    await RisingEdge(dut.clk)
    assert await b.rd32("ICR") == 0, "ICR not cleared by the read"
    for task in watchers:
        task.cancel()

    # HDL logic saw the pin: one counted edge, the clocked copy a clock edge later.
    assert q_edges == [(_next_clock_edge(t_rise), 1), (_next_clock_edge(t_fall), 0)]
    # The host saw the level change exactly at the pin's edges: no same-time glitch the pin hides.
    assert [(t, level) for t, level, _ in host_intx] == edges, f"host saw {host_intx}, pin edges {edges}"
    # Transmission completed as in MSI-X mode, and no message was sent.
    for _, eop in ring.posted:
        assert h.dd(ring, eop), f"descriptor {eop} has no DD"
    assert await b.rd32(txq_name("TDH", 0)) == ring.next_to_use
    assert b.messages == [] and h.host.msi.received == []
    assert int(dut.msix_count.value) == msix_count0
    assert [f for _, f, _, _ in b.frames] == [expected_frame(p) for p in packets]


#: The adapter test's packets and how long it runs (model time): all frames out, the message sent.
ADAPTER_PACKETS = [60, 1514, 42, 300]
ADAPTER_RUN_PS = 100 * US


@cocotb.test()
async def adapter_runs_nic_like_native(dut):
    """The cocotb engine adapter maps time and same-time order faithfully: same run as the native engine.

    A test of sim/tb/adapter.py, not of the NIC: the same short MSI-X scenario
    on HDL time and on the native engine gives the same engine trace, frames
    (with their times) and MSI-X messages (with theirs), record for record.
    It says nothing about the NIC's correctness (the model is compared with
    itself); the other tests here check the NIC against independent sources.
    """
    _quiet_loggers()
    await _start_on_clock(dut)
    b = NicBench(dut, trace=True)
    packets = make_packets(cocotb.RANDOM_SEED + 2, ADAPTER_PACKETS)
    b.ring, _ = msix_scenario(b.h, packets)
    await b.engine.run(ADAPTER_RUN_PS)
    assert b.engine.now == ADAPTER_RUN_PS

    trace, wire, msgs = run_native(packets, ADAPTER_RUN_PS)
    assert len(wire) == len(packets) and msgs, "the scenario is too short to compare anything"
    # time: each frame handed over at the HDL time the model gives as its end
    assert all(hdl_t == end for hdl_t, _, _, end in b.frames), "a frame left at another HDL time than its end"
    assert [(f, st, e) for _, f, st, e in b.frames] == wire, "frames or their times differ from the native run"
    assert [m[:3] for m in b.messages] == msgs, "MSI-X messages (time, address, data) differ from the native run"
    assert len(b.trace) == len(trace), f"{len(b.trace)} trace records here, {len(trace)} natively"
    for i, (mine, theirs) in enumerate(zip(b.trace, trace)):
        assert mine == theirs, f"trace record {i} differs: {mine} here, {theirs} natively"
    dut._log.info("%d trace records, %d frames, %d MSI-X messages equal to the native run",
                  len(trace), len(wire), len(msgs))
