"""Shared pytest setup: the system fixtures every suite may use, and the litmus execution counts report.

* ``system``: builds a :class:`sim.assembly.system.IgbSystem` — host, NIC
  model, kernel API, net core with its device layer, the igb driver probed —
  and opens ``eth0`` (``up=False`` leaves it down, e.g. to spy on the probe's
  or the open's register writes first).
* ``net_system``: the reference setup, the same with the protocol stack and
  a link partner (``stack=True, partner=True``), brought up with its carrier.

Both are factories (keyword arguments go to :class:`IgbSystem`), scoped to
the session since they hold no state, so module-scoped fixtures can use them.
"""
import pytest

from sim.assembly.system import IgbSystem


@pytest.fixture(scope="session")
def system():
    """``system(nic="82576", *, up=True, **options)``: an IgbSystem, ``eth0`` open unless ``up=False``."""
    def build(nic: str = "82576", *, up: bool = True, **options) -> IgbSystem:
        s = IgbSystem(nic, **options)
        if up:
            assert s.open() == 0
        return s
    return build


@pytest.fixture(scope="session")
def net_system():
    """``net_system(**options)``: IgbSystem with the protocol stack and the link partner, carrier up."""
    def build(**options) -> IgbSystem:
        s = IgbSystem(stack=True, partner=True, **options)
        s.bring_up()
        return s
    return build


def pytest_terminal_summary(terminalreporter):
    rows = []
    for rep in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, value in getattr(rep, "user_properties", ()):
            if key == "executions" and rep.when == "call":
                rows.append((rep.nodeid.split("::", 1)[-1], value))
    if rows:
        terminalreporter.section("litmus executions enumerated")
        total = 0
        for name, n in rows:
            terminalreporter.write_line(f"{n:8d}  {name}")
            total += n
        terminalreporter.write_line(f"{total:8d}  total over {len(rows)} enumerations")
