"""Keep the memory one training step frees for the next (glibc's malloc; elsewhere nothing changes).

Every batch allocates the same arrays again: the rnn states and gates, the products, the
gradients. By default glibc serves an array above 128 KiB from fresh pages of its own mapping and
gives memory at the top of the heap back to the system once a few MiB are free there, so the next
batch faults the same pages in again: about 200 minor page faults per batch of the ATIS LSTM
tagger's step (1,200 on an earlier kernel, 10-20% of the step then: bench/RESULTS.md), about 5
with this module's settings. Serving arrays up
to MMAP_THRESHOLD from the heap and keeping up to TRIM_THRESHOLD free at its top ends that, for at
most TRIM_THRESHOLD more resident memory than the step needs.

The user decides first: any of glibc's own MALLOC_*_ variables set leaves malloc as configured.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt's parameter numbers (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20  # bytes; glibc's largest allowed on 64-bit systems
TRIM_THRESHOLD = 256 << 20  # bytes free at the heap top before any goes back to the system
TOP_PAD = 64 << 20  # bytes asked for beyond each heap extension
USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX",
                 "GLIBC_TUNABLES", "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed step memory in the process; True if it now does.

    Process-wide and lasting: called once when training starts. Does nothing (False) off Linux,
    without glibc, or when the user configured malloc through its environment variables or
    replaced it (LD_PRELOAD, e.g. jemalloc or tcmalloc).
    """
    if not sys.platform.startswith("linux") or any(os.environ.get(name) for name in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(parameter, value) == 1 for parameter, value in
               ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD)))
