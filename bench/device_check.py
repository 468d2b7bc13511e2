"""CUDA against the CPU in onnxruntime, for every spec in specs/ (issue 10, part 5).

Each spec is compiled with its seeded random weights (word specs take their vocabulary from the
built-in flights data, so nothing needs downloading) and run by onnxruntime on the CPU and with
the CUDA provider on the same inputs, at batch 1 and 256 (sequences of 9 steps). Prints, per spec,
the largest difference of the numeric outputs (absolute, relative above 1, as `specc compile`
measures), whether the class names agree, and rows per second on each device.

    bench/device_check.sh                   # every spec in specs/
    bench/device_check.sh specs/x_or_o.nn   # some

Exit status: 0 when every output agrees within 1e-4; 1 on a mismatch; 2 where onnxruntime has no
CUDA provider (or it cannot start): the CPU half is then run and timed, and nothing is compared.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402
from specc.errors import SpecError  # noqa: E402
from specc.runtime.onnx_runner import OnnxModel, providers_for  # noqa: E402

TOLERANCE = 1e-4
BATCHES = (1, 256)
STEPS = 9  # the length of every generated sequence
# seen and unseen words, a capital and an empty-padded tail: what a tagger meets
WORDS = ("arrive", "in", "Taipei", "on", "November", "2nd", "leave", "Boston", "at", "noon", "Zanzibar", "flights")
SECONDS = 0.5  # each throughput is measured for at least this long


def inputs_for(session: OnnxModel, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded inputs of `batch` rows for every input of the model: grey levels in [0, 1) for
    numbers, sentences of 1..STEPS words padded with "" for words."""
    feeds = {}
    for name, shape in session.inputs.items():
        if name in session.word_inputs:
            lengths = rng.integers(1, STEPS + 1, batch)
            feeds[name] = np.array([[WORDS[i] for i in rng.integers(0, len(WORDS), n)] + [""] * (STEPS - n)
                                    for n in lengths], dtype=object)
        else:
            dims = [batch] + [d if isinstance(d, int) else STEPS for d in shape[1:]]
            feeds[name] = rng.random(dims, dtype=np.float32)
    return feeds


def largest_difference(cpu: dict, gpu: dict) -> tuple[float, int]:
    """(largest difference of the numeric outputs, absolute where a value is at most 1 and relative
    above; how many class names differ)."""
    worst, names = 0.0, 0
    for name, value in cpu.items():
        if value.dtype.kind in "OUS":
            names += int((value != gpu[name]).sum())
        elif value.size:
            worst = max(worst, float((np.abs(value - gpu[name]) / np.maximum(1.0, np.abs(value))).max()))
    return worst, names


def rows_per_second(session: OnnxModel, feeds: dict) -> float:
    """Rows per second of repeated calls on `feeds`, for at least SECONDS (the first call not timed)."""
    session.run(feeds)
    rows, calls, started = len(next(iter(feeds.values()))), 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS or calls < 3:
        session.run(feeds)
        calls += 1
    return rows * calls / (time.perf_counter() - started)


def check(spec: Path, cuda: bool) -> bool:
    """Compile `spec`, run it on both devices (or the CPU only) and print its row. True if it agrees."""
    model = specc.load(spec, data="flights").to_onnx().SerializeToString()
    cpu = OnnxModel(model, providers_for("cpu"))
    gpu = OnnxModel(model, providers_for("cuda")) if cuda else None
    rng = np.random.default_rng(0)
    cells, ok = [], True
    for batch in BATCHES:
        feeds = inputs_for(cpu, batch, rng)
        speeds = [rows_per_second(cpu, feeds)]
        if gpu is not None:
            difference, names = largest_difference(cpu.run(feeds), gpu.run(feeds))
            ok &= difference <= TOLERANCE and names == 0
            speeds.append(rows_per_second(gpu, feeds))
            cells.append(f"{difference:.2e}" + (f", {names} names differ" if names else ""))
        cells.append(" / ".join(f"{speed:,.0f}" for speed in speeds))
    result = "CPU only" if gpu is None else "ok" if ok else "MISMATCH"
    print(f"| {spec.name} | " + " | ".join(cells) + f" | {result} |", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path, help="specs to check (default: every spec in specs/)")
    specs = parser.parse_args().specs or sorted((ROOT / "specs").glob("*.nn"))
    try:
        providers_for("cuda")
        cuda = True
    except SpecError as error:
        print(f"no CUDA: {error.message}\n  {error.hint}\nrunning the CPU half only: nothing is compared", flush=True)
        cuda = False
    import onnxruntime

    print(f"# onnxruntime {onnxruntime.__version__}, providers {', '.join(onnxruntime.get_available_providers())}")
    if cuda:
        print("| spec | max diff, batch 1 | rows/s CPU / CUDA, batch 1 | max diff, batch 256 "
              "| rows/s CPU / CUDA, batch 256 | result |\n|---|---|---|---|---|---|")
    else:
        print("| spec | rows/s CPU, batch 1 | rows/s CPU, batch 256 | result |\n|---|---|---|---|")
    try:
        agree = [check(spec, cuda) for spec in specs]
    except SpecError as error:  # a provider that is installed but cannot start (no GPU, missing libraries)
        print(f"no CUDA: {error.message}\n  {error.hint}", flush=True)
        return 2
    if not cuda:
        return 2
    print(f"{sum(agree)} of {len(agree)} specs agree within {TOLERANCE:g}")
    return 0 if all(agree) else 1


if __name__ == "__main__":
    sys.exit(main())
