"""conv forward in NumPy: im2col through a strided view, then one matrix product."""
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


@kernel("conv")
class Conv(Kernel):
    def forward(self, layer, w, x):
        a = layer.attrs
        cols = windows(x, a["size"], a["stride"], a["pads"])
        n, c, oh, ow, kh, kw = cols.shape
        # (N, H', W', C*kh*kw) rows so that one product with (F, C*kh*kw)^T gives every output pixel
        rows = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
        y = rows @ w["weight"].reshape(a["filters"], -1).T
        if "bias" in w:
            y += w["bias"]
        return np.ascontiguousarray(y.reshape(n, oh, ow, a["filters"]).transpose(0, 3, 1, 2))
