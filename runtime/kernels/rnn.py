"""rnn (Elman and Jordan) forward and backward (through time) in NumPy.

The equations and weight layout are in specc/layers/rnn.py. Inside the kernel sequences are
time-major (T, N, F), so each step reads and writes contiguous rows; per stacked layer and
direction the input projection x_t W^T + b of all steps is one matrix product, and only the
recurrence loops over time.
"""
from __future__ import annotations

import numpy as np

from .activation import ELEMENTWISE, IN_PLACE
from .base import Kernel, kernel
from .sparse import SparseRows


def _steps(count: int, reverse: bool) -> range:
    return range(count - 1, -1, -1) if reverse else range(count)


def _project(x, matrix: np.ndarray) -> np.ndarray:
    """x (..., F) @ matrix^T as one 2-D product (a 3-D matmul runs as many small ones); rows of
    matrix^T looked up when x is one-hot (SparseRows)."""
    if isinstance(x, SparseRows):
        return x.project(matrix)
    return (x.reshape(-1, x.shape[-1]) @ matrix.T).reshape(x.shape[:-1] + (matrix.shape[0],))


def _step_input(out: np.ndarray, xw_t: np.ndarray, previous: np.ndarray | None, matrix_t: np.ndarray) -> None:
    """out = xw_t + previous @ matrix_t, written in place; just xw_t at the first step, where
    what is fed back (h_0 or y_0) is zero."""
    if previous is None:
        out[...] = xw_t
    else:
        np.matmul(previous, matrix_t, out=out)
        out += xw_t


def step_masks(mask: np.ndarray | None) -> list | None:
    """A batch-major mask (N, T) as one entry a step: None where every row is a word (nothing to
    zero, the common case), else that step's mask as a column (N, 1)."""
    if mask is None:
        return None
    return [None if column.all() else column[:, None] for column in mask.T]


def _zero_padding(values: np.ndarray, mask: list | None, t: int) -> None:
    """Zero, in place, the rows of step t's values (N, H) that are padding (mask: step_masks)."""
    if mask is not None and mask[t] is not None:
        values *= mask[t]


def elman_direction(xw: np.ndarray, recurrent: np.ndarray, f_in_place, reverse: bool,
                    mask: np.ndarray | None = None) -> np.ndarray:
    """Run one direction of an Elman layer.

    xw: (T, N, H), the input projection of every step; recurrent: (H, H) matrix R;
    f_in_place: the activation, overwriting its argument; mask: step_masks, 0 on padding, where the
    state is 0 (so the backward direction starts from 0 at each sentence's last word).
    Returns the hidden states (T, N, H), each at its own step, computed where they are stored.
    """
    steps, n, hidden = xw.shape
    states = np.empty_like(xw)
    recurrent_t = np.ascontiguousarray(recurrent.T)
    previous = None
    for t in _steps(steps, reverse):
        _step_input(states[t], xw[t], previous, recurrent_t)
        previous = f_in_place(states[t])
        _zero_padding(previous, mask, t)
    return states


def _fed_back_gradient(da: np.ndarray, fed: np.ndarray, reverse: bool) -> np.ndarray:
    """Gradient of the matrix that carried `fed` (T, N, M) into the pre-activations da (T, N, H):
    each step read the value of the step before it (after it, going backward); the first read 0."""
    read, by = (fed[1:], da[:-1]) if reverse else (fed[:-1], da[1:])
    return by.reshape(-1, da.shape[-1]).T @ read.reshape(-1, fed.shape[-1])


def _pre_activation_gradient(out: np.ndarray, from_above: np.ndarray, carried: np.ndarray, slopes, mask, t: int) -> None:
    """out = (from_above + carried) * f'(step t) * mask: the gradient at step t's pre-activation,
    from the loss above and from the step that read this one's value (written in place)."""
    np.add(from_above, carried, out=out)
    if slopes is not None:
        out *= slopes[t]
    _zero_padding(out, mask, t)


def elman_direction_backward(states: np.ndarray, recurrent: np.ndarray, d_states: np.ndarray, slope,
                             reverse: bool, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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
        _pre_activation_gradient(da[t], d_states[t], carried, slopes, mask, t)
        np.matmul(da[t], recurrent, out=carried)
    return da, _fed_back_gradient(da, states, reverse)


def jordan_direction(xw: np.ndarray, fed_back: np.ndarray, out: np.ndarray, out_bias, f_in_place, reverse: bool,
                     mask: np.ndarray | None = None):
    """Run one direction of a Jordan layer: h_t = f(xw_t + y_{t-1} U^T), y_t = f(h_t V^T + c).

    xw: (T, N, H); fed_back: U (H, M); out: V (M, H); out_bias: c (M,) or None; mask (step_masks):
    the output is 0 on padding.
    Returns (hidden states (T, N, H), outputs (T, N, M)).
    """
    steps, n, hidden = xw.shape
    states = np.empty_like(xw)
    outputs = np.empty((steps, n, out.shape[0]), dtype=xw.dtype)
    fed_back_t, out_t = np.ascontiguousarray(fed_back.T), np.ascontiguousarray(out.T)
    previous = None
    for t in _steps(steps, reverse):
        _step_input(states[t], xw[t], previous, fed_back_t)
        f_in_place(states[t])
        np.matmul(states[t], out_t, out=outputs[t])
        if out_bias is not None:
            outputs[t] += out_bias
        previous = f_in_place(outputs[t])
        _zero_padding(previous, mask, t)
    return states, outputs


def jordan_direction_backward(states, outputs, fed_back, out, d_outputs, slope, reverse: bool, mask=None):
    """Backpropagation through time for one Jordan direction, through the fed-back output.

    Returns (da (T, N, H) the gradient at each step's hidden pre-activation, dU, dV, dc).
    """
    steps, n, size = outputs.shape
    hidden = states.shape[-1]
    out_slopes = None if slope is None else slope(outputs)
    state_slopes = None if slope is None else slope(states)
    d_out_pre = np.empty_like(outputs)  # gradient at each step's output pre-activation
    da = np.empty_like(states)
    carried = np.zeros((n, size), dtype=states.dtype)  # gradient reaching y_t from the step after
    for t in _steps(steps, not reverse):
        _pre_activation_gradient(d_out_pre[t], d_outputs[t], carried, out_slopes, mask, t)
        np.matmul(d_out_pre[t], out, out=da[t])
        if state_slopes is not None:
            da[t] *= state_slopes[t]
        np.matmul(da[t], fed_back, out=carried)
    d_out = d_out_pre.reshape(-1, size).T @ states.reshape(-1, hidden)
    return da, _fed_back_gradient(da, outputs, reverse), d_out, d_out_pre.reshape(-1, size).sum(axis=0)


@kernel("rnn")
class Rnn(Kernel):
    def forward(self, layer, w, x, cache=None, mask=None):
        a = layer.attrs
        f = IN_PLACE[a.activation]
        # time-major inside
        x = x.swap_batch_and_time() if isinstance(x, SparseRows) else np.ascontiguousarray(x.transpose(1, 0, 2))
        mask = step_masks(mask)
        if cache is not None:
            cache["mask"] = mask
        for k in range(1, a.layers + 1):
            runs = []
            for d in range(a.directions):
                xw = _project(x, w[f"layer{k}.W"][d])
                if a.bias:
                    xw += w[f"layer{k}.b"][d]
                if a.jordan:
                    c = w[f"layer{k}.c"][d] if a.bias else None
                    runs.append(jordan_direction(xw, w[f"layer{k}.U"][d], w[f"layer{k}.V"][d], c, f, reverse=d == 1,
                                                 mask=mask))
                else:
                    states = elman_direction(xw, w[f"layer{k}.R"][d], f, reverse=d == 1, mask=mask)
                    runs.append((states, states))
            if cache is not None:
                cache[k] = (x, runs)
            outputs = [run[1] for run in runs]
            x = np.concatenate(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
        return np.ascontiguousarray(x.transpose(1, 0, 2))

    def backward(self, layer, w, cache, dy, need_dx=True):
        a = layer.attrs
        slope = ELEMENTWISE[a.activation][1]
        hidden, size, jordan = a.hidden, a.out, a.jordan
        dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        mask = cache["mask"]
        grads = {}
        for k in range(a.layers, 0, -1):
            x, runs = cache[k]
            sparse = isinstance(x, SparseRows)  # words below: no input gradient
            rows_x = x if sparse else x.reshape(-1, x.shape[-1])
            local = {name: np.empty_like(w[f"layer{k}.{name}"]) for name in (("W", "U", "V") if jordan else ("W", "R"))}
            db = np.empty((a.directions, hidden), dtype=dy.dtype)
            dc = np.empty((a.directions, size), dtype=dy.dtype)
            dx = None
            for d, (states, outputs) in enumerate(runs):
                d_outputs = dy[..., d * size:(d + 1) * size]
                if jordan:
                    da, local["U"][d], local["V"][d], dc[d] = jordan_direction_backward(
                        states, outputs, w[f"layer{k}.U"][d], w[f"layer{k}.V"][d], d_outputs, slope, reverse=d == 1,
                        mask=mask)
                else:
                    da, local["R"][d] = elman_direction_backward(states, w[f"layer{k}.R"][d], d_outputs, slope,
                                                                 reverse=d == 1, mask=mask)
                rows = da.reshape(-1, hidden)
                local["W"][d] = x.project_grad(da) if sparse else rows.T @ rows_x
                db[d] = rows.sum(axis=0)
                if (k > 1 or need_dx) and not sparse:
                    dx_d = (rows @ w[f"layer{k}.W"][d]).reshape(x.shape)
                    dx = dx_d if dx is None else dx + dx_d
            grads.update({f"layer{k}.{name}": g for name, g in local.items()})
            if a.bias:
                grads[f"layer{k}.b"] = db
                if jordan:
                    grads[f"layer{k}.c"] = dc
            dy = dx
        return (None if dy is None else np.ascontiguousarray(dy.transpose(1, 0, 2))), grads
