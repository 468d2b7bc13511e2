"""Shared fixtures."""
import signal

import numpy as np
import pytest

# The Ctrl-C tests send SIGINT to this process and to the commands it starts. A suite started in
# the background by a non-interactive shell (`pytest &`, nohup) inherits SIGINT ignored, which
# specc rightly leaves ignored (runtime/interrupt.py): give the tests a terminal's Ctrl-C back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def rng():
    """A seeded generator, the same in every run."""
    return np.random.default_rng(20261126)
