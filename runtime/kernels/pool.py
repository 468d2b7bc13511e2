"""maxpool and avgpool forward and backward in NumPy.

Both read the input through one strided slice per window position (i, j): a k x k pool is k*k
elementwise operations on (N, C, H', W') views, with no window array built.
"""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel
from .conv import padded, window_slices


def _ceil_pads(layer, x_shape) -> tuple[int, int, int, int]:
    """Extra rows/columns after the image that a ceil-mode last window reaches past."""
    a = layer.attrs
    out_h, out_w = layer.out_shape[2:]
    extra_h = max((out_h - 1) * a.stride[0] + a.window[0] - x_shape[2], 0)
    extra_w = max((out_w - 1) * a.stride[1] + a.window[1] - x_shape[3], 0)
    return (0, 0, extra_h, extra_w)


def _views(layer, x: np.ndarray, fill: float):
    """Each window position's strided view of the (ceil-padded) input, in row-major order."""
    a = layer.attrs
    xp = padded(x, _ceil_pads(layer, x.shape), fill)
    return [xp[:, :, rows, cols] for _, (rows, cols) in window_slices(a.window, a.stride, layer.out_shape[2:])]


def _scatter(layer, x_shape, dtype, parts) -> np.ndarray:
    """Add parts[k] (N, C, H', W') onto the pixels window position k read; crop the padding."""
    a = layer.attrs
    pads = _ceil_pads(layer, x_shape)
    dx = np.zeros((x_shape[0], x_shape[1], x_shape[2] + pads[2], x_shape[3] + pads[3]), dtype=dtype)
    for part, (_, (rows, cols)) in zip(parts, window_slices(a.window, a.stride, layer.out_shape[2:])):
        dx[:, :, rows, cols] += part
    return dx[:, :, :x_shape[2], :x_shape[3]]


def _along(axis: int, index) -> tuple:
    """An index tuple that applies `index` to one axis of an (N, C, H, W) array."""
    return (slice(None),) * axis + (index,)


def first_max(views: list, keep_masks: bool):
    """The elementwise maximum of equally shaped arrays, and (if asked) where it came from.

    masks[k - 1] marks where views[k] beat every view before it; the winner is the last k
    whose mask is set, so ties go to the earliest view: the first maximum, as in PyTorch.
    (Boolean masks, not an index array: np.where and masked stores cost several times more.)
    """
    best = views[0].copy()
    masks = []
    for view in views[1:]:
        if keep_masks:
            masks.append(np.greater(view, best))
        np.maximum(best, view, out=best)
    return best, masks


def route_to_first_max(dy: np.ndarray, masks: list, parts: list) -> None:
    """The adjoint of first_max: write into parts[k] the share of dy where view k won.

    parts: one array (or strided view) per view, shaped like dy; parts[0] doubles as the
    running remainder, so nothing else is allocated.
    """
    remaining = dy
    for k in range(len(masks), 0, -1):
        np.multiply(remaining, masks[k - 1], out=parts[k])
        np.subtract(remaining, parts[k], out=parts[0])
        remaining = parts[0]
    if not masks:
        parts[0][...] = dy


def _max_along(x: np.ndarray, size: int, axis: int, keep_masks: bool):
    """Max over non-overlapping windows of `size` along one axis (2 = rows, 3 = columns).

    Rows after the last whole window are dropped (floor).
    """
    out = x.shape[axis] // size
    return first_max([x[_along(axis, slice(j, j + size * out, size))] for j in range(size)], keep_masks)


def _unmax_along(d_best: np.ndarray, masks: list, size: int, axis: int, length: int) -> np.ndarray:
    """The adjoint of _max_along: each window's gradient goes to its first maximum."""
    shape = list(d_best.shape)
    shape[axis] = length
    d_in = np.zeros(shape, dtype=d_best.dtype)  # rows a floor pool dropped get no gradient
    out = d_best.shape[axis]
    route_to_first_max(d_best, masks, [d_in[_along(axis, slice(j, j + size * out, size))] for j in range(size)])
    return d_in


def _tiles(layer) -> bool:
    """Windows side by side (stride = size) with no ceil padding: the separable fast path."""
    a = layer.attrs
    return tuple(a.stride) == tuple(a.window) and not a.ceil


@kernel("maxpool")
class MaxPool(Kernel):
    """Gradients go to the first maximum of each window in row-major order, as in PyTorch:
    zero backgrounds tie often, and any other choice disagrees with every oracle. When windows
    tile the input, the max is taken along columns, then rows; a window's first maximum is the
    first maximum of its first row holding the window's maximum, which is what that finds."""

    def forward(self, layer, w, x, cache=None):
        if not _tiles(layer):
            return self._forward_windows(layer, x, cache)
        (kh, kw), keep = layer.attrs.window, cache is not None
        columns, column_masks = _max_along(x, kw, 3, keep)
        y, row_masks = _max_along(columns, kh, 2, keep)
        if keep:
            cache.update(x_shape=x.shape, column_masks=column_masks, row_masks=row_masks)
        return y

    def backward(self, layer, w, cache, dy, need_dx=True):
        if not _tiles(layer):
            return self._backward_windows(layer, cache, dy), {}
        (kh, kw), (height, width) = layer.attrs.window, cache["x_shape"][2:]
        d_columns = _unmax_along(dy, cache["row_masks"], kh, 2, height)
        return _unmax_along(d_columns, cache["column_masks"], kw, 3, width), {}

    @staticmethod
    def _forward_windows(layer, x, cache):
        """Overlapping or ceil windows: one strided view per window position."""
        views = _views(layer, x, -np.inf)
        y = views[0].copy()
        for view in views[1:]:
            np.maximum(y, view, out=y)
        if cache is not None:
            cache.update(x=x, y=y)
        return y

    @staticmethod
    def _backward_windows(layer, cache, dy):
        taken = np.zeros(dy.shape, dtype=bool)
        parts = []
        for view in _views(layer, cache["x"], -np.inf):
            hit = view == cache["y"]
            hit &= ~taken
            taken |= hit
            parts.append(dy * hit)
        return _scatter(layer, cache["x"].shape, dy.dtype, parts)


def _counts(layer, x_shape, dtype) -> np.ndarray | float:
    """How many real pixels each window covers: a constant unless ceil windows hang over."""
    a = layer.attrs
    if not any(_ceil_pads(layer, x_shape)):
        return float(a.window[0] * a.window[1])
    ones = np.ones((1, 1) + tuple(x_shape[2:]), dtype=dtype)
    return sum(_views(layer, ones, 0.0))


@kernel("avgpool")
class AvgPool(Kernel):
    def forward(self, layer, w, x, cache=None):
        total = sum(_views(layer, x, 0.0))
        if cache is not None:
            cache["x_shape"] = x.shape
        # a partial window averages only the pixels it covers (ONNX count_include_pad=0)
        return (total / _counts(layer, x.shape, x.dtype)).astype(x.dtype)

    def backward(self, layer, w, cache, dy, need_dx=True):
        a = layer.attrs
        share = dy / _counts(layer, cache["x_shape"], dy.dtype)
        return _scatter(layer, cache["x_shape"], dy.dtype, [share] * (a.window[0] * a.window[1])), {}
