"""Letter-trigram word hashing: `apple` -> `#ap app ppl ple le#` (lecture).

A word is wrapped in the boundary mark `#` and cut into every run of 3 consecutive characters,
in order, repeats kept; a word is then represented by how often each trigram of a fixed
vocabulary occurs in it. The empty string is padding and has no trigrams. Everything is
case-sensitive: lower-case the words beforehand if wanted (the ONNX half can do it, with
specc's rule: specc/lowercase.py). Characters are Unicode code points
(Python's `len`), so 'Zürich' and '北京' work like ASCII words.

This module is the rule, in Python and NumPy: `word_trigrams`, `trigram_vocabulary` (the front
end takes a vocabulary from data with it), `trigram_ids` (the NumPy kernel's input) and
`trigram_counts`. specc/onnx_trigrams.py computes the same numbers inside an ONNX graph.

"""
from __future__ import annotations

import sys
from collections import Counter
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

BOUNDARY = "#"


def word_trigrams(word: str) -> list[str]:
    """The letter trigrams of `#word#`, in order, repeats kept; [] for the padding word ""."""
    if not word:
        return []
    wrapped = f"{BOUNDARY}{word}{BOUNDARY}"
    return [wrapped[i:i + 3] for i in range(len(wrapped) - 2)]


def trigram_vocabulary(words: Iterable[str] | Mapping[str, int], max_size: int | None = None,
                       min_count: int = 1) -> tuple[str, ...]:
    """The distinct trigrams of `words` (every occurrence of a word counts; a mapping gives each
    word's number of occurrences), most frequent first, ties alphabetical; only those seen at
    least `min_count` times, at most `max_size` of them."""
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if max_size is not None and max_size < 0:
        raise ValueError(f"max_size must not be negative, got {max_size}")
    numpy = sys.modules.get("numpy")  # NumPy is imported here only by a caller that made an array: check needs none
    if numpy is not None and isinstance(words, numpy.ndarray):
        words = words.ravel().tolist()
    per_word = Counter(words)  # from a mapping, its counts
    counts: Counter[str] = Counter()
    for word, n in per_word.items():
        for t in word_trigrams(word):
            counts[t] += n
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return tuple(ranked if max_size is None else ranked[:max_size])


@lru_cache(maxsize=16)
def trigram_index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    """Trigram -> its position in `vocabulary`; ValueError unless the entries are distinct
    3-character strings."""
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
    import numpy as np

    index = trigram_index(tuple(vocabulary))
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
    import numpy as np

    table, inverse, shape = _distinct_ids(words, vocabulary)
    counts = np.zeros((table.shape[0], len(vocabulary)), dtype=np.float32)
    rows, cols = np.nonzero(table >= 0)
    np.add.at(counts, (rows, table[rows, cols]), 1.0)
    return counts[inverse].reshape(shape + (len(vocabulary),))
