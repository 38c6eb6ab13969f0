"""What the NIC's output must be, computed independently of the model: scapy and zlib only.

Shared by the NIC tests that check frames byte for byte (offloads, TSO,
the property tests): the FCS checked with ``zlib.crc32``, checksums
recomputed by scapy, deterministic payloads and the documentation
addresses the packets use (RFC 5737 / RFC 3849). Nothing here imports the
model, so a model bug cannot hide in its own oracle.
"""
import zlib

from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import raw

MAC = dict(src="00:1b:21:00:00:01", dst="00:1b:21:00:00:02")
V4 = dict(src="192.0.2.1", dst="198.51.100.7")
V6 = dict(src="2001:db8::1", dst="2001:db8:1::7")


def payload_bytes(n: int, salt: int = 0) -> bytes:
    """Deterministic, non-periodic payload (a shifted segment would not compare equal)."""
    return bytes((i * 7 + (i >> 8) + salt) & 0xFF for i in range(n))


def strip_fcs(frame: bytes) -> bytes:
    """The frame without its FCS, after checking the FCS with zlib.crc32."""
    body, fcs = frame[:-4], frame[-4:]
    assert fcs == (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "little"), "bad FCS"
    return body


def rechecked(pkt):
    """The same packet with IP/TCP/UDP checksums recomputed by scapy."""
    p = pkt.copy()
    for layer in (IP, TCP, UDP):
        if layer in p:
            del p[layer].chksum
    return p.__class__(raw(p))


def assert_checksums_valid(pkt) -> None:
    """IP header and L4 checksums of ``pkt`` equal what scapy computes for the same bytes."""
    ref = rechecked(pkt)
    if IP in pkt:
        assert pkt[IP].chksum == ref[IP].chksum, "IPv4 header checksum"
    for layer in (TCP, UDP):
        if layer in pkt:
            assert pkt[layer].chksum == ref[layer].chksum, f"{layer.__name__} checksum"
