"""The exported lower-case word lookup (specc/onnx_words.py: the word as written first, character
by character only for the words that missed) gives exactly NumPy's ids (runtime/kernels/onehot.py
word_ids) on every word: ASCII in every case, accented and special-case capitals, digits,
punctuation, padding, very long words; in batches where every word hits, some do, and none do."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from specc.lowercase import lowercase
from specc.onnx_export import GraphBuilder
from specc.onnx_words import WORD_ONNX_OPSETS, _raw_word_keys, lower_word_ids
from specc.runtime.kernels.onehot import PADDING, word_ids
from tests.test_unicode_words import WORDS as UNICODE_WORDS

WORDS = [
    "flights", "Flights", "FLIGHTS", "fLiGhTs", "boston", "Boston", "to", "TO", "a", "A", "i", "I",
    "école", "École", "ÉCOLE", "äpfel", "Äpfel", "ÄPFEL", "straße", "STRASSE", "Straße", "ß", "ẞ",
    "istanbul", "İstanbul", "İSTANBUL", "ısparta", "ISPARTA", "ı", "İ", "i̇stanbul",
    "οδος", "οδοσ", "ΟΔΟΣ", "Οδός", "σ", "ς", "Σ", "ΣΑΣ", "σας",
    "москва", "Москва", "МОСКВА", "ёж", "Ёж", "ǆemal", "ǅemal", "Ǆemal",
    "k", "K", "K", "ω", "Ω", "Ω",
    "東京", "👍🏽", "e\u0301", "E\u0301", "ﬓ",
    "0", "42", "3.14", "1,000", "7:30pm", "-", "'s", "o'clock", "O'CLOCK", "#", "#hash#", "...", "?", "!", "a-b",
    "x" * 40, "X" * 40, "Supercalifragilisticexpialidocious" * 3, "pneumonoultramicroscopicsilicovolcanoconiosis",
] + UNICODE_WORDS
# what the vocabulary holds (lower case, as the front end makes it): most words, not all
VOCABULARY = tuple(dict.fromkeys(lowercase(w) for w in WORDS[::2] + ["pneumonoultramicroscopicsilicovolcanoconiosis"]))
UNSEEN = ["", "flight", "flightss", "lights", "unseen", "UNSEEN", "ΣΑ", "École!", "x" * 41, "pneumonoultra",
          "pneumonoultramicroscopicsilicovolcanoconiosiS", "pneumonoultramicroscopicsilicovolcanoconiosis!",
          "Supercalifragilisticexpialidocious" * 4, "supercalifragilisticexpialidocious" * 3 + "s"]
FORMS = list(dict.fromkeys([f(w) for w in WORDS + list(VOCABULARY) + UNSEEN
                            for f in (str, str.upper, str.lower, str.title, str.swapcase, lowercase)]))


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    """onnxruntime on a model of the lookup alone: words (string, any shape) -> ids."""
    g = GraphBuilder({})
    g.opsets.update(WORD_ONNX_OPSETS)
    out = lower_word_ids(g, "words", VOCABULARY, "onehot")
    graph = helper.make_graph(g.nodes, "lookup", [helper.make_tensor_value_info("words", TensorProto.STRING, None)],
                              [helper.make_tensor_value_info(out, TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in g.opsets.items()])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def expected(words: np.ndarray) -> np.ndarray:
    """NumPy's ids, padding "" as the graph gives it (the "other" id; the model masks it)."""
    ids = word_ids(words, VOCABULARY, True)
    return np.where(ids == PADDING, len(VOCABULARY), ids)


def looked_up(session, words) -> np.ndarray:
    words = np.array(words, dtype=object)
    return session.run(None, {"words": words})[0]


def test_the_word_list_covers_hits_misses_and_lowering():
    ids = expected(np.array(FORMS, dtype=object))
    as_written = set(_raw_word_keys(VOCABULARY)[0])
    assert len(FORMS) > 250 and max(map(len, FORMS)) > max(map(len, VOCABULARY))
    assert sum(w in as_written for w in FORMS) > 50  # found as written
    assert sum(w not in as_written and i < len(VOCABULARY) for w, i in zip(FORMS, ids)) > 50  # found lowered
    assert sum(i == len(VOCABULARY) for i in ids) > 50  # other


def test_every_form_alone_gets_numpy_id(session):
    """One word per call: the If takes the word-as-written branch or the character branch."""
    for word in FORMS:
        assert looked_up(session, [[word]]).tolist() == expected(np.array([[word]], dtype=object)).tolist(), word


@pytest.mark.parametrize("rows", [1, 7, 64])
def test_batches_of_mixed_words_get_numpy_ids(session, rows):
    rng = np.random.default_rng(rows)
    words = rng.choice(np.array(FORMS, dtype=object), size=(rows, 13))
    words[:, -3:] = ""  # padding
    np.testing.assert_array_equal(looked_up(session, words), expected(words))


def test_batches_where_every_word_or_no_word_is_written_as_its_vocabulary_word(session):
    known = np.array([list(VOCABULARY[:8]) + [""], list(VOCABULARY[8:16]) + [""]], dtype=object)
    np.testing.assert_array_equal(looked_up(session, known), expected(known))
    upper = np.array([[w.upper() for w in VOCABULARY[:9]]], dtype=object)
    np.testing.assert_array_equal(looked_up(session, upper), expected(upper))
    padding = np.full((3, 4), "", dtype=object)
    assert (looked_up(session, padding) == len(VOCABULARY)).all()


@pytest.mark.parametrize("shape", [(0, 3), (2, 0), (0,), (2, 3, 4)])
def test_any_shape_and_no_words_at_all(session, shape):
    words = np.array(FORMS[:int(np.prod(shape))], dtype=object).reshape(shape)
    out = looked_up(session, words)
    assert out.shape == shape and out.dtype == np.int64
    np.testing.assert_array_equal(out, expected(words))


def test_only_words_that_are_their_own_lowercase_are_looked_up_as_written():
    keys, values = _raw_word_keys(("apple", "Σ", "σ", ""))
    assert dict(zip(keys, values)) == {"apple": 0, "σ": 2, "": 3}
    keys, values = _raw_word_keys(("apple",))
    assert dict(zip(keys, values)) == {"apple": 0, "": 1}  # padding: other
