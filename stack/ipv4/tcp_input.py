"""TCP input (``net/ipv4/tcp_input.c``): the handshake states, ``tcp_ack`` and what an ACK sets in motion (§11).

Segments arrive from :func:`stack.ipv4.tcp_ipv4.tcp_v4_rcv` (validation,
socket lookup, the backlog while a task owns the socket) parsed into a
:class:`TcpSeg` (:func:`tcp_parse`), in NET_RX softirq context or in the
owning task at ``release_sock``:

* :func:`tcp_rcv_state_process`: SYN-SENT, SYN-RECV (the ACK makes a
  passive open's child ESTABLISHED and puts it on the listener's accept
  queue), the FIN states;
* :func:`tcp_ack`: validate (old ACKs ignored, ACKs beyond ``snd_nxt``
  dropped), window update (``snd_wl1`` rules, ``max_window``), clean the
  retransmit queue (originals freed: ``sk_wmem_queued −= truesize``; a
  partly ACKed TSO skb trimmed), RTT (the send time of the oldest newly
  ACKed never-retransmitted segment, else the timestamp echo; Karn),
  RTO (``srtt + max(4·rttvar, 200 ms)``), NewReno loss recovery
  (3 duplicate ACKs: ssthresh = ``max(FlightSize/2, 2)`` with FlightSize the
  segments out at the first duplicate ACK — before limited transmit sent a new
  segment for each of the first two (RFC 3042) — cwnd = ssthresh,
  the first unacked segment retransmitted; partial ACKs retransmit the next;
  a full ACK ends recovery), Reno cwnd growth (:mod:`stack.ipv4.tcp_cong`), the
  pacing rate (recent); then :func:`tcp_data_snd_check` (``tcp_write_xmit``
  from softirq, and ``tcp_check_space`` waking a writer blocked on sndbuf);
* received data: in order only (out-of-order segments are dropped and
  answered with a duplicate ACK); ACK at once when more than one full segment
  is unacknowledged, else a delayed ACK (40 ms); FIN moves the state.
"""
from __future__ import annotations

import struct

from sim.engine import US

from stack.core import cputime
from stack.core.errno import ECONNREFUSED, ECONNRESET
from stack.core.jiffies import HZ, usecs_to_jiffies
from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD, consume_skb
from .tcp import _purge_queues, sk_stream_write_space, sk_wake, tcp_done, tcp_set_state
from .tcp_cong import tcp_loss_ssthresh, tcp_reno_cong_avoid
from .tcp_output import (_dst_mtu, tcp_mark_head_lost, tcp_push_pending_frames, tcp_retransmit_skb, tcp_send_ack,
                         tcp_sk_setup_caps, tcp_sync_mss, tcp_trim_head, tcp_tsval, tcp_xmit_retransmit_queue)
from .tcp_sock import (RCV_SHUTDOWN, SOCK_NOSPACE, SOCK_SNDBUF_LOCK, TCP_CA_CWR, TCP_CA_Disorder, TCP_CA_Loss,
                       TCP_CA_Open, TCP_CA_Recovery, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_CLOSING, TCP_ESTABLISHED,
                       TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_INIT_CWND, TCP_LAST_ACK, TCP_LISTEN, TCP_RTO_MAX,
                       TCP_RTO_MIN, TCP_SYN_RECV, TCP_SYN_SENT, TCP_TIME_WAIT, TCPCB_LOST, TCPCB_RETRANS,
                       TCPCB_SACKED_RETRANS, TCPHDR_ACK, TCPHDR_FIN, TCPHDR_RST, TCPHDR_SYN, _seq, after, before,
                       is_old, max_tcp_header, tcp_packets_in_flight, tcphdr_layout)
from .tcp_timer import tcp_clear_xmit_timers, tcp_rearm_rto, tcp_send_delayed_ack
from .utils import in_ntoa

__all__ = [
    "TcpSeg", "tcp_parse", "tcp_rcv_established", "tcp_rcv_state_process", "tcp_ack", "tcp_clean_rtx_queue",
    "tcp_rtt_estimator", "tcp_set_rto", "tcp_update_pacing_rate", "tcp_data_snd_check", "tcp_check_space",
    "tcp_sndbuf_expand", "tcp_init_transfer", "FLAG_DATA", "FLAG_WIN_UPDATE", "FLAG_DATA_ACKED",
    "FLAG_RETRANS_DATA_ACKED", "FLAG_SYN_ACKED", "FLAG_SND_UNA_ADVANCED", "FLAG_ACKED", "FLAG_NOT_DUP",
]

FLAG_DATA = 0x01
FLAG_WIN_UPDATE = 0x02
FLAG_DATA_ACKED = 0x04
FLAG_RETRANS_DATA_ACKED = 0x08
FLAG_SYN_ACKED = 0x10
FLAG_SLOWPATH = 0x100
FLAG_SND_UNA_ADVANCED = 0x400
FLAG_ACKED = FLAG_DATA_ACKED | FLAG_SYN_ACKED
FLAG_NOT_DUP = FLAG_DATA | FLAG_WIN_UPDATE | FLAG_ACKED



class TcpSeg:
    """A received segment, parsed (what Linux keeps in TCP_SKB_CB on receive + rx_opt)."""

    __slots__ = ("saddr", "daddr", "sport", "dport", "seq", "end_seq", "ack_seq", "flags", "window", "doff",
                 "payload", "mss", "wscale", "saw_tstamp", "tsval", "tsecr", "sack_ok")

    def __repr__(self) -> str:
        return (f"<seg {in_ntoa(self.saddr)}:{self.sport}->{in_ntoa(self.daddr)}:{self.dport} seq={self.seq} "
                f"ack={self.ack_seq} "
                f"flags={self.flags:#x} win={self.window} len={len(self.payload)}>")


def tcp_parse(raw: bytes, saddr: int, daddr: int) -> TcpSeg | None:
    """Parse a TCP header + payload (``tcp_parse_options`` included); None if malformed."""
    if len(raw) < 20:
        return None
    sport, dport, seq, ack, off, flags, window, _check, _urg = tcphdr_layout.unpack_from(raw)
    doff = (off >> 4) * 4
    if doff < 20 or doff > len(raw):
        return None
    s = TcpSeg()
    s.saddr, s.daddr, s.sport, s.dport = saddr, daddr, sport, dport
    s.seq, s.ack_seq, s.flags, s.window, s.doff = seq, ack, flags & 0x3F, window, doff
    s.payload = bytes(raw[doff:])
    s.end_seq = _seq(seq + len(s.payload) + (1 if flags & TCPHDR_SYN else 0) + (1 if flags & TCPHDR_FIN else 0))
    s.mss = None
    s.wscale = None
    s.saw_tstamp = False
    s.tsval = s.tsecr = 0
    s.sack_ok = False
    i = 20
    while i < doff:
        kind = raw[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= doff:
            break
        length = raw[i + 1]
        if length < 2 or i + length > doff:
            break
        if kind == 2 and length == 4 and flags & TCPHDR_SYN:
            (s.mss,) = struct.unpack_from("!H", raw, i + 2)
        elif kind == 3 and length == 3 and flags & TCPHDR_SYN:
            s.wscale = min(raw[i + 2], 14)
        elif kind == 4 and length == 2:
            s.sack_ok = True
        elif kind == 8 and length == 10:
            s.saw_tstamp = True
            s.tsval, s.tsecr = struct.unpack_from("!II", raw, i + 2)
        i += length
    return s


# --- passive open ------------------------------------------------------------------------------------


def tcp_init_transfer(sk) -> None:
    """The handshake is over: MSS, IW10, send buffer, pacing rate."""
    tcp_sk_setup_caps(sk)
    tcp_sync_mss(sk, _dst_mtu(sk))
    sk.snd_cwnd = TCP_INIT_CWND
    sk.snd_cwnd_cnt = 0
    if not sk.sk_userlocks & SOCK_SNDBUF_LOCK:
        tcp_sndbuf_expand(sk, initial=True)
    tcp_update_pacing_rate(sk)


def tcp_sndbuf_expand(sk, initial: bool = False) -> None:
    """Grow ``sk_sndbuf`` to about two windows of skbs (recent ``tcp_sndbuf_expand``; 3.10
    ``tcp_fixup_sndbuf`` / ``tcp_new_space``), at most ``tcp_wmem[2]``."""
    net = sk.net
    mss = max(sk.mss_clamp, sk.mss_cache)
    if is_old(net):
        per_mss = SKB_TRUESIZE_OVERHEAD + mss + max_tcp_header(net)     # SKB_TRUESIZE(mss + MAX_TCP_HEADER)
        sndmem = per_mss * (TCP_INIT_CWND if initial else 2 * max(sk.snd_cwnd, sk.reordering + 1))
    else:
        per_mss = _pow2(mss + max_tcp_header(net) + 320) + 256
        nr_segs = max(TCP_INIT_CWND, sk.snd_cwnd, sk.reordering + 1)
        sndmem = 2 * nr_segs * per_mss
    if sk.sk_sndbuf < sndmem:
        sk.sk_sndbuf = min(sndmem, net.tcp.tcp_wmem[2])


def _pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


# --- state machine -------------------------------------------------------------------------------------
def _tcp_finish_established(sk) -> None:
    sk.sk_state = TCP_ESTABLISHED
    tcp_init_transfer(sk)
    sk_wake(sk)


def _tcp_rcv_synsent(sk, seg) -> None:
    """SYN_SENT: a valid SYN-ACK establishes the connection (``tcp_rcv_synsent_state_process``)."""
    tcp = sk.net.tcp
    if seg.flags & TCPHDR_ACK:
        if not after(seg.ack_seq, sk.snd_una) or after(seg.ack_seq, sk.snd_nxt):
            return
        if seg.flags & TCPHDR_RST:
            sk.sk_err = ECONNREFUSED
            tcp_done(sk)
            return
        if not seg.flags & TCPHDR_SYN:
            return
        sk.rcv_nxt = sk.rcv_wup = sk.copied_seq = _seq(seg.seq + 1)
        sk.snd_wl1 = seg.seq
        sk.mss_clamp = min(seg.mss, sk.advmss) if seg.mss else 536
        sk.tstamp_ok = seg.saw_tstamp and sk.tstamp_offered
        sk.wscale_ok = seg.wscale is not None and sk.wscale_offered
        sk.snd_wscale = seg.wscale if sk.wscale_ok else 0
        if not sk.wscale_ok:
            sk.rcv_wscale = 0
        sk.ts_recent = seg.tsval if sk.tstamp_ok else 0
        sk.tcp_header_len = 20 + (12 if sk.tstamp_ok else 0)
        sk.saw_tstamp, sk.rcv_tsval, sk.rcv_tsecr = seg.saw_tstamp, seg.tsval, seg.tsecr
        tcp_ack(sk, seg, FLAG_SLOWPATH)
        sk.snd_wnd = seg.window
        sk.max_window = max(sk.max_window, seg.window)
        _tcp_finish_established(sk)
        tcp.inc("connects")
        tcp_send_ack(sk)


def tcp_rcv_state_process(sk, seg) -> None:
    """Every state but LISTEN and ESTABLISHED (handshake ends, FIN/ACK exchanges)."""
    state = sk.sk_state
    if state == TCP_SYN_SENT:
        _tcp_rcv_synsent(sk, seg)
        return
    if state == TCP_CLOSE:
        return
    if seg.flags & TCPHDR_RST:
        if state == TCP_SYN_RECV and sk.parent is not None and sk in sk.parent.accept_queue:
            sk.parent.accept_queue.remove(sk)
        sk.sk_err = ECONNRESET
        tcp_done(sk)
        return
    _rx_timestamps(sk, seg)
    if seg.flags & TCPHDR_SYN:
        if state == TCP_SYN_RECV and seg.seq == _seq(sk.rcv_nxt - 1) and sk.tcp_rtx_queue:
            tcp_retransmit_skb(sk, sk.tcp_rtx_queue[0], 1)   # the peer lost our SYN-ACK
        return
    if not seg.flags & TCPHDR_ACK:
        return
    if state == TCP_SYN_RECV:
        if seg.ack_seq != sk.snd_nxt:
            return
        tcp_ack(sk, seg, FLAG_SLOWPATH)
        sk.snd_wnd = seg.window << sk.snd_wscale
        sk.max_window = max(sk.max_window, sk.snd_wnd)
        sk.snd_wl1 = seg.seq
        _tcp_finish_established(sk)
        sk.net.tcp.inc("PassiveOpens")
        parent = sk.parent
        if parent is not None and parent.sk_state == TCP_LISTEN:
            parent.accept_queue.append(sk)
            sk_wake(parent)
        if seg.payload or seg.flags & TCPHDR_FIN:
            _tcp_data_queue(sk, seg)
        tcp_data_snd_check(sk)
        _tcp_ack_snd_check(sk)
        return
    if tcp_ack(sk, seg, FLAG_SLOWPATH) < 0:
        return
    fin_acked = sk.snd_una == sk.write_seq and not sk.sk_write_queue
    if state == TCP_FIN_WAIT1 and fin_acked:
        tcp_set_state(sk, TCP_FIN_WAIT2)
    elif state == TCP_CLOSING and fin_acked:
        _tcp_time_wait(sk)
        return
    elif state == TCP_LAST_ACK and fin_acked:
        tcp_done(sk)
        return
    if sk.sk_state in (TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_CLOSE_WAIT):
        if seg.payload or seg.flags & TCPHDR_FIN:
            _tcp_data_queue(sk, seg)
    tcp_data_snd_check(sk)
    _tcp_ack_snd_check(sk)


def _tcp_time_wait(sk) -> None:
    """TIME_WAIT (no 2MSL timer in the model): queues freed, the socket stays hashed to ACK a
    retransmitted FIN."""
    sk.sk_state = TCP_TIME_WAIT
    tcp_clear_xmit_timers(sk)
    _purge_queues(sk)
    sk_wake(sk)


def _rx_timestamps(sk, seg) -> None:
    sk.saw_tstamp = seg.saw_tstamp and sk.tstamp_ok
    if sk.saw_tstamp:
        sk.rcv_tsval, sk.rcv_tsecr = seg.tsval, seg.tsecr
        if not after(seg.seq, sk.rcv_wup):
            sk.ts_recent = seg.tsval


def tcp_rcv_established(sk, seg) -> None:
    """ESTABLISHED: ACK processing, then data, then more to send and the ACK decision."""
    net = sk.net
    cputime.charge(net, "tcp_rcv_established")
    if seg.flags & TCPHDR_RST:
        if seg.seq == sk.rcv_nxt:
            sk.sk_err = ECONNRESET
            tcp_done(sk)
        return
    if seg.flags & TCPHDR_SYN:
        return
    if not seg.flags & TCPHDR_ACK:
        return
    _rx_timestamps(sk, seg)
    if tcp_ack(sk, seg, 0) < 0:
        return
    if seg.payload or seg.flags & TCPHDR_FIN:
        _tcp_data_queue(sk, seg)
    tcp_data_snd_check(sk)
    _tcp_ack_snd_check(sk)


# --- receiving data ----------------------------------------------------------------------------------
def _tcp_data_queue(sk, seg) -> None:
    """In-order payload to the receive queue, FIN handling; anything else gets a duplicate ACK."""
    if seg.seq != sk.rcv_nxt:
        sk.net.tcp.inc("TCPOFODrop" if after(seg.seq, sk.rcv_nxt) else "TCPDupData")
        sk.ack_now = True
        return
    n = len(seg.payload)
    if n:
        if not sk.sk_shutdown & RCV_SHUTDOWN:
            sk.sk_receive_queue += seg.payload
        sk.rcv_nxt = _seq(sk.rcv_nxt + n)
        sk.bytes_received += n
        if ((sk.rcv_nxt - sk.rcv_wup) & 0xFFFFFFFF) > sk.mss_cache:
            sk.ack_now = True
        else:
            sk.ack_pending_data = True
    if seg.flags & TCPHDR_FIN:
        sk.rcv_nxt = _seq(sk.rcv_nxt + 1)
        sk.sk_shutdown |= RCV_SHUTDOWN
        sk.ack_now = True
        state = sk.sk_state
        if state in (TCP_SYN_RECV, TCP_ESTABLISHED):
            tcp_set_state(sk, TCP_CLOSE_WAIT)
        elif state == TCP_FIN_WAIT1:
            tcp_set_state(sk, TCP_CLOSING)
        elif state == TCP_FIN_WAIT2:
            _tcp_send_ack_now(sk)
            _tcp_time_wait(sk)
            return
    sk_wake(sk)


def _tcp_send_ack_now(sk) -> None:

    sk.ack_now = False
    sk.ack_pending_data = False
    tcp_send_ack(sk)


def _tcp_ack_snd_check(sk) -> None:
    """``__tcp_ack_snd_check``: ACK now, or arm the delayed ACK."""
    if sk.ack_now:
        _tcp_send_ack_now(sk)
    elif sk.ack_pending_data:
        sk.ack_pending_data = False
        tcp_send_delayed_ack(sk)


# --- ACK processing -------------------------------------------------------------------------------------
def tcp_ack(sk, seg, flag: int) -> int:
    """Process the ACK field of ``seg`` (stack_facts §11). 1 handled, 0 old, -1 invalid."""
    net = sk.net
    cputime.charge(net, "tcp_ack")
    ack = seg.ack_seq
    prior_snd_una = sk.snd_una
    if before(ack, prior_snd_una):
        return 0
    if after(ack, sk.snd_nxt):
        net.tcp.inc("TCPAckBeyondSndNxt")
        return -1
    if after(ack, prior_snd_una):
        flag |= FLAG_SND_UNA_ADVANCED
        sk.icsk_retransmits = 0
        sk.sk_dst_pending_confirm = 1      # sk_dst_confirm: forward progress keeps ARP REACHABLE
    prior_packets = sk.packets_out
    prior_in_flight = tcp_packets_in_flight(sk)
    if seg.payload:
        flag |= FLAG_DATA
    flag |= _tcp_ack_update_window(sk, seg, ack)
    delta = (ack - prior_snd_una) & 0xFFFFFFFF
    if delta and sk.sk_state in (TCP_SYN_RECV, TCP_SYN_SENT):
        delta -= 1                          # the SYN's sequence number is not data
    sk.bytes_acked += delta
    if not prior_packets:
        return 1
    acked, flag = tcp_clean_rtx_queue(sk, prior_snd_una, flag, seg)
    rexmit = False
    dubious = not (flag & FLAG_NOT_DUP) or sk.icsk_ca_state != TCP_CA_Open
    if dubious:
        is_dupack = not flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP)
        rexmit = _tcp_fastretrans_alert(sk, acked, flag, is_dupack)
    _tcp_cong_control(sk, acked, flag, prior_in_flight)
    if rexmit:
        tcp_xmit_retransmit_queue(sk)
    return 1


def _tcp_ack_update_window(sk, seg, ack: int) -> int:
    """``tcp_ack_update_window``: take the peer's window if this ACK is newer; track max_window."""
    flag = 0
    nwin = seg.window
    if not seg.flags & TCPHDR_SYN:
        nwin <<= sk.snd_wscale
    ack_seq = seg.seq
    if (after(ack, sk.snd_una) or after(ack_seq, sk.snd_wl1)
            or (ack_seq == sk.snd_wl1 and (nwin > sk.snd_wnd or not nwin))):
        flag |= FLAG_WIN_UPDATE
        sk.snd_wl1 = ack_seq
        if sk.snd_wnd != nwin:
            sk.snd_wnd = nwin
            if nwin > sk.max_window:
                sk.max_window = nwin
                if sk.icsk_pmtu_cookie:
                    tcp_sync_mss(sk, sk.icsk_pmtu_cookie)
    sk.snd_una = ack
    return flag


def tcp_clean_rtx_queue(sk, prior_snd_una: int, flag: int, seg) -> tuple[int, int]:
    """Free (or trim) what the ACK covers; RTT sample; re-arm the RTO. ``(packets ACKed, flag)``."""
    net = sk.net
    cputime.charge(net, "tcp_clean_rtx_queue")
    now_us = net.engine.now // US
    first_ackt = last_ackt = None
    pkts_acked = 0
    rtx = sk.tcp_rtx_queue
    while rtx:
        skb = rtx[0]
        tcb = skb.cb
        fully = True
        if after(tcb.end_seq, sk.snd_una):
            if tcb.pcount == 1 or not after(sk.snd_una, tcb.seq):
                break
            before_pc = tcb.pcount
            if tcp_trim_head(sk, skb, (sk.snd_una - tcb.seq) & 0xFFFFFFFF):
                break
            acked_pcount = before_pc - tcb.pcount
            if not acked_pcount:
                break
            fully = False
        else:
            acked_pcount = tcb.pcount
        sacked = tcb.sacked
        if sacked & TCPCB_RETRANS:
            if sacked & TCPCB_SACKED_RETRANS:
                sk.retrans_out -= acked_pcount
            flag |= FLAG_RETRANS_DATA_ACKED
        else:
            last_ackt = tcb.tx_us
            if first_ackt is None:
                first_ackt = last_ackt
        if sacked & TCPCB_LOST:
            sk.lost_out -= acked_pcount
        sk.packets_out -= acked_pcount
        pkts_acked += acked_pcount
        flag |= FLAG_SYN_ACKED if tcb.tcp_flags & TCPHDR_SYN else FLAG_DATA_ACKED
        if not fully:
            break
        rtx.popleft()
        sk.sk_wmem_queued -= skb.truesize
        cputime.charge(net, "skb_free")
        consume_skb(skb)
    if sk.retrans_out < 0 or sk.lost_out < 0:
        sk.retrans_out = max(sk.retrans_out, 0)
        sk.lost_out = max(sk.lost_out, 0)
    if flag & FLAG_ACKED:
        seq_rtt = now_us - first_ackt if first_ackt is not None and not flag & FLAG_RETRANS_DATA_ACKED else -1
        _tcp_ack_update_rtt(sk, flag, seq_rtt)
        tcp_rearm_rto(sk)
        if sk.sacked_out:
            _tcp_remove_reno_sacks(sk, pkts_acked)
    return pkts_acked, flag


def _tcp_ack_update_rtt(sk, flag: int, seq_rtt_us: int) -> None:
    """RTT sample: the send time of the oldest newly ACKed segment, else the timestamp echo."""
    if seq_rtt_us < 0 and sk.saw_tstamp and sk.rcv_tsecr and flag & FLAG_ACKED:
        delta = (tcp_tsval(sk) - sk.rcv_tsecr) & 0xFFFFFFFF
        if delta < 0x7FFFFFFF // 1000:
            seq_rtt_us = max(delta, 1) * 1000
    if seq_rtt_us < 0:
        return
    if not sk.min_rtt_us or seq_rtt_us < sk.min_rtt_us:
        sk.min_rtt_us = max(seq_rtt_us, 1)
    tcp_rtt_estimator(sk, seq_rtt_us)
    tcp_set_rto(sk)
    sk.icsk_backoff = 0


def tcp_rtt_estimator(sk, mrtt_us: int) -> None:
    """Jacobson/Karels with Linux's scaling: ``srtt_us`` ×8, ``mdev_us`` ×4, ``rttvar_us`` ≥ 200 ms."""
    rto_min_us = TCP_RTO_MIN * (1_000_000 // HZ)   # 200 ms
    m = mrtt_us
    srtt = sk.srtt_us
    if srtt:
        m -= srtt >> 3
        srtt += m
        if m < 0:
            m = -m
            m -= sk.mdev_us >> 2
            if m > 0:
                m >>= 3
        else:
            m -= sk.mdev_us >> 2
        sk.mdev_us += m
        if sk.mdev_us > sk.mdev_max_us:
            sk.mdev_max_us = sk.mdev_us
            if sk.mdev_max_us > sk.rttvar_us:
                sk.rttvar_us = sk.mdev_max_us
        if after(sk.snd_una, sk.rtt_seq):
            if sk.mdev_max_us < sk.rttvar_us:
                sk.rttvar_us -= (sk.rttvar_us - sk.mdev_max_us) >> 2
            sk.rtt_seq = sk.snd_nxt
            sk.mdev_max_us = rto_min_us
    else:
        srtt = m << 3
        sk.mdev_us = m << 1
        sk.rttvar_us = max(sk.mdev_us, rto_min_us)
        sk.mdev_max_us = sk.rttvar_us
        sk.rtt_seq = sk.snd_nxt
    sk.srtt_us = max(1, srtt)


def tcp_set_rto(sk) -> None:
    """``icsk_rto = usecs_to_jiffies(srtt + rttvar)``, at most TCP_RTO_MAX."""
    sk.icsk_rto = min(usecs_to_jiffies((sk.srtt_us >> 3) + sk.rttvar_us), TCP_RTO_MAX)


def tcp_update_pacing_rate(sk) -> None:
    """Recent: ``sk_pacing_rate`` = 200 % (slow start) / 120 % of cwnd × mss / srtt, bytes/s."""
    if is_old(sk.net):
        return
    tcp = sk.net.tcp
    rate = sk.mss_cache * ((1_000_000 // 100) << 3)
    rate *= tcp.tcp_pacing_ss_ratio if sk.snd_cwnd < sk.snd_ssthresh // 2 else tcp.tcp_pacing_ca_ratio
    rate *= max(sk.snd_cwnd, sk.packets_out)
    if sk.srtt_us:
        rate //= sk.srtt_us
    sk.sk_pacing_rate = min(rate, (1 << 64) - 1)


# --- loss recovery (NewReno, Reno dupack counting) ----------------------------------------------------
def _tcp_add_reno_sack(sk) -> None:
    sk.sacked_out += 1
    holes = min(max(sk.lost_out, 1), sk.packets_out)
    if sk.sacked_out + holes > sk.packets_out:
        sk.sacked_out = max(sk.packets_out - holes, 0)


def _tcp_remove_reno_sacks(sk, acked: int) -> None:
    if acked > 0:
        if acked - 1 >= sk.sacked_out:
            sk.sacked_out = 0
        else:
            sk.sacked_out -= acked - 1


def _tcp_force_retransmit_head(sk) -> None:
    """Fast retransmit / NewReno partial ACK: mark the first segment lost and send it now."""
    if not sk.tcp_rtx_queue:
        return
    tcp_mark_head_lost(sk, 1)
    head = sk.tcp_rtx_queue[0]
    if head.cb.sacked & TCPCB_SACKED_RETRANS:
        return
    if tcp_retransmit_skb(sk, head, 1) == 0:
        sk.net.tcp.inc("TCPFastRetrans")
        tcp_rearm_rto(sk)


def _tcp_fastretrans_alert(sk, acked: int, flag: int, is_dupack: bool) -> bool:
    """The loss state machine; True if lost segments should be retransmitted as cwnd allows."""
    tcp = sk.net.tcp
    state = sk.icsk_ca_state
    if state == TCP_CA_Recovery:
        if not before(sk.snd_una, sk.high_seq):
            sk.snd_cwnd = sk.snd_ssthresh
            sk.sacked_out = 0
            sk.icsk_ca_state = TCP_CA_Open
            tcp.inc("TCPRecoveryEnds")
            return False
        if is_dupack:
            _tcp_add_reno_sack(sk)
        elif flag & FLAG_SND_UNA_ADVANCED:
            tcp.inc("TCPPartialAck")
            _tcp_force_retransmit_head(sk)
        return True
    if state == TCP_CA_Loss:
        if not before(sk.snd_una, sk.high_seq):
            sk.icsk_ca_state = TCP_CA_Open
            sk.sacked_out = 0
            return False
        if is_dupack:
            _tcp_add_reno_sack(sk)
        return True
    if state == TCP_CA_CWR and not before(sk.snd_una, sk.high_seq):
        sk.snd_cwnd = max(sk.snd_ssthresh, 2)
        sk.icsk_ca_state = state = TCP_CA_Open
    if is_dupack:
        if state == TCP_CA_Open:
            sk.icsk_ca_state = TCP_CA_Disorder
            sk.disorder_flight = sk.packets_out   # FlightSize before limited transmit adds to it
        _tcp_add_reno_sack(sk)
    if sk.lost_out or sk.sacked_out + 1 > sk.reordering:
        sk.high_seq = sk.snd_nxt
        sk.prior_cwnd = sk.snd_cwnd
        sk.snd_ssthresh = tcp_loss_ssthresh(sk, sk.disorder_flight)
        sk.snd_cwnd = sk.snd_ssthresh
        sk.snd_cwnd_cnt = 0
        sk.icsk_ca_state = TCP_CA_Recovery
        tcp.inc("TCPRenoRecovery")
        _tcp_force_retransmit_head(sk)
        return True
    if not sk.sacked_out and sk.icsk_ca_state == TCP_CA_Disorder:
        sk.icsk_ca_state = TCP_CA_Open
    return False


def _tcp_cong_control(sk, acked: int, flag: int, prior_in_flight: int) -> None:

    if sk.icsk_ca_state in (TCP_CA_CWR, TCP_CA_Recovery):
        pass                               # cwnd reduction: no growth
    elif flag & FLAG_DATA_ACKED and acked:
        tcp_reno_cong_avoid(sk, acked, prior_in_flight)
    tcp_update_pacing_rate(sk)


# --- after the ACK ----------------------------------------------------------------------------------------
def tcp_data_snd_check(sk) -> None:
    """More may go now (``tcp_push_pending_frames``); wake a writer if space was freed."""
    tcp_push_pending_frames(sk)
    tcp_check_space(sk)


def tcp_check_space(sk) -> None:
    """A writer waits for space (SOCK_NOSPACE): maybe grow sndbuf, then ``sk_stream_write_space``."""
    if sk.sk_socket_flags & SOCK_NOSPACE:
        if not sk.sk_userlocks & SOCK_SNDBUF_LOCK and tcp_packets_in_flight(sk) < sk.snd_cwnd:
            tcp_sndbuf_expand(sk)
        sk_stream_write_space(sk)

