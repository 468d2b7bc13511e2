"""What the benchmark scripts share: how busy the machine was, and the end of a run."""
from __future__ import annotations

import json
import time
from pathlib import Path


def background_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs busy with other work while this script sleeps (Linux /proc/stat; else None).

    Anything well above zero means the timings are shared with someone else's work.
    """
    def idle_and_total() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user .. steal

    try:
        idle0, total0 = idle_and_total()
        time.sleep(seconds)
        idle1, total1 = idle_and_total()
    except OSError:
        return None
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def finish(results: dict, as_json: bool, print_report) -> int:
    """Print the results (JSON or the report); exit status 0 if every target passed, else 1."""
    if as_json:
        print(json.dumps(results))
    else:
        print_report(results)
    return 0 if all(row["pass"] for row in results["targets"]) else 1


def print_targets(targets: list[dict]) -> None:
    """The targets (finish's `results["targets"]`) as a markdown table: target, measured, bound, result."""
    print("| target | measured | bound | result |")
    print("|---|---:|---|---|")
    for row in targets:
        print(f"| {row['target']} | {row['value']:.2f} | {row['bound']} | {'PASS' if row['pass'] else 'FAIL'} |")


class Stopwatch:
    """Wall-clock seconds of labelled calls: `times[label]` keeps one entry per call."""

    def __init__(self):
        self.times: dict[str, list[float]] = {}

    def timed(self, label: str, call):
        """Run call(), add its duration under `label`, return its result."""
        start = time.perf_counter()
        result = call()
        self.times.setdefault(label, []).append(time.perf_counter() - start)
        return result
