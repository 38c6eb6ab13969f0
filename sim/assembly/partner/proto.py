"""What the link partner reads and writes on the wire: protocol numbers, header layouts, addresses.

Written from the RFCs and IEEE 802.3 (``struct`` layouts in network byte
order), independently of the kernel stack's definitions, so that the partner
checks our host's frames rather than agreeing with them by construction.
"""
from __future__ import annotations

import socket
import struct

__all__ = ["PS_PER_MS", "PS_PER_S", "ETH_P_IP", "ETH_P_ARP", "ETH_P_8021Q", "BROADCAST", "IP_BROADCAST",
           "IPPROTO_TCP", "IPPROTO_UDP", "FIN", "SYN", "RST", "PSH", "ACK", "M32", "ETH_HDR", "ARP_PKT",
           "IP_HDR", "UDP_HDR", "TCP_HDR", "TS_OPT", "mac_bytes", "ip_bytes", "ip_str"]

PS_PER_MS = 1_000_000_000
PS_PER_S = 1_000_000_000_000

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
BROADCAST = b"\xff" * 6
IP_BROADCAST = b"\xff" * 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

M32 = 0xFFFF_FFFF
ETH_HDR = struct.Struct("!6s6sH")
ARP_PKT = struct.Struct("!HHBBH6s4s6s4s")
IP_HDR = struct.Struct("!BBHHHBBH4s4s")
UDP_HDR = struct.Struct("!HHHH")
TCP_HDR = struct.Struct("!HHIIHHHH")
TS_OPT = struct.Struct("!BBBBII")   # NOP NOP kind len TSval TSecr


def mac_bytes(mac) -> bytes:
    """``"02:00:00:00:00:01"`` or 6 bytes → 6 bytes."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"MAC address of {len(mac)} bytes")
        return bytes(mac)
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"bad MAC address {mac!r}")
    return bytes(int(p, 16) for p in parts)


def ip_bytes(ip) -> bytes:
    """``"10.0.0.2"`` or 4 bytes → 4 bytes."""
    if isinstance(ip, (bytes, bytearray)):
        if len(ip) != 4:
            raise ValueError(f"IPv4 address of {len(ip)} bytes")
        return bytes(ip)
    return socket.inet_aton(ip)


def ip_str(ip: bytes) -> str:
    """4 bytes → ``"10.0.0.2"``."""
    return socket.inet_ntoa(ip)
