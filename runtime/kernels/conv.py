"""conv forward and backward in NumPy: im2col through a strided view, one matrix product."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Kernel, kernel


def windows(x: np.ndarray, kernel_hw, strides, pads, fill: float = 0.0) -> np.ndarray:
    """Sliding windows of an image batch.

    x: (N, C, H, W); pads: (top, left, bottom, right), filled with `fill`.
    Returns a view (N, C, H', W', kh, kw) with the stride applied.
    """
    top, left, bottom, right = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    view = sliding_window_view(x, tuple(kernel_hw), axis=(2, 3))
    return view[:, :, ::strides[0], ::strides[1]]


def scatter_windows(dwin: np.ndarray, x_shape, kernel_hw, strides, pads) -> np.ndarray:
    """The adjoint of `windows`: add each window's gradient back onto the pixels it covered.

    dwin: (N, C, H', W', kh, kw) -> (N, C, H, W). One strided add per kernel position, so
    overlapping windows (stride < kernel) accumulate as they must.
    """
    n, c, h, w = x_shape
    top, left, bottom, right = pads
    out_h, out_w = dwin.shape[2:4]
    dx = np.zeros((n, c, h + top + bottom, w + left + right), dtype=dwin.dtype)
    for i in range(kernel_hw[0]):
        for j in range(kernel_hw[1]):
            dx[:, :, i:i + strides[0] * out_h:strides[0], j:j + strides[1] * out_w:strides[1]] += dwin[..., i, j]
    return dx[:, :, top:top + h, left:left + w]


@kernel("conv")
class Conv(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        cols = windows(x, a["size"], a["stride"], a["pads"])
        n, c, oh, ow, kh, kw = cols.shape
        # (N*H'*W', C*kh*kw) rows: one product with (F, C*kh*kw)^T gives every output pixel
        rows = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
        y = rows @ w["weight"].reshape(a["filters"], -1).T
        if "bias" in w:
            y += w["bias"]
        if cache is not None:
            cache.update(rows=rows, x_shape=x.shape)
        return np.ascontiguousarray(y.reshape(n, oh, ow, a["filters"]).transpose(0, 3, 1, 2))

    def backward(self, layer, w, cache, dy):
        a = layer.attrs
        n, f, oh, ow = dy.shape
        c = cache["x_shape"][1]
        kh, kw = a["size"]
        dy_rows = dy.transpose(0, 2, 3, 1).reshape(n * oh * ow, f)
        grads = {"weight": (dy_rows.T @ cache["rows"]).reshape(w["weight"].shape)}
        if "bias" in w:
            grads["bias"] = dy_rows.sum(axis=0)
        drows = dy_rows @ w["weight"].reshape(f, -1)
        dwin = drows.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
        return scatter_windows(dwin, cache["x_shape"], a["size"], a["stride"], a["pads"]), grads
