"""onehot in NumPy: words -> SparseRows of their ids (the layer after it looks rows up)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from specc.lowercase import lowercase as lower

from .base import Kernel, kernel
from .sparse import SparseRows

PADDING = -1
MEMO_LIMIT = 200_000  # forms outside the vocabulary remembered per vocabulary


@lru_cache(maxsize=16)
def _lookup(vocabulary: tuple[str, ...], lowercase: bool) -> dict[str, int]:
    """word as written -> id, for one vocabulary: its words, padding "" -> PADDING, and every
    other form met so far (added by word_ids), so a word is lower-cased and looked up once."""
    lookup = {word: i for i, word in enumerate(vocabulary)}
    lookup[""] = PADDING
    return lookup


def word_ids(words: np.ndarray, vocabulary: tuple[str, ...], lowercase: bool) -> np.ndarray:
    """Ids of words (any shape): the vocabulary index, len(vocabulary) ("other") for a word
    outside it, PADDING for "". With `lowercase`, a word is looked up as specc.lowercase makes it."""
    lookup = _lookup(vocabulary, lowercase)
    flat = np.asarray(words, dtype=object).ravel()
    try:
        ids = np.fromiter(map(lookup.__getitem__, flat), np.int64, len(flat))
    except KeyError:  # forms not met yet: find their ids once
        index = {word: i for i, word in enumerate(vocabulary)}
        if len(lookup) > len(index) + MEMO_LIMIT:  # a stream of new words: start the memo afresh
            lookup.clear()
            lookup.update(index, **{"": PADDING})
        for word in set(flat) - lookup.keys():
            lookup[word] = index.get(lower(str(word)) if lowercase else str(word), len(vocabulary))
        ids = np.fromiter(map(lookup.__getitem__, flat), np.int64, len(flat))
    return ids.reshape(np.shape(words))


@kernel("onehot")
class OneHot(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        ids = word_ids(x, a.vocabulary, a.lowercase)
        return SparseRows(ids[..., None], len(a.vocabulary) + 1)

    def backward(self, layer, w, cache, dy, need_dx=True):
        return None, {}  # words have no gradient
