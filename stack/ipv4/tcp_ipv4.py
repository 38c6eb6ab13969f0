"""TCP over IPv4 (``net/ipv4/tcp_ipv4.c``): socket init, active open, the receive entry point, passive open.

* :data:`ipv4_specific` — the ``icsk_af_ops`` of every IPv4 TCP socket:
  ``queue_xmit`` is ``ip_queue_xmit``;
* :func:`tcp_create` (``tcp_v4_init_sock``) — a new socket with its af_ops,
  its backlog handler (``sk_backlog_rcv`` = :func:`tcp_v4_do_rcv`) and timers;
* :func:`tcp_v4_connect` — active open (a generator run by a task);
* :func:`tcp_v4_rcv` — ``net.inet_protos[IPPROTO_TCP]``: ``skb.data`` at
  the TCP header, the IP header at ``skb.network_header`` (IP has
  validated it and trimmed the skb to its total length), NET_RX softirq
  context: validation (length, data offset, the checksum in software when
  the skb arrives ``CHECKSUM_NONE``: ``net.tcp.verify_csum``, charged as
  ``csum_partial``), the socket lookup (established 4-tuple, else a
  listener on the port), then processing — or, while a task owns the
  socket, ``sk_backlog`` (bounded by ``sk_rcvbuf + sk_sndbuf`` bytes of
  truesize, else TCPBacklogDrop), processed at ``release_sock``;
* :func:`tcp_v4_conn_request` — a SYN on a listener: a child socket in
  SYN_RECV answers with a SYN-ACK (MSS option = route MTU − 40, timestamps
  and window scale if the SYN offered them). Linux keeps a small request
  sock until the handshake ends; here the child is a full socket from the
  SYN on (its SYN-ACK sits on its retransmit queue, so the RTO and the first
  RTT sample work as for data).

The ISN and the timestamp offset are hashes of the connection's addresses
(``secure_tcp_seq``/``secure_tcp_ts_off`` use a random key in Linux).

An unbound ``connect()`` takes its source address from the route to the
peer, as ``ip_route_connect`` does; the route is not cached in the socket
here (Linux's ``sk_setup_caps`` at connect): IP caches it at the first
transmit.
"""
from __future__ import annotations

import struct
import zlib

from stack.core import cputime
from stack.core.checksum import csum_partial, csum_tcpudp_nofold
from stack.core.errno import EADDRINUSE, EALREADY, EINVAL, EISCONN
from stack.core.skbuff import CHECKSUM_NONE, consume_skb, kfree_skb, skb_to_bytes
from stack.core.spinlock import spin_lock, spin_unlock
from stack.socket import MSG_DONTWAIT
from .inet_connection_sock import inet_bind
from .inet_hashtables import inet_ehash_key, inet_hash
from .ip import IPPROTO_TCP
from .ip_output import ip_queue_xmit
from .route import IS_ERR, ip_route_output_ports
from .tcp import lock_sock, release_sock, sk_stream_wait_connect, tcp_set_state
from .tcp_input import tcp_parse, tcp_rcv_established, tcp_rcv_state_process
from .tcp_output import _dst_mtu, tcp_connect, tcp_send_synack, tcp_sk_setup_caps
from .tcp_sock import (TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV, TCP_SYN_SENT, TCPHDR_ACK, TCPHDR_RST,
                       TCPHDR_SYN, _seq, inet_connection_sock_af_ops, tcp_sock)
from .tcp_timer import tcp_init_xmit_timers
from .utils import in_ntoa

__all__ = ["ipv4_specific", "tcp_create", "tcp_v4_connect", "tcp_v4_rcv", "tcp_v4_do_rcv", "tcp_v4_conn_request"]

#: ``ipv4_specific``: TCP over IPv4.
ipv4_specific = inet_connection_sock_af_ops(ip_queue_xmit)


def tcp_create(net) -> tcp_sock:
    """``tcp_v4_init_sock`` for a new SOCK_STREAM socket: its af_ops (``ipv4_specific``), backlog handler, timers."""
    sk = tcp_sock(net)
    sk.icsk_af_ops = ipv4_specific
    sk.sk_backlog_rcv = tcp_v4_do_rcv
    tcp_init_xmit_timers(sk)
    net.tcp.sockets.append(sk)
    return sk


def _secure_tcp_seq(net, saddr, sport, daddr, dport) -> int:
    """The ISN (``secure_tcp_seq``): a hash of the connection's addresses and ports plus a 64 ns clock."""
    h = zlib.crc32(f"{in_ntoa(saddr)}:{sport}>{in_ntoa(daddr)}:{dport}".encode())
    return _seq(h + (net.engine.now // 64_000))   # + a 64 ns clock, as secure_tcp_seq


def _secure_ts_off(saddr, daddr) -> int:
    """Per address pair offset of TSval (``secure_tcp_ts_off``; a hash here, not random)."""
    return zlib.crc32(f"ts:{in_ntoa(saddr)}>{in_ntoa(daddr)}".encode()) & 0xFFFFFFFF


def tcp_v4_connect(sk, daddr: int, dport: int, flags: int = 0):
    """Generator: active open (SYN, wait for SYN-ACK); 0 or -errno."""
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
        if not sk.inet_saddr:  # ip_route_connect: the route's source address (inet_select_addr)
            rt = ip_route_output_ports(net, sk, daddr, 0, dport, sk.inet_sport, IPPROTO_TCP)
            if IS_ERR(rt):
                return rt
            sk.inet_saddr = rt.saddr
        sk.inet_daddr = daddr
        sk.inet_dport = dport
        key = inet_ehash_key(sk)
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


def _csum_ok(saddr: int, daddr: int, tcp: bytes) -> bool:
    """The segment's checksum verifies: the sum over pseudo-header and segment is 0xFFFF."""
    return csum_partial(tcp, csum_tcpudp_nofold(saddr, daddr, len(tcp), IPPROTO_TCP)) == 0xFFFF


def _ip_addrs(skb) -> tuple[int, int]:
    """Source and destination address of the IP header (ints, host order)."""
    saddr, daddr = struct.unpack_from("!II", skb.mem.read(skb.head + skb.network_header + 12, 8))
    return saddr, daddr


def tcp_v4_rcv(net, skb) -> int:
    """The IPPROTO_TCP handler: validate, look the socket up, process or backlog. Always 0."""
    tcp = net.tcp
    cputime.charge(net, "tcp_v4_rcv")
    raw = skb_to_bytes(skb)
    sb, db = _ip_addrs(skb)
    if skb.ip_summed == CHECKSUM_NONE and tcp.verify_csum:
        cputime.charge_bytes(net, "csum_partial", len(raw))
        if not _csum_ok(sb, db, raw):
            tcp.inc("InCsumErrors")
            tcp.inc("InErrs")
            kfree_skb(skb)
            return 0
    seg = tcp_parse(raw, sb, db)
    if seg is None:
        tcp.inc("InErrs")
        kfree_skb(skb)
        return 0
    tcp.inc("InSegs")
    net.count("tcp_rx", 1, len(raw))
    skb.cb = seg
    sk = tcp.ehash.get((seg.daddr, seg.dport, seg.saddr, seg.sport))
    if sk is None:
        sk = tcp.lhash.get((seg.daddr, seg.dport)) or tcp.lhash.get((0, seg.dport))
    if sk is None:
        tcp.inc("no_socket")
        kfree_skb(skb)
        return 0
    sk.segs_in += 1
    spin_lock(sk.slock)   # bh_lock_sock
    if sk.owned:
        queued = sum(b.truesize for b in sk.sk_backlog)
        if queued + skb.truesize > sk.sk_rcvbuf + sk.sk_sndbuf:
            tcp.inc("TCPBacklogDrop")
            kfree_skb(skb)
        else:
            sk.sk_backlog.append(skb)
            tcp.inc("backlog_queued")
    else:
        tcp_v4_do_rcv(sk, skb)
    spin_unlock(sk.slock)   # bh_unlock_sock
    return 0


def tcp_v4_do_rcv(sk, skb) -> None:
    """Process one segment on ``sk`` (softirq, or the owning task at release_sock)."""
    seg = skb.cb
    state = sk.sk_state
    if state == TCP_ESTABLISHED:
        tcp_rcv_established(sk, seg)
    elif state == TCP_LISTEN:
        tcp_v4_conn_request(sk, seg)
    else:
        tcp_rcv_state_process(sk, seg)
    consume_skb(skb)


def tcp_v4_conn_request(listener, seg) -> None:
    """A SYN on a listener: a child in SYN_RECV sends the SYN-ACK."""
    net = listener.net
    tcp = net.tcp
    if seg.flags & (TCPHDR_RST | TCPHDR_ACK) or not seg.flags & TCPHDR_SYN:
        return
    if len(listener.accept_queue) >= max(listener.sk_max_ack_backlog, 1):
        tcp.inc("ListenOverflows")
        return
    cputime.charge(net, "tcp_conn_request")
    child = tcp_create(net)
    child.icsk_af_ops = listener.icsk_af_ops      # inet_csk_clone_lock copies the listener's sock
    child.parent = listener
    child.bound = True
    child.inet_rcv_saddr = child.inet_saddr = seg.daddr
    child.inet_daddr, child.inet_sport, child.inet_dport = seg.saddr, seg.dport, seg.sport
    child.sk_sndbuf, child.sk_rcvbuf = listener.sk_sndbuf, listener.sk_rcvbuf
    child.sk_userlocks = listener.sk_userlocks
    child.nonagle = listener.nonagle
    tcp_sk_setup_caps(child)
    mtu = _dst_mtu(child)
    child.advmss = mtu - 40
    child.mss_clamp = min(seg.mss, child.advmss) if seg.mss else 536
    child.tstamp_ok = seg.saw_tstamp and bool(tcp.tcp_timestamps)
    child.wscale_ok = seg.wscale is not None and bool(tcp.tcp_window_scaling)
    child.snd_wscale = seg.wscale if child.wscale_ok else 0
    child.rcv_wscale = 7 if child.wscale_ok else 0
    child.ts_recent = seg.tsval if child.tstamp_ok else 0
    child.tcp_header_len = 20 + (12 if child.tstamp_ok else 0)
    rmss = child.advmss - (12 if child.tstamp_ok else 0)
    child.rcv_wnd = (min(0xFFFF, child.sk_rcvbuf) // rmss) * rmss
    child.rcv_nxt = child.rcv_wup = child.copied_seq = _seq(seg.seq + 1)
    child.snd_wnd = seg.window
    child.max_window = seg.window
    child.snd_wl1 = seg.seq
    child.write_seq = _secure_tcp_seq(net, child.inet_saddr, child.inet_sport, child.inet_daddr, child.inet_dport)
    child.tsoffset = _secure_ts_off(child.inet_saddr, child.inet_daddr)
    child.snd_una = child.snd_nxt = child.pushed_seq = child.snd_sml = child.write_seq
    child.inet_id = child.write_seq & 0xFFFF
    child.sk_state = TCP_SYN_RECV
    inet_hash(child)
    tcp_send_synack(child)
