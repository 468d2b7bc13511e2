"""`specc serve --replicas K` under load: requests/s and latency with 1 and 2 Ray Serve replicas,
against `specc serve` in one process and direct onnxruntime calls, in the same run.

The model, requests, clients and checks are bench/serve_bench.py's (x_or_o by default: one-row
requests from the test split, 16 concurrent tritonclient.http.aio clients, every answer compared
bit for bit with a direct onnxruntime call on that request alone). Every server runs in its own
process, onnxruntime at 1 thread (a replica's default share of a 2-CPU machine):

    direct        16 Python threads calling session.run, no HTTP
    one process   specc serve MODEL --threads 1 (uvicorn, dynamic batching on, the defaults)
    Ray, K          specc serve MODEL --threads 1 --replicas K: a local Ray cluster, Ray Serve's
                    proxy (its default, in Python) in front of K replicas of the same app, each
                    batching its own requests
    Ray, K, HAProxy the same with RAY_SERVE_ENABLE_HA_PROXY=1 RAY_SERVE_THROUGHPUT_OPTIMIZED=1: Ray
                    Serve's HAProxy ingress and gRPC to the replicas (opt-in: HAProxy also listens
                    on *:8404 and *:9101 for its statistics, fixed ports)

    python bench/serve_ray_bench.py                       # x_or_o, 4,000 requests
    python bench/serve_ray_bench.py --model digits --requests 10000
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import background_busy  # noqa: E402
from bench.serve_bench import MODELS, Case, machine, prepare, run_direct, send_all, serving, summary, unequal  # noqa: E402

HAPROXY = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}
DEFAULT = {name: "0" for name in HAPROXY}  # Ray Serve's own defaults
HOW = {"one process": [], "Ray, 1 replica": ["--replicas", "1"], "Ray, 2 replicas": ["--replicas", "2"],
       "Ray, 1 replica, HAProxy": ["--replicas", "1"], "Ray, 2 replicas, HAProxy": ["--replicas", "2"]}


def table_header(*columns: str) -> str:
    """A Markdown table's first two lines."""
    return "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|"


def run(case: Case, flags: list[str], expected: list[dict]) -> dict:
    """The requests through one server: timing, answers lost and unequal."""
    with serving(case, 1, flags) as (url, _):
        warm = Case(case.name, case.path, case.input, case.datatype, case.requests[:200])
        asyncio.run(send_all(url, warm, list(expected[0])))
        results, latencies, seconds = asyncio.run(send_all(url, case, list(expected[0])))
    missing, differ = unequal(results, expected)
    return {**summary(latencies, seconds), "lost": missing, "unequal": differ}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--model", default="x_or_o", choices=list(MODELS))
    args = parser.parse_args(argv)
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}\n"
          f"other work on the machine at the start: {background_busy():.0%} of the CPUs busy\n"
          f"{args.requests:,} requests (one row each) of {args.model} from 16 concurrent clients\n")
    print(table_header("how", "requests/s", "p50 ms", "p99 ms", "lost", "unequal"))
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        case = prepare(args.model, Path(folder), args.requests)
        expected, timing = run_direct(case, 1)
        print(f"| direct onnxruntime | {timing['per_s']:,.0f} | {timing['p50']:.2f} | {timing['p99']:.2f} | | |")
        for how, flags in HOW.items():
            os.environ.update(HAPROXY if how.endswith("HAProxy") else DEFAULT)  # the servers inherit it
            row = run(case, flags, expected)
            failed |= bool(row["lost"] or row["unequal"])
            print(f"| specc serve, {how} | {row['per_s']:,.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {row['lost']} | "
                  f"{row['unequal']} |", flush=True)
    print(f"\nother work on the machine at the end: {background_busy():.0%} of the CPUs busy")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
