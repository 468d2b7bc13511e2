"""rnn (Elman) forward and backward (through time) in NumPy.

The equations and weight layout are in specc/layers/rnn.py. Per stacked layer and direction the
input projection x_t W^T + b of all steps is one matrix product; only the recurrence loops.
"""
from __future__ import annotations

import numpy as np

from .activation import FUNCTIONS
from .base import Kernel, kernel


def _steps(count: int, reverse: bool) -> range:
    return range(count - 1, -1, -1) if reverse else range(count)


def elman_direction(xw: np.ndarray, recurrent: np.ndarray, f, reverse: bool) -> np.ndarray:
    """Run one direction of an Elman layer.

    xw: (N, T, H), the input projection of every step; recurrent: (H, H) matrix R.
    Returns the hidden states (N, T, H), each at its own step.
    """
    n, steps, hidden = xw.shape
    out = np.empty_like(xw)
    h = np.zeros((n, hidden), dtype=xw.dtype)
    recurrent_t = np.ascontiguousarray(recurrent.T)
    for t in _steps(steps, reverse):
        h = f(xw[:, t] + h @ recurrent_t)
        out[:, t] = h
    return out


def elman_direction_backward(hs: np.ndarray, recurrent: np.ndarray, dhs: np.ndarray, derivative,
                             reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Backpropagation through time for one direction.

    hs: (N, T, H) hidden states of the forward pass; dhs: (N, T, H) loss gradient with respect
    to them from above. Returns (da, dR): da (N, T, H) the gradient with respect to each step's
    pre-activation, dR (H, H) the recurrent weights' gradient.
    """
    n, steps, hidden = hs.shape
    da = np.empty_like(hs)
    carried = np.zeros((n, hidden), dtype=hs.dtype)  # gradient reaching h_t from step t+1
    for t in _steps(steps, not reverse):
        da[:, t] = derivative(hs[:, t], dhs[:, t] + carried)
        carried = da[:, t] @ recurrent
    # the state each step read: h_{t-1} going forward, h_{t+1} going backward, 0 at the start
    previous = np.zeros_like(hs)
    if reverse:
        previous[:, :-1] = hs[:, 1:]
    else:
        previous[:, 1:] = hs[:, :-1]
    d_recurrent = da.reshape(-1, hidden).T @ previous.reshape(-1, hidden)
    return da, d_recurrent


@kernel("rnn")
class Rnn(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        f = FUNCTIONS[a["activation"]][0]
        for k in range(1, a["layers"] + 1):
            joined = []
            for d in range(a["directions"]):
                xw = x @ w[f"layer{k}.W"][d].T
                if a["bias"]:
                    xw += w[f"layer{k}.b"][d]
                joined.append(elman_direction(xw, w[f"layer{k}.R"][d], f, reverse=d == 1))
            if cache is not None:
                cache[k] = (x, joined)
            x = np.concatenate(joined, axis=-1) if len(joined) > 1 else joined[0]
        return x

    def backward(self, layer, w, cache, dy):
        a = layer.attrs
        derivative = FUNCTIONS[a["activation"]][1]
        hidden = a["hidden"]
        grads = {}
        for k in range(a["layers"], 0, -1):
            x, states = cache[k]
            dx = np.zeros_like(x)
            dW, dR = np.zeros_like(w[f"layer{k}.W"]), np.zeros_like(w[f"layer{k}.R"])
            db = np.zeros((a["directions"], hidden), dtype=dy.dtype)
            for d, hs in enumerate(states):
                da, dR[d] = elman_direction_backward(hs, w[f"layer{k}.R"][d],
                                                     dy[..., d * hidden:(d + 1) * hidden], derivative,
                                                     reverse=d == 1)
                rows = da.reshape(-1, hidden)
                dW[d] = rows.T @ x.reshape(-1, x.shape[-1])
                db[d] = rows.sum(axis=0)
                dx += da @ w[f"layer{k}.W"][d]
            grads[f"layer{k}.W"], grads[f"layer{k}.R"] = dW, dR
            if a["bias"]:
                grads[f"layer{k}.b"] = db
            dy = dx
        return dy, grads
