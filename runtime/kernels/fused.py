"""conv followed by a max pool whose windows tile its output, run as one kernel.

The conv writes its output pool-blocked, (F, ph, pw, N, H'/ph, W'/pw): its columns are
gathered in that order, so the one matrix product lays every window position out as a
contiguous plane, and the pool is an elementwise maximum of ph*pw planes instead of strided
reads. Values and gradients are those of the two layers run apart (tests/test_gradients.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Kernel
from .conv import col2im, im2col
from .pool import first_max, route_to_first_max


@dataclass(frozen=True)
class ConvMaxPool:
    """A conv layer and the maxpool layer right after it, run by the fused kernel."""

    conv: object
    pool: object
    kind: str = "conv+maxpool"

    @property
    def weights(self):
        return self.conv.weights

    @property
    def attrs(self):
        """The pair's flags are the conv's (neither conv nor maxpool sets any)."""
        return self.conv.attrs

    def weight_name(self, local: str) -> str:
        return self.conv.weight_name(local)

    @property
    def in_shape(self):
        return self.conv.in_shape

    @property
    def out_shape(self):
        return self.pool.out_shape


def fuse(conv, pool) -> ConvMaxPool | None:
    """The fused pair, if the pool's windows tile the conv's output exactly; else None."""
    a = pool.attrs
    if conv.kind != "conv" or pool.kind != "maxpool" or a.ceil or tuple(a.stride) != tuple(a.window):
        return None
    if any(size % window for size, window in zip(conv.out_shape[2:], a.window)):
        return None
    return ConvMaxPool(conv, pool)


class ConvMaxPoolKernel(Kernel):
    kind = "conv+maxpool"

    def forward(self, layer, w, x, cache=None):
        conv = layer.conv.attrs
        (ph, pw), (qh, qw) = layer.pool.attrs.window, layer.pool.out_shape[2:]
        n = x.shape[1]
        cols = im2col(x, conv.kernel, conv.stride, conv.pads, layer.conv.out_shape[2:], blocks=(ph, pw))
        planes = (w["weight"].reshape(conv.filters, -1) @ cols).reshape(conv.filters, ph, pw, -1)
        keep = cache is not None
        # along each window row first, then across rows: the first maximum in row-major order
        columns, column_masks = first_max([planes[:, :, bj] for bj in range(pw)], keep)
        y, row_masks = first_max([columns[:, bi] for bi in range(ph)], keep)
        if "bias" in w:  # a filter's bias shifts its whole window: add it after the max, to 1/(ph*pw) the values
            y += w["bias"][:, None]
        if keep:
            cache.update(cols=cols, x_shape=x.shape, column_masks=column_masks, row_masks=row_masks)
        return y.reshape(conv.filters, n, qh, qw)

    def backward(self, layer, w, cache, dy, need_dx=True):
        conv = layer.conv.attrs
        f = conv.filters
        (kh, kw), (ph, pw), (qh, qw) = conv.kernel, layer.pool.attrs.window, layer.pool.out_shape[2:]
        dy_rows = dy.reshape(f, -1)
        d_columns = np.empty((f, ph, dy_rows.shape[1]), dtype=dy.dtype)
        route_to_first_max(dy_rows, cache["row_masks"], [d_columns[:, bi] for bi in range(ph)])
        d_planes = np.empty((f, ph, pw, dy_rows.shape[1]), dtype=dy.dtype)
        route_to_first_max(d_columns, cache["column_masks"], [d_planes[:, :, bj] for bj in range(pw)])
        dz = d_planes.reshape(f, -1)
        grads = {"weight": (dz @ cache["cols"].T).reshape(w["weight"].shape)}
        if "bias" in w:
            grads["bias"] = dy_rows.sum(axis=1)  # each window's gradient reaches one biased value
        if not need_dx:
            return None, grads
        c, n = cache["x_shape"][:2]
        dcols = (w["weight"].reshape(f, -1).T @ dz).reshape(c, kh, kw, ph, pw, n, qh, qw)
        dcols = dcols.transpose(0, 1, 2, 5, 6, 3, 7, 4).reshape(c, kh, kw, n, qh * ph, qw * pw)
        return col2im(dcols, cache["x_shape"], conv.kernel, conv.stride, conv.pads), grads

KERNEL = ConvMaxPoolKernel()
