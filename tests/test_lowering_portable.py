"""The default export holds nothing that other runtimes refuse (issue 10, part 3): Scan bodies
read initializers, never tensors computed by outer nodes (OpenVINO refused those); no Slice end
past any length nor a backwards Slice, and no named size inside a body (tract refused those on a
dynamic batch and length). The specs that read numbers, small rnn and window models, and the
numeric core of the word specs (after the words, with the padding mask) run in OpenVINO (f32)
and tract (tests/other_runtimes.py) at two batch sizes and lengths with one loaded model, equal
to onnxruntime within 1e-5. (onnx2torch has no Scan: tests/test_portable.py checks its refusal.)"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.utils import Extractor

import specc
from specc.specs import spec_path
from specc.verify import random_inputs
from tests import other_runtimes

SPECS = sorted(Path(spec_path("x_or_o")).parent.glob("*.nn"))
# the rnn and window lowerings' forms on numeric sequences (numbers need no word handling)
NUMERIC = {
    "elman_bidirectional_2_layers": "input x: seq 3\nx -> rnn elman hidden=4 bidirectional layers=2",
    "jordan_bidirectional_2_layers": "input x: seq 3\nx -> rnn jordan hidden=4 out=3 bidirectional layers=2",
    "jordan_relu_no_bias": "input x: seq 3\nx -> rnn jordan hidden=4 out=2 activation=relu bias=false",
    "window_rnn_last": "input x: seq 3\nx -> window 5 -> rnn elman hidden=4 bidirectional -> last -> dense 2",
    "slots_bi_numbers": "input x: seq 6\nx -> window 3 -> rnn elman hidden=5 bidirectional layers=2 -> dense 4 "
                        "-> softmax",
}
WORD_SPECS = ["slots_bi", "slots_elman", "slots_jordan"]  # their words become ids by a table lookup
SHAPES = [(3, 5), (2, 9)]  # (batch, length): one loaded model runs both
LARGEST_END = 2**62  # tract refused a Slice end of -2^62 ("through the first step") on a dynamic length


def _models():
    """(id, ModelProto) for every spec in specs/ and every numeric spec above."""
    return [(p.stem, specc.load(p).to_onnx()) for p in SPECS] + [
        (name, specc.loads(text, f"{name}.nn").to_onnx()) for name, text in NUMERIC.items()]


MODELS = _models()


def _graphs(graph: onnx.GraphProto, outer: tuple = ()):
    """Every graph inside `graph`, itself first, each as (graph, its node if a body, the
    enclosing graphs from the outermost)."""
    yield graph, None, outer
    for node in graph.node:
        for attribute in node.attribute:
            for body in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs:
                for inner, owner, enclosing in _graphs(body, outer + (graph,)):
                    yield inner, owner or node, enclosing


def _free_names(graph: onnx.GraphProto) -> set[str]:
    """The names a graph's nodes (and their bodies) read from enclosing graphs."""
    own = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
    read = {name for n in graph.node for name in n.input if name}
    for node in graph.node:
        for attribute in node.attribute:
            for body in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs:
                read |= _free_names(body)
    return read - own


def _constants(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every Constant node's and initializer's value in the model and its bodies, by name."""
    values = {}
    for graph, _, _ in _graphs(proto.graph):
        values.update((t.name, numpy_helper.to_array(t)) for t in graph.initializer)
        values.update((n.output[0], numpy_helper.to_array(n.attribute[0].t)) for n in graph.node
                      if n.op_type == "Constant" and n.attribute[0].name == "value")
    return values


@pytest.mark.parametrize("proto", [m for _, m in MODELS], ids=[name for name, _ in MODELS])
def test_scan_bodies_read_only_initializers_of_the_graphs_around_them(proto):
    for body, owner, enclosing in _graphs(proto.graph):
        if owner is None or owner.op_type != "Scan":
            continue
        initializers = {t.name for graph in enclosing for t in graph.initializer}
        assert _free_names(body) <= initializers, f"{owner.name} reads {sorted(_free_names(body) - initializers)}"


@pytest.mark.parametrize("proto", [m for _, m in MODELS], ids=[name for name, _ in MODELS])
def test_slices_run_forwards_and_end_within_reach(proto):
    values = _constants(proto)
    for graph, _, _ in _graphs(proto.graph):
        for node in (n for n in graph.node if n.op_type == "Slice"):
            starts_ends = [values[name] for name in node.input[1:3] if name in values]
            assert all(np.all(np.abs(v) < LARGEST_END) for v in starts_ends), node.name
            if len(node.input) > 4 and node.input[4]:
                assert np.all(values[node.input[4]] > 0), node.name


@pytest.mark.parametrize("proto", [m for _, m in MODELS], ids=[name for name, _ in MODELS])
def test_no_size_is_named_inside_a_body(proto):
    for body, owner, _ in _graphs(proto.graph):
        if owner is not None:
            infos = list(body.input) + list(body.output) + list(body.value_info)
            named = [v.name for v in infos if any(d.dim_param for d in v.type.tensor_type.shape.dim)]
            assert named == [], f"{owner.name}'s body names sizes of {named}"


# ---- other runtimes --------------------------------------------------------------------------

def _runner(runtime: str, proto: onnx.ModelProto, folder: Path):
    """feeds -> {output name: array}: the model in OpenVINO (f32) or tract (tests/other_runtimes.py),
    loaded once; the test skips where the runtime is not installed."""
    path = folder / "model.onnx"
    onnx.save(proto, path)
    return other_runtimes.load(runtime, str(path))


def _onnxruntime(proto: onnx.ModelProto):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in proto.graph.output]
    return lambda feeds: dict(zip(names, session.run(None, feeds)))


def _numbers_only(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its string outputs (a classifier's names, from ai.onnx.ml's LabelEncoder)."""
    outputs = [o.name for o in proto.graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT]
    if len(outputs) == len(proto.graph.output):
        return proto
    return _extract(proto, [i.name for i in proto.graph.input], outputs)


def _extract(proto: onnx.ModelProto, inputs: list[str], outputs: list[str]) -> onnx.ModelProto:
    """The part of `proto` from the tensors `inputs` to `outputs` (onnx.utils.Extractor), with
    the initializers that its Scan bodies read: the extractor keeps only the outer nodes' ones."""
    part = Extractor(proto).extract_model(inputs, outputs)
    read = _free_names(part.graph) - {t.name for t in part.graph.initializer}
    part.graph.initializer.extend(t for t in proto.graph.initializer if t.name in read)
    return part


NUMERIC_SPECS = [p.stem for p in SPECS if "seq token" not in p.read_text()]


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
@pytest.mark.parametrize("name", NUMERIC_SPECS + list(NUMERIC))
def test_numeric_models_run_in_other_runtimes(runtime, name, tmp_path):
    """The specs in specs/ that read numbers (class names cut off) and the rnn and window forms above."""
    net = specc.loads(NUMERIC[name], f"{name}.nn") if name in NUMERIC else specc.load(spec_path(name))
    proto = _numbers_only(net.to_onnx())
    run, expected = _runner(runtime, proto, tmp_path), _onnxruntime(proto)
    rng = np.random.default_rng(0)
    for batch, length in SHAPES:
        feeds = random_inputs(net.model, batch, length, rng)
        want = expected(feeds)
        for output, value in run(feeds).items():
            assert value.shape == want[output].shape
            np.testing.assert_allclose(value, want[output], rtol=0, atol=1e-5)


def _word_core(proto: onnx.ModelProto, packed: bool) -> onnx.ModelProto:
    """The numeric part of a word model: from the padding mask (N, T) float and the word ids
    (N, T) int64 that the first layer looks its table rows up by (its inputs, in that order) to
    the float outputs; or, packed=False, to the sequence that the words' packing reads (tract
    refuses its Compress, whose size depends on the data)."""
    nodes = {o: n for n in proto.graph.node for o in n.output}
    mask = next(n.output[0] for n in proto.graph.node if n.op_type == "LabelEncoder"
                and n.input[0] in {i.name for i in proto.graph.input})
    ids = next(n.input[1] for n in proto.graph.node if n.op_type == "Gather" and nodes[n.input[0]].op_type == "Constant"
               and nodes[n.input[0]].attribute[0].t.data_type == TensorProto.FLOAT)
    if nodes[ids].op_type == "Transpose":  # the ids made time-major for an rnn: take them batch-major
        ids = nodes[ids].input[0]
    if packed:
        outputs = [o.name for o in proto.graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT]
    else:  # Compress(Reshape(sequence, rows), keep)
        outputs = [nodes[next(n.input[0] for n in proto.graph.node if n.op_type == "Compress")].input[0]]
    sized = onnx.ModelProto()
    sized.CopyFrom(proto)
    sized.graph.value_info.extend([helper.make_tensor_value_info(mask, TensorProto.FLOAT, ["N", "T"]),
                                   helper.make_tensor_value_info(ids, TensorProto.INT64, ["N", "T"])]
                                  + [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])
    core = _extract(sized, [mask, ids], outputs)
    del core.graph.value_info[:]  # the whole model's inferred sizes, fixed where the core's are not
    return core


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
@pytest.mark.parametrize("name", WORD_SPECS)
def test_the_word_specs_numeric_core_runs_in_other_runtimes(runtime, name, tmp_path):
    """The masked backward direction (and in OpenVINO the packing of words) on sentences of
    different lengths, against the whole model in onnxruntime."""
    net = specc.load(spec_path(name))
    proto = net.to_onnx()
    core = _word_core(proto, packed=runtime == "openvino")
    assert {n.domain for n in core.graph.node} == {""}
    del proto.graph.output[:]  # the whole model, giving the core's inputs and outputs
    proto.graph.output.extend(list(core.graph.input) + list(core.graph.output))
    whole = _onnxruntime(proto)
    run = _runner(runtime, core, tmp_path)
    rng = np.random.default_rng(0)
    mask_name, ids_name = (i.name for i in core.graph.input)
    for batch, length in SHAPES:
        values = whole(random_inputs(net.model, batch, length, rng))
        mask, ids = values[mask_name], values[ids_name]
        assert 0 < mask.sum() < mask.size  # some padding
        # onnxruntime hands int64 out as NumPy's longlong, a type OpenVINO does not take
        for output, value in run({mask_name: mask, ids_name: ids.astype(np.int64)}).items():
            np.testing.assert_allclose(value, values[output], rtol=0, atol=1e-5)
