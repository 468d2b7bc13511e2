"""crf -> the best tag sequence (Viterbi) in two Scans over the time-major scores (T, N, K), then
one-hot rows (specc/layers/crf.py has the model, runtime/kernels/crf.py the same algorithm in
NumPy, whose additions and comparisons these nodes repeat, so both choose the same tags):

  - a forward Scan carrying best (N, K), the best score of a sequence ending in each tag: at a
    sentence's first step start + u_0; after it, for each tag j, the largest best[i] +
    transitions[i, j] (ReduceMax) and which i gave it (ArgMax, the lower on a tie), plus u_t;
    on padding best is kept and the step points each tag to itself;
  - the last tag, ArgMax(best + end), since best stops at each sentence's last word;
  - a Scan over the steps in reverse order (reversed by a Gather, as rnn reverses time) carrying
    each sentence's tag, which it writes out, then replaces by the tag the step points back to
    (GatherElements);
  - one-hot rows, Equal of the tags and 0..K-1, cast to float.
The Scan bodies read the weights as the graph's initializers (OpenVINO refuses bodies reading
tensors that outer nodes compute) and name no symbolic size (tract).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .base import lowering
from .rnn import backward_steps, zero_state


def _forward_body(g, layer, masked: bool):
    """The Viterbi step: (best, u_t, first_t[, on_t]) -> (best, back_t)."""
    p = f"{layer.id}.viterbi"
    tags = layer.attrs.tags
    transitions, start = g.weight(layer, "transitions"), g.weight(layer, "start")
    axis = f"{p}.axis2"
    nodes = [helper.make_node("Constant", [], [axis], value=numpy_helper.from_array(np.asarray([2], np.int64))),
             helper.make_node("Unsqueeze", [f"{p}.prev", axis], [f"{p}.prev3"]),  # (N, from, 1)
             helper.make_node("Add", [f"{p}.prev3", transitions], [f"{p}.candidates"]),  # (N, from, to)
             helper.make_node("ReduceMax", [f"{p}.candidates"], [f"{p}.reached"], axes=[1], keepdims=0),
             helper.make_node("ArgMax", [f"{p}.candidates"], [f"{p}.chosen"], axis=1, keepdims=0),
             helper.make_node("Add", [f"{p}.reached", f"{p}.u_t"], [f"{p}.stepped"]),
             helper.make_node("Add", [start, f"{p}.u_t"], [f"{p}.opening"]),
             helper.make_node("Where", [f"{p}.first_t", f"{p}.opening", f"{p}.stepped"],
                              [f"{p}.new" if masked else f"{p}.best"])]
    itself = f"{p}.itself"
    nodes.append(helper.make_node("Constant", [], [itself],
                                  value=numpy_helper.from_array(np.arange(tags, dtype=np.int64)[None, :])))
    if masked:
        nodes += [helper.make_node("Where", [f"{p}.on_t", f"{p}.new", f"{p}.prev"], [f"{p}.best"]),
                  helper.make_node("Where", [f"{p}.on_t", f"{p}.chosen", itself], [f"{p}.back"])]
    else:
        nodes.append(helper.make_node("Identity", [f"{p}.chosen"], [f"{p}.back"]))
    nodes.append(helper.make_node("Identity", [f"{p}.best"], [f"{p}.best_out"]))
    info = helper.make_tensor_value_info
    inputs = [info(f"{p}.prev", TensorProto.FLOAT, [None, tags]), info(f"{p}.u_t", TensorProto.FLOAT, [None, tags]),
              info(f"{p}.first_t", TensorProto.BOOL, [1, 1])]
    inputs += [info(f"{p}.on_t", TensorProto.BOOL, [None, 1])] if masked else []
    outputs = [info(f"{p}.best_out", TensorProto.FLOAT, [None, tags]), info(f"{p}.back", TensorProto.INT64, [None, tags])]
    return helper.make_graph(nodes, f"{p}.step", inputs, outputs)


def _backtrack_body(layer):
    """One step back: (tag (N, 1), back_t (N, K)) -> (the tag back_t points to, the tag)."""
    p = f"{layer.id}.backtrack"
    tags = layer.attrs.tags
    info = helper.make_tensor_value_info
    nodes = [helper.make_node("GatherElements", [f"{p}.back_t", f"{p}.tag"], [f"{p}.earlier"], axis=1),
             helper.make_node("Identity", [f"{p}.tag"], [f"{p}.tag_out"])]
    return helper.make_graph(nodes, f"{p}.step",
                             [info(f"{p}.tag", TensorProto.INT64, [None, 1]),
                              info(f"{p}.back_t", TensorProto.INT64, [None, tags])],
                             [info(f"{p}.earlier", TensorProto.INT64, [None, 1]),
                              info(f"{p}.tag_out", TensorProto.INT64, [None, 1])])


@lowering("crf")
def lower_crf(g, layer, x):
    """(N, T, K) scores -> (N, T, K) one-hot rows of each sentence's best tag sequence."""
    tags = layer.attrs.tags
    u = g.time_major(x, layer)  # (T, N, K)
    backwards = backward_steps(g, layer, u)  # T-1, ..., 0
    # first (T, 1, 1): true at step 0 only (the reversed step indices equal T-1 there)
    steps = g.node("Shape", [u], layer, suffix="steps", start=0, end=1)
    last_step = g.node("Sub", [steps, g.constant(layer, "one", [1], "int64")], layer, suffix="last_step")
    first = g.node("Equal", [backwards, last_step], layer, suffix="is_first")
    first = g.node("Reshape", [first, g.constant(layer, "step_shape", [-1, 1, 1], "int64")], layer, suffix="first")
    scanned = [u, first]
    masked = g.mask is not None
    if masked:  # (N, T, 1) float -> (T, N, 1) bool
        on = g.node("Transpose", [g.mask], layer, suffix="mask_time_major", perm=[1, 0, 2])
        scanned.append(g.node("Cast", [on], layer, suffix="on_words", to=TensorProto.BOOL))
    # outputs: the final best scores, then the scanned back pointers (T, N, K)
    back = g.node("Scan", [zero_state(g, layer, u, tags)] + scanned, layer, suffix="viterbi", keep_output=1,
                  body=_forward_body(g, layer, masked), num_scan_inputs=len(scanned))
    best = back.rpartition(":")[0]
    closing = g.node("Add", [best, g.weight(layer, "end")], layer, suffix="closing")
    final = g.node("ArgMax", [closing], layer, suffix="final_tag", axis=1, keepdims=1)  # (N, 1)
    reversed_back = g.node("Gather", [back, backwards], layer, suffix="back_reversed", axis=0)
    path = g.node("Scan", [final, reversed_back], layer, suffix="backtrack", keep_output=1,
                  body=_backtrack_body(layer), num_scan_inputs=1)
    path = g.node("Gather", [path, backwards], layer, suffix="path", axis=0)  # (T, N, 1), in order
    hits = g.node("Equal", [path, g.constant(layer, "tags", np.arange(tags), "int64")], layer, suffix="hits")
    one_hot = g.node("Cast", [hits], layer, suffix="one_hot_time_major", to=TensorProto.FLOAT)
    return g.node("Transpose", [one_hot], layer, perm=[1, 0, 2])
