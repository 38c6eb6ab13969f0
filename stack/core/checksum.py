"""The Internet checksum, as the kernel computes it (``include/net/checksum.h``, ``lib/checksum.c``).

One module for every kernel-side user: the device layer's
``skb_checksum_help``, IPv4, UDP and TCP, and the igb driver's TSO header
fix-ups. (The link partner in ``sim/assembly/partner`` keeps its own
checksum on purpose: an independent oracle.)

Sums are "folded": 16-bit, uncomplemented one's-complement sums of
big-endian words, with 0xFFFF standing for the negative zero of non-zero
data; ``csum_fold`` complements a folded sum into the value a header holds.
"""
from __future__ import annotations

__all__ = ["CSUM_MANGLED_0", "csum_add", "csum_partial", "csum_fold", "ip_fast_csum", "csum_tcpudp_nofold",
           "csum_tcpudp_magic", "csum_replace_by_diff"]

#: What a UDP checksum of 0 is sent as (0 means "no checksum").
CSUM_MANGLED_0 = 0xFFFF


def csum_add(a: int, b: int) -> int:
    """One's complement sum of two folded 16-bit sums."""
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def csum_partial(data, initial: int = 0) -> int:
    """Folded (16-bit, uncomplemented) one's complement sum of ``data`` (zero-padded to even) + ``initial``.

    The sum of big-endian 16-bit words with end-around carry equals the
    data's value as a big integer modulo 0xFFFF (2**16 = 1 mod 0xFFFF),
    with 0xFFFF standing for the "negative zero" of non-zero data.
    """
    if len(data) & 1:
        data = bytes(data) + b"\0"
    n = int.from_bytes(data, "big")
    s = n % 0xFFFF
    if s == 0 and n:
        s = 0xFFFF
    return csum_add(s, initial) if initial else s


def csum_fold(s: int) -> int:
    """``csum_fold``: the complemented 16-bit checksum of a folded sum."""
    return ~s & 0xFFFF


def ip_fast_csum(hdr) -> int:
    """``ip_fast_csum``: the header checksum over ``hdr`` (0 when ``hdr`` carries a valid one)."""
    return csum_fold(csum_partial(hdr))


def csum_tcpudp_nofold(saddr: int, daddr: int, length: int, proto: int, s: int = 0) -> int:
    """Pseudo-header sum (saddr, daddr, proto, length) + ``s``, folded, uncomplemented."""
    p = (saddr >> 16) + (saddr & 0xFFFF) + (daddr >> 16) + (daddr & 0xFFFF) + proto + length
    while p >> 16:
        p = (p & 0xFFFF) + (p >> 16)
    return csum_add(p, s) if s else p


def csum_tcpudp_magic(saddr: int, daddr: int, length: int, proto: int, s: int = 0) -> int:
    """``csum_tcpudp_magic``: the complemented checksum with the pseudo-header."""
    return csum_fold(csum_tcpudp_nofold(saddr, daddr, length, proto, s))


def csum_replace_by_diff(check: int, diff: int) -> int:
    """``csum_replace_by_diff(&check, diff)``: ``csum_fold(csum_add(diff, ~csum_unfold(check)))``.

    One's-complement ``check - diff``, with Linux's representation of the
    result (``csum_fold`` never yields 0xFFFF, so a zero difference is 0).
    Values are the big-endian readings of the fields (the sum is byte-order
    independent).
    """
    s = diff + (~check & 0xFFFFFFFF)               # csum_add(diff, ~csum_unfold(*sum)), 32 bits
    s = (s & 0xFFFFFFFF) + (s >> 32)
    s = (s & 0xFFFF) + (s >> 16)                   # csum_fold
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


