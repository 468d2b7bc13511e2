"""maxpool and avgpool forward and backward in NumPy: one window view, the reduction as a
parameter."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel
from .conv import scatter_windows, windows


def _ceil_pads(layer, x_shape) -> tuple[int, int, int, int]:
    """Extra rows/columns after the image that a ceil-mode last window reaches past."""
    a = layer.attrs
    out_h, out_w = layer.out_shape[2:]
    extra_h = max((out_h - 1) * a["stride"][0] + a["size"][0] - x_shape[2], 0)
    extra_w = max((out_w - 1) * a["stride"][1] + a["size"][1] - x_shape[3], 0)
    return (0, 0, extra_h, extra_w)


@kernel("maxpool")
class MaxPool(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        view = windows(x, a["size"], a["stride"], _ceil_pads(layer, x.shape), fill=-np.inf)
        flat = view.reshape(view.shape[:4] + (-1,))
        if cache is None:
            return flat.max(axis=-1)
        # the gradient goes to the first maximum of a window, as in PyTorch: zero backgrounds
        # tie often, and any other choice disagrees with every oracle
        chosen = flat.argmax(axis=-1)
        cache.update(chosen=chosen, x_shape=x.shape)
        return np.take_along_axis(flat, chosen[..., None], axis=-1)[..., 0]

    def backward(self, layer, w, cache, dy):
        a = layer.attrs
        kh, kw = a["size"]
        one_hot = cache["chosen"][..., None] == np.arange(kh * kw)
        dwin = (one_hot * dy[..., None]).reshape(dy.shape + (kh, kw))
        return scatter_windows(dwin, cache["x_shape"], a["size"], a["stride"], _ceil_pads(layer, cache["x_shape"])), {}


def _counts(layer, x_shape, dtype) -> np.ndarray | float:
    """How many real pixels each window covers: a constant unless ceil windows hang over."""
    a = layer.attrs
    pads = _ceil_pads(layer, x_shape)
    if not any(pads):
        return float(a["size"][0] * a["size"][1])
    ones = np.ones((1, 1) + tuple(x_shape[2:]), dtype=dtype)
    return windows(ones, a["size"], a["stride"], pads).sum(axis=(4, 5))


@kernel("avgpool")
class AvgPool(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        total = windows(x, a["size"], a["stride"], _ceil_pads(layer, x.shape)).sum(axis=(4, 5))
        if cache is not None:
            cache.update(x_shape=x.shape)
        # a partial window averages only the pixels it covers (ONNX count_include_pad=0)
        return (total / _counts(layer, x.shape, x.dtype)).astype(x.dtype)

    def backward(self, layer, w, cache, dy):
        a = layer.attrs
        share = dy / _counts(layer, cache["x_shape"], dy.dtype)
        dwin = np.broadcast_to(share[..., None, None], dy.shape + tuple(a["size"]))
        return scatter_windows(dwin, cache["x_shape"], a["size"], a["stride"], _ceil_pads(layer, cache["x_shape"])), {}
