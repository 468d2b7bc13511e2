"""wordhash: word hashing by letter trigrams (seed-examples §5), (N, T) words -> (N, T, V).

A word is wrapped in `#` and cut into its letter trigrams (`apple` -> `#ap app ppl ple le#`);
its vector counts how often each trigram of the vocabulary occurs in it. A word never seen in
training still shares trigrams with the words it resembles (`Lisbon` with `London`), where
onehot can only give it the "other" dimension. Without `vocab` the trigrams are the training
data's: those seen at least `min_count` times, at most `max` of them (the most frequent first).
`lowercase` lower-cases words first, and a given vocabulary, by specc's rule (specc/lowercase.py);
by default case is kept: a capital is a strong hint of a name.
Trigrams outside the vocabulary are left out; padding ("") is the zero vector.

The vector is kept as trigram ids in NumPy, so the next layer sums rows of its weights
(runtime/kernels/sparse.py). The lowering (specc/lowering/wordhash.py) computes the counts in the graph with onnxruntime's
contrib Tokenizer (domain com.microsoft) and TfIdfVectorizer (specc/trigrams.py), so a model with
wordhash runs in onnxruntime (which ships that op), not in every ONNX runtime; its metadata says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..lowercase import lowercase
from ..shapes import ShapeError, require
from ..signature import FromData
from .base import Inferred, LayerKind, register
from .onehot import WordsAttrs, vocabulary_signature


@dataclass(frozen=True)
class WordHashAttrs(WordsAttrs):
    """`vocabulary` holds trigrams; a word's vector counts each one's occurrences in it."""


@register
class WordHash(LayerKind):
    name = "wordhash"
    attrs_type = WordHashAttrs
    doc = "letter-trigram counts of each word (#ap app ppl ple le#), which also cover unseen words"
    vocabulary_arg = "vocab"
    signature = vocabulary_signature("trigrams", '["#ap", app]')

    def vocabulary_from(self, args, sentences) -> FromData:
        """The trigrams this layer takes from training sentences (lists of words)."""
        from ..trigrams import trigram_vocabulary
        from ..vocabulary import word_counts

        counts = word_counts(sentences, lowercase=args["lowercase"])
        return FromData(trigram_vocabulary(counts, max_size=args["max"], min_count=args["min_count"]))

    def infer(self, args, shape):
        require(shape, "tokens", hint="wordhash reads words: declare the input as NAME: seq token")
        vocab = tuple(dict.fromkeys(map(lowercase, args["vocab"])) if args["lowercase"] else args["vocab"])
        bad = [t for t in vocab if len(t) != 3]
        if bad:
            raise ShapeError(f"has '{bad[0]}' in its vocabulary, which is not a trigram", arg="vocab",
                             expected="trigrams of 3 characters, # marking a word's start or end (like \"#ap\")")
        if not vocab:
            raise ShapeError("has an empty vocabulary", expected="at least one trigram",
                             hint='lower min_count, or give the trigrams: wordhash vocab=["#ap", app]')
        return Inferred(shape + (len(vocab),), WordHashAttrs(vocabulary=vocab, lowercase=args["lowercase"]))
