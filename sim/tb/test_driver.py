"""cocotb bench for the real igb driver driving the NIC model, both on HDL time.

Top level: ``sim/hdl/nic_top.v``, built for this bench with a 50 kHz clock
(``-P nic_top.CLK_HALF_PERIOD_PS``, see :data:`CLK_HALF_PERIOD_PS`): nothing
here is clocked, and the hang test simulates ~10 s. Run with
``make -C sim/tb BENCHES=driver`` (Makefile flow) or through pytest
(``tests/sim/tb/test_cocotb_benches.py``, runner flow).

The whole system of :class:`sim.assembly.system.IgbSystem` — host CPUs, IOMMU, PCIe
link, the NIC model (:mod:`rtl_model`), the kernel API, the net core and the
igb driver (:mod:`driver.igb`) — runs on :class:`~sim.tb.adapter.CocotbEngine`,
so every sleep, timer, posted write, DMA and interrupt of the driver and the
NIC happens at HDL time. Sleeping kernel code (``dev_open``, ``dev_close``,
the test's register reads) runs as a kernel task (``s.task``) that the test
awaits in HDL time. As in ``test_nic.py`` the NIC's INTx level drives
``dut.irq`` and each MSI-X message landing in the host pulses
``dut.msix_strobe`` with its data on ``dut.msix_data``.

Each test's scenario is a generator (:func:`transmit_scenario`,
:func:`hang_scenario`) that :func:`run_cocotb` drives on HDL time. The checks
compare against what the test itself knows: the packets it sent (PSP padding,
FCS by ``zlib.crc32``), Ethernet arithmetic (1 Gb/s), the register values igb
programs, the driver's documented timers (2 s watchdog), and the pins as HDL
sees them. No check compares the run with the same scenario on the native
engine (that comparison tests the engine adapter, not the driver or the NIC:
``test_nic.adapter_runs_nic_like_native``).

* :func:`driver_open_and_transmit` — probe and open on the 82576 profile;
  registers read back by a host CPU with ``readl`` (TXDCTL0 = 0x02010108,
  TDLEN0 = ring size × 16, TCTL.EN|PSP, GPIE = 0xC0000011, EIMS holding the
  queue vectors, the TX vector's MSI-X table entry); 16 packets of 17…1514
  bytes, some in 2 or 3 frags, written by a :class:`~sim.assembly.sender.PacketSender`
  (``dev_queue_xmit``) 4 at a time; waits until they are on the wire and cleaned
  (next_to_clean == next_to_use, BQL inflight 0). Checks frames (contents +
  PSP padding, FCS by ``zlib.crc32``, wire time), that each left the MAC at
  the HDL time the model claims, the strobe of every MSI-X message at its
  time with its data (the TX queue vector's messages carry that vector's
  table data, the first one behind the write-back it reports), no INTx; the
  first frame leaves after the send.
* :func:`driver_hang_and_reset` — the transmitter is stopped behind the
  driver's back (a CPU clears TCTL.EN); 80 full-size packets fill the packet
  buffer and stall in the ring. igb's watchdog reports "Detected Tx Unit
  Hang" every 2 s, the net core's TX watchdog calls ``igb_tx_timeout``, the
  reset task resets the NIC (CTRL.RST) and brings it up (registers re-read
  by the CPU); what the qdisc held is dropped when igb_down turns the carrier
  off (``dev_deactivate``), then new traffic goes out. Then
  close (only the probe's ioremap and IRQ vectors held, no skb leaked), open
  again, transmit, close again. Checks the stall (nothing on the wire with
  TCTL.EN clear, the packet buffer's share within 40 KB), the hang reports
  (2 s apart, the stuck span, TDH inside it), one TX timeout and one reset
  (CTRL.RST) before recovery, the TX registers restored, what was dropped
  (ring and qdisc), the frames on the wire (those before the stall, after the
  reset and after re-opening, none of the stalled batch), what the kernel
  still holds after each close (only the probe's), no skb leaked, the pins.

Importing this module outside a simulator is safe (nothing touches
``cocotb.top`` at import time).
"""
from __future__ import annotations

import logging
import random
import struct
import zlib
from typing import Callable, NamedTuple

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from driver.igb.e1000_regs import (E1000_EIMS, E1000_GPIE, E1000_STATUS, E1000_TCTL, E1000_TCTL_EN,
                                   E1000_TCTL_PSP, E1000_TDH, E1000_TDLEN, E1000_TDT, E1000_TXDCTL)
from driver.igb.igb import __IGB_RESETTING as IGB_RESETTING
from sim.engine import MS, NS, US, S
from sim.assembly.system import BAR3, IgbSystem
from sim.tb.adapter import CocotbEngine, hdl_time_ps, pin_driver
from stack.core.dev import dev_close, dev_open
from stack.core.netdevice import netdev_get_tx_queue, netif_carrier_ok
from stack.core.skbuff import skb_from_bytes

NIC = "82576"
RING_SIZE = 128                # not the default 256, so TDLEN shows the ring size really went through
#: nic_top's clock for this bench (-P nic_top.CLK_HALF_PERIOD_PS=..., set by sim/tb/Makefile and
#: tests/sim/tb/test_cocotb_benches.py; checked at the start of each test): 50 kHz. Nothing here is
#: clocked; the hang test takes 0.2 s at 50 kHz, 2.7 s at 1 MHz (measured), so ~5 minutes at
#: nic_top's default 125 MHz, all of it Icarus toggling the clock.
CLK_HALF_PERIOD_PS = 10_000_000
MSIX_PULSE_PS = 1 * NS         # msix_strobe high time (and minimum low time between strobes)
BYTE_TIME_PS_1G = 8 * NS
PREAMBLE_IPG_BYTES = 8 + 12
MIN_FRAME = 60
#: Test 1's packets: (length without FCS, frags). Two runts (17, 42 bytes) for PSP to pad.
PACKETS = [(60, 0), (1514, 2), (42, 0), (200, 3), (1000, 0), (60, 2), (1514, 0), (128, 3),
           (300, 0), (700, 2), (17, 0), (1514, 3), (90, 0), (400, 2), (1200, 0), (64, 0)]
BURST = 4
#: Waits between the scenario's steps, in model time.
SETTLE_PS = 100 * US
RUN_AFTER_SEND_PS = 2 * MS     # test 1 runs to here, so trailing ITR/NAPI messages are strobed and checked
TIMEOUT_PS = 20 * MS
#: Poll period of Until steps: 1 µs + 3 ps, off the ns grid most model events are on, so a poll
#: rarely falls on a model event's time step (where it would see that step half done).
POLL_PS = 1 * US + 3
#: Hang test: full-size packets before the stall and while stalled (80 × 1514 B > the 40 KB packet
#: buffer); after the reset it sends PACKETS again, after re-opening REOPEN_PACKETS more.
HANG_BEFORE, HANG_STALLED, REOPEN_PACKETS = 8, 80, 4


def _quiet_loggers() -> None:
    # The hang report, the NETDEV WATCHDOG and the reset are logged as errors by design: keep them
    # out of the run's output (the test checks them in adapter.hang_reports and the trace).
    logging.getLogger("igbsim").setLevel(logging.CRITICAL)


def make_frame(rng: random.Random, seq: int, n: int) -> bytes:
    """``n`` bytes: unicast destination, EtherType 0x88B5, sequence number, random bytes (cut at ``n``)."""
    head = bytearray(rng.randbytes(12))
    head[0] = (head[0] & 0xFC) | 0x02       # locally administered unicast
    body = b"\x88\xb5" + struct.pack(">I", seq) + rng.randbytes(max(0, n - 18))
    return (bytes(head) + body)[:n]


def make_packets(seed: int, spec, first_seq: int = 0) -> list[tuple[bytes, int]]:
    """(frame, nr_frags) for each (length, nr_frags) of ``spec``, numbered from ``first_seq``."""
    rng = random.Random(seed)
    return [(make_frame(rng, first_seq + i, n), frags) for i, (n, frags) in enumerate(spec)]


def expected_frame(packet: bytes) -> bytes:
    """The packet zero-padded to 60 bytes (PSP), then its FCS."""
    body = packet.ljust(MIN_FRAME, b"\0")
    return body + (zlib.crc32(body) & 0xFFFF_FFFF).to_bytes(4, "little")


def wire_time_ps(frame_len: int) -> int:
    """A frame's time on the wire (FCS included) at 1 Gb/s, with preamble and IPG."""
    return (frame_len + PREAMBLE_IPG_BYTES) * BYTE_TIME_PS_1G


# --- the system and the test's own kernel tasks --------------------------------------------------
#: No latency is drawn (sim.host.timing): the run is the same for every cocotb seed, and each
#: MSI-X strobe must rise exactly at its message's time.
FIXED_TIMING = {"drain_delay_ps": 0, "msi_latency_ps": 0, "dma_read_jitter_ps": 0}


def make_system(engine) -> IgbSystem:
    """The system under test on ``engine`` (tracing from before the probe): 82576, 2 CPUs (so 2 TX
    queues), a 128-descriptor ring; probed."""
    engine.start_trace()
    return IgbSystem(NIC, ring_size=RING_SIZE, engine=engine, **FIXED_TIMING)


def tx_vector(s: IgbSystem) -> int:
    """MSI-X vector number of TX queue 0's q_vector."""
    return s.adapter.tx_ring[0].q_vector.eims_value.bit_length() - 1


def read_registers(s: IgbSystem):
    """Kernel task: the TX/interrupt registers and the TX vector's MSI-X entry, read by ``readl``.

    As the driver reads them: through the host CPU's MMIO path (non-posted,
    behind any posted write) on the BAR0 ioremap the driver holds; the MSI-X
    table through a temporary ioremap of BAR3, released again.
    """
    k = s.kernel
    io = s.adapter.io_addr
    regs = {name: k.readl(io, off) for name, off in [
        ("TXDCTL0", E1000_TXDCTL(0)), ("TDLEN0", E1000_TDLEN(0)), ("TDH0", E1000_TDH(0)),
        ("TDT0", E1000_TDT(0)), ("TCTL", E1000_TCTL), ("GPIE", E1000_GPIE), ("EIMS", E1000_EIMS),
        ("STATUS", E1000_STATUS)]}
    vec = tx_vector(s)
    table = k.ioremap(BAR3, 16 * (vec + 1), "test-msix-table")
    regs["MSIX_ADDR"] = k.readl(table, 16 * vec) | k.readl(table, 16 * vec + 4) << 32
    regs["MSIX_DATA"] = k.readl(table, 16 * vec + 8)
    k.iounmap(table)
    return regs
    yield  # a generator, so it runs as a task: its CPU time elapses before it completes  # noqa


def clear_tctl_en(s: IgbSystem):
    """Kernel task: stop the transmitter behind the driver's back (read-modify-write of TCTL by a CPU)."""
    k = s.kernel
    k.writel(k.readl(s.adapter.io_addr, E1000_TCTL) & ~E1000_TCTL_EN, s.adapter.io_addr, E1000_TCTL)
    return None
    yield  # noqa


def skbs_of(s: IgbSystem, packets) -> list:
    return [skb_from_bytes(s.net.skb, p, frags) for p, frags in packets]


def tap_msix(s: IgbSystem, on_message) -> None:
    """Call ``on_message(addr, data)`` for every MSI-X message the NIC sends, as it lands in the host."""
    to_host = s.nic.dma.msi_sink
    s.nic.dma.msi_sink = lambda addr, data: (on_message(addr, data), to_host(addr, data))


def all_cleaned(s: IgbSystem, sender, n_frames: int) -> Callable[[], bool]:
    """Condition: ``n_frames`` on the wire, the sender done, ring 0 cleaned, BQL inflight 0."""
    def cond() -> bool:
        ring = s.adapter.tx_ring[0]
        return (len(s.wire.a_to_b) >= n_frames and sender.done is not None and sender.done.triggered
                and ring.next_to_clean == ring.next_to_use
                and netdev_get_tx_queue(s.netdev, 0).dql.inflight == 0)
    return cond


def held_kinds(s: IgbSystem) -> set[str]:
    """Kinds of what the kernel still holds (coherent, vmalloc, irq, irq_vectors, ioremap, …)."""
    return {leak.kind for leak in s.leaks().items}


# --- scenarios ------------------------------------------------------------------------------------
# A scenario is a generator over a system; it yields steps and is sent their results:
#   Task(gen, cpu, comm) -> the return value of kernel code ``gen`` run as a task;
#   At(t)                -> None once model time t is reached;
#   Until(cond, what)    -> None once cond() holds, polled every step_ps (fails after timeout_ps).
# run_cocotb drives it with awaits in HDL time.
class Task(NamedTuple):
    gen: object
    cpu: int = 0
    comm: str = "ip"


class At(NamedTuple):
    t: int


class Until(NamedTuple):
    cond: Callable[[], bool]
    what: str
    timeout_ps: int = TIMEOUT_PS
    step_ps: int = POLL_PS


async def run_cocotb(s: IgbSystem, scenario):
    """Drive ``scenario`` with ``s`` on a CocotbEngine: every wait is HDL time; the scenario's return value."""
    eng = s.engine
    value = None
    while True:
        try:
            step = scenario.send(value)
        except StopIteration as stop:
            return stop.value
        value = None
        if isinstance(step, Task):
            value = await eng.run(s.task(step.gen, step.cpu, step.comm))
        elif isinstance(step, At):
            await eng.run(step.t)
        else:
            deadline = eng.now + step.timeout_ps
            while not step.cond():
                assert eng.now < deadline, f"timed out after {step.timeout_ps} ps waiting for {step.what}"
                await eng.run(eng.now + step.step_ps)


def transmit_scenario(s: IgbSystem, packets):
    """Open, read the registers back, send ``packets``, wait until sent and cleaned; what it saw."""
    out = {}
    eng = s.engine
    out["open"] = yield Task(dev_open(s.netdev))
    out["t_open"] = eng.now
    yield At(eng.now + SETTLE_PS)
    out["regs"] = yield Task(read_registers(s), cpu=1, comm="regdump")
    out["carrier"] = netif_carrier_ok(s.netdev)
    yield At(eng.now + SETTLE_PS)
    out["t_send"] = t_send = eng.now
    handed = []     # a packet tap: each skb as it reaches ndo_start_xmit (a retried one twice)
    s.netdev.taps.append(lambda frame, direction, dev: handed.append(direction))
    sender = out["sender"] = s.sender()
    sender.send(skbs_of(s, packets), burst=BURST)
    yield Until(all_cleaned(s, sender, len(packets)), "all frames on the wire and cleaned")
    out["handed"] = len(handed)
    out["t_done"] = eng.now
    yield At(t_send + RUN_AFTER_SEND_PS)
    return out


def hang_packets(seed: int):
    """(before the stall, while stalled, after the reset, after re-opening) packets, numbered in order."""
    before = make_packets(seed, [(1514, 0)] * HANG_BEFORE)
    stalled = make_packets(seed + 1, [(1514, 0)] * HANG_STALLED, HANG_BEFORE)
    after = make_packets(seed + 2, PACKETS, HANG_BEFORE + HANG_STALLED)
    reopen = make_packets(seed + 3, [(60, 0), (1514, 3), (200, 2), (64, 0)][:REOPEN_PACKETS],
                          HANG_BEFORE + HANG_STALLED + len(PACKETS))
    return before, stalled, after, reopen


def hang_scenario(s: IgbSystem, seed: int):
    """Stall the transmitter, wait for the hang report, timeout and reset; recover; close, re-open, close."""
    before, stalled, after, reopen = hang_packets(seed)
    out = {}
    eng = s.engine
    ring = s.adapter.tx_ring[0]
    adapter = s.adapter
    out["probe_held"] = held_kinds(s)
    assert (yield Task(dev_open(s.netdev))) == 0
    sender = out["sender"] = s.sender()
    sender.send(skbs_of(s, before), burst=BURST)
    yield Until(all_cleaned(s, sender, len(before)), "the first packets on the wire and cleaned")
    # the transmitter stops; the next batch fills the packet buffer, then stays in the ring
    yield Task(clear_tctl_en(s), cpu=1, comm="stall")
    out["t_stall"] = eng.now
    sender.send(skbs_of(s, stalled), burst=8)
    yield At(eng.now + 20 * MS)
    out["stuck"] = dict(ntc=ring.next_to_clean, ntu=ring.next_to_use,
                        held=s.netdev.qdisc.qlen + len(sender.backlog),     # waiting above the driver
                        wire=len(s.wire.a_to_b), time_stamp=ring.tx_buffer_info[ring.next_to_clean].time_stamp)
    # hang reports every 2 s, the TX timeout, the reset; poll coarsely (10 ms) over the ~10 s
    yield Until(lambda: adapter.resets >= 1 and IGB_RESETTING not in adapter.state
                and netif_carrier_ok(s.netdev) and sender.done.triggered and not sender.backlog
                and ring.next_to_clean == ring.next_to_use,
                "the TX timeout, the reset and the sender's last writes", timeout_ps=20 * S, step_ps=10 * MS + 3)
    out["t_recovered"] = eng.now
    out["tx_dropped"] = ring.tx_dropped
    out["regs_after_reset"] = yield Task(read_registers(s), cpu=1, comm="regdump")
    out["wire_before_after"] = len(s.wire.a_to_b)
    sender.send(skbs_of(s, after), burst=BURST)
    yield Until(lambda: len(s.wire.a_to_b) >= out["wire_before_after"] + len(after)
                and all_cleaned(s, sender, 0)(), "the packets sent after the reset")
    # close: only what probe holds stays; open again and transmit; close again
    yield At(eng.now + SETTLE_PS)
    yield Task(dev_close(s.netdev))
    out["held_after_close"] = held_kinds(s)
    out["coherent_after_close"] = bool(s.leaks().coherent)
    out["streaming_after_close"] = bool(s.leaks().streaming)
    yield At(eng.now + SETTLE_PS)
    out["reopen"] = yield Task(dev_open(s.netdev))
    out["t_reopen"] = eng.now
    ring = s.adapter.tx_ring[0]
    wire_before = len(s.wire.a_to_b)
    sender.send(skbs_of(s, reopen), burst=BURST)
    yield Until(lambda: len(s.wire.a_to_b) >= wire_before + len(reopen) and all_cleaned(s, sender, 0)(),
                "the packets sent after re-opening")
    yield At(eng.now + SETTLE_PS)
    yield Task(dev_close(s.netdev))
    out["held_after_close2"] = held_kinds(s)
    out["t_end"] = eng.now
    return out


# --- the bench ------------------------------------------------------------------------------------
class DriverBench:
    """An IgbSystem on a CocotbEngine, with the NIC's interrupt outputs on nic_top's pins.

    Records every frame the MAC completes as ``(hdl_time_ps, frame, start_ps,
    end_ps)`` (model times), every MSI-X message as ``(time, addr, data)`` and,
    per message, how many descriptors of TX ring 0 the NIC had written back
    (DD in host memory) that the driver had not cleaned yet.
    """

    def __init__(self, dut):
        self.dut = dut
        self.engine = CocotbEngine.from_now()
        self.s = make_system(self.engine)
        self.trace = self.engine.records
        self.s.host.msi.intx_handlers.append(pin_driver(dut.irq))
        dut.msix_strobe.value = 0
        dut.msix_data.value = 0
        self.messages: list[tuple[int, int, int]] = []
        self.dd_pending: list[int] = []
        self._strobes: list[int] = []
        self._strobe_wake = None
        tap_msix(self.s, self._on_msix)
        self.engine.spawn(self._strobe_driver(), "msix-strobe")
        self.frames: list[tuple[int, bytes, int, int]] = []
        self.s.nic.mac.add_sink(self._on_wire)

    def _on_msix(self, addr: int, data: int) -> None:
        self.messages.append((self.engine.now, addr, data))
        self.dd_pending.append(self._uncleaned_dd())
        self._strobes.append(data)
        if self._strobe_wake is not None and not self._strobe_wake.triggered:
            self._strobe_wake.succeed()

    def _uncleaned_dd(self) -> int:
        """Descriptors from next_to_clean to next_to_use with DD in host memory (as the NIC wrote them)."""
        rings = self.s.adapter.tx_ring
        ring = rings[0] if rings else None
        if ring is None or not ring.desc:
            return 0
        mem = self.s.host.mem
        n = (ring.next_to_use - ring.next_to_clean) % ring.count
        return sum(int.from_bytes(mem.read(ring.desc + 16 * ((ring.next_to_clean + i) % ring.count) + 12, 4),
                                  "little") & 1 for i in range(n))

    def _strobe_driver(self):
        """One strobe per message, in order: data on msix_data, msix_strobe high then low."""
        while True:
            if not self._strobes:
                self._strobe_wake = self.engine.event("msix")
                yield self._strobe_wake
                continue
            self.dut.msix_data.value = self._strobes.pop(0)
            self.dut.msix_strobe.value = 1
            yield MSIX_PULSE_PS
            self.dut.msix_strobe.value = 0
            yield MSIX_PULSE_PS

    def _on_wire(self, frame: bytes, start_ps: int, end_ps: int) -> None:
        self.frames.append((hdl_time_ps() - self.engine.epoch_ps, frame, start_ps, end_ps))

    def check_frames(self, packets) -> None:
        """The frames on the wire are ``packets`` (+ PSP padding, FCS), each handed over at its model end time."""
        assert len(self.frames) == len(packets), f"{len(self.frames)} frames on the wire for {len(packets)} packets"
        for i, ((hdl_t, frame, start, end), p) in enumerate(zip(self.frames, packets)):
            assert frame[-4:] == (zlib.crc32(frame[:-4]) & 0xFFFF_FFFF).to_bytes(4, "little"), f"frame {i}: bad FCS"
            assert frame == expected_frame(p), f"frame {i} ({len(p)} bytes) differs from the packet sent"
            assert hdl_t == end, f"frame {i}: the MAC handed it over at HDL time {hdl_t}, model says {end}"
            assert end - start == wire_time_ps(len(frame)), f"frame {i}: {end - start} ps on the wire"
            if i:
                assert start >= self.frames[i - 1][3], f"frame {i} starts before frame {i - 1} has left"

    async def check_pins(self, strobes: list, msix_count0: int, irq_count0: int) -> None:
        """One strobe per MSI-X message, at its time, with its data; counted and latched by HDL; no INTx."""
        await ReadOnly()
        rises = [t for t, _ in strobes]
        assert [d for _, d in strobes] == [m[2] for m in self.messages], "msix_data at the strobes"
        assert int(self.dut.msix_count.value) - msix_count0 == len(self.messages)
        assert int(self.dut.msix_last_data.value) == self.messages[-1][2]
        # each strobe rises at its message's time (or right after the previous strobe, if closer than 2 ns)
        due, expected = None, []
        for t, _, _ in self.messages:
            due = t if due is None else max(t, due + 2 * MSIX_PULSE_PS)
            expected.append(due)
        bad = [(i, r, e) for i, (r, e) in enumerate(zip(rises, expected)) if r != e]
        assert len(rises) == len(expected) and not bad, \
            f"{len(rises)} strobes for {len(expected)} messages; (index, strobe, message time): {bad[:4]}"
        assert [m[0] for m in self.messages] == [t for t, _ in self.s.host.msi.received]
        assert int(self.dut.irq_count.value) == irq_count0 and self.dut.irq.value == 0, "INTx asserted in MSI-X mode"


async def _start(dut) -> None:
    """Begin on a rising clock edge, out of the read-only phase."""
    half = int(dut.CLK_HALF_PERIOD_PS.value)
    assert half == CLK_HALF_PERIOD_PS, (
        f"nic_top built with CLK_HALF_PERIOD_PS={half}; this bench wants {CLK_HALF_PERIOD_PS} "
        "(-P nic_top.CLK_HALF_PERIOD_PS=...): a faster clock only makes the hang test crawl")
    await RisingEdge(dut.clk)
    await ReadOnly()
    await RisingEdge(dut.clk)


async def _watch_strobe(dut, strobes: list, epoch_ps: int) -> None:
    """Record (model time, msix_data) at every rising edge of ``dut.msix_strobe``, as HDL sees them."""
    while True:
        await RisingEdge(dut.msix_strobe)
        t = hdl_time_ps() - epoch_ps
        await ReadOnly()
        strobes.append((t, int(dut.msix_data.value)))
        await FallingEdge(dut.msix_strobe)


@cocotb.test()
async def driver_open_and_transmit(dut):
    """Probe + open, registers read by a CPU, 16 packets sent and cleaned; frames; pins."""
    _quiet_loggers()
    await _start(dut)
    b = DriverBench(dut)
    s, eng = b.s, b.engine
    irq_count0, msix_count0 = int(dut.irq_count.value), int(dut.msix_count.value)
    strobes: list = []
    watcher = cocotb.start_soon(_watch_strobe(dut, strobes, eng.epoch_ps))
    packets = make_packets(cocotb.RANDOM_SEED, PACKETS)

    out = await run_cocotb(s, transmit_scenario(s, packets))
    await eng.run(eng.now + 4 * MSIX_PULSE_PS)
    watcher.cancel()

    # --- open and the registers as a CPU reads them ----------------------------------------------
    assert out["open"] == 0, f"open failed: {out['open']}"
    assert out["t_open"] >= 10 * MS, f"open took {out['t_open']} ps; igb_configure_tx sleeps 10 ms"
    regs = out["regs"]
    assert regs["TXDCTL0"] == 0x0201_0108, f"TXDCTL0 {regs['TXDCTL0']:#x}"
    assert regs["TDLEN0"] == RING_SIZE * 16, f"TDLEN0 {regs['TDLEN0']}"
    assert regs["TDH0"] == regs["TDT0"] == 0
    assert regs["TCTL"] & (E1000_TCTL_EN | E1000_TCTL_PSP) == E1000_TCTL_EN | E1000_TCTL_PSP, f"TCTL {regs['TCTL']:#x}"
    assert regs["GPIE"] == 0xC000_0011, f"GPIE {regs['GPIE']:#x}"
    vec = tx_vector(s)
    queue_vectors = sum(q.eims_value for q in s.adapter.q_vector)
    assert queue_vectors == 0b11110 and vec == 3, "82576 with 2 queues: vectors 1-2 RX, 3-4 TX"
    assert regs["EIMS"] & queue_vectors == queue_vectors, f"EIMS {regs['EIMS']:#x}"
    msg = s.adapter.msix_entries[vec]
    assert (regs["MSIX_ADDR"], regs["MSIX_DATA"]) == (msg.address, msg.data), "TX vector's MSI-X table entry"
    assert out["carrier"], "the watchdog task did not turn the carrier on"

    # --- transmission: all sent, cleaned, on the wire as sent --------------------------------------
    ring = s.adapter.tx_ring[0]
    sender = out["sender"]
    n = len(packets)
    assert sender.sent == n and not sender.backlog and out["handed"] == n   # none retried (NETDEV_TX_BUSY)
    assert ring.next_to_use == ring.next_to_clean == sum(1 + f for _, f in packets) % RING_SIZE, \
        "one descriptor per buffer (no context descriptor: no offload asked for)"
    assert ring.tx_stats.packets == n and netdev_get_tx_queue(s.netdev, 0).dql.inflight == 0
    b.check_frames([p for p, _ in packets])
    assert b.frames[0][2] >= out["t_send"]

    # --- MSI-X: the TX vector's messages, each strobed with its data --------------------------------
    after = [i for i, m in enumerate(b.messages) if m[0] >= out["t_send"]]
    tx_idx = [i for i in after if b.messages[i][2] == msg.data]
    assert tx_idx, "no MSI-X message of TX queue 0's vector after the send"
    assert all(b.messages[i][1] == msg.address for i in tx_idx)
    assert {m[2] for m in b.messages} <= {e.data for e in s.adapter.msix_entries}
    assert b.dd_pending[tx_idx[0]] > 0, "the first TX completion message overtook its write-back"
    await b.check_pins(strobes, msix_count0, irq_count0)
    dut._log.info("open done at %.3f ms; %d packets sent at %.3f ms, on the wire and cleaned at %.3f ms; "
                  "%d MSI-X messages (%d of the TX vector after the send)",
                  out["t_open"] / MS, n, out["t_send"] / MS, out["t_done"] / MS, len(b.messages), len(tx_idx))


@cocotb.test()
async def driver_hang_and_reset(dut):
    """Stalled transmitter: hang report, TX timeout, reset, recovery; close/open/close; nothing leaked."""
    _quiet_loggers()
    await _start(dut)
    b = DriverBench(dut)
    s, eng = b.s, b.engine
    irq_count0, msix_count0 = int(dut.irq_count.value), int(dut.msix_count.value)
    strobes: list = []
    watcher = cocotb.start_soon(_watch_strobe(dut, strobes, eng.epoch_ps))
    seed = cocotb.RANDOM_SEED
    before, stalled, after, reopen = hang_packets(seed)
    adapter = s.adapter

    out = await run_cocotb(s, hang_scenario(s, seed))
    await eng.run(eng.now + 4 * MSIX_PULSE_PS)
    watcher.cancel()

    # --- the stall ----------------------------------------------------------------------------------
    stuck = out["stuck"]
    span = (stuck["ntu"] - stuck["ntc"]) % RING_SIZE
    assert span > 0, "nothing stuck in the ring: the packet buffer did not fill"
    assert stuck["wire"] == len(before), "a frame left the MAC with TCTL.EN clear"
    # what the NIC took into its packet buffer was written back and cleaned (so the driver counts it
    # as sent), and the reset discards it: those frames never reach the wire (checked below)
    in_buffer = len(stalled) - span - stuck["held"]
    assert in_buffer > 0 and in_buffer * 1514 <= 40 * 1024, f"{in_buffer} full-size frames in the packet buffer"

    # --- hang reports, timeout, reset -----------------------------------------------------------------
    reports = adapter.hang_reports
    assert len(reports) >= 2, f"{len(reports)} hang reports"
    # one report per 2 s watchdog pass; each follows its EICS kick by a store-buffer drain and an
    # MSI delivery latency drawn per pass (<= 150 ns a store, 0.5-5 us: sim.host.timing)
    gaps = [r2.time_ps - r1.time_ps for r1, r2 in zip(reports, reports[1:])]
    assert all(abs(gap - 2 * S) < 10 * US for gap in gaps), f"hang reports {gaps} ps apart, not 2 s"
    for r in reports:
        assert (r.queue, r.next_to_clean, r.next_to_use, r.tdt) == (0, stuck["ntc"], stuck["ntu"], stuck["ntu"])
        assert (r.tdh - stuck["ntc"]) % RING_SIZE <= span, "TDH outside the stuck span"
        assert r.time_stamp == stuck["time_stamp"] and r.desc_status & 1 == 0
    assert "Detected Tx Unit Hang" in str(reports[0])
    assert adapter.tx_timeout_count == 1 and adapter.resets == 1
    assert netdev_get_tx_queue(s.netdev, 0).trans_timeout == 1
    events = [(r[0], r[2], r[3:]) for r in b.trace if r[2] in ("tx_hang", "tx_timeout", "reset_adapter", "reset")]
    timeouts = [t for t, what, _ in events if what == "tx_timeout"]
    resets = [(t, data) for t, what, data in events if what == "reset"]
    # one reset for the timeout; each close (igb_down -> igb_reset) resets the NIC again
    assert len(timeouts) == 1 and [d for _, d in resets] == [("CTRL.RST",)] * 3, f"{events}"
    assert [t for t, _ in resets if t < out["t_recovered"]] == [resets[0][0]]
    assert all(r.time_ps < timeouts[0] for r in reports) and timeouts[0] < resets[0][0]
    assert timeouts[0] - out["t_stall"] < 15 * S
    assert out["t_recovered"] > resets[0][0]
    regs = out["regs_after_reset"]
    assert (regs["TXDCTL0"], regs["TDLEN0"], regs["GPIE"]) == (0x0201_0108, RING_SIZE * 16, 0xC000_0011), \
        "igb_up did not restore the TX ring / interrupt registers after the reset"
    assert regs["TCTL"] & E1000_TCTL_EN and regs["TDH0"] == regs["TDT0"]
    assert out["tx_dropped"] == span, f"ring drops {out['tx_dropped']}; the reset frees the {span} in the ring"

    # --- frames: before, then new traffic after the reset, then after re-open -------------------------
    # none of the stalled batch: the packet buffer's frames go with the reset, the ring's and the qdisc's
    # are dropped
    sent = [p for p, _ in before + after + reopen]
    b.check_frames(sent)
    assert stuck["held"] > 0, "nothing waited in the qdisc: the queue never stopped"
    assert s.net.skb.dropped == span + stuck["held"], \
        f"{s.net.skb.dropped} skbs dropped; the reset should drop the {span} in the ring and the {stuck['held']} queued"

    # --- close, re-open, close: nothing leaked ------------------------------------------------------------
    # BAR0 mapping, MSI-X vectors, the q_vectors' ring structs (kzalloc): released by remove
    probe_held = {"ioremap", "irq_vectors", "kzalloc"}
    assert out["probe_held"] == probe_held, f"held after probe: {out['probe_held']}"
    assert out["held_after_close"] == probe_held, f"held after close: {out['held_after_close']}"
    assert not out["coherent_after_close"] and not out["streaming_after_close"]
    assert out["reopen"] == 0
    assert out["held_after_close2"] == probe_held, f"held after the second close: {out['held_after_close2']}"
    s.net.skb.assert_no_leaks("after close")
    await b.check_pins(strobes, msix_count0, irq_count0)
    dut._log.info("stalled at %.3f ms; %d hang reports (%s s); TX timeout at %.3f s, reset at %.3f s; "
                  "recovered at %.3f s; %d frames; end at %.3f s",
                  out["t_stall"] / MS, len(reports), ", ".join(f"{r.time_ps / S:.3f}" for r in reports),
                  timeouts[0] / S, resets[0][0] / S, out["t_recovered"] / S, len(b.frames), out["t_end"] / S)
