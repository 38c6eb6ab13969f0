"""A full-duplex Ethernet cable between our NIC's MAC (side A) and a link partner (side B).

Direction A→B. Our MAC already serialised the frame: it calls its sinks with
``(frame_with_fcs, start_ps, end_ps)`` at ``end_ps`` (:mod:`rtl_model.mac`;
``end_ps`` includes the 12-byte inter-packet gap after the frame). The wire
checks the FCS (``zlib.crc32``, little-endian after the frame, as the MAC
appends it): a frame with a bad FCS is counted in :attr:`Wire.bad_fcs`,
logged and captured, and not delivered (a receiving MAC drops it). A good
frame is delivered to ``to_partner(frame_without_fcs, time_ps)`` at
``end_ps + propagation``.

Direction B→A. The wire is the partner's MAC: :meth:`Wire.send_to_host`
takes a frame without FCS, pads it to 60 bytes, appends the FCS and
serialises it in FIFO order at the link speed. A frame occupies the wire
for ``(max(len, 60) + 4 FCS + 8 preamble/SFD + 12 IPG) * 8`` bit times —
the same rule as ``rtl_model.mac.wire_time_ps``, re-derived here so that
the wire does not depend on the NIC model — starting at ``max(now, end of
the previous frame)``. It is delivered to ``to_host(frame_without_fcs,
time_ps)`` (padded, FCS stripped, as a receiving NIC hands it up) at the
end of its slot plus propagation.

Delivery time, both directions: **end of the frame's wire slot (IPG
included) + propagation**. The last FCS bit actually arrives 12 byte times
(96 ns at 1 Gb/s) before that; the MAC only reports a frame at the end of
its slot, so using the same point for both directions keeps them
comparable. Propagation: ``length_m`` × 5 ns/m (about 2/3 c in copper),
default 2 m = 10 ns; ``prop_delay_ps`` overrides it.

Speed and link. Standalone, the B→A direction runs at ``speed_mbps``. After
:meth:`Wire.attach_mac` it follows the MAC's ``speed_mbps`` (the link speed
is the same both ways) and drops partner frames while the MAC's
``link_up`` is false (counted in :attr:`Wire.dropped_link_down`).

Observing. Each direction counts its frames and bytes and the last
delivery time (O(1) state), keeps a log of :class:`WireFrame` only when
asked (``keep_log``; ``IgbSystem`` asks by default, ``igbsim run`` does
not), and both feed an optional :class:`sim.assembly.pcap.PcapWriter`,
stamped at the frame's first bit (``pcap_at="start"``, default), the end of
its slot (``"end"``) or its delivery (``"arrival"``). After each frame the
wire lets the writer stream to disk what is older than
:data:`PCAP_REORDER_PS` before now: no later frame can be stamped earlier
(an A→B frame is reported at the end of its slot, a B→A frame when it is
queued, and no slot is longer than a 16 KiB frame's at 10 Mb/s).
"""
from __future__ import annotations

import zlib
from typing import Callable, NamedTuple

__all__ = ["Wire", "WireFrame", "frame_wire_time_ps", "fcs", "PS_PER_M", "MIN_FRAME", "WIRE_OVERHEAD",
           "PCAP_REORDER_PS"]

#: Propagation delay per metre of cable (5 ns/m).
PS_PER_M = 5_000
#: Minimum Ethernet frame length without FCS (60 + 4 FCS = 64).
MIN_FRAME = 60
#: Bytes on the wire besides the frame: FCS 4 + preamble/SFD 8 + inter-packet gap 12.
WIRE_OVERHEAD = 4 + 8 + 12
#: How far before now a frame can still be stamped: the slot of a 16 KiB frame at 10 Mb/s (13.1 ms).
PCAP_REORDER_PS = (16384 + WIRE_OVERHEAD) * 8 * 100_000


def fcs(frame: bytes) -> bytes:
    """The Ethernet FCS of ``frame``: CRC-32, little-endian, as appended on the wire."""
    return (zlib.crc32(frame) & 0xFFFF_FFFF).to_bytes(4, "little")


def frame_wire_time_ps(frame_len_without_fcs: int, speed_mbps: int) -> int:
    """Picoseconds one frame occupies the wire: (max(len, 60) + 4 + 8 + 12) bytes at ``speed_mbps``.

    A 1514-byte frame (1518 with FCS) takes 12.304 us at 1000 Mb/s; a minimum frame 672 ns.
    """
    if speed_mbps <= 0:
        raise ValueError(f"link speed {speed_mbps!r} Mb/s")
    bits = (max(frame_len_without_fcs, MIN_FRAME) + WIRE_OVERHEAD) * 8
    ps, rem = divmod(bits * 1_000_000, speed_mbps)
    if rem:
        raise ValueError(f"{speed_mbps} Mb/s: a bit time is not a whole number of picoseconds")
    return ps


class WireFrame(NamedTuple):
    """One frame in a direction's log: bytes without FCS, first bit, end of slot (IPG included), delivery."""

    frame: bytes
    start_ps: int
    end_ps: int
    arrive_ps: int
    fcs_ok: bool


class Wire:
    """A full-duplex link: A = our NIC's MAC, B = the link partner (see the module docstring).

    Parameters: ``speed_mbps`` (B→A speed until a MAC is attached),
    ``length_m`` / ``prop_delay_ps`` (propagation), ``pcap`` (a PcapWriter
    fed by both directions), ``pcap_at`` (which time stamps a capture),
    ``to_partner`` / ``to_host`` (delivery callbacks ``fn(frame, time_ps)``,
    settable later), ``keep_log``.
    """

    def __init__(self, engine, *, speed_mbps: int = 1000, length_m: float = 2.0, prop_delay_ps: int | None = None,
                 pcap=None, pcap_at: str = "start", to_partner: Callable | None = None,
                 to_host: Callable | None = None, keep_log: bool = True, name: str = "wire"):
        if pcap_at not in ("start", "end", "arrival"):
            raise ValueError(f"pcap_at {pcap_at!r}: must be 'start', 'end' or 'arrival'")
        if length_m < 0 or (prop_delay_ps is not None and prop_delay_ps < 0):
            raise ValueError("negative propagation delay")
        frame_wire_time_ps(0, speed_mbps)   # validates the speed
        self.engine = engine
        self.name = name
        self._speed = speed_mbps
        self.length_m = length_m
        self.prop_delay_ps = round(length_m * PS_PER_M) if prop_delay_ps is None else int(prop_delay_ps)
        self.pcap = pcap
        self.pcap_at = pcap_at
        self.to_partner = to_partner
        self.to_host = to_host
        self.keep_log = keep_log
        self.mac = None
        #: Logs per direction: A→B (from our MAC) and B→A (from the partner).
        self.a_to_b: list[WireFrame] = []
        self.b_to_a: list[WireFrame] = []
        self.frames_a_to_b = 0
        self.frames_b_to_a = 0
        #: Delivery time of the last frame in each direction (0: none yet).
        self.last_arrive_a_to_b_ps = 0
        self.last_arrive_b_to_a_ps = 0
        self.bytes_a_to_b = 0   # frame bytes with FCS, no preamble/IPG
        self.bytes_b_to_a = 0
        self.bad_fcs = 0
        self.dropped_link_down = 0
        #: When the B→A direction is free again (end of the last partner frame's IPG).
        self.b_busy_until_ps = 0

    # --- wiring -------------------------------------------------------------
    @property
    def speed_mbps(self) -> int:
        """The link speed: the attached MAC's, else the constructor's."""
        return self.mac.speed_mbps if self.mac is not None else self._speed

    def attach_mac(self, mac) -> None:
        """Make ``mac`` (anything with ``add_sink``, ``speed_mbps``, ``link_up``) side A."""
        self.mac = mac
        mac.add_sink(self.from_mac)

    def attach_partner(self, partner) -> None:
        """Make ``partner`` side B: A→B frames go to ``partner.receive``; it sends with :meth:`send_to_host`."""
        self.to_partner = partner.receive
        partner.transmit = self.send_to_host

    # --- A -> B ---------------------------------------------------------------
    def from_mac(self, frame_with_fcs: bytes, start_ps: int, end_ps: int) -> None:
        """MAC sink: a frame our NIC finished sending (called at ``end_ps``)."""
        frame_with_fcs = bytes(frame_with_fcs)
        body = frame_with_fcs[:-4]
        ok = len(frame_with_fcs) >= 4 and frame_with_fcs[-4:] == fcs(body)
        arrive = end_ps + self.prop_delay_ps
        self.frames_a_to_b += 1
        self.bytes_a_to_b += len(frame_with_fcs)
        self.last_arrive_a_to_b_ps = arrive
        if not ok:
            self.bad_fcs += 1
            self.engine.log(self.name, "bad fcs", len(frame_with_fcs))
        rec = WireFrame(body, start_ps, end_ps, arrive, ok)
        if self.keep_log:
            self.a_to_b.append(rec)
        self._capture(rec)
        if ok and self.to_partner is not None:
            self.engine.call_later(max(0, arrive - self.engine.now), self.to_partner, body, arrive)

    # --- B -> A ---------------------------------------------------------------
    def send_to_host(self, frame: bytes) -> int | None:
        """Queue a partner frame (no FCS) for serialisation; returns its delivery time (None: dropped)."""
        frame = bytes(frame)
        if len(frame) < 14:
            raise ValueError(f"{len(frame)}-byte frame: shorter than an Ethernet header")
        if self.mac is not None and not self.mac.link_up:
            self.dropped_link_down += 1
            self.engine.log(self.name, "drop b->a", len(frame), "link down")
            return None
        if len(frame) < MIN_FRAME:
            frame = frame + bytes(MIN_FRAME - len(frame))
        now = self.engine.now
        start = max(now, self.b_busy_until_ps)
        end = start + frame_wire_time_ps(len(frame), self.speed_mbps)
        self.b_busy_until_ps = end
        arrive = end + self.prop_delay_ps
        self.frames_b_to_a += 1
        self.bytes_b_to_a += len(frame) + 4
        self.last_arrive_b_to_a_ps = arrive
        rec = WireFrame(frame, start, end, arrive, True)
        if self.keep_log:
            self.b_to_a.append(rec)
        self._capture(rec)
        self.engine.log(self.name, "b->a", len(frame) + 4, start, end)
        self.engine.call_later(arrive - now, self._deliver_to_host, frame, arrive)
        return arrive

    def _deliver_to_host(self, frame: bytes, time_ps: int) -> None:
        if self.to_host is not None:
            self.to_host(frame, time_ps)

    # --- observing --------------------------------------------------------------
    def _capture(self, rec: WireFrame) -> None:
        if self.pcap is None:
            return
        t = rec.start_ps if self.pcap_at == "start" else rec.end_ps if self.pcap_at == "end" else rec.arrive_ps
        self.pcap.write(rec.frame, t)
        self.pcap.flush_before(self.engine.now - PCAP_REORDER_PS)
