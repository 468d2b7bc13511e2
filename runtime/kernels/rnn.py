"""rnn (Elman, Jordan, LSTM and GRU) forward and backward (through time) in NumPy.

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


# ---- gated cells: lstm and gru (PyTorch's equations and gate order, see specc/layers/rnn.py) ----

_sigmoid_in_place = IN_PLACE["sigmoid"]


def _keep_on_padding(new: np.ndarray, previous: np.ndarray | None, mask: list | None, t: int) -> None:
    """On the padding rows of step t, give `new` (N, H) the value of `previous` (None: 0), in place:
    a padded step keeps the state it was given."""
    if mask is not None and mask[t] is not None:
        if previous is not None:
            new -= previous
        new *= mask[t]
        if previous is not None:
            new += previous


def _outputs(states: np.ndarray, mask: list | None) -> np.ndarray:
    """The layer's outputs (T, N, H): the states, 0 on padding (a copy only where there is padding)."""
    if mask is None or all(m is None for m in mask):
        return states
    outputs = states.copy()
    for t in range(len(mask)):
        _zero_padding(outputs[t], mask, t)
    return outputs


def _padding_split(carried: np.ndarray, mask: list | None, t: int):
    """(gradient reaching step t's new value, gradient passed straight to the step before on
    padding rows, or None): a padded step handed its state on unchanged."""
    if mask is None or mask[t] is None:
        return carried, None
    return carried * mask[t], carried * (1 - mask[t])


def lstm_direction(xw: np.ndarray, recurrent: np.ndarray, reverse: bool, mask: list | None = None):
    """Run one direction of an LSTM layer.

    xw: (T, N, 4H), every step's x_t W^T + b + Rb (overwritten by the gates); recurrent: R (4H, H);
    mask: step_masks (a padded step keeps h and c).
    Returns ((gates (T, N, 4H): i, f, g, o after their activations, cells c (T, N, H), tanh(c) of
    each step's new c (T, N, H), states h (T, N, H)), outputs (T, N, H): h, 0 on padding).
    """
    steps, n, rows = xw.shape
    hidden = rows // 4
    gates = xw
    cells, tanh_c, states = (np.empty((steps, n, hidden), dtype=xw.dtype) for _ in range(3))
    recurrent_t = np.ascontiguousarray(recurrent.T)
    product = np.empty((n, rows), dtype=xw.dtype)
    h = c = None
    for t in _steps(steps, reverse):
        g = gates[t]
        if h is not None:
            np.matmul(h, recurrent_t, out=product)
            g += product
        np.tanh(g[:, 2 * hidden:3 * hidden], out=tanh_c[t])  # g's value, held here for a moment
        _sigmoid_in_place(g)  # one pass over the whole row beats three over its blocks
        g[:, 2 * hidden:3 * hidden] = tanh_c[t]
        new_c = np.multiply(g[:, :hidden], g[:, 2 * hidden:3 * hidden], out=cells[t])
        if c is not None:
            new_c += g[:, hidden:2 * hidden] * c
        np.tanh(new_c, out=tanh_c[t])
        new_h = np.multiply(g[:, 3 * hidden:], tanh_c[t], out=states[t])
        _keep_on_padding(new_c, c, mask, t)
        _keep_on_padding(new_h, h, mask, t)
        h, c = new_h, new_c
    return (gates, cells, tanh_c, states), _outputs(states, mask)


def _read_before(values: np.ndarray, reverse: bool) -> np.ndarray:
    """values (T, ...) as each step read them from the step run before it: 0 at the first step."""
    before = np.zeros_like(values)
    if reverse:
        before[:-1] = values[1:]
    else:
        before[1:] = values[:-1]
    return before


def lstm_direction_backward(run, recurrent: np.ndarray, d_outputs: np.ndarray, reverse: bool,
                            mask: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Backpropagation through time for one LSTM direction (run: lstm_direction's first result).

    Returns (da (T, N, 4H) the gradient at each step's gate pre-activations, which is also that
    of x_t W^T + b + Rb; dR (4H, H)).
    """
    gates, cells, tanh_c, states = run
    steps, n, rows = gates.shape
    hidden = rows // 4
    i, f, g, o = (gates.reshape(steps, n, 4, hidden)[:, :, j] for j in range(4))
    # Only dh_t and dc_t pass from step to step: every other factor of the gates' gradients is
    # computed for all steps at once, per unit of dc_t (blocks i, f, g) or of dh_t (block o).
    per_unit = np.empty((steps, n, 4, hidden), dtype=gates.dtype)
    np.multiply(g, i * (1 - i), out=per_unit[:, :, 0])
    np.multiply(_read_before(cells, reverse), f * (1 - f), out=per_unit[:, :, 1])
    np.multiply(i, 1 - g * g, out=per_unit[:, :, 2])
    np.multiply(tanh_c, o * (1 - o), out=per_unit[:, :, 3])
    c_per_h = o * (1 - tanh_c * tanh_c)  # dc_t per unit of dh_t, through h_t = o * tanh(c_t)
    da = np.empty_like(per_unit)
    d_h = np.zeros((n, hidden), dtype=gates.dtype)  # gradients reaching h_t and c_t from the step after
    d_c = np.zeros_like(d_h)
    for t in _steps(steps, not reverse):
        d_new_h, kept_h = _padding_split(d_h + d_outputs[t], mask, t)
        d_new_c, kept_c = _padding_split(d_c, mask, t)
        d_new_c = d_new_c + d_new_h * c_per_h[t]
        np.multiply(d_new_c[:, None, :], per_unit[t, :, :3], out=da[t, :, :3])
        np.multiply(d_new_h, per_unit[t, :, 3], out=da[t, :, 3])
        d_h = da[t].reshape(n, rows) @ recurrent
        d_c = d_new_c * f[t]
        if kept_h is not None:
            d_h += kept_h
            d_c += kept_c
    da = da.reshape(steps, n, rows)
    return da, _fed_back_gradient(da, states, reverse)


def gru_direction(xw: np.ndarray, recurrent: np.ndarray, recurrent_bias: np.ndarray | None, reverse: bool,
                  mask: list | None = None):
    """Run one direction of a GRU layer.

    xw: (T, N, 3H), every step's x_t W^T + b (overwritten by the gates); recurrent: R (3H, H);
    recurrent_bias: Rb (3H,) or None; mask: step_masks (a padded step keeps h).
    Returns ((gates (T, N, 3H): r, z, n after their activations, hn (T, N, H) each step's
    h_{t-1} R_n^T + Rb_n, states h (T, N, H)), outputs (T, N, H): h, 0 on padding).
    """
    steps, n, rows = xw.shape
    hidden = rows // 3
    gates = xw
    hn, states = (np.empty((steps, n, hidden), dtype=xw.dtype) for _ in range(2))
    recurrent_t = np.ascontiguousarray(recurrent.T)
    product = np.zeros((n, rows), dtype=xw.dtype)
    h = None
    for t in _steps(steps, reverse):
        g = gates[t]
        if h is not None:
            np.matmul(h, recurrent_t, out=product)
        if recurrent_bias is not None:
            product += recurrent_bias  # at the first step h_0 R^T = 0: the product holds Rb alone
        g[:, :2 * hidden] += product[:, :2 * hidden]
        _sigmoid_in_place(g[:, :2 * hidden])
        hn[t] = product[:, 2 * hidden:]
        r, z, new = g[:, :hidden], g[:, hidden:2 * hidden], g[:, 2 * hidden:]
        new += r * hn[t]
        np.tanh(new, out=new)
        new_h = states[t]
        if h is None:
            np.multiply(1 - z, new, out=new_h)
        else:
            np.subtract(h, new, out=new_h)  # h_t = n + z * (h_{t-1} - n)
            new_h *= z
            new_h += new
        _keep_on_padding(new_h, h, mask, t)
        h = new_h
    return (gates, hn, states), _outputs(states, mask)


def gru_direction_backward(run, recurrent: np.ndarray, d_outputs: np.ndarray, reverse: bool,
                           mask: list | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time for one GRU direction (run: gru_direction's first result).

    Returns (da (T, N, 3H) the gradient at x_t W^T + b, dR (3H, H), dRb (3H,)).
    """
    gates, hn, states = run
    steps, n, rows = gates.shape
    hidden = rows // 3
    r, z, new = (gates[..., j * hidden:(j + 1) * hidden] for j in range(3))
    # Only dh_t passes from step to step: the other factors are computed for all steps at once
    n_per_h = (1 - z) * (1 - new * new)  # at n's pre-activation, per unit of dh_t
    r_per_n = hn * r * (1 - r)  # at r's, per unit of n's
    z_per_h = (_read_before(states, reverse) - new) * z * (1 - z)  # at z's, per unit of dh_t
    da = np.empty_like(gates)
    d_product = np.empty_like(gates)  # the gradient at h_{t-1} R^T + Rb: da's, but r * da_n in the n block
    d_h = np.zeros((n, hidden), dtype=gates.dtype)  # gradient reaching h_t from the step after
    for t in _steps(steps, not reverse):
        d_new_h, kept = _padding_split(d_h + d_outputs[t], mask, t)
        da_n = np.multiply(d_new_h, n_per_h[t], out=da[t, :, 2 * hidden:])
        np.multiply(da_n, r_per_n[t], out=da[t, :, :hidden])
        np.multiply(d_new_h, z_per_h[t], out=da[t, :, hidden:2 * hidden])
        d_product[t, :, :2 * hidden] = da[t, :, :2 * hidden]
        np.multiply(da_n, r[t], out=d_product[t, :, 2 * hidden:])
        d_h = d_product[t] @ recurrent
        d_h += d_new_h * z[t]
        if kept is not None:
            d_h += kept
    return da, _fed_back_gradient(d_product, states, reverse), d_product.reshape(-1, rows).sum(axis=0)


# ---- the layer: every stacked layer and direction ----


def _run_direction(a, w, k: int, d: int, x, f, mask):
    """Run direction d of stacked layer k on x (T, N, F): (what backward reads, outputs (T, N, out))."""
    xw = _project(x, w[f"layer{k}.W"][d])
    if a.bias:
        xw += w[f"layer{k}.b"][d]
        if a.cell == "lstm":
            xw += w[f"layer{k}.Rb"][d]  # an LSTM adds both biases to the same sum
    reverse = d == 1
    if a.cell == "lstm":
        return lstm_direction(xw, w[f"layer{k}.R"][d], reverse, mask)
    if a.cell == "gru":
        return gru_direction(xw, w[f"layer{k}.R"][d], w[f"layer{k}.Rb"][d] if a.bias else None, reverse, mask)
    if a.jordan:
        c = w[f"layer{k}.c"][d] if a.bias else None
        return jordan_direction(xw, w[f"layer{k}.U"][d], w[f"layer{k}.V"][d], c, f, reverse, mask)
    states = elman_direction(xw, w[f"layer{k}.R"][d], f, reverse, mask)
    return states, states


def _direction_backward(a, w, k: int, d: int, run, d_outputs, slope, mask) -> tuple[np.ndarray, dict]:
    """Backpropagation through direction d of stacked layer k: (the gradient at x_t W^T + b (T, N, G*H),
    the gradients of the direction's other weights by local name: R, Rb, U, V, c)."""
    internals, outputs = run
    reverse = d == 1
    if a.cell == "lstm":
        da, d_r = lstm_direction_backward(internals, w[f"layer{k}.R"][d], d_outputs, reverse, mask)
        return da, {"R": d_r, "Rb": da.reshape(-1, da.shape[-1]).sum(axis=0)}
    if a.cell == "gru":
        da, d_r, d_rb = gru_direction_backward(internals, w[f"layer{k}.R"][d], d_outputs, reverse, mask)
        return da, {"R": d_r, "Rb": d_rb}
    if a.jordan:
        da, d_u, d_v, d_c = jordan_direction_backward(internals, outputs, w[f"layer{k}.U"][d], w[f"layer{k}.V"][d],
                                                      d_outputs, slope, reverse, mask)
        return da, {"U": d_u, "V": d_v, "c": d_c}
    da, d_r = elman_direction_backward(internals, w[f"layer{k}.R"][d], d_outputs, slope, reverse, mask)
    return da, {"R": d_r}


@kernel("rnn")
class Rnn(Kernel):
    def forward(self, layer, w, x, cache=None, mask=None):
        a = layer.attrs
        f = IN_PLACE.get(a.activation)  # None for the gated cells
        # time-major inside
        x = x.swap_batch_and_time() if isinstance(x, SparseRows) else np.ascontiguousarray(x.transpose(1, 0, 2))
        mask = step_masks(mask)
        if cache is not None:
            cache["mask"] = mask
        for k in range(1, a.layers + 1):
            runs = [_run_direction(a, w, k, d, x, f, mask) for d in range(a.directions)]
            if cache is not None:
                cache[k] = (x, runs)
            outputs = [run[1] for run in runs]
            x = np.concatenate(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
        return np.ascontiguousarray(x.transpose(1, 0, 2))

    def backward(self, layer, w, cache, dy, need_dx=True):
        a = layer.attrs
        slope = ELEMENTWISE[a.activation][1] if a.activation else None
        size = a.out
        dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        mask = cache["mask"]
        grads = {}
        for k in range(a.layers, 0, -1):
            x, runs = cache[k]
            sparse = isinstance(x, SparseRows)  # words below: no input gradient
            rows_x = x if sparse else x.reshape(-1, x.shape[-1])
            prefix = f"layer{k}."
            local = {name[len(prefix):]: np.empty_like(value) for name, value in w.items() if name.startswith(prefix)}
            dx = None
            for d, run in enumerate(runs):
                da, others = _direction_backward(a, w, k, d, run, dy[..., d * size:(d + 1) * size], slope, mask)
                for name in others.keys() & local.keys():  # biases only where the layer has them
                    local[name][d] = others[name]
                rows = da.reshape(-1, da.shape[-1])
                local["W"][d] = x.project_grad(da) if sparse else rows.T @ rows_x
                if a.bias:
                    local["b"][d] = rows.sum(axis=0)
                if (k > 1 or need_dx) and not sparse:
                    dx_d = (rows @ w[f"layer{k}.W"][d]).reshape(x.shape)
                    dx = dx_d if dx is None else dx + dx_d
            grads.update({prefix + name: g for name, g in local.items()})
            dy = dx
        return (None if dy is None else np.ascontiguousarray(dy.transpose(1, 0, 2))), grads
