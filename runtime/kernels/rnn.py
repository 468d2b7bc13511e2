"""rnn (Elman, Jordan, LSTM and GRU) forward and backward (through time) in NumPy.

The equations and weight layout are in specc/layers/rnn.py. Inside the kernel sequences are
time-major (T, N, F), so each step reads and writes contiguous rows; per stacked layer and
direction the input projection x_t W^T + b of all steps is one matrix product, and only the
recurrence loops over time.
"""
from __future__ import annotations

from dataclasses import dataclass

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
#
# Every direction runs in one loop over time: direction d's arrays are held (D, T, N, ...) in its
# own step order (the backward direction's step s is time T-1-s), so one step of the layer is one
# batched product and one pass of each element-wise operation over all directions, half the
# calls of a loop per direction (at batch 16 the calls, not the arithmetic, cost the time).
# The sigmoid gates' pre-activations are halved: sigma(a) = (1 + tanh(a / 2)) / 2, so one tanh over
# a whole row of gates and two in-place operations per block of sigmoid gates give every gate's
# value. Halving is exact, so only tanh against exp rounds differently. A padded step zeroes the state (h, and c);
# as its output is 0 and the state after a sentence's last word is never read, this is the
# "padded steps keep the state" of packed sequences: the backward direction starts from 0.

GATED = ("lstm", "gru")
SIGMOID_BLOCKS = {"lstm": ((0, 2), (3, 4)), "gru": ((0, 2),)}  # [from, to) in blocks of H rows: i f, o; r z


@dataclass
class GatedWeights:
    """Stacked layer k's gated weights, G gates of H rows, F inputs, D directions."""

    w: np.ndarray  # (D, G*H, F)
    r: np.ndarray  # (D, G*H, H)
    scale: np.ndarray  # (G*H,): 1/2 on the sigmoid gates' rows, else 1
    r_scaled_t: np.ndarray  # (D, H, G*H) (R * scale)^T, contiguous: the per-step product's right operand
    bias: np.ndarray | None  # (D, 1, 1, G*H) added to x W^T (lstm: b + Rb; gru: b)
    recurrent_bias: np.ndarray | None  # (D, 1, G*H) gru: Rb * scale, added to h R^T


def gated_weights(a, w, k: int) -> GatedWeights:
    r = w[f"layer{k}.R"]
    scale = np.ones(r.shape[1], dtype=r.dtype)
    for start, end in SIGMOID_BLOCKS[a.cell]:
        scale[start * a.hidden:end * a.hidden] = 0.5
    bias = recurrent_bias = None
    if a.bias:
        b, rb = w[f"layer{k}.b"], w[f"layer{k}.Rb"]
        bias = (b + rb if a.cell == "lstm" else b)[:, None, None, :]  # an LSTM only ever uses the sum
        recurrent_bias = (rb * scale)[:, None, :] if a.cell == "gru" else None
    r_scaled_t = np.ascontiguousarray((r * scale[:, None]).transpose(0, 2, 1))
    return GatedWeights(w[f"layer{k}.W"], r, scale, r_scaled_t, bias, recurrent_bias)


def _step_order(parts: list) -> np.ndarray:
    """[direction 0's values (T, ...), direction 1's (T, ...)] -> (D, T, ...) in step order."""
    out = np.empty((len(parts),) + parts[0].shape, dtype=parts[0].dtype)
    for d, part in enumerate(parts):
        out[d] = part[::-1] if d else part
    return out


def _time_order(values: np.ndarray) -> np.ndarray:
    """(D, T, N, H) in step order -> (T, N, D*H), the directions joined per step, forward first."""
    return np.concatenate([v[::-1] if d else v for d, v in enumerate(values)], axis=-1)


def _sigmoids_from_tanh(gates: np.ndarray, cell: str) -> None:
    """In place, on gates (..., G*H): tanh(a / 2) -> sigma(a) in the sigmoid gates' blocks."""
    hidden = gates.shape[-1] // (4 if cell == "lstm" else 3)
    for start, end in SIGMOID_BLOCKS[cell]:
        block = gates[..., start * hidden:end * hidden]
        block *= 0.5
        block += 0.5


def lstm_steps(gates: np.ndarray, r_scaled_t: np.ndarray, masks: list):
    """Run an LSTM layer's directions. gates (D, T, N, 4H): every step's x W^T + b + Rb, scaled
    (GatedWeights.scale), overwritten by the gates i, f, g, o; r_scaled_t (D, H, 4H); masks: per step (D, N, 1) or None.
    Returns (c, tanh(c), h), each (D, T, N, H) in step order, 0 on padding."""
    directions, steps, n, rows = gates.shape
    hidden = rows // 4
    cells, tanh_c, states = (np.empty((directions, steps, n, hidden), dtype=gates.dtype) for _ in range(3))
    product = np.empty((directions, n, rows), dtype=gates.dtype)
    kept = np.empty((directions, n, hidden), dtype=gates.dtype)
    for s in range(steps):
        g = gates[:, s]
        if s:
            np.matmul(states[:, s - 1], r_scaled_t, out=product)
            g += product
        np.tanh(g, out=g)
        _sigmoids_from_tanh(g, "lstm")
        c = np.multiply(g[..., :hidden], g[..., 2 * hidden:3 * hidden], out=cells[:, s])  # i * g
        if s:
            c += np.multiply(g[..., hidden:2 * hidden], cells[:, s - 1], out=kept)  # f * c_{t-1}
        if masks[s] is not None:
            c *= masks[s]  # and so h = o * tanh(0) = 0
        np.tanh(c, out=tanh_c[:, s])
        np.multiply(g[..., 3 * hidden:], tanh_c[:, s], out=states[:, s])
    return cells, tanh_c, states


def _state_before(values: np.ndarray) -> np.ndarray:
    """values (D, T, ...) as each step read them from the step before: 0 at the first."""
    before = np.zeros_like(values)
    before[:, 1:] = values[:, :-1]
    return before


# The slopes below are written into preallocated blocks: a temporary as large as the layer's
# states is a fresh allocation, page faults included, that costs more than the arithmetic.

def _sigmoid_slope(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """out = y (1 - y), sigma' from sigma's value y, in place; returns out."""
    np.subtract(1, y, out=out)
    out *= y
    return out


def _tanh_slope(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """out = 1 - y^2, tanh' from tanh's value y, in place; returns out."""
    np.multiply(y, y, out=out)
    np.subtract(1, out, out=out)
    return out


def lstm_steps_backward(gates, cells, tanh_c, r: np.ndarray, d_states: np.ndarray, mask) -> np.ndarray:
    """Backpropagation through time for lstm_steps. r (D, 4H, H) unscaled; d_states (D, T, N, H)
    the loss gradient at the outputs, step order (zeroed on padding, in place); mask (D, T, N, 1) or None.
    Returns da (D, T, N, 4H): the gradient at each step's (unscaled) gate pre-activations."""
    directions, steps, n, rows = gates.shape
    hidden = rows // 4
    i, f, g, o = (gates[..., j * hidden:(j + 1) * hidden] for j in range(4))
    # Only dh_t and dc_t pass from step to step: every other factor of the gates' gradients is
    # computed for all steps at once, per unit of dc_t (blocks i, f, g) or of dh_t (block o)
    per_unit = np.empty((directions, steps, n, 4, hidden), dtype=gates.dtype)
    _sigmoid_slope(per_unit[..., 0, :], i)[...] *= g
    on_f = _sigmoid_slope(per_unit[..., 1, :], f)
    on_f[:, 0] = 0  # c_0 = 0
    on_f[:, 1:] *= cells[:, :-1]
    _tanh_slope(per_unit[..., 2, :], g)[...] *= i
    _sigmoid_slope(per_unit[..., 3, :], o)[...] *= tanh_c
    c_per_h = _tanh_slope(np.empty_like(tanh_c), tanh_c)  # dc_t per unit of dh_t, through h_t = o * tanh(c_t)
    c_per_h *= o
    if mask is not None:  # a padded step's state is 0: nothing passes through it
        per_unit *= mask[..., None]
        c_per_h *= mask
        f = f * mask
        d_states *= mask
    da = per_unit  # each step's factors are read once, then overwritten by its gradient
    d_h, d_c, d_new_h, part = (np.zeros((directions, n, hidden), dtype=gates.dtype) for _ in range(4))
    for s in range(steps - 1, -1, -1):
        np.add(d_h, d_states[:, s], out=d_new_h)
        d_c += np.multiply(d_new_h, c_per_h[:, s], out=part)
        da[:, s, :, :3] *= d_c[:, :, None, :]
        da[:, s, :, 3] *= d_new_h
        if s:
            np.matmul(da[:, s].reshape(directions, n, rows), r, out=d_h)
            d_c *= f[:, s]
    return da.reshape(directions, steps, n, rows)


def gru_steps(gates: np.ndarray, r_scaled_t: np.ndarray, recurrent_bias, masks: list):
    """Run a GRU layer's directions. gates (D, T, N, 3H): every step's x W^T + b, scaled
    (GatedWeights.scale), overwritten by the gates r, z, n; r_scaled_t (D, H, 3H); recurrent_bias
    (D, 1, 3H) scaled or None; masks: per step (D, N, 1) or None.
    Returns (products (D, T, N, 3H): each step's scaled h_{t-1} R^T + Rb, whose n block is
    h_{t-1} R_n^T + Rb_n; h (D, T, N, H), step order, 0 on padding)."""
    directions, steps, n, rows = gates.shape
    hidden = rows // 3
    products = np.zeros_like(gates)
    states = np.empty((directions, steps, n, hidden), dtype=gates.dtype)
    part = np.empty((directions, n, hidden), dtype=gates.dtype)
    for s in range(steps):
        g, p, h = gates[:, s], products[:, s], states[:, s]
        if s:
            np.matmul(states[:, s - 1], r_scaled_t, out=p)
        if recurrent_bias is not None:
            p += recurrent_bias  # at the first step h_0 R^T = 0: the product is Rb alone
        rz, new = g[..., :2 * hidden], g[..., 2 * hidden:]
        rz += p[..., :2 * hidden]
        np.tanh(rz, out=rz)
        _sigmoids_from_tanh(g, "gru")
        new += np.multiply(g[..., :hidden], p[..., 2 * hidden:], out=part)
        np.tanh(new, out=new)
        z = g[..., hidden:2 * hidden]
        if s:
            np.subtract(states[:, s - 1], new, out=h)  # h_t = n + z * (h_{t-1} - n)
            h *= z
            h += new
        else:
            np.subtract(new, np.multiply(z, new, out=h), out=h)
        if masks[s] is not None:
            h *= masks[s]
    return products, states


def gru_steps_backward(gates, products, states, r: np.ndarray, d_states: np.ndarray, mask):
    """Backpropagation through time for gru_steps. r (D, 3H, H) unscaled; d_states (D, T, N, H)
    step order; mask (D, T, N, 1) or None.
    Returns (da (D, T, N, 3H) the gradient at x W^T + b, d_product (D, T, N, 3H) at h R^T + Rb)."""
    directions, steps, n, rows = gates.shape
    hidden = rows // 3
    r_gate, z, new = (gates[..., j * hidden:(j + 1) * hidden] for j in range(3))
    # Only dh_t passes from step to step: the other factors are computed for all steps at once
    n_per_h = _tanh_slope(np.empty_like(new), new)  # at n's pre-activation, per unit of dh_t: (1 - z) tanh'
    n_per_h -= n_per_h * z
    r_per_n = _sigmoid_slope(np.empty_like(r_gate), r_gate)  # at r's, per unit of n's
    r_per_n *= products[..., 2 * hidden:]
    z_per_h = _sigmoid_slope(np.empty_like(z), z)  # at z's, per unit of dh_t
    z_per_h *= _state_before(states) - new
    if mask is not None:  # a padded step's state is 0: nothing passes through it
        n_per_h *= mask
        z_per_h *= mask
        z = z * mask
        d_states *= mask
    d_product = np.empty_like(gates)  # da's, but r * da_n in the n block
    da_n = np.empty_like(states)
    d_h, d_new_h, part = (np.zeros((directions, n, hidden), dtype=gates.dtype) for _ in range(3))
    for s in range(steps - 1, -1, -1):
        np.add(d_h, d_states[:, s], out=d_new_h)
        dn = np.multiply(d_new_h, n_per_h[:, s], out=da_n[:, s])
        np.multiply(dn, r_per_n[:, s], out=d_product[:, s, :, :hidden])
        np.multiply(d_new_h, z_per_h[:, s], out=d_product[:, s, :, hidden:2 * hidden])
        np.multiply(dn, r_gate[:, s], out=d_product[:, s, :, 2 * hidden:])
        if s:
            np.matmul(d_product[:, s], r, out=d_h)
            d_h += np.multiply(d_new_h, z[:, s], out=part)
    da = d_product.copy()
    da[..., 2 * hidden:] = da_n
    return da, d_product


@dataclass
class GatedRun:
    """What a gated layer's forward pass leaves for its backward pass (arrays in step order)."""

    x: object  # the input: SparseRows (T, N, ...) time-major, or (D, T*N, F) in step order
    steps: int
    weights: GatedWeights
    internals: tuple  # lstm_steps' or gru_steps' results, after the gates
    gates: np.ndarray  # (D, T, N, G*H) the gates' values
    mask: np.ndarray | None  # (D, T, N, 1)


def gated_layer(a, w, k: int, x, mask: np.ndarray | None) -> tuple[GatedRun, np.ndarray]:
    """Run stacked gated layer k on x (T, N, F), time-major; mask (N, T) or None.
    Returns (what backward reads, the outputs (T, N, D*H))."""
    gw, directions = gated_weights(a, w, k), a.directions
    steps = x.shape[0]
    if isinstance(x, SparseRows):
        gates, inputs = _step_order([x.project(gw.w[d]) for d in range(directions)]), x
    else:
        inputs = _step_order([x] * directions).reshape(directions, -1, x.shape[-1])
        gates = np.matmul(inputs, gw.w.transpose(0, 2, 1)).reshape(directions, steps, x.shape[1], -1)
    if gw.bias is not None:
        gates += gw.bias
    gates *= gw.scale
    in_steps = None
    if mask is not None and not mask.all():
        in_steps = _step_order([mask.T[..., None].astype(gates.dtype)] * directions)
    masks = [None if in_steps is None or in_steps[:, s].all() else in_steps[:, s] for s in range(steps)]
    if a.cell == "lstm":
        internals = lstm_steps(gates, gw.r_scaled_t, masks)
    else:
        internals = gru_steps(gates, gw.r_scaled_t, gw.recurrent_bias, masks)
    return GatedRun(inputs, steps, gw, internals, gates, in_steps), _time_order(internals[-1])


def gated_layer_backward(a, run: GatedRun, dy: np.ndarray, need_dx: bool):
    """Backpropagation through a gated layer (gated_layer's run) from dy (T, N, D*H), time-major.
    Returns (dx (T, N, F) or None, the gradients by local name: W, R, and with bias b, Rb)."""
    gw, directions, hidden = run.weights, a.directions, a.hidden
    d_states = _step_order([dy[..., d * hidden:(d + 1) * hidden] for d in range(directions)])
    if a.cell == "lstm":
        da = lstm_steps_backward(run.gates, *run.internals[:2], gw.r, d_states, run.mask)  # c, tanh(c)
        d_product = da
    else:
        da, d_product = gru_steps_backward(run.gates, *run.internals, gw.r, d_states, run.mask)
    states, rows = run.internals[-1], da.shape[-1]
    flat = da.reshape(directions, -1, rows)
    fed = d_product[:, 1:].reshape(directions, -1, rows).transpose(0, 2, 1)  # step 0 read h_0 = 0
    grads = {"R": np.matmul(fed, states[:, :-1].reshape(directions, -1, hidden))}
    if isinstance(run.x, SparseRows):
        grads["W"] = np.stack([run.x.project_grad(np.ascontiguousarray(da[d, ::-1] if d else da[d]))
                                  for d in range(directions)])
    else:
        grads["W"] = np.matmul(flat.transpose(0, 2, 1), run.x)
    if a.bias:
        grads["b"] = flat.sum(axis=1)
        grads["Rb"] = grads["b"].copy() if a.cell == "lstm" else d_product.reshape(directions, -1, rows).sum(axis=1)
    dx = None
    if need_dx and not isinstance(run.x, SparseRows):
        per_direction = np.matmul(flat, gw.w).reshape(directions, run.steps, -1, gw.w.shape[-1])
        dx = per_direction[0] + per_direction[1, ::-1] if directions == 2 else per_direction[0]
    return dx, grads


# ---- the layer: every stacked layer and direction ----


def _run_direction(a, w, k: int, d: int, x, f, mask):
    """Run direction d of Elman or Jordan stacked layer k on x (T, N, F): (what backward reads,
    outputs (T, N, out))."""
    xw = _project(x, w[f"layer{k}.W"][d])
    if a.bias:
        xw += w[f"layer{k}.b"][d]
    reverse = d == 1
    if a.jordan:
        c = w[f"layer{k}.c"][d] if a.bias else None
        return jordan_direction(xw, w[f"layer{k}.U"][d], w[f"layer{k}.V"][d], c, f, reverse, mask)
    states = elman_direction(xw, w[f"layer{k}.R"][d], f, reverse, mask)
    return states, states


def _direction_backward(a, w, k: int, d: int, run, d_outputs, slope, mask) -> tuple[np.ndarray, dict]:
    """Backpropagation through direction d of Elman or Jordan stacked layer k: (the gradient at
    x_t W^T + b (T, N, H), the gradients of the direction's other weights by local name: R, U, V, c)."""
    internals, outputs = run
    reverse = d == 1
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
        if a.cell in GATED:  # every direction in one loop over time
            for k in range(1, a.layers + 1):
                run, x = gated_layer(a, w, k, x, mask)
                if cache is not None:
                    cache[k] = run
            return np.ascontiguousarray(x.transpose(1, 0, 2))
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
        grads = {}
        if a.cell in GATED:
            for k in range(a.layers, 0, -1):
                dy, local = gated_layer_backward(a, cache[k], dy, k > 1 or need_dx)
                grads.update({f"layer{k}.{name}": g for name, g in local.items()})
            return (None if dy is None else np.ascontiguousarray(dy.transpose(1, 0, 2))), grads
        mask = cache["mask"]
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
