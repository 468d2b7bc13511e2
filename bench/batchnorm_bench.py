"""Training benchmark of specs/digits_bn.nn: specc's trainer against the same network in PyTorch CPU.

The network is the spec file itself (its train section aside): digits.nn's CNN with a batchnorm
after its conv,

  image -> conv 3x3 (16, padding 1) -> batchnorm -> relu -> maxpool 2 -> flatten -> dense 10

and in torch Conv2d, BatchNorm2d (momentum 0.1, eps 1e-5, train mode), ReLU, MaxPool2d, Flatten
and Linear holding specc's seeded initial weights. Everything else is bench/residual_bench.py's
measurement, reused from it: train_bench's 2,048 digits, batch 64, SGD lr 0.05 momentum 0.9, the
same batches on both sides, the first three losses checked to agree within 1e-4 relative, the
median of ROUNDS timed epochs per side, the plain CNN (train_bench's `cnn`) measured in the same
run for scale, at each `--threads` count, `--repeats` times.

Run from the repository root (needs torch and scikit-learn, `pip install -e .[bench,data]`):

    python bench/batchnorm_bench.py [--threads 1 2] [--rounds 15] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402  (importable from the checkout without installing)
from bench import residual_bench as rb  # noqa: E402
from bench import train_bench as tb  # noqa: E402
from bench.common import finish  # noqa: E402
from specc.runtime.train import graph_objective  # noqa: E402

SPEC = ROOT / "specs" / "digits_bn.nn"


def batchnorm_module(net: specc.Network) -> torch.nn.Module:
    """The spec's layers in torch holding specc's initial weights (gamma 1, beta 0, running 0/1)."""
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(256, tb.CLASS_COUNT))
    for target, kind in ((module[0], "conv"), (module[1], "batchnorm"), (module[5], "dense")):
        for local in ("weight", "bias"):
            tb.copy_into(getattr(target, local), tb.weight_of(net.model.layers, kind, local, net.weights),
                         f"{kind}.{local}")
    return module.train()


def make_case() -> tb.Case:
    """digits_bn on train_bench's 2,048 digits (its `objective` a GraphObjective)."""
    cnn = tb.make_case("cnn")
    net = specc.load(SPEC, seed=tb.SEED)
    objective = graph_objective(net.model, {net.model.outputs[0].name: ("cross_entropy", 1.0)})
    return tb.Case("batchnorm", net, objective, cnn.x, cnn.y, cnn.data)


def trainers(case: tb.Case) -> dict:
    """Both sides, each from the initial weights (specc's on a copy)."""
    return {"specc": rb.specc_graph_trainer(case, copy.deepcopy(case.net.weights)),
            "torch": tb.torch_trainer(case, batchnorm_module(case.net))}


def measure(thread_counts: list[int], rounds: int, repeats: int) -> dict:
    cases = {"batchnorm": (make_case(), trainers), "cnn": (tb.make_case("cnn"), tb.trainers)}
    runs = [{threads: rb.measure_once(cases, threads, rounds) for threads in thread_counts} for _ in range(repeats)]
    medians = {threads: {name: statistics.median(run[threads]["models"][name]["speed"]["ratio"] for run in runs)
                         for name in cases} for threads in thread_counts}
    return {"spec": str(SPEC.relative_to(ROOT)), "data": cases["batchnorm"][0].data, "rounds": rounds,
            "repeats": repeats, "batch": tb.BATCH, "samples": tb.SAMPLES,
            "param_count": cases["batchnorm"][0].net.param_count,
            "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__},
            "runs": runs, "median_ratio": medians, "targets": []}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=tb.ROUNDS, help=f"timed epochs per side (default {tb.ROUNDS})")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if min(args.threads) < 1 or args.rounds < 1 or args.repeats < 1:
        parser.error("--threads, --rounds and --repeats must be at least 1")
    return finish(measure(args.threads, args.rounds, args.repeats), args.json, rb.print_report)


if __name__ == "__main__":
    raise SystemExit(main())
