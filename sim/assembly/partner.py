"""The link partner: a host at the far end of the wire, working on raw Ethernet frames.

It has its own MAC and IPv4 address and implements just enough of a Linux
host to be the peer of our TX path (``research/stack_facts.md`` §6, §11):

* **ARP**: replies to requests for its IP (learning the requester); ARPs
  for an address it must send to and does not know (broadcast request,
  1 s retransmit, 3 probes, then the queued packets are dropped). It learns
  from every ARP aimed at it and from the source of every IPv4 frame it
  accepts; a static entry can be added with :meth:`LinkPartner.add_neighbour`.
* **IPv4 input**: header checksum (bad → counted, dropped), length checks
  (Ethernet padding stripped), reassembly of fragments keyed by (src, dst,
  protocol, id) with a 30 s timeout; a fragment that partly overlaps
  another drops the whole datagram (Linux since 4.19), an exact or covered
  duplicate is ignored. **Output**: TTL 64, DF for TCP, one ID counter.
* **UDP**: every port is a sink: per-port datagram list and byte counter;
  checksum validated (0 = none, as IPv4 allows).
* **TCP**, the client of the reference program: :meth:`LinkPartner.connect`
  sends a SYN (MSS, timestamps, window scale; no SACK), completes the
  handshake and receives (see :class:`TcpConn` for the ACK policy, window,
  timestamps and FIN). It sends no data.
* A segment for no connection gets a RST (RFC 793).

Frames in: :meth:`LinkPartner.receive` ``(frame_without_fcs, time_ps)``,
the wire's A→B delivery; ``proc_delay_ps`` delays processing of each frame.
Frames out: ``transmit(frame)`` — the wire's :meth:`sim.assembly.wire.Wire.send_to_host`
after ``wire.attach_partner(partner)`` (or the ``wire=`` argument), or any
callable given as ``transmit=``. Frames are padded to 60 bytes, no FCS.

Loss (:class:`RxLoss`): drops received frames by index, TCP data segments
by index, or at random with a probability drawn from the engine's choice
source (``engine.choose_index``), so a run is reproducible and replayable.

Counters: :attr:`LinkPartner.stats` (keys in :data:`STAT_KEYS`) and per
connection :attr:`TcpConn.stats`.
"""
from __future__ import annotations

import random
import socket
import struct
from bisect import insort
from fractions import Fraction
from typing import Callable, NamedTuple

__all__ = ["LinkPartner", "TcpConn", "RxLoss", "UdpDatagram", "inet_checksum", "checksum_ok",
           "mac_bytes", "ip_bytes", "STAT_KEYS", "TCP_STATS"]

PS_PER_MS = 1_000_000_000
PS_PER_S = 1_000_000_000_000

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
BROADCAST = b"\xff" * 6
IP_BROADCAST = b"\xff" * 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_M32 = 0xFFFF_FFFF
_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IP = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_TCP = struct.Struct("!HHIIHHHH")
_TS_OPT = struct.Struct("!BBBBII")   # NOP NOP kind len TSval TSecr

#: Partner-wide counters (all start at 0).
STAT_KEYS = (
    "rx_frames", "rx_lost", "rx_not_for_us", "rx_other_type", "tx_frames",
    "arp_rx", "arp_bad", "arp_requests_rx", "arp_replies_rx", "arp_requests_tx", "arp_replies_tx",
    "arp_failed", "arp_queue_drops",
    "ip_rx", "ip_tx", "bad_ip_csum", "bad_ip_header", "ip_not_for_us", "ip_other_proto",
    "frags_rx", "frags_reassembled", "frag_timeouts", "frag_overlaps", "frag_dups", "frag_bad",
    "udp_rx", "udp_bytes", "bad_udp_csum", "bad_udp_header",
    "tcp_rx", "bad_tcp_csum", "bad_tcp_header", "tcp_no_conn", "tcp_rst_tx",
)
#: Per-connection counters; each is also summed into the partner's :attr:`LinkPartner.stats`.
TCP_STATS = (
    "segments", "data_segments", "data_bytes", "ooo_segments", "dup_segments", "out_of_window",
    "data_lost", "acks_sent", "dup_acks_sent", "delayed_acks", "window_updates", "bytes_delivered",
)


# --- helpers -----------------------------------------------------------------------
def mac_bytes(mac) -> bytes:
    """``"02:00:00:00:00:01"`` or 6 bytes → 6 bytes."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"MAC address of {len(mac)} bytes")
        return bytes(mac)
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"bad MAC address {mac!r}")
    return bytes(int(p, 16) for p in parts)


def ip_bytes(ip) -> bytes:
    """``"10.0.0.2"`` or 4 bytes → 4 bytes."""
    if isinstance(ip, (bytes, bytearray)):
        if len(ip) != 4:
            raise ValueError(f"IPv4 address of {len(ip)} bytes")
        return bytes(ip)
    return socket.inet_aton(ip)


def _ip_str(ip: bytes) -> str:
    return socket.inet_ntoa(ip)


def inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: one's complement of the one's-complement sum.

    Computed as the big number ``data`` modulo 0xFFFF (2**16 ≡ 1), which is the
    one's-complement sum with 0 read as 0xFFFF unless every word is zero.
    """
    if len(data) & 1:
        data = bytes(data) + b"\0"
    x = int.from_bytes(data, "big")
    s = x % 0xFFFF
    if s == 0 and x:
        s = 0xFFFF
    return ~s & 0xFFFF


def checksum_ok(data: bytes) -> bool:
    """True if ``data`` (checksum field included) sums to 0xFFFF in one's complement."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    x = int.from_bytes(data, "big")
    return x != 0 and x % 0xFFFF == 0


def _pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    return src + dst + struct.pack("!BBH", 0, proto, length)


def _sdiff(a: int, b: int) -> int:
    """``a - b`` in sequence space, as a signed 32-bit number."""
    d = (a - b) & _M32
    return d - 0x1_0000_0000 if d & 0x8000_0000 else d


def _parse_tcp_options(opts: bytes) -> dict:
    """kind → value for MSS (2), window scale (3), SACK-permitted (4), timestamps (8, (val, ecr))."""
    out = {}
    i, n = 0, len(opts)
    while i < n:
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= n:
            break
        ln = opts[i + 1]
        if ln < 2 or i + ln > n:
            break
        body = opts[i + 2:i + ln]
        if kind == 2 and ln == 4:
            out[2] = struct.unpack("!H", body)[0]
        elif kind == 3 and ln == 3:
            out[3] = body[0]
        elif kind == 4 and ln == 2:
            out[4] = True
        elif kind == 8 and ln == 10:
            out[8] = struct.unpack("!II", body)
        i += ln
    return out


class UdpDatagram(NamedTuple):
    """One UDP datagram delivered: arrival time, source address and port, payload."""

    time_ps: int
    src_ip: str
    src_port: int
    payload: bytes


class RxLoss:
    """Which received frames the partner loses (as if the wire dropped them).

    ``frames``: 1-based indices of received frames to drop (every frame
    counts: ARP, IP, ...). ``data_segments``: 1-based indices of TCP segments
    with payload (counted over all connections, before the drop decision).
    ``prob``: probability of losing any frame, as a fraction with denominator
    at most ``resolution``; decided with ``engine.choose_index`` (recorded
    and replayable) unless ``seed`` is given, then by ``random.Random(seed)``.
    """

    def __init__(self, frames=(), data_segments=(), prob: float = 0.0, seed: int | None = None,
                 resolution: int = 1_000_000):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"loss probability {prob}")
        self.frames = frozenset(frames)
        self.data_segments = frozenset(data_segments)
        self.prob = Fraction(prob).limit_denominator(resolution)
        self._rng = random.Random(seed) if seed is not None else None
        self.frame_index = 0
        self.data_index = 0

    def drop_frame(self, engine) -> bool:
        """Called once per received frame."""
        self.frame_index += 1
        if self.frame_index in self.frames:
            return True
        p = self.prob
        if p == 0:
            return False
        if p == 1:
            return True
        n = self._rng.randrange(p.denominator) if self._rng is not None else \
            engine.choose_index(p.denominator, "partner rx loss")
        return n < p.numerator

    def drop_data_segment(self) -> bool:
        """Called once per received TCP segment carrying data."""
        self.data_index += 1
        return self.data_index in self.data_segments


class _FragQueue:
    __slots__ = ("parts", "have", "total", "header", "timer")

    def __init__(self):
        self.parts: list[tuple[int, int, bytes]] = []   # (offset, end, data), sorted
        self.have = 0
        self.total: int | None = None
        self.header: bytes | None = None
        self.timer = None


# --- TCP -----------------------------------------------------------------------------
class TcpConn:
    """One TCP connection of the partner (the client side: it receives).

    States: ``CLOSED`` (before the SYN, after the close, after a reset or a
    failed connect), ``SYN_SENT``, ``ESTABLISHED``, ``CLOSE_WAIT``,
    ``LAST_ACK``. ``reset`` is true after a RST; ``failed`` after the SYN
    retries ran out.

    Receiving. In-order data goes to the application buffer (``data`` when
    the partner keeps data; ``bytes_received`` always); segments beyond a
    gap wait in an out-of-order queue and are delivered when the gap fills.
    The application consumes at once, or at ``app_rate_bps`` in reads of
    ``app_read_bytes``.

    ACK policy (Linux's ``__tcp_ack_snd_check``): ACK at once when more than
    one receive MSS of data is unacknowledged (every 2nd full-sized segment)
    and the window does not shrink (or everything was read); at once on a
    segment beyond a gap (a duplicate ACK: same ack number), on an old
    (duplicate) segment, on an out-of-window segment and when the segment
    filled a gap; the first ``quickacks`` data segments are ACKed at once
    (Linux starts in quick-ACK mode; 0 by default here). Otherwise the
    delayed-ACK timer (``delack_ps``, 40 ms) from the first unacknowledged
    segment. The receive MSS estimate starts at 536 and grows to the largest
    payload seen (capped at the MSS we advertised).

    Window: free space = ``rcvbuf`` − unread − out-of-order bytes, rounded
    down to the scale unit, never shrinking the right edge already advertised
    (``tcp_select_window``); the field carries it ``>> rcv_wscale``. The SYN
    carries ``min(rcvbuf, 65535)``, unscaled. No auto-tuning. After a read
    that at least doubles a window fallen below half the buffer, a window
    update is sent (``tcp_cleanup_rbuf``).

    Timestamps: TSval = ``ts_offset`` + now in ms. TSecr echoes ``ts_recent``,
    taken from a segment's TSval when its sequence number is at or before
    the last ACK sent (RFC 7323 §4.3, Linux ``tcp_replace_ts_recent``): the
    echo is the TSval of the earliest segment the ACK covers (for a lone or
    the first of two segments: that segment's), never one from beyond a gap.

    FIN: the FIN is taken in order; when everything has been read the
    application closes, so the partner answers with FIN|ACK (``LAST_ACK``),
    and is ``CLOSED`` when that FIN is acknowledged. SYN and FIN are
    retransmitted after 1 s, doubling, ``syn_retries`` times.
    """

    def __init__(self, partner: "LinkPartner", lport: int, rip: bytes, rport: int, iss: int):
        self.partner = partner
        self.engine = partner.engine
        self.lport = lport
        self.rip = rip
        self.rport = rport
        self.state = "CLOSED"
        self.reset = False
        self.failed = False
        self.stats = dict.fromkeys(TCP_STATS, 0)
        # send side (SYN and FIN only)
        self.iss = iss & _M32
        self.snd_una = self.iss
        self.snd_nxt = self.iss
        self.snd_wnd = 0
        self.peer_mss = 536
        self.snd_wscale = 0
        # receive side, in unwrapped (64-bit) sequence space
        self.irs: int | None = None
        self._nxt = 0          # rcv_nxt
        self._wup = 0          # ack number of the last ACK sent (rcv_wup)
        self._edge = 0         # right edge of the window last advertised
        self.rcv_wnd = 0       # window last advertised, bytes
        self.adv_mss = partner.mss
        self.rcv_mss = 536
        self.rcv_wscale = 0
        self.ts_ok = False
        self.ts_recent = 0
        self.ooo: list[tuple[int, int, bytes, bool]] = []   # (seq, end, data, fin), unwrapped, sorted
        self.ooo_bytes = 0
        self.quickacks = partner.quickacks
        # application
        self.keep_data = partner.keep_data
        self.data = bytearray()
        self.bytes_received = 0
        self.unread = 0
        self.fin_received = False
        self._close_pending = False
        self._reading = 0
        self._fin_seq = 0
        # timers and times
        self._delack = None
        self._rtx = None
        self._rtx_count = 0
        self._rto = PS_PER_S
        self._last_ack_sent = None   # (ack, window) of the last pure ACK, for dup-ACK counting
        self.syn_sent_ps: int | None = None
        self.established_ps: int | None = None
        self.fin_received_ps: int | None = None
        self.closed_ps: int | None = None

    # --- views -------------------------------------------------------------------
    @property
    def rcv_nxt(self) -> int:
        return self._nxt & _M32

    @property
    def key(self) -> tuple[int, str, int]:
        return self.lport, _ip_str(self.rip), self.rport

    def __repr__(self) -> str:
        return f"<TcpConn :{self.lport} -> {_ip_str(self.rip)}:{self.rport} {self.state}>"

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] += n
        self.partner.stats[key] += n

    # --- opening -----------------------------------------------------------------
    def _open(self) -> None:
        self.state = "SYN_SENT"
        self.syn_sent_ps = self.engine.now
        self.snd_nxt = (self.iss + 1) & _M32
        self._send_syn()

    def _send_syn(self) -> None:
        p = self.partner
        opts = (struct.pack("!BBH", 2, 4, self.adv_mss) + b"\x01\x01"
                + struct.pack("!BBII", 8, 10, p.tsval(), 0) + b"\x01" + struct.pack("!BBB", 3, 3, p.wscale))
        self._emit(SYN, self.iss, 0, min(p.rcvbuf, 0xFFFF), opts)
        self._arm_rtx()

    def _arm_rtx(self) -> None:
        if self._rtx is not None:
            self._rtx.cancel()
        self._rtx = self.engine.call_later(self._rto, self._on_rtx)

    def _on_rtx(self) -> None:
        self._rtx = None
        if self.state not in ("SYN_SENT", "LAST_ACK"):
            return
        self._rtx_count += 1
        if self._rtx_count > self.partner.syn_retries:
            self.failed = True
            self._close()
            return
        self._rto *= 2
        if self.state == "SYN_SENT":
            self._send_syn()
        else:
            self._send_fin()

    # --- input -------------------------------------------------------------------
    def input(self, flags: int, seq: int, ack: int, win: int, opts: dict, data: bytes) -> None:
        """One valid segment (checksum already checked) for this connection."""
        self._count("segments")
        state = self.state
        if state == "SYN_SENT":
            self._input_syn_sent(flags, seq, ack, win, opts)
            return
        if state == "CLOSED":
            self.partner._send_reset(self.rip, self.lport, self.rport, flags, seq, ack, len(data))
            return
        fin = bool(flags & FIN)
        seg_len = len(data) + fin + bool(flags & SYN)
        useq = self._nxt + _sdiff(seq, self._nxt & _M32)
        uend = useq + seg_len
        window = max(0, self._edge - self._nxt)
        # tcp_sequence(): acceptable if it ends at/after rcv_wup and starts at/before the window's end
        if uend < self._wup or useq > self._nxt + window:
            if not flags & RST:
                self._count("out_of_window")
                self._send_ack()
            return
        if flags & RST:
            self.reset = True
            self._close()
            return
        if flags & SYN:
            self._send_ack()   # challenge ACK (RFC 5961)
            return
        if not flags & ACK:
            return
        if 0 < _sdiff(ack, self.snd_una) and _sdiff(ack, self.snd_nxt) <= 0:
            self.snd_una = ack
            self._rtx_count = 0
        self.snd_wnd = win << self.snd_wscale
        if state == "LAST_ACK" and self.snd_una == self.snd_nxt:
            self._close()
            return
        if self.ts_ok and 8 in opts and useq <= self._wup:
            tsval = opts[8][0]
            if _sdiff(tsval, self.ts_recent) >= 0:
                self.ts_recent = tsval
        if seg_len:
            self._data(useq, data, fin)

    def _input_syn_sent(self, flags: int, seq: int, ack: int, win: int, opts: dict) -> None:
        if flags & ACK and ack != self.snd_nxt:
            if not flags & RST:
                self.partner._send_reset(self.rip, self.lport, self.rport, flags, seq, ack, 0)
            return
        if flags & RST:
            if flags & ACK:
                self.reset = True
                self._close()
            return
        if not (flags & SYN and flags & ACK):
            return   # no simultaneous open
        p = self.partner
        self.irs = seq
        self._nxt = seq + 1
        self.snd_una = ack
        self.peer_mss = opts.get(2, 536)
        if 3 in opts:
            self.snd_wscale = min(opts[3], 14)
            self.rcv_wscale = p.wscale
        if 8 in opts:
            self.ts_ok = True
            self.ts_recent = opts[8][0]
        self.snd_wnd = win   # the SYN-ACK's window is never scaled
        self._wup = self._nxt
        self._edge = self._nxt
        if self._rtx is not None:
            self._rtx.cancel()
            self._rtx = None
        self._rtx_count = 0
        self._rto = PS_PER_S
        self.state = "ESTABLISHED"
        self.established_ps = self.engine.now
        self._send_ack()

    def _data(self, useq: int, data: bytes, fin: bool) -> None:
        n = len(data)
        if n:
            self._count("data_segments")
            self._count("data_bytes", n)
            if n >= self.rcv_mss:
                self.rcv_mss = min(n, self.adv_mss)
        uend = useq + n + fin
        if useq < self._nxt:
            if uend <= self._nxt:
                self._count("dup_segments")
                self._send_ack()
                return
            data = data[self._nxt - useq:]   # partly old: keep the new part
            n = len(data)
            useq = self._nxt
        if useq == self._nxt:
            if n and self._edge - self._nxt <= 0:
                self._count("out_of_window")   # zero window: Linux drops it and ACKs
                self._send_ack()
                return
            had_ooo = bool(self.ooo)
            fin_taken = self._accept(data, fin)
            if had_ooo:
                fin_taken |= self._ofo_queue()
            self._ack_after_data(now=had_ooo or fin_taken)
        else:
            self._count("ooo_segments")
            entry = (useq, uend, bytes(data), fin)
            if entry not in self.ooo:
                insort(self.ooo, entry)
                self.ooo_bytes += n
            self._send_ack()

    def _accept(self, data: bytes, fin: bool) -> bool:
        """In-order bytes (and FIN) at rcv_nxt; True if this took the FIN."""
        n = len(data)
        if n:
            self._nxt += n
            self._deliver(data)
        if fin and not self.fin_received:
            self._nxt += 1
            self.fin_received = True
            self.fin_received_ps = self.engine.now
            if self.state == "ESTABLISHED":
                self.state = "CLOSE_WAIT"
            if self.unread == 0:
                self._app_close()
            else:
                self._close_pending = True
            return True
        return False

    def _ofo_queue(self) -> bool:
        """Move what the out-of-order queue now continues into the application buffer; True if a FIN came."""
        ooo = self.ooo
        fin_taken = False
        while ooo and ooo[0][0] <= self._nxt:
            useq, uend, data, fin = ooo.pop(0)
            self.ooo_bytes -= len(data)
            if uend <= self._nxt:
                continue
            fin_taken |= self._accept(data[self._nxt - useq:], fin)
        return fin_taken

    def _ack_after_data(self, now: bool) -> None:
        if self._nxt == self._wup or self.state == "LAST_ACK":
            self._cancel_delack()
            return
        if now:
            self._send_ack()
        elif self.quickacks > 0:
            self.quickacks -= 1
            self._send_ack()
        elif self._nxt - self._wup > self.rcv_mss and (self.unread == 0 or self._free_window() >= self.rcv_wnd):
            self._send_ack()
        elif self._delack is None:
            self._delack = self.engine.call_later(self.partner.delack_ps, self._on_delack)

    def _on_delack(self) -> None:
        self._delack = None
        if self.state in ("ESTABLISHED", "CLOSE_WAIT") and self._nxt != self._wup:
            self._count("delayed_acks")
            self._send_ack()

    def _cancel_delack(self) -> None:
        if self._delack is not None:
            self._delack.cancel()
            self._delack = None

    # --- application -------------------------------------------------------------
    def _deliver(self, data: bytes) -> None:
        n = len(data)
        self._count("bytes_delivered", n)
        self.bytes_received += n
        if self.keep_data:
            self.data += data
        p = self.partner
        if p.app_rate_bps is None:
            return
        self.unread += n
        if not self._reading:
            self._schedule_read()

    def _schedule_read(self) -> None:
        p = self.partner
        self._reading = min(self.unread, p.app_read_bytes)
        self.engine.call_later(self._reading * 8 * PS_PER_S // p.app_rate_bps, self._on_read)

    def _on_read(self) -> None:
        self.unread -= self._reading
        self._reading = 0
        if self.state in ("ESTABLISHED", "CLOSE_WAIT") and not self.fin_received:
            cur = max(0, self._edge - self._nxt)
            if 2 * cur <= self.partner.rcvbuf:
                new = self._free_window()
                if new and new >= 2 * cur:
                    self._count("window_updates")
                    self._send_ack()
        if self.unread:
            self._schedule_read()
        elif self._close_pending:
            self._close_pending = False
            self._app_close()

    def _app_close(self) -> None:
        """The application saw EOF and closes: FIN|ACK."""
        if self.state != "CLOSE_WAIT":
            return
        self.state = "LAST_ACK"
        self._cancel_delack()
        self._rtx_count = 0
        self._rto = PS_PER_S
        self._fin_seq = self.snd_nxt
        self.snd_nxt = (self.snd_nxt + 1) & _M32
        self._send_fin()

    def _send_fin(self) -> None:
        self._emit(FIN | ACK, self._fin_seq, self.rcv_nxt, None, self._ts_option())
        self._arm_rtx()

    def _close(self) -> None:
        self.state = "CLOSED"
        self.closed_ps = self.engine.now
        self._cancel_delack()
        if self._rtx is not None:
            self._rtx.cancel()
            self._rtx = None

    # --- output ------------------------------------------------------------------
    def _free_window(self) -> int:
        """``__tcp_select_window``: free receive space rounded down to the scale unit (0 when tiny)."""
        rcvbuf = self.partner.rcvbuf
        free = max(0, rcvbuf - self.unread - self.ooo_bytes)
        if free < rcvbuf // 2 and free < self.rcv_mss:
            return 0
        unit = 1 << self.rcv_wscale
        return min(free, 0xFFFF << self.rcv_wscale) // unit * unit

    def _select_window(self) -> int:
        """``tcp_select_window``: never move the right edge back; records what is advertised."""
        new = self._free_window()
        cur = max(0, self._edge - self._nxt)
        if new < cur:
            unit = 1 << self.rcv_wscale
            new = -(-cur // unit) * unit
        self.rcv_wnd = new
        self._wup = self._nxt
        self._edge = self._nxt + new
        return new >> self.rcv_wscale

    def _ts_option(self) -> bytes:
        return _TS_OPT.pack(1, 1, 8, 10, self.partner.tsval(), self.ts_recent) if self.ts_ok else b""

    def _send_ack(self) -> None:
        self._emit(ACK, self.snd_nxt, self.rcv_nxt, None, self._ts_option())

    def _emit(self, flags: int, seq: int, ack: int, window: int | None, opts: bytes) -> None:
        """Build and send one segment; ``window`` None = select it (and update rcv_wup)."""
        if window is None:
            window = self._select_window()
        if flags & ACK:
            self._cancel_delack()
            self._count("acks_sent")
            if flags == ACK:
                if self._last_ack_sent == (ack, window):
                    self._count("dup_acks_sent")
                self._last_ack_sent = (ack, window)
            else:
                self._last_ack_sent = None
        p = self.partner
        hdr = _TCP.pack(self.lport, self.rport, seq, ack, ((20 + len(opts)) // 4) << 12 | flags,
                        window, 0, 0) + opts
        csum = inet_checksum(_pseudo(p.ip, self.rip, IPPROTO_TCP, len(hdr)) + hdr)
        seg = hdr[:16] + csum.to_bytes(2, "big") + hdr[18:]
        p._ip_output(self.rip, IPPROTO_TCP, seg, df=True)


# --- the host -------------------------------------------------------------------------------
class LinkPartner:
    """A host on the far side of the wire (see the module docstring).

    ``mac``/``ip``: its addresses (strings or bytes). ``wire``: a
    :class:`sim.assembly.wire.Wire` to attach to as side B; or ``transmit``: a
    callable taking each outgoing frame. ``proc_delay_ps``: delay before each
    received frame is processed. TCP: ``mss`` (advertised), ``rcvbuf``
    (receive buffer, bytes), ``wscale`` (our window scale), ``delack_ps``,
    ``quickacks`` (data segments ACKed at once at the start),
    ``app_rate_bps`` (None: the application reads at once) and
    ``app_read_bytes``, ``keep_data`` (keep the received bytes, not just
    count them), ``iss`` (initial sequence number of the first connection;
    each next one adds 64000), ``ts_offset``, ``syn_retries``. ``loss``: an
    :class:`RxLoss`. ARP: ``arp_retrans_ps`` (1 s), ``arp_probes`` (3).
    """

    def __init__(self, engine, mac="02:00:00:00:00:02", ip="10.0.0.2", *, wire=None,
                 transmit: Callable | None = None, proc_delay_ps: int = 0, mtu: int = 1500, mss: int = 1460,
                 rcvbuf: int = 6 << 20, wscale: int = 7, delack_ps: int = 40 * PS_PER_MS, quickacks: int = 0,
                 app_rate_bps: int | None = None, app_read_bytes: int = 65536, keep_data: bool = True,
                 iss: int = 0x1000_0000, ts_offset: int = 1, syn_retries: int = 6, loss: RxLoss | None = None,
                 arp_retrans_ps: int = PS_PER_S, arp_probes: int = 3, name: str = "partner"):
        if not 0 <= wscale <= 14:
            raise ValueError(f"window scale {wscale}: must be 0..14")
        if rcvbuf <= 0 or (app_rate_bps is not None and app_rate_bps <= 0) or app_read_bytes <= 0:
            raise ValueError("rcvbuf, app_rate_bps and app_read_bytes must be positive")
        self.engine = engine
        self.name = name
        self.mac = mac_bytes(mac)
        self.ip = ip_bytes(ip)
        self.transmit = transmit
        self.proc_delay_ps = proc_delay_ps
        self.mtu = mtu
        self.mss = mss
        self.rcvbuf = rcvbuf
        self.wscale = wscale
        self.delack_ps = delack_ps
        self.quickacks = quickacks
        self.app_rate_bps = app_rate_bps
        self.app_read_bytes = app_read_bytes
        self.keep_data = keep_data
        self.ts_offset = ts_offset
        self.syn_retries = syn_retries
        self.loss = loss
        self.arp_retrans_ps = arp_retrans_ps
        self.arp_probes = arp_probes
        self.stats = dict.fromkeys(STAT_KEYS + TCP_STATS, 0)
        #: ARP table: IPv4 address (4 bytes) → MAC (6 bytes).
        self.neighbours: dict[bytes, bytes] = {}
        self._arp_pending: dict[bytes, list] = {}    # ip -> [queued (ethertype, packet)], probes, timer
        self._frags: dict[tuple, _FragQueue] = {}
        self._ip_id = 1
        self._next_iss = iss & _M32
        self._next_port = 40000
        #: TCP connections: (local port, remote IP bytes, remote port) → TcpConn.
        self.connections: dict[tuple[int, bytes, int], TcpConn] = {}
        #: UDP: local port → datagrams delivered.
        self.udp: dict[int, list[UdpDatagram]] = {}
        if wire is not None:
            wire.attach_partner(self)

    # --- public API --------------------------------------------------------------
    def add_neighbour(self, ip, mac) -> None:
        """A static ARP entry."""
        self._learn(ip_bytes(ip), mac_bytes(mac))

    def connect(self, dst_ip, dst_port: int, at_ps: int | None = None, *, src_port: int | None = None,
                iss: int | None = None) -> TcpConn:
        """Open a TCP connection to ``dst_ip:dst_port``: the SYN leaves at simulated time ``at_ps`` (default now)."""
        rip = ip_bytes(dst_ip)
        if src_port is None:
            src_port = self._next_port
            self._next_port = 40000 + (self._next_port - 40000 + 1) % 20000
        if iss is None:
            iss = self._next_iss
            self._next_iss = (self._next_iss + 64000) & _M32
        key = (src_port, rip, dst_port)
        old = self.connections.get(key)
        if old is not None and old.state != "CLOSED":
            raise ValueError(f"connection {old!r} is open")
        conn = TcpConn(self, src_port, rip, dst_port, iss)
        self.connections[key] = conn
        delay = 0 if at_ps is None else max(0, at_ps - self.engine.now)
        self.engine.call_later(delay, conn._open)
        return conn

    def connection(self, dst_port: int | None = None) -> TcpConn | None:
        """The most recent connection (to remote port ``dst_port`` if given)."""
        found = None
        for c in self.connections.values():
            if dst_port is None or c.rport == dst_port:
                found = c
        return found

    def received_bytes(self, port: int) -> int:
        """Payload bytes delivered on local port ``port``: UDP datagrams plus in-order TCP bytes."""
        n = sum(len(d.payload) for d in self.udp.get(port, ()))
        return n + sum(c.bytes_received for c in self.connections.values() if c.lport == port)

    def udp_datagrams(self, port: int) -> list[UdpDatagram]:
        """UDP datagrams delivered to local port ``port`` (in arrival order)."""
        return self.udp.get(port, [])

    def send_udp(self, dst_ip, dst_port: int, payload: bytes, src_port: int = 40000) -> None:
        """Send one UDP datagram (with checksum; must fit the MTU: no fragmentation)."""
        rip = ip_bytes(dst_ip)
        ln = 8 + len(payload)
        if ln + 20 > self.mtu:
            raise ValueError(f"{ln}-byte UDP datagram exceeds the MTU {self.mtu}")
        hdr = _UDP.pack(src_port, dst_port, ln, 0)
        csum = inet_checksum(_pseudo(self.ip, rip, IPPROTO_UDP, ln) + hdr + payload) or 0xFFFF
        self._ip_output(rip, IPPROTO_UDP, _UDP.pack(src_port, dst_port, ln, csum) + bytes(payload))

    def tsval(self) -> int:
        """The timestamp clock: ``ts_offset`` + milliseconds of simulated time."""
        return (self.ts_offset + self.engine.now // PS_PER_MS) & _M32

    # --- input -------------------------------------------------------------------
    def receive(self, frame: bytes, time_ps: int | None = None) -> None:
        """A frame (without FCS) arriving from the wire."""
        if self.proc_delay_ps:
            self.engine.call_later(self.proc_delay_ps, self._input, bytes(frame))
        else:
            self._input(bytes(frame))

    def _input(self, frame: bytes) -> None:
        st = self.stats
        st["rx_frames"] += 1
        if self.loss is not None and self.loss.drop_frame(self.engine):
            st["rx_lost"] += 1
            return
        if len(frame) < 14:
            st["rx_other_type"] += 1
            return
        dst, src, etype = _ETH.unpack_from(frame)
        off = 14
        if etype == ETH_P_8021Q and len(frame) >= 18:
            etype = struct.unpack_from("!H", frame, 16)[0]
            off = 18
        if dst != self.mac and dst != BROADCAST:
            st["rx_not_for_us"] += 1
            return
        if etype == ETH_P_ARP:
            self._arp_input(frame[off:])
        elif etype == ETH_P_IP:
            self._ip_input(src, frame[off:])
        else:
            st["rx_other_type"] += 1

    # --- ARP ---------------------------------------------------------------------
    def _arp_input(self, p: bytes) -> None:
        st = self.stats
        if len(p) < 28:
            st["arp_bad"] += 1
            return
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(p)
        if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4 or op not in (1, 2):
            st["arp_bad"] += 1
            return
        st["arp_rx"] += 1
        if op == 1:
            st["arp_requests_rx"] += 1
        else:
            st["arp_replies_rx"] += 1
        if tpa == self.ip:
            if spa != b"\0\0\0\0":
                self._learn(spa, sha)
            if op == 1:
                st["arp_replies_tx"] += 1
                self._eth_send(sha, ETH_P_ARP, _ARP.pack(1, ETH_P_IP, 6, 4, 2, self.mac, self.ip, sha, spa))
        elif spa in self.neighbours:
            self._learn(spa, sha)

    def _learn(self, ip: bytes, mac: bytes) -> None:
        self.neighbours[ip] = mac
        pending = self._arp_pending.pop(ip, None)
        if pending is not None:
            queue, _probes, timer = pending
            timer.cancel()
            for etype, packet in queue:
                self._eth_send(mac, etype, packet)

    def _arp_solicit(self, ip: bytes) -> None:
        self.stats["arp_requests_tx"] += 1
        self._eth_send(BROADCAST, ETH_P_ARP, _ARP.pack(1, ETH_P_IP, 6, 4, 1, self.mac, self.ip, bytes(6), ip))

    def _arp_timer(self, ip: bytes) -> None:
        pending = self._arp_pending.get(ip)
        if pending is None:
            return
        queue, probes, _ = pending
        if probes >= self.arp_probes:
            del self._arp_pending[ip]
            self.stats["arp_failed"] += 1
            self.stats["arp_queue_drops"] += len(queue)
            return
        self._arp_solicit(ip)
        pending[1] = probes + 1
        pending[2] = self.engine.call_later(self.arp_retrans_ps, self._arp_timer, ip)

    # --- IPv4 --------------------------------------------------------------------
    def _ip_input(self, eth_src: bytes, p: bytes) -> None:
        st = self.stats
        if len(p) < 20 or p[0] >> 4 != 4:
            st["bad_ip_header"] += 1
            return
        ihl = (p[0] & 15) * 4
        _vihl, _tos, tot, ident, frag, _ttl, proto, _csum, src, dst = _IP.unpack_from(p)
        if ihl < 20 or tot < ihl or tot > len(p):
            st["bad_ip_header"] += 1
            return
        if not checksum_ok(p[:ihl]):
            st["bad_ip_csum"] += 1
            return
        if dst != self.ip and dst != IP_BROADCAST:
            st["ip_not_for_us"] += 1
            return
        st["ip_rx"] += 1
        p = p[:tot]
        if src != b"\0\0\0\0":
            self.neighbours[src] = eth_src
            if src in self._arp_pending:
                self._learn(src, eth_src)
        if frag & 0x3FFF:
            st["frags_rx"] += 1
            p = self._reassemble(p, ihl, src, dst, proto, ident, frag)
            if p is None:
                return
        payload = p[ihl:]
        if proto == IPPROTO_TCP:
            self._tcp_input(src, dst, payload)
        elif proto == IPPROTO_UDP:
            self._udp_input(src, dst, payload)
        else:
            st["ip_other_proto"] += 1

    def _reassemble(self, p: bytes, ihl: int, src: bytes, dst: bytes, proto: int, ident: int, frag: int):
        """Add a fragment; the whole datagram (header + payload) when it is complete, else None."""
        st = self.stats
        key = (src, dst, proto, ident)
        off = (frag & 0x1FFF) * 8
        more = bool(frag & 0x2000)
        data = p[ihl:]
        end = off + len(data)
        q = self._frags.get(key)
        if q is None:
            q = self._frags[key] = _FragQueue()
            q.timer = self.engine.call_later(30 * PS_PER_S, self._frag_expire, key)
        bad = (more and len(data) % 8) or (q.total is not None and (end > q.total or (not more and end != q.total))) \
            or (not more and any(e > end for _, e, _ in q.parts)) or end > 0xFFFF
        if bad:
            self._frag_drop(key, "frag_bad")
            return None
        for o, e, _ in q.parts:
            if off < e and o < end:
                if o <= off and end <= e:
                    st["frag_dups"] += 1
                    return None
                self._frag_drop(key, "frag_overlaps")
                return None
        if not more:
            q.total = end
        if off == 0:
            q.header = p[:ihl]
        insort(q.parts, (off, end, data))
        q.have += len(data)
        if q.total is None or q.header is None or q.have != q.total:
            return None
        q.timer.cancel()
        del self._frags[key]
        st["frags_reassembled"] += 1
        hdr = bytearray(q.header)
        struct.pack_into("!HH", hdr, 2, len(hdr) + q.total, 0)
        struct.pack_into("!H", hdr, 10, 0)
        struct.pack_into("!H", hdr, 10, inet_checksum(bytes(hdr)))
        return bytes(hdr) + b"".join(d for _, _, d in q.parts)

    def _frag_drop(self, key, why: str) -> None:
        q = self._frags.pop(key)
        q.timer.cancel()
        self.stats[why] += 1

    def _frag_expire(self, key) -> None:
        if key in self._frags:
            del self._frags[key]
            self.stats["frag_timeouts"] += 1

    def _ip_output(self, dst: bytes, proto: int, payload: bytes, df: bool = False, ttl: int = 64) -> None:
        hdr = bytearray(_IP.pack(0x45, 0, 20 + len(payload), self._ip_id, 0x4000 if df else 0, ttl, proto, 0,
                                 self.ip, dst))
        struct.pack_into("!H", hdr, 10, inet_checksum(bytes(hdr)))
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        self.stats["ip_tx"] += 1
        self._neigh_output(dst, ETH_P_IP, bytes(hdr) + payload)

    def _neigh_output(self, ip: bytes, etype: int, packet: bytes) -> None:
        mac = BROADCAST if ip == IP_BROADCAST else self.neighbours.get(ip)
        if mac is not None:
            self._eth_send(mac, etype, packet)
            return
        pending = self._arp_pending.get(ip)
        if pending is not None:
            pending[0].append((etype, packet))
            return
        self._arp_solicit(ip)
        timer = self.engine.call_later(self.arp_retrans_ps, self._arp_timer, ip)
        self._arp_pending[ip] = [[(etype, packet)], 1, timer]

    def _eth_send(self, dst_mac: bytes, etype: int, payload: bytes) -> None:
        if self.transmit is None:
            raise RuntimeError(f"{self.name}: not attached to a wire (no transmit)")
        frame = _ETH.pack(dst_mac, self.mac, etype) + payload
        if len(frame) < 60:
            frame += bytes(60 - len(frame))
        self.stats["tx_frames"] += 1
        self.transmit(frame)

    # --- UDP ---------------------------------------------------------------------
    def _udp_input(self, src: bytes, dst: bytes, p: bytes) -> None:
        st = self.stats
        if len(p) < 8:
            st["bad_udp_header"] += 1
            return
        sport, dport, ln, csum = _UDP.unpack_from(p)
        if ln < 8 or ln > len(p):
            st["bad_udp_header"] += 1
            return
        p = p[:ln]
        if csum and not checksum_ok(_pseudo(src, dst, IPPROTO_UDP, ln) + p):
            st["bad_udp_csum"] += 1
            return
        st["udp_rx"] += 1
        st["udp_bytes"] += ln - 8
        self.udp.setdefault(dport, []).append(UdpDatagram(self.engine.now, _ip_str(src), sport, p[8:]))

    # --- TCP ---------------------------------------------------------------------
    def _tcp_input(self, src: bytes, dst: bytes, p: bytes) -> None:
        st = self.stats
        if len(p) < 20:
            st["bad_tcp_header"] += 1
            return
        sport, dport, seq, ack, off_flags, win, _csum, _urg = _TCP.unpack_from(p)
        doff = (off_flags >> 12) * 4
        if doff < 20 or doff > len(p):
            st["bad_tcp_header"] += 1
            return
        if not checksum_ok(_pseudo(src, dst, IPPROTO_TCP, len(p)) + p):
            st["bad_tcp_csum"] += 1
            return
        st["tcp_rx"] += 1
        flags = off_flags & 0x1FF
        data = p[doff:]
        conn = self.connections.get((dport, src, sport))
        if conn is None:
            st["tcp_no_conn"] += 1
            self._send_reset(src, dport, sport, flags, seq, ack, len(data))
            return
        if data and self.loss is not None and self.loss.drop_data_segment():
            conn._count("data_lost")
            return
        opts = _parse_tcp_options(p[20:doff]) if doff > 20 else {}
        conn.input(flags, seq, ack, win, opts, data)

    def _send_reset(self, rip: bytes, lport: int, rport: int, flags: int, seq: int, ack: int, dlen: int) -> None:
        """RST in answer to a segment (RFC 793 "If the connection does not exist")."""
        if flags & RST:
            return
        if flags & ACK:
            rseq, rack, rflags = ack, 0, RST
        else:
            rseq, rack, rflags = 0, (seq + dlen + bool(flags & SYN) + bool(flags & FIN)) & _M32, RST | ACK
        hdr = _TCP.pack(lport, rport, rseq, rack, 5 << 12 | rflags, 0, 0, 0)
        csum = inet_checksum(_pseudo(self.ip, rip, IPPROTO_TCP, 20) + hdr)
        self.stats["tcp_rst_tx"] += 1
        self._ip_output(rip, IPPROTO_TCP, hdr[:16] + csum.to_bytes(2, "big") + hdr[18:], df=True)
