"""The files of a training run besides the checkpoint: history.json, the training curve, and
the held-out scores of the exported model (heldout.json)."""
from __future__ import annotations

import hashlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np

from .atomic import check_folder, destination, read_bounded, write_atomically
from .errors import SpecError

HELDOUT = "heldout.json"
HELDOUT_LIMIT = 64 << 10  # bytes of a heldout.json read back: one output's scores take about 200
HELDOUT_KEYS = ("split", "count", "epoch", "weights", "weights_sha256", "outputs")
_FRACTIONS = ("accuracy", "precision", "recall", "f1")  # the scores heldout_scores gives in 0..1; "mse" is >= 0


def run_files(model_name: str) -> tuple[str, ...]:
    """The names of the files a training run writes in its folder."""
    return ("checkpoint.npz", "best.npz", "history.json", "curve.png", HELDOUT, f"{model_name}.onnx")


def check_run_folder(out_dir: Path, model_name: str) -> None:
    """Before training: SpecError unless the run folder can be made or written and each run
    file in it is new or a regular file, so no run learns this only after its first epoch."""
    check_folder(out_dir)
    for name in run_files(model_name):
        destination(out_dir / name)


def write_history(out_dir: Path, history: list[dict]) -> tuple[str, ...]:
    """history.json always; curve.png (loss and accuracy per epoch) when matplotlib is
    installed. Returns the names of the files written."""
    write_atomically(out_dir / "history.json", json.dumps(history, indent=1).encode())
    try:
        import matplotlib
    except ImportError:
        return ("history.json",)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.5))
    for axes, key, scale, label in ((loss_axes, "loss", 1, "loss"), (accuracy_axes, "accuracy", 100, "accuracy (%)")):
        for prefix, name in (("train_" if key == "accuracy" else "", "train"), ("val_", "validation")):
            values = [r[prefix + key] for r in history]
            if values and None not in values:  # regressions have no accuracy, tiny data sets no validation
                axes.plot(epochs, [scale * v for v in values], label=name)
        axes.set(xlabel="epoch", ylabel=label)
        if axes.lines:
            axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_atomically(out_dir / "curve.png", buffer.getvalue())
    return ("history.json", "curve.png")


def heldout_scores(onnx_path: Path, model, split) -> dict[str, dict]:
    """The exported model's scores in onnxruntime on a held-out split, by output: a classifier's
    `accuracy`, and for sentences (per word) also slot `precision`, `recall` and `f1` from the
    predicted tag names, as conlleval counts them; a raw output's mean squared error `mse`.
    {} for an empty split."""
    from specc.runtime.onnx_runner import OnnxModel
    from specc.runtime.train import columns

    from .portable import WordsRunner

    xs, ys = columns(split, model)
    if len(split) == 0:
        return {}
    session = WordsRunner(OnnxModel(str(onnx_path)))  # a portable model's words mapped to its ids
    sums = {output.name: {"correct": 0, "squares": 0.0, "true": [], "predicted": []} for output in model.outputs}
    for start in range(0, len(split), 1024):
        outputs = session.run({name: x[start:start + 1024] for name, x in xs.items()})
        for output in model.outputs:
            y = ys[output.name][start:start + 1024]
            mask = _mask_of(model, output, xs, start)
            _add_batch(sums[output.name], output, outputs, y, mask)
    return {output.name: _scores(sums[output.name], output, len(split)) for output in model.outputs}


def _mask_of(model, output, xs: dict, start: int):
    """The padding mask of a per-word output's batch (its chain's words), else None."""
    from specc.runtime.interpreter import padding_mask

    chain = next(c for c in model.chains if c.output is not None and c.output.name == output.name)
    words = chain.mask_source or next((name for name, x in xs.items() if padding_mask(x[:1]) is not None), None)
    if words is None or len(model.value_shape(output.name)) < 3:
        return None
    return padding_mask(xs[words][start:start + 1024])


def _add_batch(sums: dict, output, outputs: dict, y, mask) -> None:
    """Add one batch's predictions of an output to its sums."""
    from specc.runtime.metrics import tag_rows

    if not output.classes:
        sums["squares"] += float(((outputs[output.name] - y) ** 2).mean(axis=tuple(range(1, y.ndim))).sum())
    elif mask is None:
        sums["correct"] += int((np.argmax(outputs[output.name], axis=-1) == y).sum())
    else:
        batch_tags = tag_rows(y, mask, output.classes)
        sums["true"] += batch_tags
        sums["predicted"] += [list(row[:len(tags)]) for row, tags in zip(outputs[output.class_output_name], batch_tags)]


def _scores(sums: dict, output, count: int) -> dict:
    """An output's held-out scores from its sums over `count` samples."""
    from specc.runtime.metrics import slot_scores, token_accuracy

    if not output.classes:
        return {"mse": sums["squares"] / count}
    if not sums["true"]:
        return {"accuracy": sums["correct"] / count}
    precision, recall, f1 = slot_scores(sums["true"], sums["predicted"])
    return {"accuracy": token_accuracy(sums["true"], sums["predicted"]), "precision": precision, "recall": recall,
            "f1": f1}


def heldout_lines(by_output: dict, split_name: str, count: int) -> list[str]:
    """Lines saying each output's held-out scores, for a spec with several outputs (one output:
    the command's own lines say them, as ever)."""
    if len(by_output) < 2:
        return []
    lines = [f"held-out scores in onnxruntime ({split_name} split, {count:,} samples):"]
    for name, scores in by_output.items():
        if "mse" in scores:
            lines.append(f"  {name}: mean squared error {scores['mse']:.4g}")
        else:
            f1 = f", slot F1 {100 * scores['f1']:.1f}" if "f1" in scores else ""
            lines.append(f"  {name}: accuracy {100 * scores['accuracy']:.1f}%{f1}")
    return lines


# ---- heldout.json: the exported model's held-out scores, kept beside its weights ----

def forget_earlier(out_dir: Path, new_run: bool) -> None:
    """Before training changes the weights: remove heldout.json, so that a run stopped before
    scoring leaves no score of other weights in its folder, and for a new run (not a resumed
    one) an earlier run's best.npz, which a run without `keep best` would never replace and
    which show and play would then take for this run's best weights."""
    for name in (HELDOUT, "best.npz") if new_run else (HELDOUT,):
        try:
            (out_dir / name).unlink(missing_ok=True)
        except OSError as error:
            raise SpecError(f"cannot remove {out_dir / name} of an earlier run: {error.strerror or error}",
                            hint="give the run another --out") from None


def weights_digest(path: Path) -> str:
    """The SHA-256 of a weights file, in hex: what ties heldout.json to the weights it scored."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_heldout(out_dir: Path, split: str, count: int, epoch: int, weights: str,
                  by_output: dict) -> tuple[str, ...]:
    """heldout.json (atomically): the `split` ("test" or "validation") and its `count` of samples
    the exported model was scored on, the `epoch` whose weights it holds, the run file holding them
    (`weights`: best.npz or checkpoint.npz) with their SHA-256, and `by_output` (heldout_scores).
    Returns ("heldout.json",), or () when nothing was scored (an export that failed, no samples)."""
    if not by_output:
        return ()
    record = dict(zip(HELDOUT_KEYS, (split, count, epoch, weights, weights_digest(out_dir / weights), by_output)))
    write_atomically(out_dir / HELDOUT, json.dumps(record, indent=1).encode())
    return (HELDOUT,)


def read_heldout(run: Path, weights: Path) -> dict | None:
    """The run folder's heldout.json if it scored exactly `weights` (the file it names, holding
    the bytes it scored), as write_heldout wrote it; None for anything else: missing, not a
    regular file, over HELDOUT_LIMIT bytes, not JSON, another shape, a score outside its range.
    It is only read for display, so a damaged file is passed over, never an error."""
    try:
        record = json.loads(read_bounded(run / HELDOUT, HELDOUT_LIMIT))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):  # ValueError: bad JSON, an integer of too many digits
        return None
    if not _is_heldout(record) or record["weights"] != weights.name:
        return None
    try:
        return record if weights_digest(weights) == record["weights_sha256"] else None
    except OSError:
        return None


def _is_heldout(record) -> bool:
    """Whether `record` has heldout.json's keys, each of its type and range."""
    if not isinstance(record, dict) or sorted(record) != sorted(HELDOUT_KEYS):
        return False
    digest, outputs = record["weights_sha256"], record["outputs"]
    return (record["split"] in ("test", "validation") and _is_count(record["count"]) and _is_count(record["epoch"])
            and record["weights"] in ("best.npz", "checkpoint.npz")
            and isinstance(digest, str) and re.fullmatch("[0-9a-f]{64}", digest) is not None
            and isinstance(outputs, dict) and len(outputs) > 0 and all(map(_are_scores, outputs.values())))


def _are_scores(scores) -> bool:
    """Whether `scores` is one output's scores: {metric: value}, at least one."""
    return isinstance(scores, dict) and len(scores) > 0 and all(_is_score(*item) for item in scores.items())


def _is_count(value) -> bool:
    """A whole number from 1 (bool, an int to Python, is not one here)."""
    return type(value) is int and value >= 1


def _is_score(metric: str, value) -> bool:
    """A finite number: a fraction 0..1 for accuracy, precision, recall and F1, >= 0 for mse."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return False
    return 0 <= value <= 1 if metric in _FRACTIONS else metric == "mse" and value >= 0
