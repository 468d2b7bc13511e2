"""rnn: a recurrent layer over sequences (N, T, F) -> (N, T, directions * size).

Elman cell, step t of one direction:  h_t = f(x_t W^T + h_{t-1} R^T + b),  h_0 = 0; the layer
outputs h (size = hidden).
Jordan cell: the layer's previous OUTPUT is fed back, not its hidden state:
  h_t = f(x_t W^T + y_{t-1} U^T + b),   y_t = f(h_t V^T + c),   y_0 = 0,
and the layer outputs y (size = `out`, default hidden), with the same activation f for both.
`bidirectional` runs a second cell from the last step to the first and joins the two per step
by concatenation, forward first: y_t = [h_t(forward), h_t(backward)].
`layers=K` stacks K such layers, each reading the previous one's joined output.

Gated cells follow PyTorch's nn.LSTM and nn.GRU, so that weights move between the two unchanged
(sigma is the logistic sigmoid; the activation is fixed, as in PyTorch):
  lstm, gates in the order i, f, g, o:  (i, f, g, o) = (sigma, sigma, tanh, sigma)(x_t W^T + b + h_{t-1} R^T + Rb),
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t),   h_0 = c_0 = 0;
  gru, gates in the order r, z, n:  r, z = sigma(x_t W_rz^T + b_rz + h_{t-1} R_rz^T + Rb_rz),
        n = tanh(x_t W_n^T + b_n + r * (h_{t-1} R_n^T + Rb_n)),   h_t = (1 - z) * n + z * h_{t-1}
        (the reset gate applies after the recurrent product: ONNX GRU's linear_before_reset=1).
On padding (the "" after a sentence's words) a gated cell keeps h (and c) unchanged and outputs 0,
so the backward direction starts from 0 at each sentence's last word, as packed sequences do.

Weights of stacked layer k (1-based), in ONNX RNN layout (direction 0 forward, 1 backward):
  layer{k}.W (dirs, hidden, inputs), layer{k}.R (dirs, hidden, hidden), layer{k}.b (dirs, hidden).
  Jordan adds layer{k}.U (dirs, hidden, out) in R's place, layer{k}.V (dirs, out, hidden)
  and layer{k}.c (dirs, out).
  lstm and gru (G = 4 or 3 gates, stacked in the order above): layer{k}.W (dirs, G*hidden, inputs),
  layer{k}.R (dirs, G*hidden, hidden), and with bias layer{k}.b (dirs, G*hidden) and layer{k}.Rb
  (dirs, G*hidden). In PyTorch's names, direction d of layer k (suffix _l{k-1}, plus _reverse for
  d = 1): weight_ih = W[d], weight_hh = R[d], bias_ih = b[d], bias_hh = Rb[d]. Both biases are
  kept, though an LSTM only ever uses their sum, so that weights move both ways exactly; ONNX's
  LSTM and GRU ops take the same matrices with their gates reordered (i, o, f, c and z, r, h).
The lowering is specc/lowering/rnn.py, the NumPy kernels runtime/kernels/rnn.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..shapes import BYTES_PER_FLOAT, ShapeError, require
from ..signature import Arg, boolean, one_of, positive_int
from .base import Inferred, LayerAttrs, LayerKind, Scratch, WeightSpec, register, whole_number_up_to
from .conv import INITS

STEP_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
GATES = {"lstm": 4, "gru": 3}  # gated cells: their gates' count, each a block of `hidden` rows
# The shape rule, the kernels and the lowering loop over the stacked layers in Python (one Scan
# each in ONNX): 1,000 compile in seconds, and no network stacks nearly as many.
MAX_LAYERS = 1000


@dataclass(frozen=True)
class RnnAttrs(LayerAttrs):
    """cell: elman, jordan, lstm or gru; hidden: H, the state's width; out: the width of one
    direction's output per step (Jordan: M, the output fed back; else H); directions: 1, or 2
    when bidirectional; layers: how many stacked; activation: f of Elman and Jordan cells (None:
    gated cells have their own); bias: b (and c, or Rb)."""

    reads_one_hot = True
    takes_mask = True

    cell: str
    hidden: int
    out: int = field(metadata={"written": "size"})
    directions: int
    layers: int
    activation: str | None
    bias: bool

    @property
    def jordan(self) -> bool:
        return self.cell == "jordan"

    @property
    def gates(self) -> int:
        """How many blocks of H rows W, R and b hold: 4 (lstm), 3 (gru), 1 (elman, jordan)."""
        return GATES.get(self.cell, 1)

    @property
    def gated(self) -> bool:
        return self.cell in GATES

    @property
    def fed_back(self) -> int:
        """The width of the state carried from step to step: H (Elman's h) or M (Jordan's y)."""
        return self.out if self.jordan else self.hidden


@register
class Rnn(LayerKind):
    name = "rnn"
    doc = ("recurrent layer, Elman (hidden state fed back), Jordan (output fed back), LSTM or GRU (PyTorch's), "
           "optionally bidirectional and stacked")
    attrs_type = RnnAttrs
    signature = (
        Arg("cell", one_of("elman", "jordan", *GATES), "elman",
            "elman (the hidden state is fed back), jordan (the output is), lstm or gru (gated, as PyTorch's)",
            positional=True),
        Arg("hidden", positive_int, None, "size of the hidden state", positional=True),
        Arg("out", positive_int, None, "jordan: size of the output fed back; default the hidden size"),
        Arg("bidirectional", boolean, False, "also run backwards in time and join per step", flag=True),
        Arg("layers", whole_number_up_to(MAX_LAYERS, "each stacked layer is a loop of its own"), 1,
            "how many stacked layers"),
        # no default here: an Elman or Jordan cell takes tanh (the shape rule's), a gated cell none
        Arg("activation", one_of(*STEP_ACTIVATIONS), None, "elman and jordan: tanh (default), relu, sigmoid or linear"),
        Arg("bias", boolean, True, "true or false"),
        Arg("init", INITS, "xavier", "xavier (Glorot uniform), he, normal, ones or zeros"),
    )

    def infer(self, args, shape):
        require(shape, "seq", hint="rnn reads sequences (N, T, F); declare input NAME: seq F")
        hidden, cell = args["hidden"], args["cell"]
        if hidden is None:
            raise ShapeError("needs a hidden size", expected=f"rnn {cell} hidden=N", arg="hidden")
        dirs = 2 if args["bidirectional"] else 1
        jordan = cell == "jordan"
        if args["out"] is not None and not jordan:
            raise ShapeError("takes out= only as a jordan cell", expected="rnn jordan hidden=H out=M",
                             arg="out", hint=f"rnn {cell} outputs its hidden state: drop out=")
        if cell in GATES and args["activation"] is not None:
            raise ShapeError(f"takes no activation= with cell {cell}", expected=f"rnn {cell} hidden={hidden}",
                             arg="activation", hint=f"its gates use sigmoid and tanh, as PyTorch's nn.{cell.upper()}: "
                                                    "drop activation=, or use rnn elman")
        size = (args["out"] or hidden) if jordan else hidden
        rows = GATES.get(cell, 1) * hidden
        weights = []
        inputs = shape[-1]
        for k in range(1, args["layers"] + 1):
            weights.append(WeightSpec(f"layer{k}.W", (dirs, rows, inputs), args["init"], inputs, hidden))
            if jordan:
                weights.append(WeightSpec(f"layer{k}.U", (dirs, hidden, size), args["init"], size, hidden))
            else:
                weights.append(WeightSpec(f"layer{k}.R", (dirs, rows, hidden), args["init"], hidden, hidden))
            if args["bias"]:
                weights.append(WeightSpec(f"layer{k}.b", (dirs, rows), "zeros", 1, hidden))
                if cell in GATES:
                    weights.append(WeightSpec(f"layer{k}.Rb", (dirs, rows), "zeros", 1, hidden))
            if jordan:
                weights.append(WeightSpec(f"layer{k}.V", (dirs, size, hidden), args["init"], hidden, size))
                if args["bias"]:
                    weights.append(WeightSpec(f"layer{k}.c", (dirs, size), "zeros", 1, size))
            inputs = dirs * size
        attrs = RnnAttrs(cell=cell, hidden=hidden, out=size, directions=dirs, layers=args["layers"],
                         activation=None if cell in GATES else args["activation"] or "tanh", bias=args["bias"])
        return Inferred(("N", "T", dirs * size), attrs, tuple(weights))

    def scratch(self, layer, steps):
        """Kept for backpropagation through time, per stacked layer and direction: every step's
        input projection and state (H each; a Jordan layer also its output, M; an LSTM its 4 gates,
        c and tanh(c); a GRU its 3 gates and its recurrent product's n block), and the joined
        output of each layer below the last (dirs * M; M = H for the others) (runtime/kernels/rnn.py)."""
        a = layer.attrs
        per_layer = {"lstm": 7, "gru": 5}.get(a.cell, 2) * a.hidden + (a.out if a.jordan else 0)
        per_step = a.directions * (a.layers * per_layer + (a.layers - 1) * a.out)
        return Scratch(steps * per_step * BYTES_PER_FLOAT,
                       f"the states of {a.layers:,} stacked layer(s) at each of {steps} steps")
