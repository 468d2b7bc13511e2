"""conv forward and backward in NumPy: im2col by one strided copy per kernel position into a
(C*kh*kw, N*H'*W') matrix, then one matrix product for the whole batch. Images arrive and leave
channel-major, (C, N, H, W) (see runtime/interpreter.py)."""
from __future__ import annotations

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Kernel, kernel


def padded(x: np.ndarray, pads, fill: float = 0.0) -> np.ndarray:
    """An image batch (any two leading axes, then H, W) with `pads` (top, left, bottom, right)
    added, filled with `fill`.

    A slice assignment into a new buffer: np.pad costs several times more on small images.
    """
    top, left, bottom, right = pads
    if not any(pads):
        return x
    a, b, h, w = x.shape
    out = np.full((a, b, h + top + bottom, w + left + right), fill, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def window_slices(kernel_hw, strides, out_hw):
    """For each kernel position (i, j): the (rows, cols) slices of the padded input it reads."""
    return [((i, j), (slice(i, i + strides[0] * out_hw[0], strides[0]), slice(j, j + strides[1] * out_hw[1], strides[1])))
            for i in range(kernel_hw[0]) for j in range(kernel_hw[1])]


@functools.lru_cache(maxsize=64)
def column_index(padded_shape: tuple, kernel_hw: tuple, strides: tuple, out_hw: tuple,
                 blocks: tuple = (1, 1)) -> np.ndarray:
    """Flat indices into a padded channel-major batch (C, N, Hp, Wp) that gather its im2col
    columns in one np.take: row (c, i, j), column (bi, bj, n, qh, qw), where output pixel
    (qh * bh + bi, qw * bw + bj) is position (bi, bj) of its (bh, bw) block. blocks=(1, 1) is
    the plain order (n, H', W'); a pool's window as the block lays each window position out
    contiguously. Cached: a layer sees few batch shapes."""
    c, n, height, width = padded_shape
    (kh, kw), (sh, sw), (bh, bw) = kernel_hw, strides, blocks
    grid = np.ix_(range(c), range(kh), range(kw), range(bh), range(bw), range(n),
                  range(out_hw[0] // bh), range(out_hw[1] // bw))
    channel, i, j, bi, bj, image, qh, qw = grid
    rows = (bi + bh * qh) * sh + i
    columns = (bj + bw * qw) * sw + j
    index = ((channel * n + image) * height + rows) * width + columns
    return index.reshape(c * kh * kw, -1)


def im2col(x: np.ndarray, kernel_hw, strides, pads, out_hw, blocks=(1, 1)) -> np.ndarray:
    """Channel-major x (C, N, H, W) -> columns (C*kh*kw, N*H'*W'): row (c, i, j) holds the pixel
    that kernel position (i, j) of channel c sees, for every output pixel of every image, in
    the order column_index describes. Small columns are one gather, several times cheaper than
    a copy per kernel position; from GATHER_BELOW values on, reading the index (an int64 per
    float32 value, twice its bytes) costs more than one strided copy of the windows
    (window_columns)."""
    xp = padded(x, pads)
    if x.shape[0] * x.shape[1] * math.prod(kernel_hw) * math.prod(out_hw) >= GATHER_BELOW:
        return window_columns(xp, kernel_hw, strides, out_hw, blocks)
    index = column_index(xp.shape, tuple(kernel_hw), tuple(strides), tuple(out_hw), tuple(blocks))
    return np.take(xp.reshape(-1), index)


def window_columns(xp: np.ndarray, kernel_hw, strides, out_hw, blocks) -> np.ndarray:
    """im2col's columns of the padded xp by one copy of its sliding windows, in column_index's order."""
    (kh, kw), (sh, sw), (oh, ow), (bh, bw) = kernel_hw, strides, out_hw, blocks
    c, n = xp.shape[:2]
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, :sh * oh:sh, :sw * ow:sw]
    windows = windows.reshape(c, n, oh // bh, bh, ow // bw, bw, kh, kw)
    return windows.transpose(0, 6, 7, 3, 5, 1, 2, 4).reshape(c * kh * kw, -1)


# columns (values) from which im2col copies sliding windows instead of gathering by an index
GATHER_BELOW = 1 << 20
# below this output width, a stride-1 col2im adds whole planes (_col2im_runs) instead of rows
SHORT_ROWS = 32


def col2im(dcols: np.ndarray, x_shape, kernel_hw, strides, pads) -> np.ndarray:
    """The adjoint of im2col: dcols (C, kh, kw, N, H', W') added back onto the pixels each
    kernel position read; returns the gradient of the channel-major input x_shape."""
    if tuple(strides) == (1, 1) and dcols.shape[5] < SHORT_ROWS:
        return _col2im_runs(dcols, x_shape, kernel_hw, pads)
    c, n, height, width = x_shape
    top, left, bottom, right = pads
    dx = np.zeros((c, n, height + top + bottom, width + left + right), dtype=dcols.dtype)
    for (i, j), (rows, columns) in window_slices(kernel_hw, strides, dcols.shape[4:]):
        dx[:, :, rows, columns] += dcols[:, i, j]
    return dx[:, :, top:top + height, left:left + width]


def _col2im_runs(dcols: np.ndarray, x_shape, kernel_hw, pads) -> np.ndarray:
    """col2im for stride 1, the same sums in the same order (bit for bit): each kernel
    position's gradients are laid on the padded input's grid, (C, N*Hp*Wp) with zeros past
    the output, so that position (i, j) adds one contiguous run shifted by i*Wp + j. On small
    images that is about twice as fast as adding (C, N, H', W') slices, whose rows are a few
    values long."""
    c, n, height, width = x_shape
    top, left, bottom, right = pads
    hp, wp = height + top + bottom, width + left + right
    (kh, kw), (oh, ow) = kernel_hw, dcols.shape[4:]
    grid = np.zeros((c, kh, kw, n, hp, wp), dtype=dcols.dtype)
    grid[..., :oh, :ow] = dcols
    runs = grid.reshape(c, kh * kw, -1)
    length = runs.shape[2]
    dx = np.zeros((c, length + (kh - 1) * wp + kw - 1), dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, i * wp + j:i * wp + j + length] += runs[:, i * kw + j]
    return dx[:, :length].reshape(c, n, hp, wp)[:, :, top:top + height, left:left + width]


@kernel("conv")
class Conv(Kernel):
    """Images are channel-major (C, N, H, W) inside the interpreter: the product of the weights
    (F, C*kh*kw) with the columns (C*kh*kw, N*H'*W') is then the output itself, and its
    gradient is the (F, N*H'*W') matrix backward needs, with no transposed copy either way."""

    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        out_hw = layer.out_shape[2:]
        cols = im2col(x, a.kernel, a.stride, a.pads, out_hw)
        y = w["weight"].reshape(a.filters, -1) @ cols
        if "bias" in w:
            y += w["bias"][:, None]
        if cache is not None:
            cache.update(cols=cols, x_shape=x.shape)
        return y.reshape((a.filters, x.shape[1]) + tuple(out_hw))

    def backward(self, layer, w, cache, dy, need_dx=True):
        a = layer.attrs
        f, n, oh, ow = dy.shape
        dy_rows = dy.reshape(f, -1)
        grads = {"weight": (dy_rows @ cache["cols"].T).reshape(w["weight"].shape)}
        if "bias" in w:
            grads["bias"] = dy_rows.sum(axis=1)
        if not need_dx:
            return None, grads
        c = cache["x_shape"][0]
        kh, kw = a.kernel
        dcols = (w["weight"].reshape(f, -1).T @ dy_rows).reshape(c, kh, kw, n, oh, ow)
        return col2im(dcols, cache["x_shape"], a.kernel, a.stride, a.pads), grads
