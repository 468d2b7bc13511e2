"""rnn: a recurrent layer over sequences (N, T, F) -> (N, T, directions * size).

Elman cell, step t of one direction:  h_t = f(x_t W^T + h_{t-1} R^T + b),  h_0 = 0; the layer
outputs h (size = hidden).
Jordan cell: the layer's previous OUTPUT is fed back, not its hidden state:
  h_t = f(x_t W^T + y_{t-1} U^T + b),   y_t = f(h_t V^T + c),   y_0 = 0,
and the layer outputs y (size = `out`, default hidden), with the same activation f for both.
`bidirectional` runs a second cell from the last step to the first and joins the two per step
by concatenation, forward first: y_t = [h_t(forward), h_t(backward)].
`layers=K` stacks K such layers, each reading the previous one's joined output.

Weights of stacked layer k (1-based), in ONNX RNN layout (direction 0 forward, 1 backward):
  layer{k}.W (dirs, hidden, inputs), layer{k}.R (dirs, hidden, hidden), layer{k}.b (dirs, hidden).
  Jordan adds layer{k}.U (dirs, hidden, out) in R's place, layer{k}.V (dirs, out, hidden)
  and layer{k}.c (dirs, out).
The Elman lowering is one RNN node per stacked layer; its input is time-major (T, N, F), so the
sequence is transposed in and out, its bias is [b, 0] (the recurrent bias Rb is 0), and its
output (T, dirs, N, H) becomes (T, N, dirs*H) by Transpose and a Reshape with shape [0, 0, -1]
(copying T and N, so no size is baked into the graph).
The Jordan lowering (the RNN op feeds back its hidden state, not an output) is, on the time-major
sequence, per stacked layer and direction, the input projection of all steps as one MatMul, then
a Scan over time whose body is one step: state y_{t-1} and x_t W^T + b in, y_t out; the backward
direction scans a time-reversed copy and reverses its outputs back; the directions are joined by
Concat on the last axis.
"""
from __future__ import annotations

from ..shapes import ShapeError, require
from ..signature import Arg, boolean, one_of, positive_int
from .base import Inferred, LayerKind, WeightSpec, register
from .conv import INITS

ONNX_ACTIVATIONS = {"tanh": ("Tanh", {}), "relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}),
                    "linear": ("Affine", {"activation_alpha": 1.0, "activation_beta": 0.0})}


@register
class Rnn(LayerKind):
    name = "rnn"
    doc = "recurrent layer, Elman (hidden state fed back) or Jordan (output fed back), optionally bidirectional and stacked"
    reads_one_hot = True
    masks_padding = True
    signature = (
        Arg("cell", one_of("elman", "jordan"), "elman", "elman (the hidden state is fed back) or jordan (the output is)",
            positional=True),
        Arg("hidden", positive_int, None, "size of the hidden state", positional=True),
        Arg("out", positive_int, None, "jordan: size of the output fed back; default the hidden size"),
        Arg("bidirectional", boolean, False, "also run backwards in time and join per step", flag=True),
        Arg("layers", positive_int, 1, "how many stacked layers"),
        Arg("activation", one_of(*ONNX_ACTIVATIONS), "tanh", "tanh, relu, sigmoid or linear"),
        Arg("bias", boolean, True, "true or false"),
        Arg("init", INITS, "xavier", "xavier (Glorot uniform), he, normal, ones or zeros"),
    )

    def infer(self, args, shape):
        require(shape, "seq", hint="rnn reads sequences (N, T, F); declare input NAME: seq F")
        hidden = args["hidden"]
        if hidden is None:
            raise ShapeError("needs a hidden size", expected="rnn elman hidden=N", arg="hidden")
        dirs = 2 if args["bidirectional"] else 1
        jordan = args["cell"] == "jordan"
        if args["out"] is not None and not jordan:
            raise ShapeError("takes out= only as a jordan cell", expected="rnn jordan hidden=H out=M",
                             arg="out", hint="an Elman layer outputs its hidden state: drop out=")
        size = (args["out"] or hidden) if jordan else hidden
        weights = []
        inputs = shape[-1]
        for k in range(1, args["layers"] + 1):
            weights.append(WeightSpec(f"layer{k}.W", (dirs, hidden, inputs), args["init"], inputs, hidden))
            if jordan:
                weights.append(WeightSpec(f"layer{k}.U", (dirs, hidden, size), args["init"], size, hidden))
            else:
                weights.append(WeightSpec(f"layer{k}.R", (dirs, hidden, hidden), args["init"], hidden, hidden))
            if args["bias"]:
                weights.append(WeightSpec(f"layer{k}.b", (dirs, hidden), "zeros", 1, hidden))
            if jordan:
                weights.append(WeightSpec(f"layer{k}.V", (dirs, size, hidden), args["init"], hidden, size))
                if args["bias"]:
                    weights.append(WeightSpec(f"layer{k}.c", (dirs, size), "zeros", 1, size))
            inputs = dirs * size
        attrs = dict(cell=args["cell"], hidden=hidden, size=size, directions=dirs, layers=args["layers"],
                     activation=args["activation"], bias=args["bias"])
        return Inferred(("N", "T", dirs * size), attrs, tuple(weights))

    def lower(self, g, layer, x):
        if layer.attrs["cell"] == "jordan" or g.mask is not None or x in g.one_hot:
            return _lower_scan(g, layer, x)
        a = layer.attrs
        dirs, hidden = a["directions"], a["hidden"]
        op, extra = ONNX_ACTIVATIONS[a["activation"]]
        extra = {key: [value] * dirs for key, value in extra.items()}
        seq = g.node("Transpose", [x], layer, suffix="time_major", perm=[1, 0, 2])
        for k in range(1, a["layers"] + 1):
            inputs = [seq, g.weight(layer, f"layer{k}.W"), g.weight(layer, f"layer{k}.R")]
            if a["bias"]:
                zeros = g.constant(layer, f"layer{k}.Rb", [[0.0] * hidden] * dirs)
                inputs.append(g.node("Concat", [g.weight(layer, f"layer{k}.b"), zeros], layer,
                                     suffix=f"layer{k}.B", axis=1))
            y = g.node("RNN", inputs, layer, suffix=f"layer{k}", hidden_size=hidden,
                       direction="bidirectional" if dirs == 2 else "forward", activations=[op] * dirs, **extra)
            joined = g.node("Transpose", [y], layer, suffix=f"layer{k}.join", perm=[0, 2, 1, 3])
            seq = g.node("Reshape", [joined, g.constant(layer, "keep_t_n", [0, 0, -1], "int64")], layer,
                         suffix=f"layer{k}.out")
        return g.node("Transpose", [seq], layer, suffix="batch_major", perm=[1, 0, 2])


SCAN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid", "linear": "Identity"}


def _step_graph(layer, k: int, d: int, names: dict, masked: bool):
    """The Scan body of one step of stacked layer k, direction d.

    State: what is fed back (Elman h_{t-1} (N, H), Jordan y_{t-1} (N, M)); scanned inputs:
    x_t W^T + b (N, H) and, for sentences, the step's mask (N, 1). Elman: h_t = f(xw_t + h_{t-1} R^T);
    Jordan: y_t = f(f(xw_t + y_{t-1} U^T) V^T + c); times the mask, so padding holds 0.
    Outputs: the new state and the same value as the scanned output.
    """
    from onnx import TensorProto, helper

    a = layer.attrs
    op = SCAN_ACTIVATIONS[a["activation"]]
    jordan = a["cell"] == "jordan"
    fed, width = ("y", a["size"]) if jordan else ("h", a["hidden"])
    p = f"{layer.id}.layer{k}.dir{d}"
    nodes = [helper.make_node("MatMul", [f"{p}.{fed}_prev", names["UT" if jordan else "RT"]], [f"{p}.fed_back"]),
             helper.make_node("Add", [f"{p}.xw_t", f"{p}.fed_back"], [f"{p}.a"]),
             helper.make_node(op, [f"{p}.a"], [f"{p}.h"])]
    value = f"{p}.h"
    if jordan:
        nodes.append(helper.make_node("MatMul", [value, names["VT"]], [f"{p}.hv"]))
        value = f"{p}.hv"
        if a["bias"]:
            nodes.append(helper.make_node("Add", [value, names["c"]], [f"{p}.hvc"]))
            value = f"{p}.hvc"
        nodes.append(helper.make_node(op, [value], [f"{p}.y"]))
        value = f"{p}.y"
    if masked:
        nodes.append(helper.make_node("Mul", [value, f"{p}.m_t"], [f"{p}.state"]))
    else:
        nodes.append(helper.make_node("Identity", [value], [f"{p}.state"]))
    nodes.append(helper.make_node("Identity", [f"{p}.state"], [f"{p}.out"]))
    info = lambda name, cols: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", cols])  # noqa: E731
    inputs = [info(f"{p}.{fed}_prev", width), info(f"{p}.xw_t", a["hidden"])] + ([info(f"{p}.m_t", 1)] if masked else [])
    return helper.make_graph(nodes, f"{p}.step", inputs, [info(f"{p}.state", width), info(f"{p}.out", width)])


def _reverse_time(g, layer, x, suffix: str) -> str:
    """x (T, ...) with its steps in reverse order: a Slice with step -1, at any length."""
    return g.node("Slice", [x, g.constant(layer, "last", [-1], "int64"), g.constant(layer, "before_first", [-2**62], "int64"),
                            g.constant(layer, "time_axis", [0], "int64"), g.constant(layer, "backwards", [-1], "int64")],
                  layer, suffix=suffix)


def _lower_scan(g, layer, x):
    """Elman or Jordan layers as an input projection (MatMul, or Gather for one-hot words) plus
    one Scan per stacked layer and direction (see the module docstring)."""
    import numpy as np
    from onnx import numpy_helper  # only the Scan lowering builds subgraphs and tensors

    a = layer.attrs
    jordan = a["cell"] == "jordan"
    x = g.time_major(x, layer)  # Scan runs over axis 0
    mask = None
    if g.mask is not None:
        mask = g.node("Transpose", [g.mask], layer, suffix="mask_time_major", perm=[1, 0, 2])
    for k in range(1, a["layers"] + 1):
        shape = g.node("Shape", [g.one_hot[x][0] if x in g.one_hot else x], layer, suffix=f"layer{k}.shape")
        batch = g.node("Slice", [shape, g.constant(layer, "one", [1], "int64"), g.constant(layer, "two", [2], "int64")],
                       layer, suffix=f"layer{k}.batch")
        width = a["size"] if jordan else a["hidden"]
        state_shape = g.node("Concat", [batch, g.constant(layer, f"width{width}", [width], "int64")], layer,
                             suffix=f"layer{k}.state_shape", axis=0)
        start = g.node("ConstantOfShape", [state_shape], layer, suffix=f"layer{k}.start",
                       value=numpy_helper.from_array(np.zeros(1, np.float32)))
        joined = []
        for d in range(a["directions"]):
            def direction_of(local: str, transpose: bool) -> str:
                picked = g.node("Gather", [g.weight(layer, f"layer{k}.{local}"), g.constant(layer, f"dir{d}", d, "int64")],
                                layer, suffix=f"layer{k}.{local}[{d}]", axis=0)
                if not transpose:
                    return picked
                return g.node("Transpose", [picked], layer, suffix=f"layer{k}.{local}[{d}]T", perm=[1, 0])

            xw = g.project(x, direction_of("W", True), layer, f"layer{k}.xw[{d}]")
            if a["bias"]:
                xw = g.node("Add", [xw, direction_of("b", False)], layer, suffix=f"layer{k}.xw+b[{d}]")
            names = {"UT": direction_of("U", True), "VT": direction_of("V", True)} if jordan else {
                "RT": direction_of("R", True)}
            if jordan and a["bias"]:
                names["c"] = direction_of("c", False)
            scanned = [xw] + ([mask] if mask is not None else [])
            if d == 1:  # the backward direction scans a reversed copy (Scan's own direction is rarely supported)
                scanned = [_reverse_time(g, layer, s, f"layer{k}.reversed") for s in scanned]
            out = g.node("Scan", [start] + scanned, layer, suffix=f"layer{k}.scan[{d}]", keep_output=1,
                         body=_step_graph(layer, k, d, names, mask is not None), num_scan_inputs=len(scanned))
            joined.append(_reverse_time(g, layer, out, f"layer{k}.unreversed") if d == 1 else out)
        x = joined[0] if len(joined) == 1 else g.node("Concat", joined, layer, suffix=f"layer{k}.join", axis=-1)
    return g.node("Transpose", [x], layer, suffix="batch_major", perm=[1, 0, 2])
