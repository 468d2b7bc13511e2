"""runtime/heap.py: a training process keeps the pages its batches free for the next batch.

Each case runs in its own process, since malloc's settings last for the process."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")

# allocates and frees two 3 MiB arrays 100 times, as a training step allocates its arrays every
# batch, and prints whether malloc was set and the minor page faults the 100 rounds took
ROUNDS = """
import resource, sys
import numpy as np
from specc.runtime.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    np.ones(3 << 17)
before = faults()
for _ in range(100):
    a, b = np.ones((768, 512)), np.ones((768, 512))
    del a, b
print(kept, faults() - before)
"""
PAGES_PER_ROUND = 2 * 768 * 512 * 8 // 4096  # both arrays' 4 KiB pages


def rounds(mode: str, **environment: str) -> tuple[str, int]:
    """(what keep_freed_memory returned, page faults of the 100 rounds) in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | environment
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, env=env, check=True)
    kept, faults = out.stdout.split()
    return kept, int(faults)


def test_kept_pages_are_not_faulted_in_again():
    kept, faults = rounds("keep")
    assert kept == "True"
    assert faults < 2 * PAGES_PER_ROUND  # the first round's pages, then none


def test_without_it_every_round_faults_its_pages_in_again():
    # what the setting is for: glibc's default hands the pages back after every round
    _, faults = rounds("plain")
    assert faults > 50 * PAGES_PER_ROUND


def test_the_users_own_malloc_settings_are_left_alone():
    kept, faults = rounds("keep", MALLOC_TOP_PAD_="0")
    assert kept == "False"
    assert faults > 50 * PAGES_PER_ROUND
