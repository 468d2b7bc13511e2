"""crf in NumPy: the best tag sequence (Viterbi) forward, and the sentence likelihood's loss and
gradients (the forward-backward algorithm) for training (specc/layers/crf.py has the model).

The likelihood runs in float64 in probability space, each step's forward vector rescaled to
sum 1 (Rabiner's scaling): one (N, K) x (K, K) product per step instead of a log-sum-exp over
(N, K, K). Viterbi runs in the scores' own dtype, adding and comparing in the order the ONNX
lowering does, so that both back ends choose the same sequence, ties going to the lower tag.
"""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel


def sentence_lengths(mask: np.ndarray | None, n: int, steps: int) -> np.ndarray:
    """Words per sentence (N,) int64: the padding mask's (N, T) row sums, or T for each."""
    if mask is None:
        return np.full(n, steps, dtype=np.int64)
    return mask.sum(axis=1).astype(np.int64)


def viterbi(u: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray,
            lengths: np.ndarray) -> np.ndarray:
    """The highest-scoring tag sequence of each sentence: u (N, T, K) scores -> (N, T) int64 tags
    (a sentence's padding repeats its last tag)."""
    n, steps, tags = u.shape
    within = np.arange(steps)[None, :] < lengths[:, None]  # (N, T)
    best = start + u[:, 0]  # (N, K): the best score of a sequence ending in each tag
    back = np.empty((n, steps, tags), dtype=np.int64)
    back[:, 0] = np.arange(tags)
    incoming = np.ascontiguousarray(transitions.T)  # (to, from): each row's choice is contiguous, 7x faster
    for t in range(1, steps):
        candidates = best[:, None, :] + incoming  # (N, to, from)
        chosen = candidates.argmax(axis=2)
        back[:, t] = np.where(within[:, t, None], chosen, np.arange(tags))
        reached = np.take_along_axis(candidates, chosen[:, :, None], axis=2)[:, :, 0]
        best = np.where(within[:, t, None], reached + u[:, t], best)
    path = np.empty((n, steps), dtype=np.int64)
    path[:, -1] = (best + end).argmax(axis=1)
    rows = np.arange(n)
    for t in range(steps - 1, 0, -1):
        path[:, t - 1] = back[rows, t, path[:, t]]
    return path


def negative_log_likelihood(u: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray,
                            tags: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """-log p(tags | u) per sentence and its gradients, all float64.

    u (N, T, K) scores; tags (N, T) int true tags; lengths (N,) words per sentence (0 allowed:
    such a row has loss 0 and no gradient). Returns (losses (N,), d losses.sum() / du (N, T, K),
    {"transitions": (K, K), "start": (K,), "end": (K,)} gradients of losses.sum()).
    """
    u = u.astype(np.float64)
    n, steps, k = u.shape
    within = np.arange(steps)[None, :] < lengths[:, None]
    real = lengths > 0
    shift = transitions.max()
    e = np.exp(transitions - shift)  # (K, K), entries in (0, 1]
    peaks = u.max(axis=2, keepdims=True)
    phi = np.exp(u - peaks)  # (N, T, K), each step's largest 1
    alpha = np.empty((n, steps, k))  # forward vectors, each step's summing to 1
    scale = np.ones((n, steps))  # what each step's vector was divided by
    first = np.exp(start - start.max()) * phi[:, 0]
    scale[:, 0] = first.sum(axis=1)
    alpha[:, 0] = first / scale[:, 0, None]
    log_z = np.log(scale[:, 0]) + start.max() + peaks[:, 0, 0]
    for t in range(1, steps):
        a = (alpha[:, t - 1] @ e) * phi[:, t]
        on = within[:, t]
        scale[:, t] = np.where(on, a.sum(axis=1), 1.0)  # past a sentence's end: carried, scale 1
        alpha[:, t] = np.where(on[:, None], a / scale[:, t, None], alpha[:, t - 1])
        log_z += np.where(on, np.log(scale[:, t]) + shift + peaks[:, t, 0], 0.0)
    finish = np.exp(end - end.max())
    z_end = alpha[:, -1] @ finish  # alpha carried past each sentence's end: its last word's
    log_z += np.log(z_end) + end.max()
    # backward vectors, scaled to match: alpha[t] * beta[t] is p(y_t | u)
    beta = np.zeros((n, steps, k))
    last = np.maximum(lengths - 1, 0)
    closing = finish[None, :] / z_end[:, None]
    for t in range(steps - 1, -1, -1):
        beta[:, t] = np.where((last == t)[:, None], closing, 0.0)
        if t + 1 < steps:
            carried = ((phi[:, t + 1] * beta[:, t + 1]) @ e.T) / scale[:, t + 1, None]
            beta[:, t] = np.where(within[:, t + 1, None], carried, beta[:, t])
    marginals = alpha * beta * within[:, :, None]
    # expected transition counts: sum over t of alpha[t-1] (x) (phi[t] beta[t] / scale[t]), times e
    later = (phi[:, 1:] * beta[:, 1:] / scale[:, 1:, None]) * within[:, 1:, None]
    expected = e * (alpha[:, :-1].reshape(-1, k).T @ later.reshape(-1, k))

    tags = np.where(within, tags, 0).astype(np.int64)
    rows = np.arange(n)
    gold = np.zeros((n, steps, k))
    np.put_along_axis(gold, tags[:, :, None], within[:, :, None].astype(np.float64), axis=2)
    pairs = np.zeros((k, k))
    following = within[:, 1:]
    np.add.at(pairs, (tags[:, :-1][following], tags[:, 1:][following]), 1.0)
    final = tags[rows, last]
    score = ((u * gold).sum(axis=(1, 2)) + start[tags[:, 0]] + end[final]
             + (transitions[tags[:, :-1], tags[:, 1:]] * following).sum(axis=1))
    losses = np.where(real, log_z - score, 0.0)
    d_start = (marginals[:, 0] - gold[:, 0])[real].sum(axis=0)
    last_marginal = marginals[rows, last] - gold[rows, last]
    d_end = last_marginal[real].sum(axis=0)
    return losses, marginals - gold, {"transitions": expected - pairs, "start": d_start, "end": d_end}


@kernel("crf")
class Crf(Kernel):
    def forward(self, layer, w, x, cache=None, mask=None):
        n, steps, tags = x.shape
        lengths = sentence_lengths(mask, n, steps)
        path = viterbi(x, w["transitions"], w["start"], w["end"], lengths)
        y = (path[:, :, None] == np.arange(tags)).astype(x.dtype)
        return y if mask is None else y * mask[:, :, None].astype(x.dtype)

    def backward(self, layer, w, cache, dy, need_dx=True):
        # the best sequence does not move under a small change of the scores: a zero gradient.
        # Training leaves the crf out of the layers it runs and takes `loss` instead.
        zeros = {name: np.zeros_like(value) for name, value in w.items()}
        return (np.zeros_like(dy) if need_dx else None), zeros

    def loss(self, layer, w, x: np.ndarray, targets: np.ndarray, mask: np.ndarray | None):
        """The training loss on the crf's input: x (N, T, K) scores, targets (N, T) true tags,
        mask (N, T) or None. Returns (sum over sentences of -log p(tags | x) / the words,
        its gradient with respect to x in x's dtype, the gradients of the crf's weights)."""
        n, steps, _ = x.shape
        lengths = sentence_lengths(mask, n, steps)
        words = max(int(lengths.sum()), 1)
        losses, dx, grads = negative_log_likelihood(x, *(w[name].astype(np.float64) for name in
                                                         ("transitions", "start", "end")), targets, lengths)
        return (float(losses.sum() / words), (dx / words).astype(x.dtype),
                {name: (g / words).astype(w[name].dtype) for name, g in grads.items()})
