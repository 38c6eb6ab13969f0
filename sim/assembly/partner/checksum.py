"""The partner's own Internet checksum (RFC 1071): the oracle for our host's checksums.

Its own code, shared with nothing on our host's side (the stack's
``csum_partial`` and the NIC's ``ones_complement_sum`` use the same
arithmetic — the data as one big number modulo 0xFFFF — but not this
function), so a bug in either cannot reach the partner's verdict; the tests'
reference, ``tests/oracle.ones_sum``, sums word by word as RFC 1071 does.
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
