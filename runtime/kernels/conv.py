"""conv forward and backward in NumPy: im2col by one strided copy per kernel position into a
(C*kh*kw, N*H'*W') matrix, then one matrix product for the whole batch."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


def padded(x: np.ndarray, pads, fill: float = 0.0) -> np.ndarray:
    """x (N, C, H, W) with `pads` (top, left, bottom, right) added, filled with `fill`.

    A slice assignment into a new buffer: np.pad costs several times more on small images.
    """
    top, left, bottom, right = pads
    if not any(pads):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + top + bottom, w + left + right), fill, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def window_slices(kernel_hw, strides, out_hw):
    """For each kernel position (i, j): the (rows, cols) slices of the padded input it reads."""
    return [((i, j), (slice(i, i + strides[0] * out_hw[0], strides[0]), slice(j, j + strides[1] * out_hw[1], strides[1])))
            for i in range(kernel_hw[0]) for j in range(kernel_hw[1])]


def im2col(x: np.ndarray, kernel_hw, strides, pads, out_hw) -> np.ndarray:
    """x (N, C, H, W) -> columns (C*kh*kw, N*H'*W'): row (c, i, j) holds the pixel that kernel
    position (i, j) of channel c sees, for every output pixel of every image."""
    n, c = x.shape[:2]
    xp = padded(x, pads)
    cols = np.empty((c, kernel_hw[0], kernel_hw[1], n) + tuple(out_hw), dtype=x.dtype)
    channels_first = xp.transpose(1, 0, 2, 3)
    for (i, j), (rows, columns) in window_slices(kernel_hw, strides, out_hw):
        cols[:, i, j] = channels_first[:, :, rows, columns]
    return cols.reshape(c * kernel_hw[0] * kernel_hw[1], -1)


@kernel("conv")
class Conv(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        out_hw = layer.out_shape[2:]
        cols = im2col(x, a["size"], a["stride"], a["pads"], out_hw)
        y = w["weight"].reshape(a["filters"], -1) @ cols  # (F, N*H'*W'): one product for the batch
        if "bias" in w:
            y += w["bias"][:, None]
        if cache is not None:
            cache.update(cols=cols, x_shape=x.shape)
        return np.ascontiguousarray(y.reshape((a["filters"], x.shape[0]) + tuple(out_hw)).transpose(1, 0, 2, 3))

    def backward(self, layer, w, cache, dy, need_dx=True):
        a = layer.attrs
        n, f, oh, ow = dy.shape
        dy_rows = dy.transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*H'*W'), as the forward made it
        grads = {"weight": (dy_rows @ cache["cols"].T).reshape(w["weight"].shape)}
        if "bias" in w:
            grads["bias"] = dy_rows.sum(axis=1)
        if not need_dx:
            return None, grads
        x_shape = cache["x_shape"]
        kh, kw = a["size"]
        dcols = (w["weight"].reshape(f, -1).T @ dy_rows).reshape(x_shape[1], kh, kw, n, oh, ow)
        top, left, bottom, right = a["pads"]
        dx = np.zeros((n, x_shape[1], x_shape[2] + top + bottom, x_shape[3] + left + right), dtype=dy.dtype)
        dx_channels_first = dx.transpose(1, 0, 2, 3)
        for (i, j), (rows, columns) in window_slices(a["size"], a["stride"], (oh, ow)):
            dx_channels_first[:, :, rows, columns] += dcols[:, i, j]
        return dx[:, :, top:top + x_shape[2], left:left + x_shape[3]], grads
