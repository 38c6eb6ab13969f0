"""Ctrl-C during ``igbsim run``: stop at a step boundary, so the partial report and pcap can be written.

A KeyboardInterrupt raised in the middle of an event would leave the model
half-way through it (a sample without its CPU times, a frame half on the
wire). :func:`stop_at_step_boundaries` takes the first SIGINT as a request:
the run loop's check (called after each step, 1 ms simulated) raises
KeyboardInterrupt there, where the model is consistent. A second Ctrl-C
interrupts at once, as usual. Only in the main thread, and only when SIGINT
has Python's default handler (otherwise nothing changes).
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

__all__ = ["stop_at_step_boundaries"]


@contextlib.contextmanager
def stop_at_step_boundaries():
    """Context manager yielding ``check()``: raises KeyboardInterrupt once a Ctrl-C has been asked for."""
    requested: list[bool] = []

    def check() -> None:
        if requested:
            raise KeyboardInterrupt

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield check
        return

    def handler(signum, frame):
        if requested:       # the second Ctrl-C: now
            raise KeyboardInterrupt
        requested.append(True)
        print("igbsim: interrupted: stopping after this step to write the partial report "
              "(Ctrl-C again to quit at once)", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, handler)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
