"""Letter-trigram word hashing: the NumPy functions, and the ONNX subgraph against them."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.onnx_trigrams import TRIGRAM_ONNX_OPSETS, lower_trigram_counts
from specc.trigrams import trigram_counts, trigram_ids, trigram_vocabulary, word_trigrams

CORPUS = ["apple", "apples", "banana", "to", "a", "Zürich", "北京", "a#b", "mississippi"]


# ---------------------------------------------------------------------------- NumPy

def test_apple_is_the_lecture_example():
    assert word_trigrams("apple") == ["#ap", "app", "ppl", "ple", "le#"]


@pytest.mark.parametrize("word, trigrams", [
    ("", []),                      # padding
    ("a", ["#a#"]),
    ("to", ["#to", "to#"]),
    ("aaaa", ["#aa", "aaa", "aaa", "aa#"]),
    ("北京", ["#北京", "北京#"]),
    ("Zü", ["#Zü", "Zü#"]),
])
def test_word_trigrams(word, trigrams):
    assert word_trigrams(word) == trigrams


def test_banana_counts_ana_twice():
    vocab = trigram_vocabulary(["banana"])
    assert vocab == ("ana", "#ba", "ban", "na#", "nan")   # ana twice first, then alphabetical
    counts = trigram_counts(np.array(["banana"], dtype=object), vocab)
    assert counts.dtype == np.float32 and counts.shape == (1, 5)
    assert counts[0].tolist() == [2, 1, 1, 1, 1]


def test_vocabulary_order_min_count_and_max_size():
    words = ["to", "to", "at", "a"]           # each occurrence of a word counts
    assert trigram_vocabulary(words) == ("#to", "to#", "#a#", "#at", "at#")
    assert trigram_vocabulary(words, min_count=2) == ("#to", "to#")
    assert trigram_vocabulary(words, max_size=3) == ("#to", "to#", "#a#")
    assert trigram_vocabulary(["", ""]) == ()
    assert trigram_vocabulary(np.array([["to", ""], ["to", "a"]], dtype=object)) == ("#to", "to#", "#a#")
    with pytest.raises(ValueError):
        trigram_vocabulary(words, min_count=0)


def test_unseen_word_sharing_trigrams_gets_a_nonzero_vector():
    vocab = trigram_vocabulary(["apple", "banana"])
    counts = trigram_counts(np.array(["applet", "xyz"], dtype=object), vocab)
    shared = {t: counts[0, vocab.index(t)] for t in ("#ap", "app", "ppl", "ple", "le#")}
    assert shared == {"#ap": 1, "app": 1, "ppl": 1, "ple": 1, "le#": 0}   # applet ends 'let', 'et#'
    assert counts[0].sum() == 4
    assert not counts[1].any()


def test_ids_keep_order_and_pad_with_minus_one():
    vocab = trigram_vocabulary(["banana", "to"])
    words = np.array([["banana", ""], ["to", "xx"]], dtype=object)
    ids = trigram_ids(words, vocab)
    assert ids.dtype == np.int64 and ids.shape == (2, 2, 6)    # K = banana's 6 trigrams
    assert [vocab[i] for i in ids[0, 0]] == ["#ba", "ban", "ana", "nan", "ana", "na#"]
    assert ids[0, 1].tolist() == [-1] * 6                     # padding
    assert [vocab[i] for i in ids[1, 0] if i >= 0] == ["#to", "to#"] and ids[1, 0, 2:].tolist() == [-1] * 4
    assert ids[1, 1].tolist() == [-1] * 6                     # no trigram in the vocabulary
    # a batch where no word has a known trigram still has K = 1
    assert trigram_ids(np.array(["", "zz"]), vocab).tolist() == [[-1], [-1]]
    assert trigram_ids(np.empty((0, 3), dtype=object), vocab).shape == (0, 3, 1)


def test_counts_are_the_ids_counted():
    vocab = trigram_vocabulary(CORPUS)
    words = np.array(CORPUS + ["", "missing", "ZÜRICH"], dtype=object).reshape(3, 4)
    ids, counts = trigram_ids(words, vocab), trigram_counts(words, vocab)
    expect = np.zeros(words.shape + (len(vocab),), np.float32)
    for index in np.ndindex(words.shape):
        for i in ids[index]:
            if i >= 0:
                expect[index + (i,)] += 1
    np.testing.assert_array_equal(counts, expect)
    assert counts.shape == (3, 4, len(vocab))


def test_is_case_sensitive_and_accepts_unicode_arrays():
    vocab = trigram_vocabulary(["apple"])
    counts = trigram_counts(np.array(["apple", "APPLE", "Apple"]), vocab)    # a '<U5' array
    assert counts.sum(axis=1).tolist() == [5, 0, 3]


def test_bad_vocabularies_and_words_are_refused():
    with pytest.raises(ValueError, match="3-character"):
        trigram_counts(np.array(["ab"]), ("ab",))
    with pytest.raises(ValueError, match="repeats"):
        trigram_counts(np.array(["ab"]), ("#ab", "#ab"))
    with pytest.raises(TypeError):
        trigram_ids(np.array([1.0, 2.0]), ("#ab",))
    with pytest.raises(TypeError):
        trigram_ids(np.array(["ab", None], dtype=object), ("#ab",))


def test_ids_of_50000_words_are_fast():
    rng = np.random.default_rng(3)
    letters = np.array(list("etaoinshrdlcumwfgypbvk"))
    distinct = ["".join(rng.choice(letters, n)) for n in rng.integers(1, 12, 5000)]
    words = np.array(distinct, dtype=object)[rng.integers(0, 5000, 50_000)]
    vocab = trigram_vocabulary(words, max_size=2000)
    trigram_ids(words[:10], vocab)
    best = min(_seconds(lambda: trigram_ids(words, vocab)) for _ in range(3))
    assert best < 0.5   # ~0.03 s on a laptop core; the bound only catches a per-word slow path


def _seconds(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------- ONNX

def trigram_model(vocab, rank: int = 2):
    """A ModelProto: string input `words` of dynamic shape -> float `counts` (..., V)."""
    from onnx import TensorProto, helper
    from specc.onnx_export import IR_VERSION, GraphBuilder

    g = GraphBuilder({})
    g.used.add("words")
    out = lower_trigram_counts(g, "words", vocab, "hash")
    g.rename_output(out, "counts")
    dims = ["N", "T", "U"][:rank]
    graph = helper.make_graph(g.nodes, "trigrams", [helper.make_tensor_value_info("words", TensorProto.STRING, dims)],
                              [helper.make_tensor_value_info("counts", TensorProto.FLOAT, dims + [len(vocab)])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in TRIGRAM_ONNX_OPSETS.items()])
    model.ir_version = IR_VERSION
    return model


def session(model):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_onnx(sess, words) -> np.ndarray:
    return sess.run(None, {"words": np.asarray(words, dtype=object)})[0]


BATCH = np.array([
    ["", "apple", "banana", "a", "to"],               # padding first, short words, 'ana' twice
    ["Zürich", "北京", "zürich", "mississippi", ""],  # non-ASCII (zürich: 'zür' unseen), 'ssi' twice
    ["a#b", "qwerty", "Ωmega", "apple\x02", ""],      # '#' inside, characters never in the vocabulary
], dtype=object)


@pytest.fixture(scope="module")
def vocab():
    return trigram_vocabulary(CORPUS)


@pytest.fixture(scope="module")
def sess(vocab):
    return session(trigram_model(vocab))


def test_onnx_equals_numpy_on_the_batch(sess, vocab):
    got, expect = run_onnx(sess, BATCH), trigram_counts(BATCH, vocab)
    assert got.dtype == np.float32 and got.shape == (3, 5, len(vocab))
    np.testing.assert_array_equal(got, expect)
    assert got[0, 2, vocab.index("ana")] == 2 and got[1, 3, vocab.index("ssi")] == 2
    assert not got[1:, -1].any() and not got[0, 0].any()          # padding rows are zero
    assert got[0, 3].sum() == 1 and got[0, 4].sum() == 2          # 'a' -> #a#, 'to' -> #to to#
    assert got[2, 1].sum() == 0 and got[2, 3].sum() == 4          # 'apple\x02': no 'le#'


@pytest.mark.parametrize("shape", [(1, 1), (7, 2), (2, 13), (0, 4), (3, 0)])
def test_onnx_runs_at_other_shapes_with_the_same_model(sess, vocab, shape):
    rng = np.random.default_rng(sum(shape))
    words = rng.choice(BATCH.ravel(), shape) if 0 not in shape else np.empty(shape, dtype=object)
    got = run_onnx(sess, words)
    assert got.shape == shape + (len(vocab),)
    np.testing.assert_array_equal(got, trigram_counts(words, vocab))


def test_onnx_batch_of_padding_only(sess, vocab):
    words = np.full((2, 3), "", dtype=object)
    np.testing.assert_array_equal(run_onnx(sess, words), np.zeros((2, 3, len(vocab)), np.float32))


def test_onnx_with_an_empty_vocabulary():
    got = run_onnx(session(trigram_model(())), BATCH)
    assert got.shape == (3, 5, 0)


def test_onnx_other_ranks():
    vocab = trigram_vocabulary(CORPUS)
    for rank, words in ((1, BATCH[0]), (3, BATCH.reshape(3, 1, 5))):
        got = run_onnx(session(trigram_model(vocab, rank)), words)
        np.testing.assert_array_equal(got, trigram_counts(words, vocab))


ALPHABET = "abnpl#eüZ北京\x02\x03 Ω"   # vocabulary characters, '#', marks the Tokenizer could use, strangers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=ALPHABET, max_size=9), min_size=1, max_size=12))
def test_onnx_equals_numpy_on_any_words(sess, vocab, words):
    batch = np.array(words + [""] * (12 - len(words)), dtype=object).reshape(3, 4)
    np.testing.assert_array_equal(run_onnx(sess, batch), trigram_counts(batch, vocab))


def test_onnx_checker_and_shape_inference_accept_the_model(tmp_path, vocab):
    # in a subprocess: onnx's shape inference has crashed the process on this graph (LabelEncoder
    # after the untyped com.microsoft Tokenizer, fixed by the Cast); a crash must fail, not kill pytest
    path = tmp_path / "trigrams.onnx"
    path.write_bytes(trigram_model(vocab).SerializeToString())
    code = ("import sys, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); "
            "onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True); print('ok')")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_importing_the_module_does_not_import_onnx():
    code = "import sys, specc.trigrams; print('onnx' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_onnx_subgraph_names_follow_the_prefix(vocab):
    nodes = trigram_model(vocab).graph.node
    assert all(n.name.startswith("hash.") for n in nodes)
    if_node = next(n for n in nodes if n.op_type == "If")
    inner = {n.op_type: n for a in if_node.attribute if a.name == "else_branch" for n in a.g.node}
    assert inner["Tokenizer"].domain == "com.microsoft" and inner["LabelEncoder"].domain == "ai.onnx.ml"
    assert {"Tokenizer", "LabelEncoder", "TfIdfVectorizer"} <= set(inner)


def test_a_mapping_of_word_counts_gives_the_vocabulary_its_occurrences_give():
    """wordhash counts each distinct word once, lower-cased once (specc.vocabulary.word_counts):
    the same trigrams in the same order as counting every occurrence."""
    from collections import Counter

    from specc.lowercase import lowercase
    from specc.vocabulary import word_counts

    sentences = [["Fly", "to", "BOSTON"], ["fly", "İstanbul", "to", "Boston"], ["ΟΔΟΣ", "fly"]]
    occurrences = [lowercase(word) for sentence in sentences for word in sentence]
    assert word_counts(sentences, lowercase=True) == Counter(occurrences)
    assert word_counts(sentences) == Counter(word for sentence in sentences for word in sentence)
    for min_count in (1, 2, 3):
        assert trigram_vocabulary(word_counts(sentences, lowercase=True), min_count=min_count) == \
            trigram_vocabulary(occurrences, min_count=min_count)
