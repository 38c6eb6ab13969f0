"""Shared fixtures for the engine tests."""
import pytest

from sim.engine import Engine


@pytest.fixture
def eng():
    """A fresh native engine with the default (seeded) policy."""
    return Engine()
