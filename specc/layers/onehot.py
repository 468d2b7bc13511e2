"""onehot: 1-of-N encoding of words (seed-examples §5), (N, T) words -> (N, T, V + 1).

Word v of the vocabulary becomes the vector with a 1 at position v; a word outside it gets the
extra last dimension, "other"; padding (the empty string "") becomes the zero vector. With
`vocab=[apple, bag, cat, dog, elephant]` apple is [1 0 0 0 0 0] and "zebra" is [0 0 0 0 0 1].
Without `vocab`, the vocabulary is the training data's words: those seen at least `min_count`
times, at most `max` of them (the most frequent), sorted. `lowercase` lower-cases every word,
the vocabulary's and the input's, before the lookup, by specc's rule (specc/lowercase.py).

A one-hot vector times a weight matrix picks one of its rows, so the layer after onehot (dense,
rnn) looks rows up instead of multiplying: in NumPy with runtime/kernels/sparse.py, in ONNX with
Gather. The lowering (specc/lowering/onehot.py) maps words to ids with an ai.onnx.ml LabelEncoder (default: the other id);
with `lowercase` it reads the words character by character (specc/onnx_words.py), so the model
lower-cases exactly as NumPy does and needs onnxruntime's contrib Tokenizer (its metadata says so).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import ShapeError, require
from ..signature import Arg, FromData, boolean, positive_int, word_list
from ..lowercase import lowercase
from ..vocabulary import word_vocabulary
from .base import Inferred, LayerAttrs, LayerKind, register


def vocabulary_signature(items: str, example: str) -> tuple[Arg, ...]:
    """The arguments of a layer with a vocabulary of `items` (words, trigrams): given, or taken
    from the training data with a minimum count and a maximum size; and lower-casing."""
    return (
        Arg("vocab", word_list, None, f"the {items}, like {example}; default: the training data's"),
        Arg("min_count", positive_int, 1, f"from data: keep {items} seen at least this often"),
        Arg("max", positive_int, None, f"from data: keep at most this many {items}, the most frequent"),
        Arg("lowercase", boolean, False, "lower-case words first", flag=True),
    )


@dataclass(frozen=True)
class WordsAttrs(LayerAttrs):
    """vocabulary: the words (onehot) or trigrams (wordhash), lower-cased already when
    `lowercase`; lowercase: lower-case each input word first (specc/lowercase.py)."""

    vocabulary: tuple[str, ...]
    lowercase: bool


@dataclass(frozen=True)
class OneHotAttrs(WordsAttrs):
    """Word v of `vocabulary` is the vector with a 1 at v; any other word the extra last one."""


@register
class OneHot(LayerKind):
    name = "onehot"
    attrs_type = OneHotAttrs
    doc = "1-of-N encoding of words over a vocabulary, plus one 'other' dimension for the rest"
    vocabulary_arg = "vocab"
    signature = vocabulary_signature("words", "[apple, bag, cat]")

    def vocabulary_from(self, args, sentences) -> FromData:
        """The vocabulary this layer takes from training sentences (lists of words)."""
        return FromData(word_vocabulary(sentences, lowercase=args["lowercase"], min_count=args["min_count"],
                                        max_size=args["max"]))

    def infer(self, args, shape):
        require(shape, "tokens", hint="onehot reads words: declare the input as NAME: seq token")
        vocab = args["vocab"]
        if args["lowercase"]:
            vocab = tuple(dict.fromkeys(map(lowercase, vocab)))
        if not vocab:
            raise ShapeError("has an empty vocabulary", expected="at least one word",
                             hint="lower min_count, or give the words: onehot vocab=[apple, bag, cat]")
        return Inferred(shape + (len(vocab) + 1,), OneHotAttrs(vocabulary=tuple(vocab), lowercase=args["lowercase"]))
