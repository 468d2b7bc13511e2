"""rnn: a recurrent layer over sequences (N, T, F) -> (N, T, directions * hidden).

Elman cell, step t of one direction:  h_t = f(x_t W^T + h_{t-1} R^T + b),  h_0 = 0.
`bidirectional` runs a second cell from the last step to the first and joins the two per step
by concatenation, forward first: y_t = [h_t(forward), h_t(backward)].
`layers=K` stacks K such layers, each reading the previous one's joined output.

Weights of stacked layer k (1-based), in ONNX RNN layout (direction 0 forward, 1 backward):
  layer{k}.W (dirs, hidden, inputs), layer{k}.R (dirs, hidden, hidden), layer{k}.b (dirs, hidden).
The ONNX lowering is one RNN node per stacked layer; its input is time-major (T, N, F), so the
sequence is transposed in and out, its bias is [b, 0] (the recurrent bias Rb is 0), and its
output (T, dirs, N, H) becomes (T, N, dirs*H) by Transpose and a Reshape with shape [0, 0, -1]
(copying T and N, so no size is baked into the graph).
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
    doc = "Elman recurrent layer: h_t = f(x_t W^T + h_{t-1} R^T + b), optionally bidirectional and stacked"
    signature = (
        Arg("cell", one_of("elman"), "elman", "elman (the hidden state is fed back)", positional=True),
        Arg("hidden", positive_int, None, "size of the hidden state", positional=True),
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
        weights = []
        inputs = shape[-1]
        for k in range(1, args["layers"] + 1):
            weights.append(WeightSpec(f"layer{k}.W", (dirs, hidden, inputs), args["init"], inputs, hidden))
            weights.append(WeightSpec(f"layer{k}.R", (dirs, hidden, hidden), args["init"], hidden, hidden))
            if args["bias"]:
                weights.append(WeightSpec(f"layer{k}.b", (dirs, hidden), "zeros", 1, hidden))
            inputs = dirs * hidden
        attrs = dict(hidden=hidden, directions=dirs, layers=args["layers"], activation=args["activation"],
                     bias=args["bias"])
        return Inferred(("N", "T", dirs * hidden), attrs, tuple(weights))

    def lower(self, g, layer, x):
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
