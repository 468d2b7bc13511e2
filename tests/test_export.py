"""The exported ONNX models: checker, names, dynamic sizes, class names, parameter totals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import specc
from specc.onnx_export import initializer_weight_count
from specc.specs import spec_path

SPECS = sorted(Path(spec_path("x_or_o")).parent.glob("*.nn"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_passes_the_full_onnx_check(path):
    onnx.checker.check_model(specc.load(path).to_onnx(), full_check=True)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_parameter_total_equals_the_exported_initializers(path):
    net = specc.load(path)
    proto = net.to_onnx()
    metadata = {p.key: p.value for p in proto.metadata_props}
    # weights a one-hot input folds into a lookup table, a batchnorm's folded into the conv before it
    folded = metadata.get("specc.folded", "").split()
    assert {t.name for t in proto.graph.initializer}.isdisjoint(folded)
    assert initializer_weight_count(proto) + sum(net.weights[name].size for name in folded) == \
        net.param_count + net.model.buffer_count  # batchnorm's running statistics: buffers, not parameters
    assert f"Total params: {net.param_count:,}" in net.summary()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_export_writes_a_verified_model_with_the_difference_in_its_metadata(path, tmp_path):
    report = specc.load(path).export(tmp_path / "model.onnx")
    assert report.ok and report.max_abs_diff <= 1e-5
    assert {n for n, _ in report.cases} >= {1, 3}
    metadata = specc.load_onnx(report.path).metadata
    assert float(metadata["specc.max_abs_diff"]) == pytest.approx(report.max_abs_diff, abs=1e-9)
    assert metadata["specc.spec"] == path.read_text()


def test_names_come_from_the_spec():
    proto = specc.load(spec_path("x_or_o")).to_onnx()
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["label", "label_class"]
    assert "conv@8.weight" in {t.name for t in proto.graph.initializer}
    assert {"conv@8", "maxpool@12", "dense@14", "softmax@14"} <= {n.name for n in proto.graph.node}


def test_classifier_returns_class_names_in_both_back_ends():
    net = specc.load(spec_path("x_or_o"))
    images = np.random.default_rng(3).random((5, 1, 12, 12), dtype=np.float32)
    from tests.helpers import run_both

    numpy_out, ort_out = run_both(net, {"image": images})
    expected = np.array(["X", "O"])[numpy_out["label"].argmax(axis=1)]
    assert list(numpy_out["label_class"]) == list(expected)
    assert list(ort_out["label_class"]) == list(expected)


def test_per_step_classifier_names_every_step():
    net = specc.loads("input x: seq 3\noutput tag: a | b\nx -> rnn elman hidden=4 -> dense -> softmax", "tags.nn")
    from tests.helpers import run_both

    numpy_out, ort_out = run_both(net, {"x": np.ones((2, 5, 3), np.float32)})
    assert ort_out["tag_class"].shape == (2, 5)
    assert ort_out["tag_class"].tolist() == numpy_out["tag_class"].tolist()


def test_batch_and_time_are_dynamic_and_no_shape_is_baked_into_a_reshape():
    proto = specc.load(spec_path("memory")).to_onnx()
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", "T", 2]
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in proto.graph.node if n.op_type == "Constant"}
    for node in proto.graph.node:
        if node.op_type == "Reshape":
            assert set(constants[node.input[1]].tolist()) <= {0, -1}
    from specc.runtime.onnx_runner import OnnxModel

    session = OnnxModel(proto.SerializeToString())
    for batch, steps in [(1, 1), (7, 3), (2, 50)]:
        assert session.run({"x": np.ones((batch, steps, 2), np.float32)})["y"].shape == (batch, steps, 2)


def test_rnn_lowering_is_one_scan_per_stacked_layer_with_the_documented_layout():
    net = specc.loads("input x: seq 3\nx -> rnn elman hidden=4 bidirectional layers=2", "r.nn")
    proto = net.to_onnx()
    scans = [n for n in proto.graph.node if n.op_type == "Scan"]
    assert len(scans) == 2 and not [n for n in proto.graph.node if n.op_type == "RNN"]
    # both directions in one Scan: two states, two scanned inputs, four outputs
    assert all(len(n.input) == 4 and len(n.output) == 4 for n in scans)
    shapes = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    assert shapes["rnn@2.layer1.W"] == (2, 4, 3)
    assert shapes["rnn@2.layer2.W"] == (2, 4, 8)
    assert shapes["rnn@2.layer1.R"] == (2, 4, 4)
    assert shapes["rnn@2.layer1.b"] == (2, 4)


def test_one_hot_words_are_row_lookups_not_products():
    net = specc.load(spec_path("slots_elman"))
    proto = net.to_onnx()
    ops = [n.op_type for n in proto.graph.node]
    assert "OneHot" not in ops and ops.count("MatMul") == 1  # only the output layer multiplies
    # the embedding and the rnn's input weights are one table: every word's x W^T + b, looked up
    lookups = [n for n in proto.graph.node if n.op_type == "Gather" and n.input[1] == "rnn@11.ids_time_major"]
    assert len(lookups) == 1
    table = next(n for n in proto.graph.node if n.output[0] == lookups[0].input[0])
    w = net.weights
    expected = w["dense@10.weight"].T.astype(np.float64) @ w["rnn@11.layer1.W"][0].T + w["rnn@11.layer1.b"][0]
    np.testing.assert_allclose(onnx.numpy_helper.to_array(table.attribute[0].t), expected, rtol=0, atol=1e-6)
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["specc.folded"] == "dense@10.weight rnn@11.layer1.W rnn@11.layer1.b"


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (specc.load(spec_path("x_or_o"), seed=s).weights for s in (0, 0, 1))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv@13.weight"], c["conv@13.weight"])
    np.testing.assert_array_equal(a["conv@8.weight"], c["conv@8.weight"])  # literal, seed-free


def test_failed_verification_writes_nothing(tmp_path, monkeypatch):
    import specc.verify

    monkeypatch.setattr(specc.verify, "TOLERANCE", -1.0)
    target = tmp_path / "model.onnx"
    report = specc.load(spec_path("neuron")).export(target)
    assert not report.ok
    assert not target.exists()


def test_jordan_export_passes_the_full_check_and_has_the_counted_weights():
    net = specc.loads("input x: seq 3\noutput tag: a | b\nx -> rnn jordan hidden=4 out=3 bidirectional layers=2 "
                      "-> dense -> softmax", "j.nn")
    proto = net.to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node].count("Scan") == 2  # one per stacked layer
    assert initializer_weight_count(proto) == net.param_count


def test_large_outputs_verify_relative_to_their_size(tmp_path):
    """Outputs in the hundreds differ between back ends in float32's last digits by more than
    1e-5; verification measures such values relatively, so the export is written."""
    net = specc.loads("input x: 2x8\nx -> conv 3x3 filters 3 padding=1x0 init=ones -> flatten -> dense 6 init=ones\n",
                      "large.nn")
    report = net.export(tmp_path / "large.onnx")
    assert report.ok and report.path.exists()
    assert report.max_diff <= 1e-5 < report.max_abs_diff  # absolute alone would have refused it
    metadata = {p.key: p.value for p in onnx.load(str(report.path)).metadata_props}
    assert float(metadata["specc.max_diff"]) == pytest.approx(report.max_diff, rel=1e-2)
