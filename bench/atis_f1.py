"""Slot F1 on the ATIS test set, as conlleval counts it, from the exported ONNX models.

Each configuration is a spec trained by specc (NumPy) on the benchmark's split (the first
4,478 train+dev utterances to train, the last 500 to validate, the 893 test utterances to
score), keeping the epoch best on validation, or, for the final fit (specs/atis_lstm_all.nn,
`validation 0`), on all 4,978 for the chosen configuration's epochs, keeping the last; the
score is that of the exported model run in onnxruntime. Configurations: specs/slots_elman.nn, the Elman and Jordan architecture specs in
bench/atis/, specs/slots_bi.nn and specs/slots_hash.nn, and the LSTM and GRU taggers: 1-of-N in
bench/atis/, and word hashing on slots_hash's network (the LSTM's is specs/atis_lstm.nn), each for
`--epochs` epochs and every seed of `--seeds`.

    python bench/atis_f1.py                       # every configuration, seeds 0 1 2
    python bench/atis_f1.py --only slots_bi --seeds 0

Needs the ATIS data: pip install -e ".[atis]".
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402

CONFIGS = {
    "slots_elman": ("Elman", ROOT / "specs" / "slots_elman.nn"),
    "bi_elman": ("bidirectional Elman", ROOT / "bench" / "atis" / "bi_elman.nn"),
    "window_elman": ("Elman, 3-word window", ROOT / "bench" / "atis" / "window_elman.nn"),
    "bi_jordan": ("bidirectional Jordan", ROOT / "bench" / "atis" / "bi_jordan.nn"),
    "slots_bi": ("deep bidirectional Elman, window, dropout", ROOT / "specs" / "slots_bi.nn"),
    "slots_hash": ("the same with word hashing", ROOT / "specs" / "slots_hash.nn"),
    "bi_lstm": ("bidirectional LSTM", ROOT / "bench" / "atis" / "bi_lstm.nn"),
    "bi_gru": ("bidirectional GRU", ROOT / "bench" / "atis" / "bi_gru.nn"),
    "atis_lstm": ("deep bidirectional LSTM, word hashing, window, dropout", ROOT / "specs" / "atis_lstm.nn"),
    "bi_gru_hash": ("deep bidirectional GRU, word hashing, window, dropout",
                    ROOT / "bench" / "atis" / "bi_gru_hash.nn"),
    "lstm_hash_onehot": ("deep bidirectional LSTM, word hashing and 1-of-N, window, dropout",
                         ROOT / "bench" / "atis" / "lstm_hash_onehot.nn"),
    "lstm_e40": ("specs/atis_lstm.nn for 40 epochs", ROOT / "bench" / "atis" / "lstm_e40.nn"),
    "lstm_h150": ("specs/atis_lstm.nn with 150 hidden units", ROOT / "bench" / "atis" / "lstm_h150.nn"),
    "lstm_crf": ("specs/atis_lstm.nn with a crf output layer", ROOT / "bench" / "atis" / "lstm_crf.nn"),
    "atis_lstm_all": ("lstm_e40 refit on all 4,978 train+dev utterances, the last epoch kept",
                      ROOT / "specs" / "atis_lstm_all.nn"),
}


def run(path: Path, seed: int, epochs: int | None) -> tuple[float, float, int, float | None]:
    """(test F1 in %, minutes, kept epoch, validation F1 in % of the kept epoch, None for a final
    fit that validates on nothing) of one training run. Configurations are compared by the
    validation F1, never by the test's."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = specc.load(path, data="atis", seed=seed).train("atis", seed=seed, epochs=epochs, out=out)
    kept = next(r for r in result.history if r["epoch"] == result.kept_epoch) if result.kept_epoch else result.history[-1]
    validation = None if kept["val_f1"] is None else 100 * kept["val_f1"]
    return 100 * result.heldout_f1, (time.perf_counter() - started) / 60, result.kept_epoch or kept["epoch"], validation


def machine() -> str:
    """The processor, its CPU count and today's date, for the results table."""
    import datetime
    import os
    import platform

    name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{name}, {os.cpu_count()} CPUs, {datetime.date.today()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="configurations to run (default: all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override every spec's epochs")
    args = parser.parse_args()
    print(f"# ATIS slot F1 (test, conlleval, exported ONNX model) - {machine()}")
    print("| configuration | spec | F1 per seed | mean F1 | validation F1 per seed (mean) | minutes per run | "
          "kept epochs |")
    print("|---|---|---|---:|---|---:|---|")
    for key in args.only or CONFIGS:
        title, path = CONFIGS[key]
        runs = [run(path, seed, args.epochs) for seed in args.seeds]
        scores, validation = [r[0] for r in runs], [r[3] for r in runs]
        validated = (f"{', '.join(f'{f:.2f}' for f in validation)} ({statistics.mean(validation):.2f})"
                     if None not in validation else "- (trained on it)")
        print(f"| {title} | {path.relative_to(ROOT)} | {', '.join(f'{f:.2f}' for f in scores)} | "
              f"{statistics.mean(scores):.2f} | {validated} | {statistics.mean(r[1] for r in runs):.1f} | "
              f"{', '.join(str(r[2]) for r in runs)} |", flush=True)


if __name__ == "__main__":
    main()
