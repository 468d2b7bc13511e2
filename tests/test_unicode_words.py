"""`lowercase` gives the same words in the NumPy interpreter and in the exported ONNX model, for
all of Unicode: specc's rule is Unicode's simple lowercase mapping (UnicodeData.txt, field 13),
one character for one, applied by both back ends. The oracle is the UCD, through Python's
unicodedata (its str.lower of one character is that mapping, but for U+0130, whose field 13
is U+0069) and through values copied from UnicodeData.txt."""
from __future__ import annotations

import subprocess
import sys
import unicodedata

import numpy as np
import onnx
import pytest
import specc
from specc.cli import main
from tests.helpers import run_both

# (word, its simple lowercase as UnicodeData.txt gives it): the oracle, written out
UCD_EXAMPLES = [
    ("ΟΔΟΣ", "οδοσ"),            # U+03A3 -> U+03C3: no final-sigma context in the simple mapping
    ("İSTANBUL", "istanbul"),    # U+0130 -> U+0069 (field 13), not 'i' + U+0307
    ("ẞ", "ß"),                  # U+1E9E -> U+00DF
    ("ǅemal", "ǆemal"),          # titlecase U+01C5 -> U+01C6
    ("ᏣᎳᎩ", "ꮳꮃꭹ"),              # Cherokee U+13E3 U+13B3 U+13A9 -> U+ABB3 U+AB83 U+AB79
    ("ᲗᲑᲘᲚᲘᲡᲘ", "თბილისი"),      # Georgian Mtavruli U+1C97.. -> Mkhedruli U+10D7..
    ("K", "k"),                  # KELVIN SIGN U+212A -> U+006B
    ("Ω", "ω"),                  # OHM SIGN U+2126 -> U+03C9
    ("Ⅻ", "ⅻ"),                  # U+216B -> U+217B
    ("𐐀𐐁", "𐐨𐐩"),                # Deseret U+10400 U+10401 -> U+10428 U+10429
    ("E\u0301", "e\u0301"),      # the combining mark stays
    ("ﬓ", "ﬓ"),                  # Armenian ligature: lowercase already, no mapping
]

# at least 50 words across scripts: mixed case, special cases, non-letters
WORDS = [word for word, _ in UCD_EXAMPLES] + [
    "Οδός", "ΣΑΣ", "ς", "σ", "DİYARBAKIR", "ısparta", "I", "i", "STRASSE", "Straße", "ß", "ﬁ", "ﬀ", "ﬄ",
    "ԵՐԵՎԱՆ", "երևան", "Ꭰ", "ꭰ", "თბილისი", "ǈ", "ǋ", "ǲ", "Ǆ", "ǅ", "Å", "Å", "ΐ", "ǰ", "ŉ", "Ⓐ",
    "ＡＢＣ", "𞤀𞤢", "МОСКВА", "Москва", "Ѐ", "McDonald", "iPhone", "ÀÉÎÕÜ", "Zürich", "ZÜRICH",
    "👍🏽", "👨\u200d👩\u200d👧", "東京", "北京", "ソウル", "한국어", "ΆΈΉ", "ǱUR", "Ĳssel", "ŸVES", "Ǉubljana",
    "ÐÞ", "apple", "APPLE", "o'clock", "#hash#", "ⰀⰁ", "Ꙁ", "ᾈ", "ᾼ", "ǈ",
]


def ucd_lower(word: str) -> str:
    """The simple lowercase mapping from unicodedata: one character for one."""
    return "".join("i" if c == "\u0130" else c.lower() for c in word)


def vocab_list(words) -> str:
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


def onehot_net(vocabulary) -> specc.Network:
    """words -> onehot vocab=VOCABULARY lowercase -> dense 8 (random weights: a column per id)."""
    return specc.loads(f"input words: seq token\nwords -> onehot vocab={vocab_list(vocabulary)} lowercase "
                       "-> dense 8 bias=false\n")


def word_ids(net, words) -> tuple[np.ndarray, np.ndarray]:
    """The onehot id of each word, in NumPy and in onnxruntime: the dense weight's column that
    the output of the word is."""
    columns = net.weights[net.model.layers[1].weight_name("weight")].T  # (V + 1, 8)
    outputs = run_both(net, {"words": [words]})
    return tuple(np.abs(out["output"][0][:, None, :] - columns).sum(-1).argmin(-1) for out in outputs)


def test_the_table_is_the_simple_lowercase_mapping_of_every_code_point():
    from specc.lowercase import UNICODE_VERSION, lowercase

    if unicodedata.unidata_version != UNICODE_VERSION:
        pytest.skip(f"this Python's unicodedata is Unicode {unicodedata.unidata_version}")
    for code in range(0x110000):
        if not 0xD800 <= code < 0xE000:
            c = chr(code)
            assert lowercase(c) == ucd_lower(c), hex(code)


def test_words_lowercase_as_the_unicode_character_database_says():
    """onehot's id of each word is the id of its UCD lowercase, in NumPy and in onnxruntime."""
    vocabulary = [lower for _, lower in UCD_EXAMPLES]
    words = [form for word, lower in UCD_EXAMPLES for form in (word, word.upper(), lower)]
    expected = [i if ucd_lower(form) == lower else len(vocabulary)
                for i, (word, lower) in enumerate(UCD_EXAMPLES) for form in (word, word.upper(), lower)]
    assert sum(i == len(vocabulary) for i in expected) == 1  # 'ﬓ'.upper() is 'ՄՆ': not 'ﬓ'
    for ids in word_ids(onehot_net(vocabulary), words):
        assert list(ids) == expected


def test_onehot_lowercase_with_a_literal_vocabulary_agrees_on_every_word():
    vocabulary = list(dict.fromkeys(map(ucd_lower, WORDS)))
    net = onehot_net(vocabulary)
    assert len(WORDS) >= 50 and net.model.layers[0].attrs.vocabulary == tuple(vocabulary)
    words = WORDS + [w.upper() for w in WORDS] + [w.lower() for w in WORDS] + ["unseen", "ΣΑΣ!"]
    numpy_ids, onnx_ids = word_ids(net, words)
    np.testing.assert_array_equal(numpy_ids, onnx_ids)
    assert [vocabulary[i] if i < len(vocabulary) else None for i in numpy_ids[:len(WORDS)]] == \
        [ucd_lower(w) for w in WORDS]
    assert list(numpy_ids[-2:]) == [len(vocabulary)] * 2  # other


def test_a_literal_vocabulary_is_lowercased_by_the_same_rule():
    net = specc.loads('input words: seq token\nwords -> onehot vocab=["ΟΔΟΣ", "İSTANBUL", "οδοσ", "ẞ"] lowercase\n')
    assert net.model.layers[0].attrs.vocabulary == ("οδοσ", "istanbul", "ß")
    hashed = specc.loads('input words: seq token\nwords -> wordhash vocab=["#İS", "#is", "ΟΣ#"] lowercase\n')
    assert hashed.model.layers[0].attrs.vocabulary == ("#is", "οσ#")


@pytest.fixture(scope="module")
def conll(tmp_path_factory):
    """A CoNLL file of the WORDS, each in sentences as written, upper-cased and lower-cased by
    Python (which gives 'οδος' and 'di̇yarbakir')."""
    path = tmp_path_factory.mktemp("unicode") / "words.conll"
    sentences = [WORDS[i:i + 8] for i in range(0, len(WORDS), 8)]
    sentences += [[w.upper() for w in s] for s in sentences] + [[w.lower() for w in s] for s in sentences]
    sentences *= 3  # each word in several sentences: not all of them in the held-out tenth
    path.write_text("\n".join("".join(f"{w}\t{'X' if i % 2 else 'O'}\n" for i, w in enumerate(s)) for s in sentences),
                    encoding="utf-8")
    return path


def test_onehot_lowercase_with_a_vocabulary_from_data_agrees_on_every_word(conll):
    net = specc.loads("input words: seq token\noutput tags: from data\n"
                      "words -> onehot lowercase -> dense -> softmax -> tags\n", data=str(conll))
    vocabulary = net.model.layers[0].attrs.vocabulary
    assert all(ucd_lower(w) == w for w in vocabulary)  # (the validation tenth of the data is not in it)
    assert {"οδοσ", "οδος", "istanbul", "i̇stanbul"} <= set(vocabulary)  # Python's lower cases are words too
    words = WORDS + [w.upper() for w in WORDS] + [w.lower() for w in WORDS] + [w.title() for w in WORDS]
    numpy_out, onnx_out = run_both(net, {"words": [words]})
    assert np.abs(numpy_out["tags"] - onnx_out["tags"]).max() <= 1e-6
    np.testing.assert_array_equal(numpy_out["tags_class"], onnx_out["tags_class"])
    for ids in word_ids(onehot_net(vocabulary), ["ΟΔΟΣ", "οδος", "İSTANBUL", "i̇stanbul"]):
        assert [vocabulary[i] for i in ids] == ["οδοσ", "οδος", "istanbul", "i̇stanbul"]


@pytest.mark.parametrize("after", ["", " -> dense 8 bias=false"])
def test_wordhash_lowercase_counts_agree_on_every_word(conll, after):
    net = specc.loads(f"input words: seq token\nwords -> wordhash lowercase{after}\n", data=str(conll))
    vocabulary = net.model.layers[0].attrs.vocabulary
    assert "οσ#" in vocabulary and "#is" in vocabulary and "#İs" not in vocabulary
    words = WORDS + [w.upper() for w in WORDS] + [w.title() for w in WORDS]
    numpy_out, onnx_out = run_both(net, {"words": [words]})
    assert np.abs(numpy_out["output"] - onnx_out["output"]).max() <= 1e-6
    if not after:  # the counts themselves
        counts = dict(zip(vocabulary, numpy_out["output"][0, WORDS.index("ΟΔΟΣ")]))
        assert {t: n for t, n in counts.items() if n} == {"#οδ": 1, "οδο": 1, "δοσ": 1, "οσ#": 1}  # '#οδοσ#'


def test_compile_verifies_non_ascii_and_special_case_words(tmp_path, capsys, monkeypatch):
    """Python's str.lower reaches the vocabulary word 'οδος' from 'ΟΔΟΣ', specc's rule (and a C
    library's towlower) does not: a NumPy back end lower-casing with str.lower differs from the
    export, and compile's verification sentences, holding such words, must see it."""
    spec = tmp_path / "greek.nn"
    for vocab, numpy_lowercase, exit_code in [('["οδος", "istanbul", apple]', None, 0),
                                              ('["οδος", "istanbul", pear]', str.lower, 1)]:
        if numpy_lowercase is not None:
            monkeypatch.setattr("specc.runtime.kernels.onehot.lower", numpy_lowercase, raising=False)
        spec.write_text(f"input words: seq token\nwords -> onehot vocab={vocab} lowercase -> dense 2\n",
                        encoding="utf-8")
        assert main(["compile", str(spec), "-o", str(tmp_path / "greek.onnx")]) == exit_code
        assert ("largest difference 0 " in capsys.readouterr().out) == (exit_code == 0)
        if exit_code == 0:
            metadata = {p.key: p.value for p in onnx.load(tmp_path / "greek.onnx").metadata_props}
            assert metadata["specc.lowercase"].startswith("Unicode 14.0.0 simple lowercase mapping")
            assert metadata["specc.runtime"].startswith("onnxruntime")  # the contrib Tokenizer


def test_check_lowercases_a_literal_vocabulary_without_numpy(tmp_path):
    spec = tmp_path / "w.nn"
    spec.write_text('input words: seq token\nwords -> onehot vocab=["ΟΔΟΣ", "οδοσ", "İSTANBUL", "istanbul"] lowercase\n',
                    encoding="utf-8")
    code = ("import sys; from specc.cli import main; rc = main(['check', sys.argv[1]]); "
            "print(rc, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, check=True)
    assert "(N, T, 3)" in done.stdout  # two words and "other"
    assert done.stdout.splitlines()[-1] == "0 False"
