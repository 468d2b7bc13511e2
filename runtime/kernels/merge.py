"""add, concat and multiply in NumPy: merges of the flowing value with named values.

Every operand arrives as the interpreter holds values (images channel-major, (C, N, H, W);
vectors (N, F); sequences (N, T, F)), so images join along axis 0 and the others along the
last axis. backward gives the gradient of the flowing value, then of each operand.
"""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


class Merge(Kernel):
    """A merge's kernel: its layer's attrs declare reads_operands (forward takes operands=)."""


@kernel("add")
class Add(Merge):
    """y = x + a + b ...; every operand receives dy itself."""

    def forward(self, layer, w, x, cache=None, operands=()):
        y = x + operands[0] if operands else x.copy()
        for other in operands[1:]:
            y += other
        if cache is not None:
            cache["count"] = len(operands)
        return y

    def backward(self, layer, w, cache, dy, need_dx=True):
        return (dy,) * (cache["count"] + 1), {}


def concat_axis(x: np.ndarray) -> int:
    """Channels of channel-major images (C, N, H, W), features of vectors and sequences."""
    return 0 if x.ndim == 4 else x.ndim - 1


@kernel("concat")
class Concat(Merge):
    """y = [x, a, b ...] along channels (images) or features (vectors, sequences)."""

    def forward(self, layer, w, x, cache=None, operands=()):
        parts = (x, *operands)
        axis = concat_axis(x)
        if cache is not None:
            cache["axis"], cache["widths"] = axis, [part.shape[axis] for part in parts]
        return np.concatenate(parts, axis=axis)

    def backward(self, layer, w, cache, dy, need_dx=True):
        ends = np.cumsum(cache["widths"])[:-1]
        return tuple(np.split(dy, ends, axis=cache["axis"])), {}


@kernel("multiply")
class Multiply(Merge):
    """y = x * a * b ... elementwise (gates); each factor's gradient is dy times the others."""

    def forward(self, layer, w, x, cache=None, operands=()):
        factors = (x, *operands)
        y = x.copy()
        for other in operands:
            y *= other
        if cache is not None:
            cache["factors"] = factors
        return y

    def backward(self, layer, w, cache, dy, need_dx=True):
        factors = cache["factors"]
        grads = []
        for i in range(len(factors)):
            grad = dy
            for j, other in enumerate(factors):
                if j != i:
                    grad = grad * other
            grads.append(grad)
        return tuple(grads), {}
