"""rnn -> per stacked layer, on the time-major sequence (T, N, F): the input projections and one
Scan over time (specc/layers/rnn.py has the cells' equations and the weights' layout).

All four cells lower the same way (bench/rnn_lowering.py measured it against the ONNX RNN op: as
fast for one sentence, 2.5-3x faster for a batch of 256), per stacked layer, on the time-major
sequence (T, N, F) (the gated cells' steps split their gates' pre-activations with a Split; an
LSTM carries c beside h as a second Scan state, and adds its recurrent bias Rb to its input
projection's bias b outside the loop, into the table of a words' lookup: no pass over every
step; bench/gated_lowering.py measured ONNX's LSTM and GRU ops: 2.2-2.8x faster for one
sentence, at batch 256 from 1.3x faster to 3x slower, but tract refuses both and OpenVINO
computes padded batches wrong, so the Scan stays):
  - the input projection of every step at once, x W^T + b: a MatMul, or a Gather of the rows of
    W^T when the input is one-hot words (GraphBuilder.project);
  - one Scan over time whose body runs one step of every direction: state h_{t-1} (Jordan:
    y_{t-1}) and x_t W^T + b in, the new state out; the backward direction reads a time-reversed
    copy of its projection (of words held as a lookup: the lookup of their reversed ids) and its
    outputs are reversed back (a Gather of the steps T-1..0; Scan's own reverse direction is not
    in ONNX's reference evaluator);
  - for sentences of different lengths, the backward direction's step multiplies its new state
    by the step's mask (1 on words, 0 on padding), so it starts from 0 at each sentence's last
    word, as in the NumPy kernel (the forward direction meets padding only after the words);
  - the directions joined by Concat on the last axis.
The weights stay in one layout for both back ends. The Scan body reads them as the graph's
initializers, picking its direction inside the body (a Gather of the initializer, which
onnxruntime folds into a constant when it loads) and multiplying by the matrix as stored (Gemm
with transB): OpenVINO refuses a body that reads tensors computed by outer nodes (as the
transposed slices were before). For the same other runtimes the body names no symbolic size
(tract), and time is reversed by a Gather rather than a Slice with step -1 (see backward_steps).
bench/rnn_lowering.py times this portable form (D') against the earlier one (D): the same
within noise (bench/RESULTS.md).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .activation import ELEMENTWISE_OPS
from .base import lowering


def _body_weight(g, layer, k: int, d: int, local: str) -> tuple[onnx.NodeProto, str]:
    """Direction d's slice of stacked layer k's weight `local` (dirs, ...) as a Gather node of the
    Scan body reading the initializer itself (the direction's index is the body's Constant
    `{p}.index`, see _direction_step). Returns (node, name)."""
    p = f"{layer.id}.layer{k}.dir{d}"
    picked = f"{p}.{local}"
    return helper.make_node("Gather", [g.weight(layer, f"layer{k}.{local}"), f"{p}.index"], [picked], name=picked,
                            axis=0), picked


def _recurrent_step(g, layer, k: int, d: int, p: str, new: list[str]) -> list[onnx.NodeProto]:
    """Elman h_t = f(xw_t + h_{t-1} R^T), Jordan y_t = f(f(xw_t + y_{t-1} U^T) V^T + c): nodes
    writing the new state to new[0]."""
    a = layer.attrs
    op = ELEMENTWISE_OPS[a.activation]
    weight, fed_back = _body_weight(g, layer, k, d, "U" if a.jordan else "R")
    nodes = [weight, helper.make_node("Gemm", [f"{p}.prev", fed_back, f"{p}.xw_t"], [f"{p}.a"], transB=1),
             helper.make_node(op, [f"{p}.a"], [f"{p}.h"])]
    if a.jordan:
        weights = [_body_weight(g, layer, k, d, local) for local in ("V", "c")[:1 + a.bias]]
        nodes += [node for node, _ in weights] + [
            helper.make_node("Gemm", [f"{p}.h"] + [name for _, name in weights], [f"{p}.hvc"], transB=1),
            helper.make_node(op, [f"{p}.hvc"], [f"{p}.y"])]
    nodes[-1].output[0] = new[0]
    return nodes


def _split_gates(source: str, gates: int, hidden: int, names: list[str]) -> list[onnx.NodeProto]:
    """source (N, gates * H) split into its gates' blocks (N, H) `names` (the sizes a Constant of
    the body)."""
    sizes = f"{source}.sizes"
    return [helper.make_node("Constant", [], [sizes], name=sizes,
                             value=numpy_helper.from_array(np.full(gates, hidden, np.int64))),
            helper.make_node("Split", [source, sizes], names, name=f"{source}.split", axis=1)]


def _lstm_step(g, layer, k: int, d: int, p: str, new: list[str]) -> list[onnx.NodeProto]:
    """PyTorch's LSTM step (xw_t holds x_t W^T + b + Rb): gates = xw_t + h_{t-1} R^T, split into
    i, f, g, o; c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t). Writes h_t to new[0], c_t to new[1]."""
    weight, recurrent = _body_weight(g, layer, k, d, "R")
    i, f, cand, o = (f"{p}.{gate}" for gate in ("i", "f", "g", "o"))
    nodes = [weight, helper.make_node("Gemm", [f"{p}.prev", recurrent, f"{p}.xw_t"], [f"{p}.gates"], transB=1)]
    nodes += _split_gates(f"{p}.gates", 4, layer.attrs.hidden, [f"{i}.a", f"{f}.a", f"{cand}.a", f"{o}.a"])
    nodes += [helper.make_node("Tanh" if gate == cand else "Sigmoid", [f"{gate}.a"], [gate])
              for gate in (i, f, cand, o)]
    return nodes + [
        helper.make_node("Mul", [f, f"{p}.prev_c"], [f"{p}.kept"]),
        helper.make_node("Mul", [i, cand], [f"{p}.written"]),
        helper.make_node("Add", [f"{p}.kept", f"{p}.written"], [new[1]]),
        helper.make_node("Tanh", [new[1]], [f"{p}.tanh_c"]),
        helper.make_node("Mul", [o, f"{p}.tanh_c"], [new[0]])]


def _gru_step(g, layer, k: int, d: int, p: str, new: list[str]) -> list[onnx.NodeProto]:
    """PyTorch's GRU step (xw_t holds x_t W^T + b): hr = h_{t-1} R^T + Rb; r, z = sigma(xw + hr)
    per block; n = tanh(xw_n + r * hr_n); h_t = n + z * (h_{t-1} - n). Writes h_t to new[0]."""
    a = layer.attrs
    weights = [_body_weight(g, layer, k, d, local) for local in ("R", "Rb")[:1 + a.bias]]
    nodes = [node for node, _ in weights]
    nodes.append(helper.make_node("Gemm", [f"{p}.prev"] + [name for _, name in weights], [f"{p}.hr"], transB=1))
    for source, part in ((f"{p}.xw_t", "in"), (f"{p}.hr", "rec")):
        nodes += _split_gates(source, 3, a.hidden, [f"{p}.{part}_{gate}" for gate in "rzn"])
    for gate in "rz":
        nodes += [helper.make_node("Add", [f"{p}.in_{gate}", f"{p}.rec_{gate}"], [f"{p}.{gate}.a"]),
                  helper.make_node("Sigmoid", [f"{p}.{gate}.a"], [f"{p}.{gate}"])]
    return nodes + [
        helper.make_node("Mul", [f"{p}.r", f"{p}.rec_n"], [f"{p}.reset"]),
        helper.make_node("Add", [f"{p}.in_n", f"{p}.reset"], [f"{p}.n.a"]),
        helper.make_node("Tanh", [f"{p}.n.a"], [f"{p}.n"]),
        helper.make_node("Sub", [f"{p}.prev", f"{p}.n"], [f"{p}.change"]),
        helper.make_node("Mul", [f"{p}.z", f"{p}.change"], [f"{p}.kept"]),
        helper.make_node("Add", [f"{p}.n", f"{p}.kept"], [new[0]])]


STEPS = {"elman": _recurrent_step, "jordan": _recurrent_step, "lstm": _lstm_step, "gru": _gru_step}


def _direction_step(g, layer, k: int, d: int, masked: bool):
    """One step of stacked layer k, direction d, as nodes of the Scan body.

    Reads the states `{p}.prev` (Elman and the gated cells h_{t-1} (N, H), Jordan y_{t-1} (N, M))
    and, for an LSTM, `{p}.prev_c` (c_{t-1}), `{p}.xw_t` (x_t W^T + b) and, for sentences,
    `{p}.m_t` (N, 1). Writes the new states `{p}.state` (and `{p}.state_c`), times m_t (0 on
    padding, which the backward direction meets before a sentence's words: so it keeps its
    states at 0), and the new state again as `{p}.out` (Scan's state and scanned outputs need
    names of their own).
    Returns (nodes, state value infos, scanned input value infos, state out infos, scanned out info).

    The products are Gemm nodes (transB: the weights as stored, y = a B^T + c): onnxruntime fuses
    each with its activation, as it fused the MatMul and Add of bodies whose batch was named.
    """
    a = layer.attrs
    p = f"{layer.id}.layer{k}.dir{d}"
    states = [""] + (["_c"] if a.cell == "lstm" else [])
    computed = [f"{p}.new{suffix}" if masked else f"{p}.state{suffix}" for suffix in states]
    nodes = [helper.make_node("Constant", [], [f"{p}.index"], name=f"{p}.index",
                              value=numpy_helper.from_array(np.asarray(d, np.int64)))]
    nodes += STEPS[a.cell](g, layer, k, d, p, computed)
    if masked:
        nodes += [helper.make_node("Mul", [value, f"{p}.m_t"], [f"{p}.state{suffix}"])
                  for value, suffix in zip(computed, states)]
    nodes.append(helper.make_node("Identity", [f"{p}.state"], [f"{p}.out"]))
    # the batch is left unnamed inside the body: tract was reported to refuse bodies naming it N
    info = lambda name, cols: helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, cols])  # noqa: E731
    width = a.fed_back
    scanned = [info(f"{p}.xw_t", a.gates * a.hidden)] + ([info(f"{p}.m_t", 1)] if masked else [])
    return (nodes, [info(f"{p}.prev{suffix}", width) for suffix in states], scanned,
            [info(f"{p}.state{suffix}", width) for suffix in states], info(f"{p}.out", width))


def _reverse_time(g, layer, x, backwards: str, suffix: str) -> str:
    """x (T, ...) with its steps in reverse order: a Gather of steps `backwards` (see backward_steps);
    words held as a lookup stay one, of their reversed ids (GraphBuilder.steps)."""
    return g.steps(x, backwards, layer, suffix)


def backward_steps(g, layer, time_major: str) -> str:
    """The step indices T-1, ..., 1, 0 (int64 (T,)) for the time-major (T, ...) tensor: ones
    summed from the end, each sum excluding its own step (3 nodes, once per rnn layer).

    The steps are gathered because tract takes none of the other ways to reverse a dynamic T:
    a Slice with step -1, ReverseSequence, a Range counting down.
    """
    steps = g.node("Shape", [time_major], layer, suffix="steps", start=0, end=1)
    ones = g.node("ConstantOfShape", [steps], layer, suffix="ones", value=numpy_helper.from_array(np.ones(1, np.int64)))
    return g.node("CumSum", [ones, g.constant(layer, "time_axis", 0, "int64")], layer, suffix="backwards",
                  exclusive=1, reverse=1)


def zero_state(g, layer, time_major: str, width: int) -> str:
    """A Scan's starting state: zeros (N, width), N read from the time-major (T, N, ...) tensor."""
    batch = g.node("Shape", [time_major], layer, suffix="batch", start=1, end=2)
    state_shape = g.node("Concat", [batch, g.constant(layer, f"width{width}", [width], "int64")], layer,
                         suffix="state_shape", axis=0)
    return g.node("ConstantOfShape", [state_shape], layer, suffix="start_state",
                  value=numpy_helper.from_array(np.zeros(1, np.float32)))


@lowering("rnn")
def lower_rnn(g, layer, x):
    """rnn layers as input projections plus one Scan per stacked layer (see above)."""
    a = layer.attrs
    width = a.fed_back
    x = g.time_major(x, layer)  # Scan runs over axis 0
    # every stacked layer's sequence has the input's length and batch: read from its ids or values
    sized = g.lookups[x][0] if x in g.lookups else x
    backwards = backward_steps(g, layer, sized) if a.directions == 2 else None
    # Only the backward direction needs the mask: the forward one meets padding after a sentence's
    # words, where what it computes is zeroed at the chain's end and read by nothing before it.
    backward_mask = None
    if g.mask is not None and a.directions == 2:
        backward_mask = _reverse_time(g, layer, g.node("Transpose", [g.mask], layer, suffix="mask_time_major",
                                                       perm=[1, 0, 2]), backwards, "mask_reversed")
    start = zero_state(g, layer, sized, width)
    for k in range(1, a.layers + 1):
        body = {"nodes": [], "states": [], "scanned": [], "state_out": [], "out": []}
        scanned = []
        # an LSTM adds its recurrent bias to the same sum: folded into the words' table, or added
        # to b once (not to the projection of every step)
        biases = (f"layer{k}.b",) + ((f"layer{k}.Rb",) if a.cell == "lstm" else ()) if a.bias else ()
        for d in range(a.directions):
            # the backward direction reads its steps in reverse: words' ids are reversed before
            # their lookup (int64 (T, N)), other inputs' projections after it
            early = d == 1 and x in g.lookups
            source = _reverse_time(g, layer, x, backwards, f"layer{k}.reversed") if early else x
            xw = g.project(source, layer, f"layer{k}.W", f"layer{k}.xw[{d}]", direction=d, bias=biases)
            if d == 1 and not early:
                xw = _reverse_time(g, layer, xw, backwards, f"layer{k}.reversed")
            masked = d == 1 and backward_mask is not None
            nodes, states, step_inputs, states_out, out = _direction_step(g, layer, k, d, masked)
            for key, value in (("nodes", nodes), ("scanned", step_inputs), ("states", states),
                               ("state_out", states_out)):
                body[key] += value
            body["out"].append(out)
            scanned += [xw] + ([backward_mask] if masked else [])
        graph = helper.make_graph(body["nodes"], f"{layer.id}.layer{k}.step", body["states"] + body["scanned"],
                                  body["state_out"] + body["out"])
        dirs, carried = a.directions, len(body["states"])
        # outputs: the final states (h, and c for an LSTM, per direction), then the scanned
        # outputs, one per direction
        last = g.node("Scan", [start] * carried + scanned, layer, suffix=f"layer{k}.scan",
                      keep_output=carried + dirs - 1, body=graph, num_scan_inputs=len(scanned))
        outputs = [f"{last.rpartition(':')[0]}:{carried + d}" for d in range(dirs)]
        if dirs == 2:
            outputs[1] = _reverse_time(g, layer, outputs[1], backwards, f"layer{k}.unreversed")
        x = outputs[0] if dirs == 1 else g.node("Concat", outputs, layer, suffix=f"layer{k}.join", axis=-1)
    return g.batch_major(x, layer)
