"""Kernel bug reports: what Linux prints with ``BUG()`` or a KASAN report, and the path it stops.

Linux stops the offending path when it detects a bug (``BUG()`` oopses the
task; KASAN prints "BUG: KASAN: use-after-free in <function>" with the
access, the CPU and the task, and with ``panic_on_warn`` stops). The model
does the same in two steps:

* :func:`report_bug` records a :class:`BugReport` — what, when (simulated
  ps), on which CPU and in which execution context, at which site, about
  which kernel address — in ``ctx.bugs``, the list of the execution context
  the stack and the driver share (``kernel.bugs`` in a whole system), and
  logs it;
* the caller raises the :class:`KernelBug` subclass it returns, which ends
  the path as the oops would. A run can then show every report, and a test
  can assert on its fields.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

__all__ = ["KernelBug", "UseAfterFree", "BugReport", "report_bug"]

log = logging.getLogger("igbsim.kernel.bug")


@dataclass(frozen=True)
class BugReport:
    """One detected kernel bug, with the fields a KASAN report leads with."""

    kind: str          # "use-after-free", …
    time_ps: int
    cpu: int
    context: str       # the CPU's execution context ("softirq:NET_RX", "task:…", …)
    site: str          # the function that did the faulting access
    address: int       # the kernel address (an skb handle for skbs)
    detail: str

    def __str__(self) -> str:
        return (f"BUG: {self.kind} in {self.site} at {self.address:#x} on cpu{self.cpu} "
                f"({self.context}) at {self.time_ps} ps: {self.detail}")


class KernelBug(RuntimeError):
    """A condition Linux would stop the path on (``BUG()``, a KASAN report); ``report`` says what."""

    def __init__(self, report: BugReport | str):
        self.report = report if isinstance(report, BugReport) else None
        super().__init__(str(report))


class UseAfterFree(KernelBug):
    """An access through a pointer to an object that was already freed (KASAN use-after-free)."""


def report_bug(ctx, exc_type: type[KernelBug], kind: str, site: str, address: int, detail: str) -> KernelBug:
    """Record a report in ``ctx.bugs`` and log it; returns the ``exc_type`` exception to raise."""
    cpu = ctx.cpu
    report = BugReport(kind, ctx.host.engine.now, cpu.index, cpu.context, site, address, detail)
    ctx.bugs.append(report)
    log.error("%s", report)
    return exc_type(report)
