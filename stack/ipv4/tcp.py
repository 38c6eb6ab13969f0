"""TCP over IPv4, socket level: ``struct tcp_sock``, ``tcp_sendmsg``, ``tcp_push``, open and close.

Linux's TCP is split over ``tcp.c`` (socket calls), ``tcp_output.c``,
``tcp_input.c``, ``tcp_timer.c``, ``tcp_cong.c`` and ``tcp_ipv4.c``; the
model keeps the same split (:mod:`stack.ipv4.tcp_output`, :mod:`stack.ipv4.tcp_input`,
:mod:`stack.ipv4.tcp_timer`, :mod:`stack.ipv4.tcp_cong`), with what ``tcp_ipv4.c``
does for sockets (connect, the hash tables, the SYN queue) here. Facts:
``research/stack_facts.md`` §0–§4, §9.4, §10–§12.

What is here
------------
* :class:`tcp_sock` — one object that is ``struct sock``, ``inet_sock``
  (:class:`stack.ipv4.inet_sock.inet_sock`: what ``ip_queue_xmit(sk, skb)``
  reads), ``inet_connection_sock`` (with ``icsk_af_ops``, through which TCP
  reaches IP) and ``tcp_sock`` at once, with Linux field names.
* :func:`tcp_init` — per-host TCP state (``net.tcp``: sysctls, MIB counters,
  hash tables, TSQ lists) and the TSQ tasklets, called by ``inet_init``.
* process context (all generators, run as a task, see
  ``driver/platform/tasks.py``): :func:`tcp_sendmsg`, :func:`tcp_recvmsg`,
  :func:`tcp_v4_connect`, :func:`inet_csk_accept`, :func:`tcp_close`;
  plain calls: :func:`inet_csk_listen_start`, :func:`tcp_setsockopt`.
* the socket lock: :func:`lock_sock` / :func:`release_sock` with the
  backlog. While a task owns the socket, segments that softirq receives go
  to ``sk_backlog`` and are processed in ``release_sock`` (or every 16 new
  skbs, ``sk_flush_backlog``, recent) in the task's context — ``sy`` time;
  TSQ and timer work found while the task owns the socket is deferred to
  ``tcp_release_cb``, as in Linux (stack_facts §1, §10.1).

``tcp_sendmsg`` holds the lock while it fills skbs and yields after each
full skb it pushed (``yield 0``: the copy time it charged elapses then), so
ACKs that arrive meanwhile go through the backlog, as they do in Linux.

Kernel versions
---------------
``net.kernel_version`` is ``"recent"`` (default; 4.19–6.x behaviour) or
``"3.10"``. What differs (stack_facts §12): cwnd quota
(``min(max(cwnd/2,1), cwnd − in_flight)`` vs ``cwnd − in_flight``); the TSQ
limit (``min(max(2×truesize, pacing_rate >> 10), tcp_limit_output_bytes)``
with 4 MiB vs ``sk_wmem_alloc ≥ 131072``); TSO autosizing (recent only);
skb layout (recent: headers-only linear, payload in page frags; 3.10:
``SKB_WITH_OVERHEAD(2048 − MAX_TCP_HEADER)`` linear payload first, then
frags); slow start (+acked vs +1 per ACK) and congestion avoidance (+1 per
cwnd of ACKed segments vs per cwnd of ACKs); PSH forced on GSO skbs
(recent); autocork (recent); TSO deferral (time-based vs 2 jiffies);
``tcp_is_cwnd_limited``; sndbuf growth formula. Both versions keep sent
skbs on a separate retransmit queue (4.15+ layout); 3.10 kept them on the
write queue behind ``sk_send_head`` — the same order and the same skbs.

Addresses are ints (host order), as the kernel keeps them; the socket
calls convert the dotted strings programs pass.

Not modelled: SACK (not offered in the SYN options), window scaling of our
own receive window beyond a fixed ``rcv_wscale``, receive-buffer autotuning,
urgent data, TCP Fast Open, MTU probing, tail-loss probes / RACK, PRR (a
simple NewReno recovery instead), undo of spurious retransmits, TIME_WAIT
timers, RST generation, keepalive, SO_LINGER, pacing by TCP itself.
"""
from __future__ import annotations

import zlib
from collections import deque

from sim.engine import NS, US

from stack.core import cputime
from stack.core.jiffies import HZ
from .inet_sock import inet_sock
from .ip_output import ip_queue_xmit
from .utils import in_ntoa, inet_addr
from stack.core.skbuff import (MAX_SKB_FRAGS, SKB_GSO_TCPV4, alloc_skb, skb_fill_page_desc, skb_put,
                               skb_tailroom)

__all__ = [
    "IPPROTO_TCP", "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",
    "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING",
    "TCP_STATE_NAMES", "TCPHDR_FIN", "TCPHDR_SYN", "TCPHDR_RST", "TCPHDR_PSH", "TCPHDR_ACK",
    "TCP_NAGLE_OFF", "TCP_NAGLE_CORK", "TCP_NAGLE_PUSH", "MSG_OOB", "MSG_DONTWAIT", "MSG_EOR",
    "MSG_MORE", "TCP_NODELAY", "TCP_CORK", "SOL_SOCKET", "SOL_TCP", "SO_SNDBUF", "SO_RCVBUF",
    "TCP_INIT_CWND", "TCP_INFINITE_SSTHRESH", "TCP_MSS_DEFAULT", "TCP_TIMEOUT_INIT", "TCP_RTO_MIN",
    "TCP_RTO_MAX", "TCP_CA_Open", "TCP_CA_Disorder", "TCP_CA_CWR", "TCP_CA_Recovery", "TCP_CA_Loss",
    "TCPCB_SACKED_RETRANS", "TCPCB_LOST", "TCPCB_EVER_RETRANS", "TSQ_THROTTLED", "TSQ_QUEUED",
    "SOCK_NOSPACE", "SEND_SHUTDOWN", "RCV_SHUTDOWN",
    "before", "after", "is_old", "max_tcp_header", "tcp_skb_cb", "tcp_sock",
    "TcpNet", "tcp_init", "inet_connection_sock_af_ops", "ipv4_specific", "tcp_skb_pcount", "tcp_packets_in_flight", "tcp_wnd_end",
    "lock_sock", "release_sock", "sock_owned_by_user", "sk_stream_memory_free", "sk_stream_write_space",
    "sk_wake", "tcp_send_mss", "tcp_sendmsg", "tcp_push", "tcp_mark_push", "forced_push",
    "tcp_recvmsg", "tcp_v4_connect", "inet_csk_listen_start", "inet_csk_accept", "tcp_close",
    "tcp_shutdown", "tcp_setsockopt", "sock_setsockopt", "tcp_create", "tcp_stats",
]

IPPROTO_TCP = 6

# sk_state (include/net/tcp_states.h)
(TCP_ESTABLISHED, TCP_SYN_SENT, TCP_SYN_RECV, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCP_CLOSE,
 TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_LISTEN, TCP_CLOSING) = range(1, 12)
TCP_STATE_NAMES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
                   6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
                   11: "CLOSING"}

# TCP header flags (TCPHDR_*)
TCPHDR_FIN, TCPHDR_SYN, TCPHDR_RST, TCPHDR_PSH, TCPHDR_ACK, TCPHDR_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

# tp->nonagle bits
TCP_NAGLE_OFF = 1    # TCP_NODELAY
TCP_NAGLE_CORK = 2   # TCP_CORK / MSG_MORE
TCP_NAGLE_PUSH = 4   # one-shot: push now

# send flags (include/linux/socket.h)
MSG_OOB = 0x1
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_MORE = 0x8000

# socket options
SOL_SOCKET = 1
SOL_TCP = IPPROTO_TCP
SO_SNDBUF = 7
SO_RCVBUF = 8
TCP_NODELAY = 1
TCP_CORK = 3

TCP_INIT_CWND = 10
TCP_INFINITE_SSTHRESH = 0x7FFFFFFF
TCP_MSS_DEFAULT = 536
TCP_MIN_SND_MSS = 48
#: Initial RTO (``TCP_TIMEOUT_INIT``), min and max, in jiffies.
TCP_TIMEOUT_INIT = HZ
TCP_RTO_MIN = HZ // 5
TCP_RTO_MAX = 120 * HZ
#: ``TCP_DELACK_MIN`` (HZ/25, 40 ms).
TCP_DELACK_MIN = HZ // 25

# icsk_ca_state
TCP_CA_Open, TCP_CA_Disorder, TCP_CA_CWR, TCP_CA_Recovery, TCP_CA_Loss = range(5)

# TCP_SKB_CB(skb)->sacked
TCPCB_SACKED_RETRANS = 0x02
TCPCB_LOST = 0x04
TCPCB_EVER_RETRANS = 0x80
TCPCB_RETRANS = TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS

# sk_tsq_flags
TSQ_THROTTLED = 1 << 0
TSQ_QUEUED = 1 << 1
TCP_TSQ_DEFERRED = 1 << 2
TCP_WRITE_TIMER_DEFERRED = 1 << 3
TCP_DELACK_TIMER_DEFERRED = 1 << 4

# sock->flags, sk_shutdown, sk_userlocks
SOCK_NOSPACE = 1 << 2
RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2
SOCK_SNDBUF_LOCK = 1

# errno
EPIPE, EAGAIN, ENOTCONN, EISCONN, EINVAL, EADDRINUSE, EADDRNOTAVAIL, ECONNREFUSED, ENOMEM, ENOBUFS, \
    EOPNOTSUPP, EALREADY, ENOPROTOOPT, EBUSY, ETIMEDOUT = (32, 11, 107, 106, 22, 98, 99, 111, 12, 105,
                                                          95, 114, 92, 16, 110)

_SEQ_MASK = 0xFFFFFFFF
#: ``~0UL``: pacing rate before the first RTT sample (no pacing limit).
_UNLIMITED_RATE = (1 << 64) - 1
#: ``SOCK_MIN_SNDBUF`` (recent: 2 × TCP_SKB_MIN_TRUESIZE, 2 × (2048 + 256)).
SOCK_MIN_SNDBUF = 4608


def before(a: int, b: int) -> bool:
    """``before(seq1, seq2)``: ``(s32)(seq1 - seq2) < 0``."""
    return ((a - b) & _SEQ_MASK) >= 0x80000000


def after(a: int, b: int) -> bool:
    """``after(seq2, seq1)``."""
    return before(b, a)


def _seq(a: int) -> int:
    return a & _SEQ_MASK


def is_old(net) -> bool:
    """True when ``net.kernel_version`` selects the Linux 3.10 behaviour."""
    return net.kernel_version == "3.10"


def max_tcp_header(net) -> int:
    """``MAX_TCP_HEADER``: 128 + MAX_HEADER (LL_MAX_HEADER 128 + 48 for tunnels) = 304;
    recent kernels round it up to the cache line (320). Headroom of every TCP skb."""
    return 304 if is_old(net) else 320


# --- per-skb control block --------------------------------------------------------------
class tcp_skb_cb:
    """``TCP_SKB_CB(skb)``: sequence range, flags, retransmit marks, TSO count, send time."""

    __slots__ = ("seq", "end_seq", "tcp_flags", "sacked", "pcount", "tcp_gso_size", "eor", "tx_us",
                 "when")

    def __init__(self, seq: int = 0, flags: int = TCPHDR_ACK):
        self.seq = seq
        self.end_seq = seq
        self.tcp_flags = flags
        self.sacked = 0
        self.pcount = 0
        self.tcp_gso_size = 0
        self.eor = False
        #: send time of the last (re)transmission, µs (``skb->skb_mstamp_ns``)
        self.tx_us = 0
        #: 3.10 ``TCP_SKB_CB(skb)->when`` (jiffies of the last transmission)
        self.when = 0

    def __repr__(self) -> str:
        return f"<tcb {self.seq}-{self.end_seq} flags={self.tcp_flags:#x} pcount={self.pcount}>"


def tcp_skb_pcount(skb) -> int:
    return skb.cb.pcount


# --- sockets ------------------------------------------------------------------------------
class _PageFrag:
    """``struct page_frag`` (``sk_page_frag``): the page the copy fills, and how far."""

    __slots__ = ("page", "offset", "size")

    def __init__(self):
        self.page = None
        self.offset = 0
        self.size = 0


class tcp_sock(inet_sock):
    """``struct sock`` + ``inet_sock`` + ``inet_connection_sock`` + ``tcp_sock`` of one TCP socket (Linux names).

    The :class:`~stack.ipv4.inet_sock.inet_sock` part (addresses as ints,
    host order) is what IPv4 output reads and writes.
    """

    sk_protocol = IPPROTO_TCP

    @property
    def sk_can_gso(self) -> bool:
        """The route can do TSO (``sk_can_gso``): IP's ``sk_setup_caps`` leaves gso_max_size 0 if not."""
        return self.sk_gso_max_size > 0

    def __init__(self, net):
        super().__init__(net)
        tcp = net.tcp
        self.net = net
        self.id = tcp._next_sock_id()
        self.sk_gso_type = SKB_GSO_TCPV4
        # --- struct sock
        self.sk_state = TCP_CLOSE
        self.sk_sndbuf = tcp.tcp_wmem[1]
        self.sk_rcvbuf = tcp.tcp_rmem[1]
        self.sk_userlocks = 0
        self.sk_wmem_queued = 0
        #: bytes of this socket's skbs in qdisc/driver (``sk_wmem_alloc``, 0-based here)
        self.sk_wmem_alloc = 0
        self.sk_err = 0
        self.sk_shutdown = 0
        self.sk_socket_flags = 0
        self.sk_write_queue: deque = deque()
        self.tcp_rtx_queue: deque = deque()
        self.sk_receive_queue = bytearray()
        self.sk_backlog: list = []
        self.owned = False
        self._lock_waiters: list = []
        self.sk_wq: list = []          # events of tasks sleeping on this socket
        self.sk_tsq_flags = 0
        self.sk_pacing_rate = _UNLIMITED_RATE
        self.sk_pacing_shift = 10
        self.sk_gso_max_size = 65536
        self.sk_gso_max_segs = 65535
        self.sk_page_frag = _PageFrag()
        self.sk_max_ack_backlog = 0
        self.accept_queue: deque = deque()
        self.parent = None
        self.orphan = False
        self.bound = False
        # --- inet_connection_sock
        self.icsk_rto = TCP_TIMEOUT_INIT
        self.icsk_backoff = 0
        self.icsk_retransmits = 0
        self.icsk_ca_state = TCP_CA_Open
        self.icsk_pmtu_cookie = 0
        self.icsk_pending = False
        self.icsk_ack_pending = False
        self.icsk_retransmit_timer = None
        #: ``icsk_af_ops``: set by :func:`tcp_create` (``ipv4_specific``), copied to a passive open's child.
        self.icsk_af_ops: inet_connection_sock_af_ops | None = None
        self.icsk_delack_timer = None
        # --- tcp_sock: sequence space
        self.snd_una = 0
        self.snd_nxt = 0
        self.write_seq = 0
        self.pushed_seq = 0
        self.snd_sml = 0
        self.snd_up = 0
        self.snd_wnd = 0
        self.max_window = 0
        self.snd_wl1 = 0
        self.rcv_nxt = 0
        self.rcv_wup = 0
        self.rcv_wnd = 0
        self.copied_seq = 0
        self.high_seq = 0
        self.disorder_flight = 0       # packets_out at the first duplicate ACK
        # --- options (rx_opt)
        self.mss_clamp = TCP_MSS_DEFAULT
        self.mss_cache = TCP_MSS_DEFAULT
        self.advmss = TCP_MSS_DEFAULT
        self.tcp_header_len = 20
        self.tstamp_ok = False
        self.wscale_ok = False
        self.snd_wscale = 0
        self.rcv_wscale = 0
        self.saw_tstamp = False
        self.rcv_tsval = 0
        self.rcv_tsecr = 0
        self.ts_recent = 0
        self.tsoffset = 0              # added to the ms clock in TSval (per connection)
        self.nonagle = 0
        self.xmit_size_goal_segs = 0   # 3.10
        self.gso_segs = 0              # recent: size goal in segments
        self.size_goal = 0             # last size goal tcp_sendmsg used (for reports)
        # --- congestion control
        self.snd_cwnd = TCP_INIT_CWND
        self.snd_ssthresh = TCP_INFINITE_SSTHRESH
        self.snd_cwnd_cnt = 0
        self.snd_cwnd_clamp = 0xFFFFFFFF
        self.prior_cwnd = 0
        self.packets_out = 0
        self.sacked_out = 0
        self.lost_out = 0
        self.retrans_out = 0
        self.reordering = 3
        self.is_cwnd_limited = False
        self.max_packets_out = 0
        self.cwnd_usage_seq = 0
        self.tso_deferred = 0          # 3.10
        # --- RTT
        self.srtt_us = 0               # << 3
        self.mdev_us = 0               # << 2
        self.mdev_max_us = 0
        self.rttvar_us = 0
        self.rtt_seq = 0
        self.min_rtt_us = 0
        self.tcp_wstamp_ns = 0
        self.lsndtime = 0
        self.retrans_stamp = 0
        # --- receive side
        self.quick_acks_pending = 0    # full segments received since the last ACK
        self.ack_now = False           # an ACK must go out after this segment
        self.ack_pending_data = False  # data received, ACK may be delayed
        self.tstamp_offered = False    # what our SYN offered (active open)
        self.wscale_offered = False
        self.icsk_probe0 = False       # the retransmit timer is the zero-window probe
        # --- per-socket counters (tcp_info-like)
        self.bytes_sent = 0            # payload bytes handed to IP, retransmits included
        self.bytes_acked = 0
        self.bytes_retrans = 0
        self.bytes_received = 0
        self.data_segs_out = 0
        self.total_retrans = 0
        self.segs_out = 0
        self.segs_in = 0
        self.copied_from_user = 0

    # convenience views ----------------------------------------------------------
    @property
    def state_name(self) -> str:
        return TCP_STATE_NAMES.get(self.sk_state, str(self.sk_state))

    @property
    def srtt(self) -> float:
        """Smoothed RTT in µs."""
        return self.srtt_us / 8

    def __repr__(self) -> str:
        return (f"<tcp_sock #{self.id} {in_ntoa(self.inet_saddr)}:{self.inet_sport} -> "
                f"{in_ntoa(self.inet_daddr)}:{self.inet_dport} {self.state_name} "
                f"cwnd={self.snd_cwnd} una={self.snd_una} nxt={self.snd_nxt}>")


def sk_wmem_refcount(sk) -> int:
    """Linux's ``refcount_read(&sk->sk_wmem_alloc)``: the bytes plus the socket's own reference (1).

    The model counts bytes from 0; Linux's comparisons (autocork, TSQ) are made on the refcount.
    """
    return sk.sk_wmem_alloc + 1


def tcp_packets_in_flight(tp) -> int:
    """``packets_out − (sacked_out + lost_out) + retrans_out``."""
    return tp.packets_out - (tp.sacked_out + tp.lost_out) + tp.retrans_out


def tcp_wnd_end(tp) -> int:
    return _seq(tp.snd_una + tp.snd_wnd)


class inet_connection_sock_af_ops:
    """``struct inet_connection_sock_af_ops``: how a connection socket reaches its network layer."""

    __slots__ = ("queue_xmit",)

    def __init__(self, queue_xmit):
        #: ``queue_xmit(sk, skb) -> int``: hand a TCP segment to the network layer (``ip_queue_xmit``).
        self.queue_xmit = queue_xmit


#: ``ipv4_specific``: TCP over IPv4.
ipv4_specific = inet_connection_sock_af_ops(ip_queue_xmit)


# --- per-host TCP state ---------------------------------------------------------------------
class TcpNet:
    """``net->ipv4`` TCP part of one host: sysctls, MIB counters, hash tables, TSQ lists."""

    def __init__(self, net):
        self.net = net
        # sysctls (stack_facts §0)
        old = is_old(net)
        self.tcp_wmem = [4096, 16384, 4 << 20]
        self.tcp_rmem = [4096, 87380 if old else 131072, 6 << 20]
        self.wmem_max = 212992
        self.tcp_limit_output_bytes = 131072 if old else 4 << 20
        self.tcp_autocorking = 0 if old else 1
        self.tcp_tso_win_divisor = 3
        self.tcp_min_tso_segs = 2
        self.tcp_timestamps = 1
        self.tcp_window_scaling = 1
        self.tcp_pacing_ss_ratio = 200
        self.tcp_pacing_ca_ratio = 120
        self.tcp_reordering = 3
        self.somaxconn = 4096
        #: verify the checksum of received segments that arrive CHECKSUM_NONE
        self.verify_csum = True
        #: ``(saddr, sport, daddr, dport) -> isn``; default: a hash of the tuple plus a 64 ns clock
        self.isn_func = None
        #: ``daddr -> saddr`` (dotted or int) for connect() on a socket bound to no address: the
        #: route's preferred source, e.g. ``lambda d: ip_route_output(net, inet_addr(d)).saddr``
        self.saddr_hook = None
        # counters: Linux MIB names (netstat -s / nstat), plus the model's own
        self.mib: dict[str, int] = {}
        #: why tcp_write_xmit stopped: cwnd, rwnd, nagle, tso_defer, tsq, empty, xmit_err, nomem, done
        self.xmit_stop: dict[str, int] = {}
        # hash tables
        self.ehash: dict[tuple, tcp_sock] = {}
        self.lhash: dict[tuple, tcp_sock] = {}
        self.bound_ports: dict[int, int] = {}
        self.next_ephemeral = 32768
        self.sockets: list[tcp_sock] = []
        self._sock_ids = 0
        # TSQ: per-CPU list of sockets whose TX completions want tcp_write_xmit
        self.tsq_lists = [deque() for _ in net.host.cpus]
        self.tsq_tasklets = None

    def _next_sock_id(self) -> int:
        self._sock_ids += 1
        return self._sock_ids

    def inc(self, name: str, n: int = 1) -> None:
        self.mib[name] = self.mib.get(name, 0) + n


#: Model cost entries this layer adds to ``net.costs`` (UNCONFIRMED, like stack.core.cputime's).
_TCP_COSTS_PS = {
    "tcp_send_ack": 250 * NS, "tcp_retransmit_skb": 300 * NS, "tcp_write_timer": 200 * NS,
    "tcp_tasklet_func": 80 * NS, "tcp_v4_connect": 2 * US, "tcp_conn_request": 1500 * NS,
    "tcp_close": 500 * NS, "tcp_recvmsg": 200 * NS, "inet_csk_accept": 300 * NS,
    "tcp_clean_rtx_queue": 60 * NS, "tcp_fragment": 150 * NS, "sock_setsockopt": 100 * NS,
    "release_sock": 30 * NS, "tcp_delack_timer": 150 * NS,
}


def tcp_init(net) -> None:
    """``tcp_init`` for ``net``: ``net.tcp`` (sysctls, MIB counters, hash tables, TSQ lists), the cost
    entries of this layer, and the per-CPU TSQ tasklets."""
    from .tcp_output import tcp_tasklet_init  # mutual call: tcp_output.c calls back into tcp.c (tcp_bound_to_half_wnd)

    net.tcp = TcpNet(net)
    for name, ps in _TCP_COSTS_PS.items():
        net.costs.setdefault(name, ps)
    tcp_tasklet_init(net)


def tcp_stats(net) -> dict:
    """The TCP counters of ``net`` in one dict (MIB counters, write_xmit stop reasons)."""
    t = net.tcp
    return {"mib": dict(t.mib), "xmit_stop": dict(t.xmit_stop)}


# --- socket lock and waiting ------------------------------------------------------------------
def sock_owned_by_user(sk) -> bool:
    return sk.owned


def lock_sock(sk):
    """Generator: take the socket lock (sleeps while another task holds it)."""
    while sk.owned:
        ev = sk.net.engine.event()
        sk._lock_waiters.append(ev)
        yield ev
    sk.owned = True


def _process_backlog(sk) -> int:
    """``__release_sock``: run the backlogged segments in this (task) context; how many."""
    from .tcp_input import tcp_v4_do_rcv

    n = 0
    while sk.sk_backlog:
        batch, sk.sk_backlog = sk.sk_backlog, []
        for skb in batch:
            tcp_v4_do_rcv(sk, skb)
            n += 1
    if n:
        sk.net.tcp.inc("backlog_processed", n)
    return n


def release_sock(sk) -> None:
    """Process the backlog, run deferred TSQ/timer work (``tcp_release_cb``), drop the lock."""
    from .tcp_output import tcp_release_cb

    cputime.charge(sk.net, "release_sock")
    _process_backlog(sk)
    tcp_release_cb(sk)
    sk.owned = False
    if sk._lock_waiters:
        waiters, sk._lock_waiters = sk._lock_waiters, []
        for ev in waiters:
            ev.succeed()


def sk_flush_backlog(sk) -> bool:
    """Process backlogged segments without dropping the lock; True if there were any."""
    return _process_backlog(sk) > 0


def sk_wake(sk) -> None:
    """Wake every task sleeping on ``sk`` (state change, data, write space, accept)."""
    if sk.sk_wq:
        waiters, sk.sk_wq = sk.sk_wq, []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()


def _sk_wait_event(sk, cond):
    """Generator: sleep (lock released) until ``cond()``; the lock is held again on return."""
    while not cond():
        ev = sk.net.engine.event()
        sk.sk_wq.append(ev)
        release_sock(sk)
        yield ev
        yield from lock_sock(sk)


def sk_stream_memory_free(sk) -> bool:
    return sk.sk_wmem_queued < sk.sk_sndbuf


def sk_stream_write_space(sk) -> None:
    """Wake a writer when at least a third of sndbuf is free (``__sk_stream_is_writeable``)."""
    if sk.sk_sndbuf - sk.sk_wmem_queued >= (sk.sk_wmem_queued >> 1) and sk_stream_memory_free(sk):
        if sk.sk_socket_flags & SOCK_NOSPACE:
            sk.sk_socket_flags &= ~SOCK_NOSPACE
            if sk.sk_wq:
                sk.net.tcp.inc("write_space_wakeups")
            sk_wake(sk)


def sk_stream_wait_memory(sk, nonblock: bool):
    """Generator: wait until ``sk_wmem_queued < sk_sndbuf``; 0, -EAGAIN or -EPIPE."""
    tcp = sk.net.tcp
    while True:
        if sk.sk_err or sk.sk_shutdown & SEND_SHUTDOWN:
            return -EPIPE
        if sk_stream_memory_free(sk):
            return 0
        if nonblock:
            return -EAGAIN
        sk.sk_socket_flags |= SOCK_NOSPACE
        tcp.inc("sk_stream_wait_memory")
        ev = sk.net.engine.event()
        sk.sk_wq.append(ev)
        release_sock(sk)          # ACKs in the backlog may free space (and wake ev) right here
        yield ev
        yield from lock_sock(sk)


def sk_stream_wait_connect(sk, nonblock: bool):
    """Generator: wait while the handshake is in progress; 0 or -errno."""
    while True:
        if sk.sk_err:
            return -sk.sk_err
        if sk.sk_state in (TCP_ESTABLISHED, TCP_CLOSE_WAIT):
            return 0
        if sk.sk_state not in (TCP_SYN_SENT, TCP_SYN_RECV):
            return -EPIPE
        if nonblock:
            return -EAGAIN
        ev = sk.net.engine.event()
        sk.sk_wq.append(ev)
        release_sock(sk)
        yield ev
        yield from lock_sock(sk)


# --- sizes ----------------------------------------------------------------------------------------
def tcp_bound_to_half_wnd(tp, pktsize: int) -> int:
    """Half the largest window the peer offered (the whole window while it is tiny)."""
    cutoff = tp.max_window >> 1 if tp.max_window > TCP_MSS_DEFAULT else tp.max_window
    if cutoff and pktsize > cutoff:
        return max(cutoff, 68 - tp.tcp_header_len)
    return pktsize


def tcp_xmit_size_goal(sk, mss_now: int, large_allowed: bool) -> int:
    """How big ``tcp_sendmsg`` makes each skb: the GSO maximum bounded to half the peer's
    largest window, rounded down to whole MSS, at least one MSS (stack_facts §2.1)."""
    if not large_allowed or not sk.sk_can_gso:
        return mss_now
    net = sk.net
    if is_old(net):
        goal = (sk.sk_gso_max_size - 1) - 20 - sk.tcp_header_len
        goal = min(goal, net.tcp.tcp_limit_output_bytes >> 1)   # "TSQ: two TSO frames in flight"
        goal = tcp_bound_to_half_wnd(sk, goal)
        old_goal = sk.xmit_size_goal_segs * mss_now
        if old_goal <= goal < old_goal + mss_now:
            goal = old_goal
        else:
            sk.xmit_size_goal_segs = min(goal // mss_now, sk.sk_gso_max_segs)
            goal = sk.xmit_size_goal_segs * mss_now
    else:
        new_goal = tcp_bound_to_half_wnd(sk, sk.sk_gso_max_size - 1 - max_tcp_header(net))
        goal = sk.gso_segs * mss_now
        if new_goal < goal or new_goal >= goal + mss_now:
            sk.gso_segs = min(new_goal // mss_now, sk.sk_gso_max_segs)
            goal = sk.gso_segs * mss_now
    return max(goal, mss_now)


def tcp_send_mss(sk, flags: int) -> tuple[int, int]:
    """``(mss_now, size_goal)`` for a send with ``flags``."""
    from .tcp_output import tcp_current_mss

    mss_now = tcp_current_mss(sk)
    sk.size_goal = tcp_xmit_size_goal(sk, mss_now, not (flags & MSG_OOB))
    return mss_now, sk.size_goal


def _select_size_310(net) -> int:
    """3.10 ``select_size`` on an SG+GSO route: ``SKB_WITH_OVERHEAD(2048 - MAX_TCP_HEADER)``."""
    return 2048 - max_tcp_header(net) - 320


# --- building skbs ----------------------------------------------------------------------------------
def tcp_stream_alloc_skb(sk):
    """A new empty skb for the write queue, or None (recent: headroom only; 3.10: + linear room).

    Counts ``skb_allocs`` (fast-clone pairs: the later ``skb_clone`` of this skb
    uses the reserved companion and allocates nothing).
    """
    net = sk.net
    size = _select_size_310(net) if is_old(net) else 0
    skb = alloc_skb(net.skb, size, max_tcp_header(net))
    if skb is None:
        return None
    cputime.charge(net, "skb_alloc")
    net.tcp.inc("skb_allocs")
    skb.cb = tcp_skb_cb()
    return skb


def tcp_skb_entail(sk, skb) -> None:
    """Queue a new skb at the tail of the write queue and charge it to ``sk_wmem_queued``."""
    tcb = skb.cb
    tcb.seq = tcb.end_seq = sk.write_seq
    tcb.tcp_flags = TCPHDR_ACK
    sk.sk_write_queue.append(skb)
    sk.sk_wmem_queued += skb.truesize
    if sk.nonagle & TCP_NAGLE_PUSH:
        sk.nonagle &= ~TCP_NAGLE_PUSH


def forced_push(tp) -> bool:
    """More than half the largest window written since the last PSH."""
    return after(tp.write_seq, _seq(tp.pushed_seq + (tp.max_window >> 1)))


def tcp_mark_push(tp, skb) -> None:
    skb.cb.tcp_flags |= TCPHDR_PSH
    tp.pushed_seq = tp.write_seq


def _sk_page_frag_refill(sk) -> bool:
    """Make room in the socket's page frag (32 KiB pages, reused when nobody else holds them)."""
    pf = sk.sk_page_frag
    mem = sk.net.skb
    if pf.page is not None:
        if mem.pages.get(pf.page) == 1:   # only our reference left: start over in the same page
            pf.offset = 0
            return True
        if pf.offset < pf.size:
            return True
        mem.put_page(pf.page)
        pf.page = None
    page = mem.alloc_page(32768)
    if page is None:
        return False
    pf.page, pf.offset, pf.size = page, 0, 32768
    return True


def _copy_from_user(sk, addr: int, chunk) -> None:
    """The one payload copy: user bytes -> skb memory, as stores of the current CPU."""
    net = sk.net
    net.skb.write(addr, chunk)
    n = len(chunk)
    cputime.charge_bytes(net, "copy_from_user", n)
    net.tcp.inc("copy_from_user_bytes", n)
    net.count_copy("copy_from_user", n)
    sk.copied_from_user += n


def tcp_push(sk, flags: int, mss_now: int, nonagle: int, size_goal: int) -> None:
    """End of a send: PSH the tail unless MSG_MORE, autocork (recent), then push pending frames."""
    from .tcp_output import __tcp_push_pending_frames

    net = sk.net
    cputime.charge(net, "tcp_push")
    if not sk.sk_write_queue:
        return
    skb = sk.sk_write_queue[-1]
    if not (flags & MSG_MORE) or forced_push(sk):
        tcp_mark_push(sk, skb)
    if _tcp_should_autocork(sk, skb, size_goal):
        if not sk.sk_tsq_flags & TSQ_THROTTLED:
            net.tcp.inc("TCPAutoCorking")
            sk.sk_tsq_flags |= TSQ_THROTTLED
        if sk_wmem_refcount(sk) > skb.truesize:   # a TX completion may have come meanwhile
            return
    if flags & MSG_MORE:
        nonagle = TCP_NAGLE_CORK
    __tcp_push_pending_frames(sk, mss_now, nonagle)


def _tcp_should_autocork(sk, skb, size_goal: int) -> bool:
    """Recent: hold a short tail while an earlier packet of ours is still in qdisc or NIC."""
    return (skb.len < size_goal and bool(sk.net.tcp.tcp_autocorking) and bool(sk.tcp_rtx_queue)
            and sk_wmem_refcount(sk) > skb.truesize and not skb.cb.eor)


def tcp_sendmsg(sk, data, flags: int = 0):
    """Generator: ``tcp_sendmsg`` = lock, :func:`tcp_sendmsg_locked`, release; bytes or -errno."""
    cputime.charge(sk.net, "tcp_sendmsg")
    yield from lock_sock(sk)
    try:
        ret = yield from tcp_sendmsg_locked(sk, data, flags)
    finally:
        release_sock(sk)
    return ret


def tcp_sendmsg_locked(sk, data, flags: int = 0):
    """Generator: copy ``data`` into skbs on the write queue and push them (stack_facts §2)."""
    from .tcp_output import __tcp_push_pending_frames, tcp_push_one, tcp_send_head

    net = sk.net
    tcp = net.tcp
    old = is_old(net)
    mem = net.skb
    nonblock = bool(flags & MSG_DONTWAIT)
    data = memoryview(bytes(data)) if not isinstance(data, memoryview) else data
    total = len(data)
    copied = 0
    process_backlog = 0
    if sk.sk_state not in (TCP_ESTABLISHED, TCP_CLOSE_WAIT):
        err = yield from sk_stream_wait_connect(sk, nonblock)
        if err:
            return err
    mss_now, size_goal = tcp_send_mss(sk, flags)
    if sk.sk_err or sk.sk_shutdown & SEND_SHUTDOWN:
        return -EPIPE
    new_seg = False
    err = 0
    while copied < total:
        skb = sk.sk_write_queue[-1] if sk.sk_write_queue else None
        copy = size_goal - skb.len if skb is not None else 0
        wait = False
        if new_seg or copy <= 0 or skb.cb.eor:
            new_seg = False
            if not sk_stream_memory_free(sk):
                wait = True
            else:
                if not old and process_backlog >= 16:
                    process_backlog = 0
                    if sk_flush_backlog(sk):
                        mss_now, size_goal = tcp_send_mss(sk, flags)
                        continue
                skb = tcp_stream_alloc_skb(sk)
                if skb is None:
                    wait = True
                else:
                    process_backlog += 1
                    tcp_skb_entail(sk, skb)
                    copy = size_goal
        if not wait:
            copy = min(copy, total - copied)
            room = skb_tailroom(skb) if old and not skb.shinfo.frags else 0
            if room > 0:
                # 3.10: the linear area first (skb_add_data_nocache)
                copy = min(copy, room)
                addr = skb_put(skb, copy)
                _copy_from_user(sk, addr, data[copied:copied + copy])
            else:
                i = len(skb.shinfo.frags)
                if not _sk_page_frag_refill(sk):
                    wait = True
                else:
                    pf = sk.sk_page_frag
                    last = skb.shinfo.frags[-1] if i else None
                    merge = last is not None and last.page == pf.page and last.offset + last.size == pf.offset
                    if not merge and i >= MAX_SKB_FRAGS:
                        tcp_mark_push(sk, skb)
                        new_seg = True
                        continue
                    copy = min(copy, pf.size - pf.offset)
                    _copy_from_user(sk, pf.page + pf.offset, data[copied:copied + copy])
                    if merge:
                        last.size += copy
                    else:
                        skb_fill_page_desc(skb, i, pf.page, pf.offset, copy)
                        mem.get_page(pf.page)
                    pf.offset += copy
                    skb.len += copy
                    skb.data_len += copy
                    skb.truesize += copy
                    sk.sk_wmem_queued += copy
        if not wait:
            tcb = skb.cb
            if not copied:
                tcb.tcp_flags &= ~TCPHDR_PSH
            sk.write_seq = _seq(sk.write_seq + copy)
            tcb.end_seq = _seq(tcb.end_seq + copy)
            tcb.pcount = 0
            copied += copy
            if copied >= total:
                if flags & MSG_EOR:
                    tcb.eor = True
                break
            if skb.len < size_goal or flags & MSG_OOB:
                continue
            if forced_push(sk):
                tcp_mark_push(sk, skb)
                __tcp_push_pending_frames(sk, mss_now, TCP_NAGLE_PUSH)
            elif skb is tcp_send_head(sk):
                tcp_push_one(sk, mss_now)
            yield 0   # lock held: the copy time passes, ACKs meanwhile go to the backlog
            continue
        # wait_for_space
        sk.sk_socket_flags |= SOCK_NOSPACE
        tcp.inc("wait_for_space")
        if copied:
            tcp_push(sk, flags & ~MSG_MORE, mss_now, TCP_NAGLE_PUSH, size_goal)
        err = yield from sk_stream_wait_memory(sk, nonblock)
        if err:
            break
        mss_now, size_goal = tcp_send_mss(sk, flags)
    if copied:
        tcp_push(sk, flags, mss_now, sk.nonagle, size_goal)
        return copied
    return err


# --- receiving (the application side) ---------------------------------------------------------------
def tcp_recvmsg(sk, n: int, flags: int = 0):
    """Generator: up to ``n`` in-order received bytes (b"" at EOF), or -errno."""
    net = sk.net
    cputime.charge(net, "tcp_recvmsg")
    yield from lock_sock(sk)
    try:
        nonblock = bool(flags & MSG_DONTWAIT)
        while not sk.sk_receive_queue:
            if sk.sk_shutdown & RCV_SHUTDOWN or sk.sk_state in (TCP_CLOSE, TCP_LISTEN):
                return b""
            if sk.sk_err:
                return -sk.sk_err
            if nonblock:
                return -EAGAIN
            ev = net.engine.event()
            sk.sk_wq.append(ev)
            release_sock(sk)
            yield ev
            yield from lock_sock(sk)
        out = bytes(sk.sk_receive_queue[:n])
        del sk.sk_receive_queue[:len(out)]
        cputime.charge_bytes(net, "copy_to_user", len(out))
        sk.copied_seq = _seq(sk.copied_seq + len(out))
        return out
    finally:
        release_sock(sk)


# --- open -----------------------------------------------------------------------------------------
def tcp_create(net) -> tcp_sock:
    """``tcp_v4_init_sock`` for a new SOCK_STREAM socket: its af_ops (``ipv4_specific``), its timers."""
    sk = tcp_sock(net)
    sk.icsk_af_ops = ipv4_specific
    from .tcp_timer import tcp_init_xmit_timers
    tcp_init_xmit_timers(sk)
    net.tcp.sockets.append(sk)
    return sk


def inet_bind(sk, addr: int, port: int) -> int:
    """Bind to ``(addr, port)`` (addr 0: any); port 0 picks an ephemeral one. 0 or -errno."""
    tcp = sk.net.tcp
    if sk.bound or sk.sk_state != TCP_CLOSE:
        return -EINVAL
    if port == 0:
        port = _ephemeral_port(tcp)
    elif tcp.bound_ports.get(port):
        return -EADDRINUSE
    tcp.bound_ports[port] = tcp.bound_ports.get(port, 0) + 1
    sk.inet_rcv_saddr = sk.inet_saddr = addr
    sk.inet_sport = port
    sk.bound = True
    return 0


def _ephemeral_port(tcp) -> int:
    for _ in range(61000 - 32768):
        port = tcp.next_ephemeral
        tcp.next_ephemeral = 32768 if port >= 60999 else port + 1
        if not tcp.bound_ports.get(port):
            return port
    raise RuntimeError("no ephemeral port left")


def _unbind(sk) -> None:
    tcp = sk.net.tcp
    if sk.bound and sk.parent is None:
        port = sk.inet_sport
        left = tcp.bound_ports.get(port, 0) - 1
        if left > 0:
            tcp.bound_ports[port] = left
        else:
            tcp.bound_ports.pop(port, None)
    sk.bound = False


def _ehash_key(sk) -> tuple:
    return (sk.inet_saddr, sk.inet_sport, sk.inet_daddr, sk.inet_dport)


def inet_hash(sk) -> None:
    sk.net.tcp.ehash[_ehash_key(sk)] = sk


def inet_unhash(sk) -> None:
    tcp = sk.net.tcp
    key = _ehash_key(sk)
    if tcp.ehash.get(key) is sk:
        del tcp.ehash[key]
    lkey = (sk.inet_saddr, sk.inet_sport)
    if tcp.lhash.get(lkey) is sk:
        del tcp.lhash[lkey]


def tcp_set_state(sk, state: int) -> None:
    """Change state; CLOSE unhashes (and unbinds) the socket."""
    sk.sk_state = state
    if state == TCP_CLOSE:
        inet_unhash(sk)
        _unbind(sk)
        from .tcp_timer import tcp_clear_xmit_timers
        tcp_clear_xmit_timers(sk)
    sk_wake(sk)


def inet_csk_listen_start(sk, backlog: int) -> int:
    """``listen()``: the socket takes SYNs for its bound port. 0 or -errno."""
    if sk.sk_state == TCP_LISTEN:
        sk.sk_max_ack_backlog = min(backlog, sk.net.tcp.somaxconn)
        return 0
    if sk.sk_state != TCP_CLOSE:
        return -EINVAL
    if not sk.bound:
        err = inet_bind(sk, 0, 0)
        if err:
            return err
    sk.sk_max_ack_backlog = min(backlog, sk.net.tcp.somaxconn)
    sk.sk_state = TCP_LISTEN
    sk.net.tcp.lhash[(sk.inet_saddr, sk.inet_sport)] = sk
    return 0


def inet_csk_accept(sk, flags: int = 0):
    """Generator: the next established child of listener ``sk``, or -errno."""
    net = sk.net
    cputime.charge(net, "inet_csk_accept")
    yield from lock_sock(sk)
    try:
        while not sk.accept_queue:
            if sk.sk_state != TCP_LISTEN:
                return -EINVAL
            if flags & MSG_DONTWAIT:
                return -EAGAIN
            ev = net.engine.event()
            sk.sk_wq.append(ev)
            release_sock(sk)
            yield ev
            yield from lock_sock(sk)
        child = sk.accept_queue.popleft()
        child.parent = None   # owned by its own file now
        return child
    finally:
        release_sock(sk)


def _secure_tcp_seq(net, saddr, sport, daddr, dport) -> int:
    tcp = net.tcp
    if tcp.isn_func is not None:
        return _seq(tcp.isn_func(saddr, sport, daddr, dport))
    h = zlib.crc32(f"{in_ntoa(saddr)}:{sport}>{in_ntoa(daddr)}:{dport}".encode())
    return _seq(h + (net.engine.now // 64_000))   # + a 64 ns clock, as secure_tcp_seq


def _secure_ts_off(saddr, daddr) -> int:
    """Per address pair offset of TSval (``secure_tcp_ts_off``; a hash here, not random)."""
    return zlib.crc32(f"ts:{in_ntoa(saddr)}>{in_ntoa(daddr)}".encode()) & 0xFFFFFFFF


def tcp_v4_connect(sk, daddr: int, dport: int, flags: int = 0):
    """Generator: active open (SYN, wait for SYN-ACK); 0 or -errno."""
    from .tcp_output import tcp_connect

    net = sk.net
    cputime.charge(net, "tcp_v4_connect")
    yield from lock_sock(sk)
    try:
        if sk.sk_state == TCP_ESTABLISHED:
            return -EISCONN
        if sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV):
            return -EALREADY
        if sk.sk_state != TCP_CLOSE:
            return -EINVAL
        if not sk.bound:
            err = inet_bind(sk, 0, 0)
            if err:
                return err
        if not sk.inet_saddr:
            hook = net.tcp.saddr_hook
            saddr = hook(daddr) if hook is not None else None
            if not saddr:
                return -EADDRNOTAVAIL
            sk.inet_saddr = inet_addr(saddr)      # the route's preferred source (int or dotted)
        sk.inet_daddr = daddr
        sk.inet_dport = dport
        key = _ehash_key(sk)
        if key in net.tcp.ehash:
            return -EADDRINUSE
        sk.sk_state = TCP_SYN_SENT
        inet_hash(sk)
        sk.write_seq = _secure_tcp_seq(net, sk.inet_saddr, sk.inet_sport, daddr, dport)
        sk.tsoffset = _secure_ts_off(sk.inet_saddr, daddr)
        sk.inet_id = sk.write_seq & 0xFFFF   # Linux: prandom; any start value
        net.tcp.inc("ActiveOpens")
        err = tcp_connect(sk)
        if err:
            tcp_set_state(sk, TCP_CLOSE)
            return err
        if flags & MSG_DONTWAIT:
            return -115   # -EINPROGRESS
        err = yield from sk_stream_wait_connect(sk, False)
        return err
    finally:
        release_sock(sk)


# --- close ------------------------------------------------------------------------------------------
def tcp_close(sk):
    """Generator: ``close()``. A listener drops its children; a connection sends FIN after its
    queued data and returns without waiting for the FIN to be ACKed (the socket lives on,
    orphaned, until the exchange ends)."""
    from .tcp_output import tcp_send_fin

    net = sk.net
    cputime.charge(net, "tcp_close")
    yield from lock_sock(sk)
    try:
        sk.sk_shutdown = SEND_SHUTDOWN | RCV_SHUTDOWN
        sk.orphan = True
        state = sk.sk_state
        if state == TCP_LISTEN:
            tcp_set_state(sk, TCP_CLOSE)
            while sk.accept_queue:
                child = sk.accept_queue.popleft()
                child.parent = None
                yield from tcp_close(child)
        elif state in (TCP_SYN_SENT, TCP_CLOSE):
            tcp_set_state(sk, TCP_CLOSE)
            _purge_queues(sk)
        elif state in (TCP_ESTABLISHED, TCP_SYN_RECV):
            tcp_set_state(sk, TCP_FIN_WAIT1)
            tcp_send_fin(sk)
        elif state == TCP_CLOSE_WAIT:
            tcp_set_state(sk, TCP_LAST_ACK)
            tcp_send_fin(sk)
        return 0
    finally:
        release_sock(sk)


def tcp_shutdown(sk, how: int):
    """Generator: ``shutdown(SHUT_WR)`` sends FIN; reading side only marks."""
    from .tcp_output import tcp_send_fin

    yield from lock_sock(sk)
    try:
        if how in (1, 2) and not sk.sk_shutdown & SEND_SHUTDOWN:
            sk.sk_shutdown |= SEND_SHUTDOWN
            if sk.sk_state in (TCP_ESTABLISHED, TCP_SYN_RECV):
                tcp_set_state(sk, TCP_FIN_WAIT1)
                tcp_send_fin(sk)
            elif sk.sk_state == TCP_CLOSE_WAIT:
                tcp_set_state(sk, TCP_LAST_ACK)
                tcp_send_fin(sk)
        if how in (0, 2):
            sk.sk_shutdown |= RCV_SHUTDOWN
        return 0
    finally:
        release_sock(sk)


def _purge_queues(sk) -> None:
    """Free everything queued (``tcp_write_queue_purge``)."""
    from stack.core.skbuff import consume_skb

    for q in (sk.sk_write_queue, sk.tcp_rtx_queue):
        while q:
            skb = q.popleft()
            sk.sk_wmem_queued -= skb.truesize
            consume_skb(skb)
    sk.packets_out = sk.sacked_out = sk.lost_out = sk.retrans_out = 0
    pf = sk.sk_page_frag
    if pf.page is not None:
        sk.net.skb.put_page(pf.page)
        pf.page = None


def tcp_done(sk) -> None:
    """The connection is over: CLOSE, unhash, free the queues, wake everyone."""
    tcp_set_state(sk, TCP_CLOSE)
    _purge_queues(sk)
    sk.sk_shutdown = SEND_SHUTDOWN | RCV_SHUTDOWN


# --- options ------------------------------------------------------------------------------------------
def sock_setsockopt(sk, optname: int, val: int) -> int:
    """SOL_SOCKET options: SO_SNDBUF (doubled, capped by wmem_max, locks autotuning), SO_RCVBUF."""
    net = sk.net
    cputime.charge(net, "sock_setsockopt")
    if optname == SO_SNDBUF:
        val = min(int(val), net.tcp.wmem_max)
        sk.sk_userlocks |= SOCK_SNDBUF_LOCK
        sk.sk_sndbuf = max(val * 2, SOCK_MIN_SNDBUF)
        sk_stream_write_space(sk)
        return 0
    if optname == SO_RCVBUF:
        sk.sk_rcvbuf = max(min(int(val), net.tcp.wmem_max) * 2, 2304)
        return 0
    return -ENOPROTOOPT


def tcp_setsockopt(sk, level: int, optname: int, val: int) -> int:
    """``setsockopt``: SOL_TCP TCP_NODELAY / TCP_CORK, SOL_SOCKET SO_SNDBUF / SO_RCVBUF."""
    from .tcp_output import tcp_push_pending_frames

    if level == SOL_SOCKET:
        return sock_setsockopt(sk, optname, val)
    if level != SOL_TCP:
        return -ENOPROTOOPT
    cputime.charge(sk.net, "sock_setsockopt")
    if optname == TCP_NODELAY:
        if val:
            sk.nonagle |= TCP_NAGLE_OFF | TCP_NAGLE_PUSH
            tcp_push_pending_frames(sk)
        else:
            sk.nonagle &= ~TCP_NAGLE_OFF
        return 0
    if optname == TCP_CORK:
        if val:
            sk.nonagle |= TCP_NAGLE_CORK
        else:
            sk.nonagle &= ~TCP_NAGLE_CORK
            if sk.nonagle & TCP_NAGLE_OFF:
                sk.nonagle |= TCP_NAGLE_PUSH
            tcp_push_pending_frames(sk)
        return 0
    return -ENOPROTOOPT

