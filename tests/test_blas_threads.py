"""NumPy's BLAS threads while training: one thread for a model of small products, the library's
default for large ones, the user's SPECC_BLAS_THREADS (or the library's own variable) first,
and training as before without threadpoolctl."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import threadpoolctl

import specc
from specc.runtime.blas_threads import (ONE_THREAD_BELOW, chosen_threads, mean_product, small_recurrence,
                                        step_products)
from specc.runtime.progress import Reporter
from specc.cli import main
from specc.specs import spec_path

BLAS_VARIABLES = ("SPECC_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                  "BLIS_NUM_THREADS")


def dense_spec(data, inputs: int, width: int, batch: int) -> str:
    return (f"model net\ninput x: {inputs}\noutput y: a | b\nx -> dense {width} -> relu -> dense 2 -> softmax\n"
            f"train\n  data \"{data}\"\n  optimizer sgd lr=0.01\n  epochs 1\n  batch {batch}\n  validation 0.25\n")


@pytest.fixture(autouse=True)
def no_thread_variables(monkeypatch):
    """The tests decide the BLAS variables; the machine's own must not leak in."""
    for name in BLAS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def small_and_large(tmp_path, rng):
    """Two specs on random data: products of 8*8*4 and 8*4*2 multiply-adds (batch 8, 8 -> 4 -> 2;
    mean 160), and of 64*1024*1024 and 64*1024*2 (batch 64, 1024 -> 1024 -> 2; mean 33,619,968)."""
    specs = {}
    for name, inputs, width, batch in (("small", 8, 4, 8), ("large", 1024, 1024, 64)):
        data = tmp_path / f"{name}.npz"
        np.savez(data, x=rng.standard_normal((batch * 2, inputs)).astype(np.float32),
                 y=np.array(["a", "b"] * batch))
        specs[name] = dense_spec(data, inputs, width, batch)
    return specs


def blas_threads_now() -> list[int]:
    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


class ThreadsSeen(Reporter):
    """Records NumPy's BLAS thread counts before every batch of a run."""

    def __init__(self, info=threadpoolctl.threadpool_info):
        super().__init__("quiet")
        self.info = info
        self.seen: set[int] = set()

    def batch(self, epoch: int, batch: int) -> None:
        self.seen.update(pool["num_threads"] for pool in self.info() if pool["user_api"] == "blas")


def train_seeing_threads(spec: str, out, reporter: ThreadsSeen | None = None) -> set[int]:
    reporter = reporter or ThreadsSeen()
    specc.loads(spec, "net.nn").train(out=out, progress=reporter)
    return reporter.seen


# ---- the products of a training step ----

def test_the_lecture_cnn_multiplies_its_two_convs_and_its_dense_layer():
    # batch 32: conv1 rows 32*12*12, matrix 3 x 1*3*3; conv2 rows 32*6*6, matrix 8 x 3*3*3; dense 2 x 72
    chain = specc.load(spec_path("x_or_o")).model.chains[0]
    assert step_products(chain.layers, 32) == [(3, 124_416), (3, 248_832), (3, 4_608)]
    assert mean_product(chain.layers, 32) == (124_416 + 248_832 + 4_608) / 3 == 125_952


def test_a_dense_stack_multiplies_every_layer():
    # 512 inputs -> dense 512 -> relu -> dense 512 -> relu -> dense 10, batch 128
    spec = "input x: 512\noutput y: " + " | ".join("abcdefghij") + "\nx -> dense 512 -> relu -> dense 512 -> relu -> dense\n"
    chain = specc.loads(spec, "wide.nn").model.chains[0]
    assert step_products(chain.layers, 128) == [(3, 33_554_432), (3, 33_554_432), (3, 655_360)]


def test_an_rnn_multiplies_step_by_step_and_a_looked_up_embedding_not_at_all():
    # onehot (169 words) -> dense 100 is a row lookup; the rnn's input matrix takes batch 16 x
    # 12 steps at once, its recurrent one (100 x 100) 12 steps forward and 12 backward on 16
    # rows, then its gradient on all 192 rows; the output dense is 4 x 100
    chain = specc.load(spec_path("slots_elman")).model.chains[0]
    assert step_products(chain.layers, 16, steps=12) == [(3, 1_920_000), (24, 160_000), (1, 1_920_000), (3, 76_800)]
    assert mean_product(chain.layers, 16, steps=12) == (4 * 1_920_000 + 24 * 160_000 + 3 * 76_800) / 31


GATED_TAGGER = "input words: seq token\noutput slots: " + " | ".join(f"s{k}" for k in range(127)) + """
words -> onehot vocab=[x, y] -> dense 100 bias=false -> rnn lstm hidden={hidden} bidirectional -> dense -> softmax
"""


def test_a_gated_tagger_with_small_steps_trains_on_one_thread_though_its_mean_is_large():
    # the ATIS LSTM tagger's shape: 46 steps at batch 16, 127 slots; its input projection and
    # gradients (4 products of 16*46 rows x 400 x 100 per direction) and its output layer's
    # products (16*46 rows x 200 x 127) lift the mean past the threshold, but
    # each of its 184 per-step products is 16 x 100 x 400 = 640,000 multiply-adds
    chain = specc.loads(GATED_TAGGER.format(hidden=100), "lstm.nn").model.chains[0]
    assert mean_product(chain.layers, 16, steps=46) > ONE_THREAD_BELOW
    assert small_recurrence(chain.layers, 16)
    assert chosen_threads(mean_product(chain.layers, 16, steps=46), {}, small_recurrence(chain.layers, 16)) == 1
    # a wide one at a large batch: 128 x 512 x 2048 per step, worth splitting
    wide = specc.loads(GATED_TAGGER.format(hidden=512), "wide.nn").model.chains[0]
    assert not small_recurrence(wide.layers, 128)
    assert chosen_threads(mean_product(wide.layers, 128, steps=46), {}, small_recurrence(wide.layers, 128)) is None


def test_a_jordan_layers_fed_back_output_counts_as_its_recurrence():
    # Jordan multiplies U (hidden x out) and V (out x hidden) at every step, and has no R
    spec = "input x: seq 8\noutput y\nx -> rnn jordan hidden={hidden} -> dense 4\n"
    small = specc.loads(spec.format(hidden=256), "jordan.nn").model.chains[0].layers
    assert {w.name.rsplit(".", 1)[1] for w in small[0].weights} >= {"U", "V"}
    assert small_recurrence(small, 16)  # 16 x 256 x out per step


def test_a_model_without_an_rnn_has_no_small_recurrence():
    assert not small_recurrence(specc.load(spec_path("x_or_o")).model.chains[0].layers, 1)


def test_small_products_train_on_one_thread_and_large_ones_keep_the_default():
    assert chosen_threads(125_952, {}) == 1
    assert chosen_threads(ONE_THREAD_BELOW - 1, {}) == 1
    assert chosen_threads(ONE_THREAD_BELOW, {}) is None
    assert chosen_threads(33_619_968, {}) is None


# ---- the user decides first ----

@pytest.mark.parametrize("value, small, large", [("3", 3, 3), (" 1 ", 1, 1), ("auto", 1, None), ("AUTO", 1, None)])
def test_specc_blas_threads_sets_the_count(value, small, large):
    assert chosen_threads(1_000, {"SPECC_BLAS_THREADS": value}) == small
    assert chosen_threads(33_619_968, {"SPECC_BLAS_THREADS": value}) == large


@pytest.mark.parametrize("name", BLAS_VARIABLES[1:])
def test_the_librarys_own_variable_is_left_to_the_library(name):
    assert chosen_threads(1_000, {name: "2"}) is None
    assert chosen_threads(1_000, {name: "2", "SPECC_BLAS_THREADS": "1"}) == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5", "²"])
def test_a_bad_specc_blas_threads_stops_the_run_with_exit_2(value, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SPECC_BLAS_THREADS", value)
    code = main(["train", str(spec_path("x_or_o")), "--epochs", "1", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: the environment variable SPECC_BLAS_THREADS must be a number of threads or 'auto'" in err
    assert f"received: {value!r}" in err
    assert "Traceback" not in err and not (tmp_path / "checkpoint.npz").exists()


# ---- during training ----

def test_a_small_model_trains_on_one_blas_thread_and_the_count_comes_back(small_and_large, tmp_path):
    before = blas_threads_now()
    assert train_seeing_threads(small_and_large["small"], tmp_path) == {1}
    assert blas_threads_now() == before


def test_a_large_model_trains_on_the_librarys_default(small_and_large, tmp_path):
    assert train_seeing_threads(small_and_large["large"], tmp_path) == set(blas_threads_now())


def test_specc_blas_threads_is_the_count_during_training(small_and_large, monkeypatch, tmp_path):
    monkeypatch.setenv("SPECC_BLAS_THREADS", "3")
    assert train_seeing_threads(small_and_large["small"], tmp_path / "s") == {3}
    assert train_seeing_threads(small_and_large["large"], tmp_path / "l") == {3}


def test_without_threadpoolctl_training_runs_as_before(small_and_large, monkeypatch, tmp_path, capsys):
    default = set(blas_threads_now())
    reporter = ThreadsSeen(info=threadpoolctl.threadpool_info)  # looked at through the module already loaded
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # `import threadpoolctl` now fails
    with pytest.raises(ImportError):
        import threadpoolctl as _  # noqa: F401
    assert train_seeing_threads(small_and_large["small"], tmp_path, reporter) == default
    assert capsys.readouterr().err == ""
