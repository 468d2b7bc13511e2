"""Dynamic batching for `specc serve`: requests that arrive within a short delay are joined into
one onnxruntime call (up to a number of rows), run in a worker thread, and the answer is split
back per request.

Exactness. Each answer must be bit for bit what onnxruntime gives for the request alone. A row's
result would depend on its batch if onnxruntime chose another kernel for another number of rows
(a matrix-vector product for one row, a blocked product for many) or summed in another order. So
before it joins anything, a Batcher runs probe requests alone and joined in batches of every size
up to its limit, sentences of different lengths padded together, and joins requests only if every
answer is equal bit for bit; otherwise it runs each request alone and says why (`note`). In
onnxruntime 1.32 on x86-64 every spec in specs/ (CNNs, dense, Elman and Jordan taggers, window,
bidirectional, wordhash) passed at 1 and 2 threads.

Words. Sentences are padded with "" (the models' padding) to the longest in the batch, and each
answer is cut back to its request's length along the output axes named like the input's length
axis (`T` in (N, T) words -> (N, T, C) scores). Numeric inputs are joined only with requests of
the same shape past the batch axis.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the command line reads this module's defaults on its cheap path
    import asyncio

    import numpy as np

DEFAULT_MAX_BATCH = 32  # rows in one onnxruntime call
DEFAULT_MAX_DELAY_MS = 2.0  # how long the first request of a batch waits for others
MAX_BATCH = 4096  # rows; the probe runs a batch this large when the batcher is made
MAX_DELAY_MS = 1000.0  # longer would hold every answer for more than a second
PROBES = 12  # probe requests of 1, 2 and 3 rows (sentences of 1 to 9 words)
PROBE_SIZES = 64  # every batch size up to this one is probed (and the limit itself)
# probe sentences: words a tagger knows (flights, ATIS), a number, and one it cannot know
PROBE_WORDS = ("show", "me", "flights", "from", "Boston", "to", "Denver", "on", "Monday", "morning", "arrive",
               "Beijing", "leave", "Taipei", "5", "pm", "the", "cheapest", "fare", "qzx")


# ---- how a model's tensors are joined ----

def _rows(feeds: dict) -> int:
    """The batch size (rows) of a request's inputs."""
    return len(next(iter(feeds.values())))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two outputs are equal bit for bit (words: word for word)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return a.tolist() == b.tolist() if a.dtype == object else a.tobytes() == b.tobytes()


@dataclass
class Layout:
    """How requests to one model are joined.

    padded: word input -> the name of its length axis (the T of (N, T)), padded with "" in a batch
    cuts:   output -> [(axis, length name)]: the axes cut back to a request's own length
    refusal: why this model's requests cannot be joined at all (None: they can)
    """
    padded: dict[str, str] = field(default_factory=dict)
    cuts: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    refusal: str | None = None

    @classmethod
    def of(cls, session) -> Layout:
        """The layout read from an onnxruntime session's declared inputs and outputs."""
        inputs, outputs = session.get_inputs(), session.get_outputs()
        firsts = {node.shape[0] if node.shape else None for node in inputs + outputs}
        if len(firsts) != 1 or not isinstance(next(iter(firsts)), str):
            return cls(refusal="its inputs and outputs do not share a batch axis")
        padded = {node.name: node.shape[1] for node in inputs
                  if node.type == "tensor(string)" and len(node.shape) == 2 and isinstance(node.shape[1], str)}
        named = {d for node in inputs for d in node.shape if isinstance(d, str)}
        for node in outputs:
            unknown = [d for d in node.shape[1:] if not isinstance(d, int) and d not in named]
            if unknown:  # a size no input fixes could differ between a batch and a request alone
                return cls(refusal=f"output {node.name} has a size that no input fixes")
        lengths = set(padded.values())
        cuts = {node.name: [(axis, d) for axis, d in enumerate(node.shape) if axis and d in lengths]
                for node in outputs}
        return cls(padded, cuts)

    def signature(self, feeds: dict) -> tuple:
        """What requests joined together must share: every input's shape past the batch axis,
        but the length of padded word inputs."""
        return tuple((name, () if name in self.padded else value.shape[1:]) for name, value in feeds.items())

    def join(self, requests: list[dict]) -> dict:
        """One batch of the requests' inputs (same signature), word inputs padded with ""."""
        import numpy as np

        joined = {}
        for name in requests[0]:
            parts = [r[name] for r in requests]
            if name in self.padded:
                longest = max(p.shape[1] for p in parts)
                parts = [np.pad(p, ((0, 0), (0, longest - p.shape[1])), constant_values="") for p in parts]
            joined[name] = np.concatenate(parts)
        return joined

    def split(self, values: dict, requests: list[dict]) -> list[dict]:
        """Each request's outputs from those of the joined batch: its rows, cut to its lengths."""
        answers, start = [], 0
        for request in requests:
            rows = slice(start, start + _rows(request))
            lengths = {self.padded[name]: value.shape[1] for name, value in request.items() if name in self.padded}
            answer = {}
            for name, value in values.items():
                index = [rows] + [slice(None)] * (value.ndim - 1)
                for axis, length in self.cuts.get(name, ()):
                    index[axis] = slice(0, lengths[length])
                answer[name] = value[tuple(index)]
            answers.append(answer)
            start = rows.stop
        return answers


# ---- the probe: is every answer in a batch the answer alone? ----

def probe_requests(session, layout: Layout, count: int = PROBES) -> list[dict]:
    """`count` seeded requests for the model: 1, 2 or 3 rows; numbers from a normal
    distribution, sentences of 1 to 9 words (rows of one request of unequal lengths, padded).
    Longer sentences add no case: a recurrent layer runs (N, H) products step by step, and a
    product over all words (N * T rows) already spans 1 to hundreds of rows here."""
    import numpy as np

    rng = np.random.default_rng(0)
    requests = []
    for k in range(count):
        rows, feeds = 1 + k % 3, {}
        for node in session.get_inputs():
            if node.name in layout.padded:
                longest = 1 + (5 * k) % 9
                sentence = np.full((rows, longest), "", dtype=object)
                for row in range(rows):
                    length = max(longest - 2 * row, 1)
                    sentence[row, :length] = rng.choice(PROBE_WORDS, length)
                feeds[node.name] = sentence
            else:
                shape = [rows] + [d if isinstance(d, int) else 3 for d in node.shape[1:]]
                if node.type == "tensor(string)":
                    feeds[node.name] = rng.choice(PROBE_WORDS, shape).astype(object)
                else:
                    feeds[node.name] = rng.normal(size=shape).astype(np.float32)
        requests.append(feeds)
    return requests


def probe_batches(requests: list[dict], sizes) -> list[list[int]]:
    """For each size, indices of requests with exactly that many rows in all (starting at a
    different request each time; the probes include 1-row requests to fill any gap)."""
    batches = []
    for size in sizes:
        batch, total, k = [], 0, size
        while total < size:
            rows = _rows(requests[k % len(requests)])
            if total + rows <= size:
                batch.append(k % len(requests))
                total += rows
            k += 1
        batches.append(batch)
    return batches


def batch_variance(runner, layout: Layout, max_batch: int) -> str | None:
    """None if every probe request's answer is the same bit for bit alone and joined in batches of
    1 to `max_batch` rows; else what differed. Raises what runner.run raises."""
    requests = probe_requests(runner.session, layout)
    alone = [runner.run(r) for r in requests]
    sizes = sorted({*range(1, min(max_batch, PROBE_SIZES) + 1), max_batch})
    for size, batch in zip(sizes, probe_batches(requests, sizes)):
        joined = [requests[i] for i in batch]
        for i, answer in zip(batch, layout.split(runner.run(layout.join(joined)), joined)):
            for name, value in answer.items():
                if not _same(value, alone[i][name]):
                    return f"onnxruntime gives other values of {name} for a request in a batch of {size} rows than alone"
    return None


# ---- the statistics extension of the protocol ----

@dataclass
class Stats:
    """What the server has done, as the protocol's statistics extension reports it (Triton's
    GET /v2/models/NAME/stats): requests answered and refused, time queued and computing (ns),
    and each onnxruntime call by its batch size."""
    rows: int = 0
    executions: int = 0
    last: int = 0  # ms since the epoch of the last answer
    durations: dict = field(default_factory=lambda: {k: [0, 0] for k in ("success", "fail", "queue", "compute_infer")})
    batches: dict = field(default_factory=dict)  # rows -> [calls, ns]

    def count(self, kind: str, ns: int, requests: int = 1) -> None:
        """Add `requests` requests that spent `ns` nanoseconds (each) in `kind`."""
        self.durations[kind][0] += requests
        self.durations[kind][1] += ns * requests

    def executed(self, rows: int, requests: int, ns: int) -> None:
        """One onnxruntime call on `rows` rows joined from `requests` requests, taking `ns`."""
        self.rows += rows
        self.executions += 1
        self.last = time.time_ns() // 1_000_000
        calls = self.batches.setdefault(rows, [0, 0])
        calls[0] += 1
        calls[1] += ns
        self.count("compute_infer", ns, requests)

    def report(self, name: str) -> dict:
        """The statistics response for model `name` (version 1)."""
        stat = {k: {"count": c, "ns": ns} for k, (c, ns) in self.durations.items()}
        return {"model_stats": [{
            "name": name, "version": "1", "last_inference": self.last, "inference_count": self.rows,
            "execution_count": self.executions, "inference_stats": stat,
            "batch_stats": [{"batch_size": rows, "compute_infer": {"count": c, "ns": ns}}
                            for rows, (c, ns) in sorted(self.batches.items())]}]}


# ---- the batcher ----

def _wake(future) -> None:
    """Complete a wake-up future (the first of the timer and the filling request to come)."""
    if not future.done():
        future.set_result(None)


@dataclass
class Pending:
    """A request waiting for its batch: its inputs, what they may join, and its answer to come."""
    feeds: dict
    signature: tuple
    arrived: float  # the event loop's clock, s
    answer: asyncio.Future


class Batcher:
    """Runs requests for one model (specc.runtime.onnx_runner.OnnxModel `runner`), joining those
    that arrive within `max_delay_ms` of the first into calls of up to `max_batch` rows.
    max_batch 1, or a model whose answers the probe finds batch-dependent, runs each alone."""

    def __init__(self, runner, max_batch: int = DEFAULT_MAX_BATCH, max_delay_ms: float = DEFAULT_MAX_DELAY_MS):
        from specc.runtime.onnx_runner import OnnxRunError

        from .errors import SpecError

        if type(max_batch) is not int or not 1 <= max_batch <= MAX_BATCH:
            raise SpecError(f"--max-batch {max_batch} must be between 1 and {MAX_BATCH}",
                            hint="1 runs each request alone")
        if not 0 <= max_delay_ms <= MAX_DELAY_MS:
            raise SpecError(f"--max-delay-ms {max_delay_ms:g} must be between 0 and {MAX_DELAY_MS:g}",
                            hint="a batch waits this long for requests: a few ms, e.g. 2")
        self.runner, self.max_batch, self.delay = runner, max_batch, max_delay_ms / 1000
        self.layout = Layout.of(runner.session)
        self.stats = Stats()
        self.note = None  # why requests run alone although batches were asked for
        if max_batch > 1:
            try:
                self.note = self.layout.refusal or batch_variance(runner, self.layout, max_batch)
            except (SpecError, OnnxRunError) as error:
                self.note = f"the model could not run probe batches: {str(error).splitlines()[0]}"
        self.joins = max_batch > 1 and self.note is None
        self._pending: deque[Pending] = deque()
        self._queued: dict[tuple, int] = {}  # rows pending, by signature
        self._filling: tuple[tuple, asyncio.Future] | None = None  # the batch waiting for rows: its signature, wake-up
        self._collector: asyncio.Task | None = None

    async def run(self, feeds: dict) -> dict:
        """The model's outputs for one request's inputs (checked already), exactly as onnxruntime
        gives them for the request alone. Raises what runner.run raises."""
        import asyncio

        from starlette.concurrency import run_in_threadpool

        if not self.joins or _rows(feeds) >= self.max_batch:
            started = time.perf_counter_ns()
            answer = await run_in_threadpool(self.runner.run, feeds)
            self.stats.executed(_rows(feeds), 1, time.perf_counter_ns() - started)
            return answer
        loop = asyncio.get_running_loop()
        pending = Pending(feeds, self.layout.signature(feeds), loop.time(), loop.create_future())
        self._pending.append(pending)
        self._queued[pending.signature] = self._queued.get(pending.signature, 0) + _rows(feeds)
        if self._filling and self._filling[0] == pending.signature and self._queued[pending.signature] >= self.max_batch:
            _wake(self._filling[1])
        if self._collector is None:
            self._collector = loop.create_task(self._collect())
        return await pending.answer

    async def _collect(self) -> None:
        """Form and run batches, one at a time, until no request is pending. A batch starts from
        the oldest request and waits for more until it holds max_batch rows or that request has
        waited max_delay_ms (requests that queued while the previous batch ran have, mostly).
        One timer a batch, not one a request: the wake-up is a future that the timer or the
        request filling the batch completes."""
        import asyncio

        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                first = self._pending[0]
                left = first.arrived + self.delay - loop.time()
                if left > 0 and self._queued[first.signature] < self.max_batch:
                    self._filling = (first.signature, loop.create_future())
                    timer = loop.call_later(left, _wake, self._filling[1])
                    await self._filling[1]
                    timer.cancel()
                    self._filling = None
                await self._execute(self._take(first.signature))
        finally:
            self._collector = None

    def _take(self, signature: tuple) -> list[Pending]:
        """The pending requests of `signature`, oldest first, up to max_batch rows (at least one);
        the others stay pending in their order."""
        taken, kept, rows = [], deque(), 0
        for pending in self._pending:
            if pending.signature == signature and (not taken or rows + _rows(pending.feeds) <= self.max_batch):
                taken.append(pending)
                rows += _rows(pending.feeds)
            else:
                kept.append(pending)
        self._pending = kept
        self._queued[signature] -= rows
        if not self._queued[signature]:  # sequences of many lengths must not grow the table for ever
            del self._queued[signature]
        return taken

    async def _execute(self, batch: list[Pending]) -> None:
        """Run one batch in a worker thread and hand each request its answer (or its error)."""
        import asyncio

        from starlette.concurrency import run_in_threadpool

        now = asyncio.get_running_loop().time()
        for pending in batch:
            self.stats.count("queue", int((now - pending.arrived) * 1e9))
        started = time.perf_counter_ns()
        answers = await run_in_threadpool(self._run_batch, [p.feeds for p in batch])
        self.stats.executed(sum(_rows(p.feeds) for p in batch), len(batch), time.perf_counter_ns() - started)
        for pending, answer in zip(batch, answers):
            if pending.answer.done():  # the client went away
                continue
            if isinstance(answer, Exception):
                pending.answer.set_exception(answer)
            else:
                pending.answer.set_result(answer)

    def _run_batch(self, requests: list[dict]) -> list:
        """Each request's answer from one joined call. If that call fails, each request runs
        alone, so that only the one onnxruntime refuses fails (its exception in its place)."""
        try:
            return self.layout.split(self.runner.run(self.layout.join(requests)), requests)
        except Exception as error:  # handed to the request's handler, which answers 400 or 500
            return [error] if len(requests) == 1 else [self._alone(r) for r in requests]

    def _alone(self, feeds: dict):
        """The answer of one request alone, or the exception it raised."""
        try:
            return self.runner.run(feeds)
        except Exception as error:
            return error
