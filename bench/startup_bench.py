"""Start-up benchmark: `specc check` and `specc compile` for every spec in specs/, as whole processes.

Issue 13's goals: `specc check SPEC` under 0.25 s and `specc compile SPEC -o TMP.onnx` under 1 s
of wall time, for every spec in specs/. Each is run as a fresh process, the way a user types it,
through two launchers of the interpreter running this script (never a pyenv shim, which adds
50-100 ms of its own):

  script   the `specc` console script installed next to sys.executable
  module   `python -m specc.cli`

A spec's time is the slower launcher's median over `--runs` runs; `python -c pass` is timed the
same way, for scale. As a user has them, .pyc files are written and read: the children run
without PYTHONDONTWRITEBYTECODE, and every command is run once untimed first (which also
fills any cache of specc's own). The timed runs go round in rounds, each visiting every spec and
command in a shuffled order, so that drift in a shared machine's speed falls on all alike; the
children's CPU time (user + system, from getrusage) is reported beside the wall time, as it
suffers less from other work on the machine. Prints a markdown table for bench/RESULTS.md with
the machine, date, load and the command; exit status 1 if a goal fails.

    python bench/startup_bench.py [--runs 5] [--spec NAME ...] [--json]
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import background_busy, finish  # noqa: E402

GOALS = {"check": 0.25, "compile": 1.0}  # seconds of wall time, issue 13
SPECS = ROOT / "specs"


def launchers() -> dict[str, list[str]]:
    """How to start specc: the console script beside sys.executable (when installed) and
    `python -m specc.cli`."""
    found = {"module": [sys.executable, "-m", "specc.cli"]}
    script = Path(sys.executable).with_name("specc.exe" if os.name == "nt" else "specc")
    if script.is_file():
        found = {"script": [str(script)], **found}
    return found


def user_environment() -> dict[str, str]:
    """This process's environment with .pyc writing allowed, as in a user's shell."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def children_cpu_s() -> float | None:
    """User + system seconds of every finished child so far (None where getrusage is missing)."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(command: list[str]) -> tuple[float, float | None]:
    """(wall seconds, CPU seconds or None) of one run of `command` from the repository root;
    RuntimeError with its error output if it fails."""
    cpu, start = children_cpu_s(), time.perf_counter()
    child = subprocess.run(command, cwd=ROOT, env=user_environment(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    wall, cpu_after = time.perf_counter() - start, children_cpu_s()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}): {child.stderr.decode()[-2000:]}")
    return wall, None if cpu is None else cpu_after - cpu


def commands(specs: list[Path], folder: Path) -> dict[tuple[str, str, str], list[str]]:
    """(spec name, what, launcher) -> the command line: check and compile of every spec by every
    launcher, and `python -c pass` (spec name '-', what 'python')."""
    found = {("-", "python", "python"): [sys.executable, "-c", "pass"]}
    for name, start in launchers().items():
        for spec in specs:
            path = str(spec.relative_to(ROOT))
            found[(spec.stem, "check", name)] = [*start, "check", path]
            found[(spec.stem, "compile", name)] = [*start, "compile", path, "-o", str(folder / f"{spec.stem}.onnx"),
                                                   "--quiet"]
    return found


def measure(specs: list[Path], runs: int, seed: int = 0) -> dict:
    """Warm every command once, then time `runs` rounds in shuffled order. Returns the results:
    per spec and command, the median wall and CPU seconds of each launcher."""
    busy = background_busy()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    order = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        todo = commands(specs, Path(folder))
        for command in todo.values():  # writes the .pyc files (and any cache) a user's second run finds
            run_once(command)
        times: dict[tuple, list[tuple[float, float | None]]] = {key: [] for key in todo}
        for _ in range(runs):
            keys = list(todo)
            order.shuffle(keys)
            for key in keys:
                times[key].append(run_once(todo[key]))
    rows = {}
    for (spec, what, launcher), measured in times.items():
        cpu = [c for _, c in measured if c is not None]
        rows.setdefault(spec, {}).setdefault(what, {})[launcher] = {
            "wall_s": statistics.median(w for w, _ in measured),
            "cpu_s": statistics.median(cpu) if cpu else None}
    return {"machine": machine(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "background_cpu_busy_at_start": busy, "load_average_at_start": load, "runs": runs,
            "launchers": {name: " ".join(start) for name, start in launchers().items()},
            "rows": rows, "targets": targets(rows)}


def machine() -> str:
    """The processor, its cores and the Python, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")]
        cpu = models[0] if models else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}"


def slowest(row: dict, what: str) -> float:
    """The slower launcher's median wall seconds of `what` in a spec's `row`."""
    return max(measured["wall_s"] for measured in row[what].values())


def targets(rows: dict) -> list[dict]:
    """One target per spec and command: its slower launcher's wall time against the goal."""
    return [{"target": f"specc {what} {spec}", "value": slowest(row, what), "bound": f"< {goal:g}",
             "pass": slowest(row, what) < goal}
            for spec, row in rows.items() if spec != "-" for what, goal in GOALS.items()]


def seconds(measured: dict, key: str) -> str:
    value = measured.get(key)
    return "-" if value is None else f"{value:.3f}"


def print_report(results: dict) -> None:
    """The markdown table: per spec, each command's wall and CPU seconds by launcher, and the verdict."""
    names = list(results["launchers"])
    busy = results["background_cpu_busy_at_start"]
    load = results["load_average_at_start"]
    print(f"Machine: {results['machine']}. Date: {results['date']}. Median of {results['runs']} runs, .pyc files "
          f"cached. CPU busy with other work at start: {'?' if busy is None else f'{busy:.0%}'}; load average "
          f"{'?' if load is None else ' '.join(f'{v:.2f}' for v in load)}.")
    print("Launchers: " + "; ".join(f"{name} = `{start}`" for name, start in results["launchers"].items()))
    print(f"\n`{results['command']}`\n")
    header = ["spec"] + [f"{what} {name} s (CPU)" for what in GOALS for name in names] + ["goals (< 0.25 s, < 1 s)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    python = results["rows"]["-"]["python"]["python"]
    print(f"| `python -c pass` | {seconds(python, 'wall_s')} ({seconds(python, 'cpu_s')}) |"
          + " |" * (len(header) - 2))
    verdicts = {row["target"]: row["pass"] for row in results["targets"]}
    for spec, row in sorted(results["rows"].items()):
        if spec == "-":
            continue
        cells = [f"{seconds(row[what][name], 'wall_s')} ({seconds(row[what][name], 'cpu_s')})"
                 for what in GOALS for name in names]
        verdict = " ".join(f"{what} {'PASS' if verdicts[f'specc {what} {spec}'] else 'FAIL'}" for what in GOALS)
        print(f"| {spec} | " + " | ".join(cells) + f" | {verdict} |")
    failed = [row["target"] for row in results["targets"] if not row["pass"]]
    print(f"\n{'every goal met' if not failed else 'FAILED: ' + ', '.join(failed)}")


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, measure, print; exit status 1 if any goal failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of every command (default 5; the median counts)")
    parser.add_argument("--spec", action="append", default=[], metavar="NAME",
                        help="only this spec of specs/ (its name without .nn); repeat for several (default: all)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    specs = sorted(SPECS.glob("*.nn"))
    unknown = sorted(set(args.spec) - {spec.stem for spec in specs})
    if unknown:
        parser.error(f"no spec {', '.join(unknown)} in specs/ (there are {', '.join(s.stem for s in specs)})")
    specs = [spec for spec in specs if not args.spec or spec.stem in args.spec]
    results = measure(specs, args.runs)
    results["command"] = " ".join(["python bench/startup_bench.py", f"--runs {args.runs}",
                                   *(f"--spec {name}" for name in args.spec)])
    return finish(results, args.json, print_report)


if __name__ == "__main__":
    sys.exit(main())
