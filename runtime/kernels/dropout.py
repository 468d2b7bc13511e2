"""dropout in NumPy: active only when a training cache is passed, which also carries the
generator (seeded by the trainer from the seed, the epoch and the batch, so runs repeat)."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


@kernel("dropout")
class Dropout(Kernel):
    def forward(self, layer, w, x, cache=None):
        p = layer.attrs.p
        if cache is None or p == 0:
            return x
        rng = cache.get("rng") or np.random.default_rng()
        keep = (rng.random(x.shape, dtype=np.float32) >= p).astype(x.dtype)
        keep /= 1 - p
        cache["scale"] = keep
        return x * keep

    def backward(self, layer, w, cache, dy, need_dx=True):
        return (dy if "scale" not in cache else dy * cache["scale"]), {}
