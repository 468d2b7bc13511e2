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
from typing import NamedTuple

import numpy as np

from .blas_threads import blas_threads_for
from .checkpoint import save_checkpoint
from .heap import keep_freed_memory
from .interrupt import CTRL_C
from .kernels.batchnorm import check_batches
from .interpreter import (backward_graph, chain_masks, execution_order, input_masks, kernel_for, layer_weights,
                          padding_mask, plan, run_graph)
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
    which is both stabler and cheaper (the fused softmax cross-entropy). A final output head
    (`head`, a crf) is left out too: its kernel's `loss` scores the tag scores it reads.
    """

    layers: tuple
    loss: str
    classes: int | None
    head: object = None

    def __call__(self, outputs: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None,
                 weights=None) -> tuple[float, np.ndarray, dict]:
        """Loss, its gradient and the gradients of the head's weights (by global name, else
        empty); `mask` (N, T) leaves padded steps out of all of them; `weights` (global names)
        are read for the head's."""
        if self.head is not None:
            loss, grad, head_grads = kernel_for(self.head).loss(self.head, layer_weights(self.head, weights), outputs,
                                                                targets, mask)
            return loss, grad, {self.head.weight_name(name): g for name, g in head_grads.items()}
        if self.loss == "cross_entropy":
            return (*cross_entropy(outputs, targets, mask), {})
        if self.classes is not None:  # mse on a classifier: against one-hot targets
            targets = np.eye(self.classes, dtype=outputs.dtype)[targets]
        if mask is not None:  # padded steps: outputs and targets both zero, so no error there
            targets = targets * mask[..., None]
        return (*mse(outputs, targets), {})

    def predicted(self, outputs: np.ndarray, mask: np.ndarray | None = None, weights=None) -> np.ndarray | None:
        """The predicted class indices (N,) or (N, T) of a classifier (its head's, a crf's best
        tag sequence, when it has one), else None."""
        if self.classes is None:
            return None
        if self.head is not None:
            outputs = kernel_for(self.head).forward(self.head, layer_weights(self.head, weights), outputs, mask=mask)
        return outputs.argmax(axis=-1)

    @staticmethod
    def correct(predicted: np.ndarray | None, targets: np.ndarray, mask: np.ndarray | None = None) -> int | None:
        """How many `predicted` class indices are right (words only, for sentences); None for
        a regression's (None)."""
        if predicted is None:
            return None
        right = predicted == targets
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
    layers, head = chain.layers, None
    if layers[-1].attrs.output_head:
        if loss != "cross_entropy":
            raise SpecError(f"output {chain.output.name} ends with {layers[-1].kind}, which is trained on its tag "
                            f"sequences' likelihood, not by loss {loss}", chain.output.coord,
                            hint=f"leave out the loss line of {chain.output.name} (cross_entropy, the likelihood)")
        layers, head = layers[:-1], layers[-1]
    elif loss == "cross_entropy" and layers[-1].kind == "softmax":
        layers = layers[:-1]
    return Objective(tuple(execution_order(layers)), loss, classes, head)


# ---- the whole graph: one loss per output, weighted ----

class Scored(NamedTuple):
    """One output's scores on a batch: its mean loss, how many predictions are right (None for
    regression; words only, for sentences), how many it counts, the predicted class indices."""

    loss: float
    correct: int | None
    count: int
    predicted: np.ndarray | None


@dataclass(frozen=True)
class GraphObjective:
    """What a model is trained to do: each output's Objective, weighted, summed into one loss.

    `steps` run the graph (a classifier output's final softmax left out under cross-entropy);
    `weights` maps each output to its loss's weight; `masked` each output given per step (a
    tagger's) to the index of its chain, whose padding mask its loss takes.
    """

    model: object
    steps: tuple
    objectives: dict
    weights: dict
    masked: dict

    @property
    def layers(self) -> tuple:
        return tuple(layer for step in self.steps for layer in step.layers)

    def output_mask(self, name: str, masks_of_chains: list) -> np.ndarray | None:
        """The padding mask of an output given per step, else None."""
        return masks_of_chains[self.masked[name]] if name in self.masked else None

    def losses(self, outputs: dict, targets: dict, masks_of_chains: list,
               weights=None) -> tuple[float, dict, dict, dict]:
        """(total loss, each output's loss gradient, the gradients of output heads' weights by
        global name, each output's Scored); `masks_of_chains` from chain_masks; `weights` by
        global name, read by output heads (crf)."""
        total, grads, head_grads, scores = 0.0, {}, {}, {}
        for name, objective in self.objectives.items():
            mask = self.output_mask(name, masks_of_chains)
            loss, grad, own = objective(outputs[name], targets[name], mask, weights)
            weight = self.weights[name]
            total += loss if weight == 1 else weight * loss
            grads[name] = grad if weight == 1 else grad * grad.dtype.type(weight)
            head_grads.update({key: g if weight == 1 else g * g.dtype.type(weight) for key, g in own.items()})
            count = len(outputs[name]) if mask is None else int(mask.sum())
            predicted = objective.predicted(outputs[name], mask, weights)
            scores[name] = Scored(loss, objective.correct(predicted, targets[name], mask), count, predicted)
        return total, grads, head_grads, scores


def is_per_step(output, model) -> bool:
    """Whether an output gives one prediction per step of a sequence (a tagger)."""
    shape = model.value_shape(output.name)
    return len(shape) >= 2 and isinstance(shape[1], str)


def graph_objective(model, losses: dict) -> GraphObjective:
    """The GraphObjective of a model under `losses` ({output name: (loss kind, weight)});
    SpecError if a loss does not fit its output."""
    objectives = {}
    for chain in model.chains:
        if chain.output is not None:
            objectives[chain.output.name] = objective_for(chain, losses[chain.output.name][0])
    logits = frozenset(name for name, (kind, _) in losses.items() if kind == "cross_entropy")
    masked = {chain.output.name: c for c, chain in enumerate(model.chains)
              if chain.output is not None and is_per_step(chain.output, model)}
    return GraphObjective(model, plan(model, logits), objectives, {name: w for name, (_, w) in losses.items()}, masked)


def columns(split, model) -> tuple[dict, dict]:
    """A split's inputs and targets by name (a one-input, one-output data set's x and y named)."""
    if isinstance(split.x, dict):
        return split.x, split.y
    return {model.inputs[0].name: split.x}, {model.outputs[0].name: split.y}


def graph_batch(objective: GraphObjective, xs: dict, ys: dict, rows: np.ndarray) -> tuple[dict, dict, list]:
    """(inputs, targets, each chain's padding mask) of the given rows; when the inputs hold
    sentences, every sequence (inputs with a time axis, per-step targets) is cut to the batch's
    longest sentence."""
    model = objective.model
    bx = {name: x[rows] for name, x in xs.items()}
    by = {name: y[rows] for name, y in ys.items()}
    masks = input_masks(bx)
    if masks:
        steps = max(max(int(mask.sum(axis=1).max()) for mask in masks.values()), 1)
        bx = {name: x[:, :steps] if is_per_step(model.input(name), model) else x for name, x in bx.items()}
        by = {name: y[:, :steps] if name in objective.masked else y for name, y in by.items()}
        masks = {name: mask[:, :steps] for name, mask in masks.items()}
    return bx, by, chain_masks(objective.steps, masks)


def evaluate(objective: GraphObjective, weights, split) -> dict:
    """Over a whole split, in batches: the total `loss`, and per output its mean `loss`,
    `accuracy` (None for regression) and, per word for sentences, the slot `f1` (else None).
    All None for an empty split."""
    from .metrics import slot_scores, tag_rows

    names = list(objective.objectives)
    empty = {"loss": None, "accuracy": None, "f1": None}
    scores = {"loss": None, "outputs": {name: dict(empty) for name in names}}
    xs, ys = columns(split, objective.model)
    count = len(next(iter(xs.values())))
    if count == 0:
        return scores
    sums = {name: [0.0, 0, 0, [], []] for name in names}  # loss, correct, seen, true tags, predicted tags
    for start in range(0, count, EVAL_BATCH):
        bx, by, masks = graph_batch(objective, xs, ys, np.arange(start, min(start + EVAL_BATCH, count)))
        outputs = run_graph(objective.steps, weights, bx, masks)
        *_, batch_scores = objective.losses(outputs, by, masks, weights)
        for name, (loss, correct, seen, predicted) in batch_scores.items():
            total = sums[name]
            total[0] += loss * seen
            total[1] += correct or 0
            total[2] += seen
            mask = objective.output_mask(name, masks)
            if mask is not None and objective.objectives[name].classes:
                classes = next(o.classes for o in objective.model.outputs if o.name == name)
                total[3] += tag_rows(by[name], mask, classes)
                total[4] += tag_rows(predicted, mask, classes)
    for name, (loss, correct, seen, true_tags, predicted_tags) in sums.items():
        part = scores["outputs"][name]
        part["loss"] = loss / max(seen, 1)
        if objective.objectives[name].classes:
            part["accuracy"] = correct / max(seen, 1)
        if true_tags:
            part["f1"] = slot_scores(true_tags, predicted_tags)[2]
    scores["loss"] = sum(objective.weights[name] * scores["outputs"][name]["loss"] for name in names)
    return scores


RECORD_ORDER = ("epoch", "loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1", "lr", "seconds", "samples_per_s",
                "counts", "outputs")


def new_sums(objective: GraphObjective, several: bool) -> dict:
    """An epoch's running sums: the loss times the count it is the mean of, right predictions,
    the count (samples, or words of sentences) and seconds; with several outputs, each output's
    own under `outputs` (the top level then counts samples and sums the total loss)."""
    sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
    if several:
        sums["outputs"] = {name: {"loss": 0.0, "correct": 0, "seen": 0} for name in objective.objectives}
    return sums


def add_to_sums(sums: dict, loss: float, batch_scores: dict, samples: int, several: bool) -> None:
    """Add one batch: its total loss over `samples`, and each output's (loss, correct, count)."""
    if not several:
        ((loss, correct, seen, _),) = batch_scores.values()
        sums["loss"] += loss * seen
        sums["correct"] += correct or 0
        sums["seen"] += seen
        return
    sums["loss"] += loss * samples
    sums["seen"] += samples
    for name, (loss, correct, seen, _) in batch_scores.items():
        part = sums["outputs"][name]
        part["loss"] += loss * seen
        part["correct"] += correct or 0
        part["seen"] += seen


def epoch_record(objective: GraphObjective, sums: dict, scores: dict, several: bool) -> dict:
    """An epoch's scores from its running sums and the validation scores. With one output:
    loss, train_accuracy, val_loss, val_accuracy, val_f1 as ever; with several, the total loss
    and validation loss, the rest None, and each output's own under `outputs`."""

    def scored(name: str, part: dict) -> dict:
        classifier = objective.objectives[name].classes is not None
        val = scores["outputs"][name]
        return {"loss": part["loss"] / max(part["seen"], 1),
                "train_accuracy": part["correct"] / max(part["seen"], 1) if classifier else None,
                "val_loss": val["loss"], "val_accuracy": val["accuracy"], "val_f1": val["f1"]}

    if not several:
        return scored(next(iter(objective.objectives)), sums)
    return {"loss": sums["loss"] / max(sums["seen"], 1), "train_accuracy": None, "val_loss": scores["loss"],
            "val_accuracy": None, "val_f1": None,
            "outputs": {name: scored(name, part) for name, part in sums["outputs"].items()}}


def selection_score(record: dict) -> tuple | None:
    """What `keep best` maximises: the validation slot F1, else accuracy, else minus the loss,
    ties going to the lower validation loss; None without a validation split."""
    if record.get("val_loss") is None:
        return None
    for key in ("val_f1", "val_accuracy"):
        if record.get(key) is not None:
            return (record[key], -record["val_loss"])
    return (-record["val_loss"],)


def fit(model, weights: dict, settings, dataset, *, checkpoint_path, reporter, resume: tuple | None = None,
        losses: dict | None = None) -> list[dict]:
    """Train the model's graph on dataset.train; validate every epoch.

    weights: float32 arrays by global name, updated in place. resume: (weights, optimizer
    state, meta) from load_checkpoint. Writes a checkpoint after every epoch (and on Ctrl-C,
    then raises Interrupted). With `keep best`, also best.npz beside it whenever validation
    improves, and the weights end as the best epoch's. Returns the history: one dict per epoch
    (with keep best, `best` marks the epochs that improved). losses: {output name: (loss kind,
    weight)}, default the one output's `settings.loss` with weight 1. With several outputs, an
    epoch's record gives the total (weighted) loss and, under `outputs`, each output's scores.
    """
    from .checkpoint import load_checkpoint

    best_path = checkpoint_path.with_name("best.npz")
    best = None  # (score, weights) of the best epoch so far
    if resume is not None and settings.keep == "best" and best_path.exists():
        saved, _, meta = load_checkpoint(best_path, model, best=True)
        best = (tuple(meta["best_score"]), saved)
    objective = graph_objective(model, losses or {model.outputs[0].name: (settings.loss, 1.0)})
    several = len(objective.objectives) > 1
    optimizer = make_optimizer(settings)
    first_epoch, first_batch, history, partial = 0, 0, [], None
    if resume is not None:
        saved_weights, optimizer.state, meta = resume
        for name, value in saved_weights.items():
            weights[name][...] = value
        optimizer.steps = meta["optimizer_steps"]
        first_epoch, first_batch, history, partial = meta["epoch"], meta["batch"], meta["history"], meta["partial"]
    train, validation = dataset.train, dataset.validation
    random_layers = any(layer.attrs.random for layer in objective.layers)
    train_x, train_y = columns(train, model)
    first_input = next(iter(train_x.values()))
    count = len(first_input)
    batches = math.ceil(count / settings.batch)
    if first_batch and first_batch >= batches:
        from specc.errors import SpecError

        raise SpecError(f"the checkpoint stopped at batch {first_batch + 1} of epoch {first_epoch + 1}, but an epoch of "
                        f"these {count:,} samples has {batches} batches of {settings.batch}", hint="the checkpoint was "
                        "changed after specc train wrote it, or the data changed since the run started")
    check_batches(model.layers, count, settings.batch)
    keep_freed_memory()  # every batch allocates the same arrays: keep their pages between batches
    reporter.start(model.name, settings, {"train": count, "validation": len(validation)},
                   (first_epoch, first_batch) if resume is not None and first_epoch < settings.epochs else None)

    def checkpoint(epoch: int, batch: int, sums: dict | None) -> None:
        save_checkpoint(checkpoint_path, model, weights, optimizer,
                        {"epoch": epoch, "batch": batch, "history": history, "partial": sums,
                         "settings": {k: v for k, v in vars(settings).items() if k != "origin"}})

    # overflow is caught below (a loss, norm or weight that is not finite ends the run with a
    # hint), so NumPy's own warnings would only repeat it, less clearly
    with CTRL_C as stop, np.errstate(over="ignore", invalid="ignore"), blas_threads_for(model.layers, settings.batch, first_input.shape):
        for epoch in range(first_epoch, settings.epochs):
            lr = scheduled_lr(settings, epoch)
            order = np.random.default_rng([settings.seed, epoch]).permutation(count)
            sums = partial or new_sums(objective, several)
            partial = None
            started = time.perf_counter()
            for batch in range(first_batch, batches):
                reporter.batch(epoch, batch)
                if stop.requested:
                    sums["seconds"] += time.perf_counter() - started
                    checkpoint(epoch, batch, sums)
                    raise Interrupted(checkpoint_path, f"at epoch {epoch + 1}, batch {batch + 1}")
                rows = order[batch * settings.batch:(batch + 1) * settings.batch]
                x, y, masks = graph_batch(objective, train_x, train_y, rows)
                caches: list = []
                # dropout's masks come from (seed, epoch, batch): a resumed run draws the same ones
                rng = np.random.default_rng([settings.seed, epoch, batch]) if random_layers else None
                outputs = run_graph(objective.steps, weights, x, masks, caches, rng=rng)
                loss, output_grads, head_grads, batch_scores = objective.losses(outputs, y, masks, weights)
                _, grads = backward_graph(objective.steps, weights, caches, output_grads, masks)
                grads.update(head_grads)
                norm = clip_by_global_norm(grads, settings.clip)
                if not (math.isfinite(loss) and math.isfinite(norm)):
                    what = f"loss became {loss}" if not math.isfinite(loss) else f"gradient norm became {norm}"
                    raise TrainingError(f"the {what} at epoch {epoch + 1}, batch {batch + 1}", DIVERGED_HINT)
                optimizer.step(weights, grads, lr)
                add_to_sums(sums, loss, batch_scores, len(rows), several)
            first_batch = 0
            sums["seconds"] += time.perf_counter() - started
            if not all(np.isfinite(w).all() for w in weights.values()):
                raise TrainingError(f"weights overflowed to infinity during epoch {epoch + 1}", DIVERGED_HINT)
            record = epoch_record(objective, sums, evaluate(objective, weights, validation), several)
            record.update({"epoch": epoch + 1, "lr": lr, "seconds": sums["seconds"],
                           "samples_per_s": sums["seen"] / max(sums["seconds"], 1e-9),
                           "counts": "words" if input_masks({k: v[:1] for k, v in train_x.items()}) and not several
                           else "samples"})
            record = {key: record[key] for key in RECORD_ORDER if key in record}
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

