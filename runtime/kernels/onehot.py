"""onehot in NumPy: words -> SparseRows of their ids (the layer after it looks rows up)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .base import Kernel, kernel
from .sparse import SparseRows

PADDING = -1


@lru_cache(maxsize=16)
def _index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    """word -> id, with padding "" -> PADDING; built once per vocabulary, not once per batch."""
    index = {word: i for i, word in enumerate(vocabulary)}
    index[""] = PADDING
    return index


def word_ids(words: np.ndarray, vocabulary: tuple[str, ...], lowercase: bool) -> np.ndarray:
    """Ids of words (any shape): the vocabulary index, len(vocabulary) ("other") for a word
    outside it, PADDING for ""."""
    index, other = _index(vocabulary), len(vocabulary)
    flat = np.asarray(words, dtype=object).ravel()
    if lowercase:
        ids = [index.get(str(w).lower(), other) for w in flat]
    else:
        ids = [index.get(str(w), other) for w in flat]
    return np.array(ids, dtype=np.int64).reshape(np.shape(words))


@kernel("onehot")
class OneHot(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        ids = word_ids(x, a["vocabulary"], a["lowercase"])
        return SparseRows(ids[..., None], len(a["vocabulary"]) + 1)

    def backward(self, layer, w, cache, dy, need_dx=True):
        return None, {}  # words have no gradient
