"""Inference benchmark: specc's ONNX export against PyTorch on a digits-sized CNN.

The network is 1x8x8 -> conv 3x3, 16 filters, padding 1 -> relu -> maxpool 2 -> flatten ->
dense 10 -> softmax, written as a specc spec (SPEC below). One run measures these back ends,
all with the same weights (specc's seeded `Network.weights`, copied into PyTorch):

  specc-onnx   specc's exported model (`Network.to_onnx`) in onnxruntime, CPUExecutionProvider
  torch-onnx   the same network built in PyTorch, exported by `torch.onnx.export(dynamo=False,
               opset_version=17)` with a dynamic batch axis, in onnxruntime with the same options
  torch-eager  the PyTorch module itself under `torch.inference_mode`
  specc-numpy  specc's NumPy interpreter (`Network.run`)
  specc-onnx+names  the classifier variant in onnxruntime, every output fetched

Each back end takes a float32 NumPy batch and returns the softmax probabilities as NumPy.
The spec's output is a raw tensor, so specc's model does the same work as torch's; a fifth row,
specc-onnx+names, times the same network declared as a classifier, whose model also computes
the predicted class names (ArgMax -> LabelEncoder), as `specc run` fetches them. First the four must
agree on a random batch (largest absolute difference at most 1e-4, or the script stops). Then it
measures batch-1 latency (median of 1,000 timed calls, microseconds) and batch-256 throughput
(images per second, from the median of 50 timed calls), with onnxruntime's intra_op_num_threads
and torch.set_num_threads fixed to the same `--threads` (default 2). The timed calls are taken in
10 rounds that visit the back ends in a shuffled order, so that drift in a shared machine's speed
falls on all four alike; each back end's turn starts with 50 ms of untimed calls, long enough for
the previous back end's thread pool (onnxruntime's, OpenMP's, OpenBLAS's) to stop spinning on
the cores it needs. It also times start-up: `specc check specs/x_or_o.nn` and
`specc compile specs/x_or_o.nn -o TMP`, each a fresh `python -m specc.cli` subprocess, median
of 5, next to `python -c pass` (the interpreter's own start-up, for scale). Targets (PASS/FAIL;
the exit status is 1 if any fails):

  specc-onnx latency / torch-onnx latency   <= 1.05
  torch-eager latency / specc-onnx latency  >= 4
  specc check wall time                     < 0.25 s
  specc compile wall time                   < 1 s

Run from the repository root (needs torch, `pip install -e .[bench]`):

    python bench/infer_bench.py [--threads 2] [--json]
"""
from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402  (importable from the checkout without installing)
from bench.common import background_busy, finish  # noqa: E402

SPEC = """\
model digits_cnn
input image: 1x8x8
output digit
image -> conv 3x3 filters=16 padding=1 -> relu -> maxpool 2 -> flatten -> dense 10 -> softmax
"""
# The same network as a classifier: its model also outputs the predicted class names
# (ArgMax -> LabelEncoder), work that torch's export does not do. Same lines, same weights.
CLASSIFIER_SPEC = SPEC.replace("output digit", "output digit: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9")
INPUT, OUTPUT = "image", "digit"
STARTUP_SPEC = "specs/x_or_o.nn"
AGREEMENT_TOLERANCE = 1e-4
ROUNDS, WARMUP_S = 10, 0.05
LATENCY_CALLS = 100  # per back end and round: 1,000 timed calls in all
THROUGHPUT_BATCH, THROUGHPUT_CALLS = 256, 5  # 50 timed calls in all
STARTUP_RUNS = 5

Runner = Callable[[np.ndarray], np.ndarray]


def torch_module(net: specc.Network) -> torch.nn.Module:
    """The spec's network as a torch.nn.Sequential holding specc's weights."""
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(256, 10), torch.nn.Softmax(dim=1))
    conv, dense = module[0], module[4]
    with torch.no_grad():  # specc names weights after the layer's id, here all on line 4 of SPEC
        for parameter, key in ((conv.weight, "conv@4.weight"), (conv.bias, "conv@4.bias"),
                               (dense.weight, "dense@4.weight"), (dense.bias, "dense@4.bias")):
            value = torch.from_numpy(np.asarray(net.weights[key], np.float32))
            if parameter.shape != value.shape:
                raise SystemExit(f"weight {key}: specc has {tuple(value.shape)}, torch wants {tuple(parameter.shape)}")
            parameter.copy_(value)
    return module.eval()


def torch_onnx(module: torch.nn.Module) -> onnx.ModelProto:
    """Export the module with the TorchScript exporter (opset 17, dynamic batch axis)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "legacy TorchScript-based exporter"
        torch.onnx.export(module, (torch.zeros(1, 1, 8, 8),), buffer, dynamo=False, opset_version=17,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "N"}, OUTPUT: {0: "N"}})
    return onnx.load_from_string(buffer.getvalue())


def ort_runner(proto: onnx.ModelProto, threads: int, every_output: bool = False) -> Runner:
    """An onnxruntime CPU session (default graph optimizations, sequential, no thread spinning)
    returning the probabilities; with `every_output` it also computes the class names."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle sessions' spinning threads otherwise steal the two cores from the one being timed,
    # and which session suffers depends on the order they were made in.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    fetch = None if every_output else [OUTPUT]
    return lambda x: session.run(fetch, {INPUT: x})[0]


def eager_runner(module: torch.nn.Module) -> Runner:
    """PyTorch eager under inference_mode, NumPy in and out (zero-copy conversions)."""
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()
    return run


def numpy_runner(net: specc.Network) -> Runner:
    """specc's NumPy interpreter."""
    return lambda x: net.run({INPUT: x})[OUTPUT]


def check_agreement(runners: dict[str, Runner], x: np.ndarray) -> dict[str, float]:
    """Largest absolute difference of each back end from specc-numpy; exits if any exceeds the tolerance."""
    reference = runners["specc-numpy"](x)
    diffs = {name: float(np.max(np.abs(run(x) - reference))) for name, run in runners.items()}
    bad = {name: d for name, d in diffs.items() if not d <= AGREEMENT_TOLERANCE}
    if bad:
        raise SystemExit(f"back ends disagree with specc-numpy beyond {AGREEMENT_TOLERANCE:g}: {bad}")
    return diffs


def timed_calls(run: Runner, x: np.ndarray, calls: int) -> list[float]:
    """Seconds taken by each of `calls` calls of run(x), after WARMUP_S seconds of untimed calls."""
    warm_until = time.perf_counter() + WARMUP_S
    while time.perf_counter() < warm_until:
        run(x)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return times


def median_call_s(runners: dict[str, Runner], x: np.ndarray, calls: int) -> dict[str, float]:
    """Median seconds per call of each back end over ROUNDS rounds of `calls` timed calls.

    Each round visits the back ends in a fresh random order (seeded): a rotation would keep
    every back end behind the same neighbour, whose spinning threads would then always slow it.
    """
    names = list(runners)
    order = np.random.default_rng(0)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(ROUNDS):
        for name in order.permutation(names):
            times[name] += timed_calls(runners[name], x, calls)
    return {name: statistics.median(values) for name, values in times.items()}


def latency_us(runners: dict[str, Runner], rng: np.random.Generator) -> dict[str, float]:
    """Median batch-1 latency of each back end in microseconds."""
    x = rng.random((1, 1, 8, 8), dtype=np.float32)
    return {name: s * 1e6 for name, s in median_call_s(runners, x, LATENCY_CALLS).items()}


def throughput(runners: dict[str, Runner], rng: np.random.Generator) -> dict[str, float]:
    """Images per second of each back end at batch 256, from the median call time."""
    x = rng.random((THROUGHPUT_BATCH, 1, 8, 8), dtype=np.float32)
    return {name: THROUGHPUT_BATCH / s
            for name, s in median_call_s(runners, x, THROUGHPUT_CALLS).items()}


def startup_seconds(*arguments: str) -> float:
    """Median wall time of `python ARGUMENTS...` run as a subprocess from the repository root."""
    times = []
    for _ in range(STARTUP_RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, *arguments], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def node_list(proto: onnx.ModelProto) -> list[str]:
    """The graph's nodes in order, as 'OpType' (with its domain when not the default one)."""
    return [f"{n.domain}.{n.op_type}" if n.domain else n.op_type for n in proto.graph.node]


def targets(latency: dict[str, float], check_s: float, compile_s: float) -> list[dict]:
    """Each target: what it measures, the measured value, the bound and whether it passed."""
    onnx_ratio = latency["specc-onnx"] / latency["torch-onnx"]
    eager_ratio = latency["torch-eager"] / latency["specc-onnx"]
    rows = [("specc-onnx / torch-onnx latency", onnx_ratio, "<=", 1.05),
            ("torch-eager / specc-onnx latency", eager_ratio, ">=", 4.0),
            ("specc check wall time (s)", check_s, "<", 0.25),
            ("specc compile wall time (s)", compile_s, "<", 1.0)]
    passed = {"<=": lambda v, b: v <= b, ">=": lambda v, b: v >= b, "<": lambda v, b: v < b}
    return [{"target": name, "value": value, "bound": f"{op} {bound:g}", "pass": passed[op](value, bound)}
            for name, value, op, bound in rows]


def measure(threads: int) -> dict:
    """Build the four back ends, check they agree, and take every measurement."""
    busy = background_busy()
    torch.set_num_threads(threads)
    net = specc.loads(SPEC, file="digits_cnn.nn")
    module = torch_module(net)
    specc_proto, torch_proto = net.to_onnx(), torch_onnx(module)
    classifier_proto = specc.loads(CLASSIFIER_SPEC, file="digits_cnn.nn").to_onnx()
    runners = {"specc-onnx": ort_runner(specc_proto, threads), "torch-onnx": ort_runner(torch_proto, threads),
               "specc-onnx+names": ort_runner(classifier_proto, threads, every_output=True),
               "torch-eager": eager_runner(module), "specc-numpy": numpy_runner(net)}
    rng = np.random.default_rng(0)
    diffs = check_agreement(runners, rng.random((64, 1, 8, 8), dtype=np.float32))
    latency, rate = latency_us(runners, rng), throughput(runners, rng)
    python_s = startup_seconds("-c", "pass")
    check_s = startup_seconds("-m", "specc.cli", "check", STARTUP_SPEC)
    with tempfile.TemporaryDirectory() as tmp:
        compile_s = startup_seconds("-m", "specc.cli", "compile", STARTUP_SPEC,
                                    "-o", str(Path(tmp) / "x_or_o.onnx"), "--quiet")
    return {
        "threads": threads,
        "background_cpu_busy_at_start": busy,
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__, "torch": torch.__version__},
        "max_abs_diff_vs_specc_numpy": diffs,
        "latency_us_batch1": latency,
        "throughput_images_per_s_batch256": rate,
        "startup_s": {"python -c pass": python_s, "check": check_s, "compile": compile_s},
        "targets": targets(latency, check_s, compile_s),
        "onnx_nodes": {"specc-onnx": node_list(specc_proto), "torch-onnx": node_list(torch_proto)},
    }


def print_report(results: dict) -> None:
    """The results as plain-text tables."""
    busy = results["background_cpu_busy_at_start"]
    print(f"digits_cnn, threads={results['threads']}, CPU busy before start "
          f"{'unknown' if busy is None else f'{busy:.0%}'}, "
          + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    print(f"\n{'back end':<12} {'vs numpy':>10} {'batch-1 latency (us)':>21} {'batch-256 (images/s)':>21}")
    for name, latency in results["latency_us_batch1"].items():
        print(f"{name:<12} {results['max_abs_diff_vs_specc_numpy'][name]:>10.1e} {latency:>21.1f} "
              f"{results['throughput_images_per_s_batch256'][name]:>21,.0f}")
    print("\nstart-up (s): " + ", ".join(f"{k} {v:.3f}" for k, v in results["startup_s"].items()))
    print(f"\n{'target':<34} {'measured':>9}  {'bound':<7} result")
    for row in results["targets"]:
        print(f"{row['target']:<34} {row['value']:>9.3f}  {row['bound']:<7} {'PASS' if row['pass'] else 'FAIL'}")
    print()
    for name, nodes in results["onnx_nodes"].items():
        print(f"{name} nodes ({len(nodes)}): {' -> '.join(nodes)}")


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, measure, print; exit status 1 if any target failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op and torch threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    results = measure(args.threads)
    return finish(results, args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
