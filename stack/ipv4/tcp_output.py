"""TCP output: ``tcp_write_xmit``, ``tcp_transmit_skb``, TSO splitting, TSQ, control segments.

Follows ``net/ipv4/tcp_output.c`` (stack_facts §3, §4, §9.4), switched by
``net.kernel_version`` where 3.10 behaves differently (see :mod:`stack.ipv4.tcp`).

* :func:`tcp_write_xmit` — the gate loop of §3: cwnd quota, TSO segment
  count, receive window, Nagle (+Minshall) for one-segment skbs,
  :func:`tcp_tso_should_defer` for multi-segment ones, the split point,
  :func:`tso_fragment` (frags move, nothing is copied), TSQ
  (:func:`tcp_small_queue_check`), then :func:`tcp_transmit_skb` and
  :func:`tcp_event_new_data_sent` (the skb moves to the retransmit queue and
  stays there until ACKed). Why it stopped is counted in
  ``net.tcp.xmit_stop``.
* :func:`tcp_transmit_skb` — clone the original (``pskb_copy`` if an earlier
  clone still holds its header), push the TCP header with timestamps, seed the
  checksum with the pseudo-header (CHECKSUM_PARTIAL; for GSO over the whole
  L4 length, as ``sim/assembly/skbs.py`` documents), GSO fields, ``skb.sk`` and the
  ``tcp_wfree`` destructor, ``sk_wmem_alloc += truesize``, then
  ``icsk_af_ops->queue_xmit(sk, skb)`` (``ip_queue_xmit``); NET_XMIT_CN enters CWR.
* TSQ: :func:`tcp_wfree` runs when the driver frees a clone; when the socket
  is throttled it is put on this CPU's TSQ list and the TSQ tasklet
  (TASKLET softirq) calls :func:`tcp_write_xmit` again — or, when a task
  owns the socket, ``tcp_release_cb`` does it.
* control segments: SYN, SYN-ACK, pure ACK, FIN; retransmission
  (:func:`tcp_retransmit_skb`, :func:`tcp_xmit_retransmit_queue`).

The TSQ tasklets are ``tasklet_struct``s of the net core's softirq layer
(``net.softirq.tasklet_schedule``), one per CPU.

``tcp_tso_should_defer`` is Linux's: recent — send now in recovery, when the
last send was more than 1 ms ago, when a full ``max_segs`` frame fits in
``min(rwnd room, cwnd room)``, when a non-tail skb fits whole, when the room
is at least a third of ``min(snd_wnd, cwnd×mss)``, or when the oldest
unacked segment was sent less than srtt/2 ago (the next ACK is far); else
defer. 3.10 — the same size rules, not in recovery/loss, no deferral for
FIN, and never longer than about two jiffies (``tso_deferred`` stamp).
"""
from __future__ import annotations

import struct
from collections import deque
from functools import partial

from sim.engine import MS, US

from stack.core import cputime
from stack.core.checksum import csum_tcpudp_nofold
from stack.core.context import in_serving_softirq
from stack.core.jiffies import jiffies
from stack.core.netdevice import NET_XMIT_CN
from stack.core.skbuff import (CHECKSUM_PARTIAL, SKB_GSO_TCPV4, SKB_TRUESIZE_OVERHEAD, SkbFrag, alloc_skb,
                               pskb_expand_head, skb_clone, skb_header_cloned, skb_headlen, skb_headroom,
                               skb_pull, skb_push, skb_put_data, skb_reset_transport_header)
from stack.core.errno import EAGAIN, EBUSY, ENOBUFS, ENOMEM
from stack.core.softirq import tasklet_struct
from stack.core.sock import __sock_wfree
from stack.core.spinlock import spin_lock, spin_unlock
from .ip import IPPROTO_TCP
from .route import fib_lookup
from .tcp_cong import tcp_reno_ssthresh
from .tcp_sock import (TCP_CA_CWR, TCP_CA_Loss, TCP_CA_Open, TCP_CA_Recovery, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_CLOSING,
                       TCP_DELACK_TIMER_DEFERRED, TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_LAST_ACK, TCP_MIN_SND_MSS,
                       TCP_NAGLE_CORK, TCP_NAGLE_OFF, TCP_NAGLE_PUSH, TCP_TSQ_DEFERRED, TCP_WRITE_TIMER_DEFERRED,
                       TCPCB_LOST, TCPCB_RETRANS, TCPCB_SACKED_RETRANS, TCPHDR_ACK, TCPHDR_FIN, TCPHDR_PSH,
                       TCPHDR_SYN, TSQ_QUEUED, TSQ_THROTTLED, _seq, after, before, is_old, max_tcp_header,
                       sk_wmem_refcount, tcp_bound_to_half_wnd, tcp_packets_in_flight, tcp_skb_cb, tcp_wnd_end,
                       tcphdr_layout)
from .tcp_timer import tcp_check_probe_timer, tcp_delack_timer_handler, tcp_rearm_rto, tcp_write_timer_handler

__all__ = [
    "tcp_current_mss", "tcp_sync_mss",
    "tcp_mtu_to_mss", "tcp_sk_setup_caps", "tcp_send_head", "tcp_set_skb_tso_segs", "tcp_select_window",
    "tcp_transmit_skb", "tcp_wfree", "tcp_tasklet_init", "tcp_release_cb",
    "tcp_cwnd_test", "tcp_snd_wnd_test", "tcp_nagle_test", "tcp_tso_should_defer", "tcp_mss_split_point",
    "tcp_small_queue_check", "tcp_tso_segs", "tso_fragment", "tcp_fragment", "tcp_trim_head", "skb_split",
    "tcp_write_xmit", "__tcp_push_pending_frames", "tcp_push_pending_frames", "tcp_push_one",
    "tcp_connect", "tcp_send_synack", "tcp_send_ack", "tcp_send_fin", "tcp_retransmit_skb",
    "tcp_xmit_retransmit_queue", "tcp_enter_cwr", "tcp_time_stamp",
]

TCPOPT_NOP, TCPOPT_MSS, TCPOPT_WINDOW, TCPOPT_TIMESTAMP = 1, 2, 3, 8
#: ``SKB_TRUESIZE(1)``
_SKB_TRUESIZE_1 = SKB_TRUESIZE_OVERHEAD + 1


# --- clocks ----------------------------------------------------------------------------------------
def tcp_time_stamp(net) -> int:
    """The TS option clock: milliseconds (``tcp_time_stamp``, TCP_TS_HZ = 1000)."""
    return (net.engine.now // MS) & 0xFFFFFFFF


def tcp_tsval(sk) -> int:
    """TSval of ``sk``: the ms clock plus the connection's offset (``tsoffset``, random in Linux)."""
    return (tcp_time_stamp(sk.net) + sk.tsoffset) & 0xFFFFFFFF


def _now_us(net) -> int:
    return net.engine.now // US


# --- MSS and route caps --------------------------------------------------------------------------
def _route_dev(sk):
    """The socket's cached route and its device; before IP has cached one, no route and the device of
    the route to the peer (``fib_lookup``: Linux's connect and ``tcp_v4_syn_recv_sock`` route first)."""
    dst = sk.sk_dst_cache
    if dst is not None:
        return dst, dst.dev
    e = fib_lookup(sk.net, sk.inet_daddr, sk.sk_bound_dev_if)
    return None, e.dev if e is not None else None


def _dst_mtu(sk) -> int:
    """The path MTU: the cached route's, else the device's of the route to the peer, else 1500."""
    dst, dev = _route_dev(sk)
    if dst is not None:
        return dst.mtu
    return dev.mtu if dev is not None else 1500


def tcp_sk_setup_caps(sk) -> None:
    """GSO limits from the device (65536 / 65535 by default) until IP has cached a route; once it
    has, its ``sk_setup_caps`` set them (0 when the device cannot do TSO) and they are kept."""
    dst, dev = _route_dev(sk)
    if dst is None and dev is not None:
        sk.sk_gso_max_size = dev.gso_max_size
        sk.sk_gso_max_segs = dev.gso_max_segs


def tcp_mtu_to_mss(sk, pmtu: int) -> int:
    """``pmtu − 20 − 20``, clamped to the peer's MSS, minus our option bytes, ≥ 48."""
    mss = pmtu - 20 - 20
    mss = min(mss, sk.mss_clamp)
    mss = max(mss, TCP_MIN_SND_MSS)
    return mss - (sk.tcp_header_len - 20)


def tcp_sync_mss(sk, pmtu: int) -> int:
    """Recompute ``mss_cache`` for ``pmtu``."""
    mss = tcp_bound_to_half_wnd(sk, tcp_mtu_to_mss(sk, pmtu))
    sk.icsk_pmtu_cookie = pmtu
    sk.mss_cache = mss
    return mss


def tcp_current_mss(sk) -> int:
    """``mss_cache``, re-synced if the path MTU changed."""
    mtu = _dst_mtu(sk)
    if mtu != sk.icsk_pmtu_cookie:
        return tcp_sync_mss(sk, mtu)
    return sk.mss_cache


# --- queues and TSO counts --------------------------------------------------------------------------
def tcp_send_head(sk):
    return sk.sk_write_queue[0] if sk.sk_write_queue else None


def tcp_set_skb_tso_segs(skb, mss_now: int) -> int:
    """pcount = ceil(len / mss) with ``tcp_gso_size = mss``; 1 (no GSO) for len ≤ mss."""
    tcb = skb.cb
    if skb.len <= mss_now:
        tcb.pcount = 1
        tcb.tcp_gso_size = 0
    else:
        tcb.pcount = -(-skb.len // mss_now)
        tcb.tcp_gso_size = mss_now
    return tcb.pcount


def tcp_init_tso_segs(skb, mss_now: int) -> int:
    tcb = skb.cb
    if not tcb.pcount or (tcb.pcount > 1 and tcb.tcp_gso_size != mss_now):
        return tcp_set_skb_tso_segs(skb, mss_now)
    return tcb.pcount


# --- the TCP header ----------------------------------------------------------------------------------
def _established_options(sk) -> bytes:
    if not sk.tstamp_ok:
        return b""
    return struct.pack("!BBBBII", TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10, tcp_tsval(sk), sk.ts_recent)


def _syn_options(sk) -> bytes:
    """SYN / SYN-ACK: MSS, NOP NOP TS, NOP WS (Linux's layout without SACK: 20 bytes)."""
    opts = struct.pack("!BBH", TCPOPT_MSS, 4, sk.advmss)
    if sk.tstamp_ok:
        opts += struct.pack("!BBBBII", TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10, tcp_tsval(sk), sk.ts_recent)
    if sk.wscale_ok:
        opts += struct.pack("!BBBB", TCPOPT_NOP, TCPOPT_WINDOW, 3, sk.rcv_wscale)
    return opts


def tcp_select_window(sk) -> int:
    """The window field: ``rcv_wnd >> rcv_wscale`` (the receive window is fixed in this model)."""
    sk.rcv_wup = sk.rcv_nxt
    return min(sk.rcv_wnd >> sk.rcv_wscale, 0xFFFF)


def _pskb_copy(skb):
    """A private copy of the linear part sharing the frags (``pskb_copy``); None without memory."""
    mem = skb.mem
    headroom = skb_headroom(skb)
    headlen = skb_headlen(skb)
    n = alloc_skb(mem, headlen, headroom)
    if n is None:
        return None
    if headlen:
        skb_put_data(n, mem.read(skb.data, headlen))
    for f in skb.shinfo.frags:
        if type(f.page) is int:
            mem.get_page(f.page)
        n.shinfo.frags.append(SkbFrag(f.page, f.offset, f.size))
    n.len += skb.data_len
    n.data_len = skb.data_len
    n.truesize += skb.data_len
    sh, osh = n.shinfo, skb.shinfo
    sh.gso_size, sh.gso_segs, sh.gso_type = osh.gso_size, osh.gso_segs, osh.gso_type
    n.ip_summed = skb.ip_summed
    n.priority = skb.priority
    n.cb = tcp_skb_cb()
    for name in tcp_skb_cb.__slots__:
        setattr(n.cb, name, getattr(skb.cb, name))
    return n


def tcp_transmit_skb(sk, skb, clone_it: bool = True, rcv_nxt: int | None = None) -> int:
    """Build the TCP header on a clone of ``skb`` (or on ``skb`` itself) and hand it to IP.

    Returns 0, a NET_XMIT_DROP (1) that the caller treats as failure, or -errno.
    """
    net = sk.net
    tcp = net.tcp
    old = is_old(net)
    cputime.charge(net, "tcp_transmit_skb")
    now_ns = net.engine.now // 1000
    if now_ns > sk.tcp_wstamp_ns:
        sk.tcp_wstamp_ns = now_ns
    oskb = None
    if clone_it:
        oskb = skb
        oskb.cb.tx_us = now_ns // 1000
        oskb.cb.when = jiffies(net.engine.now)
        if skb_header_cloned(oskb):
            skb = _pskb_copy(oskb)
            tcp.inc("pskb_copies")
        else:
            skb = skb_clone(oskb)
            cputime.charge(net, "skb_clone")
            tcp.inc("fclone_clones")
        if skb is None:
            return -ENOBUFS
    tcb = skb.cb
    flags = tcb.tcp_flags
    pcount = tcb.pcount or 1
    if flags & TCPHDR_SYN:
        opts = _syn_options(sk)
        window = min(sk.rcv_wnd, 0xFFFF)
    else:
        opts = _established_options(sk)
        if not old and pcount > 1:
            flags |= TCPHDR_PSH          # recent: PSH on every GSO packet (GRO flush)
        window = tcp_select_window(sk)
    hdr_len = 20 + len(opts)
    skb_push(skb, hdr_len)
    skb_reset_transport_header(skb)
    payload = skb.len - hdr_len
    skb.sk = sk
    is_data = payload > 0 or flags & (TCPHDR_SYN | TCPHDR_FIN)
    skb.destructor = tcp_wfree if is_data else __sock_wfree
    sk.sk_wmem_alloc += skb.truesize
    ack = sk.rcv_nxt if rcv_nxt is None else rcv_nxt
    seed = csum_tcpudp_nofold(sk.inet_saddr, sk.inet_daddr, skb.len, IPPROTO_TCP)  # ~tcp_v4_check(len, ..., 0)
    header = tcphdr_layout.pack(sk.inet_sport, sk.inet_dport, tcb.seq, ack if flags & TCPHDR_ACK else 0,
                          (hdr_len // 4) << 4, flags, window, seed, 0) + opts
    skb.mem.write(skb.data, header)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data - skb.head
    skb.csum_offset = 16
    sh = skb.shinfo
    sh.gso_type = SKB_GSO_TCPV4
    sh.gso_segs = pcount
    sh.gso_size = tcb.tcp_gso_size
    if flags & TCPHDR_ACK:
        _tcp_event_ack_sent(sk)
    if payload:
        sk.lsndtime = jiffies(net.engine.now)
        sk.data_segs_out += pcount
        sk.bytes_sent += payload
    if after(tcb.end_seq, sk.snd_nxt) or tcb.seq == tcb.end_seq:
        tcp.inc("OutSegs", pcount)
    sk.segs_out += pcount
    net.count("tcp", pcount, skb.len)
    skb.cb = None                       # Linux clears the cb for IP (IPCB)
    err = sk.icsk_af_ops.queue_xmit(sk, skb)
    if err > 0:
        tcp_enter_cwr(sk)
        err = 0 if err == NET_XMIT_CN else err
    return err


def _tcp_event_ack_sent(sk) -> None:
    """An ACK went out: the delayed ACK is no longer needed."""
    sk.quick_acks_pending = 0
    if sk.icsk_ack_pending:
        sk.icsk_ack_pending = False
        if sk.icsk_delack_timer is not None:
            sk.net.timers.del_timer(sk.icsk_delack_timer)


def tcp_enter_cwr(sk) -> None:
    """Local congestion (qdisc said NET_XMIT_CN): halve cwnd once, state CWR."""
    if sk.icsk_ca_state < TCP_CA_CWR:
        sk.net.tcp.inc("TCPCWR")
        sk.prior_cwnd = sk.snd_cwnd
        sk.snd_ssthresh = tcp_reno_ssthresh(sk)
        sk.snd_cwnd = max(min(sk.snd_cwnd, tcp_packets_in_flight(sk) + 1), sk.snd_ssthresh)
        sk.high_seq = sk.snd_nxt
        sk.icsk_ca_state = TCP_CA_CWR


# --- TSQ: destructors and the tasklet --------------------------------------------------------------
def tcp_wfree(skb) -> None:
    """Destructor of data clones: ``sk_wmem_alloc −= truesize``; a throttled socket is queued for
    the TSQ tasklet on this CPU (recent: not while ksoftirqd runs and more of ours is queued)."""
    sk = skb.sk
    net = sk.net
    sk.sk_wmem_alloc -= skb.truesize
    cpu = net.ctx.cpu
    if (not is_old(net) and sk_wmem_refcount(sk) >= _SKB_TRUESIZE_1 and in_serving_softirq(cpu)
            and net.softirq.per_cpu[cpu.index].in_ksoftirqd):
        return
    flags = sk.sk_tsq_flags
    if not flags & TSQ_THROTTLED or flags & TSQ_QUEUED:
        return
    sk.sk_tsq_flags = (flags & ~TSQ_THROTTLED) | TSQ_QUEUED
    tcp = net.tcp
    lst = tcp.tsq_lists[cpu.index]
    empty = not lst
    lst.append(sk)
    tcp.inc("tsq_queued")
    if empty:
        net.softirq.tasklet_schedule(tcp.tsq_tasklets[cpu.index])


def tcp_tasklet_init(net) -> None:
    """The per-CPU TSQ tasklets."""
    net.tcp.tsq_tasklets = [tasklet_struct(partial(tcp_tasklet_func, net, i))
                            for i in range(len(net.host.cpus))]


def tcp_tasklet_func(net, index: int) -> None:
    """The TSQ tasklet: write more for each queued socket (deferred if a task owns it)."""
    cputime.charge(net, "tcp_tasklet_func")
    tcp = net.tcp
    lst = tcp.tsq_lists[index]
    tcp.tsq_lists[index] = deque()
    for sk in lst:
        sk.sk_tsq_flags &= ~TSQ_QUEUED
        spin_lock(sk.slock)   # bh_lock_sock
        if sk.owned:
            sk.sk_tsq_flags |= TCP_TSQ_DEFERRED
            tcp.inc("tsq_deferred")
        else:
            tcp.inc("tsq_restarts")
            tcp_tsq_write(sk)
        spin_unlock(sk.slock)


def tcp_tsq_write(sk) -> None:
    if sk.sk_state in (TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_CLOSING, TCP_CLOSE_WAIT, TCP_LAST_ACK):
        if sk.lost_out > sk.retrans_out and sk.snd_cwnd > tcp_packets_in_flight(sk):
            tcp_xmit_retransmit_queue(sk)
        tcp_write_xmit(sk, tcp_current_mss(sk), sk.nonagle, 0)


def tcp_release_cb(sk) -> None:
    """Work softirq deferred while a task owned the socket: TSQ writes, RTO, delayed ACK."""
    flags = sk.sk_tsq_flags
    if not flags & (TCP_TSQ_DEFERRED | TCP_WRITE_TIMER_DEFERRED | TCP_DELACK_TIMER_DEFERRED):
        return
    sk.sk_tsq_flags = flags & ~(TCP_TSQ_DEFERRED | TCP_WRITE_TIMER_DEFERRED | TCP_DELACK_TIMER_DEFERRED)
    if flags & TCP_TSQ_DEFERRED:
        sk.net.tcp.inc("tsq_restarts")
        tcp_tsq_write(sk)
    if flags & TCP_WRITE_TIMER_DEFERRED:
        tcp_write_timer_handler(sk)
    if flags & TCP_DELACK_TIMER_DEFERRED:
        tcp_delack_timer_handler(sk)


# --- the gates of tcp_write_xmit ---------------------------------------------------------------------
def tcp_cwnd_test(sk, skb) -> int:
    """Segments cwnd lets go now: recent ``min(max(cwnd/2,1), cwnd − in_flight)``; 3.10
    ``cwnd − in_flight`` (and a lone FIN always gets 1)."""
    cwnd = sk.snd_cwnd
    if is_old(sk.net):
        if skb.cb.tcp_flags & TCPHDR_FIN and skb.cb.pcount == 1:
            return 1
        in_flight = tcp_packets_in_flight(sk)
        return cwnd - in_flight if in_flight < cwnd else 0
    in_flight = tcp_packets_in_flight(sk)
    if in_flight >= cwnd:
        return 0
    return min(max(cwnd >> 1, 1), cwnd - in_flight)


def tcp_snd_wnd_test(sk, skb, cur_mss: int) -> bool:
    """The first MSS of the skb fits in the peer's window."""
    end_seq = skb.cb.end_seq
    if skb.len > cur_mss:
        end_seq = _seq(skb.cb.seq + cur_mss)
    return not after(end_seq, tcp_wnd_end(sk))


def _tcp_minshall_check(sk) -> bool:
    return after(sk.snd_sml, sk.snd_una) and not after(sk.snd_sml, sk.snd_nxt)


def _tcp_nagle_check(partial_seg: bool, sk, nonagle: int) -> bool:
    return partial_seg and bool(nonagle & TCP_NAGLE_CORK
                                or (not nonagle and sk.packets_out and _tcp_minshall_check(sk)))


def tcp_nagle_test(sk, skb, cur_mss: int, nonagle: int) -> bool:
    """True if Nagle (with Minshall's rule) lets this one-segment skb go."""
    if nonagle & TCP_NAGLE_PUSH:
        return True
    if skb.cb.tcp_flags & TCPHDR_FIN:
        return True
    return not _tcp_nagle_check(skb.len < cur_mss, sk, nonagle)


def tcp_tso_should_defer(sk, skb, max_segs: int, limited: dict) -> bool:
    """Hold a multi-segment skb back to build a bigger one (see the module docstring)."""
    net = sk.net
    mss = sk.mss_cache
    if is_old(net):
        if skb.cb.tcp_flags & TCPHDR_FIN or sk.icsk_ca_state != TCP_CA_Open:
            sk.tso_deferred = 0
            return False
        now_j = jiffies(net.engine.now)
        if sk.tso_deferred and now_j - (sk.tso_deferred >> 1) > 1:
            sk.tso_deferred = 0
            return False
    else:
        if sk.icsk_ca_state >= TCP_CA_Recovery:
            return False
        now_ns = net.engine.now // 1000
        if now_ns - sk.tcp_wstamp_ns - 1_000_000 > 0:
            return False
    in_flight = tcp_packets_in_flight(sk)
    send_win = (tcp_wnd_end(sk) - skb.cb.seq) & 0xFFFFFFFF
    if send_win >= 0x80000000:
        send_win = 0
    cong_win = (sk.snd_cwnd - in_flight) * mss
    limit = min(send_win, cong_win)
    full = min(sk.sk_gso_max_size, sk.sk_gso_max_segs * mss) if is_old(net) else max_segs * mss
    is_tail = skb is sk.sk_write_queue[-1]
    send_now = limit >= full or (not is_tail and limit >= skb.len)
    if not send_now:
        divisor = net.tcp.tcp_tso_win_divisor
        if divisor:
            chunk = min(sk.snd_wnd, sk.snd_cwnd * mss) // divisor
            send_now = limit >= chunk
        else:
            send_now = limit > 3 * mss
    if is_old(net):
        if send_now:
            sk.tso_deferred = 0
            return False
        if not sk.tso_deferred:
            sk.tso_deferred = 1 | (jiffies(net.engine.now) << 1)
        return True
    if send_now:
        return False
    head = sk.tcp_rtx_queue[0] if sk.tcp_rtx_queue else None
    if head is None:
        return False
    delta_us = _now_us(net) - head.cb.tx_us
    if delta_us - (sk.srtt_us >> 4) < 0:
        return False                    # the next ACK is more than srtt/2 away: do not wait for it
    if cong_win < send_win:
        if cong_win <= skb.len:
            limited["cwnd"] = True
            return True
    elif send_win <= skb.len:
        limited["rwnd"] = True
        return True
    if skb.cb.eor or skb.cb.tcp_flags & TCPHDR_FIN:
        return False
    return True


def tcp_mss_split_point(sk, skb, mss_now: int, max_segs: int, nonagle: int) -> int:
    """Bytes of the head skb to send now: quota × mss, bounded by the window; recent trims a last
    partial segment that Nagle would hold, 3.10 always sends whole segments."""
    window = (tcp_wnd_end(sk) - skb.cb.seq) & 0xFFFFFFFF
    max_len = mss_now * max_segs
    if max_len <= window and skb is not sk.sk_write_queue[-1]:
        return max_len
    needed = min(skb.len, window)
    if max_len <= needed:
        return max_len
    partial_bytes = needed % mss_now
    if is_old(sk.net):
        return needed - partial_bytes
    if _tcp_nagle_check(partial_bytes != 0, sk, nonagle):
        return needed - partial_bytes
    return needed


def tcp_tso_segs(sk, mss_now: int) -> int:
    """Recent TSO autosizing: ``max(min(pacing_rate >> 10, gso_max_size − 1 − MAX_TCP_HEADER) / mss,
    tcp_min_tso_segs)``, at most ``sk_gso_max_segs``."""
    net = sk.net
    nbytes = min(sk.sk_pacing_rate >> sk.sk_pacing_shift, sk.sk_gso_max_size - 1 - max_tcp_header(net))
    segs = max(nbytes // mss_now, net.tcp.tcp_min_tso_segs)
    return min(segs, sk.sk_gso_max_segs)


def tcp_tsq_limit(sk, skb) -> int:
    """Recent TSQ limit: ``min(max(2 × truesize, pacing_rate >> 10), tcp_limit_output_bytes)``."""
    limit = max(2 * skb.truesize, sk.sk_pacing_rate >> sk.sk_pacing_shift)
    return min(limit, sk.net.tcp.tcp_limit_output_bytes)


def tcp_small_queue_check(sk, skb, factor: int = 0) -> bool:
    """Recent TSQ: stop when more than the limit of ours sits in qdisc/NIC (unless the retransmit
    queue holds at most one skb); sets TSQ_THROTTLED so the TX completion restarts us."""
    limit = tcp_tsq_limit(sk, skb) << factor
    if sk_wmem_refcount(sk) > limit:
        if len(sk.tcp_rtx_queue) <= 1:
            return False
        sk.sk_tsq_flags |= TSQ_THROTTLED
        sk.net.tcp.inc("tsq_throttled")
        if sk_wmem_refcount(sk) > limit:
            return True
    return False


# --- splitting skbs (frags move; a 3.10 linear head is copied) -----------------------------------------
def skb_split(skb, skb1, length: int) -> int:
    """Move everything after ``length`` bytes of ``skb`` into empty ``skb1``; bytes copied (linear)."""
    mem = skb.mem
    pos = skb_headlen(skb)
    frags = skb.shinfo.frags
    if length < pos:
        # skb_split_inside_header: the linear tail is copied, every frag moves
        tail = mem.read(skb.data + length, pos - length)
        skb_put_data(skb1, tail)
        skb1.shinfo.frags = frags
        skb.shinfo.frags = []
        skb1.data_len = skb.data_len
        skb1.len += skb.data_len
        skb.data_len = 0
        skb.len = length
        skb.tail = skb.data - skb.head + length
        return pos - length
    # skb_split_no_header
    keep, move = [], []
    for f in frags:
        size = f.size
        if pos + size > length:
            if pos < length:
                if type(f.page) is int:
                    mem.get_page(f.page)
                move.append(SkbFrag(f.page, f.offset + (length - pos), size - (length - pos)))
                keep.append(SkbFrag(f.page, f.offset, length - pos))
            else:
                move.append(f)
        else:
            keep.append(f)
        pos += size
    skb.shinfo.frags = keep
    skb1.shinfo.frags = move
    nlen = skb.len - length
    skb1.len += nlen
    skb1.data_len += nlen
    skb.data_len -= nlen
    skb.len = length
    return 0


def _skb_unclone(skb) -> int:
    """Give ``skb`` a private header and frag array if a clone still shares them; 0 or -ENOMEM."""
    if skb_header_cloned(skb):
        return pskb_expand_head(skb, 0, 0)
    return 0


def tcp_fragment(sk, queue: deque, skb, length: int, mss_now: int, *, name: str = "tcp_fragment") -> int:
    """Split ``skb`` (in ``queue``) after ``length`` bytes; the new skb follows it. 0 or -ENOMEM."""
    net = sk.net
    tcp = net.tcp
    if length <= 0 or length >= skb.len:
        return -22
    if _skb_unclone(skb):
        return -ENOMEM
    cputime.charge(net, name)
    nsize = max(skb_headlen(skb) - length, 0)
    buff = alloc_skb(net.skb, nsize, max_tcp_header(net))
    if buff is None:
        return -ENOMEM
    tcp.inc("skb_allocs")
    tcp.inc(name + "s")
    sk.sk_wmem_queued += buff.truesize
    nlen = skb.len - length - nsize
    buff.truesize += nlen
    skb.truesize -= nlen
    tcb = skb.cb
    bcb = buff.cb = tcp_skb_cb()
    bcb.seq = _seq(tcb.seq + length)
    bcb.end_seq = tcb.end_seq
    tcb.end_seq = bcb.seq
    flags = tcb.tcp_flags
    tcb.tcp_flags = flags & ~(TCPHDR_FIN | TCPHDR_PSH)
    bcb.tcp_flags = flags
    bcb.sacked = tcb.sacked
    bcb.eor, tcb.eor = tcb.eor, False
    bcb.tx_us, bcb.when = tcb.tx_us, tcb.when
    copied = skb_split(skb, buff, length)
    if copied:
        tcp.inc("tcp_fragment_copy_bytes", copied)
        net.count_copy("tcp_fragment", copied)
        cputime.charge_bytes(net, "copy_from_user", copied)
    buff.shinfo.gso_type = skb.shinfo.gso_type
    old_factor = tcb.pcount
    tcp_set_skb_tso_segs(skb, mss_now)
    tcp_set_skb_tso_segs(buff, mss_now)
    if queue is sk.tcp_rtx_queue and not before(sk.snd_nxt, bcb.end_seq):
        diff = old_factor - tcb.pcount - bcb.pcount
        if diff:
            _tcp_adjust_pcount(sk, skb, diff)
    queue.insert(queue.index(skb) + 1, buff)
    return 0


def tso_fragment(sk, skb, length: int, mss_now: int) -> int:
    """Split an unsent TSO skb at the send limit (page frags move, nothing is copied)."""
    return tcp_fragment(sk, sk.sk_write_queue, skb, length, mss_now, name="tso_fragment")


def _tcp_adjust_pcount(sk, skb, decr: int) -> None:
    sk.packets_out -= decr
    sacked = skb.cb.sacked
    if sacked & TCPCB_SACKED_RETRANS:
        sk.retrans_out -= decr
    if sacked & TCPCB_LOST:
        sk.lost_out -= decr


def tcp_trim_head(sk, skb, length: int) -> int:
    """Drop the first ``length`` (ACKed) bytes of a sent skb without copying; 0 or -ENOMEM."""
    if _skb_unclone(skb):
        return -ENOMEM
    mem = skb.mem
    eat = min(length, skb_headlen(skb))
    if eat:
        skb_pull(skb, eat)
    rest = length - eat
    if rest:
        keep = []
        for f in skb.shinfo.frags:
            if rest >= f.size:
                rest -= f.size
                if type(f.page) is int:
                    mem.put_page(f.page)
            else:
                if rest:
                    f.offset += rest
                    f.size -= rest
                    rest = 0
                keep.append(f)
        skb.shinfo.frags = keep
        skb.data_len -= length - eat
        skb.len -= length - eat
    tcb = skb.cb
    tcb.seq = _seq(tcb.seq + length)
    skb.truesize -= length
    sk.sk_wmem_queued -= length
    if tcb.pcount > 1:
        tcp_set_skb_tso_segs(skb, tcb.tcp_gso_size)
    return 0


# --- after a send ------------------------------------------------------------------------------------
def tcp_event_new_data_sent(sk, skb) -> None:
    """``snd_nxt`` advances; the skb moves to the retransmit queue; the RTO starts if idle."""
    prior_packets = sk.packets_out
    sk.snd_nxt = skb.cb.end_seq
    sk.sk_write_queue.popleft()
    sk.tcp_rtx_queue.append(skb)
    sk.packets_out += skb.cb.pcount
    if not prior_packets:
        tcp_rearm_rto(sk)
    sk.net.tcp.inc("TCPOrigDataSent", skb.cb.pcount)


def _tcp_cwnd_validate(sk, is_cwnd_limited: bool) -> None:
    """Recent: remember whether this window was cwnd-limited (gates cwnd growth, §11)."""
    if (not before(sk.snd_una, sk.cwnd_usage_seq) or is_cwnd_limited
            or (not sk.is_cwnd_limited and sk.packets_out > sk.max_packets_out)):
        sk.is_cwnd_limited = is_cwnd_limited
        sk.max_packets_out = sk.packets_out
        sk.cwnd_usage_seq = sk.snd_nxt


def _stop(tcp, reason: str) -> None:
    tcp.xmit_stop[reason] = tcp.xmit_stop.get(reason, 0) + 1


def tcp_write_xmit(sk, mss_now: int, nonagle: int, push_one: int) -> bool:
    """Send what cwnd, the peer's window, Nagle, TSO deferral and TSQ allow (stack_facts §3).

    Returns True when nothing is in flight but data is stuck (the zero-window case).
    """
    net = sk.net
    tcp = net.tcp
    old = is_old(net)
    cputime.charge(net, "tcp_write_xmit")
    sent_pkts = 0
    max_segs = sk.sk_gso_max_segs if old else tcp_tso_segs(sk, mss_now)
    limited = {"cwnd": False, "rwnd": False}
    reason = "done"
    while sk.sk_write_queue:
        skb = sk.sk_write_queue[0]
        tso_segs = tcp_init_tso_segs(skb, mss_now)
        cwnd_quota = tcp_cwnd_test(sk, skb)
        if not cwnd_quota:
            if push_one == 2:
                cwnd_quota = 1
            else:
                limited["cwnd"] = True
                reason = "cwnd"
                break
        if not old:
            cwnd_quota = min(cwnd_quota, max_segs)
        if not tcp_snd_wnd_test(sk, skb, mss_now):
            limited["rwnd"] = True
            reason = "rwnd"
            break
        if tso_segs == 1:
            is_last = skb is sk.sk_write_queue[-1]
            if not tcp_nagle_test(sk, skb, mss_now, nonagle if is_last else TCP_NAGLE_PUSH):
                reason = "nagle"
                break
        elif not push_one and tcp_tso_should_defer(sk, skb, max_segs, limited):
            reason = "tso_defer"
            break
        if old and sk_wmem_refcount(sk) >= tcp.tcp_limit_output_bytes:
            sk.sk_tsq_flags |= TSQ_THROTTLED
            tcp.inc("tsq_throttled")
            reason = "tsq"
            break
        limit = mss_now
        if tso_segs > 1:
            quota = min(cwnd_quota, sk.sk_gso_max_segs) if old else cwnd_quota
            limit = tcp_mss_split_point(sk, skb, mss_now, quota, nonagle)
        if skb.len > limit and tso_fragment(sk, skb, limit, mss_now):
            reason = "nomem"
            break
        if not old and tcp_small_queue_check(sk, skb, 0):
            reason = "tsq"
            break
        if skb.cb.end_seq == skb.cb.seq:
            reason = "empty"
            break
        if tcp_transmit_skb(sk, skb, True):
            reason = "xmit_err"
            break
        tcp_event_new_data_sent(sk, skb)
        if skb.len < skb.cb.pcount * mss_now:
            sk.snd_sml = skb.cb.end_seq      # tcp_minshall_update
        sent_pkts += skb.cb.pcount
        if push_one:
            reason = "push_one"
            break
    _stop(tcp, reason)
    is_cwnd_limited = limited["cwnd"] or tcp_packets_in_flight(sk) >= sk.snd_cwnd
    if not old:
        _tcp_cwnd_validate(sk, is_cwnd_limited)
    if sent_pkts:
        return False
    return not sk.packets_out and bool(sk.sk_write_queue)


def __tcp_push_pending_frames(sk, cur_mss: int, nonagle: int) -> None:
    if sk.sk_state == TCP_CLOSE:
        return
    if tcp_write_xmit(sk, cur_mss, nonagle, 0):
        tcp_check_probe_timer(sk)


def tcp_push_pending_frames(sk) -> None:
    if sk.sk_write_queue:
        __tcp_push_pending_frames(sk, tcp_current_mss(sk), sk.nonagle)


def tcp_push_one(sk, mss_now: int) -> None:
    """Send the head skb only (``tcp_sendmsg`` after filling the send head)."""
    tcp_write_xmit(sk, mss_now, sk.nonagle, 1)


# --- control segments ----------------------------------------------------------------------------------
def _nondata_skb(sk, seq: int, flags: int):
    net = sk.net
    skb = alloc_skb(net.skb, 0, max_tcp_header(net))
    if skb is None:
        return None
    cputime.charge(net, "skb_alloc")
    tcb = skb.cb = tcp_skb_cb(seq, flags)
    tcb.end_seq = _seq(seq + (1 if flags & (TCPHDR_SYN | TCPHDR_FIN) else 0))
    tcb.pcount = 1
    return skb


def _queue_sent_ctl(sk, skb) -> int:
    """Queue a SYN / SYN-ACK on the retransmit queue, send it, start the RTO."""
    sk.write_seq = skb.cb.end_seq
    sk.tcp_rtx_queue.append(skb)
    sk.sk_wmem_queued += skb.truesize
    sk.packets_out += 1
    err = tcp_transmit_skb(sk, skb, True)
    sk.snd_nxt = sk.write_seq
    sk.pushed_seq = sk.write_seq
    tcp_rearm_rto(sk)
    return err if err < 0 else 0


def _tcp_connect_init(sk) -> None:
    """MSS, windows and option space before the SYN (``tcp_connect_init``)."""
    tcp = sk.net.tcp
    tcp_sk_setup_caps(sk)
    mtu = _dst_mtu(sk)
    sk.advmss = mtu - 40
    sk.mss_clamp = min(sk.mss_clamp, sk.advmss) if sk.mss_clamp != 536 else sk.advmss
    sk.tcp_header_len = 20 + (12 if tcp.tcp_timestamps else 0)
    rmss = sk.advmss - (12 if tcp.tcp_timestamps else 0)
    sk.rcv_wnd = (min(0xFFFF, sk.sk_rcvbuf) // rmss) * rmss   # 45 × 1448 = 65160 at MTU 1500
    sk.rcv_wscale = 7 if tcp.tcp_window_scaling else 0


def tcp_connect(sk) -> int:
    """Build and send the SYN (kept on the retransmit queue until ACKed)."""
    tcp = sk.net.tcp
    _tcp_connect_init(sk)
    sk.tstamp_ok = bool(tcp.tcp_timestamps)
    sk.wscale_ok = bool(tcp.tcp_window_scaling)
    sk.snd_una = sk.snd_nxt = sk.pushed_seq = sk.snd_sml = sk.write_seq
    sk.snd_wnd = 0
    sk.rcv_nxt = 0
    skb = _nondata_skb(sk, sk.write_seq, TCPHDR_SYN)
    if skb is None:
        return -ENOBUFS
    err = _queue_sent_ctl(sk, skb)
    sk.tstamp_offered, sk.wscale_offered = sk.tstamp_ok, sk.wscale_ok
    sk.tstamp_ok = sk.wscale_ok = False   # negotiated by the SYN-ACK
    return err


def tcp_send_synack(sk) -> int:
    """A child in SYN_RECV sends its SYN-ACK (on its retransmit queue until ACKed)."""
    skb = _nondata_skb(sk, sk.write_seq, TCPHDR_SYN | TCPHDR_ACK)
    if skb is None:
        return -ENOBUFS
    return _queue_sent_ctl(sk, skb)


def tcp_send_ack(sk) -> None:
    """A pure ACK (not queued; freed by the driver)."""
    net = sk.net
    if sk.sk_state == TCP_CLOSE:
        return
    cputime.charge(net, "tcp_send_ack")
    skb = _nondata_skb(sk, sk.snd_nxt, TCPHDR_ACK)
    if skb is None:
        return
    net.tcp.inc("pure_acks_sent")
    tcp_transmit_skb(sk, skb, False)


def tcp_send_fin(sk) -> None:
    """FIN on the last unsent skb, or a new FIN skb; then push with Nagle off."""

    if sk.sk_write_queue:
        tskb = sk.sk_write_queue[-1]
        tskb.cb.tcp_flags |= TCPHDR_FIN
        tskb.cb.end_seq = _seq(tskb.cb.end_seq + 1)
        sk.write_seq = _seq(sk.write_seq + 1)
    else:
        skb = _nondata_skb(sk, sk.write_seq, TCPHDR_ACK | TCPHDR_FIN)
        if skb is None:
            return
        sk.sk_write_queue.append(skb)
        sk.sk_wmem_queued += skb.truesize
        sk.write_seq = skb.cb.end_seq
    __tcp_push_pending_frames(sk, tcp_current_mss(sk), TCP_NAGLE_OFF)


# --- retransmission --------------------------------------------------------------------------------------
def tcp_retransmit_skb(sk, skb, segs: int = 1) -> int:
    """Retransmit (up to ``segs`` MSS of) an skb of the retransmit queue; 0 or -errno.

    Recent skips it while the previous clone is still in qdisc/NIC
    (``skb_still_in_host_queue``: -EBUSY, TCPSpuriousRtxHostQueues); 3.10
    sends a ``pskb_copy`` then. 3.10 retransmits one MSS at a time.
    """
    net = sk.net
    tcp = net.tcp
    old = is_old(net)
    cputime.charge(net, "tcp_retransmit_skb")
    if not old and skb_header_cloned(skb):
        tcp.inc("TCPSpuriousRtxHostQueues")
        return -EBUSY
    tcb = skb.cb
    if before(tcb.seq, sk.snd_una):
        if tcp_trim_head(sk, skb, (sk.snd_una - tcb.seq) & 0xFFFFFFFF):
            return -ENOMEM
    cur_mss = tcp_current_mss(sk)
    avail = (tcp_wnd_end(sk) - tcb.seq) & 0xFFFFFFFF
    if avail >= 0x80000000 or avail == 0:
        if tcb.seq != sk.snd_una:
            return -EAGAIN
        avail = cur_mss
    length = cur_mss * (1 if old else max(segs, 1))
    if length > avail:
        length = avail // cur_mss * cur_mss or avail
    if skb.len > length:
        if tcp_fragment(sk, sk.tcp_rtx_queue, skb, length, cur_mss):
            return -ENOMEM
    else:
        old_pcount = tcb.pcount
        if old_pcount > 1 or skb.len > cur_mss:
            if _skb_unclone(skb):
                return -ENOMEM
            tcp_set_skb_tso_segs(skb, cur_mss)
            diff = old_pcount - tcb.pcount
            if diff:
                _tcp_adjust_pcount(sk, skb, diff)
    err = tcp_transmit_skb(sk, skb, True)
    if err == 0:
        pcount = tcb.pcount
        tcb.sacked |= TCPCB_RETRANS
        sk.retrans_out += pcount
        sk.total_retrans += pcount
        payload = skb.len
        sk.bytes_retrans += payload
        tcp.inc("RetransSegs", pcount)
        if tcb.tcp_flags & TCPHDR_SYN:
            tcp.inc("TCPSynRetrans")
        if not sk.retrans_stamp:
            sk.retrans_stamp = tcp_time_stamp(net) or 1
    return err


def tcp_xmit_retransmit_queue(sk) -> None:
    """Retransmit segments marked lost while cwnd has room (``tcp_xmit_retransmit_queue``)."""
    tcp = sk.net.tcp
    i = 0
    rtx = sk.tcp_rtx_queue
    while i < len(rtx):
        if tcp_packets_in_flight(sk) >= sk.snd_cwnd:
            break
        skb = rtx[i]
        sacked = skb.cb.sacked
        if sacked & TCPCB_LOST and not sacked & TCPCB_SACKED_RETRANS:
            segs = sk.snd_cwnd - tcp_packets_in_flight(sk)
            if not is_old(sk.net):
                segs = min(segs, tcp_tso_segs(sk, sk.mss_cache))
            if tcp_retransmit_skb(sk, skb, segs):
                break
            tcp.inc("TCPFastRetrans" if sk.icsk_ca_state == TCP_CA_Recovery else
                    "TCPSlowStartRetrans" if sk.icsk_ca_state == TCP_CA_Loss else "TCPRetrans")
            if i == 0:
                tcp_rearm_rto(sk)
        i += 1


def tcp_mark_head_lost(sk, packets: int = 1) -> None:
    """Mark the first ``packets`` segments of the retransmit queue lost (split a TSO skb)."""
    cnt = 0
    i = 0
    rtx = sk.tcp_rtx_queue
    mss = sk.mss_cache
    while i < len(rtx) and cnt < packets:
        skb = rtx[i]
        tcb = skb.cb
        if tcb.pcount > packets - cnt:
            if tcp_fragment(sk, rtx, skb, (packets - cnt) * mss, mss):
                break
        if not tcb.sacked & TCPCB_LOST:
            tcb.sacked |= TCPCB_LOST
            sk.lost_out += tcb.pcount
        cnt += tcb.pcount
        i += 1


__all__ += ["tcp_mark_head_lost", "tcp_event_new_data_sent", "tcp_tsq_write", "tcp_tsq_limit"]
