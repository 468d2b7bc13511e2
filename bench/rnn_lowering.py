"""Which ONNX lowering of an Elman RNN layer is fastest in onnxruntime (CPU) on variable-length batches.

Workload: slot filling. A batch is x (N, T, F) float, batch-major, with a mask (N, T) float that is 1
at real steps and 0 at padding, padding only at the end of each sequence. One Elman layer (tanh),
weights in specc's (= ONNX RNN) layout W (dirs, H, F), R (dirs, H, H), b (dirs, H):

    h_t = m_t * tanh(x_t W^T + h_{t-1} R^T + b),   h_0 = 0

and the backward direction runs the same on each sequence's own real steps, last to first, so that
it starts at the sequence's last real step as if the padding were not there. The output
(N, T, dirs * H) joins [forward, backward] per step and is 0 at padded steps.

Each lowering below is a standalone ONNX model (opset 17, built with onnx.helper) with inputs x (or
word ids) and mask and one output y (N, T, dirs * H), batch-major:

  A    RNN op with sequence_lens (ReduceSum of the mask, Cast to int32), Transpose in (onnxruntime's
       CPU RNN refuses layout=1) and one Transpose + Reshape out.
  B    per direction: the input projection of all steps as one MatMul + Add on the time-major
       sequence, then a Scan over time whose step is h = m_t * tanh(xw_t + h_prev @ R^T); the
       backward direction scans time-reversed copies (Slice step -1) of xw and the mask and
       reverses its output back; Concat joins the directions.
  B2   one Scan for both directions: the projection of both directions is one MatMul + Add, masked
       once outside the loop (xw * m; bidirectional only), so a padded step has xw = 0 and, with
       h_prev = 0, tanh(0) = 0 (the trick needs f(0) = 0: tanh, relu, linear; not sigmoid):
       the reversed direction stays exactly 0 through its leading padding with no mask in the
       step. The step is h = tanh(xw_t + h_prev @ blockdiag(R_f^T, R_b^T)) on h = [h_f, h_b]; the
       backward half of xw is time-reversed before the Scan and of its output after; the forward
       half's padded outputs are zeroed by one Mul with the mask after the Scan.
  B3   one Scan with a state per direction, using Scan's own directions: scan_input_directions
       [0, 1] and scan_output_directions [0, 1], so no Slice reverses anything. Two projections
       (MatMul + Add each); only the backward one is masked (xw * m, as in B2); the step is
       h_d = tanh(xw_d,t + h_d,prev @ R_d^T) for both d; the joined output is masked once after the
       Scan. Unidirectional B3 is B2.
  C    as B2 but a Loop over the step index (Gather of xw at i in the body) instead of a Scan.
  D    specc's deployed lowering before issue 10 (specc/lowering/rnn.py as of commit aca99dd): one
       Scan with a state per direction; per direction the projection (MatMul + Add); the backward
       direction scans a time-reversed copy of its projection and of the mask (Slice step -1, ends
       -2^62) with the mask in its step (h = m_t * tanh(...)) and its output is reversed back; the
       body reads R_d^T computed outside it (Gather + Transpose of the (dirs, H, H) initializer),
       its sizes named (N, H); the joined output is masked once after the Scan.
  D'   the same lowering in its portable form (specc/lowering/rnn.py now): the body reads the
       initializer itself (Gather of R by a Constant direction inside the body) and computes
       tanh(Gemm(h_prev, R_d, xw_t, transB=1)), its batch unnamed; time is reversed by a Gather
       of the steps T-1..0 (Shape, ConstantOfShape, CumSum) instead of Slice step -1.
  */gather  the deployed model's first layer: the input is word ids (N, T) int64 (vocabulary V=900)
       and x W^T is a Gather of rows of W^T (V, H) by id, then Add of the bias, instead of a MatMul
       on one-hot rows. A/gather feeds the gathered rows to the RNN op with W = identity and the
       bias in the RNN's B.
  torch  PyTorch eager torch.nn.RNN (batch_first) on pack_padded_sequence(enforce_sorted=False)
       and pad_packed_sequence(total_length=T), under torch.inference_mode(), the reference the
       ratios are taken against (the gather rows too: torch does the dense F=100 projection there).
       A second torch row runs the padded batch unpacked and masks the output: exact for
       unidirectional layers and full-length rows only, so not timed at batch 256 bidirectional.
       OMP_WAIT_POLICY defaults to PASSIVE here (set before torch loads): with torch's OpenMP
       workers spinning, its 2-thread timings next to onnxruntime's pools were erratic, 10-60x
       slower at batch 256; the 1-thread torch column is the steadier reference.

Every lowering is first checked against a NumPy reference on a variable-length batch, uni- and
bidirectional (largest absolute difference <= 1e-5, or the script stops).

Timing: F=100, H=100, V=900, T=20; batch 1 is one full sequence of 20 steps (mask all ones),
batch 256 has lengths drawn uniformly from 5..20 (one of them 20). onnxruntime CPU sessions with
graph optimization ALL, intra_op_num_threads = torch.set_num_threads = 2 and then 1, inter-op 1,
thread spinning off (idle sessions' spinning threads would otherwise steal the two cores).
Microseconds per call, median of all timed calls; the calls are taken in rounds that visit the
variants in a shuffled order, each turn starting with untimed warm-up calls, so that drift in a
shared machine's speed falls on all variants alike.

Run from the repository root (needs onnx, onnxruntime and torch):

    python bench/rnn_lowering.py            # about 1-2 minutes
    python bench/rnn_lowering.py --quick    # fewer rounds, under 20 s
    python bench/rnn_lowering.py --only D   # only the rows whose label starts with D (and torch)
    python bench/rnn_lowering.py --clock cpu   # each call's CPU time, not wall time (a busy machine)
"""
from __future__ import annotations

import os

# torch's OpenMP workers otherwise spin between parallel regions; with 2 threads on 2 cores, next to
# onnxruntime's pools, that made torch's 2-thread timings erratic (10-60x slower at batch 256).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import platform
import random
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F, H, V, T = 100, 100, 900, 20
BATCHES = (1, 256)
THREADS = (2, 1)
TOLERANCE = 1e-5
OPSET = 17
REVERSE_END = -2**62  # Slice end for "through the first element" with step -1


# --------------------------------------------------------------------------- reference

def reference(x: np.ndarray, mask: np.ndarray, W, R, b) -> np.ndarray:
    """NumPy Elman layer on (N, T, F) with mask (N, T): each sequence run on its own real steps."""
    n, _, _ = x.shape
    dirs, hidden, _ = W.shape
    y = np.zeros((n, x.shape[1], dirs * hidden), np.float64)
    lengths = mask.sum(1).astype(int)
    for i in range(n):
        L = lengths[i]
        for d in range(dirs):
            h = np.zeros(hidden)
            steps = range(L) if d == 0 else range(L - 1, -1, -1)
            for t in steps:
                h = np.tanh(x[i, t] @ W[d].T.astype(np.float64) + h @ R[d].T.astype(np.float64) + b[d])
                y[i, t, d * hidden:(d + 1) * hidden] = h
    return y


# --------------------------------------------------------------------------- graph building

class Graph:
    """A tiny onnx.helper wrapper: nodes with generated output names, initializers from NumPy."""

    def __init__(self, name: str):
        self.name, self.nodes, self.inits, self.count, self.shared = name, [], [], 0, {}

    def const(self, value, dtype=np.float32) -> str:
        self.count += 1
        name = f"c{self.count}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attrs):
        self.count += 1
        names = [f"{op.lower()}{self.count}_{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    def model(self, inputs, output: str, width: int) -> bytes:
        for node in self.nodes:  # the last node writes the graph output itself (no Identity copy)
            node.output[:] = ["y" if name == output else name for name in node.output]
            node.input[:] = ["y" if name == output else name for name in node.input]
        graph = helper.make_graph(self.nodes, self.name, inputs,
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "T", width])], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
        onnx.checker.check_model(model, full_check=True)
        return model.SerializeToString()


def graph_inputs(gather: bool):
    first = (helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", "T"]) if gather
             else helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", F]))
    return [first, helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", "T"])]


def reverse_time(g: Graph, value: str) -> str:
    """value (T, ...) with its steps in reverse order, at any length."""
    return g.node("Slice", [value, g.const([-1], np.int64), g.const([REVERSE_END], np.int64),
                            g.const([0], np.int64), g.const([-1], np.int64)])


def time_major_mask(g: Graph) -> str:
    """mask (N, T) -> (T, N, 1)."""
    return g.node("Unsqueeze", [g.node("Transpose", ["mask"], perm=[1, 0]), g.const([2], np.int64)])


def zero_state(g: Graph, time_major: str, width: int) -> str:
    """Zeros (N, width), N read from the time-major (T, N, ...) value."""
    batch = g.node("Slice", [g.node("Shape", [time_major]), g.const([1], np.int64), g.const([2], np.int64)])
    shape = g.node("Concat", [batch, g.const([width], np.int64)], axis=0)
    return g.node("ConstantOfShape", [shape], value=numpy_helper.from_array(np.zeros(1, np.float32)))


def projection(g: Graph, gather: bool, WT: np.ndarray, bias: np.ndarray) -> str:
    """x W^T + b for all steps, time-major (T, N, cols): MatMul on x, or Gather of W^T's rows by id."""
    if "time_major" not in g.shared:  # one Transpose of the input, shared by both directions
        g.shared["time_major"] = (g.node("Transpose", ["ids"], perm=[1, 0]) if gather
                                  else g.node("Transpose", ["x"], perm=[1, 0, 2]))
    seq = g.shared["time_major"]
    xw = g.node("Gather", [g.const(WT), seq], axis=0) if gather else g.node("MatMul", [seq, g.const(WT)])
    return g.node("Add", [xw, g.const(bias)])


def step_body(name: str, width: int, RT: np.ndarray, masked: bool) -> onnx.GraphProto:
    """Scan body: (h_prev (N, w), xw_t (N, w)[, m_t (N, 1)]) -> (h, h_out); h = [m_t *] tanh(xw_t + h_prev RT)."""
    nodes = [helper.make_node("MatMul", ["h_prev", "RT"], ["hr"]),
             helper.make_node("Add", ["xw_t", "hr"], ["a"]),
             helper.make_node("Tanh", ["a"], ["h_act" if masked else "h"])]
    inputs = [helper.make_tensor_value_info("h_prev", TensorProto.FLOAT, ["N", width]),
              helper.make_tensor_value_info("xw_t", TensorProto.FLOAT, ["N", width])]
    if masked:
        nodes.append(helper.make_node("Mul", ["h_act", "m_t"], ["h"]))
        inputs.append(helper.make_tensor_value_info("m_t", TensorProto.FLOAT, ["N", 1]))
    nodes.append(helper.make_node("Identity", ["h"], ["h_out"]))
    return helper.make_graph(nodes, name, inputs,
                             [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["N", width]),
                              helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["N", width])],
                             [numpy_helper.from_array(RT.astype(np.float32), "RT")])


def block_diagonal(blocks) -> np.ndarray:
    size = sum(b.shape[0] for b in blocks)
    out = np.zeros((size, size), np.float32)
    at = 0
    for block in blocks:
        out[at:at + block.shape[0], at:at + block.shape[1]] = block
        at += block.shape[0]
    return out


def build_rnn_op(W, R, b, gather: bool = False) -> bytes:
    """A: Transpose -> RNN(sequence_lens = int32(ReduceSum(mask))) -> Transpose(2,0,1,3) -> Reshape."""
    dirs, hidden, inputs = W.shape
    g = Graph("rnn_op")
    if gather:  # the gathered rows are x W^T already: the RNN gets identity weights and the bias
        table = np.concatenate([W[d].T for d in range(dirs)], 1)  # (V, dirs*H)
        seq = g.node("Gather", [g.const(table), g.node("Transpose", ["ids"], perm=[1, 0])], axis=0)
        eye = np.eye(dirs * hidden, dtype=np.float32)
        W = np.stack([eye[d * hidden:(d + 1) * hidden] for d in range(dirs)])
    else:
        seq = g.node("Transpose", ["x"], perm=[1, 0, 2])
    lens = g.node("Cast", [g.node("ReduceSum", ["mask", g.const([1], np.int64)], keepdims=0)], to=TensorProto.INT32)
    B = np.concatenate([b, np.zeros_like(b)], 1)
    y = g.node("RNN", [seq, g.const(W), g.const(R), g.const(B), lens], hidden_size=hidden,
               direction="bidirectional" if dirs == 2 else "forward")  # (T, dirs, N, H)
    y = g.node("Transpose", [y], perm=[2, 0, 1, 3])  # (N, T, dirs, H)
    y = g.node("Reshape", [y, g.const([0, 0, -1], np.int64)])
    return g.model(graph_inputs(gather), y, dirs * hidden)


def build_scan_per_direction(W, R, b, gather: bool = False) -> bytes:
    """B: per direction MatMul(+Add) projection, Scan with the mask in the step; reversed copies backward."""
    dirs, hidden, _ = W.shape
    g = Graph("scan_per_direction")
    m = time_major_mask(g)
    outs = []
    h0 = None
    for d in range(dirs):
        xw = projection(g, gather, W[d].T, b[d])
        h0 = h0 or zero_state(g, xw, hidden)
        md = m
        if d == 1:
            xw, md = reverse_time(g, xw), reverse_time(g, m)
        s = g.node("Scan", [h0, xw, md], outputs=2, num_scan_inputs=2,
                   body=step_body(f"step{d}", hidden, R[d].T, masked=True))[1]
        outs.append(reverse_time(g, s) if d == 1 else s)
    y = outs[0] if dirs == 1 else g.node("Concat", outs, axis=2)
    return g.model(graph_inputs(gather), g.node("Transpose", [y], perm=[1, 0, 2]), dirs * hidden)


def fused_input(g: Graph, W, b, gather: bool):
    """B2/C's scanned input (T, N, dirs*H): [xw_f, reversed xw_b], masked; and the mask (T, N, 1)."""
    dirs, hidden, _ = W.shape
    m = time_major_mask(g)
    xw = projection(g, gather, np.concatenate([W[d].T for d in range(dirs)], 1), b.reshape(-1))
    if dirs == 2:  # zero the padded steps so the reversed direction stays 0 through its leading padding
        xw = g.node("Mul", [xw, m])
        fwd, bwd = g.node("Split", [xw, g.const([hidden, hidden], np.int64)], outputs=2, axis=2)
        xw = g.node("Concat", [fwd, reverse_time(g, bwd)], axis=2)
    return xw, m


def fused_output(g: Graph, s: str, m: str, dirs: int, hidden: int) -> str:
    """The fused loop's output (T, N, dirs*H) back in time order for both halves, masked, batch-major."""
    if dirs == 2:
        fwd, bwd = g.node("Split", [s, g.const([hidden, hidden], np.int64)], outputs=2, axis=2)
        s = g.node("Concat", [fwd, reverse_time(g, bwd)], axis=2)
    s = g.node("Mul", [s, m])  # the forward half ran on past each sequence's end
    return g.node("Transpose", [s], perm=[1, 0, 2])


def build_scan_fused(W, R, b, gather: bool = False) -> bytes:
    """B2: one Scan for both directions (block-diagonal R), masked projection, no mask in the step."""
    dirs, hidden, _ = W.shape
    g = Graph("scan_fused")
    xw, m = fused_input(g, W, b, gather)
    width = dirs * hidden
    s = g.node("Scan", [zero_state(g, xw, width), xw], outputs=2, num_scan_inputs=1,
               body=step_body("step", width, block_diagonal([R[d].T for d in range(dirs)]), masked=False))[1]
    return g.model(graph_inputs(gather), fused_output(g, s, m, dirs, hidden), width)


def build_scan_two_states(W, R, b, gather: bool = False) -> bytes:
    """B3: one Scan, a state per direction, Scan's own directions: the backward input is scanned from
    the last step (scan_input_directions 1) and its output written from the last (scan_output_directions 1).

    Only the backward projection is masked (so it stays 0 through the trailing padding it meets
    first); the forward output is masked once after the Scan.
    """
    dirs, hidden, _ = W.shape
    if dirs == 1:
        return build_scan_fused(W, R, b, gather)
    g = Graph("scan_two_states")
    m = time_major_mask(g)
    xwf = projection(g, gather, W[0].T, b[0])
    xwb = g.node("Mul", [projection(g, gather, W[1].T, b[1]), m])
    nodes = []
    for d in ("f", "b"):
        nodes += [helper.make_node("MatMul", [f"h_prev_{d}", f"RT_{d}"], [f"hr_{d}"]),
                  helper.make_node("Add", [f"xw_{d}", f"hr_{d}"], [f"a_{d}"]),
                  helper.make_node("Tanh", [f"a_{d}"], [f"h_{d}"])]
    nodes += [helper.make_node("Identity", [f"h_{d}"], [f"out_{d}"]) for d in ("f", "b")]
    vi = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", hidden])  # noqa: E731
    body = helper.make_graph(nodes, "step2", [vi("h_prev_f"), vi("h_prev_b"), vi("xw_f"), vi("xw_b")],
                             [vi("h_f"), vi("h_b"), vi("out_f"), vi("out_b")],
                             [numpy_helper.from_array(R[0].T.copy(), "RT_f"), numpy_helper.from_array(R[1].T.copy(), "RT_b")])
    h0 = zero_state(g, xwf, hidden)
    _, _, yf, yb = g.node("Scan", [h0, h0, xwf, xwb], outputs=4, num_scan_inputs=2, body=body,
                          scan_input_directions=[0, 1], scan_output_directions=[0, 1])
    y = g.node("Mul", [g.node("Concat", [yf, yb], axis=2), m])
    return g.model(graph_inputs(gather), g.node("Transpose", [y], perm=[1, 0, 2]), 2 * hidden)


def build_loop_fused(W, R, b, gather: bool = False) -> bytes:
    """C: as B2 with a Loop over the step index; the body Gathers xw[i] from the outer scope."""
    dirs, hidden, _ = W.shape
    g = Graph("loop_fused")
    xw, m = fused_input(g, W, b, gather)
    width = dirs * hidden
    steps = g.node("Slice", [g.node("Shape", [xw]), g.const([0], np.int64), g.const([1], np.int64)])
    steps = g.node("Squeeze", [steps, g.const([0], np.int64)])
    RT = block_diagonal([R[d].T for d in range(dirs)])
    body = helper.make_graph(
        [helper.make_node("Gather", [xw, "i"], ["xw_t"], axis=0),
         helper.make_node("MatMul", ["h_prev", "RT"], ["hr"]),
         helper.make_node("Add", ["xw_t", "hr"], ["a"]),
         helper.make_node("Tanh", ["a"], ["h"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["h"], ["h_out"])],
        "loop_step",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_prev", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, ["N", width]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["N", width])],
        [numpy_helper.from_array(RT, "RT")])
    s = g.node("Loop", [steps, "", zero_state(g, xw, width)], outputs=2, body=body)[1]
    return g.model(graph_inputs(gather), fused_output(g, s, m, dirs, hidden), width)


def build_deployed(W, R, b, gather: bool = False, portable: bool = True) -> bytes:
    """D (portable=False) and D' (portable=True): specc's deployed lowering, before and after issue 10."""
    dirs, hidden, _ = W.shape
    g = Graph("deployed_portable" if portable else "deployed_before")
    m = time_major_mask(g)
    stored_R = g.const(R)  # (dirs, H, H), as the deployed model stores it
    seq = g.node("Transpose", ["ids"], perm=[1, 0]) if gather else g.node("Transpose", ["x"], perm=[1, 0, 2])
    if portable and dirs == 2:  # the steps T-1..0: ones summed from the end, each sum excluding its own step
        ones = g.node("ConstantOfShape", [g.node("Shape", [seq], start=0, end=1)],
                      value=numpy_helper.from_array(np.ones(1, np.int64)))
        backwards = g.node("CumSum", [ones, g.const(0, np.int64)], exclusive=1, reverse=1)
    reverse = (lambda v: g.node("Gather", [v, backwards], axis=0)) if portable else (lambda v: reverse_time(g, v))
    h0 = zero_state(g, seq, hidden)
    nodes, states, scanned, state_outs, outs, feeds = [], [], [], [], [], []
    vi = lambda name, cols: helper.make_tensor_value_info(  # noqa: E731
        name, TensorProto.FLOAT, [None if portable else "N", cols])
    for d in range(dirs):
        if gather:  # the deployed table folds the bias in: every word's x W^T + b
            xw = g.node("Gather", [g.const(W[d].T + b[d]), seq], axis=0)
        else:
            xw = projection(g, False, W[d].T, b[d])
        masked = d == 1
        feeds += ([reverse(xw), reverse(m)] if masked else [xw])
        act = f"h_act{d}" if masked else f"h{d}"
        if portable:
            index = numpy_helper.from_array(np.asarray(d, np.int64))
            nodes += [helper.make_node("Constant", [], [f"index{d}"], value=index),
                      helper.make_node("Gather", [stored_R, f"index{d}"], [f"R{d}"], axis=0),
                      helper.make_node("Gemm", [f"h_prev{d}", f"R{d}", f"xw{d}"], [f"a{d}"], transB=1)]
        else:
            RT = g.node("Transpose", [g.node("Gather", [stored_R, g.const(d, np.int64)], axis=0)], perm=[1, 0])
            nodes += [helper.make_node("MatMul", [f"h_prev{d}", RT], [f"hr{d}"]),
                      helper.make_node("Add", [f"xw{d}", f"hr{d}"], [f"a{d}"])]
        nodes.append(helper.make_node("Tanh", [f"a{d}"], [act]))
        if masked:
            nodes.append(helper.make_node("Mul", [act, "m_t"], [f"h{d}"]))
        nodes.append(helper.make_node("Identity", [f"h{d}"], [f"out{d}"]))
        states.append(vi(f"h_prev{d}", hidden))
        scanned += [vi(f"xw{d}", hidden)] + ([vi("m_t", 1)] if masked else [])
        state_outs.append(vi(f"h{d}", hidden))
        outs.append(vi(f"out{d}", hidden))
    body = helper.make_graph(nodes, "step", states + scanned, state_outs + outs)
    results = g.node("Scan", [h0] * dirs + feeds, outputs=2 * dirs, num_scan_inputs=len(feeds), body=body)[dirs:]
    if dirs == 2:
        results = [results[0], reverse(results[1])]
    y = results[0] if dirs == 1 else g.node("Concat", results, axis=2)
    y = g.node("Mul", [y, m])  # the deployed model zeroes padding at the chain's end
    return g.model(graph_inputs(gather), g.node("Transpose", [y], perm=[1, 0, 2]), dirs * hidden)


def build_deployed_before(W, R, b, gather: bool = False) -> bytes:
    return build_deployed(W, R, b, gather, portable=False)


# --------------------------------------------------------------------------- runners

def session(model: bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def torch_rnn(W, R, b, packed: bool = True):
    """torch.nn.RNN on packed sequences; or, packed=False, on the padded batch with the output masked
    (exact only where the backward direction meets no padding: unidirectional, or full-length rows)."""
    import torch

    dirs, hidden, inputs = W.shape
    rnn = torch.nn.RNN(inputs, hidden, batch_first=True, bidirectional=dirs == 2)
    with torch.no_grad():
        for d, suffix in enumerate(["", "_reverse"][:dirs]):
            getattr(rnn, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(W[d]))
            getattr(rnn, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(R[d]))
            getattr(rnn, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(b[d]))
            getattr(rnn, f"bias_hh_l0{suffix}").zero_()
    rnn.eval()
    pack, unpack = torch.nn.utils.rnn.pack_padded_sequence, torch.nn.utils.rnn.pad_packed_sequence

    def run(feed):
        with torch.inference_mode():
            x, mask = torch.from_numpy(feed["x"]), torch.from_numpy(feed["mask"])
            if not packed:
                return (rnn(x)[0] * mask[:, :, None]).numpy()
            lengths = mask.sum(1).to(torch.int64)
            out, _ = rnn(pack(x, lengths, batch_first=True, enforce_sorted=False))
            return unpack(out, batch_first=True, total_length=x.shape[1])[0].numpy()
    return run


def ort_runner(sess: ort.InferenceSession, gather: bool):
    def run(feed):
        return sess.run(None, {"ids": feed["ids"], "mask": feed["mask"]} if gather
                        else {"x": feed["x"], "mask": feed["mask"]})[0]
    return run


BUILDERS = {  # label -> (builder, gather input)
    "A   RNN op + sequence_lens": (build_rnn_op, False),
    "B   Scan per direction, mask in step": (build_scan_per_direction, False),
    "B2  Scan fused, masked projection": (build_scan_fused, False),
    "B3  Scan 2 states, scan directions": (build_scan_two_states, False),
    "C   Loop fused, masked projection": (build_loop_fused, False),
    "A/gather   Gather -> RNN op (W=I)": (build_rnn_op, True),
    "B/gather   Gather+Add -> Scan per dir": (build_scan_per_direction, True),
    "B2/gather  Gather+Add -> Scan fused": (build_scan_fused, True),
    "B3/gather  Gather+Add -> Scan 2 states": (build_scan_two_states, True),
    "D   deployed before (outer R^T, Slice -2^62)": (build_deployed_before, False),
    "D'  deployed portable (Gemm on R, Gather)": (build_deployed, False),
    "D/gather   deployed before, table": (build_deployed_before, True),
    "D'/gather  deployed portable, table": (build_deployed, True),
}
# (portable, before): their ratio per column, taken in the same run, is printed under each table
PORTABLE_PAIRS = [("D'  deployed portable (Gemm on R, Gather)", "D   deployed before (outer R^T, Slice -2^62)"),
                  ("D'/gather  deployed portable, table", "D/gather   deployed before, table")]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
TORCH = "torch eager (packed)"
TORCH_PLAIN = "torch eager (padded + mask)"  # not timed where it is wrong: bidirectional with padding


def weights(rng, dirs: int, inputs: int):
    scale = np.sqrt(6 / (inputs + H))
    W = rng.uniform(-scale, scale, (dirs, H, inputs)).astype(np.float32)
    R = rng.uniform(-np.sqrt(3 / H), np.sqrt(3 / H), (dirs, H, H)).astype(np.float32)
    b = rng.normal(0, 0.1, (dirs, H)).astype(np.float32)
    return W, R, b


def batch(rng, n: int, steps: int, lengths=None):
    """x (n, steps, F) and ids (n, steps) with garbage at padded steps, mask (n, steps), and a one-hot x."""
    if lengths is None:
        lengths = rng.integers(5, steps + 1, n)
        lengths[0] = steps
    lengths = np.asarray(lengths)
    mask = (np.arange(steps)[None, :] < lengths[:, None]).astype(np.float32)
    return {"x": rng.normal(size=(n, steps, F)).astype(np.float32),
            "ids": rng.integers(0, V, (n, steps)).astype(np.int64), "mask": mask}


def verify(rng, builders: dict) -> float:
    """Every lowering against the NumPy reference on a variable-length batch; returns the worst difference."""
    worst = 0.0
    feed = batch(rng, 7, 9, lengths=[9, 5, 1, 8, 3, 9, 2])
    for dirs in (1, 2):
        Wd, R, b = weights(rng, dirs, F)
        Wv = weights(rng, dirs, V)[0]
        want = reference(feed["x"], feed["mask"], Wd, R, b)
        onehot = np.eye(V, dtype=np.float32)[feed["ids"]]
        want_gather = reference(onehot, feed["mask"], Wv, R, b)
        checks = {label: (ort_runner(session(build(Wv if gather else Wd, R, b, gather), 1), gather),
                          want_gather if gather else want) for label, (build, gather) in builders.items()}
        checks[TORCH] = (torch_rnn(Wd, R, b), want)
        if dirs == 1:
            checks[TORCH_PLAIN] = (torch_rnn(Wd, R, b, packed=False), want)
        else:  # the plain run is right for rows without padding only
            full = feed["mask"].all(1)
            run = torch_rnn(Wd, R, b, packed=False)
            checks[TORCH_PLAIN] = (lambda f, run=run: run({k: v[full] for k, v in f.items()}), want[full])
        for label, (run, expected) in checks.items():
            got = run(feed)
            diff = float(np.abs(got - expected).max())
            if got.shape != expected.shape or not diff <= TOLERANCE:
                sys.exit(f"FAIL: {label.split()[0]} dirs={dirs}: shape {got.shape}, max abs diff {diff:.2e}")
            worst = max(worst, diff)
    return worst


def measure(runners: dict, feeds: dict, rounds: int, warmup_s: float, turn_s: float,
            clock=time.perf_counter) -> dict:
    """label -> median microseconds per call; runners/feeds keyed alike, rounds in shuffled order.
    `clock` times each call: wall time, or time.process_time (the CPU time of all this process's
    threads: the work a call does, which other processes on the machine barely change)."""
    samples = {key: [] for key in runners}
    order = list(runners)
    for _ in range(rounds):
        random.shuffle(order)
        for key in order:
            run, feed = runners[key], feeds[key]
            until = time.perf_counter() + warmup_s
            while time.perf_counter() < until:
                run(feed)
            until = time.perf_counter() + turn_s
            times = samples[key]
            while True:
                start = clock()
                run(feed)
                times.append(clock() - start)
                if time.perf_counter() >= until:
                    break
    return {key: statistics.median(values) * 1e6 for key, values in samples.items()}


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (Linux; else None)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:8]]
    except OSError:
        return None
    return sum(fields) - fields[3] - fields[4], sum(fields)


def others_busy(before, after, own_cpu_s: float) -> str:
    """The share of all CPUs that other processes used between two cpu_jiffies() readings."""
    if before is None or after is None:
        return "unknown"
    hz = os.sysconf("SC_CLK_TCK")
    busy, total = after[0] - before[0], after[1] - before[1]
    return f"{max(busy - own_cpu_s * hz, 0) / max(total, 1):.0%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (under 20 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", metavar="PREFIX",
                        help="time only the lowerings whose label starts with PREFIX (repeatable; torch always)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="time calls by wall time or by this process's CPU time (steadier on a busy machine)")
    args = parser.parse_args()
    builders = {label: value for label, value in BUILDERS.items()
                if not args.only or any(label.startswith(prefix) for prefix in args.only)}
    rounds, warmup_s, turn_s = (2, 0.01, 0.02) if args.quick else (8, 0.02, 0.06)
    random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    import torch

    began = time.perf_counter()
    worst = verify(rng, builders)
    jiffies, own = cpu_jiffies(), time.process_time()
    feeds = {n: batch(rng, n, T, lengths=[T] if n == 1 else None) for n in BATCHES}
    labels = list(builders) + [TORCH, TORCH_PLAIN]
    results = {}  # (threads, batch, dirs) -> label -> us
    for threads in THREADS:
        torch.set_num_threads(threads)
        runners, run_feeds = {}, {}
        for dirs in (1, 2):
            Wd, R, b = weights(rng, dirs, F)
            Wv = weights(rng, dirs, V)[0]
            for label, (build, gather) in builders.items():
                run = ort_runner(session(build(Wv if gather else Wd, R, b, gather), threads), gather)
                for n in BATCHES:
                    runners[(n, dirs, label)], run_feeds[(n, dirs, label)] = run, feeds[n]
            for n in BATCHES:
                runners[(n, dirs, TORCH)], run_feeds[(n, dirs, TORCH)] = torch_rnn(Wd, R, b), feeds[n]
                if dirs == 1 or feeds[n]["mask"].all():
                    runners[(n, dirs, TORCH_PLAIN)] = torch_rnn(Wd, R, b, packed=False)
                    run_feeds[(n, dirs, TORCH_PLAIN)] = feeds[n]
        # batch 1 and batch 256 measured separately, so a round's turns are about equally long
        for n in BATCHES:
            keys = [k for k in runners if k[0] == n]
            timed = measure({k: runners[k] for k in keys}, {k: run_feeds[k] for k in keys}, rounds, warmup_s, turn_s,
                            CLOCKS[args.clock])
            for (_, dirs, label), us in timed.items():
                results.setdefault((threads, n, dirs), {})[label] = us

    busy = others_busy(jiffies, cpu_jiffies(), time.process_time() - own)
    lengths = feeds[256]["mask"].sum(1)
    print(f"# Elman RNN lowerings in onnxruntime {ort.__version__} (CPU) vs torch {torch.__version__} eager\n")
    print(f"F={F} H={H} T={T} V={V}; batch 1: one sequence of {T} steps; batch 256: lengths 5..{T} "
          f"(mean {lengths.mean():.1f}). Python {platform.python_version()}, numpy {np.__version__}, "
          f"onnx {onnx.__version__}. All lowerings match the NumPy reference to {worst:.1e}.")
    print(f"Cells: median microseconds per call, {'wall time' if args.clock == 'wall' else 'process CPU time'} "
          f"(ratio to torch eager in the same column; < 1 is faster). "
          f"{rounds} shuffled rounds of {turn_s * 1000:.0f} ms turns; "
          f"other processes used {busy} of the {os.cpu_count()} CPUs' time while timing.\n")
    for threads in THREADS:
        cols = [(n, dirs) for n in BATCHES for dirs in (1, 2)]
        print(f"## threads = {threads}\n")
        print("| lowering | " + " | ".join(f"b{n} {'bi' if d == 2 else 'uni'}" for n, d in cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for label in labels:
            cells = []
            for n, dirs in cols:
                row = results[(threads, n, dirs)]
                if label not in row:
                    cells.append("n/a")
                    continue
                us, ref = row[label], row[TORCH]
                best = min(v for k, v in row.items() if not k.startswith("torch"))
                mark = "**" if us == best else ""
                cells.append(f"{mark}{us:,.0f}{mark} ({us / ref:.2f})")
            print(f"| {' '.join(label.split())} | " + " | ".join(cells) + " |")
        print()
        for portable, before in PORTABLE_PAIRS:
            if portable in labels and before in labels:
                ratios = [results[(threads, n, dirs)][portable] / results[(threads, n, dirs)][before] for n, dirs in cols]
                print(f"{portable.split()[0]} / {before.split()[0]}: " + ", ".join(f"{r:.2f}" for r in ratios) + "  ")
        print()
    print(f"(bold: fastest ONNX lowering in the column; n/a: the padded torch run is wrong there; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; total {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
