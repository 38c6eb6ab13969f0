"""Kernel time in jiffies, derived from the engine's picosecond clock.

Linux measures softirq windows, BQL slack hold time, timers and the TX
watchdog in jiffies (timer ticks, ``HZ`` per second), so the model does
too: ``jiffies(now_ps)`` is the number of whole ticks since the start of the
run. Jiffies never wrap here (Python ints), so the ``time_after`` family is
plain comparison written the Linux way round.

``HZ`` is 250 (CONFIG_HZ=250, a common distribution default) and must match
``driver.platform.kernel.HZ``; a test checks that they agree.
"""
from __future__ import annotations

from sim.engine import S

__all__ = [
    "HZ", "TICK_PS", "USEC_PER_SEC", "MSEC_PER_SEC", "jiffies",
    "usecs_to_jiffies", "msecs_to_jiffies", "time_after", "time_after_eq", "time_before",
    "round_jiffies",
]

#: Timer ticks per second.
HZ = 250
#: Length of one tick in picoseconds (4 ms at HZ=250).
TICK_PS = S // HZ
USEC_PER_SEC = 1_000_000
MSEC_PER_SEC = 1_000


def jiffies(now_ps: int) -> int:
    """Whole ticks elapsed at time ``now_ps``."""
    return now_ps // TICK_PS


def usecs_to_jiffies(us: int) -> int:
    """Microseconds to ticks, rounded up (Linux ``usecs_to_jiffies``)."""
    return -(-us * HZ // USEC_PER_SEC)


def msecs_to_jiffies(ms: int) -> int:
    """Milliseconds to ticks, rounded up (Linux ``msecs_to_jiffies``)."""
    return -(-ms * HZ // MSEC_PER_SEC)


def time_after(a: int, b: int) -> bool:
    """True if jiffy ``a`` is after ``b``."""
    return a > b


def time_after_eq(a: int, b: int) -> bool:
    """True if jiffy ``a`` is at or after ``b``."""
    return a >= b


def time_before(a: int, b: int) -> bool:
    """True if jiffy ``a`` is before ``b``."""
    return a < b


def round_jiffies(j: int, now: int, cpu: int = 0) -> int:
    """``round_jiffies``: ``j`` rounded to a whole second (so timers fire together), never into the past.

    As ``__round_jiffies`` in kernel/time/timer.c: skew by 3 jiffies per CPU,
    round down when less than a quarter second past the second, else up;
    if the result is not after ``now``, keep ``j``.
    """
    original = j
    j += cpu * 3
    rem = j % HZ
    j = j - rem if rem < HZ // 4 else j - rem + HZ
    j -= cpu * 3
    return j if j > now else original
