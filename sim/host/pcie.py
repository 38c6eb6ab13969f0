"""PCIe link timing for device DMA: how long a read or write of n bytes takes.

A transfer is split into TLPs by the PCIe rules, each TLP costs its payload
plus a fixed framing overhead on the wire, and a fixed latency is added:

* byte time: ``8 * (line bits per bit) * (1 / GT/s) / lanes``; 8b/10b
  (2.5 and 5 GT/s) puts 10 line bits on the wire per 8, 128b/130b (8 GT/s and
  up) 130 per 128. Kept exact as a :class:`~fractions.Fraction`; a transfer's
  total is rounded *up* to whole picoseconds once, at the end.
* TLP overhead: 20 bytes with a 3DW header, 24 with a 4DW one. At 2.5/5 GT/s
  that is STP framing 1 + sequence number 2 + header 12/16 + LCRC 4 + END 1;
  at 8 GT/s+ it is STP token 4 (carrying the sequence number) + header 12/16 +
  LCRC 4, the same totals. A memory request uses the 4DW (64-bit address)
  header only when its address is at or above 4 GiB, as the spec requires;
  completions always have a 3DW header. Not modelled: ECRC, DLLPs (ACK/NAK,
  flow-control updates), SKP ordered sets, flow-control credit stalls.
* Splitting: a read request carries at most MRRS bytes and a write TLP at
  most MPS bytes, and no request crosses a 4 KiB boundary. Splits are greedy
  (each TLP as large as the rules allow). The completer answers a read request
  with completions of at most MPS bytes, each (but the last) ending on an
  RCB-aligned address.
* ``dma_read_time_ps`` = ``read_latency_ps`` + first request TLP + all
  completion TLPs: requests are pipelined, so the latency counts once and only
  the first request delays the data. ``dma_write_time_ps`` = all write TLPs +
  ``posted_write_latency_ps``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["PcieLink", "PCIE_82576", "PCIE_I210", "FOUR_GIB"]

FOUR_GIB = 1 << 32
_BOUNDARY = 4096  # no request may cross a 4 KiB address boundary

#: Link encoding by signalling rate (GT/s): gen1/gen2 8b/10b, gen3+ 128b/130b.
_ENCODING_FOR_GT = {
    Fraction(5, 2): "8b10b", Fraction(5): "8b10b",
    Fraction(8): "128b130b", Fraction(16): "128b130b", Fraction(32): "128b130b",
}
#: Line bits sent per data bit.
_LINE_BITS_PER_BIT = {"8b10b": Fraction(10, 8), "128b130b": Fraction(130, 128)}
_LANES = (1, 2, 4, 8, 16, 32)


def _power_of_two_in(value: int, lo: int, hi: int) -> bool:
    """True for an int power of two within ``[lo, hi]``."""
    return isinstance(value, int) and lo <= value <= hi and not value & (value - 1)


@dataclass(frozen=True, slots=True)
class PcieLink:
    """One PCIe link's parameters and the DMA timing that follows from them.

    Defaults describe the 82576: PCIe 2.5 GT/s x4 (the datasheet's link). The
    numbers below are configurable, and are UNCONFIRMED for a real 82576
    system:

    * ``max_payload_bytes`` (MPS) 256: the effective MPS is the smallest any
      device on the path supports and is set by firmware/Linux; 256 is the
      common value for root ports of the 82576's era, 128 is also seen.
    * ``max_read_request_bytes`` (MRRS) 512: the spec's reset default of the
      Device Control register, which igb does not change; firmware may.
    * ``read_completion_boundary_bytes`` (RCB) 64: the usual root-port value.
      Some root complexes always answer in 64-byte completions, which costs
      more overhead than the "up to MPS" completions modelled here.
    * ``read_latency_ps`` 600 ns (read request to first completion),
      ``posted_write_latency_ps`` 150 ns (write TLP sent to data visible in
      memory), ``mmio_read_latency_ps`` 1 us (CPU load of a device register,
      round trip): estimates of the order published for Intel server
      platforms (DMA read latencies of roughly 0.5-1 us, uncached MMIO reads
      around a microsecond), not measurements of an 82576 system.

    ``encoding`` may be left empty and is then derived from ``gt_per_s``;
    if given it must match.
    """

    gt_per_s: float = 2.5
    lanes: int = 4
    encoding: str = ""
    max_payload_bytes: int = 256
    max_read_request_bytes: int = 512
    read_completion_boundary_bytes: int = 64
    tlp_overhead_3dw_bytes: int = 20
    tlp_overhead_4dw_bytes: int = 24
    read_latency_ps: int = 600_000
    posted_write_latency_ps: int = 150_000
    mmio_read_latency_ps: int = 1_000_000
    _byte_num: int = field(init=False, repr=False, compare=False)
    _byte_den: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate_link()
        self._validate_sizes()
        self._validate_times()
        bits = _LINE_BITS_PER_BIT[self.encoding]
        byte_ps = 8 * bits * 1000 / Fraction(self.gt_per_s) / self.lanes
        object.__setattr__(self, "_byte_num", byte_ps.numerator)
        object.__setattr__(self, "_byte_den", byte_ps.denominator)

    # --- validation --------------------------------------------------------
    def _validate_link(self) -> None:
        """Known rate, lane count and a matching encoding (derived if empty)."""
        if not isinstance(self.gt_per_s, (int, float)) or Fraction(self.gt_per_s) not in _ENCODING_FOR_GT:
            raise ValueError(f"gt_per_s={self.gt_per_s!r}: PCIe rates are 2.5, 5, 8, 16 or 32 GT/s")
        if self.lanes not in _LANES:
            raise ValueError(f"lanes={self.lanes!r}: a PCIe link has 1, 2, 4, 8, 16 or 32 lanes")
        expected = _ENCODING_FOR_GT[Fraction(self.gt_per_s)]
        if not self.encoding:
            object.__setattr__(self, "encoding", expected)
        elif self.encoding != expected:
            raise ValueError(f"encoding={self.encoding!r} does not match {self.gt_per_s} GT/s, "
                             f"which uses {expected!r}")

    def _validate_sizes(self) -> None:
        """MPS/MRRS powers of two in 128..4096, RCB 64 or 128, sane overheads."""
        for name in ("max_payload_bytes", "max_read_request_bytes"):
            value = getattr(self, name)
            if not _power_of_two_in(value, 128, 4096):
                raise ValueError(f"{name}={value!r}: must be a power of two from 128 to 4096")
        if self.read_completion_boundary_bytes not in (64, 128):
            raise ValueError(f"read_completion_boundary_bytes={self.read_completion_boundary_bytes!r}:"
                             " RCB is 64 or 128 bytes")
        o3, o4 = self.tlp_overhead_3dw_bytes, self.tlp_overhead_4dw_bytes
        if not (isinstance(o3, int) and isinstance(o4, int) and 0 < o3 <= o4):
            raise ValueError(f"TLP overheads 3DW={o3!r}, 4DW={o4!r}: need integers 0 < 3DW <= 4DW")

    def _validate_times(self) -> None:
        """Latencies are non-negative integer picoseconds."""
        for name in ("read_latency_ps", "posted_write_latency_ps", "mmio_read_latency_ps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r}: must be a non-negative integer (ps)")

    # --- basic quantities -------------------------------------------------
    @property
    def byte_time_ps(self) -> Fraction:
        """Exact time of one byte on the link, in ps (gen1 x4: 1000)."""
        return Fraction(self._byte_num, self._byte_den)

    def wire_time_ps(self, nbytes: int) -> int:
        """Serialisation time of ``nbytes`` bytes, rounded up to whole ps."""
        return -(-nbytes * self._byte_num // self._byte_den)

    def tlp_overhead_bytes(self, addr: int) -> int:
        """Framing overhead of a memory request TLP at ``addr`` (4DW at/above 4 GiB)."""
        return self.tlp_overhead_4dw_bytes if addr >= FOUR_GIB else self.tlp_overhead_3dw_bytes

    # --- splitting -----------------------------------------------------------
    def split_read(self, addr: int, n: int) -> list[tuple[int, int]]:
        """Read requests ``(addr, n)``: at most MRRS each, none crossing 4 KiB."""
        return _split(addr, n, self.max_read_request_bytes)

    def split_write(self, addr: int, n: int) -> list[tuple[int, int]]:
        """Write TLPs ``(addr, n)``: at most MPS each, none crossing 4 KiB."""
        return _split(addr, n, self.max_payload_bytes)

    def read_completions(self, addr: int, n: int) -> list[tuple[int, int]]:
        """Completion payloads ``(addr, n)`` answering the read of ``n`` bytes.

        Per request: one completion if it fits in MPS, else completions of at
        most MPS bytes, each but the last ending on an RCB-aligned address.
        """
        mps, rcb = self.max_payload_bytes, self.read_completion_boundary_bytes
        out: list[tuple[int, int]] = []
        for req_addr, req_n in self.split_read(addr, n):
            pos, end = req_addr, req_addr + req_n
            while pos < end:
                stop = end if end - pos <= mps else (pos + mps) // rcb * rcb
                out.append((pos, stop - pos))
                pos = stop
        return out

    # --- timing ----------------------------------------------------------------
    def dma_read_time_ps(self, addr: int, n: int) -> int:
        """Device read of ``n`` bytes at ``addr``: request to last data byte in."""
        if n == 0:
            return 0
        cpl = self.tlp_overhead_3dw_bytes
        wire = self.tlp_overhead_bytes(addr)  # first read request (no payload)
        for _, k in self.read_completions(addr, n):
            wire += k + cpl
        return self.read_latency_ps + self.wire_time_ps(wire)

    def dma_write_time_ps(self, addr: int, n: int) -> int:
        """Device write of ``n`` bytes at ``addr``: first TLP out to data in memory."""
        if n == 0:
            return 0
        wire = 0
        for a, k in self.split_write(addr, n):
            wire += k + self.tlp_overhead_bytes(a)
        return self.wire_time_ps(wire) + self.posted_write_latency_ps


def _split(addr: int, n: int, max_bytes: int) -> list[tuple[int, int]]:
    """Greedy split of ``[addr, addr + n)`` into pieces of at most ``max_bytes``
    that never cross a 4 KiB boundary."""
    if addr < 0 or n < 0:
        raise ValueError(f"bad transfer addr={addr:#x} n={n}")
    out: list[tuple[int, int]] = []
    end = addr + n
    while addr < end:
        k = min(end - addr, max_bytes, _BOUNDARY - (addr & (_BOUNDARY - 1)))
        out.append((addr, k))
        addr += k
    return out


#: Intel 82576: PCIe 2.5 GT/s x4, defaults as documented on :class:`PcieLink`.
PCIE_82576 = PcieLink()
#: Intel I210: PCIe 2.5 GT/s x1, other parameters as for the 82576.
PCIE_I210 = PcieLink(gt_per_s=2.5, lanes=1)
