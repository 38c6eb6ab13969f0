"""Address conversion: IPv4 addresses as ints (host order), MAC addresses as 6 bytes.

The kernel keeps an IPv4 address as one integer (``__be32``); the model
keeps it as a Python ``int`` in host order everywhere below the socket
calls, and converts text only at the edges: the socket calls' addresses,
the ``ip`` command's prefixes (:mod:`stack.ipv4.iproute2`), log and report
output. Of these, ``in_aton`` is ``net/core/utils.c``'s and
``inet_make_mask`` ``include/linux/inetdevice.h``'s; ``mac_aton`` does what
``lib/net_utils.c``'s ``mac_pton`` does; ``in_ntoa`` prints what
the kernel's ``%pI4`` prints; ``inet_addr`` (an int or a dotted
string, as an int) and ``inet_prefix`` (``"10.0.0.1/24"``) are the model's
own, for the calls that accept either form.
"""
from __future__ import annotations

import socket as _socket
import struct

__all__ = ["in_aton", "in_ntoa", "inet_addr", "inet_prefix", "inet_make_mask", "mac_aton"]


def in_aton(text: str) -> int:
    """Dotted quad -> int (host order)."""
    return struct.unpack("!I", _socket.inet_aton(text))[0]


def in_ntoa(addr: int) -> str:
    """int (host order) -> dotted quad."""
    return _socket.inet_ntoa(struct.pack("!I", addr & 0xFFFFFFFF))


def inet_addr(addr) -> int:
    """An address given as int or dotted string, as an int."""
    if isinstance(addr, str):
        return in_aton(addr)
    if not 0 <= addr <= 0xFFFFFFFF:
        raise ValueError(f"not an IPv4 address: {addr!r}")
    return addr


def inet_make_mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def inet_prefix(text: str) -> tuple[int, int]:
    """"10.0.0.1/24" -> (address, 24); no "/len" means /32; "default" is 0.0.0.0/0."""
    if text == "default":
        return 0, 0
    addr, _, plen = text.partition("/")
    n = int(plen) if plen else 32
    if not 0 <= n <= 32:
        raise ValueError(f"bad prefix length in {text!r}")
    return in_aton(addr), n


def mac_aton(mac) -> bytes:
    """"02:00:00:00:00:01" (or 6 bytes) -> 6 bytes."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"a MAC address is 6 bytes, not {len(mac)}")
        return bytes(mac)
    out = bytes(int(x, 16) for x in mac.split(":"))
    if len(out) != 6:
        raise ValueError(f"bad MAC address {mac!r}")
    return out

