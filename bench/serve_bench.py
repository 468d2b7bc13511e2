"""`specc serve` under load: 10,000 requests from 16 concurrent clients on loopback, against direct
onnxruntime calls in the same run.

For each model (x_or_o and digits, CNN classifiers; an ATIS-sized Elman tagger: specs/slots_elman.nn
with the ATIS vocabulary, about 900 words) and each onnxruntime thread count (1, 2):

  direct      16 Python threads call session.run on single requests (the same session options
              as the server's: intra-op threads 1 or 2, no spin-waiting between calls), no HTTP
  batch off   `specc serve MODEL --max-batch 1 --threads T` in its own process, each request one
              onnxruntime call
  batch 32    `specc serve MODEL --max-batch 32 --max-delay-ms 2 --threads T` (the defaults)

The requests are the test set's images or sentences (one row each, sentences of their own length,
cycled to 10,000). The clients are 16 tasks of tritonclient.http.aio (the protocol's reference
client, one connection each) in this process, each sending its next request when its answer has
come, tensors in binary. Every answer is compared bit for bit (scores) and word for word (class
names) with the direct call on that request alone; nothing may be lost. Reported: requests/s (all
requests / wall time), latency p50 and p99 (ms, per request, as the client sees it), and for the
server the mean rows per onnxruntime call (its statistics, GET /v2/models/NAME/stats).

    python bench/serve_bench.py                # all models, 1 and 2 threads
    python bench/serve_bench.py --requests 2000 --models x_or_o --threads 1
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import background_busy  # noqa: E402

CLIENTS = 16
# model -> (spec, data set it takes its vocabulary and test requests from)
MODELS = {"x_or_o": ("specs/x_or_o.nn", "xo"), "digits": ("specs/digits.nn", "digits"),
          "atis_elman": ("specs/slots_elman.nn", "atis")}
MODES = {"batch off": ["--max-batch", "1"], "batch 32": ["--max-batch", "32", "--max-delay-ms", "2"]}


@dataclass
class Case:
    """One exported model and its requests: one row each, (1, ...) arrays of input `name`."""
    name: str
    path: Path
    input: str
    datatype: str
    requests: list


def prepare(name: str, folder: Path, count: int) -> Case:
    """Export the model (untrained weights: the timing and the answers' equality do not depend on
    them) and take `count` requests from its data set's test split."""
    import specc
    from specc.training import with_flags

    spec, data = MODELS[name]
    path = folder / f"{name}.onnx"
    net = specc.load(ROOT / spec, data=data if data == "atis" else None)
    net.export(path)
    rows = net.load_data(with_flags(net.model.train, {"data": data})).test.x
    if rows.dtype == object:  # sentences: each of its own length, without the padding
        requests = [row[row != ""][None, :] for row in rows]
        datatype, input_name = "BYTES", "words"
    else:
        requests = [row[None].astype(np.float32) for row in rows]
        datatype, input_name = "FP32", "image"
    return Case(name, path, input_name, datatype, [requests[k % len(requests)] for k in range(count)])


def session(path: Path, threads: int) -> ort.InferenceSession:
    """A session with the server's options: `threads` intra-op threads, no spin-waiting."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def summary(latencies: list[float], seconds: float) -> dict:
    """Requests/s and latency percentiles (ms)."""
    ms = np.array(latencies) * 1e3
    return {"per_s": len(latencies) / seconds, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


# ---- direct onnxruntime ----

def run_direct(case: Case, threads: int) -> tuple[list, dict]:
    """Every request through session.run from 16 threads: the answers (in order) and the timing."""
    sess = session(case.path, threads)
    names = [o.name for o in sess.get_outputs()]

    def one(request):
        started = time.perf_counter()
        values = sess.run(None, {case.input: request})
        return dict(zip(names, values)), time.perf_counter() - started

    for request in case.requests[:50]:  # warm up
        sess.run(None, {case.input: request})
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(CLIENTS) as pool:
        done = list(pool.map(one, case.requests))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return [answer for answer, _ in done], {**summary([latency for _, latency in done], seconds),
                                             "cpu_us": cpu / len(case.requests) * 1e6}


# ---- through specc serve ----

def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(case: Case, threads: int, flags: list[str]):
    """`specc serve` in its own process; yields its host:port and pid, then stops it with Ctrl-C."""
    command = [sys.executable, "-m", "specc.cli", "serve", str(case.path), "--port", "0", "--threads", str(threads),
               *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://([\d.]+:\d+)/", line)
        if not match:
            raise SystemExit(f"specc serve did not start: {line}{process.stderr.read()}")
        yield match.group(1), process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


async def send_all(url: str, case: Case, outputs: list[str]) -> tuple[list, list, float]:
    """Every request from 16 concurrent clients: the results (in order), latencies and wall time."""
    import tritonclient.http.aio as aio

    results, latencies, queue = [None] * len(case.requests), [0.0] * len(case.requests), iter(range(len(case.requests)))

    async def client():
        connection = aio.InferenceServerClient(url, conn_limit=1)
        try:
            for k in queue:  # one iterator shared by the tasks: each takes the next request
                tensor = aio.InferInput(case.input, list(case.requests[k].shape), case.datatype)
                tensor.set_data_from_numpy(case.requests[k], binary_data=True)
                wanted = [aio.InferRequestedOutput(o, binary_data=True) for o in outputs]
                started = time.perf_counter()
                results[k] = await connection.infer(case.name, [tensor], outputs=wanted)
                latencies[k] = time.perf_counter() - started
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return results, latencies, time.perf_counter() - started


def rows_per_call(url: str, model: str) -> float:
    """The server's mean rows per onnxruntime call, from its statistics."""
    import tritonclient.http as http

    stats = http.InferenceServerClient(url).get_inference_statistics(model)["model_stats"][0]
    return stats["inference_count"] / max(stats["execution_count"], 1)


def unequal(results: list, expected: list[dict]) -> tuple[int, int]:
    """(answers missing, answers that differ from the direct call in any bit or word)."""
    missing = sum(r is None for r in results)
    differ = 0
    for result, want in zip(results, expected):
        if result is None:
            continue
        for name, value in want.items():
            got = result.as_numpy(name)
            if value.dtype == object:
                got = np.vectorize(lambda w: w.decode() if isinstance(w, bytes) else w, otypes=[object])(got)
                same = got.shape == value.shape and got.tolist() == value.tolist()
            else:
                same = got.shape == value.shape and got.dtype == value.dtype and got.tobytes() == value.tobytes()
            if not same:
                differ += 1
                break
    return missing, differ


def run_served(case: Case, threads: int, flags: list[str], expected: list[dict]) -> dict:
    """The case through specc serve: timing, rows per call, answers lost and unequal."""
    with serving(case, threads, flags) as (url, pid):
        warm = Case(case.name, case.path, case.input, case.datatype, case.requests[:200])
        asyncio.run(send_all(url, warm, list(expected[0])))
        cpu = cpu_seconds(pid)
        results, latencies, seconds = asyncio.run(send_all(url, case, list(expected[0])))
        cpu = cpu_seconds(pid) - cpu
        rows = rows_per_call(url, case.name)
    missing, differ = unequal(results, expected)
    return {**summary(latencies, seconds), "cpu_us": cpu / len(case.requests) * 1e6, "rows_per_call": rows,
            "lost": missing, "unequal": differ}


# ---- the report ----

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, onnxruntime {ort.__version__}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args(argv)
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}")
    print(f"other work on the machine at the start: {background_busy():.0%} of the CPUs busy")
    print(f"{args.requests} requests (one row each) from {CLIENTS} concurrent clients\n")
    print("| model | threads | how | requests/s | p50 ms | p99 ms | CPU µs per request | rows per call | lost | unequal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            case = prepare(name, Path(folder), args.requests)
            for threads in args.threads:
                expected, timing = run_direct(case, threads)
                print(f"| {name} | {threads} | direct onnxruntime | {timing['per_s']:,.0f} | {timing['p50']:.2f} | "
                      f"{timing['p99']:.2f} | {timing['cpu_us']:.0f} | 1 | | |", flush=True)
                for mode, flags in MODES.items():
                    row = run_served(case, threads, flags, expected)
                    failed |= bool(row["lost"] or row["unequal"])
                    print(f"| {name} | {threads} | specc serve, {mode} | {row['per_s']:,.0f} | {row['p50']:.2f} | "
                          f"{row['p99']:.2f} | {row['cpu_us']:.0f} | {row['rows_per_call']:.1f} | {row['lost']} | "
                          f"{row['unequal']} |",
                          flush=True)
    print(f"\nother work on the machine at the end: {background_busy():.0%} of the CPUs busy")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
