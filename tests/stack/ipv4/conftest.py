"""Fixtures for the IPv4 tests: ``env``, a fresh :class:`~tests.stack.ipv4.harness.StackEnv`."""
import pytest

from tests.stack.ipv4.harness import StackEnv


@pytest.fixture
def env():
    return StackEnv()
