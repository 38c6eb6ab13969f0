"""Fixtures for the stack tests: a two-CPU host and its NetCore (helpers are in ``harness.py``)."""
import pytest

from sim.engine import Engine
from sim.host import Host
from stack.core.netcore import NetCore


# --- a host and its net core -------------------------------------------------------------------------
@pytest.fixture
def host():
    return Host(Engine(), "x86-tso", ncpus=2)


@pytest.fixture
def net(host):
    return NetCore(host)
