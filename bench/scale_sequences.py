"""Sequence training at scale: Elman, Jordan, LSTM and GRU taggers in specc against PyTorch CPU,
at hidden 64/128/256 and sentence lengths 10/40/100, 1 and 2 threads (issue 13).

The network, per cell and hidden width H: words -> onehot (the training data's words + "other")
-> dense H bias=false (a word embedding as wide as the state) -> rnn CELL hidden=H (one
direction; Jordan's output fed back is H wide too) -> dense C -> softmax; Adam lr 1e-3, batch 16,
clip 5 (as the ATIS taggers), cross-entropy over the real words. No dropout, so both sides compute
the same losses from the same weights and batches.

Data (synthetic, the same for every cell and width; written as a `word:TAG` file that specc
reads as it reads any tagged file): SENTENCES sentences of exactly T words each, every word
drawn uniformly from VOCABULARY words (w0 .. w999), its tag (t0 .. t9, C = 10) the sum of its
own and the previous word's numbers modulo 10, so the tags need the recurrence. specc holds 10%
out for validation (its usual split) and trains on the rest. No padding, so torch runs its
modules unpacked: the usual loop on fixed-length batches. One padded row per cell with its own
module (elman, lstm, gru) at hidden 128: lengths drawn uniformly from 10 to 40, where torch
packs (bench/slots_bench.py's torch step: pack_padded_sequence, the real words' rows only).

torch's side, from specc's seeded initial weights (layouts in specc/layers/rnn.py and
bench/gated_bench.py): nn.Embedding(V+1, H) -> nn.RNN (tanh; bias_ih_l0 = specc's b,
bias_hh_l0 zero and frozen: specc has one bias) | JordanLoop | nn.LSTM | nn.GRU (weight_ih_l0,
weight_hh_l0, bias_ih_l0, bias_hh_l0 = specc's W, R, b, Rb) -> nn.Linear(H, C). PyTorch has no
Jordan module (nn.RNN feeds back its hidden state, not an output computed from it), so torch's
Jordan is what a PyTorch user writes: the input projection of every step as one product, then a
Python loop over time of h_t = tanh(xw_t + y_{t-1} U^T), y_t = tanh(h_t V^T + c), autograd
through the loop.

Measured as bench/slots_bench.py measures the ATIS taggers, with its functions: the first three
losses of both sides agree within 1e-4 relative (else the script stops); words/s of both in
rounds that visit the two in a shuffled order, both training on the same chunk of batches (fit's
shuffled epochs), after untimed warm-up steps; the ratio is the median of the rounds' ratios.
A chunk holds about CHUNK_WORDS words (fewer batches for longer sentences). Thread budgets 1 and
2: torch.set_num_threads(n) and NumPy's BLAS limited to n, within which specc's step uses the
BLAS threads `specc train` chooses (runtime/blas_threads.py: 1 while the recurrence's per-step
product is small, the budget above it; the table says which).

The limit of this design: torch's words/s against a step that would be nothing but specc's matrix
products (product_shapes: the same products as specc's kernels, each timed alone by NumPy at the
BLAS threads specc chose). torch makes the same products (its GEMMs were measured as fast as
NumPy's OpenBLAS on these shapes), so that ratio bounds what any NumPy step with one call per
product and step can reach; where it is below the goal the goal cannot be met by trimming the
element-wise work. (Padded rows: products at the longest length, a slight underestimate.)

Memory: every row trains in a fresh subprocess per side (torch imported in both, so their
baselines match), at 1 thread: a warm-up epoch, then MEMORY_EPOCHS epochs, each epoch's peak
resident memory (VmHWM, reset before it; bench/train_bench.py's reset_peak_rss and rss_bytes)
and that peak above the resident memory after setup.

Targets (the exit status is 1 if any fails): at hidden 64 and 128, every fixed-length row's
specc / torch words/s >= 2.5, per cell and thread count (the lowest is reported). The crossover,
the rows where torch trains faster (ratio < 1), is named, or said to be absent.

Run from the repository root (needs torch, threadpoolctl: `pip install -e .[bench]`):

    python bench/scale_sequences.py                  # everything: about 17 minutes a thread count on
                                                     # the 2-core VM (1 thread, memory included)
    python bench/scale_sequences.py --quick          # short rounds, one memory epoch
    python bench/scale_sequences.py --cell lstm --hidden 256 --length 100 --profile
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import slots_bench  # noqa: E402
from bench.common import background_busy, finish, print_targets  # noqa: E402
from bench.train_bench import copy_into, reset_peak_rss, rss_bytes  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from specc.runtime.blas_threads import blas_threads_for, chosen_threads, mean_product, small_recurrence  # noqa: E402

CELLS = ("elman", "jordan", "lstm", "gru")
TORCH_CELLS = {"elman": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
HIDDEN = (64, 128, 256)
LENGTHS = (10, 40, 100)
PADDED_LENGTHS, PADDED_HIDDEN = (10, 40), 128  # the padded rows: lengths uniform in [10, 40]
VOCABULARY, TAGS, SENTENCES = 1000, 10, 576
CHUNK_WORDS = 8000
MEMORY_EPOCHS = 2
GOAL, GOAL_HIDDEN = 2.5, (64, 128)
SPEC = """\
model seq_{cell}_{hidden}
input words: seq token
output tags: from data

words -> onehot
      -> dense {hidden} bias=false
      -> rnn {cell} hidden={hidden}
      -> dense -> softmax -> tags

train
  optimizer adam lr=0.001
  batch 16
  clip 5
"""


@dataclass(frozen=True)
class Row:
    """One benchmarked tagger: cell, hidden width H, sentence length T (lengths (low, T) when padded)."""

    cell: str
    hidden: int
    length: int
    low: int | None = None  # padded rows: the shortest sentence; None: every sentence has `length` words

    @property
    def name(self) -> str:
        lengths = self.length if self.low is None else f"{self.low}-{self.length}"
        return f"{self.cell} h{self.hidden} T{lengths}"


@dataclass(frozen=True)
class Plan:
    rounds: int
    warmup_s: float
    chunk_words: int
    warmup_batches: int  # memory: batches before the measured epochs (one epoch in the full run)
    memory_epochs: int


FULL = Plan(rounds=9, warmup_s=0.25, chunk_words=CHUNK_WORDS, warmup_batches=0, memory_epochs=MEMORY_EPOCHS)
QUICK = Plan(rounds=3, warmup_s=0.1, chunk_words=CHUNK_WORDS // 4, warmup_batches=5, memory_epochs=1)


# --- the data and the torch modules ----------------------------------------------------------

def data_file(folder: Path, length: int, low: int | None) -> Path:
    """The synthetic tagged sentences (module docstring) as a `word:TAG` file in `folder`."""
    path = folder / f"sentences_{low}_{length}.txt"
    if not path.exists():
        rng = np.random.default_rng([length, low or 0])
        lines = []
        for _ in range(SENTENCES):
            words = rng.integers(VOCABULARY, size=length if low is None else int(rng.integers(low, length + 1)))
            tags = (words + np.concatenate([[0], words[:-1]])) % TAGS
            lines.append(" ".join(f"w{w}:t{t}" for w, t in zip(words, tags)))
        path.write_text("\n".join(lines) + "\n")
    return path


class JordanLoop(torch.nn.Module):
    """torch's Jordan layer (one direction, tanh): a Python loop over time with autograd.

    forward(x (N, T, F)) -> (outputs (N, T, M), None), like nn.RNN's (output, h_n) pair."""

    def __init__(self, inputs: int, hidden: int, out: int):
        super().__init__()
        self.W = torch.nn.Parameter(torch.empty(hidden, inputs))
        self.b = torch.nn.Parameter(torch.empty(hidden))
        self.U = torch.nn.Parameter(torch.empty(hidden, out))
        self.V = torch.nn.Parameter(torch.empty(out, hidden))
        self.c = torch.nn.Parameter(torch.empty(out))

    def forward(self, x: torch.Tensor):
        xw = torch.nn.functional.linear(x, self.W, self.b)  # every step's input projection at once
        outputs, y = [], None
        for t in range(x.shape[1]):
            a = xw[:, t] if y is None else torch.addmm(xw[:, t], y, self.U.T)
            y = torch.tanh(torch.addmm(self.c, torch.tanh(a), self.V.T))
            outputs.append(y)
        return torch.stack(outputs, dim=1), None


def tagger(cell: str) -> type:
    """The torch module class for `cell`: Tagger(case) holds the case's initial weights."""

    class Tagger(torch.nn.Module):
        """Embedding -> the cell's module (unidirectional, batch first) -> Linear."""

        def __init__(self, case):
            super().__init__()
            weight = slots_bench.weight
            embedding = weight(case, "dense", "weight", 0)  # (H, V+1): a product with one-hot rows
            hidden = embedding.shape[0]
            self.embedding = torch.nn.Embedding(len(case.vocabulary) + 1, hidden)
            self.dense = torch.nn.Linear(hidden, case.classes)
            pairs = [(self.embedding.weight, embedding.T, "embedding"),
                     (self.dense.weight, weight(case, "dense", "weight", 1), "dense.weight"),
                     (self.dense.bias, weight(case, "dense", "bias", 1), "dense.bias")]
            if cell == "jordan":
                self.rnn = JordanLoop(hidden, hidden, hidden)
                names = [(name, name) for name in "WbUVc"]
            else:
                self.rnn = TORCH_CELLS[cell](hidden, hidden, batch_first=True)
                names = [("W", "weight_ih_l0"), ("R", "weight_hh_l0"), ("b", "bias_ih_l0")]
                names += [("Rb", "bias_hh_l0")] if cell != "elman" else []
            pairs += [(getattr(self.rnn, torch_name), weight(case, "rnn", f"layer1.{name}")[0], f"layer1.{name}")
                      for name, torch_name in names]
            for parameter, value, what in pairs:
                copy_into(parameter, value, what)
            if cell == "elman":  # specc has one bias; training both would move their sum twice as fast
                copy_into(self.rnn.bias_hh_l0, torch.zeros(hidden), "bias_hh_l0")
                self.rnn.bias_hh_l0.requires_grad_(False)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            """ids (N, T) int64 -> logits (N, T, C)."""
            return self.dense(self.rnn(self.embedding(ids))[0])

    return Tagger


def unpacked_trainer(case):
    """The usual PyTorch loop on fixed-length sentences (no padding, so nothing to pack), on ids
    looked up once; step(epoch, batch, rows) -> (loss, words)."""
    settings = case.settings
    ids_all, _ = slots_bench.ids_of(case, case.dataset.train.x)
    tags_all = case.dataset.train.y.astype(np.int64)
    module = case.tagger(case).train()
    parameters = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=settings.lr, betas=(settings.beta1, settings.beta2), eps=settings.eps)

    def step(epoch: int, batch: int, rows: np.ndarray) -> tuple[float, int]:
        ids, tags = torch.from_numpy(ids_all[rows]), torch.from_numpy(tags_all[rows]).reshape(-1)
        optimizer.zero_grad()
        logits = module(ids).reshape(len(tags), -1)
        loss = F.cross_entropy(logits, tags)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, settings.clip)
        optimizer.step()
        value = loss.item()
        int((logits.detach().argmax(dim=-1) == tags).sum())
        return value, len(tags)

    return step


def torch_trainer_for(row: Row):
    """torch's step maker for `row`: unpacked for fixed lengths, slots_bench's packed one for padding."""
    return unpacked_trainer if row.low is None else slots_bench.torch_trainer


def load_row(row: Row, folder: Path):
    """slots_bench's Case for `row`: the spec, its synthetic data and torch's module class."""
    spec = SPEC.format(cell=row.cell, hidden=row.hidden)
    return slots_bench.load_case(str(data_file(folder, row.length, row.low)), spec, tagger(row.cell))


def specc_blas_threads(case) -> str:
    """The BLAS threads `specc train` chooses for the case, as bench/slots_bench.py's
    measure_training applies them: '1', or 'n' (the budget)."""
    layers, x = case.net.model.layers, case.dataset.train.x
    rows = min(case.settings.batch, len(x))
    chosen = chosen_threads(mean_product(layers, rows, x.shape[1]), None, small_recurrence(layers, rows))
    return "n" if chosen is None else str(chosen)


# --- the limit: the step's matrix products alone ------------------------------------------------

def product_shapes(cell: str, hidden: int, steps: int, batch: int, classes: int) -> list[tuple[int, tuple]]:
    """(how many, (m, k, n)) of the matrix products of one training step of the tagger, as
    runtime/kernels/rnn.py and dense.py run them (the embedding is a lookup, no product): the
    recurrence, per step, forward and backward ((batch, H) by (H, G*H); Jordan: y U^T and h V^T
    each way), the rnn's whole-sequence products (x W^T, dW, dx, dR; Jordan dU and dV for dR) and
    the output dense's three ((batch*T, H) by (H, C))."""
    gates = {"lstm": 4, "gru": 3}.get(cell, 1) * hidden
    rows, jordan = batch * steps, cell == "jordan"
    return [((4 if jordan else 2) * steps, (batch, hidden, gates)), ((5 if jordan else 4), (rows, hidden, gates)),
            (3, (rows, hidden, classes))]


def products_seconds(shapes: list[tuple[int, tuple]], repeats: int = 7) -> float:
    """Seconds the products of `shapes` take, each timed alone by NumPy on random float32 arrays
    with the current BLAS threads: the median of `repeats` timings of a few calls (a median, as
    the words/s it is set against; the best timing on a shared machine would flatter the limit)."""
    rng, total = np.random.default_rng(0), 0.0
    for count, (m, k, n) in shapes:
        a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        out, calls = np.empty((m, n), np.float32), max(1, min(count, 20))
        np.matmul(a, b, out=out)  # warms the library up
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                np.matmul(a, b, out=out)
            seconds.append((time.perf_counter() - start) / calls)
        total += count * statistics.median(seconds)
    return total


# --- speed and memory of one row -----------------------------------------------------------------

def measure_row(row: Row, folder: Path, plan: Plan, threads_to_time: tuple, visit: np.random.Generator) -> dict:
    """Agreement of the first losses, then words/s of both sides at every thread count."""
    case = load_row(row, folder)
    torch_step = torch_trainer_for(row)
    agreement = slots_bench.check_training_agreement(case, torch_step)
    words_per_batch = int((case.dataset.train.x != "").sum()) / len(case.dataset.train.x) * case.settings.batch
    timing = slots_bench.Plan(train_rounds=plan.rounds, chunk_batches=max(3, round(plan.chunk_words / words_per_batch)),
                              train_warmup_s=plan.warmup_s, infer_rounds=0, infer_warmup_s=0, b1_passes=0,
                              b256_calls=0, fit_epoch=False)
    result = {"row": asdict(row), "name": row.name, "agreement": agreement, "chunk_batches": timing.chunk_batches,
              "vocabulary": len(case.vocabulary), "classes": case.classes,
              "train_sentences": len(case.dataset.train.x), "specc_blas_threads": specc_blas_threads(case),
              "training": []}
    train_x = case.dataset.train.x
    shapes = product_shapes(row.cell, row.hidden, train_x.shape[1], case.settings.batch, case.classes)
    for threads in threads_to_time:
        torch.set_num_threads(threads)
        with slots_bench.BlasThreads(threads):
            entry = slots_bench.measure_training(case, timing, threads, visit, torch_step)
            with blas_threads_for(case.net.model.layers, case.settings.batch, train_x.shape):
                entry["limit_ratio"] = words_per_batch / products_seconds(shapes) / entry["words_per_s"]["torch"]
        result["training"].append(entry)
    return result


# per word, the values besides the rnn's input and output h that its backward reads, in units of
# H: Jordan its hidden h beside the fed-back y; LSTM its gates i, f, g, o and c; GRU its gates r, z,
# n and its recurrent product's n block (which r multiplies); Elman nothing more
CELL_VALUES = {"elman": 0, "jordan": 1, "lstm": 5, "gru": 4}


def activation_bound(row: Row, classes: int, words: int) -> int:
    """Bytes of the values a backward pass must read, each counted once, float32, for a batch of
    `words` words: the rnn's input (for W's gradient), its output h (for R's and the dense's), the
    cell's own values (CELL_VALUES), the logits the loss reads, and an int64 id per word (the
    embedding's rows): a lower bound on any design's activation memory."""
    return words * (4 * ((2 + CELL_VALUES[row.cell]) * row.hidden + classes) + 8)


def traced_step(case, rows: np.ndarray) -> dict:
    """tracemalloc's view of one specc training step on `rows` (slots_bench.specc_trainer's
    step): bytes held after the forward pass (its caches and the logits) and the step's peak,
    both above what was held before it; and the batch's words."""
    import tracemalloc

    from specc.runtime.interpreter import backward_layers, run_layers
    from specc.runtime.train import batch_of, objective_for

    objective = objective_for(case.net.model.chains[0], case.settings.loss)
    x, y, mask = batch_of(case.dataset.train, rows)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        caches: list = []
        outputs = run_layers(objective.layers, case.net.weights, x, caches, mask=mask)
        cached = tracemalloc.get_traced_memory()[0] - before
        _, grad, _ = objective(outputs, y, mask)
        backward_layers(objective.layers, case.net.weights, caches, grad, need_input_grad=False, mask=mask)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return {"cached": cached, "step_peak": peak, "words": int(mask.sum())}


def memory_child(row: Row, side: str, folder: Path, plan: Plan) -> dict:
    """In a fresh process at 1 thread: each epoch's peak RSS, and the RSS after setup; for specc,
    one step's traced activation memory and the lower bound."""
    torch.set_num_threads(1)
    with slots_bench.BlasThreads(1):
        case = load_row(row, folder)
        step = slots_bench.specc_trainer(case) if side == "specc" else torch_trainer_for(row)(case)
        batches = slots_bench.Batches(case)
        _, setup_rss = rss_bytes()
        warmup = plan.warmup_batches or batches.per_epoch
        slots_bench.run_chunk(step, batches, 0, warmup)
        peaks, per_epoch = [], True
        for e in range(plan.memory_epochs):
            per_epoch = reset_peak_rss() and per_epoch  # else the peak counts from the process's start
            slots_bench.run_chunk(step, batches, warmup + e * batches.per_epoch, batches.per_epoch)
            peaks.append(rss_bytes()[0])
        found = {"setup_rss": setup_rss, "peak_rss": peaks, "peak_is_per_epoch": per_epoch}
        if side == "specc":
            traced = traced_step(case, batches[0][2])
            found["activations"] = {**traced, "bound": activation_bound(
                row, len(case.net.model.outputs[0].classes), traced["words"])}
    return found


def measure_memory(row: Row, side: str, folder: Path, quick: bool) -> dict:
    """memory_child in a subprocess of this script."""
    command = [sys.executable, __file__, "--memory-child", json.dumps([asdict(row), side, str(folder)])]
    done = subprocess.run(command + (["--quick"] if quick else []), cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the run, its targets and its report -----------------------------------------------------------

def rows_for(cells, hidden, lengths) -> list[Row]:
    """The fixed-length grid, then the padded rows of the chosen cells that torch has a module for."""
    rows = [Row(cell, h, t) for cell in cells for h in hidden for t in lengths]
    low, high = PADDED_LENGTHS
    return rows + [Row(cell, PADDED_HIDDEN, high, low) for cell in cells if cell in TORCH_CELLS
                   and PADDED_HIDDEN in hidden and high in lengths]


def targets(rows: list[dict]) -> list[dict]:
    """Per cell and thread count: the lowest ratio of the fixed-length rows at GOAL_HIDDEN."""
    lowest: dict[tuple, float] = {}
    for entry in rows:
        if entry["row"]["low"] is None and entry["row"]["hidden"] in GOAL_HIDDEN:
            for timing in entry["training"]:
                key = (entry["row"]["cell"], timing["threads"])
                lowest[key] = min(lowest.get(key, math.inf), timing["ratio"])
    hidden = "-".join(str(h) for h in GOAL_HIDDEN)
    return [{"target": f"{cell}, hidden {hidden}, {threads} thread(s): lowest specc / torch words/s",
             "value": value, "bound": f">= {GOAL:g}", "pass": value >= GOAL} for (cell, threads), value in lowest.items()]


def crossover(rows: list[dict]) -> list[str]:
    """The rows and thread counts where torch trains faster (ratio < 1), as text."""
    return [f"{entry['name']} at {timing['threads']} thread(s) ({timing['ratio']:.2f}x)"
            for entry in rows for timing in entry["training"] if timing["ratio"] < 1]


def measure(rows: list[Row], plan: Plan, threads_to_time: tuple, memory: bool, quick: bool) -> dict:
    began = time.perf_counter()
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "background_cpu_busy_at_start": background_busy(),
               "machine": {"cpu": slots_bench.cpu_model(), "cpus": os.cpu_count(),
                           "numpy": np.__version__, "torch": torch.__version__, "blas": slots_bench.blas_text()},
               "plan": asdict(plan), "command": " ".join(["python", "bench/scale_sequences.py", *sys.argv[1:]]),
               "rows": []}
    visit = np.random.default_rng(slots_bench.SEED)
    jiffies, own = slots_bench.cpu_jiffies(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            entry = measure_row(row, Path(tmp), plan, threads_to_time, visit)
            if memory:
                entry["memory"] = {side: measure_memory(row, side, Path(tmp), quick) for side in ("specc", "torch")}
            print(f"{row.name}: " + ", ".join(f"{t['threads']}t {t['ratio']:.2f}x" for t in entry["training"]),
                  file=sys.stderr, flush=True)
            results["rows"].append(entry)
    results["others_cpu_busy_while_timing"] = slots_bench.others_busy(jiffies, slots_bench.cpu_jiffies(),
                                                                      time.process_time() - own)
    results["crossover"] = crossover(results["rows"])
    results["targets"] = targets(results["rows"])
    results["seconds"] = time.perf_counter() - began
    return results


def mib(value: float) -> str:
    return f"{value / 2**20:.0f}"


def print_report(results: dict) -> None:
    m, plan = results["machine"], results["plan"]
    print(f"# Sequence training at scale: specc vs PyTorch CPU ({results['date']})\n")
    print(f"Machine: {m['cpu']} ({m['cpus']} CPUs), numpy {m['numpy']} (BLAS: {m['blas']}), torch {m['torch']}. "
          f"CPU busy before start {slots_bench.percent(results['background_cpu_busy_at_start'])}; other processes "
          f"used {slots_bench.percent(results['others_cpu_busy_while_timing'])} of all CPUs' time while timing. "
          f"Command: `{results['command']}`.\n")
    first = results["rows"][0]
    print(f"Synthetic tagging data: {first['train_sentences']} training sentences, vocabulary {first['vocabulary']} "
          f"+ other, {first['classes']} tags; embedding H -> rnn CELL hidden=H (unidirectional) -> dense; Adam lr "
          f"1e-3, batch 16, clip 5. Fixed-length rows: every sentence T words, torch unpacked; T10-40 rows: lengths "
          f"uniform in 10..40, torch packed. torch's Jordan: a Python loop over time (no PyTorch module). Median of "
          f"{plan['rounds']} shuffled rounds of about {plan['chunk_words']} words per side; ratio = median of the "
          f"rounds' ratios; limit: torch's words/s against a step of specc's matrix products alone. specc BLAS: the threads `specc train` chooses within the budget (1, or n = the budget). "
          f"Peak RSS: each epoch's peak in a fresh process at 1 thread, MiB (above the RSS after setup in brackets). "
          f"Activations: specc's traced step on the first batch, KiB: held after the forward pass / the step's "
          f"peak / the lower bound (activation_bound).\n")
    threads = [t["threads"] for t in first["training"]]
    head = "".join(f" {n}t specc w/s | {n}t torch w/s | {n}t ratio | {n}t limit |" for n in threads)
    print(f"| row | specc BLAS |{head} first-loss diff | peak RSS specc | peak RSS torch | activations specc |")
    print("|---|---|" + "---:|---:|---:|---:|" * len(threads) + "---:|---:|---:|---:|")
    for entry in results["rows"]:
        cells = "".join(f" {t['words_per_s']['specc']:,.0f} | {t['words_per_s']['torch']:,.0f} | "
                        f"**{t['ratio']:.2f}x** | {t['limit_ratio']:.2f}x |" for t in entry["training"])
        memory = entry.get("memory")
        rss = [f"{mib(max(memory[s]['peak_rss']))} ({mib(max(memory[s]['peak_rss']) - memory[s]['setup_rss'])})"
               for s in ("specc", "torch")] if memory else ["-", "-"]
        traced = memory["specc"].get("activations") if memory else None
        activations = (" / ".join(f"{traced[k] / 1024:,.0f}" for k in ("cached", "step_peak", "bound"))
                       if traced else "-")
        print(f"| {entry['name']} | {entry['specc_blas_threads']} |{cells} "
              f"{entry['agreement']['max_relative_diff']:.1e} | {rss[0]} | {rss[1]} | {activations} |")
    print("\nCrossover (torch faster): " + ("; ".join(results["crossover"]) if results["crossover"]
                                          else "none: specc trains faster in every row") + ".\n")
    print_targets(results["targets"])
    print(f"\n(total {results['seconds']:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=CELLS, nargs="+", default=CELLS, help="cells (default all four)")
    parser.add_argument("--hidden", type=int, nargs="+", default=HIDDEN, help="hidden widths (default 64 128 256)")
    parser.add_argument("--length", type=int, nargs="+", default=LENGTHS, help="sentence lengths (default 10 40 100)")
    parser.add_argument("--threads", type=int, nargs="+", default=slots_bench.THREADS, help="thread budgets (default 1 2)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds; one memory epoch")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak RSS subprocesses")
    parser.add_argument("--profile", action="store_true", help="only profile specc's step on each chosen row")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.memory_child:
        row, side, folder = json.loads(args.memory_child)
        print(json.dumps(memory_child(Row(**row), side, Path(folder), plan)))
        return 0
    rows = rows_for(args.cell, args.hidden, args.length)
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            for row in rows:
                case = load_row(row, Path(tmp))
                for threads in args.threads:
                    with slots_bench.BlasThreads(threads):
                        print(f"## {row.name}, NumPy BLAS threads: {threads}\n")
                        print(slots_bench.piece_times(case, 100) + "\n")
                        print(slots_bench.profile_specc(case, 20))
        return 0
    return finish(measure(rows, plan, tuple(args.threads), not args.no_memory, args.quick), args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
