"""TCP's socket calls (``net/ipv4/tcp.c``): ``tcp_sendmsg``, ``tcp_push``, ``tcp_recvmsg``, close, the socket lock.

Linux's TCP is split over ``tcp.c`` (socket calls), ``tcp_output.c``,
``tcp_input.c``, ``tcp_timer.c``, ``tcp_cong.c``, ``tcp_ipv4.c``,
``inet_connection_sock.c`` and ``inet_hashtables.c``; the model keeps the
same split, one module each (:mod:`stack.ipv4.tcp_output`,
:mod:`stack.ipv4.tcp_input`, :mod:`stack.ipv4.tcp_timer`,
:mod:`stack.ipv4.tcp_cong`, :mod:`stack.ipv4.tcp_ipv4`,
:mod:`stack.ipv4.inet_connection_sock`, :mod:`stack.ipv4.inet_hashtables`),
with what they all share (``struct tcp_sock``, ``TCP_SKB_CB``, the
constants of ``include/net/tcp.h``) in :mod:`stack.ipv4.tcp_sock`. Facts:
``research/stack_facts.md`` §0–§4, §9.4, §10–§12.

What is here
------------
* :func:`tcp_init` — per-host TCP state (``net.tcp``: sysctls, MIB counters,
  hash tables, TSQ lists) and the TSQ tasklets, called by ``inet_init``.
* process context (all generators, run as a task, see
  ``driver/platform/tasks.py``): :func:`tcp_sendmsg`, :func:`tcp_recvmsg`,
  :func:`tcp_close`, :func:`tcp_shutdown`; plain calls: :func:`tcp_setsockopt`.
* the socket lock: :func:`lock_sock` / :func:`release_sock` with the
  backlog. While a task owns the socket, segments that softirq receives go
  to ``sk_backlog`` and are processed (``sk_backlog_rcv``) in ``release_sock`` (or every 16 new
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


from sim.engine import NS, US

from stack.core import cputime
from stack.core.errno import EAGAIN, ENOPROTOOPT, EPIPE
from stack.core.skbuff import MAX_SKB_FRAGS, alloc_skb, consume_skb, skb_fill_page_desc, skb_put, skb_tailroom
from stack.core.spinlock import spin_lock_bh, spin_unlock_bh
from stack.socket import MSG_DONTWAIT, MSG_EOR, MSG_MORE, MSG_OOB, SO_RCVBUF, SO_SNDBUF, SOL_SOCKET
from .inet_hashtables import inet_put_port, inet_unhash
from .tcp_output import (__tcp_push_pending_frames, tcp_current_mss, tcp_push_one, tcp_push_pending_frames,
                         tcp_release_cb, tcp_send_fin, tcp_send_head, tcp_tasklet_init)
from .tcp_sock import (RCV_SHUTDOWN, SEND_SHUTDOWN, SOCK_MIN_SNDBUF, SOCK_NOSPACE, SOCK_SNDBUF_LOCK, SOL_TCP,
                       TCP_CLOSE, TCP_CLOSE_WAIT, TCP_CORK, TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_LAST_ACK, TCP_LISTEN,
                       TCP_NAGLE_CORK, TCP_NAGLE_OFF, TCP_NAGLE_PUSH, TCP_NODELAY, TCP_SYN_RECV, TCP_SYN_SENT,
                       TCPHDR_ACK, TCPHDR_PSH, TcpNet, TSQ_THROTTLED, _seq, after, is_old, max_tcp_header,
                       sk_wmem_refcount, tcp_bound_to_half_wnd, tcp_skb_cb)
from .tcp_timer import tcp_clear_xmit_timers

__all__ = [
    "tcp_init", "lock_sock", "release_sock", "sk_stream_memory_free",
    "sk_stream_write_space", "sk_wake", "tcp_send_mss", "tcp_sendmsg", "tcp_push", "tcp_mark_push",
    "forced_push", "tcp_recvmsg", "tcp_close", "tcp_shutdown", "tcp_setsockopt", "sock_setsockopt",
]


# sk_state (include/net/tcp_states.h)

# TCP header flags (TCPHDR_*)

# tp->nonagle bits

# send flags (include/linux/socket.h)

# socket options


# icsk_ca_state

# TCP_SKB_CB(skb)->sacked

# sk_tsq_flags

# sock->flags, sk_shutdown, sk_userlocks

# errno


# --- per-skb control block --------------------------------------------------------------


# --- sockets ------------------------------------------------------------------------------


# --- per-host TCP state ---------------------------------------------------------------------


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
    net.tcp = TcpNet(net)
    for name, ps in _TCP_COSTS_PS.items():
        net.costs.setdefault(name, ps)
    tcp_tasklet_init(net)


def lock_sock(sk):
    """Generator: take the socket lock -- under ``slock`` with bottom halves off, sleeping (``slock``
    dropped) while another task owns it; softirqs that came meanwhile run at the unlock."""
    spin_lock_bh(sk.slock)
    while sk.owned:
        ev = sk.net.engine.event()
        sk._lock_waiters.append(ev)
        spin_unlock_bh(sk.slock)
        yield ev
        spin_lock_bh(sk.slock)
    sk.owned = True
    spin_unlock_bh(sk.slock)


def _process_backlog(sk) -> int:
    """``__release_sock`` (``slock`` held on entry and exit): run the backlogged segments in this task
    with ``slock`` dropped and bottom halves on (``sk_backlog_rcv``); how many."""
    n = 0
    while sk.sk_backlog:
        batch, sk.sk_backlog = sk.sk_backlog, []
        spin_unlock_bh(sk.slock)
        for skb in batch:
            sk.sk_backlog_rcv(sk, skb)
            n += 1
        spin_lock_bh(sk.slock)
    if n:
        sk.net.tcp.inc("backlog_processed", n)
    return n


def release_sock(sk) -> None:
    """Process the backlog, run deferred TSQ/timer work (``tcp_release_cb``), drop the lock."""
    cputime.charge(sk.net, "release_sock")
    spin_lock_bh(sk.slock)
    _process_backlog(sk)
    tcp_release_cb(sk)
    sk.owned = False
    if sk._lock_waiters:
        waiters, sk._lock_waiters = sk._lock_waiters, []
        for ev in waiters:
            ev.succeed()
    spin_unlock_bh(sk.slock)


def sk_flush_backlog(sk) -> bool:
    """Process backlogged segments without dropping the lock; True if there were any."""
    spin_lock_bh(sk.slock)
    n = _process_backlog(sk)
    spin_unlock_bh(sk.slock)
    return n > 0


def sk_wake(sk) -> None:
    """Wake every task sleeping on ``sk`` (state change, data, write space, accept)."""
    if sk.sk_wq:
        waiters, sk.sk_wq = sk.sk_wq, []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()


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


def tcp_set_state(sk, state: int) -> None:
    """Change state; CLOSE unhashes (and unbinds) the socket."""
    sk.sk_state = state
    if state == TCP_CLOSE:
        inet_unhash(sk)
        inet_put_port(sk)
        tcp_clear_xmit_timers(sk)
    sk_wake(sk)


# --- close ------------------------------------------------------------------------------------------
def tcp_close(sk):
    """Generator: ``close()``. A listener drops its children; a connection sends FIN after its
    queued data and returns without waiting for the FIN to be ACKed (the socket lives on,
    orphaned, until the exchange ends)."""
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

