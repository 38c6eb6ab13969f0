"""Variants: replacement igb driver functions from a developer's file, run in place of the driver's own.

``igbsim explore --variant FILE.py`` checks a patch: the file defines
functions under the Linux names of igb driver functions (``igb_tx_map``,
``__igb_maybe_stop_tx``, …) and the driver runs with those instead::

    from driver.igb.xmit import *          # the file does its own imports
    from driver.igb.xmit import _dma_error # private helpers by name

    def igb_tx_map(tx_ring, first, hdr_len):
        ...                                # the patched copy

* :func:`replaceable_functions`: every module-level function defined in a
  ``driver.igb.*`` module, by its ``__name__`` (the Linux name; the model's
  own helpers such as ``_dma_error`` too, so a patch may reach them).
* :func:`load_variant` runs the file in a fresh module namespace and keeps
  its top-level functions whose names are replaceable; every other name is
  a helper and ignored. A name bound to the driver's own function (what the
  imports bring in) is not a replacement. Bad input is a
  :class:`VariantError` with a one-line message.
* :meth:`Variant.apply` installs the replacements and returns an undo
  callable; ``with variant:`` does both. The explorer applies a variant in
  a forked child and never undoes it; tests undo.

Installing rebinds every global of every ``driver.igb.*`` module bound to
the original function object (the modules import each other's functions,
so one function has several bindings), and the assembly's bindings of the
driver's entry points (``igb_probe``, ``igb_remove``, ``igb_set_coalesce``
in ``sim.assembly``: the PCI and ethtool cores' references to the driver).
The callbacks the driver hands to the kernel at probe and open — the
netdev ops, the NAPI poll function, the MSI-X handlers, the watchdog timer
and the work items — call their igb function through its module global
when they run (``driver/igb/main.py``, ``driver/igb/interrupts.py``), so a
variant applied to a system already built and open takes effect at the
next call. A call already running finishes with the code it started with.

A replacement runs with its own file's globals: it calls other functions
through the names it imported (the driver's own, or the file's own
replacements when it defines them).
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import itertools
import pathlib
import pkgutil
import re
import sys
import types
from collections.abc import Callable, Mapping
from types import MappingProxyType

import driver.igb

__all__ = ["VariantError", "Variant", "replaceable_functions", "load_variant"]

#: Replaceable functions a "defines none" message names first (the ones a patch usually touches).
_KNOWN = ("igb_tx_map", "igb_xmit_frame_ring", "__igb_maybe_stop_tx", "igb_clean_tx_irq", "igb_poll",
          "igb_msix_ring")
#: Packages outside the driver whose modules hold the kernel's references to driver entry points.
_CALLER_PACKAGES = ("sim.assembly",)

_counter = itertools.count(1)
_applied: list[Variant] = []   # the variant whose functions are installed now (at most one)


class VariantError(ValueError):
    """A variant file that cannot be used; the message is one line naming the file and the problem."""


@functools.cache
def _driver_modules() -> tuple[types.ModuleType, ...]:
    """``driver.igb`` and every module under it, imported."""
    found = [driver.igb]
    for info in pkgutil.walk_packages(driver.igb.__path__, driver.igb.__name__ + "."):
        found.append(importlib.import_module(info.name))
    return tuple(found)


@functools.cache
def _originals() -> Mapping[str, types.FunctionType]:
    """The driver's own functions, collected once (before any variant is installed), by name."""
    out: dict[str, types.FunctionType] = {}
    for module in _driver_modules():
        for value in vars(module).values():
            if type(value) is types.FunctionType and value.__module__ == module.__name__:
                other = out.setdefault(value.__name__, value)
                if other is not value:
                    raise RuntimeError(f"two igb driver functions are named {value.__name__} "
                                       f"({other.__module__} and {value.__module__}): a variant cannot "
                                       "tell them apart")
    return MappingProxyType(dict(sorted(out.items())))


def replaceable_functions() -> dict[str, types.FunctionType]:
    """Every module-level function defined in the ``driver.igb.*`` modules, by name (the Linux name)."""
    return dict(_originals())


class Variant:
    """Replacement driver functions loaded from :attr:`path` (see the module docstring).

    ``names``: the replaced functions' names, sorted; ``digest``: sha256 (hex)
    of the file's bytes, for a replay token to check the same file is used;
    ``replacements``: name -> function; ``module``: the file's namespace.
    """

    def __init__(self, path: pathlib.Path, replacements: Mapping[str, types.FunctionType], digest: str,
                 module: types.ModuleType):
        self.path = path
        self.names = tuple(sorted(replacements))
        self.digest = digest
        self.replacements = MappingProxyType({name: replacements[name] for name in self.names})
        self.module = module
        self._undo: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<Variant {self.path} {', '.join(self.names)} sha256:{self.digest[:12]}>"

    def apply(self) -> Callable[[], None]:
        """Install the replacements; returns a callable that puts the driver's own functions back.

        RuntimeError if a variant (this or another) is installed already: undo it first.
        """
        if _applied:
            raise RuntimeError(f"variant {_applied[0].path} is applied; undo it before applying {self.path}")
        originals = _originals()
        table = {id(originals[name]): (originals[name], self.replacements[name]) for name in self.names}
        done: list[tuple[dict, str, types.FunctionType, types.FunctionType]] = []
        bound: set[str] = set()
        for module in _binding_modules():
            namespace = vars(module)
            for key, value in list(namespace.items()):
                pair = table.get(id(value))
                if pair is not None and pair[0] is value:
                    namespace[key] = pair[1]
                    done.append((namespace, key, pair[0], pair[1]))
                    bound.add(value.__name__)
        _applied.append(self)

        def undo() -> None:
            while done:
                namespace, key, original, replacement = done.pop()
                if namespace.get(key) is replacement:   # leave a later rebinding by someone else alone
                    namespace[key] = original
            if self in _applied:
                _applied.remove(self)

        unbound = [name for name in self.names if name not in bound]
        if unbound:
            undo()
            raise RuntimeError(f"{', '.join(unbound)}: no driver module binds the driver's own function "
                               "(replaced by something else already?)")
        return undo

    def __enter__(self) -> Variant:
        self._undo = self.apply()
        return self

    def __exit__(self, *exc) -> None:
        undo, self._undo = self._undo, None
        if undo is not None:
            undo()


def _binding_modules() -> list[types.ModuleType]:
    """The driver's modules, then the loaded modules of the packages that call its entry points."""
    callers = [m for name, m in sorted(sys.modules.items())
               if m is not None and any(name == p or name.startswith(p + ".") for p in _CALLER_PACKAGES)]
    return list(_driver_modules()) + callers


def load_variant(path) -> Variant:
    """Run the variant file at ``path`` in a fresh namespace and collect its replacement functions.

    VariantError (one line) if the file cannot be read, is not valid Python,
    raises while it runs, defines no replaceable function, or binds a
    replaceable name to something that is not a function.
    """
    path = pathlib.Path(path)
    try:
        source = path.read_bytes()
    except OSError as e:
        raise VariantError(f"{path}: cannot read the variant file: {e.strerror or e}") from None
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as e:
        raise VariantError(f"{path}:{e.lineno}: syntax error: {_one_line(e.msg)}") from None
    except ValueError as e:   # e.g. a NUL byte in the source
        raise VariantError(f"{path}: not Python source: {_one_line(e)}") from None
    originals = _originals()   # the driver's own, collected before anything of the file runs
    name = f"_igbsim_variant_{next(_counter)}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    module = types.ModuleType(name, f"igb driver variant {path}")
    module.__file__ = str(path)
    sys.modules[name] = module   # while it runs, as for an import (dataclasses and typing look it up)
    try:
        exec(code, vars(module))   # noqa: S102 - running the developer's file is the point
    except (Exception, SystemExit) as e:   # even sys.exit(): one line, not a silent exit
        raise VariantError(f"{path}:{_line_in(path, e)}: the variant file raised "
                           f"{type(e).__name__}: {_one_line(e)}") from e
    finally:
        sys.modules.pop(name, None)
    replacements: dict[str, types.FunctionType] = {}
    for key, value in vars(module).items():
        original = originals.get(key)
        if original is None or value is original:
            continue   # a helper, or the driver's own function imported
        if type(value) is not types.FunctionType:
            raise VariantError(f"{path}: {key} is not a function (its type is {type(value).__name__}): "
                               f"a replacement for igb's {key} must be a def")
        replacements[key] = value
    if not replacements:
        raise VariantError(f"{path}: defines no replaceable igb driver function{_did_you_mean(module)}; "
                           f"known ones include {', '.join(n for n in _KNOWN if n in originals)} "
                           f"({len(originals)} in all: sim.explore.variant.replaceable_functions())")
    return Variant(path, replacements, hashlib.sha256(source).hexdigest(), module)


def _one_line(e) -> str:
    return " ".join(str(e).split()) or "(no message)"


def _line_in(path: pathlib.Path, e: BaseException) -> str:
    """The line of the variant file the exception came through last ("?" if none)."""
    line, tb = "?", e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line


def _did_you_mean(module: types.ModuleType) -> str:
    """" (did you mean igb_tx_map for igb_tx_mapp?)" for the file's own functions with a near name."""
    guesses = []
    for key, value in vars(module).items():
        if type(value) is types.FunctionType and value.__module__ == module.__name__:
            close = difflib.get_close_matches(key, _originals(), n=1, cutoff=0.8)
            if close:
                guesses.append(f"{close[0]} for {key}")
    return f" (did you mean {'; '.join(guesses)}?)" if guesses else ""
