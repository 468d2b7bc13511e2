"""dense forward and backward in NumPy: x W^T + b on (N, F) or on every step of (N, T, F)."""
from __future__ import annotations

from .base import Kernel, kernel


@kernel("dense")
class Dense(Kernel):
    def forward(self, layer, w, x, cache=None):
        y = x @ w["weight"].T
        if "bias" in w:
            y += w["bias"]
        if cache is not None:
            cache["x"] = x
        return y

    def backward(self, layer, w, cache, dy):
        x = cache["x"]
        rows_x, rows_dy = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
        grads = {"weight": rows_dy.T @ rows_x}
        if "bias" in w:
            grads["bias"] = rows_dy.sum(axis=0)
        return dy @ w["weight"], grads
