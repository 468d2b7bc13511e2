"""Shared fixtures."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded generator, the same in every run."""
    return np.random.default_rng(20261126)
