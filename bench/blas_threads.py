"""BLAS threads in training: specc's automatic choice (runtime/blas_threads.py) against today's
default (OpenBLAS on every core), on an idle machine and beside a competing load.

Two parts, in one run:

  sweep   where a second BLAS thread starts to pay: epochs of `x -> dense W -> relu -> dense 10`
          (W inputs, batch 64, 2,048 random samples) for W from 128 to 1024, products of 0.6 M
          to 34 M multiply-adds on average (specc.runtime.blas_threads.mean_product), at 1 and at 2
          threads, on the idle machine; the ratio of 2 threads to 1 at the median and at the best
          (least disturbed) run. ONE_THREAD_BELOW should sit where 2 threads start to be faster.
  epochs  training epochs (specc.runtime.train.fit, checkpoint and validation included, as `specc
          train` runs them) of representative specs: specs/x_or_o.nn on xo, specs/slots_elman.nn
          on flights, specs/digits.nn on digits (when scikit-learn is installed) and a wider dense net (512 -> 512 -> 512 -> 10, batch 128, products of 22 M
          multiply-adds on average: the default stays).
          Each at 1 thread, 2 threads, the library's default and `auto` (the same setting twice
          is measured once), first idle, then beside one busy-loop process per core.

Each measurement trains from the same initial weights with SPECC_BLAS_THREADS set to the
setting, so the trainer itself applies it; it records the wall time (perf_counter) and the CPU
time of this process, every thread included (process_time: OpenBLAS's workers spinning on a
core count there). Settings are visited in a shuffled order each round, after a 0.25 s pause
that lets the previous setting's workers stop spinning; the report gives medians over the
rounds, and ratios against the default.

Targets (PASS/FAIL; the exit status is 1 if any fails), for every spec, idle and loaded:

  auto wall time <= default wall time * (1 + NOISE)     never slower, within noise
  auto CPU time  <= default CPU time  * (1 + NOISE)     never more CPU

Run from the repository root (needs threadpoolctl: `pip install -e ".[threads]"`):

    python bench/blas_threads.py [--rounds 5] [--json]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import threadpoolctl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import specc  # noqa: E402  (importable from the checkout without installing)
from bench.common import background_busy, finish  # noqa: E402
from specc.runtime.blas_threads import ENVIRONMENT, LIBRARY_ENVIRONMENT, ONE_THREAD_BELOW, chosen_threads  # noqa: E402
from specc.runtime.blas_threads import mean_product  # noqa: E402
from specc.runtime.progress import Reporter  # noqa: E402
from specc.runtime.train import fit  # noqa: E402
from specc.training import with_flags  # noqa: E402
from specc.specs import spec_path  # noqa: E402

ROUNDS, SWEEP_ROUNDS = 5, 3
PAUSE_S = 0.25
NOISE = 0.10
# (W, epochs a measurement): about 0.1-0.2 s of training each, idle, so the timer's noise stays small
SWEEP = ((128, 16), (181, 8), (256, 4), (362, 2), (512, 1), (1024, 1))
SAMPLES, CLASSES = 2048, 10


@dataclass
class Case:
    """One trained spec: its Network, resolved settings (epochs = what one measurement trains)
    and data set."""

    name: str
    net: specc.Network
    settings: object
    dataset: object

    @property
    def mean(self) -> float:
        """Mean multiply-adds of a training step's matrix products, as the trainer reckons them."""
        x = self.dataset.train.x
        return mean_product(self.net.model.chains[0].layers, min(self.settings.batch, len(x)),
                            x.shape[1] if x.ndim >= 2 else 1)

    def epochs(self, threads: str, folder: Path) -> tuple[float, float]:
        """Wall and CPU seconds of training settings.epochs epochs with SPECC_BLAS_THREADS=threads."""
        weights = {name: value.copy() for name, value in self.net.weights.items()}
        os.environ[ENVIRONMENT] = threads
        wall, cpu = time.perf_counter(), time.process_time()
        fit(self.net.model, weights, self.settings, self.dataset, checkpoint_path=folder / "checkpoint.npz",
            reporter=Reporter("quiet"))
        return time.perf_counter() - wall, time.process_time() - cpu


def case(name: str, net: specc.Network, epochs: int) -> Case:
    """A Case training `net` on the data of its train section, `epochs` epochs a measurement."""
    settings = with_flags(net.model.train, {"epochs": epochs})
    return Case(name, net, settings, net.load_data(settings))


def dense_net(folder: Path, name: str, widths: tuple[int, ...], inputs: int, batch: int) -> specc.Network:
    """`x -> dense w -> relu -> ... -> dense 10 -> softmax` on SAMPLES random samples (saved in folder)."""
    rng = np.random.default_rng(0)
    data = folder / f"{name}.npz"
    np.savez(data, x=rng.standard_normal((SAMPLES, inputs)).astype(np.float32),
             y=rng.integers(0, CLASSES, SAMPLES))
    hidden = "".join(f" -> dense {w} -> relu" for w in widths)
    text = (f"model {name}\ninput x: {inputs}\noutput y: {' | '.join(str(c) for c in range(CLASSES))}\n"
            f"x{hidden} -> dense {CLASSES} -> softmax\n"
            f"train\n  data \"{data}\"\n  optimizer sgd lr=0.01\n  batch {batch}\n")
    return specc.loads(text, f"{name}.nn")


def representative_cases(folder: Path) -> list[Case]:
    """The specs of the `epochs` part, each set to train about 0.2-0.3 s a measurement (idle)."""
    cases = [case("x_or_o (xo)", specc.load(spec_path("x_or_o")), 8),
             case("slots_elman (flights)", specc.load(spec_path("slots_elman")), 2)]
    try:
        import sklearn  # noqa: F401  (the digits data set comes with scikit-learn)
        cases.append(case("digits", specc.load(spec_path("digits")), 16))
    except ImportError:
        print("scikit-learn not installed: digits left out", file=sys.stderr)
    cases.append(case("wide dense (512x3, batch 128)", dense_net(folder, "wide", (512, 512), 512, 128), 3))
    return cases


# ---- measuring ----

class BusyLoad:
    """One busy-loop process per core while inside the block (the competing load)."""

    def __enter__(self):
        self.processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                          for _ in range(os.cpu_count() or 1)]
        time.sleep(0.5)  # let them reach the scheduler before timing starts
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
            process.wait()


def measure(cases: list[Case], settings: dict[str, str], rounds: int, folder: Path) -> dict:
    """Median wall and CPU seconds, and the best wall seconds, per case and setting:
    {case: {setting: (wall, cpu, best wall)}}."""
    times = {c.name: {s: [] for s in settings} for c in cases}
    order = list(settings)
    for _ in range(rounds):
        for c in cases:
            random.shuffle(order)
            for label in order:
                time.sleep(PAUSE_S)
                times[c.name][label].append(c.epochs(settings[label], folder))
    return {name: {label: (statistics.median(w for w, _ in runs), statistics.median(t for _, t in runs),
                           min(w for w, _ in runs)) for label, runs in per.items()} for name, per in times.items()}


def thread_settings(default: int) -> dict[str, str]:
    """Labels -> SPECC_BLAS_THREADS values: 1 and 2 threads, the default (when it is another
    count) and auto."""
    settings = {"1 thread": "1", "2 threads": "2"}
    if default not in (1, 2):
        settings[f"default ({default})"] = str(default)
    settings["auto"] = "auto"
    return settings


def default_label(default: int) -> str:
    return {1: "1 thread", 2: "2 threads"}.get(default, f"default ({default})")


def machine() -> dict:
    """The CPU, its cores, the BLAS library and how busy the machine was before the run."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    return {"cpu": model, "cores": os.cpu_count(), "blas": ", ".join(f"{p['internal_api']} {p['version']}" for p in blas),
            "default_threads": blas[0]["num_threads"] if blas else 1, "busy_before": background_busy(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def run(args) -> dict:
    for name in LIBRARY_ENVIRONMENT:  # auto would leave the choice to the library: not what is measured
        if os.environ.pop(name, None) is not None:
            print(f"{name} ignored for this benchmark", file=sys.stderr)
    info = machine()
    default = info["default_threads"]
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        sweep_cases = [case(f"dense {w}", dense_net(folder, f"sweep{w}", (w,), w, 64), epochs) for w, epochs in SWEEP]
        sweep = measure(sweep_cases, {"1 thread": "1", "2 threads": "2"}, args.sweep_rounds, folder)
        cases = representative_cases(folder)
        settings = thread_settings(default)
        idle = measure(cases, settings, args.rounds, folder)
        with BusyLoad():
            loaded = measure(cases, settings, args.rounds, folder)
        info["busy_after"] = background_busy()
    os.environ.pop(ENVIRONMENT, None)
    results = {"machine": info, "rounds": args.rounds, "threshold": ONE_THREAD_BELOW,
               "sweep": [{"mean": c.mean, "width": w, **sweep[c.name]} for (w, _), c in zip(SWEEP, sweep_cases)],
               "cases": [{"name": c.name, "mean": c.mean, "auto": chosen_threads(c.mean, {}) or default}
                         for c in cases],
               "idle": idle, "loaded": loaded, "targets": []}
    reference = default_label(default)
    for condition, table in (("idle", idle), ("loaded", loaded)):
        for c in results["cases"]:
            (wall, cpu, _), (auto_wall, auto_cpu, _) = table[c["name"]][reference], table[c["name"]]["auto"]
            same = c["auto"] == default  # then auto is the default by construction, and its ratio is the noise
            results["targets"].append({
                "what": f"{c['name']}, {condition}: auto/default wall {auto_wall / wall:.2f}, CPU {auto_cpu / cpu:.2f}"
                        + (" (auto is the default here: the ratios show the noise)" if same else ""),
                "pass": same or (auto_wall <= wall * (1 + NOISE) and auto_cpu <= cpu * (1 + NOISE))})
    return results


# ---- report ----

def print_report(results: dict) -> None:
    info = results["machine"]
    busy = lambda v: "unknown" if v is None else f"{100 * v:.0f}%"  # noqa: E731
    print(f"{info['date']}; {info['cpu']}, {info['cores']} cores; {info['blas']}, default {info['default_threads']} "
          f"threads; other load {busy(info['busy_before'])} before, {busy(info['busy_after'])} after; "
          f"medians of {results['rounds']} rounds")
    print(f"\nsweep (idle): one dense layer, batch 64; threshold ONE_THREAD_BELOW = {results['threshold']:,}")
    print(f"{'W':>5}  {'mean product':>12}  {'wall 1 / 2 thr (s)':>19}  {'2/1 wall':>8}  {'best':>5}  {'2/1 CPU':>7}")
    for row in results["sweep"]:
        (w1, c1, b1), (w2, c2, b2) = row["1 thread"], row["2 threads"]
        print(f"{row['width']:>5}  {row['mean']:>12,.0f}  {w1:>8.3f} / {w2:<8.3f}  {w2 / w1:>8.2f}  {b2 / b1:>5.2f}  "
              f"{c2 / c1:>7.2f}")
    default = default_label(info["default_threads"])
    for condition in ("idle", "loaded"):
        table = results[condition]
        labels = list(next(iter(table.values())))
        print(f"\n{condition}{' (one busy loop per core)' if condition == 'loaded' else ''}: wall s / CPU s, "
              f"and auto against the default ({default})")
        print(f"{'spec':<30} {'mean prod.':>11} {'auto':>5}  " + "  ".join(f"{label:>13}" for label in labels)
              + f"  {'wall ratio':>10}  {'CPU ratio':>9}")
        for c in results["cases"]:
            row = table[c["name"]]
            cells = "  ".join(f"{w:>6.2f}/{t:<6.2f}" for w, t, _ in (row[label] for label in labels))
            print(f"{c['name']:<30} {c['mean']:>11,.0f} {c['auto']:>5}  {cells}  "
                  f"{row['auto'][0] / row[default][0]:>10.2f}  {row['auto'][1] / row[default][1]:>9.2f}")
    print()
    for target in results["targets"]:
        print(f"{'PASS' if target['pass'] else 'FAIL'}  {target['what']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="measurements of each spec and setting")
    parser.add_argument("--sweep-rounds", type=int, default=SWEEP_ROUNDS, help="measurements of each sweep size")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    return finish(run(args), args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
