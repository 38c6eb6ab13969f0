"""Time units (sim/engine/units.py): integer picoseconds."""
import pytest

from sim.engine.units import MS, NS, PS, S, US, fmt_ps, ns, us


def test_unit_constants():
    assert PS == 1
    assert NS == 1000 * PS
    assert US == 1000 * NS
    assert MS == 1000 * US
    assert S == 1000 * MS == 10**12


@pytest.mark.parametrize("x, ps", [
    (0, 0), (1, 1000), (2.5, 2500), (0.001, 1), (8, 8000), (1000, 1_000_000),
    (0.0004, 0), (0.0006, 1), (-3, -3000), (12.345, 12345),
])
def test_ns(x, ps):
    got = ns(x)
    assert got == ps
    assert type(got) is int


@pytest.mark.parametrize("x, ps", [
    (0, 0), (1, 1_000_000), (1.25, 1_250_000), (0.000001, 1), (0.5, 500_000),
    (2e-7, 0), (7e-7, 1), (100, 100_000_000),
])
def test_us(x, ps):
    got = us(x)
    assert got == ps
    assert type(got) is int


def test_ns_and_us_agree():
    assert us(1) == ns(1000)
    assert us(0.8) == ns(800)


@pytest.mark.parametrize("t, text", [
    (0, "0 ps"),
    (1, "1 ps"),
    (999, "999 ps"),
    (1000, "1.000 ns"),
    (1500, "1.500 ns"),
    (999_999, "999.999 ns"),
    (1_250_000, "1.250 us"),
    (1_000_000, "1.000 us"),
    (2_500_000_000, "2.500 ms"),
    (3 * S, "3.000 s"),
    (90 * S, "90.000 s"),
    (-1500, "-1.500 ns"),
    (-7, "-7 ps"),
    (1_234_567, "1.235 us"),      # rounded to three decimals
])
def test_fmt_ps(t, text):
    assert fmt_ps(t) == text
