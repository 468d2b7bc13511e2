"""Losses with their gradients: softmax cross-entropy (fused, per sample or per step, masked)
and mean squared error. Each returns (loss, dL/d(input)) with the input's shape and dtype."""
from __future__ import annotations

import numpy as np

LOSSES = ("cross_entropy", "mse")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, computed from shifted logits so nothing overflows."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of the target classes, from logits (before softmax).

    logits: (N, C) or per step (N, T, C); targets: int class indices (N,) or (N, T);
    mask: bool (N, T), False on padded steps, which count neither in the mean nor the gradient.
    Returns the loss and its gradient with respect to the logits: (softmax - one_hot) / count.
    """
    logp = log_softmax(logits)
    picked = np.take_along_axis(logp, targets[..., None].astype(np.int64), axis=-1)[..., 0]
    weight = np.ones(targets.shape, dtype=logits.dtype) if mask is None else mask.astype(logits.dtype)
    count = max(float(weight.sum()), 1.0)
    loss = float(-(picked * weight).sum() / count)
    grad = np.exp(logp)
    np.put_along_axis(grad, targets[..., None].astype(np.int64),
                      np.take_along_axis(grad, targets[..., None].astype(np.int64), axis=-1) - 1, axis=-1)
    grad *= (weight / count)[..., None]
    return loss, grad.astype(logits.dtype)


def mse(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over every element of (outputs - targets)^2, and its gradient 2 (outputs - targets) / size."""
    diff = outputs - targets.astype(outputs.dtype)
    return float((diff * diff).mean()), (2.0 / diff.size) * diff
