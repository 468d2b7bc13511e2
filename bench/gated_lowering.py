"""Which ONNX lowering of an LSTM or GRU layer is faster in onnxruntime (CPU) on padded batches:
ONNX's own LSTM / GRU op, or specc's Scan (specc/lowering/rnn.py), and whether OpenVINO and tract
load each.

Workload, as bench/rnn_lowering.py's for Elman: x (N, T, F) float and a mask (N, T, 1), 1 on
words, padding only at each row's end; one `rnn lstm|gru hidden=H [bidirectional]` layer with
random weights; the output (N, T, dirs * H), 0 on padding, the backward direction starting at
each row's last word.

  scan  specc's lowering, as the export writes it (GraphBuilder + lower_rnn), the output masked
        once at the end (as a chain's end does).
  op    ONNX's LSTM (gates reordered i, o, f, c) or GRU (z, r, h; linear_before_reset=1) with
        B = [b, Rb] and sequence_lens = ReduceSum(mask) as int32, on the time-major x; its
        output (T, dirs, N, H) made (N, T, dirs * H) by one Transpose and a Reshape.

The "loads" columns run the op model on a padded batch of 5 rows in OpenVINO and tract
(tests/other_runtimes.py) against onnxruntime: "wrong" gives the largest difference.
Both are first checked against the NumPy interpreter on a variable-length batch (<= 1e-5).
F = H = 100, T = 20; batch 1 is one full-length row, batch 256 has lengths 5..20. onnxruntime
sessions as in bench/rnn_lowering.py (optimization ALL, spinning off), 1 and 2 threads;
microseconds per call, median of the calls (bench/rnn_lowering.measure's shuffled rounds).

    python bench/gated_lowering.py            # about a minute
    python bench/gated_lowering.py --quick    # fewer rounds
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import specc  # noqa: E402
from bench.rnn_lowering import measure, session  # noqa: E402
from specc.lowering.rnn import lower_rnn  # noqa: E402
from specc.onnx_export import IR_VERSION, OPSET, GraphBuilder  # noqa: E402
from specc.runtime.interpreter import run_layers  # noqa: E402

FEATURES = HIDDEN = 100
STEPS = 20
# the gates' blocks in ONNX's order, as indices of specc's (= PyTorch's) blocks
ONNX_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}


def layer_and_weights(cell: str, dirs: int, seed: int = 0):
    """The rnn layer of `x -> rnn CELL hidden=H [bidirectional]` and its weights (biases random)."""
    net = specc.loads(f"input x: seq {FEATURES}\nx -> rnn {cell} hidden={HIDDEN}"
                      f"{' bidirectional' if dirs == 2 else ''}\n", "bench.nn", seed=seed)
    rng = np.random.default_rng(seed)
    weights = {k: (v + rng.normal(0, 0.1, v.shape)).astype(np.float32) for k, v in net.weights.items()}
    return net.model.layers[0], weights


def _model(nodes, initializers, output: str, width: int) -> bytes:
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", FEATURES]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", "T", 1])]
    graph = helper.make_graph(nodes, "bench", inputs,
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", "T", width])],
                              initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def build_scan(layer, weights) -> bytes:
    """specc's lowering of the layer, its output masked."""
    g = GraphBuilder(weights)
    g.used.update(("x", "mask"))
    g.mask = "mask"
    y = lower_rnn(g, layer, "x")
    g.write_out(y)
    g.nodes.append(helper.make_node("Mul", [y, "mask"], ["y"]))
    return _model(g.nodes, list(g.initializers.values()), "y", layer.out_shape[-1])


def _onnx_blocks(array: np.ndarray, cell: str) -> np.ndarray:
    """(dirs, G*H, ...) with its gate blocks in ONNX's order."""
    blocks = np.split(array, len(ONNX_ORDER[cell]), axis=1)
    return np.concatenate([blocks[i] for i in ONNX_ORDER[cell]], axis=1)


def build_op(layer, weights) -> bytes:
    """ONNX's LSTM or GRU op on the same weights, with sequence_lens from the mask."""
    a, cell = layer.attrs, layer.attrs.cell
    w = {name: weights[layer.weight_name(f"layer1.{name}")] for name in ("W", "R", "b", "Rb")}
    bias = np.concatenate([_onnx_blocks(w["b"][..., None], cell), _onnx_blocks(w["Rb"][..., None], cell)], axis=1)
    tensors = {"W": _onnx_blocks(w["W"], cell), "R": _onnx_blocks(w["R"], cell), "B": bias[..., 0],
               "axes": np.array([1], np.int64), "shape": np.array([0, 0, -1], np.int64)}
    initializers = [numpy_helper.from_array(np.asarray(v), k) for k, v in tensors.items()]
    direction = "bidirectional" if a.directions == 2 else "forward"
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_tnf"], perm=[1, 0, 2]),
        helper.make_node("Squeeze", ["mask", "last"], ["mask2"]),
        helper.make_node("ReduceSum", ["mask2", "axes"], ["lengths_f"], keepdims=0),
        helper.make_node("Cast", ["lengths_f"], ["lengths"], to=TensorProto.INT32),
        helper.make_node(cell.upper(), ["x_tnf", "W", "R", "B", "lengths"], ["y_tdnh"], hidden_size=a.hidden,
                         direction=direction, **extra),
        helper.make_node("Transpose", ["y_tdnh"], ["y_ntdh"], perm=[2, 0, 1, 3]),
        helper.make_node("Reshape", ["y_ntdh", "shape"], ["y"])]
    initializers.append(numpy_helper.from_array(np.array([2], np.int64), "last"))
    return _model(nodes, initializers, "y", layer.out_shape[-1])


BUILDERS = {"scan": build_scan, "op": build_op}


def batch(rng, n: int) -> dict:
    """x (n, T, F) and its mask (n, T, 1): one full row at batch 1, else lengths 5..T (one of T)."""
    lengths = np.full(n, STEPS) if n == 1 else np.concatenate([[STEPS], rng.integers(5, STEPS + 1, n - 1)])
    mask = (np.arange(STEPS)[None, :] < lengths[:, None]).astype(np.float32)
    x = rng.standard_normal((n, STEPS, FEATURES)).astype(np.float32) * mask[..., None]
    return {"x": x, "mask": mask[..., None]}


def verify(layer, weights, models: dict, rng) -> float:
    """Largest |model - interpreter| over the builders, on a batch of 7 rows of lengths 5..20."""
    feed = batch(rng, 7)
    expected = run_layers([layer], weights, feed["x"], mask=feed["mask"][..., 0])
    worst = 0.0
    for label, model in models.items():
        got = session(model, 1).run(None, feed)[0]
        worst = max(worst, float(np.abs(got - expected).max()))
        if worst > 1e-5:
            raise SystemExit(f"{layer.attrs.cell} {label}: differs from the interpreter by {worst:.3g}")
    return worst


def loads_in(runtime: str, model: bytes, feed: dict) -> str:
    """'yes' when `runtime` loads and runs the model as onnxruntime does (1e-5), else why not."""
    from tests import other_runtimes

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.onnx"
        path.write_bytes(model)
        try:
            got = next(iter(other_runtimes.load(runtime, str(path))(feed).values()))
        except BaseException as error:  # noqa: BLE001 (pytest.skip, or the runtime's own refusal)
            return f"no ({str(error).splitlines()[0][:60] if str(error) else type(error).__name__})"
    want = session(model, 1).run(None, feed)[0]
    return "yes" if np.abs(got - want).max() <= 1e-5 else f"wrong ({np.abs(got - want).max():.2g})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds, turn = (2, 0.2) if args.quick else (5, 0.5)
    rng = np.random.default_rng(0)
    print(f"F = H = {HIDDEN}, T = {STEPS}; microseconds per call (median), onnxruntime CPU; "
          "ratio op / scan in parentheses\n")
    print("| layer | batch | threads | scan | op | OpenVINO loads op | tract loads op |")
    print("|---|---|---|---|---|---|---|")
    for cell in ("lstm", "gru"):
        for dirs in (1, 2):
            layer, weights = layer_and_weights(cell, dirs)
            models = {label: build(layer, weights) for label, build in BUILDERS.items()}
            verify(layer, weights, models, rng)
            small = batch(rng, 5)
            portable = [loads_in(runtime, models["op"], small) for runtime in ("openvino", "tract")]
            for n in (1, 256):
                feed = batch(rng, n)
                for threads in (1, 2):
                    runners = {label: session(model, threads).run for label, model in models.items()}
                    timed = measure({k: (lambda run: lambda f: run(None, f))(r) for k, r in runners.items()},
                                    {k: feed for k in runners}, rounds, 0.1, turn)
                    name = f"{cell}{' bidirectional' if dirs == 2 else ''}"
                    print(f"| {name} | {n} | {threads} | {timed['scan']:,.0f} | {timed['op']:,.0f} "
                          f"({timed['op'] / timed['scan']:.2f}) | {portable[0]} | {portable[1]} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
