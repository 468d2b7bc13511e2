"""Portable models in other runtimes: agreement with onnxruntime and latency, for every spec in specs/.

Each spec is compiled with `specc compile --portable` (untrained weights: agreement and speed do
not depend on training) and run on the same feeds in onnxruntime (the portable model, and the
default export for comparison), OpenVINO (CPU, INFERENCE_PRECISION_HINT=f32), tract and
onnx2torch (PyTorch eager), loaded through tests/other_runtimes.py. Reported per spec and runtime:
the largest difference from onnxruntime over every output and both feed sizes of
tests/other_runtimes.SIZES (absolute, relative above 1; the class indices must be equal), and
the median wall time of one call on a batch of 32 (sequences: 32 sentences of up to 20 words),
at 1 and 2 threads. The default export's time includes its string handling (words in, class
names out), the portable model's does not (specc maps words to ids before the call).

    python bench/portable_bench.py            # --quick: fewer repeats; --json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import background_busy  # noqa: E402
from tests import other_runtimes  # noqa: E402

BATCH, LENGTH = 32, 20
RUNTIMES = ("onnxruntime", *other_runtimes.RUNTIMES)


def _onnxruntime(path: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda feeds: dict(zip(names, session.run(None, dict(feeds))))


def _runner(runtime: str, path: str, threads: int):
    """A runner of the model at `path` in `runtime`, on `threads` threads where it has the setting."""
    return _onnxruntime(path, threads) if runtime == "onnxruntime" else other_runtimes.load(runtime, path, threads)


def _worst(expected: dict, got: dict) -> float:
    """Largest difference over the float outputs (absolute, relative above 1); inf if an index differs."""
    worst = 0.0
    for name, value in expected.items():
        if value.dtype.kind != "f":
            if not np.array_equal(value, got[name]):
                return float("inf")
        elif value.size:
            worst = max(worst, float((np.abs(value - got[name]) / np.maximum(np.abs(value), 1)).max()))
    return worst


def _median_ms(run, feeds, repeats: int) -> float:
    run(feeds)  # warm-up: first-call allocations and compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(feeds)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def measure(name: str, folder: Path, repeats: int) -> dict:
    """One spec: its agreement and latency in every runtime, at 1 and 2 threads."""
    import specc
    from specc.portable import encode_words
    from specc.verify import random_inputs

    net = specc.load(ROOT / "specs" / f"{name}.nn")
    portable = net.export(folder / f"{name}.portable.onnx", portable=True)
    default = net.export(folder / f"{name}.onnx")
    assert portable.ok and default.ok, name
    metadata = specc.load_onnx(portable.path).metadata
    checks = other_runtimes.feeds_at(net.model, metadata)
    words = random_inputs(net.model, BATCH, LENGTH, np.random.default_rng(1))
    timed = encode_words(metadata, words)
    row = {"spec": name, "diff": {}, "ms": {}}
    reference = _onnxruntime(str(portable.path), 1)
    for runtime in RUNTIMES:
        for threads in (1, 2):
            try:
                run = _runner(runtime, str(portable.path), threads)
            except NotImplementedError as refused:  # onnx2torch: no Scan converter
                row["diff"][runtime] = f"refused: {str(refused)[:60]}"
                break
            if threads == 1:
                row["diff"][runtime] = max(_worst(reference(f), run(f)) for f in checks)
            row["ms"][f"{runtime}/{threads}"] = _median_ms(run, timed, repeats)
    for threads in (1, 2):
        run = _onnxruntime(str(default.path), threads)
        row["ms"][f"default/{threads}"] = _median_ms(run, words, repeats)
    return row


def report(results: dict) -> None:
    print(f"machine: {results['machine']}, {results['date']}, CPU busy with other work: {results['busy']}")
    print(f"batch {BATCH} (sequences: up to {LENGTH} words); median ms per call, 1 / 2 threads\n")
    print("| spec | " + " | ".join(RUNTIMES) + " | default export (ORT) |")
    print("|---|" + "---:|" * (len(RUNTIMES) + 1))
    for row in results["rows"]:
        cells = []
        for runtime in RUNTIMES + ("default",):
            if f"{runtime}/1" not in row["ms"]:
                cells.append("refused (no Scan)")
                continue
            diff = row["diff"].get(runtime)
            shown = "" if runtime in ("onnxruntime", "default") else f" ({diff:.1g})"
            cells.append(f"{row['ms'][f'{runtime}/1']:.2f} / {row['ms'][f'{runtime}/2']:.2f}{shown}")
        print(f"| {row['spec']} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 repeats instead of 100")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    names = sorted(p.stem for p in (ROOT / "specs").glob("*.nn"))
    busy = background_busy()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(name, Path(folder), 20 if args.quick else 100) for name in names]
    results = {"machine": f"{platform.machine()} {os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d"),
               "busy": None if busy is None else f"{busy:.0%}", "rows": rows}
    if args.json:
        print(json.dumps(results, default=str))
    else:
        report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
