"""Output files written whole or not at all: a temporary file beside the path, renamed over it when done.

The one mechanism behind every output file (``--json``, ``--perfetto``,
``--vcd``, ``--plot``, and the explorer's ``--json``/``--perfetto``): a
reader never sees half a file, and a run that fails leaves nothing behind.
"""
from __future__ import annotations

import os
import tempfile

__all__ = ["stage", "publish", "drop"]


def stage(path, suffix: str = ".tmp") -> tuple[int, str]:
    """(open descriptor, name) of a new temporary file in ``path``'s folder (raises OSError)."""
    path = os.fspath(path)
    return tempfile.mkstemp(prefix=".igbsim-", suffix=suffix, dir=os.path.dirname(path) or ".")


def publish(tmp: str, path) -> None:
    """Rename the finished temporary file over ``path`` (mkstemp's 0600 is for the temporary file only)."""
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.fspath(path))


def drop(tmp: str) -> None:
    """Remove the temporary file of an output that will not be finished."""
    if os.path.exists(tmp):
        os.unlink(tmp)
