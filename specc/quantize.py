"""int8 models (issue 10, part 4): an exported model quantized with onnxruntime's own tools,
then checked against the float model on held-out data before anything is written.

What is quantized, and how (onnxruntime.quantization):
- conv, with the relu and maxpool after it (so that values stay int8 from one conv to the next):
  static, QOperator (QLinearConv), with scales calibrated on rows of the training data;
- dense (MatMul, and Gemm rewritten as MatMul + Add) and the rnn's weights, inside the Scan loop
  body too (EnableSubgraph), and word tables read by Gather: dynamic (weights int8, activations
  quantized per call).

Before quantizing, the graph is prepared without changing a single output: Constant nodes
become initializers and layout nodes that read only constants (a weight's Transpose, the
Gather of one direction's recurrent weights) are evaluated once by onnx's reference evaluator,
so every weight is an initializer the quantizer can see; onnxruntime's own pre-processing
(quant_pre_process) is not used: onnx's shape inference crashes the process on the graph its
optimizer writes for the rnn taggers (onnx 1.23, onnxruntime 1.32).
"""
from __future__ import annotations

import collections
import contextlib
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import check_not_read, destination, write_atomically
from .errors import SpecError

if TYPE_CHECKING:
    import onnx

DEFAULT_MAX_DROP = 1.0  # points of accuracy (or slot F1) the int8 model may lose
CALIBRATION_ROWS = 300  # training rows that calibrate the static (conv) scales
LATENCY_ROWS = 200  # held-out rows timed one at a time, alternating the two models
# nodes that only move or pick values: evaluated once when every input is a constant
LAYOUT_OPS = frozenset({"Transpose", "Gather", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Cast"})
STATIC_OPS = ("Conv", "Relu", "MaxPool")
DYNAMIC_OPS = ("MatMul", "Gather")
# the operators a quantized model computes in integers (counted for the report)
INTEGER_OPS = ("QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul", "DynamicQuantizeLinear",
               "QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class Score:
    """One output's held-out score before and after quantization: `metric` is 'accuracy' or
    'slot F1' (in points, 0-100; higher is better) or 'mse' (lower is better)."""

    output: str
    metric: str
    before: float
    after: float

    @property
    def drop(self) -> float:
        """Points lost (negative: gained); 0 for an mse, which no points measure."""
        return 0.0 if self.metric == "mse" else self.before - self.after


@dataclass(frozen=True)
class QuantizeReport:
    """What `quantize` measured, and whether it wrote the int8 model.

    Sizes in bytes; latencies the median seconds of one held-out row (batch 1), both models
    timed in the same run, alternating.
    """

    path: Path
    written: bool
    max_drop: float
    data: str
    split: str
    rows: int
    scores: tuple[Score, ...]
    size_before: int
    size_after: int
    latency_before: float
    latency_after: float
    integer_ops: dict

    @property
    def drop(self) -> float:
        """The largest drop in points over the outputs."""
        return max((score.drop for score in self.scores), default=0.0)


# ---- preparing the graph ----

def _graphs(graph):
    """`graph` and every subgraph in it (Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.g.node:
                yield from _graphs(attribute.g)


def op_counts(model: onnx.ModelProto) -> collections.Counter:
    """How many nodes of each operator the model holds, subgraphs included."""
    return collections.Counter(node.op_type for graph in _graphs(model.graph) for node in graph.node)


def _fold_constants(graph, main=None, values: dict | None = None) -> None:
    """Constant nodes become initializers, and layout nodes that read only constants are replaced
    by their value (computed by onnx's reference evaluator, so exactly), in `graph` and in its
    Scan bodies: every weight becomes an initializer of the main graph, which a loop body reads
    as an outer name and the quantizer sees. In place."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    main = main or graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer} if values is None else values
    kept = []
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            computed = [numpy_helper.to_array(node.attribute[0].t)]
        elif node.op_type in LAYOUT_OPS and all(name in values for name in node.input if name):
            computed = ReferenceEvaluator(node).run(None, {name: values[name] for name in node.input if name})
        else:
            for attribute in node.attribute:
                if attribute.g.node:
                    _fold_constants(attribute.g, main, values)
            kept.append(node)
            continue
        for name, value in zip(node.output, computed):
            values[name] = value
            main.initializer.append(numpy_helper.from_array(value, name))
    del graph.node[:]
    graph.node.extend(kept)


def _gemm_as_matmul(graph) -> None:
    """Gemm(A, B, C) with a constant B (a dense layer) becomes MatMul(A, B') + C, the form that
    onnxruntime's dynamic quantizer knows (it has no integer Gemm). In place, on the main graph."""
    from onnx import helper, numpy_helper

    initializers = {t.name: t for t in graph.initializer}
    nodes = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attributes.get("alpha", 1.0) == 1.0 and attributes.get("beta", 1.0) == 1.0 and not attributes.get("transA")
        if node.op_type != "Gemm" or not plain or node.input[1] not in initializers:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(initializers[node.input[1]])
        name = f"{node.input[1]}.as_matmul"
        graph.initializer.append(numpy_helper.from_array(weight.T.copy() if attributes.get("transB") else weight, name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}.product" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}.matmul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}.add"))
    del graph.node[:]
    graph.node.extend(nodes)


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    """Remove the initializers no node reads (the float weights that folding or quantizing
    replaced), subgraphs' reads of outer names included."""
    read = {name for graph in _graphs(model.graph) for node in graph.node for name in node.input}
    read |= {output.name for output in model.graph.output}
    unused = [t for t in model.graph.initializer if t.name not in read]
    for tensor in unused:
        model.graph.initializer.remove(tensor)


def prepare(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` computing the same outputs with every weight an initializer and dense
    layers as MatMul (see the module's docstring)."""
    import onnx

    prepared = onnx.ModelProto()
    prepared.CopyFrom(model)
    _fold_constants(prepared.graph)
    _gemm_as_matmul(prepared.graph)
    _drop_unused_initializers(prepared)
    return prepared


# ---- quantizing ----

class _Calibration:
    """onnxruntime's CalibrationDataReader over training rows: one feed of `batch` rows at a time."""

    def __init__(self, xs: dict, batch: int = 100):
        rows = len(next(iter(xs.values())))
        self.feeds = iter([{name: x[start:start + batch] for name, x in xs.items()} for start in range(0, rows, batch)])

    def get_next(self) -> dict | None:
        return next(self.feeds, None)


@contextlib.contextmanager
def _quiet_quantizer():
    """onnxruntime's quantizer logs advice on the root logger (pre-processing, already-quantized
    models) that a user of specc cannot act on: silenced while it runs."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _quantize_files(source: Path, calibration: dict, folder: Path, static_format: str, subgraphs: bool) -> Path:
    """Run onnxruntime's quantizers on the prepared model at `source`; returns the int8 model's path."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if "Conv" in op_counts(onnx.load(source)):
        quantize_static(source, folder / "static.onnx", _Calibration(calibration),
                        quant_format=QuantFormat.QDQ if static_format == "qdq" else QuantFormat.QOperator,
                        op_types_to_quantize=list(STATIC_OPS), activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        source = folder / "static.onnx"
    quantize_dynamic(source, folder / "int8.onnx", op_types_to_quantize=list(DYNAMIC_OPS), weight_type=QuantType.QInt8,
                     extra_options={"EnableSubgraph": subgraphs})
    return folder / "int8.onnx"


def quantize_model(model: onnx.ModelProto, calibration: dict, folder: Path, static_format: str = "qoperator",
                   subgraphs: bool = True) -> bytes:
    """The int8 model of `model` (serialized): conv static, calibrated on `calibration` (input
    name -> training rows), then dense, rnn and word-table weights dynamic. `folder` holds the
    quantizer's files. `static_format`: 'qoperator' (QLinearConv) or 'qdq' (Q/DQ pairs);
    `subgraphs`: whether the rnn's Scan body is quantized too (the bench compares)."""
    import onnx

    prepared = prepare(model)
    source = folder / "prepared.onnx"
    onnx.save(prepared, source)
    with _quiet_quantizer():
        source = _quantize_files(source, calibration, folder, static_format, subgraphs)
    quantized = onnx.load(source)
    _drop_unused_initializers(quantized)
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(model.metadata_props)
    entry = quantized.metadata_props.add()
    entry.key, entry.value = "specc.quantized", "int8 (onnxruntime.quantization)"
    return quantized.SerializeToString()


# ---- checking it against the float model ----

@dataclass(frozen=True)
class CheckData:
    """What an int8 model is checked on: the spec's `model` (its outputs and classes), the data
    set's name, the held-out split (test where the data has one, else validation) and, for the
    static scales, `calibration`: CALIBRATION_ROWS training rows by input name."""

    model: object
    data: str
    split_name: str
    split: object
    calibration: dict

    def held_out_inputs(self) -> dict:
        """The held-out split's inputs by name."""
        from specc.runtime.train import columns

        return columns(self.split, self.model)[0]


def check_data(model_path: Path, metadata: dict, data: str | None) -> CheckData:
    """The CheckData of a model exported by specc: the spec is read from the model's metadata
    (specc.spec), the data is `data`, else the spec's train section's (words: flights), split
    with the model's seed (specc.seed) as its training run split it."""
    import numpy as np

    from specc.runtime.train import columns

    from .api import loads
    from .tables import DEFAULT_WORD_DATA
    from .training import with_flags

    if "specc.spec" not in metadata:
        raise SpecError(f"{model_path} was not exported by specc: its metadata holds no specc.spec, so its held-out "
                        "data and scores are unknown", hint="quantize a model written by specc compile or specc train")
    seed = metadata.get("specc.seed", "0")
    if not (seed.isascii() and seed.isdigit()):
        raise SpecError(f"{model_path}: its metadata entry specc.seed is damaged", expected="a whole number",
                        received=repr(seed[:40]), hint="quantize a model written by specc compile or specc train")
    seed = int(seed)
    net = loads(metadata["specc.spec"], file=f"{model_path} (its spec)", seed=seed, data=data)
    settings = with_flags(net.model.train, {"data": data, "seed": seed})
    chosen = settings.data or (DEFAULT_WORD_DATA if net.tables is not None else None)
    if chosen is None:
        raise SpecError(f"{model_path}: its spec names no training data to check the int8 model on",
                        hint="give the data it was trained on: --data xo, digits, flights, atis or a data file")
    dataset = net.load_data(replace(settings, data=chosen))
    split_name, split = ("test", dataset.test) if dataset.test is not None else ("validation", dataset.validation)
    if len(split) == 0:
        raise SpecError(f"{chosen} holds no held-out rows to check the int8 model on",
                        hint="give data with a test or validation split")
    rows = np.random.default_rng(0).permutation(len(dataset.train))[:CALIBRATION_ROWS]
    calibration = {name: x[rows] for name, x in columns(dataset.train, net.model)[0].items()}
    return CheckData(net.model, chosen, split_name, split, calibration)


def check_spec_fits(path: Path, model, runner) -> None:
    """SpecError unless the spec in the model's metadata declares the graph's inputs (names and
    shapes, a named dim taking any size) and outputs: a spec edited in, or another model's, would
    feed the graph tensors it does not take."""
    declared = {i.name: tuple(i.shape) for i in model.inputs}
    graph = dict(runner.inputs)
    fits = declared.keys() == graph.keys() and all(
        len(shape) == len(graph[name]) and all(isinstance(a, str) or isinstance(b, str) or a == b
                                               for a, b in zip(shape, graph[name]))
        for name, shape in declared.items())
    if not fits or not {o.name for o in model.outputs} <= set(runner.outputs):
        raise SpecError(f"{path}: the spec in its metadata (specc.spec) does not describe its graph",
                        expected="inputs " + ", ".join(f"{n} {s}" for n, s in graph.items()),
                        received="inputs " + ", ".join(f"{n} {s}" for n, s in declared.items()),
                        hint="quantize a model as specc compile or specc train wrote it")


def scores(before: dict, after: dict, model) -> tuple[Score, ...]:
    """Each output's score before and after, from run_folder.heldout_scores' results."""
    found = []
    for output in model.outputs:
        one, other = before[output.name], after[output.name]
        metric = "mse" if "mse" in one else "slot F1" if "f1" in one else "accuracy"
        key, scale = {"mse": ("mse", 1.0), "slot F1": ("f1", 100.0), "accuracy": ("accuracy", 100.0)}[metric]
        found.append(Score(output.name, metric, scale * one[key], scale * other[key]))
    return tuple(found)


def call_seconds(paths, xs: dict, batch: int = 1, calls: int = LATENCY_ROWS, threads: int | None = None) -> list[float]:
    """The median seconds of one call of `batch` rows in each model of `paths`, over `calls` calls
    on successive rows of `xs` (wrapping around), the models alternating call by call so that
    all see the same machine load. `threads`: onnxruntime's intra-op threads (None: its default)."""
    from specc.runtime.onnx_runner import OnnxModel

    from .portable import encode_words

    sessions = [OnnxModel(str(path), threads=threads) for path in paths]
    xs = encode_words(sessions[0].metadata, xs)  # a portable model's word ids, mapped once, outside the timing
    rows = len(next(iter(xs.values())))
    starts = [(call * batch) % max(rows - batch + 1, 1) for call in range(calls)]
    feeds = [{name: x[start:start + batch] for name, x in xs.items()} for start in starts]
    times: list[list[float]] = [[] for _ in sessions]
    for session in sessions:  # the first call of a session allocates: not timed
        session.run(feeds[0])
    for feed in feeds:
        for session, measured in zip(sessions, times):
            started = time.perf_counter()
            session.run(feed)
            measured.append(time.perf_counter() - started)
    return [statistics.median(measured) for measured in times]


def quantize(model: str | Path, out: str | Path, data: str | None = None,
             max_drop: float = DEFAULT_MAX_DROP) -> QuantizeReport:
    """Quantize the exported `model` to int8, score both on held-out data (the test split where the
    data has one, else validation) and write the int8 model to `out` (atomically) unless an
    output loses more than `max_drop` points of accuracy or slot F1. `data`: as `specc train
    --data` (default: the spec's own). The report says whether it was written."""
    import math

    import onnx

    from .api import load_onnx
    from .run_folder import heldout_scores

    if not (isinstance(max_drop, (int, float)) and math.isfinite(max_drop) and max_drop >= 0):
        raise SpecError(f"--max-drop {max_drop:g} must be a number of points of at least 0",
                        hint=f"e.g. --max-drop {DEFAULT_MAX_DROP:g} (the default)")
    model, out = Path(model), destination(out)  # a folder or an unwritable place is refused before the work
    check_not_read(out, [model], "-o")  # the float model would be lost
    network = load_onnx(model)  # SpecError for a missing, special or unreadable file
    metadata = network.metadata
    if "specc.quantized" in metadata:
        raise SpecError(f"{model} is an int8 model already (written by specc quantize)",
                        hint="quantize the float model it was made from")
    check = check_data(model, metadata, data)
    check_spec_fits(model, check.model, network.session)
    with tempfile.TemporaryDirectory(prefix="specc-quantize-") as folder:
        int8_path = Path(folder) / "int8.onnx"
        int8_path.write_bytes(quantize_model(onnx.load(model), check.calibration, Path(folder)))
        found = scores(heldout_scores(model, check.model, check.split),
                       heldout_scores(int8_path, check.model, check.split), check.model)
        latency = call_seconds((model, int8_path), check.held_out_inputs(), calls=min(LATENCY_ROWS, len(check.split)))
        int8 = int8_path.read_bytes()
    if not integer_ops(onnx.load_from_string(int8)):
        raise SpecError(f"{model} has nothing that int8 makes smaller or faster: no conv, dense, rnn or word table",
                        hint="keep the float model")
    report = QuantizeReport(out, False, max_drop, check.data, check.split_name, len(check.split), found,
                            model.stat().st_size, len(int8), *latency, integer_ops(onnx.load_from_string(int8)))
    if report.drop > max_drop:
        return report
    write_atomically(out, int8)
    return replace(report, written=True)


def integer_ops(model: onnx.ModelProto) -> dict[str, int]:
    """How many nodes of each integer operator (INTEGER_OPS) the model holds, subgraphs included."""
    return {op: n for op, n in op_counts(model).items() if op in INTEGER_OPS}


def describe_report(report: QuantizeReport) -> str:
    """The report as `specc quantize` prints it: scores, sizes and latencies, before -> after."""
    ops = ", ".join(f"{op} x{n}" for op, n in report.integer_ops.items())
    lines = [f"int8 operators: {ops or 'none'}",
             f"held-out {report.split} split of {report.data} ({report.rows:,} samples), float -> int8:"]
    for score in report.scores:
        if score.metric == "mse":
            lines.append(f"  {score.output} mean squared error: {score.before:.4g} -> {score.after:.4g}")
        else:
            lines.append(f"  {score.output} {score.metric}: {score.before:.2f} -> {score.after:.2f} "
                         f"(drop {score.drop:.2f} points; allowed {report.max_drop:g})")
    lines.append(f"size: {report.size_before:,} -> {report.size_after:,} bytes "
                 f"({report.size_after / report.size_before:.2f}x)")
    lines.append(f"latency at batch 1 (median of {min(LATENCY_ROWS, report.rows)} rows, same run): "
                 f"{1e6 * report.latency_before:.1f} us -> {1e6 * report.latency_after:.1f} us "
                 f"(int8/float {report.latency_after / report.latency_before:.2f}x)")
    if report.written:
        lines.append(f"wrote {report.path}")
    return "\n".join(lines)
