"""batchnorm forward and backward in NumPy (see specc/layers/batchnorm.py for the conventions).

Images arrive channel-major (C, N, H, W), so a channel's values are one contiguous row; vectors
(N, F) and sequences (N, T, F) hold their features last. A forward with a training cache
normalises with the batch's statistics and updates the running ones in place (they are the
arrays of the model's weights, as PyTorch updates its buffers in forward); without one it uses
the running statistics.
"""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


def _rows(x: np.ndarray) -> tuple[np.ndarray, int]:
    """x as a 2-D view and the axis a channel's values lie along: images (C, N*H*W) along 1,
    vectors and sequences (N*T, F) along 0. Reductions along one axis of a 2-D array are several
    times faster in NumPy than over three axes of a 4-D one."""
    return (x.reshape(x.shape[0], -1), 1) if x.ndim == 4 else (x.reshape(-1, x.shape[-1]), 0)


def _per_channel(values: np.ndarray, axis: int) -> np.ndarray:
    """A (C,) array shaped to broadcast against _rows' view: (C, 1) or (1, C)."""
    return values[:, None] if axis == 1 else values[None, :]


def _dot(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    """sum(a * b) per channel, without the product's array."""
    return np.einsum("ij,ij->i" if axis == 1 else "ij,ij->j", a, b)


def too_few_values(layer, received: str, hint: str):
    """The SpecError for a training batch that leaves one value (or none) per channel: its
    variance is undefined (PyTorch: "Expected more than 1 value per channel when training")."""
    from specc.errors import Coord, SpecError

    c = layer.coord
    per = "channel" if len(layer.in_shape) == 4 else "feature"
    return SpecError(f"{layer.call_text} needs more than 1 value per {per} in training, to take the batch's "
                     f"variance", Coord(c.file, c.line, c.column, len(layer.call_text), c.text_line),
                     expected=f"at least 2 values per {per} in every training batch", received=received, hint=hint)


def check_batches(layers, samples: int, batch: int) -> None:
    """Refuse, before training, batchnorm on images or vectors that a batch of this run would
    give a single value per channel: `samples` split in batches of `batch`, the last holding the
    rest. (Sentences hold several words each; the kernel counts theirs.)"""
    if not samples:
        return
    sizes = {min(batch, samples), samples % batch or batch}
    for layer in layers:
        if layer.kind != "batchnorm" or len(layer.in_shape) == 3:
            continue
        pixels = layer.in_shape[2] * layer.in_shape[3] if len(layer.in_shape) == 4 else 1
        smallest = min(sizes)
        if smallest * pixels < 2:
            last = smallest < min(batch, samples)
            better = next(b for b in range(max(batch, 1) + 1, samples + 2) if samples % b != 1)
            raise too_few_values(
                layer, f"{'the last batch of each epoch holds' if last else 'batches of'} 1 sample "
                       f"({samples:,} training samples in batches of {batch})",
                f"choose a batch size that leaves 2 or more samples in the last batch, like batch {better}"
                if last else "train with batches of 2 samples or more ('batch 32' in the train section)")


@kernel("batchnorm")
class BatchNorm(Kernel):
    def forward(self, layer, w, x, cache=None, mask=None):
        rows, axis = _rows(x)
        # (N*T, 1): 1 on words. A chain's mask stays with it past `last`, where the value is one
        # vector a sentence and no step is padding
        keep = None if mask is None or x.ndim != 3 else mask.reshape(-1, 1).astype(x.dtype)
        eps = x.dtype.type(layer.attrs.eps)
        if cache is None:
            scale = w["weight"] / np.sqrt(w["running_var"] + eps)
            y = rows * _per_channel(scale, axis)
            y += _per_channel(w["bias"] - w["running_mean"] * scale, axis)
            return (y if keep is None else y * keep).reshape(x.shape)
        count = rows.shape[axis] if keep is None else int(keep.sum())
        if count < 2:
            held = "word" if keep is not None else "value"
            raise too_few_values(layer, f"a batch of {count} {held}{'s' if count != 1 else ''} per feature",
                                 "train with more samples per batch, or sentences of more than one word")
        n = x.dtype.type(count)
        mean = (rows.sum(axis=axis) if keep is None else _dot(rows, np.broadcast_to(keep, rows.shape), axis)) / n
        normalised = rows - _per_channel(mean, axis)
        if keep is not None:  # padding enters neither the variance nor the gradients
            normalised *= keep
        variance = _dot(normalised, normalised, axis) / n
        inverse = 1 / np.sqrt(variance + eps)
        normalised *= _per_channel(inverse, axis)
        momentum = x.dtype.type(layer.attrs.momentum)
        w["running_mean"][...] = (1 - momentum) * w["running_mean"] + momentum * mean
        w["running_var"][...] = (1 - momentum) * w["running_var"] + momentum * variance * (count / (count - 1))
        cache.update(normalised=normalised, inverse=inverse, count=count, keep=keep)
        y = normalised * _per_channel(w["weight"], axis)
        y += _per_channel(w["bias"], axis)
        return (y if keep is None else y * keep).reshape(x.shape)

    def backward(self, layer, w, cache, dy, need_dx=True):
        rows, axis = _rows(dy)
        normalised, keep, n = cache["normalised"], cache["keep"], dy.dtype.type(cache["count"])
        if keep is not None:  # the outputs on padding are constant zeros
            rows = rows * keep
        grads = {"bias": rows.sum(axis=axis), "weight": _dot(rows, normalised, axis)}
        if not need_dx:
            return None, grads
        # the gradient through the batch's mean and variance: dx = gamma / sigma * (dy - mean(dy)
        # - xhat * mean(dy * xhat)), the means over the channel's values
        dx = normalised * _per_channel(-grads["weight"] / n, axis)
        dx += rows
        dx -= _per_channel(grads["bias"] / n, axis)
        dx *= _per_channel(w["weight"] * cache["inverse"], axis)
        return (dx if keep is None else dx * keep).reshape(dy.shape), grads
