"""rnn (Elman) forward and backward (through time) in NumPy.

The equations and weight layout are in specc/layers/rnn.py. Inside the kernel sequences are
time-major (T, N, F), so each step reads and writes contiguous rows; per stacked layer and
direction the input projection x_t W^T + b of all steps is one matrix product, and only the
recurrence loops over time.
"""
from __future__ import annotations

import numpy as np

from .activation import ELEMENTWISE, IN_PLACE
from .base import Kernel, kernel


def _steps(count: int, reverse: bool) -> range:
    return range(count - 1, -1, -1) if reverse else range(count)


def _project(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """x (..., F) @ matrix^T as one 2-D product (a 3-D matmul runs as many small ones)."""
    return (x.reshape(-1, x.shape[-1]) @ matrix.T).reshape(x.shape[:-1] + (matrix.shape[0],))


def elman_direction(xw: np.ndarray, recurrent: np.ndarray, f_in_place, reverse: bool) -> np.ndarray:
    """Run one direction of an Elman layer.

    xw: (T, N, H), the input projection of every step; recurrent: (H, H) matrix R;
    f_in_place: the activation, overwriting its argument. Returns the hidden states (T, N, H),
    each at its own step, computed where they are stored.
    """
    steps, n, hidden = xw.shape
    states = np.empty_like(xw)
    recurrent_t = np.ascontiguousarray(recurrent.T)
    previous = None
    for t in _steps(steps, reverse):
        if previous is None:  # h_0 = 0
            states[t] = xw[t]
        else:
            np.matmul(previous, recurrent_t, out=states[t])
            states[t] += xw[t]
        previous = f_in_place(states[t])
    return states


def elman_direction_backward(states: np.ndarray, recurrent: np.ndarray, d_states: np.ndarray, slope,
                             reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Backpropagation through time for one direction.

    states: (T, N, H) hidden states of the forward pass; d_states: (T, N, H) loss gradient with
    respect to them from above; slope: f' as a function of f's output (None: linear).
    Returns (da, dR): da (T, N, H) the gradient with respect to each step's pre-activation,
    dR (H, H) the recurrent weights' gradient.
    """
    steps, n, hidden = states.shape
    slopes = None if slope is None else slope(states)  # every step's f' at once, outside the loop
    da = np.empty_like(states)
    carried = np.zeros((n, hidden), dtype=states.dtype)  # gradient reaching h_t from the step after
    for t in _steps(steps, not reverse):
        np.add(d_states[t], carried, out=da[t])
        if slopes is not None:
            da[t] *= slopes[t]
        np.matmul(da[t], recurrent, out=carried)
    # each step read the state of the step before it (after it, going backward); the first read 0
    if reverse:
        read, by = states[1:], da[:-1]
    else:
        read, by = states[:-1], da[1:]
    d_recurrent = by.reshape(-1, hidden).T @ read.reshape(-1, hidden)
    return da, d_recurrent


@kernel("rnn")
class Rnn(Kernel):
    def forward(self, layer, w, x, cache=None):
        a = layer.attrs
        f = IN_PLACE[a["activation"]]
        x = np.ascontiguousarray(x.transpose(1, 0, 2))  # time-major inside
        for k in range(1, a["layers"] + 1):
            joined = []
            for d in range(a["directions"]):
                xw = _project(x, w[f"layer{k}.W"][d])
                if a["bias"]:
                    xw += w[f"layer{k}.b"][d]
                joined.append(elman_direction(xw, w[f"layer{k}.R"][d], f, reverse=d == 1))
            if cache is not None:
                cache[k] = (x, joined)
            x = np.concatenate(joined, axis=-1) if len(joined) > 1 else joined[0]
        return np.ascontiguousarray(x.transpose(1, 0, 2))

    def backward(self, layer, w, cache, dy, need_dx=True):
        a = layer.attrs
        slope = ELEMENTWISE[a["activation"]][1]
        hidden = a["hidden"]
        dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        grads = {}
        for k in range(a["layers"], 0, -1):
            x, states = cache[k]
            rows_x = x.reshape(-1, x.shape[-1])
            dW, dR = np.empty_like(w[f"layer{k}.W"]), np.empty_like(w[f"layer{k}.R"])
            db = np.empty((a["directions"], hidden), dtype=dy.dtype)
            dx = None
            for d, hs in enumerate(states):
                da, dR[d] = elman_direction_backward(hs, w[f"layer{k}.R"][d], dy[..., d * hidden:(d + 1) * hidden],
                                                     slope, reverse=d == 1)
                rows = da.reshape(-1, hidden)
                dW[d] = rows.T @ rows_x
                db[d] = rows.sum(axis=0)
                if k > 1 or need_dx:
                    dx_d = (rows @ w[f"layer{k}.W"][d]).reshape(x.shape)
                    dx = dx_d if dx is None else dx + dx_d
            grads[f"layer{k}.W"], grads[f"layer{k}.R"] = dW, dR
            if a["bias"]:
                grads[f"layer{k}.b"] = db
            dy = dx
        return (None if dy is None else np.ascontiguousarray(dy.transpose(1, 0, 2))), grads
