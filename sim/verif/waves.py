"""A VCD trace of the NIC's state on HDL time, written with pyvcd, to view next to the simulator's waves.

``StateWaves(path, [("nic.txq0.TDH", 16), ("nic.irq.EICR", 32), ("nic.mac.busy", 1)])``
declares one variable per signal: the dotted name's last part is the variable,
the parts before it the VCD scopes (``nic`` > ``txq0`` > ``TDH``); width 1 is a
``wire``, wider signals are ``reg`` vectors. :meth:`StateWaves.sample` takes the
time in picoseconds and a dict of (some or all) signal values and writes only
the values that changed; a signal not sampled yet shows as ``x``.

Output is deterministic: no ``$date`` unless one is given, a fixed
``$version``, variables in declaration order — the same run gives a
byte-identical file (verification_ecosystem §1.4: pyvcd's own default date is
the wall clock, so it is never left to pyvcd).
"""
from __future__ import annotations

from vcd import VCDWriter

__all__ = ["StateWaves"]

VERSION = "igbsim sim.verif.waves"


class StateWaves:
    """A VCD writer for dotted state signals (see the module docstring).

    Raises ValueError for a malformed or duplicate signal, a decreasing time,
    an unknown signal name in :meth:`sample` (a programming error) or a value
    that does not fit its width.
    """

    def __init__(self, path, signals: list[tuple[str, int]], timescale: str = "1 ps",
                 date: str | None = None):
        self._vars: dict[str, tuple[object, int]] = {}  # name -> (pyvcd variable, width)
        self._last: dict[str, int] = {}
        self._t = 0
        self._file = open(path, "w", encoding="ascii", newline="\n")
        try:
            self._writer = VCDWriter(self._file, timescale=timescale, date=date or "", version=VERSION)
            for name, width in signals:
                scope, _, leaf = name.rpartition(".")
                if not scope or not leaf or "" in scope.split(".") or any(c.isspace() for c in name):
                    raise ValueError(f"signal {name!r} must be a dotted name 'scope[.scope...].name' "
                                     "without spaces")
                if not isinstance(width, int) or width < 1:
                    raise ValueError(f"signal {name}: width must be a positive int, not {width!r}")
                if name in self._vars:
                    raise ValueError(f"signal {name} declared twice")
                self._vars[name] = (self._writer.register_var(
                    scope, leaf, "wire" if width == 1 else "reg", size=width), width)
        except BaseException:
            self._file.close()
            raise

    def sample(self, t_ps: int, state: dict[str, int]) -> None:
        """Record the values of ``state`` at ``t_ps``; only changed values are written."""
        if t_ps < self._t:
            raise ValueError(f"time went backwards: {t_ps} ps after {self._t} ps")
        self._t = t_ps
        last = self._last
        if state == last:
            return
        for name, value in state.items():
            if last.get(name, None) != value:
                var = self._vars.get(name)
                if var is None:
                    raise ValueError(f"unknown signal {name!r}; declared: {', '.join(self._vars)}")
                if value < 0 or value >> var[1]:
                    raise ValueError(f"signal {name}: value {value} does not fit in {var[1]} bit(s)")
                self._writer.change(var[0], t_ps, int(value))
                last[name] = value

    def close(self) -> None:
        """Finish the file (the last time stamp is the last sample's)."""
        if not self._file.closed:
            try:
                self._writer.close(self._t)
            finally:
                self._file.close()

    def __enter__(self) -> StateWaves:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
