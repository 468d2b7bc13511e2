"""Training benchmark: specc's NumPy trainer against PyTorch CPU on a CNN and an Elman RNN.

Two networks, each written as a specc spec and as the same PyTorch module holding the same
initial weights (specc's seeded `Network.weights`, copied into torch):

  cnn  1x8x8 -> conv 3x3, 16 filters, padding 1 -> relu -> maxpool 2 -> flatten -> dense 10
       (-> softmax), 10 classes; the digits images (scikit-learn's 1,797, cycled to 2,048) when
       scikit-learn is installed, else 2,048 random images and their labels
  rnn  seq 32 -> rnn elman hidden=64 -> dense 10 per step (-> softmax), T = 20; 2,048 random
       sequences with a random class per step

Both train with batch 64, SGD lr 0.05 momentum 0.9 and the fused softmax cross-entropy (specc's
`objective_for` leaves the final softmax out and its loss takes the logits; torch calls
F.cross_entropy on a module without the softmax, per step on (N*T, 10) rows for the RNN, which
is specc's mean over every step). torch's nn.RNN has two biases: specc's `layer1.b` goes to
`bias_ih_l0`, and `bias_hh_l0` is zero and frozen (requires_grad=False), since training both
would move the sum of the two at twice specc's rate.

specc's step is the inner loop of `specc.runtime.train.fit` without its files and progress lines:
`run_layers` with caches, the Objective's loss, `backward_layers`, `clip_by_global_norm` (with
clipping off it still computes the norm that fit checks for divergence), the optimizer's `step`
(`make_optimizer(TrainSettings(optimizer="sgd", ...))`) and the correct-prediction count.
torch's step is the usual loop: zero_grad, forward, F.cross_entropy, backward, optimizer step,
loss.item() and the correct count. Both take the same batches, gathered from NumPy arrays by
the same shuffled order each epoch (torch through zero-copy torch.from_numpy).

First the two must agree: the losses of the first three steps (at the initial weights and
after one and two updates) within 1e-4 relative, or the script stops. Then speed: samples per
second from the median of ROUNDS timed epochs (2,048 samples, 32 steps) per side. The epochs
are taken in rounds that visit the two sides in a shuffled order, so that drift in a shared
machine's speed falls on both alike. Each side's turn starts with 250 ms of untimed steps, long
enough for the other side's thread pool to stop spinning on the cores it needs: OpenBLAS's idle
workers keep yielding on the CPU for a while after NumPy's last product, and right after a specc
epoch a torch step was measured 1.5-2.5x slower, back to normal only after about 200 ms (with
infer_bench's 50 ms the torch epochs came out bimodal, half of them twice as slow).
torch.set_num_threads and NumPy's BLAS threads (through threadpoolctl, when installed; else the
report says what it could see) are both set to `--threads` (default 2).

Memory: each side and model trains in a fresh subprocess (so that the two do not mix), for one
warm-up epoch and then MEMORY_EPOCHS epochs, recording each epoch's peak resident memory (Linux
VmHWM, reset before the epoch through /proc/self/clear_refs; elsewhere getrusage's ru_maxrss,
the peak since start) and the resident memory after it. For specc it then traces NumPy's
allocations (tracemalloc) over TRACED_EPOCHS more epochs: each epoch's peak and what is still
allocated at its end. Flat means: from the first timed epoch on, neither the epochs' peak RSS nor
the RSS after them grows by more than 1 MiB, and the traced memory left at the end of an epoch
grows by at most 64 KiB. (NumPy itself keeps a small cache that grows by about 15 KiB per CNN
epoch, from sliding_window_view's views, until it levels off near 260 KiB after some 30 epochs.)

Targets (PASS/FAIL; the exit status is 1 if any fails):

  cnn: specc samples/s / torch samples/s   >= 3
  rnn: specc samples/s / torch samples/s   >= 2
  cnn, rnn: specc's memory flat across epochs

`--profile` also times each piece of specc's step (every layer's forward and backward, the
loss, the norm, the optimizer) for a few hundred steps and prints the median per step.

Run from the repository root (needs torch, `pip install -e .[bench]`):

    python bench/train_bench.py [--threads 2] [--rounds 15] [--profile] [--json]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402  (importable from the checkout without installing)
from bench.common import Stopwatch, background_busy, finish  # noqa: E402
from specc.runtime.interpreter import backward_layers, layer_weights, run_layers  # noqa: E402
from specc.runtime.interpreter import kernel_for  # noqa: E402
from specc.runtime.optim import clip_by_global_norm, make_optimizer  # noqa: E402
from specc.runtime.train import objective_for  # noqa: E402
from specc.training import TrainSettings  # noqa: E402

try:
    import threadpoolctl
except ImportError:  # the BLAS thread count is then whatever NumPy's BLAS chose
    threadpoolctl = None

CLASS_COUNT = 10
CNN_SPEC = f"""\
model digits_cnn
input image: 1x8x8
output digit: {' | '.join(str(d) for d in range(CLASS_COUNT))}
image -> conv 3x3 filters=16 padding=1 -> relu -> maxpool 2 -> flatten -> dense 10 -> softmax
"""
RNN_SPEC = f"""\
model elman
input x: seq 32
output y: {' | '.join(f'c{d}' for d in range(CLASS_COUNT))}
x -> rnn elman hidden=64 -> dense 10 -> softmax
"""
RNN_INPUTS, RNN_HIDDEN, RNN_STEPS = 32, 64, 20
SAMPLES, BATCH = 2048, 64
LR, MOMENTUM = 0.05, 0.9
SEED = 0
AGREEMENT_STEPS, AGREEMENT_TOLERANCE = 3, 1e-4
ROUNDS, WARMUP_S = 15, 0.25
MEMORY_EPOCHS, TRACED_EPOCHS = 5, 3
RSS_FLAT_BYTES, TRACED_FLAT_BYTES = 1 << 20, 64 << 10
PROFILE_STEPS = 300
TARGET_RATIOS = {"cnn": 3.0, "rnn": 2.0}

Step = Callable[[np.ndarray, np.ndarray], float]


# --- the two networks, their data and their two trainers ------------------------------------

@dataclass
class Case:
    """One benchmarked network: the specc Network, its Objective, the data and the torch module."""

    name: str
    net: specc.Network
    objective: object
    x: np.ndarray
    y: np.ndarray
    data: str

    def torch_module(self) -> torch.nn.Module:
        """A fresh torch module (no softmax) holding specc's current initial weights."""
        return (cnn_module if self.name == "cnn" else rnn_module)(self.net, self.net.model.layers)


def weight_of(layers, kind: str, local: str, weights) -> torch.Tensor:
    """specc's weight `local` of the (only) layer of `kind`, as a float32 tensor (a copy)."""
    layer = next(layer for layer in layers if layer.kind == kind)
    return torch.tensor(np.asarray(weights[layer.weight_name(local)], np.float32))


def copy_into(parameter: torch.Tensor, value: torch.Tensor, what: str) -> None:
    if parameter.shape != value.shape:
        raise SystemExit(f"weight {what}: specc has {tuple(value.shape)}, torch wants {tuple(parameter.shape)}")
    with torch.no_grad():
        parameter.copy_(value)


def cnn_module(net: specc.Network, layers) -> torch.nn.Module:
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(256, CLASS_COUNT))
    for parameter, kind, local in ((module[0].weight, "conv", "weight"), (module[0].bias, "conv", "bias"),
                                   (module[4].weight, "dense", "weight"), (module[4].bias, "dense", "bias")):
        copy_into(parameter, weight_of(layers, kind, local, net.weights), f"{kind}.{local}")
    return module.train()


class ElmanNet(torch.nn.Module):
    """nn.RNN (tanh, batch first) and a per-step nn.Linear: logits (N, T, 10)."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.RNN(RNN_INPUTS, RNN_HIDDEN, batch_first=True, nonlinearity="tanh")
        self.dense = torch.nn.Linear(RNN_HIDDEN, CLASS_COUNT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.rnn(x)[0])


def rnn_module(net: specc.Network, layers) -> torch.nn.Module:
    module = ElmanNet()
    rnn = module.rnn
    copy_into(rnn.weight_ih_l0, weight_of(layers, "rnn", "layer1.W", net.weights)[0], "layer1.W")
    copy_into(rnn.weight_hh_l0, weight_of(layers, "rnn", "layer1.R", net.weights)[0], "layer1.R")
    copy_into(rnn.bias_ih_l0, weight_of(layers, "rnn", "layer1.b", net.weights)[0], "layer1.b")
    with torch.no_grad():
        rnn.bias_hh_l0.zero_()
    rnn.bias_hh_l0.requires_grad_(False)  # specc has one bias; see the module docstring
    copy_into(module.dense.weight, weight_of(layers, "dense", "weight", net.weights), "dense.weight")
    copy_into(module.dense.bias, weight_of(layers, "dense", "bias", net.weights), "dense.bias")
    return module.train()


def digits_images() -> tuple[np.ndarray, np.ndarray] | None:
    """scikit-learn's 1,797 digits as (N, 1, 8, 8) float32 in [0, 1], or None without it."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    bunch = load_digits()
    return (bunch.images / 16).astype(np.float32)[:, None], bunch.target.astype(np.int64)


def make_case(name: str) -> Case:
    """The network `name` ('cnn' or 'rnn') with its fixed 2,048-sample training set."""
    rng = np.random.default_rng(SEED)
    net = specc.loads(CNN_SPEC if name == "cnn" else RNN_SPEC, file=f"{name}.nn", seed=SEED)
    objective = objective_for(net.model.chains[0], "cross_entropy")
    if name == "cnn":
        digits = digits_images()
        if digits is not None:
            rows = np.arange(SAMPLES) % len(digits[0])
            x, y, data = digits[0][rows], digits[1][rows], f"digits ({len(digits[0])} images, cycled to {SAMPLES})"
        else:
            x = rng.random((SAMPLES, 1, 8, 8), dtype=np.float32)
            y = rng.integers(0, CLASS_COUNT, SAMPLES)
            data = f"{SAMPLES} random images, random labels (scikit-learn not installed)"
    else:
        x = rng.standard_normal((SAMPLES, RNN_STEPS, RNN_INPUTS), dtype=np.float32)
        y = rng.integers(0, CLASS_COUNT, (SAMPLES, RNN_STEPS))
        data = f"{SAMPLES} random sequences (T={RNN_STEPS}), a random class per step"
    return Case(name, net, objective, np.ascontiguousarray(x), y.astype(np.int64), data)


def settings() -> TrainSettings:
    return TrainSettings(optimizer="sgd", lr=LR, momentum=MOMENTUM, loss="cross_entropy", batch=BATCH)


def specc_trainer(case: Case, weights: dict) -> Step:
    """One step of specc.runtime.train.fit's inner loop on `weights` (updated in place); returns the loss."""
    layers, objective = case.objective.layers, case.objective
    train_settings = settings()
    optimizer = make_optimizer(train_settings)

    def step(x: np.ndarray, y: np.ndarray) -> float:
        caches: list = []
        outputs = run_layers(layers, weights, x, caches)
        loss, grad, _ = objective(outputs, y)
        _, grads = backward_layers(layers, weights, caches, grad, need_input_grad=False)
        norm = clip_by_global_norm(grads, train_settings.clip)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise SystemExit(f"specc {case.name}: training diverged (loss {loss}, gradient norm {norm})")
        optimizer.step(weights, grads, train_settings.lr)
        objective.correct(objective.predicted(outputs), y)
        return loss

    return step


def torch_trainer(case: Case, module: torch.nn.Module) -> Step:
    """One step of the usual PyTorch loop on `module`; returns the loss."""
    parameters = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=LR, momentum=MOMENTUM)

    def step(x: np.ndarray, y: np.ndarray) -> float:
        inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
        optimizer.zero_grad()
        logits = module(inputs)
        loss = F.cross_entropy(logits.reshape(-1, CLASS_COUNT), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        value = loss.item()
        int((logits.detach().argmax(dim=-1) == targets).sum())
        return value

    return step


def trainers(case: Case) -> dict[str, Step]:
    """Both sides, each from the initial weights (specc's on a copy)."""
    return {"specc": specc_trainer(case, copy.deepcopy(case.net.weights)),
            "torch": torch_trainer(case, case.torch_module())}


# --- measurements ---------------------------------------------------------------------------

def check_agreement(case: Case, steps: dict[str, Step] | None = None) -> dict:
    """The first AGREEMENT_STEPS losses of both sides (`steps`, default trainers(case)) on the
    same batches; exits if they differ."""
    steps = steps or trainers(case)
    losses = {name: [] for name in steps}
    for i in range(AGREEMENT_STEPS):
        rows = slice(i * BATCH, (i + 1) * BATCH)
        for name, step in steps.items():
            losses[name].append(step(case.x[rows], case.y[rows]))
    relative = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses["specc"], losses["torch"])]
    if not all(r <= AGREEMENT_TOLERANCE for r in relative):
        raise SystemExit(f"{case.name}: specc and torch losses differ beyond {AGREEMENT_TOLERANCE:g} relative: "
                         f"specc {losses['specc']}, torch {losses['torch']}")
    return {"losses": losses, "max_relative_diff": max(relative)}


def run_epoch(step: Step, case: Case, order: np.ndarray) -> tuple[float, float]:
    """One pass over the data in `order` by full batches: (seconds, mean loss)."""
    total = 0.0
    batches = len(order) // BATCH
    start = time.perf_counter()
    for b in range(batches):
        rows = order[b * BATCH:(b + 1) * BATCH]
        total += step(case.x[rows], case.y[rows])
    return time.perf_counter() - start, total / batches


def warm_up(step: Step, case: Case, order: np.ndarray) -> None:
    """WARMUP_S seconds of untimed steps on the batches of `order`, cycling (not one batch over
    and over, which would overfit it and take the weights somewhere the timed epochs never go)."""
    until, batches, b = time.perf_counter() + WARMUP_S, len(order) // BATCH, 0
    while time.perf_counter() < until:
        rows = order[(b % batches) * BATCH:(b % batches + 1) * BATCH]
        step(case.x[rows], case.y[rows])
        b += 1


def epoch_order(epoch: int) -> np.ndarray:
    return np.random.default_rng([SEED, epoch]).permutation(SAMPLES)


def on_own_threads(step: Step, threads) -> Step:
    """`step` marked to run inside `threads()`, a context manager setting the BLAS threads its
    trainer would choose (specc's: fit's blas_threads_for), rather than at the budget."""
    step.own_threads = threads
    return step


def measure_speed(case: Case, rounds: int, steps: dict[str, Step] | None = None) -> dict:
    """Median epoch time of each side (`steps`, default trainers(case)) over `rounds` rounds in
    shuffled order -> samples/s. A step marked by on_own_threads runs its epochs inside its own
    thread setting."""
    steps = steps or trainers(case)
    threads = {name: getattr(step, "own_threads", contextlib.nullcontext) for name, step in steps.items()}
    for name, step in steps.items():  # first-touch allocations, lazy initialisation
        with threads[name]():
            run_epoch(step, case, epoch_order(0))
    names = list(steps)
    visit = np.random.default_rng(SEED)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    final_loss: dict[str, float] = {}
    for r in range(rounds):
        order = epoch_order(r + 1)
        for name in visit.permutation(names):
            with threads[name]():
                warm_up(steps[name], case, order)
                elapsed, final_loss[name] = run_epoch(steps[name], case, order)
            seconds[name].append(elapsed)
    rate = {name: SAMPLES // BATCH * BATCH / statistics.median(s) for name, s in seconds.items()}
    for name, loss in final_loss.items():
        if not math.isfinite(loss):
            raise SystemExit(f"{case.name}: {name}'s loss became {loss} while timing")
    return {"samples_per_s": rate, "ratio": rate["specc"] / rate["torch"], "epoch_s": seconds,
            "last_epoch_mean_loss": final_loss}


def reset_peak_rss() -> bool:
    """Reset the process's peak resident memory (Linux: /proc/self/clear_refs, 5); False where
    that is not possible, and the peak then counts from the process's start."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_bytes() -> tuple[int, int | None]:
    """(peak resident bytes since start or the last reset, current resident bytes or None)."""
    try:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(status["VmHWM"].split()[0]) * 1024, int(status["VmRSS"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak * (1 if sys.platform == "darwin" else 1024), None  # bytes on macOS, KiB on Linux


def memory_child(name: str, side: str) -> dict:
    """In a fresh process: each epoch's peak RSS and the RSS after it; for specc, traced NumPy memory."""
    case = make_case(name)
    step = trainers(case)[side]
    _, setup_rss = rss_bytes()
    run_epoch(step, case, epoch_order(0))  # warm-up epoch
    peaks, currents, per_epoch = [], [], True
    for e in range(MEMORY_EPOCHS):
        per_epoch = reset_peak_rss() and per_epoch
        run_epoch(step, case, epoch_order(e + 1))
        peak, current = rss_bytes()
        peaks.append(peak)
        currents.append(current)
    result = {"setup_rss": setup_rss, "peak_rss": peaks, "rss": currents, "peak_is_per_epoch": per_epoch}
    if side == "specc":  # torch allocates outside Python's allocator hooks; tracemalloc cannot see it
        traced_peaks, traced_ends = [], []
        tracemalloc.start()
        for e in range(TRACED_EPOCHS):
            tracemalloc.reset_peak()
            run_epoch(step, case, epoch_order(MEMORY_EPOCHS + e + 1))
            current, peak = tracemalloc.get_traced_memory()
            traced_peaks.append(peak)
            traced_ends.append(current)
        tracemalloc.stop()
        result.update(traced_peak=traced_peaks, traced_end=traced_ends)
    return result


def measure_memory(name: str, side: str, threads: int) -> dict:
    """memory_child in a subprocess of this script with the same thread settings."""
    done = subprocess.run([sys.executable, __file__, "--threads", str(threads), "--memory-child", f"{name}:{side}"],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_flat(memory: dict) -> tuple[bool, int, int]:
    """(flat?, RSS growth, traced growth) in bytes: the larger growth, from the first timed epoch,
    of each epoch's peak RSS and of the RSS after it; and of the traced memory at each epoch's end."""
    growth = [max(memory["peak_rss"]) - memory["peak_rss"][0]]
    if None not in memory["rss"]:
        growth.append(max(memory["rss"]) - memory["rss"][0])
    traced_growth = max(memory["traced_end"]) - memory["traced_end"][0]
    return max(growth) <= RSS_FLAT_BYTES and traced_growth <= TRACED_FLAT_BYTES, max(growth), traced_growth


def profile_specc(case: Case) -> dict[str, float]:
    """Median microseconds per step of each piece of specc's step, over PROFILE_STEPS steps."""
    weights = copy.deepcopy(case.net.weights)
    layers, objective = case.objective.layers, case.objective
    optimizer = make_optimizer(settings())
    watch = Stopwatch()
    timed, times = watch.timed, watch.times

    for i in range(PROFILE_STEPS):
        rows = epoch_order(i // (SAMPLES // BATCH))[(i % (SAMPLES // BATCH)) * BATCH:][:BATCH]
        x, y = case.x[rows], case.y[rows]
        whole = time.perf_counter()
        # as run_layers does: images channel-major inside the interpreter
        caches, h = [], (timed("to channel-major", lambda: np.ascontiguousarray(x.swapaxes(0, 1)))
                         if x.ndim == 4 else x)
        for layer in layers:
            cache: dict = {}
            h = timed(f"{layer.kind} forward", lambda: kernel_for(layer).forward(
                layer, layer_weights(layer, weights), h, cache))
            caches.append(cache)
        loss, grad, _ = timed("loss (cross-entropy)", lambda: objective(h, y))
        grads: dict = {}
        for position in range(len(layers) - 1, -1, -1):  # the data's own gradient is never needed
            layer, cache = layers[position], caches[position]
            grad, local = timed(f"{layer.kind} backward", lambda: kernel_for(layer).backward(
                layer, layer_weights(layer, weights), cache, grad, need_dx=position > 0))
            grads.update({layer.weight_name(n): g for n, g in local.items()})
        timed("gradient norm", lambda: clip_by_global_norm(grads, None))
        timed("optimizer step", lambda: optimizer.step(weights, grads, LR))
        timed("correct count", lambda: objective.correct(objective.predicted(h), y))
        times.setdefault("whole step", []).append(time.perf_counter() - whole)
    return {label: statistics.median(values) * 1e6 for label, values in times.items()}


def blas_threads() -> list[dict] | str:
    """NumPy's BLAS libraries and their thread counts as threadpoolctl sees them."""
    if threadpoolctl is None:
        return ("threadpoolctl not installed: BLAS threads not set; environment "
                + ", ".join(f"{k}={os.environ.get(k)}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                  "MKL_NUM_THREADS")))
    return [{"library": i["internal_api"], "threads": i["num_threads"]}
            for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def targets(results: dict) -> list[dict]:
    rows = []
    for name, bound in TARGET_RATIOS.items():
        ratio = results["models"][name]["speed"]["ratio"]
        rows.append({"target": f"{name}: specc / torch samples/s", "value": ratio, "bound": f">= {bound:g}",
                     "pass": ratio >= bound})
    for name in TARGET_RATIOS:
        flat, rss_growth, traced_growth = memory_flat(results["models"][name]["memory"]["specc"])
        rows.append({"target": f"{name}: specc RSS growth over epochs (MiB)", "value": rss_growth / 2**20,
                     "bound": f"<= {RSS_FLAT_BYTES / 2**20:g}", "pass": rss_growth <= RSS_FLAT_BYTES})
        rows.append({"target": f"{name}: specc traced growth over epochs (KiB)", "value": traced_growth / 2**10,
                     "bound": f"<= {TRACED_FLAT_BYTES / 2**10:g}", "pass": traced_growth <= TRACED_FLAT_BYTES})
    return rows


def measure(threads: int, rounds: int, profile: bool) -> dict:
    busy = background_busy()
    results = {"threads": threads, "blas_threads": blas_threads(), "torch_threads": torch.get_num_threads(),
               "background_cpu_busy_at_start": busy, "rounds": rounds, "batch": BATCH, "samples": SAMPLES,
               "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__},
               "models": {}}
    for name in TARGET_RATIOS:
        case = make_case(name)
        entry = {"data": case.data, "agreement": check_agreement(case), "speed": measure_speed(case, rounds),
                 "memory": {side: measure_memory(name, side, threads) for side in ("specc", "torch")}}
        if profile:
            entry["specc_profile_us"] = profile_specc(case)
        results["models"][name] = entry
    results["targets"] = targets(results)
    return results


def print_report(results: dict) -> None:
    busy = results["background_cpu_busy_at_start"]
    blas = results["blas_threads"]
    blas_text = blas if isinstance(blas, str) else ", ".join(f"{b['library']} {b['threads']}" for b in blas)
    print(f"threads={results['threads']} (torch {results['torch_threads']}, NumPy BLAS: {blas_text}), "
          f"CPU busy before start {'unknown' if busy is None else f'{busy:.0%}'}, "
          + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    mib = 2 ** 20
    for name, entry in results["models"].items():
        speed, agreement = entry["speed"], entry["agreement"]
        print(f"\n{name}: {entry['data']}; batch {results['batch']}, median of {results['rounds']} epochs")
        print("  first losses  specc " + " ".join(f"{v:.6f}" for v in agreement["losses"]["specc"])
              + "  torch " + " ".join(f"{v:.6f}" for v in agreement["losses"]["torch"])
              + f"  (max relative diff {agreement['max_relative_diff']:.1e})")
        print(f"  {'side':<6} {'samples/s':>10} {'epoch ms (min-max)':>22}  {'RSS after setup':>15} "
              f"{'peak RSS of each epoch':>29}  {'RSS after each epoch':>29}  {'traced end/peak':>15}")
        for side in ("specc", "torch"):
            epochs = speed["epoch_s"][side]
            memory = entry["memory"][side]

            def mib_list(values):
                return " ".join("?" if v is None else f"{v / mib:.1f}" for v in values)

            traced = (f"{memory['traced_end'][-1] / mib:.2f}/{max(memory['traced_peak']) / mib:.2f}"
                      if "traced_end" in memory else "-")
            setup = "?" if memory["setup_rss"] is None else f"{memory['setup_rss'] / mib:.1f}"
            print(f"  {side:<6} {speed['samples_per_s'][side]:>10,.0f} "
                  f"{statistics.median(epochs) * 1e3:>8.1f} ({min(epochs) * 1e3:5.1f}-{max(epochs) * 1e3:5.1f})  "
                  f"{setup:>15} {mib_list(memory['peak_rss']):>29}  {mib_list(memory['rss']):>29}  {traced:>15}")
        print(f"  specc / torch: {speed['ratio']:.2f}x")
        if "specc_profile_us" in entry:
            prof = entry["specc_profile_us"]
            whole = prof["whole step"]
            print(f"  specc step profile (median us per step over {PROFILE_STEPS} steps):")
            for label, us in sorted(prof.items(), key=lambda kv: -kv[1]):
                print(f"    {label:<22} {us:>8.1f}  {us / whole:>5.0%}")
    print(f"\n{'target':<44} {'measured':>9}  {'bound':<7} result")
    for row in results["targets"]:
        print(f"{row['target']:<44} {row['value']:>9.3f}  {row['bound']:<7} {'PASS' if row['pass'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and NumPy BLAS threads (default 2)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"timed epochs per side (default {ROUNDS})")
    parser.add_argument("--profile", action="store_true", help="also time each piece of specc's step")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)  # MODEL:SIDE, run by measure_memory
    args = parser.parse_args(argv)
    if args.threads < 1 or args.rounds < 1:
        parser.error("--threads and --rounds must be at least 1")
    torch.set_num_threads(args.threads)
    limits = threadpoolctl.threadpool_limits(args.threads, user_api="blas") if threadpoolctl else None
    try:
        if args.memory_child:
            print(json.dumps(memory_child(*args.memory_child.split(":"))))
            return 0
        results = measure(args.threads, args.rounds, args.profile)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return finish(results, args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
