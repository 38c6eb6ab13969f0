"""Time units: the engine counts integer picoseconds; these convert to them."""

PS = 1
NS = 1_000
US = 1_000_000
MS = 1_000_000_000
S = 1_000_000_000_000


def ns(x: float) -> int:
    """Nanoseconds to picoseconds (rounded to the nearest picosecond)."""
    return round(x * NS)


def us(x: float) -> int:
    """Microseconds to picoseconds (rounded to the nearest picosecond)."""
    return round(x * US)


def fmt_ps(t: int) -> str:
    """A human-readable time, e.g. ``1.250 us``."""
    for unit, scale in (("s", S), ("ms", MS), ("us", US), ("ns", NS)):
        if abs(t) >= scale:
            return f"{t / scale:.3f} {unit}"
    return f"{t} ps"
