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


def _layout(x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(axes a channel's statistics reduce over, the shape a (C,) array broadcasts as)."""
    if x.ndim == 4:
        return (1, 2, 3), (-1, 1, 1, 1)
    return tuple(range(x.ndim - 1)), (-1,)


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
        axes, shape = _layout(x)
        keep = None if mask is None else mask[..., None].astype(x.dtype)  # (N, T, 1): 1 on words
        if cache is None:
            scale = w["weight"] / np.sqrt(w["running_var"] + x.dtype.type(layer.attrs.eps))
            y = x * scale.reshape(shape) + (w["bias"] - w["running_mean"] * scale).reshape(shape)
            return y if keep is None else y * keep
        channels = x.shape[0] if x.ndim == 4 else x.shape[-1]
        count = x.size // channels if keep is None else int(mask.sum())
        if count < 2:
            held = "word" if keep is not None else "value"
            raise too_few_values(layer, f"a batch of {count} {held}{'s' if count != 1 else ''} per feature",
                                 "train with more samples per batch, or sentences of more than one word")
        mean = (x if keep is None else x * keep).sum(axis=axes) / x.dtype.type(count)
        centred = x - mean.reshape(shape)
        if keep is not None:  # padding enters neither the variance nor the gradients
            centred *= keep
        variance = np.square(centred).sum(axis=axes) / x.dtype.type(count)
        inverse = 1 / np.sqrt(variance + x.dtype.type(layer.attrs.eps))
        normalised = centred * inverse.reshape(shape)
        momentum = x.dtype.type(layer.attrs.momentum)
        w["running_mean"][...] = (1 - momentum) * w["running_mean"] + momentum * mean
        w["running_var"][...] = (1 - momentum) * w["running_var"] + momentum * variance * (count / (count - 1))
        cache.update(normalised=normalised, inverse=inverse, count=count, keep=keep)
        y = normalised * w["weight"].reshape(shape) + w["bias"].reshape(shape)
        return y if keep is None else y * keep

    def backward(self, layer, w, cache, dy, need_dx=True):
        axes, shape = _layout(dy)
        normalised, keep, count = cache["normalised"], cache["keep"], cache["count"]
        if keep is not None:  # the outputs on padding are constant zeros
            dy = dy * keep
        grads = {"bias": dy.sum(axis=axes), "weight": (dy * normalised).sum(axis=axes)}
        if not need_dx:
            return None, grads
        # the gradient through the batch's mean and variance: dx = gamma / sigma * (dy - mean(dy)
        # - xhat * mean(dy * xhat)), the means over the channel's values
        n = dy.dtype.type(count)
        dx = dy - (grads["bias"] / n).reshape(shape) - normalised * (grads["weight"] / n).reshape(shape)
        dx *= (w["weight"] * cache["inverse"]).reshape(shape)
        return (dx if keep is None else dx * keep), grads
