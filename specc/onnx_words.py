"""Words inside an ONNX graph, character by character: the lowering side of specc's lower-case rule.

onnxruntime's StringNormalizer lower-cases with the C library's locale tables, which differ from
Python's and from one system to another ('ΟΔΟΣ', 'İSTANBUL'). specc's rule (specc/lowercase.py)
maps one character to one character, so the graph applies it exactly by splitting words into
characters (onnxruntime's contrib Tokenizer, domain com.microsoft) and giving every character
that lower-cases to a known character the id of that character (ai.onnx.ml LabelEncoder).

`onehot ... lowercase` then needs the id of a whole word. Most words are written as their
vocabulary word (already lower case), so `lower_word_ids` first looks the word itself up, and
only words that missed go character by character (opset 17 has no operator that joins strings
again, so that path finds the word from its row of character ids, exactly):

    LabelEncoder word -> id                      keys: the vocabulary's words that are their own
                                                 lowercase, and "" (padding) -> V; others -1.
                                                 A hit is exact: that word lower-cases to itself
    If no word missed (ReduceMin(ids) >= 0)      then the ids as they are: a batch of known
                                                 lower-case words costs one lookup
    else, on the missed words (Reshape to one
      row per word, Compress):
      Tokenizer, Cast, LabelEncoder              character -> id (1..C; PAD 0; other C + 1)
      Pad right by W, Slice to W columns         W = the longest vocabulary word + 1: a longer
                                                 word has a non-zero id in its last column
      Einsum(ids, key weights (W,))              a key per word; the vocabulary's keys are
                                                 distinct (the weights are drawn until they are)
      LabelEncoder key -> candidate index        the word with that key, else V ("other")
      Gather the candidate's ids (V + 1, W),     only a word with the candidate's very ids is
        Equal, count, Where                      that word: others get V (exact, no hashing luck)
      ScatterND into the ids at NonZero(missed),
      Reshape to words' shape

The model must import the opsets in WORD_ONNX_OPSETS.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from onnx import TensorProto, helper

from .lowercase import UNICODE_VERSION, lowercase, upper_forms

if TYPE_CHECKING:
    from .onnx_export import GraphBuilder

# com.microsoft Tokenizer (an onnxruntime contrib op, version 1), ai.onnx.ml LabelEncoder (2)
WORD_ONNX_OPSETS: dict[str, int] = {"ai.onnx.ml": 2, "com.microsoft": 1}

# the model's metadata entry naming the rule that `lowercase` applies in it
LOWERCASE_METADATA = ("specc.lowercase", f"Unicode {UNICODE_VERSION} simple lowercase mapping, one character for "
                      "one (specc/lowercase.py), baked into the graph")

# what the Tokenizer pads its rows with: two characters, so it never equals a character token
PAD = "\x00<pad>"


def require_character_ops(g: "GraphBuilder", lowercase_first: bool) -> None:
    """Declare what a lowering that reads words character by character needs: the opsets and
    onnxruntime's contrib ops (metadata specc.runtime); with `lowercase_first`, the rule (metadata
    specc.lowercase)."""
    g.opsets.update(WORD_ONNX_OPSETS)
    g.needs_contrib_ops = True
    if lowercase_first:
        g.metadata.update([LOWERCASE_METADATA])


def character_keys(ids: Mapping[str, int], lowercase_first: bool) -> tuple[list[str], list[int]]:
    """LabelEncoder keys and values giving each character read the id in `ids` of the character
    it stands for: itself, or with `lowercase_first` its lowercase (so 'Σ' gets the id of 'σ', and
    a character of `ids` that is not lowercase gets none: no lowercased word contains it)."""
    keys, values = [], []
    for character, i in ids.items():
        forms = upper_forms(character) if lowercase_first else ()
        if not lowercase_first or lowercase(character) == character:
            forms = (character,) + forms
        keys += forms
        values += [i] * len(forms)
    return keys, values


def character_ids(g: "GraphBuilder", words: str, ids: Mapping[str, int], lowercase_first: bool,
                  pad_id: int, unknown_id: int, prefix: str) -> str:
    """int64 (R, L) from a 1-D string tensor `words` (R,): the id (in `ids`) of each character of
    each word, the rows padded with pad_id to the longest word's length L, unknown_id for a
    character outside `ids`. R = 0 gives a 1-D empty tensor (the Tokenizer's way)."""
    chars = g.node("Tokenizer", [words], name=f"{prefix}.chars", domain="com.microsoft",
                   mark=0, separators=[""], mincharnum=1, pad_value=PAD)
    # onnx does not know com.microsoft's schemas, so the Tokenizer's output has no type for onnx's
    # shape inference, and its LabelEncoder inference then crashes the process (onnx 1.23,
    # check_model(full_check=True) / infer_shapes). A string -> string Cast gives the type.
    chars = g.node("Cast", [chars], name=f"{prefix}.chars_typed", to=TensorProto.STRING)
    keys, values = character_keys(ids, lowercase_first)
    return g.node("LabelEncoder", [chars], name=f"{prefix}.char_ids", domain="ai.onnx.ml",
                  keys_strings=keys + [PAD], values_int64s=values + [pad_id], default_int64=unknown_id)


def _word_rows(vocabulary: Sequence[str], ids: Mapping[str, int], width: int) -> np.ndarray:
    """int64 (V + 1, width): the character ids of each word, padded with 0; the last row, -1
    everywhere, is the "other" candidate that no word matches."""
    rows = np.zeros((len(vocabulary) + 1, width), np.int64)
    rows[-1] = -1
    for r, word in enumerate(vocabulary):
        rows[r, :len(word)] = [ids[c] for c in word]
    return rows


def _key_weights(rows: np.ndarray, largest_id: int) -> np.ndarray:
    """int64 (W,) weights whose products with the vocabulary's rows (V, W) are distinct keys. The
    weights are small enough that no key of any row of ids up to `largest_id` overflows int64."""
    width = rows.shape[1]
    bound = min(2 ** 31, (2 ** 63 - 1) // (width * largest_id + 1))
    rng = np.random.default_rng(0)
    for _ in range(100):
        weights = rng.integers(1, bound, size=width, dtype=np.int64)
        if len(np.unique(rows @ weights)) == len(rows):
            return weights
    raise RuntimeError(f"no distinct word keys for {len(rows)} words of up to {width - 1} characters")


def if_of_added_nodes(g: "GraphBuilder", condition: str, first: int, elem_type: int, name: str,
                      branches: tuple[str, str]) -> str:
    """Move the nodes added since g.nodes[first] into an If on the bool `condition`, returning
    its output (of TensorProto type `elem_type`): the last node added is the then-branch, the
    others the else-branch, each branch's value its last node's output. Constants stay in the
    outer graph (the branches read them from there; GraphBuilder reuses a constant by name).
    `branches` names the two subgraphs after `name`."""
    added = g.nodes[first:]
    g.nodes[first:] = [n for n in added if n.op_type == "Constant"]
    work = [n for n in added if n.op_type != "Constant"]

    def branch(nodes, local):
        return helper.make_graph(nodes, f"{name}.{local}", [],
                                 [helper.make_tensor_value_info(nodes[-1].output[0], elem_type, None)])

    return g.node("If", [condition], name=name, then_branch=branch(work[-1:], branches[0]),
                  else_branch=branch(work[:-1], branches[1]))


def _raw_word_keys(vocabulary: Sequence[str]) -> tuple[list[str], list[int]]:
    """LabelEncoder keys and values for looking a word up as written: the vocabulary's words
    that are their own lowercase (exactly the words whose lowercase is that vocabulary word and
    that need no lowering), and padding "" -> len(vocabulary) unless "" is a vocabulary word."""
    keys, values = [], []
    for i, word in enumerate(vocabulary):
        if lowercase(word) == word:
            keys.append(word)
            values.append(i)
    if "" not in keys:
        keys.append("")
        values.append(len(vocabulary))
    return keys, values


def _lowered_word_ids(g: "GraphBuilder", words: str, vocabulary: Sequence[str], prefix: str, const, node) -> str:
    """int64 (M,): the index in `vocabulary` of the lowercase of each of the 1-D string tensor
    `words` (M,), else len(vocabulary), found character by character (see the module). M >= 1:
    the Tokenizer's output for no words at all is 1-D."""
    ids = {c: i for i, c in enumerate(dict.fromkeys(c for word in vocabulary for c in word), start=1)}
    other, unknown_id = len(vocabulary), len(ids) + 1
    width = max(map(len, vocabulary)) + 1
    rows = _word_rows(vocabulary, ids, width)
    weights = _key_weights(rows[:-1], unknown_id)
    chars = character_ids(g, words, ids, True, 0, unknown_id, prefix)
    chars = node("Pad", [chars, const("pad_width", [0, 0, 0, width])], "padded")
    chars = node("Slice", [chars, const("zero", [0]), const("width", [width]), const("axis1", [1])], "cut")
    # an int64 Einsum rather than MatMul or Mul: a model's MatMuls and Muls stay its float products
    # and its padding masks (tests/test_export.py and test_slots.py count them)
    keys = node("Einsum", [chars, const("key_weights", weights)], "keys", equation="rw,w->r")
    candidate = node("LabelEncoder", [keys], "candidate", domain="ai.onnx.ml",
                     keys_int64s=(rows[:-1] @ weights).tolist(), values_int64s=list(range(other)),
                     default_int64=other)
    expected = node("Gather", [const("word_rows", rows), candidate], "expected", axis=0)
    agree = node("Cast", [node("Equal", [expected, chars], "same_char")], "same_char_int", to=TensorProto.INT64)
    agreeing = node("ReduceSum", [agree, const("axis1", [1])], "agreeing", keepdims=0)  # axes input: opset 13+
    found = node("Equal", [agreeing, const("all", width)], "found")
    return node("Where", [found, candidate, const("other", other)], "lowered")


def lower_word_ids(g: "GraphBuilder", words: str, vocabulary: Sequence[str], prefix: str) -> str:
    """Add nodes giving each word of `words` (a string tensor of any shape) the index in
    `vocabulary` of its lowercase (specc.lowercase), len(vocabulary) when it has none: int64
    of the shape of `words`, as runtime/kernels/onehot.py's word_ids (except on padding "",
    which gets len(vocabulary) here; the graph zeroes padding by its mask)."""
    def const(local, value):
        return g.constant(None, f"{prefix}.{local}", value, "int64")

    def node(op, inputs, local, **attrs):
        return g.node(op, inputs, name=f"{prefix}.{local}", **attrs)

    keys, values = _raw_word_keys(vocabulary)
    raw = node("LabelEncoder", [words], "raw_ids", domain="ai.onnx.ml", keys_strings=keys, values_int64s=values,
               default_int64=-1)
    # onnxruntime's minimum of no words at all is the largest int64 (the rule from opset 18 on;
    # tests/test_word_lookup.py holds it to that): all found
    all_found = node("GreaterOrEqual", [node("ReduceMin", [raw], "lowest", keepdims=0), const("zero_scalar", 0)],
                     "all_found")

    # an If rather than always lowering the missed words: the character path costs ~14 µs of
    # onnxruntime's per-node time even on no words, and most sentences have no word to lower
    first = len(g.nodes)
    flat, flat_raw = (node("Reshape", [x, const("flat_shape", [-1])], local) for x, local in
                      ((words, "flat"), (raw, "flat_raw")))
    missed = node("Less", [flat_raw, const("zero_scalar", 0)], "missed")
    at = node("Transpose", [node("NonZero", [missed], "missed_at")], "missed_rows")  # (M, 1)
    lowered = _lowered_word_ids(g, node("Compress", [flat, missed], "missed_words", axis=0), vocabulary, prefix,
                                const, node)
    merged = node("ScatterND", [flat_raw, at, lowered], "merged")
    node("Reshape", [merged, node("Shape", [words], "words_shape")], "merged_ids")
    node("Identity", [raw], "as_written")
    return if_of_added_nodes(g, all_found, first, TensorProto.INT64, f"{prefix}.ids",
                             ("all_found", "some_missed"))
