"""globalpool forward and backward in NumPy, on channel-major images (C, N, H, W) -> (N, C)."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


@kernel("globalpool")
class GlobalPool(Kernel):
    """avg: the mean over H*W, each pixel getting 1/(H*W) of the gradient. max: the gradient goes
    to the first maximum of each channel in row-major order, as PyTorch's adaptive_max_pool2d
    (to 1x1) and maxpool here do (np.argmax returns the first)."""

    def forward(self, layer, w, x, cache=None):
        c, n = x.shape[:2]
        pixels = x.reshape(c, n, -1)
        if layer.attrs.mode == "avg":
            y = pixels.mean(axis=2, dtype=x.dtype)
        else:
            first = pixels.argmax(axis=2)
            y = np.take_along_axis(pixels, first[..., None], axis=2)[..., 0]
            if cache is not None:
                cache["first"] = first
        if cache is not None:
            cache["x_shape"] = x.shape
        return np.ascontiguousarray(y.T)

    def backward(self, layer, w, cache, dy, need_dx=True):
        shape = cache["x_shape"]
        c, n = shape[:2]
        if layer.attrs.mode == "avg":
            share = dy.T / dy.dtype.type(shape[2] * shape[3])
            return np.broadcast_to(share[..., None, None], shape).copy(), {}
        dx = np.zeros((c, n, shape[2] * shape[3]), dtype=dy.dtype)
        np.put_along_axis(dx, cache["first"][..., None], dy.T[..., None], axis=2)
        return dx.reshape(shape), {}
