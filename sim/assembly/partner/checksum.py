"""The partner's own Internet checksum (RFC 1071): the oracle for our host's checksums.

Deliberately independent of the kernel side's checksum code (a different
algorithm: the data as one big number modulo 0xFFFF), so a checksum bug in
the stack, the driver or the NIC model cannot hide by being computed the same
wrong way on both ends.
"""
from __future__ import annotations

import struct

__all__ = ["inet_checksum", "checksum_ok", "pseudo_header"]


def inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: one's complement of the one's-complement sum.

    Computed as the big number ``data`` modulo 0xFFFF (2**16 ≡ 1), which is the
    one's-complement sum with 0 read as 0xFFFF unless every word is zero.
    """
    if len(data) & 1:
        data = bytes(data) + b"\0"
    x = int.from_bytes(data, "big")
    s = x % 0xFFFF
    if s == 0 and x:
        s = 0xFFFF
    return ~s & 0xFFFF


def checksum_ok(data: bytes) -> bool:
    """True if ``data`` (checksum field included) sums to 0xFFFF in one's complement."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    x = int.from_bytes(data, "big")
    return x != 0 and x % 0xFFFF == 0


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    """The IPv4 pseudo-header a TCP/UDP checksum covers: addresses, zero, protocol, L4 length."""
    return src + dst + struct.pack("!BBH", 0, proto, length)
