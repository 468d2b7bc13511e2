"""specc quantize (issue 10, part 4): int8 models from onnxruntime's quantizers, checked against the
float model on held-out data before anything is written. The scores printed are checked against
onnxruntime run here directly on the data set's held-out split."""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import specc
from specc.cli import main
from specc.runtime.data import load_data
from specc.runtime.data.sentences import load_sentences
from specc.runtime.metrics import slot_scores
from specc.specs import spec_path

pytest.importorskip("onnxruntime.quantization")

# decided by the sign of a second feature a hundred times smaller than the first: uint8 activations
# with one scale for the whole input round it away, so the int8 model guesses
TINY_SPEC = """model tiny
input x: 2
output label: pos | neg
x -> dense 2 weights=[[0, 1], [0, -1]] bias=false -> softmax
train
  data "{data}"
"""


def ops(path) -> set[str]:
    """Every operator of a model, its Scan bodies' included."""
    found, graphs = set(), [onnx.load(str(path)).graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            found.add(node.op_type)
            graphs += [attribute.g for attribute in node.attribute if attribute.type == onnx.AttributeProto.GRAPH]
    return found


def accuracy(path, x, y) -> float:
    """Accuracy in % of a classifier model run by onnxruntime here."""
    scores = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    return 100 * float((scores.argmax(axis=1) == y).mean())


@pytest.fixture(scope="module")
def x_or_o(tmp_path_factory):
    """x_or_o trained for 2 epochs: its exported model's path."""
    out = tmp_path_factory.mktemp("xo")
    specc.loads(spec_path("x_or_o").read_text().replace("epochs 8", "epochs 2"), "x_or_o.nn").train(out=out)
    return out / "x_or_o.onnx"


def test_x_or_o_scores_sizes_and_operators_are_those_of_the_written_model(x_or_o, tmp_path, capsys):
    out = tmp_path / "x_or_o.int8.onnx"
    assert main(["quantize", str(x_or_o), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    test = load_data("xo", input_name="image", input_shape=(1, 12, 12), output_name="label", classes=("X", "O"),
                     seed=0, validation=0.1).test
    before, after = accuracy(x_or_o, test.x, test.y), accuracy(out, test.x, test.y)
    assert f"held-out test split of xo (400 samples), float -> int8:\n  label accuracy: {before:.2f} -> {after:.2f} " \
           f"(drop {before - after:.2f} points; allowed 1)\n" in printed
    assert f"size: {os.path.getsize(x_or_o):,} -> {os.path.getsize(out):,} bytes" in printed
    assert printed.endswith(f"wrote {out}\n")
    onnx.checker.check_model(onnx.load(str(out)))
    assert {"QLinearConv", "MatMulInteger", "DynamicQuantizeLinear"} <= ops(out) and "Conv" not in ops(out)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["specc.quantized"] == "int8 (onnxruntime.quantization)" and meta["specc.spec"].startswith("# X or O")


def test_the_default_output_is_beside_the_model(x_or_o, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    model.write_bytes(x_or_o.read_bytes())
    assert main(["quantize", str(model), "--quiet"]) == 0
    assert capsys.readouterr().out == "" and onnx.load(str(tmp_path / "m.int8.onnx")).graph.node


@pytest.fixture
def tiny(tmp_path):
    """A two-feature classifier that int8 cannot keep (see TINY_SPEC): its model's path."""
    rng = np.random.default_rng(0)

    def rows(n):
        big, small = rng.uniform(-1, 1, n), rng.uniform(5e-4, 3e-3, n) * rng.choice([-1, 1], n)
        return np.stack([big, small], 1).astype(np.float32), (small < 0).astype(np.int64)

    (x, y), (x_test, y_test) = rows(200), rows(100)
    np.savez(tmp_path / "tiny.npz", x=x, y=y, x_test=x_test, y_test=y_test)
    spec = tmp_path / "tiny.nn"
    spec.write_text(TINY_SPEC.format(data=tmp_path / "tiny.npz"))
    assert main(["compile", str(spec), "-o", str(tmp_path / "tiny.onnx"), "--quiet"]) == 0
    return tmp_path / "tiny.onnx"


def test_a_model_that_loses_more_than_max_drop_is_refused_and_nothing_is_written(tiny, capsys):
    allowed = tiny.with_name("allowed.onnx")
    assert main(["quantize", str(tiny), "-o", str(allowed), "--max-drop", "100"]) == 0
    x, y = (np.load(tiny.with_name("tiny.npz"))[k] for k in ("x_test", "y_test"))
    session = ort.InferenceSession(str(allowed), providers=["CPUExecutionProvider"])
    after = 100 * float((session.run(None, {"x": x})[0].argmax(axis=1) == y).mean())
    assert after < 99
    capsys.readouterr()
    refused = tiny.with_name("refused.onnx")
    assert main(["quantize", str(tiny), "-o", str(refused)]) == 2
    out, err = capsys.readouterr()
    assert f"  label accuracy: 100.00 -> {after:.2f} (drop {100 - after:.2f} points; allowed 1)\n" in out
    assert err == (f"error: the int8 model loses {100 - after:.1f} points of accuracy on label, more than --max-drop 1; "
                   "nothing was written\n  hint: keep the float model, or allow a larger loss with --max-drop\n")
    assert not refused.exists() and sorted(p.name for p in tiny.parent.iterdir()) == [
        "allowed.onnx", "tiny.nn", "tiny.npz", "tiny.onnx"]


def test_a_tagger_keeps_its_slot_f1_with_the_rnn_loop_body_in_int8(tmp_path, capsys):
    spec = spec_path("slots_elman").read_text()
    specc.loads(spec, "slots_elman.nn").train(epochs=1, out=tmp_path)
    model, out = tmp_path / "slots_elman.onnx", tmp_path / "slots_elman.int8.onnx"
    assert main(["quantize", str(model)]) == 0
    test = load_sentences("flights", 0, 0.1)[2]
    longest = max(map(len, test.words))
    words = np.array([list(sentence) + [""] * (longest - len(sentence)) for sentence in test.words], object)
    f1 = []
    for path in (model, out):
        tags = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["slots_class"], {"words": words})[0]
        f1.append(100 * slot_scores(test.tags, [list(row[:len(s)]) for row, s in zip(tags, test.words)])[2])
    assert f"  slots slot F1: {f1[0]:.2f} -> {f1[1]:.2f} (drop {f1[0] - f1[1]:.2f} points; allowed 1)\n" \
           in capsys.readouterr().out
    body = next(node for node in onnx.load(str(out)).graph.node if node.op_type == "Scan").attribute[0].g
    assert "MatMulInteger" in {node.op_type for node in body.node}
    assert os.path.getsize(out) < os.path.getsize(model) / 2  # the word table and weights in one byte each


@pytest.mark.parametrize("args, message", [
    (["--max-drop", "-1"], "error: --max-drop -1 must be a number of points of at least 0\n"),
    (["--max-drop", "nan"], "error: --max-drop nan must be a number of points of at least 0\n"),
])
def test_max_drop_must_be_a_number_of_points(x_or_o, tmp_path, capsys, args, message):
    assert main(["quantize", str(x_or_o), "-o", str(tmp_path / "q.onnx"), *args]) == 2
    assert capsys.readouterr().err.startswith(message) and not (tmp_path / "q.onnx").exists()


def test_a_model_not_written_by_specc_is_refused(tmp_path, capsys):
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "other.onnx")
    assert main(["quantize", str(tmp_path / "other.onnx")]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'other.onnx'} was not exported by specc: its metadata holds no specc.spec, so its held-out "
        "data and scores are unknown\n  hint: quantize a model written by specc compile or specc train\n")
    assert not (tmp_path / "other.int8.onnx").exists()


def test_a_spec_without_data_needs_data(tmp_path, capsys):
    spec = tmp_path / "plain.nn"
    spec.write_text("model plain\ninput x: 2\noutput label: a | b\nx -> dense -> softmax\n")
    assert main(["compile", str(spec), "-o", str(tmp_path / "plain.onnx"), "--quiet"]) == 0
    assert main(["quantize", str(tmp_path / "plain.onnx")]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'plain.onnx'}: its spec names no training data to check the int8 model on\n"
        "  hint: give the data it was trained on: --data xo, digits, flights, atis or a data file\n")


def test_an_int8_model_is_not_quantized_again(x_or_o, tmp_path, capsys):
    once = tmp_path / "once.onnx"
    assert main(["quantize", str(x_or_o), "-o", str(once), "--quiet"]) == 0
    assert main(["quantize", str(once), "-o", str(tmp_path / "twice.onnx")]) == 2
    assert capsys.readouterr().err == (f"error: {once} is an int8 model already (written by specc quantize)\n"
                                       "  hint: quantize the float model it was made from\n")


def test_a_model_with_nothing_to_quantize_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=np.ones((20, 3), np.float32), y=np.ones((20, 3), np.float32))
    spec = tmp_path / "relu.nn"
    spec.write_text(f'model relu\ninput x: 3\nx -> relu\ntrain\n  data "{tmp_path / "d.npz"}"\n')
    assert main(["compile", str(spec), "-o", str(tmp_path / "relu.onnx"), "--quiet"]) == 0
    assert main(["quantize", str(tmp_path / "relu.onnx")]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'relu.onnx'} has nothing that int8 makes smaller or faster: no conv, dense, rnn or word "
        "table\n  hint: keep the float model\n")
    assert not (tmp_path / "relu.int8.onnx").exists()
