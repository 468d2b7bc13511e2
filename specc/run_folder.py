"""The files of a training run besides the checkpoint: history.json, the training curve, and
the held-out accuracy of the exported model."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from .atomic import write_atomically


def write_history(out_dir: Path, history: list[dict]) -> None:
    """history.json always; curve.png (loss and accuracy per epoch) when matplotlib is installed."""
    write_atomically(out_dir / "history.json", json.dumps(history, indent=1).encode())
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss_axes.plot(epochs, [r["loss"] for r in history], label="train")
    loss_axes.plot(epochs, [r["val_loss"] for r in history], label="validation")
    loss_axes.set(xlabel="epoch", ylabel="loss")
    loss_axes.legend()
    if history and history[0]["train_accuracy"] is not None:
        accuracy_axes.plot(epochs, [100 * r["train_accuracy"] for r in history], label="train")
        accuracy_axes.plot(epochs, [100 * r["val_accuracy"] for r in history], label="validation")
        accuracy_axes.set(xlabel="epoch", ylabel="accuracy (%)")
        accuracy_axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_atomically(out_dir / "curve.png", buffer.getvalue())


def heldout_accuracy(onnx_path: Path, chain, split) -> float | None:
    """Accuracy of the exported model in onnxruntime on a held-out split (classifiers only)."""
    if not chain.output.classes or len(split.x) == 0:
        return None
    from runtime.onnx_runner import OnnxModel

    session = OnnxModel(str(onnx_path))
    correct = 0
    for start in range(0, len(split.x), 1024):
        scores = session.run({chain.source: split.x[start:start + 1024]})[chain.output.name]
        correct += int((np.argmax(scores, axis=-1) == split.y[start:start + 1024]).sum())
    return correct / len(split.x)
