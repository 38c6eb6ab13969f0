"""Run a benchmark's measurement on another tree's code, in a fresh subprocess.

Shared by the ``--against DIR`` modes of :mod:`benchmarks.weak_profiles` and
:mod:`benchmarks.full_path`: the parent calls :func:`child` once per repeat
and tree, alternating; the child (the same script with ``--child
--code-tree TREE``) calls :func:`use_code_tree` before it imports any model
code, measures, and prints one JSON line that :func:`child` returns.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

__all__ = ["ROOT", "child", "use_code_tree", "sim_dir"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(script: str, tree: str, args: list[str]) -> dict:
    """Run ``script --child --code-tree tree *args`` in a fresh interpreter; its last stdout line as JSON."""
    cmd = [sys.executable, os.path.abspath(script), "--child", "--code-tree", tree, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"benchmark child on {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def use_code_tree(tree: str) -> None:
    """Import ``sim``, ``stack``, ``driver`` and ``rtl_model`` from ``tree``; the benchmarks stay this tree's."""
    importlib.import_module("benchmarks")   # cached now, so ``tree``'s own benchmarks/ is never imported
    sys.path.insert(0, os.path.abspath(tree))


def sim_dir() -> str:
    """Where the ``sim`` package in use was imported from (to show which tree a child ran)."""
    return os.path.dirname(importlib.import_module("sim").__file__)
