"""Byte sizes as the command line takes them and the report prints them.

``K``, ``M``, ``G`` and ``KB``, ``MB``, ``GB`` are decimal (×1000); ``Ki``,
``Mi``, ``Gi`` and ``KiB``, ``MiB``, ``GiB`` are binary (×1024); a plain number
or ``B`` is bytes. Letters are case-insensitive. ``64K`` is 64000 bytes and
``64KiB`` is 65536. Fractions are allowed when the result is a whole number of
bytes (``1.5K`` = 1500). Light on purpose: the CLI parses options without
loading the model.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["parse_size", "human_size", "SizeError", "MAX_BYTES"]

_MULT = {"": 1, "k": 1000, "m": 1000 ** 2, "g": 1000 ** 3, "t": 1000 ** 4,
         "ki": 1024, "mi": 1024 ** 2, "gi": 1024 ** 3, "ti": 1024 ** 4}

#: The largest size taken: 100 GB. The model simulates a bulk TCP transfer at about 5 MB of payload per
#: second of wall time, so 100 GB is already ~6 hours; 1e12 bytes would be days. Time is the only limit
#: above a few GB (the payload is the memory work's to stream).
MAX_BYTES = 100 * 1000 ** 3


class SizeError(ValueError):
    """A size that is not one: the message is the one line the user sees."""


def parse_size(text: str) -> int:
    """``1500``, ``64K`` (64000), ``64KiB`` (65536), ``50MB``, ``1Gi`` → bytes; SizeError otherwise."""
    t = text.strip().lower()
    t = t[:-1] if t.endswith("b") else t
    for suf in sorted(_MULT, key=len, reverse=True):
        if suf and t.endswith(suf):
            num, mult = t[: -len(suf)], _MULT[suf]
            break
    else:
        num, mult = t, 1
    try:
        value = Decimal(num.strip())
    except InvalidOperation:
        raise SizeError(f"{text!r} is not a size (e.g. 1500, 64K = 64000, 64KiB = 65536, 50M, 1GiB)") from None
    if not value.is_finite():
        raise SizeError(f"{text!r}: must be a finite number of bytes")
    if value.adjusted() > 15:   # past any multiplier's reach of 100 GB: say so before any huge arithmetic
        raise SizeError(f"{text!r}: at most 100G ({MAX_BYTES:,} bytes)")
    value *= mult
    if value <= 0:
        raise SizeError(f"{text!r}: must be positive")
    if value != value.to_integral_value():
        raise SizeError(f"{text!r} is {value} bytes: not a whole number")
    if value > MAX_BYTES:
        days = value / Decimal(5e6) / 86400
        when = f"about {days:.0f} days" if days >= 2 else f"about {days * 24:.0f} hours"
        raise SizeError(f"{text!r}: at most 100G ({MAX_BYTES:,} bytes); {int(value):,} bytes would take "
                        f"{when} of wall time (the model simulates ~5 MB of bulk TCP per second)")
    return int(value)


def human_size(n: int) -> str:
    """``n`` bytes in the unit that writes it exactly and shortest: 65536 → "64 KiB", 10**6 → "1 MB"."""
    best = f"{n} B"
    for unit, mult in (("KB", 1000), ("KiB", 1024), ("MB", 1000 ** 2), ("MiB", 1024 ** 2),
                       ("GB", 1000 ** 3), ("GiB", 1024 ** 3)):
        if n >= mult and n % mult == 0:
            text = f"{n // mult} {unit}"
            if len(text) <= len(best):
                best = text
    return best
