"""Reno congestion control (``net/ipv4/tcp_cong.c``), recent and 3.10 flavours (stack_facts §11, §12).

* slow start (``cwnd < ssthresh``; 3.10: ``cwnd <= ssthresh``): recent
  ``tcp_slow_start(tp, acked)`` adds the ACKed segments, capped at ssthresh,
  and hands the rest to congestion avoidance; 3.10 ``tcp_slow_start(tp)``
  adds one segment per ACK (``snd_cwnd_cnt`` accounting with cnt = cwnd);
* congestion avoidance: recent ``tcp_cong_avoid_ai(tp, cwnd, acked)`` adds
  one segment per cwnd ACKed segments; 3.10 ``tcp_cong_avoid_ai(tp, cwnd)``
  one per cwnd ACKs;
* growth only while the flow is cwnd-limited (``tcp_is_cwnd_limited``):
  recent — the last window was cwnd-limited, or in slow start cwnd is below
  twice the most packets out; 3.10 — in_flight ≥ cwnd, or the room left is
  too small to be worth a TSO frame (``left × tso_win_divisor < cwnd`` and
  ``left × mss < gso_max_size``), or ``left ≤ 3``;
* ``ssthresh`` after a loss: ``max(FlightSize / 2, 2)`` with FlightSize the
  segments outstanding (``packets_out``), as RFC 5681 (Linux Reno halves
  cwnd instead; for a cwnd-limited flow they agree).
"""
from __future__ import annotations

__all__ = ["tcp_in_slow_start", "tcp_is_cwnd_limited", "tcp_slow_start", "tcp_cong_avoid_ai",
           "tcp_reno_cong_avoid", "tcp_reno_ssthresh", "tcp_loss_ssthresh"]


def _old(tp) -> bool:
    return tp.net.kernel_version == "3.10"


def tcp_in_slow_start(tp) -> bool:
    return tp.snd_cwnd <= tp.snd_ssthresh if _old(tp) else tp.snd_cwnd < tp.snd_ssthresh


def tcp_is_cwnd_limited(tp, prior_in_flight: int) -> bool:
    """May cwnd grow on this ACK (see the module docstring)."""
    if _old(tp):
        if prior_in_flight >= tp.snd_cwnd:
            return True
        left = tp.snd_cwnd - prior_in_flight
        if (tp.sk_can_gso and left * tp.net.tcp.tcp_tso_win_divisor < tp.snd_cwnd
                and left * tp.mss_cache < tp.sk_gso_max_size):
            return True
        return left <= 3
    if tp.is_cwnd_limited:
        return True
    if tcp_in_slow_start(tp):
        return tp.snd_cwnd < 2 * tp.max_packets_out
    return False


def tcp_slow_start(tp, acked: int) -> int:
    """Grow cwnd in slow start; returns the ACKed segments left over for congestion avoidance."""
    if _old(tp):
        cwnd = tp.snd_cwnd
        tp.snd_cwnd_cnt += cwnd
        delta = 0
        while tp.snd_cwnd_cnt >= cwnd:
            tp.snd_cwnd_cnt -= cwnd
            delta += 1
        tp.snd_cwnd = min(cwnd + delta, tp.snd_cwnd_clamp)
        return 0
    cwnd = min(tp.snd_cwnd + acked, tp.snd_ssthresh)
    acked -= cwnd - tp.snd_cwnd
    tp.snd_cwnd = min(cwnd, tp.snd_cwnd_clamp)
    return acked


def tcp_cong_avoid_ai(tp, w: int, acked: int) -> None:
    """Additive increase: +1 segment per ``w`` ACKed segments (3.10: per ``w`` ACKs)."""
    if _old(tp):
        if tp.snd_cwnd_cnt >= w:
            if tp.snd_cwnd < tp.snd_cwnd_clamp:
                tp.snd_cwnd += 1
            tp.snd_cwnd_cnt = 0
        else:
            tp.snd_cwnd_cnt += 1
        return
    if tp.snd_cwnd_cnt >= w:
        tp.snd_cwnd_cnt = 0
        tp.snd_cwnd += 1
    tp.snd_cwnd_cnt += acked
    if tp.snd_cwnd_cnt >= w:
        delta = tp.snd_cwnd_cnt // w
        tp.snd_cwnd_cnt -= delta * w
        tp.snd_cwnd += delta
    tp.snd_cwnd = min(tp.snd_cwnd, tp.snd_cwnd_clamp)


def tcp_reno_cong_avoid(tp, acked: int, prior_in_flight: int) -> None:
    """``tcp_reno_cong_avoid``: slow start below ssthresh, additive increase above."""
    if not tcp_is_cwnd_limited(tp, prior_in_flight):
        return
    if tcp_in_slow_start(tp):
        acked = tcp_slow_start(tp, acked)
        if not acked and not _old(tp):
            return
        if _old(tp):
            return
    tcp_cong_avoid_ai(tp, tp.snd_cwnd, acked)


def tcp_reno_ssthresh(tp) -> int:
    """Linux Reno's ``ssthresh``: half of cwnd, at least 2 (used for CWR)."""
    return max(tp.snd_cwnd >> 1, 2)


def tcp_loss_ssthresh(tp, flight: int | None = None) -> int:
    """``ssthresh`` on fast retransmit and RTO: ``max(FlightSize / 2, 2)`` (FlightSize: ``flight``, or
    the segments out now)."""
    return max((tp.packets_out if flight is None else flight) >> 1, 2)
