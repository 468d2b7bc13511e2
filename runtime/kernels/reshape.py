"""flatten and last in NumPy."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


@kernel("flatten")
class Flatten(Kernel):
    """Images arrive channel-major (C, N, H, W); the vector of each image is channel-major
    within it, (C*H*W), as ONNX Flatten makes it from (N, C, H, W)."""

    def forward(self, layer, w, x, cache=None):
        if x.ndim == 2:
            return x
        if cache is not None:
            cache["x_shape"] = x.shape
        return x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1)

    def backward(self, layer, w, cache, dy, need_dx=True):
        if "x_shape" not in cache:
            return dy, {}
        c, n, h, width = cache["x_shape"]
        return dy.reshape(n, c, h, width).transpose(1, 0, 2, 3), {}


@kernel("last")
class Last(Kernel):
    """The last step of each sequence; for a batch of sentences, each sentence's last word."""

    def forward(self, layer, w, x, cache=None, mask=None):
        n, steps = x.shape[:2]
        last = np.full(n, steps - 1) if mask is None else np.maximum(mask.sum(axis=1).astype(np.int64) - 1, 0)
        if cache is not None:
            cache["x_shape"], cache["last"] = x.shape, last
        return x[np.arange(n), last]

    def backward(self, layer, w, cache, dy, need_dx=True):
        dx = np.zeros(cache["x_shape"], dtype=dy.dtype)
        dx[np.arange(len(dy)), cache["last"]] = dy
        return dx, {}
