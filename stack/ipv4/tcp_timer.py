"""TCP timers (``net/ipv4/tcp_timer.c``): retransmission (RTO), zero-window probe, delayed ACK.

Each socket has two :class:`~stack.core.timer.timer_list` timers, run in the
TIMER softirq (``softirq:TIMER``; stack_facts §10.1). When a task owns the
socket the handler only sets a deferred flag and ``tcp_release_cb`` runs it
at ``release_sock``, as in Linux.

RTO (:func:`tcp_retransmit_timer`): for a connection, ``tcp_enter_loss``
(ssthresh = ``max(FlightSize/2, 2)`` unless already in Loss, every
outstanding segment marked lost, ``cwnd = 1``), retransmit the head, then
back off: ``icsk_rto`` doubles (at most 120 s) and the timer is re-armed.
For SYN / SYN-ACK the segment is retransmitted with the same backoff
(initial RTO 1 s, ``TCP_TIMEOUT_INIT``). Gives up (ETIMEDOUT) after
``tcp_syn_retries`` (6) / ``tcp_retries2`` (15) backoffs.

The zero-window probe shares the retransmit timer (Linux: ICSK_TIME_PROBE0):
with nothing in flight and data stuck behind a zero window, a probe (an ACK
carrying ``snd_una − 1``) goes out every backed-off RTO until the window
opens.
"""
from __future__ import annotations

from functools import partial

from stack.core import cputime
from stack.core.errno import ETIMEDOUT
from stack.core.jiffies import jiffies
from stack.core.spinlock import spin_lock, spin_unlock
from .tcp_cong import tcp_loss_ssthresh
from .tcp_sock import (TCP_CA_Disorder, TCP_CA_Loss, TCP_CLOSE, TCP_DELACK_MIN, TCP_DELACK_TIMER_DEFERRED, TCP_LISTEN,
                       TCP_RTO_MAX, TCP_SYN_RECV, TCP_SYN_SENT, TCP_WRITE_TIMER_DEFERRED, TCPCB_LOST,
                       TCPCB_SACKED_RETRANS, _seq, after, tcp_packets_in_flight)

__all__ = ["tcp_init_xmit_timers", "tcp_clear_xmit_timers", "tcp_rearm_rto", "inet_csk_reset_xmit_timer",
           "tcp_write_timer", "tcp_write_timer_handler", "tcp_retransmit_timer", "tcp_enter_loss",
           "tcp_send_delayed_ack", "tcp_delack_timer_handler", "tcp_check_probe_timer",
           "TCP_SYN_RETRIES", "TCP_RETRIES2"]

TCP_SYN_RETRIES = 6
TCP_RETRIES2 = 15


def tcp_init_xmit_timers(sk) -> None:
    timers = sk.net.timers
    sk.icsk_retransmit_timer = timers.timer_setup(partial(tcp_write_timer, sk))
    sk.icsk_delack_timer = timers.timer_setup(partial(tcp_delack_timer, sk))
    sk.icsk_probe0 = False


def tcp_clear_xmit_timers(sk) -> None:
    timers = sk.net.timers
    for t in (sk.icsk_retransmit_timer, sk.icsk_delack_timer):
        if t is not None:
            timers.del_timer(t)
    sk.icsk_pending = False
    sk.icsk_ack_pending = False
    sk.sk_tsq_flags &= ~(TCP_WRITE_TIMER_DEFERRED | TCP_DELACK_TIMER_DEFERRED)


def inet_csk_reset_xmit_timer(sk, when: int) -> None:
    """Arm the retransmit timer ``when`` jiffies from now (at most TCP_RTO_MAX)."""
    when = min(when, TCP_RTO_MAX)
    sk.icsk_pending = True
    sk.net.timers.mod_timer(sk.icsk_retransmit_timer, jiffies(sk.net.engine.now) + when)


def tcp_rearm_rto(sk) -> None:
    """RTO from now while anything is in flight; else stop it."""
    sk.icsk_probe0 = False
    if not sk.packets_out:
        sk.icsk_pending = False
        sk.net.timers.del_timer(sk.icsk_retransmit_timer)
    else:
        inet_csk_reset_xmit_timer(sk, sk.icsk_rto)


def tcp_write_timer(sk, timer) -> None:
    """The retransmit timer fired (TIMER softirq)."""
    cputime.charge(sk.net, "tcp_write_timer")
    spin_lock(sk.slock)   # bh_lock_sock
    if sk.owned:
        sk.sk_tsq_flags |= TCP_WRITE_TIMER_DEFERRED
    else:
        tcp_write_timer_handler(sk)
    spin_unlock(sk.slock)


def tcp_write_timer_handler(sk) -> None:
    if sk.sk_state in (TCP_CLOSE, TCP_LISTEN) or not sk.icsk_pending:
        return
    sk.icsk_pending = False
    if sk.icsk_probe0:
        _tcp_probe_timer(sk)
    else:
        tcp_retransmit_timer(sk)


def tcp_enter_loss(sk) -> None:
    """RTO: ssthresh (once per loss episode), every outstanding segment lost, cwnd = 1."""
    state = sk.icsk_ca_state
    if state <= TCP_CA_Disorder or not after(sk.high_seq, sk.snd_una) or (
            state == TCP_CA_Loss and not sk.icsk_retransmits):
        sk.prior_cwnd = sk.snd_cwnd
        sk.snd_ssthresh = tcp_loss_ssthresh(sk)
    sk.sacked_out = 0
    for skb in sk.tcp_rtx_queue:
        tcb = skb.cb
        if tcb.sacked & TCPCB_SACKED_RETRANS:
            tcb.sacked &= ~TCPCB_SACKED_RETRANS
        if not tcb.sacked & TCPCB_LOST:
            tcb.sacked |= TCPCB_LOST
    sk.retrans_out = 0
    sk.lost_out = sk.packets_out
    sk.snd_cwnd = tcp_packets_in_flight(sk) + 1
    sk.snd_cwnd_cnt = 0
    sk.high_seq = sk.snd_nxt
    sk.icsk_ca_state = TCP_CA_Loss
    sk.net.tcp.inc("TCPLossEpisodes" if state != TCP_CA_Loss else "TCPLossRepeats")


def tcp_retransmit_timer(sk) -> None:
    """The RTO expired: retransmit the head of the retransmit queue and back off."""
    from .tcp import tcp_done  # mutual call: tcp_timer.c gives up with tcp.c's tcp_done; tcp.c stops these timers
    # mutual call: tcp_timer.c retransmits, tcp_output.c arms the timers
    from .tcp_output import tcp_retransmit_skb

    net = sk.net
    tcp = net.tcp
    if not sk.packets_out or not sk.tcp_rtx_queue:
        return
    tcp.inc("TCPTimeouts")
    handshake = sk.sk_state in (TCP_SYN_SENT, TCP_SYN_RECV)
    limit = TCP_SYN_RETRIES if handshake else TCP_RETRIES2
    if sk.icsk_retransmits >= limit:
        sk.sk_err = ETIMEDOUT
        tcp_done(sk)
        return
    if not handshake:
        tcp_enter_loss(sk)
    tcp_retransmit_skb(sk, sk.tcp_rtx_queue[0], 1)
    sk.icsk_backoff += 1
    sk.icsk_retransmits += 1
    sk.icsk_rto = min(sk.icsk_rto << 1, TCP_RTO_MAX)
    inet_csk_reset_xmit_timer(sk, sk.icsk_rto)


def tcp_check_probe_timer(sk) -> None:
    """Data stuck behind a zero window with nothing in flight: arm the probe timer."""
    if not sk.packets_out and not sk.icsk_pending:
        sk.icsk_probe0 = True
        inet_csk_reset_xmit_timer(sk, sk.icsk_rto << sk.icsk_backoff)


def _tcp_probe_timer(sk) -> None:
    # mutual call, as tcp_timer.c <-> tcp_output.c
    from .tcp_output import tcp_current_mss, tcp_send_ack, tcp_write_xmit

    if sk.packets_out or not sk.sk_write_queue:
        sk.icsk_probe0 = False
        sk.icsk_backoff = 0
        return
    sk.net.tcp.inc("TCPWinProbe")
    if tcp_write_xmit(sk, tcp_current_mss(sk), sk.nonagle, 0):
        snd_nxt = sk.snd_nxt
        sk.snd_nxt = _seq(sk.snd_una - 1)   # tcp_xmit_probe_skb: an old sequence number
        tcp_send_ack(sk)
        sk.snd_nxt = snd_nxt
        sk.icsk_backoff = min(sk.icsk_backoff + 1, 15)
        sk.icsk_probe0 = True
        inet_csk_reset_xmit_timer(sk, sk.icsk_rto << sk.icsk_backoff)


# --- delayed ACK ------------------------------------------------------------------------------------
def tcp_send_delayed_ack(sk) -> None:
    """ACK in TCP_DELACK_MIN (40 ms) unless something else carries it first."""
    if sk.icsk_ack_pending:
        return
    sk.icsk_ack_pending = True
    sk.net.timers.mod_timer(sk.icsk_delack_timer, jiffies(sk.net.engine.now) + TCP_DELACK_MIN)


def tcp_delack_timer(sk, timer) -> None:
    cputime.charge(sk.net, "tcp_delack_timer")
    spin_lock(sk.slock)   # bh_lock_sock
    if sk.owned:
        sk.sk_tsq_flags |= TCP_DELACK_TIMER_DEFERRED
    else:
        tcp_delack_timer_handler(sk)
    spin_unlock(sk.slock)


def tcp_delack_timer_handler(sk) -> None:
    from .tcp_output import tcp_send_ack  # mutual call: the delayed ACK is sent by tcp_output.c, which arms it

    if sk.sk_state in (TCP_CLOSE, TCP_LISTEN) or not sk.icsk_ack_pending:
        return
    sk.icsk_ack_pending = False
    sk.net.tcp.inc("DelayedACKs")
    tcp_send_ack(sk)
