"""Failure injection for the kernel API: make the n-th next call, or the calls a predicate picks, fail.

Drivers must survive a failing ``dma_map_single`` (igb_tx_map's ``dma_error``
unwind), a failing ``dma_alloc_coherent`` or ``vmalloc`` (-ENOMEM from
igb_setup_tx_resources), and fewer interrupt vectors than asked for (the
MSI-X -> MSI -> INTx fallback). Tests arm a failure point and the API call
then fails the Linux way (DMA_MAPPING_ERROR, NULL, no vectors) instead of
raising — like the kernel's own fault injection (``failslab``,
``fail_page_alloc``).

Points: ``dma_map`` (dma_map_single/dma_map_page), ``dma_alloc_coherent``,
``kzalloc``, ``vmalloc`` (vmalloc and vzalloc), ``pci_alloc_irq_vectors``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

__all__ = ["FailureRequest", "FaultInjection", "FAILURE_POINTS"]

FAILURE_POINTS = ("dma_map", "dma_alloc_coherent", "kzalloc", "vmalloc", "pci_alloc_irq_vectors")


@dataclass(frozen=True)
class FailureRequest:
    """What is being asked for, as a predicate sees it."""

    point: str
    owner: str
    size: int
    direction: object = None   # a DmaDirection for dma_map
    addr: int | None = None     # the CPU address being mapped


class _Rule:
    """One armed failure: fire on the ``countdown``-th matching call (one shot), or on every match."""

    __slots__ = ("countdown", "when")

    def __init__(self, countdown: int | None, when: Callable[[FailureRequest], bool] | None):
        self.countdown = countdown
        self.when = when


class FaultInjection:
    """Armed failure rules per point; :meth:`should_fail` is asked by every fallible call."""

    def __init__(self):
        self._rules: dict[str, list[_Rule]] = {p: [] for p in FAILURE_POINTS}
        self.injected: Counter = Counter()

    def arm(self, point: str, after: int | None = None,
            when: Callable[[FailureRequest], bool] | None = None) -> None:
        """Arm ``point``.

        ``after=n`` (n >= 1): the n-th next call fails, once (``after=1`` is
        the very next call; ``after=3`` lets two succeed). ``when=pred``:
        every call with ``pred(request)`` true fails until :meth:`clear`.
        Both: the n-th next call that matches ``pred`` fails, once.
        """
        if point not in self._rules:
            raise ValueError(f"unknown failure point {point!r}; choose one of: {', '.join(FAILURE_POINTS)}")
        if after is None and when is None:
            raise ValueError("arm a failure with after=n, when=predicate, or both")
        if after is not None and (not isinstance(after, int) or after < 1):
            raise ValueError(f"after must be an integer >= 1 (1 = the next call), got {after!r}")
        self._rules[point].append(_Rule(after, when))

    def clear(self, point: str | None = None) -> None:
        """Disarm ``point`` (or every point)."""
        for p in ([point] if point else FAILURE_POINTS):
            self._rules[p].clear()

    def should_fail(self, request: FailureRequest) -> bool:
        """True if an armed rule makes this call fail (one-shot rules are consumed)."""
        rules = self._rules[request.point]
        if not rules:
            return False
        fail = False
        for rule in list(rules):
            if rule.when is not None and not rule.when(request):
                continue
            if rule.countdown is None:
                fail = True
                continue
            rule.countdown -= 1
            if rule.countdown == 0:
                rules.remove(rule)
                fail = True
        if fail:
            self.injected[request.point] += 1
        return fail
