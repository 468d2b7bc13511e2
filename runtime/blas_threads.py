"""How many threads NumPy's BLAS may use while a model trains.

OpenBLAS splits every product above a small size over all cores, and its idle workers keep
spinning on the CPU for a while after each product. The trainer's products are small and come
between NumPy's single-threaded element-wise work, so on a busy machine the extra threads mostly
spin against other processes: more CPU time for the same or a longer epoch. A model whose
training step multiplies matrices of, on average, fewer than ONE_THREAD_BELOW multiply-adds
trains with one BLAS thread, as does one with an rnn whose per-step products are that small;
one of larger products keeps the library's default.
bench/blas_threads.py measures the threshold and the epochs (bench/RESULTS.md).

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
from specc.shapes import form

ENVIRONMENT = "SPECC_BLAS_THREADS"
# read by the BLAS libraries themselves when they load: set, they are the user's choice
LIBRARY_ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
# mean multiply-adds (rows x inputs x outputs) of a training step's products (mean_product);
# measured by bench/blas_threads.py, see bench/RESULTS.md
ONE_THREAD_BELOW = 2_000_000


def _positions(shape: tuple, steps: int) -> int:
    """Rows each sample adds to a layer's products: an image's H*W ((N, C, H, W), channels
    first), a sequence's steps ((N, T, F), T = `steps`), one for a vector (N, F)."""
    dims = shape[2:] if len(shape) == 4 else shape[1:-1]
    return math.prod(steps if d == "T" else d for d in dims)


def _reads_word_ids(layer, previous) -> bool:
    """True when `layer` gets the word ids of an onehot or wordhash (whose input is the (N, T)
    words): it looks rows of its input weights up instead of multiplying."""
    return previous is not None and form(previous.in_shape) == "tokens" and layer.attrs.reads_one_hot


def step_products(layers: Sequence, batch: int, steps: int = 1) -> list[tuple[int, int]]:
    """The matrix products of one training step of `layers` (IR layers): (how many, multiply-adds
    of each) per weight matrix.

    A matrix (out, in) meets batch * positions rows in three products of rows * in * out
    multiply-adds: forward, its gradient and the input's gradient (a conv's matrix is (filters,
    C*kh*kw); an rnn's (dirs, hidden, in) is one per direction). An rnn's recurrent matrices
    multiply one step at a time, forward and backward (2 * steps products of batch rows), and
    their gradients take all steps at once. Vectors (biases) and looked-up word embeddings make
    no products. `steps`: the longest sentence or sequence of the data (T), ignored without one.
    """
    products, previous = [], None
    for layer in layers:
        lookup = _reads_word_ids(layer, previous)
        rows = batch * _positions(layer.out_shape, steps)
        for weight in layer.weights:
            directions, shape = (weight.shape[0], weight.shape[1:]) if layer.kind == "rnn" else (1, weight.shape)
            if len(shape) < 2 or (lookup and shape[-1] == layer.in_shape[-1]):
                continue
            matrix = math.prod(shape)
            if layer.kind != "rnn":
                products.append((3, rows * matrix))
            elif weight.name.endswith(".W"):  # the input's projection, all steps at once
                products.append((3 * directions, rows * matrix))
            else:
                products += [(2 * steps * directions, batch * matrix), (directions, rows * matrix)]
        previous = layer
    return products


def mean_product(layers: Sequence, batch: int, steps: int = 1) -> float:
    """Mean multiply-adds of the matrix products of one training step (step_products); 0 without
    any. An rnn's many small per-step products pull it down: its step is bound by them, and by
    NumPy's single-threaded work between them, not by its few large products."""
    products = step_products(layers, batch, steps)
    count = sum(n for n, _ in products)
    return sum(n * size for n, size in products) / count if count else 0.0


# the weights an rnn multiplies at every step: R (Elman, LSTM, GRU), Jordan's U and V (the output fed back)
STEP_WEIGHTS = (".R", ".U", ".V")


def small_recurrence(layers: Sequence, batch: int) -> bool:
    """True when an rnn layer of `layers` multiplies fewer than ONE_THREAD_BELOW multiply-adds per
    step ((batch, H) by (H, G*H) per direction). Its steps then run one after another, each a
    product too small to split, between single-threaded element-wise work: a second thread
    waits at every step, and spins against other programs on a busy machine (the ATIS LSTM
    tagger, batch 16, whose few large products lift its mean just past the threshold: 2.5x
    slower with two threads on a busy 2-core machine, bench/RESULTS.md)."""
    return any(batch * math.prod(weight.shape[1:]) < ONE_THREAD_BELOW for layer in layers if layer.kind == "rnn"
               for weight in layer.weights if weight.name.endswith(STEP_WEIGHTS))


def chosen_threads(mean: float, environ: Mapping[str, str] | None = None, stepwise: bool = False) -> int | None:
    """The BLAS thread count for a model whose products have `mean` multiply-adds (mean_product):
    SPECC_BLAS_THREADS when set to a number, else None (the library's own count) when a BLAS
    variable is set, else 1 when the products are small or `stepwise` (small_recurrence), else
    None. SpecError for a SPECC_BLAS_THREADS that is neither a positive whole number nor `auto`."""
    environ = os.environ if environ is None else environ
    wanted = environ.get(ENVIRONMENT, "").strip().lower()
    if wanted not in ("", "auto"):
        if not wanted.isdecimal() or int(wanted) < 1:
            raise SpecError(f"the environment variable {ENVIRONMENT} must be a number of threads or 'auto'",
                            expected="a whole number from 1, like 1 or 2, or auto",
                            received=repr(environ[ENVIRONMENT]), hint=f"unset {ENVIRONMENT} to let specc choose")
        return int(wanted)
    if any(environ.get(name, "").strip() for name in LIBRARY_ENVIRONMENT):
        return None
    return 1 if mean < ONE_THREAD_BELOW or stepwise else None


def blas_threads_for(layers: Sequence, batch: int, shape: tuple, environ: Mapping[str, str] | None = None):
    """A context in which NumPy's BLAS uses the chosen number of threads (chosen_threads) for
    training `layers` on batches of `batch` samples of data of `shape` (N, ...) (its second
    axis is the time dimension, when the layers have one). Without threadpoolctl, or when the
    library's own count stays, a context that changes nothing."""
    steps, rows = shape[1] if len(shape) >= 2 else 1, min(batch, max(shape[0], 1))
    threads = chosen_threads(mean_product(layers, rows, steps), environ, small_recurrence(layers, rows))
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional extra: training runs as it always did
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")
