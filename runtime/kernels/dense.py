"""dense forward and backward in NumPy: x W^T + b on (N, F) or on every step of (N, T, F).

Sequences are flattened to (N*T, F) rows: one 2-D product instead of a 3-D matmul, which
NumPy runs as N small ones.
"""
from __future__ import annotations

from .base import Kernel, kernel
from .sparse import SparseRows


@kernel("dense")
class Dense(Kernel):
    def forward(self, layer, w, x, cache=None):
        if isinstance(x, SparseRows):  # one-hot input: rows of W^T looked up, not multiplied
            y = x.project(w["weight"])
            rows = x
        else:
            rows = x.reshape(-1, x.shape[-1])
            y = rows @ w["weight"].T
        if "bias" in w:
            y += w["bias"]
        if cache is not None:
            cache["rows"] = rows
        return y.reshape(x.shape[:-1] + (y.shape[-1],))

    def backward(self, layer, w, cache, dy, need_dx=True):
        rows_x, rows_dy = cache["rows"], dy.reshape(-1, dy.shape[-1])
        if isinstance(rows_x, SparseRows):
            grads = {"weight": rows_x.project_grad(dy)}
            if "bias" in w:
                grads["bias"] = rows_dy.sum(axis=0)
            return None, grads  # the input was words
        grads = {"weight": rows_dy.T @ rows_x}
        if "bias" in w:
            grads["bias"] = rows_dy.sum(axis=0)
        if not need_dx:
            return None, grads
        return (rows_dy @ w["weight"]).reshape(dy.shape[:-1] + (rows_x.shape[-1],)), grads
