"""window in NumPy: K shifted views of the zero-padded sequence, joined per step."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


@kernel("window")
class Window(Kernel):
    def forward(self, layer, w, x, cache=None):
        size = layer.attrs.steps
        n, steps, features = x.shape
        padded = np.zeros((n, steps + size - 1, features), dtype=x.dtype)
        padded[:, size // 2:size // 2 + steps] = x
        return np.concatenate([padded[:, offset:offset + steps] for offset in range(size)], axis=-1)

    def backward(self, layer, w, cache, dy, need_dx=True):
        size = layer.attrs.steps
        n, steps, joined = dy.shape
        features = joined // size
        d_padded = np.zeros((n, steps + size - 1, features), dtype=dy.dtype)
        for offset in range(size):
            d_padded[:, offset:offset + steps] += dy[..., offset * features:(offset + 1) * features]
        return d_padded[:, size // 2:size // 2 + steps], {}
