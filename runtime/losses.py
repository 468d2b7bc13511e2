"""Losses with their gradients: softmax cross-entropy (fused, per sample or per step, masked)
and mean squared error. Each returns (loss, dL/d(input)) with the input's shape and dtype."""
from __future__ import annotations

import numpy as np

def cross_entropy(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of the target classes, from logits (before softmax).

    logits: (N, C) or per step (N, T, C); targets: int class indices (N,) or (N, T);
    mask: bool (N, T), False on padded steps, which count neither in the mean nor the gradient.
    Returns the loss and its gradient with respect to the logits: (softmax - one_hot) / count.
    """
    classes = logits.shape[-1]
    # class-major (C, rows): the max, exp and sum then run along long contiguous rows instead
    # of across rows of a few classes each, several times faster for small C
    scores = np.ascontiguousarray(logits.reshape(-1, classes).T)
    rows = np.arange(scores.shape[1])
    picked_targets = targets.reshape(-1).astype(np.int64)
    scores -= scores.max(axis=0)
    target_scores = scores[picked_targets, rows]  # log p(target) = target score - log(total)
    np.exp(scores, out=scores)
    totals = scores.sum(axis=0)
    weight = np.ones(rows.shape, dtype=logits.dtype) if mask is None else mask.reshape(-1).astype(logits.dtype)
    count = max(float(weight.sum()), 1.0)
    loss = float(-((target_scores - np.log(totals)) * weight).sum() / count)
    scores /= totals
    scores[picked_targets, rows] -= 1.0
    scores *= weight / count
    return loss, np.ascontiguousarray(scores.T).reshape(logits.shape)


def mse(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over every element of (outputs - targets)^2, and its gradient 2 (outputs - targets) / size."""
    diff = outputs - targets.astype(outputs.dtype)
    return float((diff * diff).mean()), (2.0 / diff.size) * diff
