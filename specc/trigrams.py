"""Letter-trigram word hashing: `apple` -> `#ap app ppl ple le#` (lecture).

A word is wrapped in the boundary mark `#` and cut into every run of 3 consecutive characters,
in order, repeats kept; a word is then represented by how often each trigram of a fixed
vocabulary occurs in it. The empty string is padding and has no trigrams. Everything is
case-sensitive: lower-case the words beforehand if wanted (the ONNX half can do it, with
specc's rule: specc/lowercase.py). Characters are Unicode code points
(Python's `len`), so 'Zürich' and '北京' work like ASCII words.

Two implementations compute the same numbers:

- NumPy: `word_trigrams`, `trigram_vocabulary`, `trigram_ids`, `trigram_counts`;
- ONNX: `lower_trigram_counts(g, words, vocabulary, layer, lowercase_first)` adds to a GraphBuilder the nodes
  that turn a string tensor of words (N, T) into float counts (N, T, len(vocabulary)) inside an
  onnxruntime graph. The model must import the opsets in `TRIGRAM_ONNX_OPSETS`.

The ONNX subgraph (onnx is imported only when it is built), with V = len(vocabulary):

    If Size(words) == 0                     TfIdfVectorizer rejects a batch of 0 rows:
      then ConstantOfShape zeros            the zeros (*words.shape, V)
      else:
    Reshape(words, [-1])                    one row per word
    com.microsoft Tokenizer                 split into characters (separators=[""] is the
      (mark=0, separators=[""],             documented character mode); rows padded with
       mincharnum=1, pad_value=PAD)         PAD, a multi-character string no character equals
    Cast(to=STRING)                         a no-op that types the Tokenizer's output for onnx
    ai.onnx.ml LabelEncoder                 character -> id (0 is '#', 1.. the vocabulary's
                                            other characters); an unseen character -> UNKNOWN,
                                            PAD -> PADDING; neither is in any pool trigram.
                                            With lowercase_first, a character gets the id of
                                            its lowercase (the rule as a table of keys)
    Pad right with PADDING, then            the first PADDING of each row becomes '#' (the end
      Pad/Slice/Equal/Not/And/Where         mark); then Pad left with '#' (the start mark)
    TfIdfVectorizer (mode="TF",             count each vocabulary trigram, given as its 3
      min/max_gram_length=3,                character ids in pool_int64s, into column
      max_skip_count=0, ngram_counts=[0,0,0]) ngram_indexes[i] = i
    Reshape(allowzero=1) to Concat(Shape(words), [V])

The boundary marks are placed with numeric ops rather than the Tokenizer's mark=1 (which wraps
each word in U+0002 ... U+0003) so that a word containing those characters still counts
exactly as in NumPy.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    from .onnx_export import GraphBuilder

BOUNDARY = "#"

# the ONNX domains and versions the subgraph of lower_trigram_counts needs: com.microsoft
# Tokenizer (an onnxruntime contrib op, version 1), ai.onnx.ml LabelEncoder (string keys, int64
# values), ai.onnx TfIdfVectorizer (9), Pad with pads as an input (11), Reshape allowzero (14).
TRIGRAM_ONNX_OPSETS: dict[str, int] = {"": 17, "ai.onnx.ml": 2, "com.microsoft": 1}


def word_trigrams(word: str) -> list[str]:
    """The letter trigrams of `#word#`, in order, repeats kept; [] for the padding word ""."""
    if not word:
        return []
    wrapped = f"{BOUNDARY}{word}{BOUNDARY}"
    return [wrapped[i:i + 3] for i in range(len(wrapped) - 2)]


def trigram_vocabulary(words: Iterable[str], max_size: int | None = None, min_count: int = 1) -> tuple[str, ...]:
    """The distinct trigrams of `words` (every occurrence of a word counts), most frequent first,
    ties alphabetical; only those seen at least `min_count` times, at most `max_size` of them."""
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if max_size is not None and max_size < 0:
        raise ValueError(f"max_size must not be negative, got {max_size}")
    if isinstance(words, np.ndarray):
        words = words.ravel().tolist()
    per_word = Counter(words)
    counts: Counter[str] = Counter()
    for word, n in per_word.items():
        for t in word_trigrams(word):
            counts[t] += n
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return tuple(ranked if max_size is None else ranked[:max_size])


@lru_cache(maxsize=16)
def _index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    for t in vocabulary:
        if not isinstance(t, str) or len(t) != 3:
            raise ValueError(f"a vocabulary entry must be a 3-character string, got {t!r}")
    index = {t: i for i, t in enumerate(vocabulary)}
    if len(index) != len(vocabulary):
        dupes = sorted(t for t, c in Counter(vocabulary).items() if c > 1)
        raise ValueError(f"the vocabulary repeats trigrams: {dupes[:5]}")
    return index


def _distinct_ids(words, vocabulary: Sequence[str]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(table, inverse, shape): table[u] holds the ids of distinct word u, padded with -1;
    word i of the flattened batch is distinct word inverse[i]."""
    index = _index(tuple(vocabulary))
    words = np.asarray(words)
    if words.dtype.kind not in "UO":
        raise TypeError(f"words must be an array of strings, got dtype {words.dtype}")
    flat = words.reshape(-1)
    if flat.dtype.kind == "O":
        bad = next((w for w in flat if not isinstance(w, str)), None)
        if bad is not None:
            raise TypeError(f"words must be strings, got {type(bad).__name__} {bad!r}")
    distinct, inverse = np.unique(flat, return_inverse=True)
    get = index.get
    per_word = [[i for i in map(get, word_trigrams(w)) if i is not None] for w in distinct.tolist()]
    lengths = np.fromiter(map(len, per_word), dtype=np.int64, count=len(per_word))
    width = max(1, int(lengths.max(initial=0)))
    table = np.full((len(per_word), width), -1, dtype=np.int64)
    filled = np.arange(width) < lengths[:, None]
    table[filled] = np.fromiter((i for ids in per_word for i in ids), dtype=np.int64, count=int(lengths.sum()))
    return table, inverse.reshape(-1), words.shape


def trigram_ids(words, vocabulary: Sequence[str]) -> np.ndarray:
    """int64 (*words.shape, K): each word's trigram ids (indices into `vocabulary`) in order,
    trigrams outside the vocabulary left out, padded with -1 to K = the most any word of the
    batch has (at least 1)."""
    table, inverse, shape = _distinct_ids(words, vocabulary)
    return table[inverse].reshape(shape + (table.shape[1],))


def trigram_counts(words, vocabulary: Sequence[str]) -> np.ndarray:
    """float32 (*words.shape, len(vocabulary)): how often each vocabulary trigram occurs in each
    word (twice in a word counts 2); the padding word "" gives a zero row."""
    table, inverse, shape = _distinct_ids(words, vocabulary)
    counts = np.zeros((table.shape[0], len(vocabulary)), dtype=np.float32)
    rows, cols = np.nonzero(table >= 0)
    np.add.at(counts, (rows, table[rows, cols]), 1.0)
    return counts[inverse].reshape(shape + (len(vocabulary),))


def _character_ids(vocabulary: Sequence[str]) -> dict[str, int]:
    """Character -> id for the ONNX graph: '#' is 0, the vocabulary's other characters 1.. in order."""
    ids = {BOUNDARY: 0}
    for t in vocabulary:
        for c in t:
            ids.setdefault(c, len(ids))
    return ids


def lower_trigram_counts(g: "GraphBuilder", words: str, vocabulary: Sequence[str], layer=None,
                         lowercase_first: bool = False) -> str:
    """Add the nodes computing trigram_counts(words, vocabulary) to GraphBuilder `g`, of the
    words lower-cased by specc.lowercase first when `lowercase_first`.

    `words` names a string tensor of any rank, e.g. (N, T), whose sizes may be dynamic; the
    result (returned by name) is float32 (*words.shape, len(vocabulary)). `layer` names the
    nodes and constants: a layer (its id), a string prefix, or None ('trigrams'); one call per
    prefix, as GraphBuilder reuses a constant by name. The model needs TRIGRAM_ONNX_OPSETS.
    """
    from onnx import TensorProto, helper

    from .onnx_words import character_ids

    vocabulary = tuple(vocabulary)
    _index(vocabulary)  # validates: distinct 3-character strings
    prefix = "trigrams" if layer is None else layer if isinstance(layer, str) else layer.id

    def const(local, value, dtype="int64"):
        return g.constant(None, f"{prefix}.{local}", value, dtype)

    def node(op, inputs, local, **attrs):
        return g.node(op, inputs, name=f"{prefix}.{local}", **attrs)

    zeros = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    shape = node("Shape", [words], "shape")
    out_shape = node("Concat", [shape, const("width", [len(vocabulary)])], "out_shape", axis=0)
    if not vocabulary:
        return node("ConstantOfShape", [out_shape], "counts", value=zeros)

    char_ids = _character_ids(vocabulary)
    unknown, padding = len(char_ids), len(char_ids) + 1
    pool = [char_ids[c] for t in vocabulary for c in t]
    # the constants stay in the outer graph, the If's branches read them from there
    flat_shape = const("flat_shape", [-1])
    pad_right, pad_left = const("pad_right", [0, 0, 0, 1]), const("pad_left", [0, 1, 0, 0])
    padding_id, boundary_id = const("padding", padding), const("boundary", 0)
    zero, minus_one, one = const("zero", [0]), const("minus_one", [-1]), const("one", [1])
    # TfIdfVectorizer rejects a batch of 0 rows (N*T = 0): an If gives zeros then. (Adding a
    # padding word and slicing its row off again would copy the whole output: +50% time.)
    empty = node("Equal", [node("Size", [words], "size"), const("no_words", 0)], "empty")

    first = len(g.nodes)
    flat = node("Reshape", [words, flat_shape], "flat")
    ids = character_ids(g, flat, char_ids, lowercase_first, padding, unknown, prefix)
    # every row gets at least one padding column; the first padding of a row is its end mark
    ids = node("Pad", [ids, pad_right, padding_id], "padded")
    before = node("Slice", [node("Pad", [ids, pad_left, boundary_id], "shifted"), zero, minus_one, one], "before")
    is_end = node("And", [node("Equal", [ids, padding_id], "is_pad"),
                          node("Not", [node("Equal", [before, padding_id], "after_pad")], "not_after_pad")], "is_end")
    ids = node("Where", [is_end, boundary_id, ids], "marked")
    ids = node("Pad", [ids, pad_left, boundary_id], "wrapped")
    counts = node("TfIdfVectorizer", [ids], "tf", mode="TF", min_gram_length=3, max_gram_length=3,
                  max_skip_count=0, ngram_counts=[0, 0, 0], ngram_indexes=list(range(len(vocabulary))),
                  pool_int64s=pool)
    counts = node("Reshape", [counts, out_shape], "counts_words", allowzero=1)  # a 0 in out_shape is a size
    no_words = node("ConstantOfShape", [out_shape], "no_counts", value=zeros)
    then_nodes, else_nodes = g.nodes[-1:], g.nodes[first:-1]
    del g.nodes[first:]

    def branch(nodes, output, name):
        return helper.make_graph(nodes, f"{prefix}.{name}", [],
                                 [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)])

    return node("If", [empty], "counts", then_branch=branch(then_nodes, no_words, "no_words"),
                else_branch=branch(else_nodes, counts, "words"))
