"""`specc predict` on a million digits-shaped images: rows/s of the local engine and of the Ray
engine, at 1 and 2 threads, in the same run, and the outputs of every run compared byte for byte.

The data set is made on the fly: 1,000,000 (1, 8, 8) float32 images of uniform noise in [0, 16)
(the range of the digits' pixels), in one uncompressed .npz of 256 MB, or with --files K in K
files of equal size. The model is specs/digits.nn exported with its initial weights (a conv of 16
filters, pooling, a dense layer, softmax and the class-name head; the timing does not depend on
the weights).

    local  K   specc.predict.predict(engine="local", threads=K): one onnxruntime session of K threads
    ray    K   predict(engine="ray", workers=K): K Ray Data workers of one thread each, on a local Ray
               cluster of 2 CPUs started once before the runs (its start is timed apart)

    python bench/predict_bench.py                 # 1,000,000 rows, batch 1024
    python bench/predict_bench.py --rows 200000 --files 4
"""
from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import background_busy  # noqa: E402
from bench.serve_bench import machine  # noqa: E402
from bench.serve_ray_bench import table_header  # noqa: E402


def make_data(folder: Path, rows: int, files: int) -> Path:
    """`rows` noise images (1, 8, 8) in `files` .npz files under folder/data (one file: its path)."""
    rng = np.random.default_rng(0)
    data = folder / "data"
    data.mkdir()
    for k, part in enumerate(np.array_split(np.arange(rows), files)):
        images = rng.uniform(0, 16, size=(len(part), 1, 8, 8)).astype(np.float32)
        np.savez(data / f"part{k:03d}.npz", image=images)
    return data if files > 1 else data / "part000.npz"


def timed(model: Path, data: Path, out: Path, batch: int, engine: str, count: int) -> float:
    """Seconds of one predict run with `count` threads (local) or workers (ray)."""
    from specc.predict import predict

    started = time.perf_counter()
    predict(model, data, out, batch, engine=engine, threads=count if engine == "local" else None,
            workers=count if engine == "ray" else None)
    return time.perf_counter() - started


def main(argv=None) -> int:
    import ray

    import specc

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--counts", nargs="+", type=int, default=[1, 2], help="threads (local) and workers (ray)")
    args = parser.parse_args(argv)
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}, Ray {ray.__version__}")
    print(f"other work on the machine at the start: {background_busy():.0%} of the CPUs busy")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model = folder / "digits.onnx"
        specc.load(ROOT / "specs" / "digits.nn").export(model)
        data = make_data(folder, args.rows, args.files)
        print(f"{args.rows:,} images (1, 8, 8) in {args.files} .npz file(s), batch {args.batch}")
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        print(f"the local Ray cluster started in {time.perf_counter() - started:.1f} s (not counted below)\n")
        print(table_header("engine", "threads or workers", "seconds", "rows/s", "output equal to local, 1 thread"))
        first, unequal = None, 0
        for engine in ("local", "ray"):
            for count in args.counts:
                out = folder / f"{engine}{count}.npz"
                seconds = timed(model, data, out, args.batch, engine, count)
                first = first or out.read_bytes()
                same = out.read_bytes() == first
                unequal += not same
                print(f"| {engine} | {count} | {seconds:.2f} | {args.rows / seconds:,.0f} | {'yes' if same else 'NO'} |",
                      flush=True)
        ray.shutdown()
    print(f"\nother work on the machine at the end: {background_busy():.0%} of the CPUs busy")
    return 1 if unequal else 0


if __name__ == "__main__":
    sys.exit(main())
