"""int8 against float in onnxruntime (issue 10, part 4): scores, sizes and speed of `specc quantize`.

For x_or_o, digits and the ATIS taggers of bench/atis/, the trained model RUNS/NAME/NAME.onnx
(trained with `specc train` there first if missing: the spec's own epochs) is quantized as
`specc quantize` does, plus the alternative it did not choose: conv static as QDQ pairs instead
of QLinearConv, or the rnn's Scan loop body left in float. Each int8 model is scored on the
held-out split against its float model, and both are timed in the same run, alternating call by
call: the median latency of one row (batch 1) and rows per second at batch 256, with one and two
onnxruntime threads.

    python bench/quantize_bench.py                 # models in runs/, trained there if missing
    python bench/quantize_bench.py --runs /tmp/runs --only x_or_o digits

Needs the data extras for digits and ATIS: pip install -e ".[data,atis]".
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import onnx  # noqa: E402

import specc  # noqa: E402
from bench.atis_f1 import machine  # noqa: E402
from specc.quantize import check_data, call_seconds, integer_ops, quantize_model, scores  # noqa: E402
from specc.run_folder import heldout_scores  # noqa: E402

SPECS = {
    "x_or_o": ROOT / "specs" / "x_or_o.nn",
    "digits": ROOT / "specs" / "digits.nn",
    "bi_elman": ROOT / "bench" / "atis" / "bi_elman.nn",
    "window_elman": ROOT / "bench" / "atis" / "window_elman.nn",
    "bi_jordan": ROOT / "bench" / "atis" / "bi_jordan.nn",
}
THREADS = (1, 2)
BATCH = 256
# (name, quantize_model's options): what specc quantize does first, then the alternative
CONV_VARIANTS = (("conv QLinearConv (chosen)", {"static_format": "qoperator"}), ("conv QDQ", {"static_format": "qdq"}))
RNN_VARIANTS = (("loop body int8 (chosen)", {"subgraphs": True}), ("loop body float", {"subgraphs": False}))


def trained(runs: Path, name: str) -> Path:
    """RUNS/NAME/NAME.onnx, trained there first if missing."""
    path = runs / name / f"{name}.onnx"
    if not path.exists():
        print(f"training {name} into {path.parent} ...", file=sys.stderr, flush=True)
        specc.load(SPECS[name]).train(out=path.parent)
    return path


def speed_cells(paths: tuple[Path, Path], xs: dict) -> list[str]:
    """Latency at batch 1 (ms, float / int8, ratio) and rows/s at batch BATCH, per thread count."""
    latency, throughput = [], []
    for threads in THREADS:
        one = call_seconds(paths, xs, batch=1, calls=200, threads=threads)
        many = call_seconds(paths, xs, batch=BATCH, calls=20, threads=threads)
        latency.append(f"{1e3 * one[0]:.3f} / {1e3 * one[1]:.3f} ({one[1] / one[0]:.2f}x)")
        throughput.append(f"{BATCH / many[0]:,.0f} / {BATCH / many[1]:,.0f} ({many[0] / many[1]:.2f}x)")
    return latency + throughput


def rows(name: str, path: Path) -> list[str]:
    """The table's rows for one trained model: each variant against the float model."""
    model = onnx.load(path)
    check = check_data(path, {p.key: p.value for p in model.metadata_props}, None)
    before = heldout_scores(path, check.model, check.split)
    conv = any(node.op_type == "Conv" for node in model.graph.node)
    found = []
    for variant, options in CONV_VARIANTS if conv else RNN_VARIANTS:
        with tempfile.TemporaryDirectory() as folder:
            int8_path = Path(folder) / "int8.onnx"
            int8_path.write_bytes(quantize_model(model, check.calibration, Path(folder), **options))
            score = scores(before, heldout_scores(int8_path, check.model, check.split), check.model)[0]
            ops = ", ".join(f"{op} {n}" for op, n in integer_ops(onnx.load(int8_path)).items())
            cells = [name, variant, ops, f"{score.metric} {score.before:.2f} -> {score.after:.2f}",
                     f"{path.stat().st_size:,} -> {int8_path.stat().st_size:,}",
                     *speed_cells((path, int8_path), check.held_out_inputs())]
        found.append("| " + " | ".join(cells) + " |")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="the run folders (default runs/)")
    parser.add_argument("--only", nargs="*", choices=sorted(SPECS), help="models to measure (default: all)")
    args = parser.parse_args()
    import onnxruntime

    print(f"# int8 vs float, onnxruntime {onnxruntime.__version__}: {machine()}")
    heads = [f"batch 1 ms, {t} thread{'s' * (t > 1)}: float / int8" for t in THREADS]
    heads += [f"rows/s at {BATCH}, {t} thread{'s' * (t > 1)}: float / int8" for t in THREADS]
    print("| model | variant | int8 operators | held-out score float -> int8 | bytes float -> int8 | "
          + " | ".join(heads) + " |")
    print("|---" * (5 + len(heads)) + "|")
    for name in args.only or SPECS:
        for row in rows(name, trained(args.runs, name)):
            print(row, flush=True)


if __name__ == "__main__":
    main()
