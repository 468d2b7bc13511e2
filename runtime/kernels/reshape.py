"""flatten and last in NumPy."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


@kernel("flatten")
class Flatten(Kernel):
    def forward(self, layer, w, x, cache=None):
        if cache is not None:
            cache["x_shape"] = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, layer, w, cache, dy, need_dx=True):
        return dy.reshape(cache["x_shape"]), {}


@kernel("last")
class Last(Kernel):
    def forward(self, layer, w, x, cache=None):
        if cache is not None:
            cache["x_shape"] = x.shape
        return x[:, -1, :]

    def backward(self, layer, w, cache, dy, need_dx=True):
        dx = np.zeros(cache["x_shape"], dtype=dy.dtype)
        dx[:, -1, :] = dy
        return dx, {}
