"""Image training at several sizes: specc against PyTorch and against a hand-written NumPy step.

Rows (every network ends in `maxpool 2 -> flatten -> dense 10`, 10 classes, batch 64):

  digits            specs/digits.nn: 1x8x8 -> conv 3x3 (16, padding 1) -> relu -> maxpool 2 -> ...
  digits_bn         specs/digits_bn.nn: the same with a batchnorm after the conv
  digits_residual   specs/digits_residual.nn: three 16-filter convs and an `add h` (residual block)
  SxS F[ bn]        generated: 3xSxS -> conv 3x3 filters=F padding=1 [-> batchnorm] -> relu
                    -> maxpool 2 -> flatten -> dense 10 -> softmax, for S in 16, 32 and F in 16,
                    32, 64 (see image_spec)

The digits rows train on train_bench's 2,048 digits; the generated ones on 2,048 uniform random
images with random labels (only the speed is measured). Each row is timed with three trainers
holding the same initial weights (specc's seeded ones) and fed the same batches:

  specc   the inner loop of specc.runtime.train.fit (bench/residual_bench.py's graph step)
  torch   the same layers in PyTorch, the usual loop (bench/train_bench.py's torch step)
  numpy   a hand-written NumPy step (HandStep), for the plain conv [-> batchnorm] -> relu ->
          maxpool -> dense family: the limit for specc's design, one im2col product per conv
          (sliding_window_view, one copy), a vectorised first-maximum pool, no Python per sample.
          Its loss and gradients are first checked against specc's on one batch, both in float64
          (1e-5, relative to each gradient's largest value); the residual row has none.

Speed is train_bench.measure_speed: the median of ROUNDS epochs per side, the sides visited in
a shuffled order each round, each turn after 250 ms of untimed steps. At each `--threads` count
torch's threads and NumPy's BLAS threads (threadpoolctl) are set together, as the budget; specc's
step runs at the BLAS threads `specc train` chooses within it (runtime/blas_threads.py: one for
a model whose products are small, as the digits networks', else the budget), the others at the
budget. The process calls
runtime/heap.keep_freed_memory first, as fit does.

Memory, per row in a fresh subprocess per side, at the first thread count: each epoch's peak
resident memory (VmHWM reset through /proc/self/clear_refs, train_bench.memory_child's way) and
how far it rose above the resident memory at the epoch's start. Every side's process imports
torch (this script does), whose libraries are most of the peak: the rise is the epoch's own.
For specc, its activation memory against a lower bound (activation_bound):

  cached   bytes NumPy holds after the forward pass of one training step that were not held
           before it (tracemalloc): the caches backward reads, and the logits
  step     tracemalloc's peak during the whole step, above what was held before it
  bound    the values a backward pass must read, each counted once, float32, from the IR shapes:
           the input of every conv and dense (for its weight gradient), the output of every relu
           (its sign), one value per maxpool window (where its maximum was), the normalised
           values of every batchnorm, and the logits; flatten and add keep nothing. A relu
           right before a maxpool is counted after it (the two commute), at the pool's size

Goals (the exit status is 1 if any fails): specc/torch >= 4 on digits at every thread count;
specc/numpy >= 0.9 on every row with a hand-written step; specc/torch >= 1 on every row.

Run from the repository root (needs torch and scikit-learn, `pip install -e .[bench,data]`):

    python bench/scale_images.py [--threads 1 2] [--rounds 7] [--quick] [--rows digits 16x16_f16] [--profile] [--json]

`--profile` adds, per row, the functions taking most of specc's step (cProfile, this thread's CPU
time, at the first thread count).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402  (importable from the checkout without installing)
from bench import residual_bench as rb  # noqa: E402
from bench import train_bench as tb  # noqa: E402
from bench.common import background_busy, finish  # noqa: E402
from specc.runtime.blas_threads import blas_threads_for  # noqa: E402
from specc.runtime.heap import keep_freed_memory  # noqa: E402
from specc.runtime.interpreter import backward_graph, chain_masks, run_graph  # noqa: E402
from specc.runtime.train import graph_objective  # noqa: E402

SIZES, FILTERS, CHANNELS = (16, 32), (16, 32, 64), 3
ROUNDS, QUICK_ROUNDS = 7, 3
MEMORY_EPOCHS, QUICK_MEMORY_EPOCHS = 3, 2
HAND_TOLERANCE = 1e-5
ZERO_GRADIENT = 1e-4  # below this fraction of the largest gradient, a gradient is zero: check_hand_step
DIGITS_TARGET, HAND_TARGET, TORCH_TARGET = 4.0, 0.9, 1.0
SIDES = ("specc", "torch", "numpy")
PROFILE_TOP = 6


# ---- the rows: networks, data, torch modules ----

def image_spec(size: int, filters: int, batchnorm: bool) -> str:
    """The generated network of a row: 3 x size x size images, one conv of `filters`."""
    norm = " -> batchnorm" if batchnorm else ""
    return (f"model images_{size}_{filters}{'_bn' if batchnorm else ''}\n"
            f"input image: {CHANNELS}x{size}x{size}\n"
            f"output digit: {' | '.join(str(d) for d in range(tb.CLASS_COUNT))}\n"
            f"image -> conv 3x3 filters={filters} padding=1{norm} -> relu -> maxpool 2 -> flatten -> dense 10"
            f" -> softmax\n")


def row_names() -> list[str]:
    generated = [f"{s}x{s}_f{f}{bn}" for s in SIZES for f in FILTERS for bn in ("", "_bn")]
    return ["digits", "digits_bn", "digits_residual", *generated]


def make_row(name: str) -> tb.Case:
    """The row `name` (see row_names) as a Case whose objective is the graph's."""
    if name.startswith("digits"):
        net = specc.load(ROOT / "specs" / f"{name}.nn", seed=tb.SEED)
        digits = tb.make_case("cnn")
        x, y, data = digits.x, digits.y, digits.data
    else:
        size, rest = name.split("x", 1)
        filters = int(rest.split("_f")[1].split("_")[0])
        net = specc.loads(image_spec(int(size), filters, name.endswith("_bn")), file=f"{name}.nn", seed=tb.SEED)
        rng = np.random.default_rng(tb.SEED)
        x = rng.random((tb.SAMPLES, CHANNELS, int(size), int(size)), dtype=np.float32)
        y = rng.integers(0, tb.CLASS_COUNT, tb.SAMPLES).astype(np.int64)
        data = f"{tb.SAMPLES} random images, random labels"
    objective = graph_objective(net.model, {net.model.outputs[0].name: ("cross_entropy", 1.0)})
    return tb.Case(name, net, objective, x, y, data)


def torch_layer(layer) -> torch.nn.Module | None:
    """One IR layer of a plain chain as a torch module (its weights not yet copied); None for the
    softmax, which the loss takes the logits without."""
    a = layer.attrs
    if layer.kind == "conv":
        return torch.nn.Conv2d(layer.in_shape[1], a.filters, a.kernel, a.stride, a.pads[:2])  # symmetric pads
    if layer.kind == "batchnorm":
        return torch.nn.BatchNorm2d(layer.in_shape[1], a.eps, a.momentum)
    if layer.kind == "dense":
        return torch.nn.Linear(layer.in_shape[1], a.units)
    if layer.kind == "maxpool":
        return torch.nn.MaxPool2d(a.window)
    return {"relu": torch.nn.ReLU, "flatten": torch.nn.Flatten, "softmax": lambda: None}[layer.kind]()


def torch_layers(net: specc.Network) -> torch.nn.Module:
    """A plain chain's layers in torch (torch_layer), holding specc's current weights."""
    modules = []
    for layer in net.model.layers:
        module = torch_layer(layer)
        for local in ("weight", "bias") if layer.weights else ():
            tb.copy_into(getattr(module, local), tb.weight_of([layer], layer.kind, local, net.weights),
                         layer.weight_name(local))
        if module is not None:
            modules.append(module)
    return torch.nn.Sequential(*modules).train()


def torch_module(case: tb.Case) -> torch.nn.Module:
    return rb.residual_module(case.net) if case.name == "digits_residual" else torch_layers(case.net)


# ---- the hand-written NumPy step ----

def pool_window(layers) -> tuple:
    return next(layer.attrs.window for layer in layers if layer.kind == "maxpool")


@dataclass
class HandStep:
    """conv (stride 1) [-> batchnorm] -> relu -> maxpool (windows tiling the conv's output) ->
    flatten -> dense -> softmax cross-entropy,
    written directly in NumPy on (N, C, H, W) batches; weights by specc's global names (updated
    in place by SGD with momentum, as specc's optimizer does)."""

    names: dict  # kind ('conv', 'batchnorm', 'maxpool', 'dense') -> the layer
    weights: dict
    velocity: dict

    FAMILY = (("conv", "relu", "maxpool", "flatten", "dense", "softmax"),
              ("conv", "batchnorm", "relu", "maxpool", "flatten", "dense", "softmax"))

    @classmethod
    def fits(cls, case: tb.Case) -> bool:
        """Whether the row's network is of the family this step is written for."""
        layers = case.net.model.layers
        return (tuple(layer.kind for layer in layers) in cls.FAMILY and tuple(layers[0].attrs.stride) == (1, 1)
                and not any(size % window for size, window in zip(layers[0].out_shape[2:], pool_window(layers))))

    @classmethod
    def of(cls, case: tb.Case, weights: dict) -> "HandStep | None":
        if not cls.fits(case):
            return None
        names = {layer.kind: layer for layer in case.net.model.layers}
        return cls(names, weights, {name: np.zeros_like(w) for name, w in weights.items()})

    def w(self, kind: str, local: str) -> np.ndarray:
        return self.weights[self.names[kind].weight_name(local)]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        """The mean cross-entropy of a batch x (N, C, H, W), y (N,) and every weight's gradient.

        The im2col columns are ordered (C*kh*kw, ph*pw*N*H'*W'/(ph*pw)): the conv's product then
        holds each of the pool window's ph*pw positions as one contiguous plane, so the pool is
        a max and an argmax across planes, and its backward one broadcast comparison.
        """
        conv = self.names["conv"].attrs
        (kh, kw), (top, left, bottom, right) = conv.kernel, conv.pads
        (ph, pw), f = self.names["maxpool"].attrs.window, conv.filters
        n, c, h, width = x.shape
        qh, qw = h // ph, width // pw
        xp = np.zeros((c, n, h + top + bottom, width + left + right), x.dtype)
        xp[:, :, top:top + h, left:left + width] = x.transpose(1, 0, 2, 3)
        # windows (C, N, H, W, kh, kw) -> (C, kh, kw, ph, pw, N, qh, qw) columns: one copy
        windows = sliding_window_view(xp, (kh, kw), axis=(2, 3)).reshape(c, n, qh, ph, qw, pw, kh, kw)
        cols = windows.transpose(0, 6, 7, 3, 5, 1, 2, 4).reshape(c * kh * kw, -1)
        z = self.w("conv", "weight").reshape(f, -1) @ cols
        z += self.w("conv", "bias")[:, None]
        batchnorm = "batchnorm" in self.names
        if batchnorm:
            eps = x.dtype.type(self.names["batchnorm"].attrs.eps)
            centred = z - z.mean(axis=1, keepdims=True)
            inverse = 1 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + eps)
            normalised = centred * inverse
            z = normalised * self.w("batchnorm", "weight")[:, None] + self.w("batchnorm", "bias")[:, None]
        planes = z.reshape(f, ph * pw, -1)
        winner = planes.argmax(axis=1)  # the first maximum, as PyTorch routes the gradient
        pooled = np.maximum(planes.max(axis=1), 0)  # (F, N*qh*qw)
        flat = pooled.reshape(f, n, qh * qw).transpose(1, 0, 2).reshape(n, -1)
        logits = flat @ self.w("dense", "weight").T + self.w("dense", "bias")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -float(log_p[np.arange(n), y].mean())
        d_logits = np.exp(log_p)
        d_logits[np.arange(n), y] -= 1
        d_logits /= n
        grads = {"dense": {"weight": d_logits.T @ flat, "bias": d_logits.sum(axis=0)}}
        d_pooled = (d_logits @ self.w("dense", "weight")).reshape(n, f, -1).transpose(1, 0, 2).reshape(f, -1)
        d_pooled *= pooled > 0
        dz = ((winner[:, None] == np.arange(ph * pw)[:, None]) * d_pooled[:, None]).reshape(f, -1)
        if batchnorm:
            gamma = self.w("batchnorm", "weight")[:, None]
            grads["batchnorm"] = {"weight": (dz * normalised).sum(axis=1), "bias": dz.sum(axis=1)}
            dz = gamma * inverse * (dz - dz.mean(axis=1, keepdims=True)
                                    - normalised * (dz * normalised).mean(axis=1, keepdims=True))
        grads["conv"] = {"weight": (dz @ cols.T).reshape(self.w("conv", "weight").shape), "bias": dz.sum(axis=1)}
        return loss, {self.names[kind].weight_name(local): g for kind, local_grads in grads.items()
                      for local, g in local_grads.items()}

    def __call__(self, x: np.ndarray, y: np.ndarray) -> float:
        """One SGD step (lr, momentum as train_bench); returns the loss."""
        loss, grads = self.loss_and_grads(x, y)
        for name, g in grads.items():
            v = self.velocity[name]
            v *= np.float32(tb.MOMENTUM)
            v += g
            self.weights[name] -= np.float32(tb.LR) * v
        return loss


def specc_loss_and_grads(case: tb.Case, weights: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """specc's loss and gradients of one batch (as fit computes them)."""
    objective, model = case.objective, case.net.model
    masks = chain_masks(objective.steps, {})
    caches: list = []
    outputs = run_graph(objective.steps, weights, {model.inputs[0].name: x}, masks, caches)
    loss, output_grads, _, _ = objective.losses(outputs, {model.outputs[0].name: y}, masks)
    return loss, backward_graph(objective.steps, weights, caches, output_grads, masks)[1]


def check_hand_step(case: tb.Case) -> dict | None:
    """The hand-written step's loss and gradients against specc's on the first batch; exits if
    any differs by more than HAND_TOLERANCE relative (to the loss; to each gradient's largest
    magnitude, or the largest of all for one below ZERO_GRADIENT of it). None for a row without a hand-written step."""
    if not HandStep.fits(case):
        return None
    # in float64 (both sides keep the dtype they are given): in float32 a value within rounding
    # of a relu's kink or of a pool window's tie falls on either side depending on the order of
    # the sums, which moves a gradient by whole entries on the largest rows
    weights = {name: w.astype(np.float64) for name, w in case.net.weights.items()}
    hand = HandStep.of(case, copy.deepcopy(weights))
    x, y = case.x[:tb.BATCH].astype(np.float64), case.y[:tb.BATCH]
    loss, grads = specc_loss_and_grads(case, weights, x, y)
    hand_loss, hand_grads = hand.loss_and_grads(x, y)
    differences = {"loss": abs(loss - hand_loss) / max(abs(loss), 1e-12)}
    trained = {name for name in grads if not name.endswith(("running_mean", "running_var"))}
    if set(hand_grads) != trained:
        raise SystemExit(f"{case.name}: the hand-written step has gradients {sorted(hand_grads)}, specc {sorted(trained)}")
    largest = max(float(np.abs(grads[name]).max()) for name in trained)
    for name in trained:
        # a gradient that is zero in exact arithmetic (a conv's bias under batchnorm) holds only
        # rounding noise: it is measured against the network's largest gradient
        scale = float(np.abs(grads[name]).max())
        scale = scale if scale >= ZERO_GRADIENT * largest else largest
        differences[name] = float(np.abs(grads[name] - hand_grads[name]).max()) / scale
    worst = max(differences, key=differences.get)
    if differences[worst] > HAND_TOLERANCE:
        raise SystemExit(f"{case.name}: the hand-written step's {worst} differs from specc's by "
                         f"{differences[worst]:.1e} relative (tolerance {HAND_TOLERANCE:g})")
    return {"max_relative_diff": differences[worst], "worst": worst}


def row_trainers(case: tb.Case) -> dict[str, tb.Step]:
    """Every side of a row, each from the initial weights (specc's and NumPy's on copies)."""
    # specc at the BLAS threads `specc train` chooses within the budget (fit's blas_threads_for: one
    # for small products), torch and the hand-written step at the budget
    specc = tb.on_own_threads(rb.specc_graph_trainer(case, copy.deepcopy(case.net.weights)),
                              lambda: blas_threads_for(case.net.model.layers, tb.BATCH, case.x.shape))
    steps = {"specc": specc, "torch": tb.torch_trainer(case, torch_module(case))}
    hand = HandStep.of(case, copy.deepcopy(case.net.weights))
    if hand is not None:
        steps["numpy"] = hand
    return steps


# ---- memory ----

def activation_bound(case: tb.Case) -> int:
    """Bytes (float32, batch BATCH) of the values a backward pass must read, each counted once
    (see the module docstring): a lower bound on any design's activation memory."""
    def size(shape) -> int:
        return tb.BATCH * math.prod(shape[1:]) * 4

    held = {}  # value id -> bytes; a layer's output is the next one's input
    for chain in case.net.model.chains:
        value, layers = chain.source, list(chain.layers)
        for i in range(len(layers) - 1):  # max and relu commute: the relu then needs a window's value
            if layers[i].kind == "relu" and layers[i + 1].kind == "maxpool":
                layers[i:i + 2] = [layers[i + 1], replace(layers[i], in_shape=layers[i + 1].out_shape,
                                                           out_shape=layers[i + 1].out_shape)]
        for layer in layers:
            if layer.kind in ("conv", "dense"):
                held[value] = size(layer.in_shape)
            if layer.kind in ("flatten", "softmax"):
                continue  # a view of its input; the softmax is fused into the loss
            value = layer.id
            if layer.kind in ("relu", "batchnorm", "maxpool"):
                held[value] = size(layer.out_shape)
        if chain.output is not None:
            held[value] = size(chain.layers[-1].out_shape)  # the logits, which the loss reads
        else:
            held[chain.name] = held.pop(value, 0)
    return sum(held.values())


def traced_step(case: tb.Case, weights: dict, x: np.ndarray, y: np.ndarray) -> dict:
    """tracemalloc's view of one specc training step: bytes held after the forward pass and the
    step's peak, both above what was held before it."""
    objective, model = case.objective, case.net.model
    masks = chain_masks(objective.steps, {})
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        caches: list = []
        outputs = run_graph(objective.steps, weights, {model.inputs[0].name: x}, masks, caches)
        cached = tracemalloc.get_traced_memory()[0] - before
        loss, output_grads, _, _ = objective.losses(outputs, {model.outputs[0].name: y}, masks)
        backward_graph(objective.steps, weights, caches, output_grads, masks)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return {"cached": cached, "step_peak": peak}


def memory_child(name: str, side: str, epochs: int) -> dict:
    """In a fresh process: each epoch's peak RSS of one side of a row; for specc, its traced
    activation memory and the lower bound."""
    case = make_row(name)
    step = row_trainers(case)[side]
    tb.run_epoch(step, case, tb.epoch_order(0))  # warm-up epoch
    peaks, rises = [], []
    for e in range(epochs):
        tb.reset_peak_rss()
        before = tb.rss_bytes()[1]
        tb.run_epoch(step, case, tb.epoch_order(e + 1))
        peaks.append(tb.rss_bytes()[0])
        rises.append(None if before is None else peaks[-1] - before)
    result = {"peak_rss": peaks, "rise": rises}
    if side == "specc":
        rows = tb.epoch_order(0)[:tb.BATCH]
        result.update(traced_step(case, copy.deepcopy(case.net.weights), case.x[rows], case.y[rows]),
                      bound=activation_bound(case))
    return result


def measure_memory(name: str, side: str, threads: int, epochs: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--threads", str(threads), "--memory-child",
                           f"{name}:{side}:{epochs}"], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the run ----

def profile_row(case: tb.Case, top: int = PROFILE_TOP) -> list[tuple[str, float]]:
    """The `top` functions of specc's step by their own CPU time (this thread's, so that other
    processes on a shared machine count less), over one epoch: (function, share of the epoch)."""
    import cProfile
    import pstats

    step = row_trainers(case)["specc"]
    tb.run_epoch(step, case, tb.epoch_order(0))
    profiler = cProfile.Profile(time.thread_time)
    profiler.runcall(tb.run_epoch, step, case, tb.epoch_order(1))
    stats = pstats.Stats(profiler).stats
    total = sum(own for _, _, own, _, _ in stats.values())
    ranked = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    return [(f"{Path(file).name}:{line}({function})", own / total) for (file, line, function), (_, _, own, _, _)
            in ranked]


def measure(names: list[str], thread_counts: list[int], rounds: int, memory_epochs: int, profile: bool) -> dict:
    results = {"rows": {}, "threads": thread_counts, "rounds": rounds, "batch": tb.BATCH, "samples": tb.SAMPLES,
               "command": " ".join(["python", "bench/scale_images.py", *sys.argv[1:]]),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__},
               "busy": {}}
    cases = {name: make_row(name) for name in names}
    for name, case in cases.items():
        results["rows"][name] = {"data": case.data, "params": case.net.param_count,
                                 "hand_check": check_hand_step(case), "speed": {}}
    for threads in thread_counts:
        entry = rb.measure_once({name: (case, row_trainers) for name, case in cases.items()}, threads, rounds)
        results["busy"][threads] = entry["background_cpu_busy_at_start"]
        for name, model in entry["models"].items():
            rate = model["speed"]["samples_per_s"]
            results["rows"][name]["speed"][threads] = {
                "samples_per_s": rate, "vs_torch": rate["specc"] / rate["torch"],
                "vs_numpy": rate["specc"] / rate["numpy"] if "numpy" in rate else None,
                "torch_agreement": model["agreement"]["max_relative_diff"]}
    for name, case in cases.items():
        sides = [side for side in SIDES if side != "numpy" or HandStep.fits(case)]
        results["rows"][name]["memory"] = {side: measure_memory(name, side, thread_counts[0], memory_epochs)
                                           for side in sides}
    if profile:
        torch.set_num_threads(thread_counts[0])
        with (tb.threadpoolctl.threadpool_limits(thread_counts[0], user_api="blas") if tb.threadpoolctl
              else contextlib.nullcontext()):
            for name, case in cases.items():
                results["rows"][name]["profile"] = profile_row(case)
    results["targets"] = targets(results)
    return results


def targets(results: dict) -> list[dict]:
    rows = []
    for name, row in results["rows"].items():
        for threads, speed in row["speed"].items():
            checks = [("specc / torch", speed["vs_torch"], DIGITS_TARGET if name == "digits" else TORCH_TARGET)]
            if speed["vs_numpy"] is not None:
                checks.append(("specc / hand-written NumPy", speed["vs_numpy"], HAND_TARGET))
            rows += [{"target": f"{name}, {threads} thread(s): {what}", "value": value, "bound": f">= {bound:g}",
                      "pass": value >= bound} for what, value, bound in checks]
    return rows


def rss_text(memory: dict | None) -> str:
    """A side's largest per-epoch peak RSS and its largest rise within an epoch, in MiB."""
    if memory is None:
        return "-"
    rises = [r for r in memory["rise"] if r is not None]
    return f"{max(memory['peak_rss']) / 2**20:.0f}" + (f" (+{max(rises) / 2**20:.1f})" if rises else "")


def print_report(results: dict) -> None:
    busy = ", ".join(f"{t} thread(s) {b:.0%}" if b is not None else f"{t}: unknown" for t, b in results["busy"].items())
    print(f"{results['date']}; batch {results['batch']}, {results['samples']:,} samples an epoch, median of "
          f"{results['rounds']} epochs per side; CPU busy before each thread count: {busy}; "
          + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    print(f"command: {results['command']}\n")
    kib = 2 ** 10
    print("| network | params | threads | specc /s | torch /s | NumPy /s | specc/torch | specc/NumPy "
          "| peak RSS MiB (+ rise in the epoch) specc / torch / NumPy | activations KiB: specc cached / step peak / bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for name, row in results["rows"].items():
        memory = row["memory"]
        rss = " / ".join(rss_text(memory.get(side)) for side in SIDES)
        traced = memory["specc"]
        activations = (f"{traced['cached'] / kib:,.0f} / {traced['step_peak'] / kib:,.0f} / "
                       f"{traced['bound'] / kib:,.0f} ({traced['cached'] / traced['bound']:.1f}x)")
        for threads, speed in row["speed"].items():
            rate = speed["samples_per_s"]
            numpy_rate = f"{rate['numpy']:,.0f}" if "numpy" in rate else "-"
            vs_numpy = f"{speed['vs_numpy']:.2f}" if speed["vs_numpy"] is not None else "-"
            print(f"| {name} | {row['params']:,} | {threads} | {rate['specc']:,.0f} | {rate['torch']:,.0f} | "
                  f"{numpy_rate} | {speed['vs_torch']:.2f} | {vs_numpy} | {rss} | {activations} |")
    print("\nagreement: specc/torch first three losses; hand-written step's loss and gradients against specc's")
    for name, row in results["rows"].items():
        hand = row["hand_check"]
        torch_diff = max(s["torch_agreement"] for s in row["speed"].values())
        print(f"  {name:<16} torch {torch_diff:.1e}  "
              + (f"NumPy {hand['max_relative_diff']:.1e} ({hand['worst']})" if hand else "NumPy -"))
    for name, row in results["rows"].items():
        if "profile" in row:
            print(f"\n{name}: specc's step, own CPU time by function (one epoch, {results['threads'][0]} thread(s))")
            for function, share in row["profile"]:
                print(f"  {share:>5.0%}  {function}")
    print(f"\n{'target':<58} {'measured':>9}  {'bound':<7} result")
    for row in results["targets"]:
        print(f"{row['target']:<58} {row['value']:>9.2f}  {row['bound']:<7} {'PASS' if row['pass'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts for torch and NumPy's BLAS (default 1 2)")
    parser.add_argument("--rounds", type=int, help=f"timed epochs per side (default {ROUNDS}; --quick {QUICK_ROUNDS})")
    parser.add_argument("--rows", nargs="+", choices=row_names(), metavar="ROW",
                        help="rows to run (default all): " + ", ".join(row_names()))
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_ROUNDS} rounds, {QUICK_MEMORY_EPOCHS} memory epochs")
    parser.add_argument("--profile", action="store_true",
                        help="also profile specc's step on every row (own CPU time by function)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)  # ROW:SIDE:EPOCHS, run by measure_memory
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    if min(args.threads) < 1 or rounds < 1:
        parser.error("--threads and --rounds must be at least 1")
    keep_freed_memory()  # as fit does: the steps' arrays keep their pages between batches
    if args.memory_child:
        name, side, epochs = args.memory_child.split(":")
        torch.set_num_threads(args.threads[0])
        if tb.threadpoolctl:  # the limit holds for the rest of this process
            tb.threadpoolctl.threadpool_limits(args.threads[0], user_api="blas")
        print(json.dumps(memory_child(name, side, int(epochs))))
        return 0
    memory_epochs = QUICK_MEMORY_EPOCHS if args.quick else MEMORY_EPOCHS
    return finish(measure(args.rows or row_names(), args.threads, rounds, memory_epochs, args.profile), args.json,
                  print_report)


if __name__ == "__main__":
    sys.exit(main())
