"""Datasheet arithmetic the scoreboard checks timing against: line rate, PCIe data rate, TLP sizes.

Every figure is written out here from its source, not read from the model:
the wire (IEEE 802.3: 8 bytes of preamble/SFD and a 12-byte inter-packet gap
around every frame, 1000 Mb/s on both profiles) and PCIe (the 82576 is a
PCIe 2.5 GT/s x4 device, the I210 2.5 GT/s x1; 8b/10b encoding puts 10 line
bits on a lane per data byte). Two bounds are not datasheet figures and are
marked UNCONFIRMED: how long a DMA read round trip and a posted write's
flight may take; both are set well above the usual values, so a check using
them fails only on behaviour far from any real system.
"""
from __future__ import annotations

__all__ = ["LINE_RATE_BPS", "LINK", "byte_time_ps", "wire_ps", "tlp_bytes", "dma_cost",
           "READ_ROUND_TRIP_MAX_PS", "POSTED_LATENCY_MAX_PS", "TLP_OVERHEAD", "LATENCY_SLACK_PS"]

LINE_RATE_BPS = 1_000_000_000          # 1000BASE-T, both profiles
PREAMBLE_SFD, IPG = 8, 12              # bytes around every frame on the wire (IEEE 802.3)
#: PCIe per profile: (GT/s, lanes). 82576: PCIe v2.0 (2.5 GT/s) x4; I210: PCIe v2.1 (2.5 GT/s) x1.
LINK = {"82576": (2.5, 4), "i210": (2.5, 1)}
TLP_OVERHEAD = 1.25                    # upper bound on header/framing per data byte (>= 128-byte payloads)
#: Upper bound on the bytes a TLP adds to its payload on the link: a 4-DW header (64-bit address),
#: ECRC 4, sequence number 2, LCRC 4, 2 framing symbols (PCIe base spec, gen1/gen2), and one 8-byte
#: DLLP (Ack or UpdateFC) sharing the direction; one TLP per 128 bytes of payload at most.
TLP_FIXED_BYTES, TLP_MAX_PAYLOAD = 36, 128
#: Upper bound on one DMA read round trip (request to first completion). UNCONFIRMED: host
#: memory latency is not a datasheet figure; 2 us is over twice the usual figure for PCIe gen1.
READ_ROUND_TRIP_MAX_PS = 2_000_000
#: Upper bound on a posted write's flight time (sent to visible). UNCONFIRMED, like the above: a
#: message a register read pushes out lands that much earlier than it would have.
POSTED_LATENCY_MAX_PS = 1_000_000
LATENCY_SLACK_PS = 1_000_000


def byte_time_ps(profile: str) -> float:
    """Picoseconds per data byte on the PCIe link: 8b/10b sends 10 bits per byte per lane."""
    gt, lanes = LINK[profile.lower()]
    return 10 / (gt * lanes) * 1000      # 10 bits / (GT/s * lanes) in ns -> ps


def wire_ps(frame_len: int) -> int:
    """Wire time of a frame (its bytes as sent, FCS included) at the line rate, with preamble and IPG."""
    return (frame_len + PREAMBLE_SFD + IPG) * 8 * 10**12 // LINE_RATE_BPS


def tlp_bytes(n: int) -> int:
    """Link bytes of a posted write of ``n`` data bytes (split into TLPs of at most 128 bytes)."""
    return n + TLP_FIXED_BYTES * max(1, -(-n // TLP_MAX_PAYLOAD))


def dma_cost(batch) -> tuple[int, int]:
    """(buffer reads, bytes over the link) a batch of requests may cost the NIC at most.

    ``batch`` holds postings (``.pkt`` a TxPacket, ``.n`` descriptors) or
    SkbSpecs (the linear part and each frag a buffer; a context descriptor
    and one data descriptor per buffer).
    """
    reads = nbytes = 0
    for src in batch:
        pkt = getattr(src, "pkt", None)
        if pkt is not None:
            reads += len(pkt.buffers)
            nbytes += 16 * src.n + len(pkt.frame)
        else:
            reads += 1 + src.nr_frags
            nbytes += 16 * (2 + src.nr_frags) + len(src.frame)
    return reads, nbytes
