"""Letter-trigram counts inside an ONNX graph: the ONNX side of specc/trigrams.py's rule.

`lower_trigram_counts(g, words, vocabulary, layer, lowercase_first)` adds to a GraphBuilder the
nodes that turn a string tensor of words (N, T) into float counts (N, T, len(vocabulary)) inside
an onnxruntime graph, the numbers specc.trigrams.trigram_counts gives. The model must import the
opsets in `TRIGRAM_ONNX_OPSETS`.

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

from typing import TYPE_CHECKING, Sequence

from .onnx_words import character_ids, if_of_added_nodes
from .trigrams import BOUNDARY, trigram_index

if TYPE_CHECKING:
    from .onnx_export import GraphBuilder

# the ONNX domains and versions the subgraph of lower_trigram_counts needs: com.microsoft
# Tokenizer (an onnxruntime contrib op, version 1), ai.onnx.ml LabelEncoder (string keys, int64
# values), ai.onnx TfIdfVectorizer (9), Pad with pads as an input (11), Reshape allowzero (14).
TRIGRAM_ONNX_OPSETS: dict[str, int] = {"": 17, "ai.onnx.ml": 2, "com.microsoft": 1}


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

    vocabulary = tuple(vocabulary)
    trigram_index(vocabulary)  # validates: distinct 3-character strings
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
    node("Reshape", [counts, out_shape], "counts_words", allowzero=1)  # a 0 in out_shape is a size
    node("ConstantOfShape", [out_shape], "no_counts", value=zeros)
    return if_of_added_nodes(g, empty, first, TensorProto.FLOAT, f"{prefix}.counts", ("no_words", "words"))
