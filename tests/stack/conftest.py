"""Fixtures for the net core tests: a two-CPU host with a NetCore on it."""
import pytest

from sim.engine import Engine
from sim.host import Host
from stack.core.netcore import NetCore


@pytest.fixture
def host():
    return Host(Engine(), "x86-tso", ncpus=2)


@pytest.fixture
def net(host):
    return NetCore(host)
