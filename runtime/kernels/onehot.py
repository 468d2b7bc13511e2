"""onehot in NumPy: words -> SparseRows of their ids (the layer after it looks rows up)."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel
from .sparse import SparseRows

PADDING = -1


def word_ids(words: np.ndarray, vocabulary: tuple[str, ...], lowercase: bool) -> np.ndarray:
    """Ids of words (any shape): the vocabulary index, len(vocabulary) ("other") for a word
    outside it, PADDING for "". Each distinct word is looked up once."""
    index = {word: i for i, word in enumerate(vocabulary)}
    distinct, inverse = np.unique(np.asarray(words, dtype=object).astype(str), return_inverse=True)
    other = len(vocabulary)
    ids = np.array([PADDING if w == "" else index.get(w.lower() if lowercase else w, other) for w in distinct],
                   dtype=np.int64)
    return ids[inverse].reshape(np.shape(words))


@kernel("onehot")
class OneHot(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        ids = word_ids(x, a["vocabulary"], a["lowercase"])
        return SparseRows(ids[..., None], len(a["vocabulary"]) + 1)

    def backward(self, layer, w, cache, dy, need_dx=True):
        return None, {}  # words have no gradient
