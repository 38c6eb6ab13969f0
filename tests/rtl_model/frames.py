"""Test frames for the NIC-alone tests: a unicast Ethernet frame with a tag byte, and the tags seen on the wire."""


def frame(n_bytes: int, tag: int = 0) -> bytes:
    """An Ethernet frame of ``n_bytes`` without FCS: unicast dst, ``tag`` at byte 14, zero padding."""
    body = bytes([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, tag])
    return body + bytes(n_bytes - len(body))


def tags(h) -> list[int]:
    """The tag of every frame the NIC test host captured on the wire, in wire order."""
    return [f[14] for f, _, _ in h.wire]
