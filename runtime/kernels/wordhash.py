"""wordhash in NumPy: words -> SparseRows of their trigram ids (repeats count twice)."""
from __future__ import annotations

import numpy as np

from specc.lowercase import lowercase
from specc.trigrams import trigram_ids

from .base import Kernel, kernel
from .sparse import SparseRows


@kernel("wordhash")
class WordHash(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        words = np.frompyfunc(lowercase, 1, 1)(x) if a.lowercase else x
        return SparseRows(trigram_ids(words, a.vocabulary), len(a.vocabulary))

    def backward(self, layer, w, cache, dy, need_dx=True):
        return None, {}  # words have no gradient
