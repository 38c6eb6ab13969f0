"""MAC serialisation: frames from the TX packet buffer onto the wire, back to back.

Each frame costs its bytes (FCS included, as built by :mod:`rtl_model.offload`)
plus the 8-byte preamble/SFD before it and the inter-packet gap after it, all
at the link speed. The IPG is TIPG's default: IPGT 8 + a 4-byte-time offset =
12 byte times (igb never writes TIPG; igb_facts.md §1.4). Full duplex only:
no collisions, no half-duplex deferral, no PAUSE frames.

Timing of one frame: its first bit (the preamble) leaves at
``max(now, busy_until_ps)``; it occupies the wire for :func:`wire_time_ps`,
so its ``end_ps`` includes the IPG that follows it and is exactly when the
next frame may start. The last FCS bit leaves ``IFG_BYTES`` byte times before
``end_ps``. Sinks (the wire, a link partner, a pcap writer) are called at
``end_ps`` with ``(frame_bytes, start_ps, end_ps)``.

Link down (:meth:`MacPort.set_link`): a frame taken from the FIFO while the
link is down, or whose transmission the link went down during, is dropped
and counted in ``frames_dropped_link_down``; no sink sees it. Real igb is
believed to stop TX DMA on link loss instead (igb_watchdog_task: "We've lost
link, so the controller stops DMA" and resets the controller to flush Tx);
stopping the DMA is the DMA engine's business; this block only drops what
already reached the MAC.
"""
from __future__ import annotations

from sim.engine import Store

__all__ = ["PREAMBLE_SFD_BYTES", "IFG_BYTES", "SPEEDS_MBPS", "wire_time_ps", "byte_time_ps", "MacPort"]

#: Preamble (7 bytes) + start frame delimiter (1 byte).
PREAMBLE_SFD_BYTES = 8
#: Inter-packet gap: TIPG.IPGT default 8 + 4 byte times (igb_facts.md §1.4).
IFG_BYTES = 12
#: Link speeds the MAC runs at.
SPEEDS_MBPS = (10, 100, 1000)

_PS_PER_US = 1_000_000


def _check_speed(speed_mbps: int) -> None:
    """ValueError unless ``speed_mbps`` is 10, 100 or 1000."""
    if speed_mbps not in SPEEDS_MBPS:
        raise ValueError(f"link speed {speed_mbps!r} Mb/s: must be one of {SPEEDS_MBPS}")


def byte_time_ps(speed_mbps: int) -> int:
    """Picoseconds per byte: 8000 at 1000 Mb/s, 80000 at 100, 800000 at 10."""
    _check_speed(speed_mbps)
    return 8 * _PS_PER_US // speed_mbps


def wire_time_ps(frame_len_with_fcs: int, speed_mbps: int) -> int:
    """Wire occupancy of one frame: (length + preamble/SFD + IPG) bytes at the link speed, exact.

    At 1 Gb/s a 64-byte frame takes 672 ns, a 1518-byte one 12.304 us.
    """
    if frame_len_with_fcs < 0:
        raise ValueError(f"negative frame length {frame_len_with_fcs}")
    return (frame_len_with_fcs + PREAMBLE_SFD_BYTES + IFG_BYTES) * byte_time_ps(speed_mbps)


class MacPort:
    """One MAC transmitting frames from ``tx_fifo`` (a Store of bytes) back to back.

    Counters: ``frames_sent``, ``bytes_sent`` (frame bytes incl. FCS, without
    preamble and IPG), ``frames_dropped_link_down``. ``busy_until_ps`` is when
    the wire is next free (end of the last frame's IPG).
    """

    def __init__(self, engine, speed_mbps: int = 1000, name: str = "mac0"):
        _check_speed(speed_mbps)
        self.engine = engine
        self.name = name
        self.speed_mbps = speed_mbps
        self.link_up = True
        self.tx_fifo = Store(engine)
        self.sinks: list = []
        #: ``fn(frame)`` for every frame lost to link down (the packet buffer gets its space back).
        self.drop_sinks: list = []
        self.frames_sent = 0
        self.bytes_sent = 0
        self.frames_dropped_link_down = 0
        self.busy_until_ps = 0
        self.process = engine.spawn(self._transmit_loop(), name)

    def add_sink(self, fn) -> None:
        """Call ``fn(frame_bytes, start_ps, end_ps)`` for every frame that completes."""
        self.sinks.append(fn)

    def send(self, frame: bytes):
        """Queue ``frame`` for transmission; returns the Store's put event."""
        return self.tx_fifo.put(frame)

    def set_speed(self, speed_mbps: int) -> None:
        """Change the link speed (10/100/1000); applies from the next frame started."""
        _check_speed(speed_mbps)
        self.speed_mbps = speed_mbps
        self.engine.log(self.name, "speed", speed_mbps)

    def set_link(self, up: bool) -> None:
        """Link up or down; while down, frames reaching the MAC are dropped and counted."""
        self.link_up = bool(up)
        self.engine.log(self.name, "link", "up" if self.link_up else "down")

    def discard_queued(self) -> list[bytes]:
        """Remove and return the frames waiting in ``tx_fifo`` (none of them has started).

        The frame being serialised, if any, is not in the FIFO any more and
        finishes normally (a device reset cannot recall bits already on the wire).
        """
        frames = list(self.tx_fifo.items)
        self.tx_fifo.items.clear()
        if frames:
            self.engine.log(self.name, "discard", len(frames))
        return frames

    def _drop(self, frame: bytes, why: str) -> None:
        """Count and log a frame lost to link down."""
        self.frames_dropped_link_down += 1
        self.engine.log(self.name, "drop", len(frame), why)
        for sink in self.drop_sinks:
            sink(frame)

    def _transmit_loop(self):
        """Take frames in order; wait for the wire; occupy it; hand the frame to the sinks."""
        engine = self.engine
        while True:
            frame = yield self.tx_fifo.get()
            if not self.link_up:
                self._drop(frame, "link down")
                continue
            start_ps = max(engine.now, self.busy_until_ps)
            end_ps = start_ps + wire_time_ps(len(frame), self.speed_mbps)
            self.busy_until_ps = end_ps
            yield engine.timeout(end_ps - engine.now)
            if not self.link_up:
                self._drop(frame, "link went down during transmission")
                continue
            self._complete(frame, start_ps, end_ps)

    def _complete(self, frame: bytes, start_ps: int, end_ps: int) -> None:
        """Count the frame, log it and call every sink."""
        self.frames_sent += 1
        self.bytes_sent += len(frame)
        self.engine.log(self.name, "tx", len(frame), start_ps, end_ps)
        for sink in self.sinks:
            sink(frame, start_ps, end_ps)
