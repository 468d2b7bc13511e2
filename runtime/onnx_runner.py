"""Running an ONNX model in onnxruntime (CPU unless another provider is asked for).

A batch of sentences of different lengths is run sorted by length, in buckets each padded to its
own longest sentence (`Buckets`; a batch run whole is still cut to its longest): a recurrence steps over every slot of its padded batch, so a
batch of 256 ATIS sentences (2,941 words padded to 256 x 29 = 7,424 slots) took 1.3x (Elman) to
1.7x (bidirectional LSTM, GRU) less CPU time in 8 buckets, at 1 thread (bench/infer_scale.py). Each row's answer is the one the whole batch gives: a
specc model's rows do not read each other, and onnxruntime computes a row alike in any batch
(specc/batching.py probes that bit for bit; tests/test_bucketed_runner.py checks it here).
"""
from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Mapping

from specc.errors import SpecError

if TYPE_CHECKING:
    import numpy as np


FED = ("tensor(float)", "tensor(string)", "tensor(int64)")  # the input types run() feeds
DEVICES = ("cpu", "cuda")  # --device: where onnxruntime runs a model
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
# onnxruntime-gpu replaces onnxruntime: both install the module onnxruntime, and one overwrites the other's files
GPU_HINT = ("install onnxruntime-gpu in place of onnxruntime (the [gpu] extra): python -m pip uninstall -y "
            "onnxruntime onnxruntime-gpu && python -m pip install onnxruntime-gpu")


def providers_for(device: str) -> list[str]:
    """onnxruntime's execution providers for a --device: the CPU's, or CUDA's first with the CPU's
    for the operators CUDA lacks (strings, the class-name LabelEncoder). SpecError, naming the
    package to install, where this onnxruntime has no CUDA provider."""
    import onnxruntime as ort

    if device == "cpu":
        return [CPU]
    if device != "cuda":
        raise SpecError(f"unknown device {device!r}", hint=f"choose one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    if CUDA not in available:
        raise SpecError(f"--device cuda needs onnxruntime's {CUDA}; the installed onnxruntime {ort.__version__} "
                        f"has only {', '.join(available)}", hint=GPU_HINT)
    return [CUDA, CPU]


def _dim(d):
    return d if isinstance(d, int) else "N" if d is None else str(d)


# ---- running a padded batch of sentences in buckets of similar length ----

# The cost of one call of a bucket of R rows padded to L steps, in units of one padded word slot:
# CALL_SLOTS + L * (STEP_SLOTS + R). From the Elman tagger of specs/slots_elman.nn at 1 thread
# (the cheapest slot of the taggers, so the most cautious split): a call of one 12-word sentence
# ~55 us, a slot of a batch of 256 ~0.65 us, a recurrent step's own cost ~2 us.
CALL_SLOTS, STEP_SLOTS = 64, 4
MAX_BUCKETS = 16  # splits into 1, 2, 4, ... up to this many buckets are costed
# a batch is split to run on every worker only where each bucket gets this many rows: a batch of 8
# split in two ran 1.8x slower (Elman, 2 threads), one of 256 1.1-1.2x faster (bench/RESULTS.md)
SIDE_BY_SIDE_ROWS = 32
# what a specc model's outputs hold on padding, by type (specc/onnx_export.py: zeros, no class
# name "", class index -1)
PADDING_FILL = {"tensor(float)": 0.0, "tensor(string)": "", "tensor(int64)": -1}


class Buckets:
    """How a specc model with one input, words (N, T) padded with "", runs a batch in buckets:
    `cut` maps each output to the axis its T is on (None: an output per sentence)."""

    def __init__(self, words: str, cut: dict[str, int | None], fill: dict[str, object]):
        self.words, self.cut, self.fill = words, cut, fill
        self.pool = None  # threads running buckets side by side, made at the first batch that needs them

    @classmethod
    def of(cls, session) -> Buckets | None:
        """The buckets of a session's model; None unless it is specc's, its one input words (N, T)
        and every output (N, ...) with T at most once and a padding fill for its type."""
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if session.get_modelmeta().producer_name != "specc" or len(inputs) != 1:
            return None
        shape = inputs[0].shape
        if inputs[0].type != "tensor(string)" or len(shape) != 2 or not all(isinstance(d, str) for d in shape):
            return None
        batch, length = shape
        cut = {}
        for o in outputs:
            if not o.shape or o.shape[0] != batch or o.type not in PADDING_FILL or list(o.shape).count(length) > 1:
                return None
            cut[o.name] = list(o.shape).index(length) if length in o.shape else None
        return cls(inputs[0].name, cut, {o.name: PADDING_FILL[o.type] for o in outputs})

    @staticmethod
    def split(lengths: np.ndarray, workers: int = 1) -> list[np.ndarray]:
        """The rows of a batch (lengths (N,), words per sentence) in buckets: equal parts of the
        rows sorted by length, longest first, as many as costs least (CALL_SLOTS, STEP_SLOTS);
        one bucket at once when fewer padding slots than two calls' cost could be saved. With
        `workers` > 1 threads to run them side by side, at least that many where each gets
        SIDE_BY_SIDE_ROWS rows: each bucket's call runs on one core."""
        import numpy as np

        rows = len(lengths)
        fewest = min(workers, rows // SIDE_BY_SIDE_ROWS, MAX_BUCKETS)
        if fewest < 2 and rows * int(lengths.max()) - int(lengths.sum()) < 2 * CALL_SLOTS:
            return [np.arange(rows)]
        order = np.argsort(-lengths, kind="stable")
        longest = np.maximum(lengths[order], 1).tolist()  # a bucket keeps at least one step

        def cost(parts: int) -> int:
            starts = [i * rows // parts for i in range(parts)] + [rows]
            return parts * CALL_SLOTS + sum(longest[a] * (STEP_SLOTS + b - a) for a, b in zip(starts, starts[1:]))

        counts = [2 ** i for i in range(MAX_BUCKETS.bit_length()) if 2 ** i <= rows]
        parts = min((n for n in counts if n >= fewest), key=cost)
        return np.array_split(order, parts)

    def run(self, session, feeds: dict, workers: int = 1) -> list | None:
        """Every output of the batch `feeds` run bucket by bucket, each cut to its longest sentence,
        as the whole batch gives them; None when the batch is best run as it is (one bucket, and
        no column of padding only). With `workers` > 1 (onnxruntime's intra-op threads), up to
        that many buckets run at once: a recurrence's steps are small operators that one call
        cannot spread over the cores (LSTM tagger, batch 256, 2 threads: 18 -> 12 ms); each
        bucket's values are the same either way."""
        import numpy as np

        words = feeds[self.words]
        if words.size == 0 or (len(words) == 1 and words[0, -1] != ""):
            return None  # no words, or one sentence without padding: nothing to cut
        lengths = (words != "").sum(axis=1)
        buckets = self.split(lengths, workers) if len(words) > 1 else [np.arange(1)]
        if len(buckets) < 2 and int(lengths.max()) >= words.shape[1]:
            return None

        def bucket(rows: np.ndarray) -> tuple[np.ndarray, int, list]:
            steps = max(int(lengths[rows].max()), 1)
            return rows, steps, session.run(None, {self.words: words[rows, :steps]})

        joined = None
        for rows, steps, values in self._map(bucket, buckets, workers):
            if joined is None:
                joined = [self._empty(name, value, len(words), words.shape[1]) for name, value in zip(self.cut, values)]
            for name, whole, value in zip(self.cut, joined, values):
                axis = self.cut[name]
                whole[(rows,) if axis is None else (rows,) + (slice(None),) * (axis - 1) + (slice(0, steps),)] = value
        return joined

    def _map(self, function, buckets: list, workers: int):
        """function over the buckets, in order: side by side on up to `workers` threads, or here."""
        if workers < 2 or len(buckets) < 2:
            return map(function, buckets)
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(workers, thread_name_prefix="specc-buckets")
        return self.pool.map(function, buckets)

    def _empty(self, name: str, value: np.ndarray, batch: int, length: int) -> np.ndarray:
        """The whole batch's output `name` (batch rows, T = length), filled as on padding; `value`
        is a bucket's, for its other sizes and type."""
        import numpy as np

        shape = list(value.shape)
        shape[0] = batch
        if self.cut[name] is not None:
            shape[self.cut[name]] = length
        return np.full(shape, self.fill[name], value.dtype)


def _session(model, providers, threads: int | None, spin: bool):
    """An onnxruntime session of `model` (a path or serialized bytes): `threads` intra-op threads
    (None: one per core), spinning between calls or not."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with warnings.catch_warnings():  # a provider that cannot start is reported by OnnxModel, in specc's words
        warnings.simplefilter("ignore")
        return ort.InferenceSession(model if isinstance(model, (bytes, str)) else str(model), options,
                                    providers=providers or [CPU])


class OnnxRunError(RuntimeError):
    """onnxruntime failed while running a model: a runtime failure, not a mistake in the input."""


class OnnxModel:
    """An onnxruntime session with the model's declared inputs and outputs."""

    def __init__(self, model, providers=None, threads: int | None = None, spin: bool = True):
        """`model` is a path or the serialized bytes of an ONNX model; `threads`: onnxruntime's
        intra-op threads (None: its default, one per core); `spin`: whether they spin-wait for
        work between calls (onnxruntime's default; off where other threads need the cores)."""
        self.source = model if isinstance(model, str) else "the model"
        self.session = _session(model, providers, threads, spin)
        self.buckets = Buckets.of(self.session)
        # the buckets a batch of sentences runs at once: as many as onnxruntime's threads
        self.bucket_workers = threads or os.cpu_count() or 1
        if self.buckets is not None and self.bucket_workers > 1 and self.session.get_providers()[0] == CPU:
            # a tagger's recurrence is small operators, step after step, which one call spreads over
            # the cores at a loss: each call on one core, buckets side by side on the others
            self.session = _session(model, providers, 1, spin)
        if providers and CUDA in providers and CUDA not in self.session.get_providers():
            raise SpecError(f"--device cuda: onnxruntime could not start its {CUDA} (no NVIDIA GPU or driver, or "
                            "CUDA and cuDNN libraries it cannot load), so the model would run on the CPU",
                            hint="check nvidia-smi, and that the CUDA and cuDNN versions match onnxruntime-gpu's "
                                 "(onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html)")
        self.inputs = {i.name: tuple(_dim(d) for d in i.shape) for i in self.session.get_inputs()}
        self.word_inputs = {i.name for i in self.session.get_inputs() if i.type == "tensor(string)"}
        self.id_inputs = {i.name for i in self.session.get_inputs() if i.type == "tensor(int64)"}  # portable words
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def check_fed(self, command: str) -> None:
        """SpecError unless run() can feed the model: at least one input, each float, words or
        int64 ids (another type, e.g. int32, would fail in onnxruntime on every call)."""
        unfed = [f"{i.name} is {i.type}" for i in self.session.get_inputs() if i.type not in FED]
        if unfed or not self.inputs:
            raise SpecError(f"{command} cannot feed {self.source}: " + ("; ".join(unfed) or "it has no inputs"),
                            expected="inputs of " + ", ".join(FED), hint="give a model exported by specc compile")

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on prepared batches (float32, or (N, T) words for a string input); returns every
        graph output by name. A batch of sentences of a specc tagger runs in buckets by length."""
        import numpy as np  # here: the CLI imports this module for OnnxRunError on its cheap path
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

        feeds = {k: np.asarray(v, object if k in self.word_inputs else np.int64 if k in self.id_inputs else np.float32)
                 for k, v in inputs.items()}
        try:
            values = ((self.buckets and self.buckets.run(self.session, feeds, self.bucket_workers))
                      or self.session.run(None, feeds))
        except UnicodeDecodeError:
            raise SpecError(f"{self.source}: {self._undecodable_output(feeds)} holds text that is not UTF-8, "
                            "so its words cannot be read", hint="a model written by specc holds UTF-8 words only: "
                            "export it again with specc compile") from None
        except (ort_state.Fail, ort_state.InvalidArgument, ort_state.RuntimeException, ort_state.NotImplemented,
                ort_state.EPFail) as error:
            raise OnnxRunError(f"onnxruntime could not run {self.source}: {error}") from None
        return dict(zip(self.outputs, values))

    def _undecodable_output(self, feeds) -> str:
        """Which string output (the first) holds bytes that are not UTF-8: onnxruntime decodes every
        string output and cannot hand back the bytes, so each is run alone."""
        for output in self.session.get_outputs():
            if output.type == "tensor(string)":
                try:
                    self.session.run([output.name], feeds)
                except UnicodeDecodeError:
                    return f"output {output.name}"
        return "a string output"
