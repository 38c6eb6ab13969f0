"""The payload of a run as a stream: seeded random bytes, any range on demand, and its incremental check.

:class:`PayloadStream` is ``size`` bytes that are never all in memory: the
stream is cut into blocks of :data:`BLOCK` bytes and block ``k`` is
``random.Random("igbsim-payload:<seed>:<k>").randbytes(BLOCK)`` (a string
seed goes through SHA-512, so the bytes do not depend on the Python hash
seed). Any range can be produced in any order and gives the same bytes;
``stream[a:b]`` is ``bytes``. A run's size is then limited by time, not RAM.

:class:`StreamCheck` compares bytes received in order with the stream as
they arrive (no copy of either is kept): it counts them and remembers the
first byte that differs. :class:`DatagramCheck` does the same for datagrams
that are whole consecutive chunks of the stream, some possibly lost.
"""
from __future__ import annotations

import random

__all__ = ["BLOCK", "DatagramCheck", "PayloadStream", "StreamCheck"]

#: Bytes per generated block (also the most a stream keeps cached).
BLOCK = 65536


class PayloadStream:
    """``size`` seeded random bytes, produced block by block on demand (module docstring)."""

    def __init__(self, seed: int, size: int):
        if size < 0:
            raise ValueError(f"negative payload size {size}")
        self.seed = seed
        self.size = size
        self._k = -1
        self._block = b""

    def __len__(self) -> int:
        return self.size

    def block(self, k: int) -> bytes:
        """Block ``k`` (the last one of the stream may be longer than what the stream uses of it)."""
        if k != self._k:
            self._block = random.Random(f"igbsim-payload:{self.seed}:{k}").randbytes(BLOCK)
            self._k = k
        return self._block

    def read(self, pos: int, n: int) -> bytes:
        """Bytes ``pos`` .. ``pos + n`` (clipped to the stream's end)."""
        end = min(self.size, pos + n)
        if pos < 0 or pos >= end:
            return b""
        k0, k1 = pos // BLOCK, (end - 1) // BLOCK
        if k0 == k1:
            off = k0 * BLOCK
            return self.block(k0)[pos - off:end - off]
        parts = []
        for k in range(k0, k1 + 1):
            off = k * BLOCK
            parts.append(self.block(k)[max(pos, off) - off:min(end, off + BLOCK) - off])
        return b"".join(parts)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step != 1:
                raise ValueError("a payload stream is sliced with step 1 only")
            return self.read(start, stop - start)
        if key < 0:
            key += self.size
        if not 0 <= key < self.size:
            raise IndexError(key)
        return self.read(key, 1)[0]


class _Verdict:
    """What both checks answer from ``expected``, ``received`` and ``first_difference``."""

    expected = b""
    received = 0
    first_difference: int | None = None

    @property
    def ok(self) -> bool:
        """No byte so far differs from the one sent."""
        return self.first_difference is None

    @property
    def complete(self) -> bool:
        """Every byte arrived and none differs."""
        return self.ok and self.received == len(self.expected)


class StreamCheck(_Verdict):
    """Bytes received in order, checked against ``expected`` (a PayloadStream, or bytes) as they come."""

    def __init__(self, expected):
        self.expected = expected
        self.received = 0
        #: Offset of the first byte that differs from the one sent (or lies past the end), None if none.
        self.first_difference: int | None = None

    def feed(self, data: bytes) -> None:
        n = len(data)
        pos = self.received
        self.received += n
        if self.first_difference is not None or not n:
            return
        want = self.expected[pos:pos + n]
        if want == data:
            return
        for i, (a, b) in enumerate(zip(want, data)):
            if a != b:
                self.first_difference = pos + i
                return
        self.first_difference = pos + len(want)   # more bytes than were sent

class DatagramCheck(_Verdict):
    """Datagrams that are the consecutive ``chunk``-byte pieces of ``expected``, in order, some lost.

    Each datagram must be the piece at or after the one that followed the
    previous datagram; ``received`` counts their bytes, ``lost`` the pieces
    skipped. The first datagram that is no next piece stops the check
    (``first_difference``: its offset in the received bytes).
    """

    def __init__(self, expected, chunk: int):
        self.expected = expected
        self.chunk = chunk
        self.received = 0
        self.datagrams = 0
        self.lost = 0
        self._next = 0          # offset in ``expected`` of the next piece
        self.first_difference: int | None = None

    def feed(self, data: bytes) -> None:
        pos = self.received
        self.received += len(data)
        self.datagrams += 1
        if self.first_difference is not None:
            return
        size = len(self.expected)
        off = self._next
        while off < size:
            if self.expected[off:off + self.chunk] == data:
                self.lost += (off - self._next) // self.chunk
                self._next = off + self.chunk
                return
            off += self.chunk
        self.first_difference = pos
