"""The files of a training run besides the checkpoint: history.json, the training curve, and
the held-out accuracy of the exported model."""
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


def heldout_scores(onnx_path: Path, chain, split) -> dict | None:
    """The exported model's scores in onnxruntime on a held-out split (classifiers only):
    `accuracy`, and for sentences (per word) also slot `precision`, `recall` and `f1` from the
    predicted tag names, as conlleval counts them."""
    if not chain.output.classes or len(split.x) == 0:
        return None
    from specc.runtime.interpreter import padding_mask
    from specc.runtime.metrics import slot_scores, tag_rows, token_accuracy
    from specc.runtime.onnx_runner import OnnxModel

    session = OnnxModel(str(onnx_path))
    classes = chain.output.classes
    correct, true_tags, predicted_tags = 0, [], []
    for start in range(0, len(split.x), 1024):
        x, y = split.x[start:start + 1024], split.y[start:start + 1024]
        outputs = session.run({chain.source: x})
        mask = padding_mask(x)
        if mask is None:
            correct += int((np.argmax(outputs[chain.output.name], axis=-1) == y).sum())
            continue
        batch_tags = tag_rows(y, mask, classes)
        true_tags += batch_tags
        predicted_tags += [list(row[:len(tags)]) for row, tags in zip(outputs[chain.output.class_output_name], batch_tags)]
    if not true_tags:
        return {"accuracy": correct / len(split.x)}
    precision, recall, f1 = slot_scores(true_tags, predicted_tags)
    return {"accuracy": token_accuracy(true_tags, predicted_tags), "precision": precision, "recall": recall, "f1": f1}
