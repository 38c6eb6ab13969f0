"""Loss on the partner's receive side: frames or TCP data segments dropped by index or at random."""
from __future__ import annotations

import random
from fractions import Fraction

__all__ = ["RxLoss"]


class RxLoss:
    """Which received frames the partner loses (as if the wire dropped them).

    ``frames``: 1-based indices of received frames to drop (every frame
    counts: ARP, IP, ...). ``data_segments``: 1-based indices of TCP segments
    with payload (counted over all connections, before the drop decision).
    ``prob``: probability of losing any frame, as a fraction with denominator
    at most ``resolution``; decided with ``engine.choose_index`` (recorded
    and replayable) unless ``seed`` is given, then by ``random.Random(seed)``.
    """

    def __init__(self, frames=(), data_segments=(), prob: float = 0.0, seed: int | None = None,
                 resolution: int = 1_000_000):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"loss probability {prob}")
        self.frames = frozenset(frames)
        self.data_segments = frozenset(data_segments)
        self.prob = Fraction(prob).limit_denominator(resolution)
        self._rng = random.Random(seed) if seed is not None else None
        self.frame_index = 0
        self.data_index = 0

    def drop_frame(self, engine) -> bool:
        """Called once per received frame."""
        self.frame_index += 1
        if self.frame_index in self.frames:
            return True
        p = self.prob
        if p == 0:
            return False
        if p == 1:
            return True
        n = self._rng.randrange(p.denominator) if self._rng is not None else \
            engine.choose_index(p.denominator, "partner rx loss")
        return n < p.numerator

    def drop_data_segment(self) -> bool:
        """Called once per received TCP segment carrying data."""
        self.data_index += 1
        return self.data_index in self.data_segments
