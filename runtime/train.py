"""Training in the NumPy interpreter: shuffled batches, forward with caches, loss, backward,
clipping, an optimizer step; validation and a checkpoint every epoch.

Runs repeat bit for bit: epoch e shuffles with a generator seeded by (seed, e), so a run
resumed from any checkpoint, even one written mid-epoch by Ctrl-C, ends with the same weights
as a run that was never stopped.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .blas_threads import blas_threads_for
from .checkpoint import save_checkpoint
from .interrupt import CTRL_C
from .interpreter import backward_layers, execution_order, kernel_for, padding_mask, run_layers
from .losses import cross_entropy, mse
from .optim import clip_by_global_norm, make_optimizer, scheduled_lr

EVAL_BATCH = 512
DIVERGED_HINT = "lower the learning rate (--lr), or clip gradients ('clip 1' in the train section)"


class TrainingError(Exception):
    """A run that cannot go on (a loss that is no longer finite); `hint` says what to try."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


class Interrupted(Exception):
    """Ctrl-C: the run stopped cleanly; `path` is its checkpoint, `where` says when it stopped
    ("at epoch 2, batch 8")."""

    def __init__(self, path, where: str):
        super().__init__(f"interrupted {where}; checkpoint written to {path}")
        self.path = path


@dataclass(frozen=True)
class Objective:
    """What a chain is trained to do: the layers run in training and the loss on their output.

    With cross-entropy a final softmax is left out of `layers`: the loss takes the logits,
    which is both stabler and cheaper (the fused softmax cross-entropy).
    """

    layers: tuple
    loss: str
    classes: int | None

    def __call__(self, outputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Loss and its gradient; `mask` (N, T) leaves padded steps out of both."""
        if self.loss == "cross_entropy":
            return cross_entropy(outputs, targets, mask)
        if self.classes is not None:  # mse on a classifier: against one-hot targets
            targets = np.eye(self.classes, dtype=outputs.dtype)[targets]
        if mask is not None:  # padded steps: outputs and targets both zero, so no error there
            targets = targets * mask[..., None]
        return mse(outputs, targets)

    def correct(self, outputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> int | None:
        """How many predictions are right (classifiers; words only, for sentences), else None."""
        if self.classes is None:
            return None
        right = outputs.argmax(axis=-1) == targets
        return int(right.sum() if mask is None else (right * mask).sum())


def batch_of(split, rows: np.ndarray):
    """(x, y, mask) of the given rows; a batch of sentences is cut to its longest (mask (N, T),
    else None), so a short batch does not pay for the data set's longest sentence."""
    x, y = split.x[rows], split.y[rows]
    mask = padding_mask(x)
    if mask is None:
        return x, y, None
    steps = max(int(mask.sum(axis=1).max()), 1)
    return x[:, :steps], y[:, :steps], mask[:, :steps]


def counted(x: np.ndarray, mask: np.ndarray | None) -> int:
    """What accuracy and the mean loss count: samples, or the words of sentences."""
    return len(x) if mask is None else int(mask.sum())


def objective_for(chain, loss: str) -> Objective:
    """The Objective of a chain under `loss`; SpecError if the two do not fit."""
    from specc.errors import SpecError

    classes = len(chain.output.classes) if chain.output.classes else None
    if loss == "cross_entropy" and classes is None:
        raise SpecError(f"loss cross_entropy needs a classifier output, but output {chain.output.name} has no classes",
                        chain.output.coord, hint=f"declare classes (output {chain.output.name}: A | B), or use loss mse")
    layers = chain.layers
    if loss == "cross_entropy" and layers[-1].kind == "softmax":
        layers = layers[:-1]
    return Objective(tuple(execution_order(layers)), loss, classes)


def evaluate(objective: Objective, weights, split, classes=None) -> dict:
    """Over a whole split, in batches: the mean `loss` and `accuracy` (None for regression),
    per word for sentences, where `f1` is also the slot F1 (specc.runtime.metrics; else None). All
    None for an empty split."""
    from .metrics import slot_scores, tag_rows

    x = split.x
    scores = {"loss": None, "accuracy": None, "f1": None}
    if len(x) == 0:
        return scores
    total_loss, correct, seen = 0.0, 0, 0
    true_tags, predicted_tags = [], []
    for start in range(0, len(x), EVAL_BATCH):
        bx, by, mask = batch_of(split, np.arange(start, min(start + EVAL_BATCH, len(x))))
        outputs = run_layers(objective.layers, weights, bx, mask=mask)
        loss, _ = objective(outputs, by, mask)
        count = counted(bx, mask)
        total_loss += loss * count
        correct += objective.correct(outputs, by, mask) or 0
        seen += count
        if mask is not None and classes:
            true_tags += tag_rows(by, mask, classes)
            predicted_tags += tag_rows(outputs.argmax(axis=-1), mask, classes)
    scores["loss"] = total_loss / max(seen, 1)
    if objective.classes:
        scores["accuracy"] = correct / max(seen, 1)
    if true_tags:
        scores["f1"] = slot_scores(true_tags, predicted_tags)[2]
    return scores


def selection_score(record: dict) -> tuple | None:
    """What `keep best` maximises: the validation slot F1, else accuracy, else minus the loss,
    ties going to the lower validation loss; None without a validation split."""
    if record.get("val_loss") is None:
        return None
    for key in ("val_f1", "val_accuracy"):
        if record.get(key) is not None:
            return (record[key], -record["val_loss"])
    return (-record["val_loss"],)


def fit(model, weights: dict, settings, dataset, *, checkpoint_path, reporter, resume: tuple | None = None) -> list[dict]:
    """Train the model's single chain on dataset.train; validate every epoch.

    weights: float32 arrays by global name, updated in place. resume: (weights, optimizer
    state, meta) from load_checkpoint. Writes a checkpoint after every epoch (and on Ctrl-C,
    then raises Interrupted). With `keep best`, also best.npz beside it whenever validation
    improves, and the weights end as the best epoch's. Returns the history: one dict per epoch
    (with keep best, `best` marks the epochs that improved).
    """
    from .checkpoint import load_checkpoint

    best_path = checkpoint_path.with_name("best.npz")
    best = None  # (score, weights) of the best epoch so far
    if resume is not None and settings.keep == "best" and best_path.exists():
        saved, _, meta = load_checkpoint(best_path, model, best=True)
        best = (tuple(meta["best_score"]), saved)
    chain = model.chains[0]
    objective = objective_for(chain, settings.loss)
    optimizer = make_optimizer(settings)
    first_epoch, first_batch, history, partial = 0, 0, [], None
    if resume is not None:
        saved_weights, optimizer.state, meta = resume
        for name, value in saved_weights.items():
            weights[name][...] = value
        optimizer.steps = meta["optimizer_steps"]
        first_epoch, first_batch, history, partial = meta["epoch"], meta["batch"], meta["history"], meta["partial"]
    train, validation = dataset.train, dataset.validation
    random_layers = any(kernel_for(layer).random for layer in objective.layers)
    count = len(train.x)
    batches = math.ceil(count / settings.batch)
    if first_batch and first_batch >= batches:
        from specc.errors import SpecError

        raise SpecError(f"the checkpoint stopped at batch {first_batch + 1} of epoch {first_epoch + 1}, but an epoch of "
                        f"these {count:,} samples has {batches} batches of {settings.batch}", hint="the checkpoint was "
                        "changed after specc train wrote it, or the data changed since the run started")
    reporter.start(model.name, settings, {"train": count, "validation": len(validation.x)},
                   (first_epoch, first_batch) if resume is not None and first_epoch < settings.epochs else None)

    def checkpoint(epoch: int, batch: int, sums: dict | None) -> None:
        save_checkpoint(checkpoint_path, model, weights, optimizer,
                        {"epoch": epoch, "batch": batch, "history": history, "partial": sums,
                         "settings": {k: v for k, v in vars(settings).items() if k != "origin"}})

    # overflow is caught below (a loss, norm or weight that is not finite ends the run with a
    # hint), so NumPy's own warnings would only repeat it, less clearly
    with CTRL_C as stop, np.errstate(over="ignore", invalid="ignore"), blas_threads_for(chain.layers, settings.batch, train.x):
        for epoch in range(first_epoch, settings.epochs):
            lr = scheduled_lr(settings, epoch)
            order = np.random.default_rng([settings.seed, epoch]).permutation(count)
            sums = partial or {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
            partial = None
            started = time.perf_counter()
            for batch in range(first_batch, batches):
                reporter.batch(epoch, batch)
                if stop.requested:
                    sums["seconds"] += time.perf_counter() - started
                    checkpoint(epoch, batch, sums)
                    raise Interrupted(checkpoint_path, f"at epoch {epoch + 1}, batch {batch + 1}")
                rows = order[batch * settings.batch:(batch + 1) * settings.batch]
                x, y, mask = batch_of(train, rows)
                caches: list = []
                # dropout's masks come from (seed, epoch, batch): a resumed run draws the same ones
                rng = np.random.default_rng([settings.seed, epoch, batch]) if random_layers else None
                outputs = run_layers(objective.layers, weights, x, caches, rng=rng, mask=mask)
                loss, grad = objective(outputs, y, mask)
                _, grads = backward_layers(objective.layers, weights, caches, grad, need_input_grad=False, mask=mask)
                norm = clip_by_global_norm(grads, settings.clip)
                if not (math.isfinite(loss) and math.isfinite(norm)):
                    what = f"loss became {loss}" if not math.isfinite(loss) else f"gradient norm became {norm}"
                    raise TrainingError(f"the {what} at epoch {epoch + 1}, batch {batch + 1}", DIVERGED_HINT)
                optimizer.step(weights, grads, lr)
                seen = counted(x, mask)
                sums["loss"] += loss * seen
                sums["correct"] += objective.correct(outputs, y, mask) or 0
                sums["seen"] += seen
            first_batch = 0
            sums["seconds"] += time.perf_counter() - started
            if not all(np.isfinite(w).all() for w in weights.values()):
                raise TrainingError(f"weights overflowed to infinity during epoch {epoch + 1}", DIVERGED_HINT)
            scores = evaluate(objective, weights, validation, dataset.classes)
            record = {"epoch": epoch + 1, "loss": sums["loss"] / max(sums["seen"], 1),
                      "train_accuracy": sums["correct"] / max(sums["seen"], 1) if objective.classes else None,
                      "val_loss": scores["loss"], "val_accuracy": scores["accuracy"], "val_f1": scores["f1"], "lr": lr,
                      "seconds": sums["seconds"], "samples_per_s": sums["seen"] / max(sums["seconds"], 1e-9),
                      "counts": "words" if padding_mask(train.x[:1]) is not None else "samples"}
            score = selection_score(record)
            if settings.keep == "best":
                record["best"] = score is not None and (best is None or score > best[0])
                if record["best"]:
                    best = (score, {name: value.copy() for name, value in weights.items()})
                    save_checkpoint(best_path, model, weights, optimizer,
                                    {"epoch": epoch + 1, "batch": 0, "history": history + [record], "partial": None,
                                     "best_score": score})
            history.append(record)
            checkpoint(epoch + 1, 0, None)
            mean_seconds = sum(r["seconds"] for r in history) / len(history)
            reporter.epoch(record, settings.epochs, mean_seconds * (settings.epochs - epoch - 1))
    if best is not None:
        for name, value in best[1].items():
            weights[name][...] = value
    return history

