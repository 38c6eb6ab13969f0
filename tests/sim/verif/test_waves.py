"""StateWaves: a VCD of dotted state signals, read back with pyvcd's tokenizer."""
import pytest
from vcd.reader import TokenKind, tokenize

from sim.verif.waves import StateWaves

SIGNALS = [("nic.txq0.TDH", 16), ("nic.txq0.TDT", 16), ("nic.irq.EICR", 32), ("nic.mac.busy", 1)]


def write(path, date=None):
    with StateWaves(path, SIGNALS, date=date) as w:
        w.sample(0, {"nic.txq0.TDH": 0, "nic.txq0.TDT": 0, "nic.mac.busy": 0})
        w.sample(1_000, {"nic.txq0.TDT": 4})
        w.sample(1_000, {"nic.txq0.TDT": 4, "nic.mac.busy": 1})          # same time, one change
        w.sample(2_500, {"nic.txq0.TDH": 0, "nic.txq0.TDT": 4, "nic.mac.busy": 1})   # nothing new
        w.sample(4_000, {"nic.txq0.TDH": 4, "nic.irq.EICR": 0x2, "nic.mac.busy": 0})
    return path.read_bytes()


def parse(path):
    """(scoped var names by id, [(time, full name, value)], header keywords seen)."""
    names, scope, changes, header, t = {}, [], [], set(), None
    with open(path, "rb") as f:
        for tok in tokenize(f):
            k = tok.kind
            if k is TokenKind.SCOPE:
                scope.append(tok.scope.ident)
            elif k is TokenKind.UPSCOPE:
                scope.pop()
            elif k is TokenKind.VAR:
                names[tok.var.id_code] = (".".join(scope + [tok.var.reference]), tok.var.type_.value, tok.var.size)
            elif k is TokenKind.CHANGE_TIME:
                t = tok.time_change
            elif k in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR):
                changes.append((t, names[tok.data.id_code][0], tok.data.value))
            elif k in (TokenKind.DATE, TokenKind.VERSION, TokenKind.TIMESCALE):
                header.add(k.name)
    return names, changes, header


def value_at(changes, name, t):
    v = None
    for tt, n, val in changes:
        if n == name and tt <= t:
            v = val
    return v


def test_scopes_values_and_only_changes(tmp_path):
    write(tmp_path / "w.vcd")
    names, changes, header = parse(tmp_path / "w.vcd")
    assert sorted(v[:3] for v in names.values()) == [
        ("nic.irq.EICR", "reg", 32), ("nic.mac.busy", "wire", 1),
        ("nic.txq0.TDH", "reg", 16), ("nic.txq0.TDT", "reg", 16)]
    assert header == {"VERSION", "TIMESCALE"}                 # no $date unless asked
    assert value_at(changes, "nic.txq0.TDT", 999) == 0
    assert value_at(changes, "nic.txq0.TDT", 1_000) == 4
    assert value_at(changes, "nic.mac.busy", 3_999) == "1"
    assert value_at(changes, "nic.mac.busy", 4_000) == "0"
    assert value_at(changes, "nic.txq0.TDH", 4_000) == 4
    assert value_at(changes, "nic.irq.EICR", 3_999) == "x"   # not sampled yet
    assert value_at(changes, "nic.irq.EICR", 4_000) == 2
    real = [c for c in changes if c[0] > 0]                   # after the $dumpvars block
    assert real == [(1_000, "nic.txq0.TDT", 4), (1_000, "nic.mac.busy", "1"),
                    (4_000, "nic.txq0.TDH", 4), (4_000, "nic.irq.EICR", 2), (4_000, "nic.mac.busy", "0")]
    assert b"1 ps" in (tmp_path / "w.vcd").read_bytes()


def test_identical_runs_give_identical_bytes(tmp_path):
    assert write(tmp_path / "a.vcd") == write(tmp_path / "b.vcd")
    assert b"$date 2024-01-01 $end" in write(tmp_path / "c.vcd", date="2024-01-01")


def test_programming_errors(tmp_path):
    with StateWaves(tmp_path / "e.vcd", SIGNALS) as w:
        w.sample(10, {"nic.mac.busy": 1})
        with pytest.raises(ValueError, match="unknown signal"):
            w.sample(20, {"nic.mac.idle": 1})
        with pytest.raises(ValueError, match="backwards"):
            w.sample(5, {})
        with pytest.raises(ValueError, match="fit"):
            w.sample(30, {"nic.mac.busy": 2})
    for bad in ([("busy", 1)], [("nic.busy", 0)], [("nic.a", 1), ("nic.a", 1)], [("nic..a", 1)]):
        with pytest.raises(ValueError):
            StateWaves(tmp_path / "f.vcd", bad)
