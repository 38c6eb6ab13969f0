"""The partner's TCP: the receiving client of the reference program, and TCP input/RST for the host.

:class:`TcpConn` is one connection (handshake, receive, ACK policy, window,
timestamps, FIN); :class:`TcpLayer` is the host's part: ``connect``, the
segment demultiplexing and the RST for a segment that finds no connection.
"""
from __future__ import annotations

import struct
from bisect import insort
from typing import TYPE_CHECKING

from .checksum import checksum_ok, inet_checksum, pseudo_header
from .proto import (ACK, FIN, IPPROTO_TCP, M32, PS_PER_MS, PS_PER_S, RST, SYN, TCP_HDR, TS_OPT, ip_bytes,
                    ip_str)

if TYPE_CHECKING:
    from .host import LinkPartner

__all__ = ["TcpConn", "TcpLayer", "TCP_STATS"]

#: Per-connection counters; each is also summed into the partner's :attr:`LinkPartner.stats`.
TCP_STATS = (
    "segments", "data_segments", "data_bytes", "ooo_segments", "dup_segments", "out_of_window",
    "data_lost", "acks_sent", "dup_acks_sent", "delayed_acks", "window_updates", "bytes_delivered",
)



def _sdiff(a: int, b: int) -> int:
    """``a - b`` in sequence space, as a signed 32-bit number."""
    d = (a - b) & M32
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


class TcpConn:
    """One TCP connection of the partner (the client side: it receives).

    States: ``CLOSED`` (before the SYN, after the close, after a reset or a
    failed connect), ``SYN_SENT``, ``ESTABLISHED``, ``CLOSE_WAIT``,
    ``LAST_ACK``. ``reset`` is true after a RST; ``failed`` after the SYN
    retries ran out.

    Receiving. In-order data goes to the application buffer (``data`` when
    the partner keeps data; ``bytes_received`` always; ``on_deliver(data,
    time_ps)`` when set, at the simulated time it is taken); segments beyond a
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
        self.iss = iss & M32
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
        #: Called as ``on_deliver(data, time_ps)`` for each run of bytes taken in order (None: nobody).
        self.on_deliver = None
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
        return self._nxt & M32

    @property
    def key(self) -> tuple[int, str, int]:
        return self.lport, ip_str(self.rip), self.rport

    def __repr__(self) -> str:
        return f"<TcpConn :{self.lport} -> {ip_str(self.rip)}:{self.rport} {self.state}>"

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] += n
        self.partner.stats[key] += n

    # --- opening -----------------------------------------------------------------
    def _open(self) -> None:
        self.state = "SYN_SENT"
        self.syn_sent_ps = self.engine.now
        self.snd_nxt = (self.iss + 1) & M32
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
        useq = self._nxt + _sdiff(seq, self._nxt & M32)
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
        if self.on_deliver is not None:
            self.on_deliver(data, self.engine.now)
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
        self.snd_nxt = (self.snd_nxt + 1) & M32
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
        return TS_OPT.pack(1, 1, 8, 10, self.partner.tsval(), self.ts_recent) if self.ts_ok else b""

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
        hdr = TCP_HDR.pack(self.lport, self.rport, seq, ack, ((20 + len(opts)) // 4) << 12 | flags,
                        window, 0, 0) + opts
        csum = inet_checksum(pseudo_header(p.ip, self.rip, IPPROTO_TCP, len(hdr)) + hdr)
        seg = hdr[:16] + csum.to_bytes(2, "big") + hdr[18:]
        p._ip_output(self.rip, IPPROTO_TCP, seg, df=True)


class TcpLayer:
    """The partner host's TCP: connections it opens, segments in, RSTs out (a mixin of ``LinkPartner``)."""

    def connect(self, dst_ip, dst_port: int, at_ps: int | None = None, *, src_port: int | None = None,
                iss: int | None = None) -> TcpConn:
        """Open a TCP connection to ``dst_ip:dst_port``: the SYN leaves at simulated time ``at_ps`` (default now)."""
        rip = ip_bytes(dst_ip)
        if src_port is None:
            src_port = self._next_port
            self._next_port = 40000 + (self._next_port - 40000 + 1) % 20000
        if iss is None:
            iss = self._next_iss
            self._next_iss = (self._next_iss + 64000) & M32
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

    def tsval(self) -> int:
        """The timestamp clock: ``ts_offset`` + milliseconds of simulated time."""
        return (self.ts_offset + self.engine.now // PS_PER_MS) & M32

    def _tcp_input(self, src: bytes, dst: bytes, p: bytes) -> None:
        st = self.stats
        if len(p) < 20:
            st["bad_tcp_header"] += 1
            return
        sport, dport, seq, ack, off_flags, win, _csum, _urg = TCP_HDR.unpack_from(p)
        doff = (off_flags >> 12) * 4
        if doff < 20 or doff > len(p):
            st["bad_tcp_header"] += 1
            return
        if not checksum_ok(pseudo_header(src, dst, IPPROTO_TCP, len(p)) + p):
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
            rseq, rack, rflags = 0, (seq + dlen + bool(flags & SYN) + bool(flags & FIN)) & M32, RST | ACK
        hdr = TCP_HDR.pack(lport, rport, rseq, rack, 5 << 12 | rflags, 0, 0, 0)
        csum = inet_checksum(pseudo_header(self.ip, rip, IPPROTO_TCP, 20) + hdr)
        self.stats["tcp_rst_tx"] += 1
        self._ip_output(rip, IPPROTO_TCP, hdr[:16] + csum.to_bytes(2, "big") + hdr[18:], df=True)
