"""What every TCP module shares: ``struct tcp_sock`` and the definitions of ``include/net/tcp.h``.

``include/linux/tcp.h``, ``include/net/tcp.h``, ``include/net/inet_connection_sock.h``,
``include/net/tcp_states.h``: the states, header flags, constants and
sequence arithmetic, ``TCP_SKB_CB`` (:class:`tcp_skb_cb`), the socket
(:class:`tcp_sock`, an :class:`~stack.ipv4.inet_sock.inet_sock`), the
address-family operations a connection socket reaches IP through
(:class:`inet_connection_sock_af_ops`), and TCP's per-host state
(:class:`TcpNet`, ``net.tcp``). The TCP modules import these from here,
so what they import from each other is only the calls Linux's TCP files
make to each other.
"""
from __future__ import annotations

import struct
from collections import deque

from stack.core.jiffies import HZ
from stack.core.skbuff import SKB_GSO_TCPV4
from stack.core.sock import SK_WMEM_MAX
from stack.core.spinlock import spinlock_t
from .inet_sock import inet_sock
from .ip import IPPROTO_TCP
from .utils import in_ntoa

__all__ = [
    "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",
    "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING",
    "TCP_STATE_NAMES", "TCPHDR_FIN", "TCPHDR_SYN", "TCPHDR_RST", "TCPHDR_PSH", "TCPHDR_ACK",
    "TCP_NAGLE_OFF", "TCP_NAGLE_CORK", "TCP_NAGLE_PUSH",
    "TCP_NODELAY", "TCP_CORK", "SOL_TCP",
    "TCP_INIT_CWND", "TCP_INFINITE_SSTHRESH", "TCP_MSS_DEFAULT", "TCP_TIMEOUT_INIT", "TCP_RTO_MIN",
    "TCP_RTO_MAX", "TCP_CA_Open", "TCP_CA_Disorder", "TCP_CA_CWR", "TCP_CA_Recovery", "TCP_CA_Loss",
    "TCPCB_SACKED_RETRANS", "TCPCB_LOST", "TCPCB_EVER_RETRANS", "TSQ_THROTTLED", "TSQ_QUEUED",
    "SOCK_NOSPACE", "SEND_SHUTDOWN", "RCV_SHUTDOWN",
    "before", "after", "is_old", "max_tcp_header", "tcp_skb_cb", "tcp_sock",
    "sk_wmem_refcount", "tcp_packets_in_flight", "tcp_wnd_end", "tcp_bound_to_half_wnd",
    "inet_connection_sock_af_ops", "TcpNet", "tcphdr_layout",
]

# sk_state (include/net/tcp_states.h)
(TCP_ESTABLISHED, TCP_SYN_SENT, TCP_SYN_RECV, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCP_CLOSE,
 TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_LISTEN, TCP_CLOSING) = range(1, 12)
TCP_STATE_NAMES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
                   6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
                   11: "CLOSING"}

#: ``struct tcphdr`` without options: source, dest, seq, ack_seq, doff<<4, flags, window, check, urg_ptr.
tcphdr_layout = struct.Struct("!HHIIBBHHH")

# TCP header flags (TCPHDR_*)
TCPHDR_FIN, TCPHDR_SYN, TCPHDR_RST, TCPHDR_PSH, TCPHDR_ACK, TCPHDR_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

# tp->nonagle bits
TCP_NAGLE_OFF = 1    # TCP_NODELAY
TCP_NAGLE_CORK = 2   # TCP_CORK / MSG_MORE
TCP_NAGLE_PUSH = 4   # one-shot: push now

# TCP socket options (include/uapi/linux/tcp.h)
SOL_TCP = IPPROTO_TCP
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
        #: The socket lock (``sk->sk_lock``): the spinlock ``slock`` that softirq code takes
        #: (``bh_lock_sock``), the owner flag a task sets (``lock_sock``), its sleepers.
        self.slock = spinlock_t(net, "sk_lock.slock")
        self.owned = False
        self._lock_waiters: list = []
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
        #: ``sk_backlog_rcv(sk, skb)``: what ``release_sock`` runs the backlog through (``tcp_v4_do_rcv``).
        self.sk_backlog_rcv = None
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



class TcpNet:
    """``net->ipv4`` TCP part of one host: sysctls, MIB counters, hash tables, TSQ lists."""

    def __init__(self, net):
        self.net = net
        # sysctls (stack_facts §0)
        old = is_old(net)
        self.tcp_wmem = [4096, 16384, 4 << 20]
        self.tcp_rmem = [4096, 87380 if old else 131072, 6 << 20]
        self.wmem_max = SK_WMEM_MAX  # net.core.wmem_max
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



def tcp_bound_to_half_wnd(tp, pktsize: int) -> int:
    """Half the largest window the peer offered (the whole window while it is tiny)."""
    cutoff = tp.max_window >> 1 if tp.max_window > TCP_MSS_DEFAULT else tp.max_window
    if cutoff and pktsize > cutoff:
        return max(cutoff, 68 - tp.tcp_header_len)
    return pktsize
