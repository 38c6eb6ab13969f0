"""What frames and checksums must be, computed independently of the model: scapy, zlib and RFC 1071 only.

Shared by the tests that check frames byte for byte (the NIC's offloads,
TSO and property tests, the driver's transmit matrix, the device layer):
the FCS checked with ``zlib.crc32``, checksums recomputed by scapy or
summed here word by word (RFC 1071), deterministic payloads and the
documentation addresses the packets use (RFC 5737 / RFC 3849). Nothing here
imports the model, so a model bug cannot hide in its own oracle.
"""
import struct
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


def ones_sum(data: bytes) -> int:
    """RFC 1071: the folded 16-bit one's-complement sum of ``data`` (zero-padded to even), uncomplemented."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def read_vcd(path) -> dict[str, list[tuple[int, int]]]:
    """{dotted signal name: [(time, value), ...]} of a VCD file, read with pyvcd's tokenizer.

    Every declared signal is a key (an empty list if it never changed). An
    independent reader: it shares nothing with the project's VCD writers.
    """
    from vcd.reader import TokenKind, tokenize  # pyvcd: only the tests that read VCDs need it
    scopes, ids, values, t = [], {}, {}, 0
    with open(path, "rb") as f:
        for tok in tokenize(f):
            if tok.kind is TokenKind.SCOPE:
                scopes.append(tok.scope.ident)
            elif tok.kind is TokenKind.UPSCOPE:
                scopes.pop()
            elif tok.kind is TokenKind.VAR:
                ids[tok.var.id_code] = ".".join(scopes + [tok.var.reference])
            elif tok.kind is TokenKind.CHANGE_TIME:
                t = tok.time_change
            elif tok.kind in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR):
                v = tok.scalar_change if tok.kind is TokenKind.CHANGE_SCALAR else tok.vector_change
                values.setdefault(ids[v.id_code], []).append((t, int(v.value)))
    return {name: values.get(name, []) for name in ids.values()}
