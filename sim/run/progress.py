"""The progress bar of long ``igbsim run`` runs on a terminal: percentage of the bytes delivered, ETA (rich).

Used only when stderr is a terminal; otherwise the scenario prints its
progress lines as before. The semantics stay those of ``--progress`` /
``--quiet``: shown after :data:`AFTER_S` seconds of wall time (at once with
``--progress``), never with ``--quiet``. The bar is transient: :meth:`close`
(at the end of the run, before the report) removes it.
"""
from __future__ import annotations

import atexit
import sys
import time

__all__ = ["ProgressBar", "AFTER_S"]

AFTER_S = 2.0


class ProgressBar:
    """``show(now_ps)`` after each step of the run; ``close()`` at its end."""

    def __init__(self, delivered, total: int, force: bool):
        self._delivered = delivered
        self._total = total
        self._force = force
        self._start = time.monotonic()
        self._bar = None
        self._task = None
        self._shown = 0.0

    def __call__(self, now_ps: int) -> None:
        if self._bar is None:
            if not self._force and time.monotonic() - self._start < AFTER_S:
                return
            from rich.console import Console   # loaded only for a long run on a terminal
            from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,  # (the same)
                                       TimeRemainingColumn)
            self._bar = Progress(TextColumn("igbsim"), BarColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[sim]}"), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(file=sys.stderr), transient=True, auto_refresh=False)
            self._bar.start()
            atexit.register(self.close)   # an interrupted run gets its cursor back too
            self._task = self._bar.add_task("run", total=self._total, sim="")
        wall = time.monotonic()
        if wall - self._shown < 0.1:   # at most ten redraws a second
            return
        self._shown = wall
        self._bar.update(self._task, completed=min(self._delivered(), self._total),
                         sim=f"{now_ps / 1e9:.1f} ms simulated")
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
