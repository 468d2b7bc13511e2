"""How many threads NumPy's BLAS may use while a model trains.

OpenBLAS splits every product above a small size over all cores, and its idle workers keep
spinning on the CPU for a while after each product. The trainer's products are small and come
between NumPy's single-threaded element-wise work, so on a busy machine the extra threads mostly
spin against other processes: more CPU time for the same or a longer epoch. A model whose
largest product in a training step stays below ONE_THREAD_BELOW multiply-adds trains with one
BLAS thread; a larger one keeps the library's default. bench/blas_threads.py measures both the
threshold and the epochs (bench/RESULTS.md).

The user decides first: SPECC_BLAS_THREADS=N (a positive whole number) sets the count, `auto`
(or unset) lets specc choose, and a BLAS thread variable of the library's own
(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, ...) is left to the library. Without threadpoolctl
(`pip install -e ".[threads]"`) the library's default stays, as before.
"""
from __future__ import annotations

import contextlib
import math
import os
from typing import Mapping, Sequence

from specc.errors import SpecError

from .kernels import KERNELS

ENVIRONMENT = "SPECC_BLAS_THREADS"
# read by the BLAS libraries themselves when they load: set, they are the user's choice
LIBRARY_ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
# multiply-adds (rows x inputs x outputs); measured by bench/blas_threads.py, see bench/RESULTS.md
ONE_THREAD_BELOW = 16_000_000


def _positions(shape: tuple, steps: int) -> int:
    """Rows each sample adds to a layer's products: an image's H*W ((N, C, H, W), channels
    first), a sequence's steps ((N, T, F), T = `steps`), one for a vector (N, F)."""
    dims = shape[2:] if len(shape) == 4 else shape[1:-1]
    return math.prod(steps if d == "T" else d for d in dims)


def _reads_word_ids(layer, previous) -> bool:
    """True when `layer` gets the word ids of an onehot or wordhash (whose input is the (N, T)
    words): it looks rows of its input weights up instead of multiplying."""
    return previous is not None and len(previous.in_shape) == 2 and KERNELS[layer.kind].reads_sparse


def largest_product(layers: Sequence, batch: int, steps: int = 1) -> int:
    """Multiply-adds of the largest matrix product in one training step of `layers` (IR layers).

    Every weight matrix (out, in) meets batch * positions rows once forward and twice backward,
    each a product of rows * in * out multiply-adds (a conv's matrix is (filters, C*kh*kw), an
    rnn's one direction of (dirs, hidden, in); its recurrent weights' gradients take all steps
    at once). Vectors (biases) and looked-up word embeddings are no products. `steps`: the
    longest sentence or sequence of the data (T), ignored without a time dimension.
    """
    largest, previous = 0, None
    for layer in layers:
        lookup = _reads_word_ids(layer, previous)
        rows = batch * _positions(layer.out_shape, steps)
        for weight in layer.weights:
            if len(weight.shape) < 2 or (lookup and weight.shape[-1] == layer.in_shape[-1]):
                continue
            matrix = math.prod(weight.shape[1:] if layer.kind == "rnn" else weight.shape)
            largest = max(largest, rows * matrix)
        previous = layer
    return largest


def chosen_threads(largest: int, environ: Mapping[str, str] | None = None) -> int | None:
    """The BLAS thread count for a model whose largest product has `largest` multiply-adds:
    SPECC_BLAS_THREADS when set to a number, else None (the library's own count) when a BLAS
    variable is set or the products are large, else 1. SpecError for a SPECC_BLAS_THREADS that
    is neither a positive whole number nor `auto`."""
    environ = os.environ if environ is None else environ
    wanted = environ.get(ENVIRONMENT, "").strip().lower()
    if wanted not in ("", "auto"):
        if not wanted.isdigit() or int(wanted) < 1:
            raise SpecError(f"the environment variable {ENVIRONMENT} must be a number of threads or 'auto'",
                            expected="a whole number from 1, like 1 or 2, or auto",
                            received=repr(environ[ENVIRONMENT]), hint=f"unset {ENVIRONMENT} to let specc choose")
        return int(wanted)
    if any(environ.get(name, "").strip() for name in LIBRARY_ENVIRONMENT):
        return None
    return 1 if largest < ONE_THREAD_BELOW else None


def blas_threads_for(layers: Sequence, batch: int, x, environ: Mapping[str, str] | None = None):
    """A context in which NumPy's BLAS uses the chosen number of threads (chosen_threads) for
    training `layers` on batches of `batch` samples of `x` (N, ...) (its second axis is the
    time dimension, when the layers have one). Without threadpoolctl, or when the library's
    own count stays, a context that changes nothing."""
    steps = x.shape[1] if getattr(x, "ndim", 0) >= 2 else 1
    threads = chosen_threads(largest_product(layers, min(batch, max(len(x), 1)), steps), environ)
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional extra: training runs as it always did
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")
