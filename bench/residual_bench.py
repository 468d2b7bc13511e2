"""Training benchmark of specs/digits_residual.nn: specc's graph trainer against the same network in PyTorch CPU.

The network is the spec file itself (its train section aside): a residual block on the 8x8 digits,

  h = image -> conv 3x3 (16, same) -> relu
  h -> conv 3x3 (16) -> relu -> conv 3x3 (16) -> add h -> relu -> maxpool 2 -> flatten -> dense 10

and in torch the same layers (Conv2d, ReLU, `+ h`, MaxPool2d, Flatten, Linear) holding specc's
seeded initial weights. Everything else is bench/train_bench.py's CNN comparison, reused from
it: the digits cycled to 2,048 samples, batch 64, SGD lr 0.05 momentum 0.9 (no weight decay, no
schedule: the spec's own training settings are not what is timed), the fused softmax
cross-entropy, the same batches in the same shuffled order on both sides, the first three losses
checked to agree within 1e-4 relative, then the median of ROUNDS timed epochs per side, visited
in shuffled order with 250 ms of untimed steps before each (see train_bench's docstring for why).

specc's step is the inner loop of `specc.runtime.train.fit` for a graph, without its files and
progress lines: `run_graph` with caches, the GraphObjective's losses (and correct counts),
`backward_graph` (which sums h's two gradients, from the add and from the chain), the gradient
norm and the optimizer's step. torch's step is train_bench's.

For scale, the plain CNN of specs/digits.nn (train_bench's `cnn` case) is measured in the same
run, at the same thread counts, so that the two ratios share the machine's state. Each thread
count (`--threads`, default 1 and 2) sets torch's threads and NumPy's BLAS threads (through
threadpoolctl when installed). The whole measurement is repeated `--repeats` times and the
report gives each repeat's ratio and their median: on a shared machine a single run can be off
by a factor of two.

Target (the exit status is 1 if it fails): at every thread count, the median residual ratio
(specc samples/s over torch samples/s) is at least RESIDUAL_TARGET. That is a floor against
regressions, below what was measured (bench/RESULTS.md), not a claim of parity: torch is about
4x faster on this network, whose two 16-to-16 convs are large enough for torch's convolution
kernels to beat specc's im2col gather, matrix products and col2im scatter.

Run from the repository root (needs torch and scikit-learn, `pip install -e .[bench,data]`):

    python bench/residual_bench.py [--threads 1 2] [--rounds 15] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402  (importable from the checkout without installing)
from bench import train_bench as tb  # noqa: E402
from bench.common import background_busy, finish  # noqa: E402
from specc.runtime.interpreter import backward_graph, chain_masks, run_graph  # noqa: E402
from specc.runtime.optim import clip_by_global_norm, make_optimizer  # noqa: E402
from specc.runtime.train import graph_objective  # noqa: E402

SPEC = ROOT / "specs" / "digits_residual.nn"
FILTERS = 16
RESIDUAL_TARGET = 0.2  # a regression floor; 0.22-0.28 measured on the idle 2-core VM (bench/RESULTS.md)


class ResidualNet(torch.nn.Module):
    """The spec's graph in torch: (N, 1, 8, 8) images -> (N, 10) logits (no softmax)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, FILTERS, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(FILTERS, FILTERS, 3, padding=1)
        self.conv3 = torch.nn.Conv2d(FILTERS, FILTERS, 3, padding=1)
        self.dense = torch.nn.Linear(FILTERS * 4 * 4, tb.CLASS_COUNT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = torch.relu
        h = relu(self.conv1(x))
        y = relu(self.conv3(relu(self.conv2(h))) + h)
        return self.dense(torch.flatten(torch.nn.functional.max_pool2d(y, 2), 1))


def residual_module(net: specc.Network) -> torch.nn.Module:
    """A fresh ResidualNet holding specc's current weights: the spec's conv and dense layers, in
    the order written, go to conv1, conv2, conv3 and dense."""
    module = ResidualNet()
    layers = [layer for layer in net.model.layers if layer.kind in ("conv", "dense")]
    targets = (module.conv1, module.conv2, module.conv3, module.dense)
    if len(layers) != len(targets):
        raise SystemExit(f"{SPEC.name}: expected 3 conv and 1 dense layers, found {[l.kind for l in layers]}")
    for layer, target in zip(layers, targets):
        for local in ("weight", "bias"):
            value = torch.tensor(np.asarray(net.weights[layer.weight_name(local)], np.float32))
            tb.copy_into(getattr(target, local), value, layer.weight_name(local))
    return module.train()


def make_case() -> tb.Case:
    """The residual network on train_bench's 2,048 digits (its `objective` a GraphObjective)."""
    cnn = tb.make_case("cnn")  # the same data, drawn the same way
    net = specc.load(SPEC, seed=tb.SEED)
    objective = graph_objective(net.model, {net.model.outputs[0].name: ("cross_entropy", 1.0)})
    return tb.Case("residual", net, objective, cnn.x, cnn.y, cnn.data)


def specc_graph_trainer(case: tb.Case, weights: dict) -> tb.Step:
    """One step of specc.runtime.train.fit's inner loop over the graph on `weights` (updated in
    place); returns the loss."""
    objective, model = case.objective, case.net.model
    input_name, output_name = model.inputs[0].name, model.outputs[0].name
    train_settings = tb.settings()
    optimizer = make_optimizer(train_settings)
    masks = chain_masks(objective.steps, {})  # images: nothing is padded

    def step(x: np.ndarray, y: np.ndarray) -> float:
        caches: list = []
        outputs = run_graph(objective.steps, weights, {input_name: x}, masks, caches)
        loss, output_grads, _, _ = objective.losses(outputs, {output_name: y}, masks)
        _, grads = backward_graph(objective.steps, weights, caches, output_grads, masks)
        norm = clip_by_global_norm(grads, train_settings.clip)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise SystemExit(f"specc residual: training diverged (loss {loss}, gradient norm {norm})")
        optimizer.step(weights, grads, train_settings.lr)
        return loss

    return step


def residual_trainers(case: tb.Case) -> dict[str, tb.Step]:
    """Both sides, each from the initial weights (specc's on a copy)."""
    return {"specc": specc_graph_trainer(case, copy.deepcopy(case.net.weights)),
            "torch": tb.torch_trainer(case, residual_module(case.net))}


def measure_once(cases: dict, threads: int, rounds: int) -> dict:
    """Agreement and speed of every case at `threads` threads (torch and NumPy's BLAS)."""
    torch.set_num_threads(threads)
    limits = tb.threadpoolctl.threadpool_limits(threads, user_api="blas") if tb.threadpoolctl else None
    try:
        entry = {"background_cpu_busy_at_start": background_busy(), "blas_threads": tb.blas_threads(), "models": {}}
        for name, (case, make_trainers) in cases.items():
            entry["models"][name] = {"agreement": tb.check_agreement(case, make_trainers(case)),
                                     "speed": tb.measure_speed(case, rounds, make_trainers(case))}
        return entry
    finally:
        if limits is not None:
            limits.restore_original_limits()


def measure(thread_counts: list[int], rounds: int, repeats: int) -> dict:
    """`repeats` passes over every thread count; each case's ratios and their medians."""
    cases = {"residual": (make_case(), residual_trainers), "cnn": (tb.make_case("cnn"), tb.trainers)}
    runs = [{threads: measure_once(cases, threads, rounds) for threads in thread_counts} for _ in range(repeats)]
    results = {"spec": str(SPEC.relative_to(ROOT)), "data": cases["residual"][0].data, "rounds": rounds,
               "repeats": repeats, "batch": tb.BATCH, "samples": tb.SAMPLES,
               "param_count": cases["residual"][0].net.param_count,
               "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__},
               "runs": runs, "median_ratio": {}, "targets": []}
    for threads in thread_counts:
        medians = {name: statistics.median(run[threads]["models"][name]["speed"]["ratio"] for run in runs)
                   for name in cases}
        results["median_ratio"][threads] = medians
        results["targets"].append({"target": f"residual, {threads} thread(s): median specc / torch samples/s",
                                   "value": medians["residual"], "bound": f">= {RESIDUAL_TARGET:g}",
                                   "pass": medians["residual"] >= RESIDUAL_TARGET})
    return results


def print_report(results: dict) -> None:
    print(f"{results['spec']} ({results['param_count']:,} parameters) against torch; {results['data']}; "
          f"batch {results['batch']}, median of {results['rounds']} epochs per side, {results['repeats']} repeats; "
          + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    for r, run in enumerate(results["runs"], 1):
        for threads, entry in run.items():
            busy = entry["background_cpu_busy_at_start"]
            print(f"\nrepeat {r}, {threads} thread(s), CPU busy before start "
                  f"{'unknown' if busy is None else f'{busy:.0%}'}")
            for name, model in entry["models"].items():
                rate, agreement = model["speed"]["samples_per_s"], model["agreement"]
                print(f"  {name:<9} specc {rate['specc']:>9,.0f}/s  torch {rate['torch']:>9,.0f}/s  "
                      f"ratio {model['speed']['ratio']:.2f}x  (first losses agree to "
                      f"{agreement['max_relative_diff']:.1e})")
    print("\nmedian specc / torch ratio over the repeats:")
    for threads, medians in results["median_ratio"].items():
        print(f"  {threads} thread(s): " + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in medians.items()))
    print(f"\n{'target':<52} {'measured':>9}  {'bound':<7} result")
    for row in results["targets"]:
        print(f"{row['target']:<52} {row['value']:>9.3f}  {row['bound']:<7} {'PASS' if row['pass'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts for torch and NumPy's BLAS (default 1 2)")
    parser.add_argument("--rounds", type=int, default=tb.ROUNDS, help=f"timed epochs per side (default {tb.ROUNDS})")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the thread counts (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if min(args.threads) < 1 or args.rounds < 1 or args.repeats < 1:
        parser.error("--threads, --rounds and --repeats must be at least 1")
    return finish(measure(args.threads, args.rounds, args.repeats), args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
