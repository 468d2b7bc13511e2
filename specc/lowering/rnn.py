"""rnn -> per stacked layer, on the time-major sequence (T, N, F): the input projections and one
Scan over time (specc/layers/rnn.py has the cells' equations and the weights' layout).

Both cells lower the same way (bench/rnn_lowering.py measured it against the ONNX RNN op: as
fast for one sentence, 2.5-3x faster for a batch of 256), per stacked layer, on the time-major
sequence (T, N, F):
  - the input projection of every step at once, x W^T + b: a MatMul, or a Gather of the rows of
    W^T when the input is one-hot words (GraphBuilder.project);
  - one Scan over time whose body runs one step of every direction: state h_{t-1} (Jordan:
    y_{t-1}) and x_t W^T + b in, the new state out; the backward direction reads a time-reversed
    copy of its projection (a Slice with step -1; Scan's own reverse direction is not in ONNX's
    reference evaluator) and its outputs are reversed back;
  - for sentences of different lengths, the backward direction's step multiplies its new state
    by the step's mask (1 on words, 0 on padding), so it starts from 0 at each sentence's last
    word, as in the NumPy kernel (the forward direction meets padding only after the words);
  - the directions joined by Concat on the last axis.
The weights stay in one layout for both back ends; each direction's slices and transposes are
Gather/Transpose nodes of initializers, which onnxruntime folds into constants when it loads.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .activation import ELEMENTWISE_OPS
from .base import lowering


def _direction_step(layer, k: int, d: int, names: dict, masked: bool):
    """One step of stacked layer k, direction d, as nodes of the Scan body.

    Reads the state `{p}.prev` (Elman h_{t-1} (N, H), Jordan y_{t-1} (N, M)), `{p}.xw_t`
    (x_t W^T + b) and, for sentences, `{p}.m_t` (N, 1). Elman: h_t = f(xw_t + h_{t-1} R^T);
    Jordan: y_t = f(f(xw_t + y_{t-1} U^T) V^T + c); times m_t. Writes `{p}.state` and the same
    value as `{p}.out` (Scan's state and scanned outputs need names of their own).
    Returns (nodes, input value infos, output value infos).
    """
    a = layer.attrs
    op = ELEMENTWISE_OPS[a.activation]
    width = a.fed_back
    p = f"{layer.id}.layer{k}.dir{d}"
    nodes = [helper.make_node("MatMul", [f"{p}.prev", names["UT" if a.jordan else "RT"]], [f"{p}.fed_back"]),
             helper.make_node("Add", [f"{p}.xw_t", f"{p}.fed_back"], [f"{p}.a"]),
             helper.make_node(op, [f"{p}.a"], [f"{p}.h"])]
    value = f"{p}.h"
    if a.jordan:
        nodes.append(helper.make_node("MatMul", [value, names["VT"]], [f"{p}.hv"]))
        value = f"{p}.hv"
        if a.bias:
            nodes.append(helper.make_node("Add", [value, names["c"]], [f"{p}.hvc"]))
            value = f"{p}.hvc"
        nodes.append(helper.make_node(op, [value], [f"{p}.y"]))
        value = f"{p}.y"
    if masked:
        nodes.append(helper.make_node("Mul", [value, f"{p}.m_t"], [f"{p}.state"]))
    else:
        nodes[-1].output[0] = f"{p}.state"  # the activation writes the state itself
    nodes.append(helper.make_node("Identity", [f"{p}.state"], [f"{p}.out"]))
    info = lambda name, cols: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", cols])  # noqa: E731
    scanned = [info(f"{p}.xw_t", a.hidden)] + ([info(f"{p}.m_t", 1)] if masked else [])
    return nodes, info(f"{p}.prev", width), scanned, info(f"{p}.state", width), info(f"{p}.out", width)


def _reverse_time(g, layer, x, suffix: str) -> str:
    """x (T, ...) with its steps in reverse order: a Slice with step -1, at any length."""
    return g.node("Slice", [x, g.constant(layer, "last", [-1], "int64"), g.constant(layer, "before_first", [-2**62], "int64"),
                            g.constant(layer, "time_axis", [0], "int64"), g.constant(layer, "backwards", [-1], "int64")],
                  layer, suffix=suffix)


@lowering("rnn")
def lower_rnn(g, layer, x):
    """Elman or Jordan layers as input projections plus one Scan per stacked layer (see above)."""
    a = layer.attrs
    width = a.fed_back
    x = g.time_major(x, layer)  # Scan runs over axis 0
    # Only the backward direction needs the mask: the forward one meets padding after a sentence's
    # words, where what it computes is zeroed at the chain's end and read by nothing before it.
    backward_mask = None
    if g.mask is not None and a.directions == 2:
        backward_mask = _reverse_time(g, layer, g.node("Transpose", [g.mask], layer, suffix="mask_time_major",
                                                       perm=[1, 0, 2]), "mask_reversed")
    for k in range(1, a.layers + 1):
        shape = g.node("Shape", [g.lookups[x][0] if x in g.lookups else x], layer, suffix=f"layer{k}.shape")
        batch = g.node("Slice", [shape, g.constant(layer, "one", [1], "int64"), g.constant(layer, "two", [2], "int64")],
                       layer, suffix=f"layer{k}.batch")
        state_shape = g.node("Concat", [batch, g.constant(layer, f"width{width}", [width], "int64")], layer,
                             suffix=f"layer{k}.state_shape", axis=0)
        start = g.node("ConstantOfShape", [state_shape], layer, suffix=f"layer{k}.start",
                       value=numpy_helper.from_array(np.zeros(1, np.float32)))
        body = {"nodes": [], "states": [], "scanned": [], "state_out": [], "out": []}
        scanned = []
        for d in range(a.directions):
            def direction_of(local: str, transpose: bool) -> str:
                picked = g.node("Gather", [g.weight(layer, f"layer{k}.{local}"), g.constant(layer, f"dir{d}", d, "int64")],
                                layer, suffix=f"layer{k}.{local}[{d}]", axis=0)
                if not transpose:
                    return picked
                return g.node("Transpose", [picked], layer, suffix=f"layer{k}.{local}[{d}]T", perm=[1, 0])

            xw = g.project(x, layer, f"layer{k}.W", f"layer{k}.xw[{d}]", direction=d,
                           bias=f"layer{k}.b" if a.bias else None)
            if d == 1:
                xw = _reverse_time(g, layer, xw, f"layer{k}.reversed")
            names = {"UT": direction_of("U", True), "VT": direction_of("V", True)} if a.jordan else {
                "RT": direction_of("R", True)}
            if a.jordan and a.bias:
                names["c"] = direction_of("c", False)
            masked = d == 1 and backward_mask is not None
            nodes, state, step_inputs, state_out, out = _direction_step(layer, k, d, names, masked)
            for key, value in (("nodes", nodes), ("scanned", step_inputs)):
                body[key] += value
            for key, value in (("states", state), ("state_out", state_out), ("out", out)):
                body[key].append(value)
            scanned += [xw] + ([backward_mask] if masked else [])
        graph = helper.make_graph(body["nodes"], f"{layer.id}.layer{k}.step", body["states"] + body["scanned"],
                                  body["state_out"] + body["out"])
        dirs = a.directions
        # outputs: the final states, then the scanned outputs, one per direction
        last = g.node("Scan", [start] * dirs + scanned, layer, suffix=f"layer{k}.scan", keep_output=2 * dirs - 1,
                      body=graph, num_scan_inputs=len(scanned))
        outputs = [f"{last.rpartition(':')[0]}:{dirs + d}" for d in range(dirs)]
        if dirs == 2:
            outputs[1] = _reverse_time(g, layer, outputs[1], f"layer{k}.unreversed")
        x = outputs[0] if dirs == 1 else g.node("Concat", outputs, layer, suffix=f"layer{k}.join", axis=-1)
    return g.batch_major(x, layer)
