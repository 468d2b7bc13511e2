"""A padded batch of sentences runs sorted by length in buckets (runtime/onnx_runner.py, Buckets):
every answer, row for row, is bit for bit the one the whole padded batch gives, and the one its
sentence gives alone; models that are not one-input specc word models run whole."""
from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.runtime.onnx_runner import Buckets, OnnxModel
from specc.verify import random_sentences

VOCABULARY = "fly, to, from, boston, denver, on, monday, morning"
SPEC = f"""\
model bucketed
input words: seq token
output out: a | b | c
words -> onehot vocab=[{VOCABULARY}] -> dense 12 bias=false -> {{layers}} -> dense -> softmax -> out
"""
LAYERS = {"elman": "rnn elman hidden=8",
          "jordan": "rnn jordan hidden=8",
          "elman stacked bidirectional": "rnn elman hidden=8 bidirectional layers=2",
          "lstm bidirectional": "rnn lstm hidden=8 bidirectional",
          "gru bidirectional": "rnn gru hidden=8 bidirectional",
          "gru, one class per sentence": "rnn gru hidden=8 -> last"}


def runner(layers: str, threads: int = 1) -> tuple[specc.Network, OnnxModel]:
    """The spec with `layers` (seeded weights) exported and loaded in OnnxModel."""
    net = specc.loads(SPEC.format(layers=layers), seed=0)
    return net, OnnxModel(net.to_onnx().SerializeToString(), threads=threads)


def sentences(net: specc.Network, batch: int, length: int = 20) -> np.ndarray:
    """(batch, length) words padded with "", sentences of 1 to `length` words, and a word the
    vocabulary lacks among them."""
    words = random_sentences(net.model, batch, length, np.random.default_rng(batch))
    words[-1, 0] = "Taipei"
    return words


def assert_same(got: dict, expected: dict) -> None:
    """Equal outputs, bit for bit (word for word for class names)."""
    assert list(got) == list(expected)
    for name in got:
        assert got[name].dtype == expected[name].dtype and got[name].shape == expected[name].shape, name
        assert got[name].tolist() == expected[name].tolist(), name


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layers", list(LAYERS))
def test_a_padded_batch_answers_row_for_row_as_the_whole_batch(layers, threads):
    net, model = runner(LAYERS[layers], threads)
    words = sentences(net, 256)
    assert len(Buckets.split((words != "").sum(axis=1))) > 1  # it does run in buckets
    whole = dict(zip(model.outputs, model.session.run(None, {"words": words})))
    assert_same(model.run({"words": words}), whole)
    # at 2 threads the buckets ran side by side, on the runner's own threads
    assert (model.buckets.pool is not None) == (threads == 2)


@pytest.mark.parametrize("layers", ["elman", "lstm bidirectional", "gru, one class per sentence"])
def test_each_row_answers_as_its_sentence_alone(layers):
    net, model = runner(LAYERS[layers])
    words = sentences(net, 64)
    batch = model.run({"words": words})
    for row in (0, 1, 17, 63):
        length = int((words[row] != "").sum())
        alone = model.run({"words": words[row:row + 1, :length]})
        for name, value in alone.items():
            per_step = value.ndim > 1 and batch[name].shape[1] == words.shape[1]
            mine = batch[name][row:row + 1, :length] if per_step else batch[name][row:row + 1]
            assert mine.tolist() == value.tolist(), (name, row)
            if per_step:  # past the sentence: what the model gives on padding
                assert not np.any(batch[name][row, length:].astype(bool)), (name, row)


def test_split_covers_every_row_once_longest_first():
    lengths = np.random.default_rng(0).integers(1, 30, size=256)
    buckets = Buckets.split(lengths)
    assert 1 < len(buckets) <= 16
    assert sorted(np.concatenate(buckets).tolist()) == list(range(256))
    longest = [int(lengths[rows].max()) for rows in buckets]
    assert longest == sorted(longest, reverse=True) and longest[0] == lengths.max()


@pytest.mark.parametrize("lengths", [[9] * 256, [3, 1], [5, 4, 2, 6, 1, 3, 2, 2]], ids=["equal", "two", "eight"])
def test_a_batch_that_bucketing_would_not_shorten_enough_runs_whole(lengths):
    assert len(Buckets.split(np.array(lengths))) == 1


def test_a_sentence_alone_and_a_batch_of_equal_lengths_run_whole():
    net, model = runner(LAYERS["elman"])
    calls = []
    model.session.run = lambda fetch, feeds, run=model.session.run: calls.append(feeds["words"].shape) or run(fetch, feeds)
    model.run({"words": sentences(net, 1)})
    model.run({"words": np.full((40, 3), "fly", dtype=object)})
    assert calls == [(1, 20), (40, 3)]


@pytest.mark.parametrize("rows", [1, 3])
def test_padding_past_the_longest_sentence_is_cut_before_the_run(rows):
    net, model = runner(LAYERS["lstm bidirectional"])
    words = sentences(net, rows, length=6)  # the first sentence 6 words long
    padded = np.concatenate([words, np.full((rows, 30), "", dtype=object)], axis=1)
    calls = []
    model.session.run = lambda fetch, feeds, run=model.session.run: calls.append(feeds["words"].shape) or run(fetch, feeds)
    got, alone = model.run({"words": padded}), model.run({"words": words})
    assert calls == [(rows, 6), (rows, 6)]  # padded to 36, run at 6
    for name, value in got.items():
        per_step = value.ndim > 1 and value.shape[1] == padded.shape[1]
        assert (value[:, :6] if per_step else value).tolist() == alone[name].tolist(), name
        if per_step:
            assert not np.any(value[:, 6:].astype(bool)), name


def test_models_other_than_one_word_input_run_whole():
    numeric = specc.loads("model n\ninput x: 4\noutput y: a | b\nx -> dense -> softmax -> y\n", seed=0)
    portable = specc.loads(SPEC.format(layers=LAYERS["elman"]), seed=0)
    two = specc.loads("model two\ninput a: seq token\ninput b: seq token\noutput y: p | q\noutput z: p | q\n"
                      "a -> onehot vocab=[x, y] -> dense 2 -> softmax -> y\n"
                      "b -> onehot vocab=[x, y] -> dense 2 -> softmax -> z\n", seed=0)
    for proto in (numeric.to_onnx(), portable.to_onnx(portable=True), two.to_onnx()):
        assert OnnxModel(proto.SerializeToString()).buckets is None


def test_at_two_threads_each_call_runs_on_one_core_and_two_buckets_side_by_side():
    """A tagger's calls at intra-op 1, at least as many buckets as threads: even a batch of equal
    lengths is split in two, each half answering as the whole batch does."""
    net, model = runner(LAYERS["lstm bidirectional"], threads=2)
    assert model.session.get_session_options().intra_op_num_threads == 1 and model.bucket_workers == 2
    assert len(Buckets.split(np.array([9] * 256), workers=2)) == 2
    assert len(Buckets.split(np.array([9] * 256), workers=64)) == 8  # each with 32 rows at least
    assert len(Buckets.split(np.array([9] * 63), workers=2)) == 1
    words = np.full((64, 3), "fly", dtype=object)
    whole = dict(zip(model.outputs, model.session.run(None, {"words": words})))
    calls = []
    model.session.run = lambda fetch, feeds, run=model.session.run: calls.append(feeds["words"].shape) or run(fetch, feeds)
    assert_same(model.run({"words": words}), whole)
    assert sorted(calls) == [(32, 3), (32, 3)]
    numeric = specc.loads("model n\ninput x: 4\noutput y: a | b\nx -> dense -> softmax -> y\n", seed=0)
    assert OnnxModel(numeric.to_onnx().SerializeToString(), threads=2).session.get_session_options() \
        .intra_op_num_threads == 2  # not a tagger: onnxruntime's own threads
