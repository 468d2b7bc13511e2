"""The files of a training run besides the checkpoint: history.json, the training curve, and
the held-out scores of the exported model."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from .atomic import check_folder, destination, write_atomically


def run_files(model_name: str) -> tuple[str, ...]:
    """The names of the files a training run writes in its folder."""
    return ("checkpoint.npz", "best.npz", "history.json", "curve.png", f"{model_name}.onnx")


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
