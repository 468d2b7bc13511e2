"""Graphs in ONNX (issue 9): named values, branches, merges, several inputs and outputs.

Each spec is exported as one graph and checked three ways on the same random inputs: the NumPy
interpreter, onnxruntime and (where it has the ops) ONNX's reference evaluator agree within
1e-5, and `export` verifies it at several batch sizes and lengths. The word models show where
the folding of linear layers into lookup tables and the packing of the words of a batch still
apply, and that where a branch would break them they are off and the model still exact.
"""
from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper

import specc
from specc.budget import SEQUENCE_LENGTHS
from specc.runtime.interpreter import forward
from specc.runtime.onnx_runner import OnnxModel
from specc.verify import random_inputs, verify

RESIDUAL = """\
input image: 1x8x8
output label: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9
h = image -> conv 3x3 filters=16 padding=same -> relu
h -> conv 3x3 filters=16 padding=same -> relu -> conv 3x3 filters=16 padding=same -> add h -> relu
  -> maxpool 2 -> flatten -> dense -> softmax -> label
"""

TWO_INPUTS = """\
input image: 1x6x6
input meta: 3
output label: a | b
f = image -> conv 3x3 filters=2 -> relu -> flatten
meta -> dense 4 -> tanh -> concat f -> dense -> softmax -> label
"""

TWO_HEADS = """\
input image: 1x8x8
output digit: 0 | 1 | 2
output size
trunk = image -> conv 3x3 filters=4 padding=same -> relu -> maxpool 2 -> flatten
trunk -> dense -> softmax -> digit
trunk -> dense 1 -> size
"""

CONCAT_IMAGES = """\
input image: 1x6x6
output label: a | b | c
a = image -> conv 3x3 filters=4 padding=same
image -> conv 3x3 filters=2 padding=same -> relu -> conv 3x3 filters=3 padding=same -> concat a
  -> flatten -> dense -> softmax -> label
"""

CONCAT_VECTORS = """\
input x: 5
output y
a = x -> dense 3
x -> dense 4 -> relu -> dense 2 -> concat a -> dense 2 -> y
"""

GATED = """\
input x: seq 3
output tag: a | b | c
gate = x -> dense 4 -> sigmoid
x -> dense 4 -> tanh -> multiply gate -> rnn elman hidden=5 -> dense -> softmax -> tag
"""

VOCAB = "vocab=[arrive, leave, beijing, on, november]"

# words tagged per word, their features joined with a second input of per-word numbers
WORDS_AND_NUMBERS = f"""\
input words: seq token
input numbers: seq 2
output tag: other | dest | time
w = words -> onehot {VOCAB} -> rnn elman hidden=4
w -> concat numbers -> dense 5 -> relu -> dense -> softmax -> tag
"""

# the one-hot words are read by one chain only: the rnn folds them, its tail is packed
ONE_READER = f"""\
input words: seq token
output tag: other | dest | time
e = words -> onehot {VOCAB}
e -> rnn elman hidden=4 -> dense -> softmax -> tag
"""

# the embedding is read twice (by a chain and by a merge), and the rnn's chain is bound to a
# value: no folding across chains, no packing of the bound chain or of a tail ending in a merge
BRANCHED = f"""\
input words: seq token
output tag
e = words -> onehot {VOCAB} -> dense 4
r = e -> rnn elman hidden=4 -> dense 4 -> relu
r -> add e -> tag
"""


def agree(text: str, reference: bool = True, batches=(1, 3), lengths=(1, 4)) -> tuple[specc.Network, object]:
    """Load a spec, export it, and check NumPy, onnxruntime and (with `reference`) ONNX's
    reference evaluator on random inputs for every input, every output compared (<= 1e-5)."""
    net = specc.loads(text, "graph.nn", seed=3)
    proto = net.to_onnx()
    session = OnnxModel(proto.SerializeToString())
    rng = np.random.default_rng(5)
    for batch in batches:
        for length in lengths:
            inputs = random_inputs(net.model, batch, length, rng)
            expected = forward(net.model, net.weights, inputs)
            got = session.run(inputs)
            references = _reference(proto, inputs) if reference else {}
            for output in net.model.outputs:
                np.testing.assert_allclose(got[output.name], expected[output.name], rtol=0, atol=1e-5)
                if reference:
                    np.testing.assert_allclose(references[output.name], expected[output.name], rtol=0, atol=1e-5)
                if output.classes:
                    assert got[output.class_output_name].tolist() == expected[output.class_output_name].tolist()
    return net, proto


def _reference(proto, inputs) -> dict:
    from onnx.reference import ReferenceEvaluator

    names = [o.name for o in proto.graph.output]
    return dict(zip(names, ReferenceEvaluator(proto).run(None, inputs)))


def ops(proto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def folded(proto) -> list[str]:
    return {p.key: p.value for p in proto.metadata_props}.get("specc.folded", "").split()


# ---- graphs of numbers ----

@pytest.mark.parametrize("text", [RESIDUAL, TWO_INPUTS, TWO_HEADS, CONCAT_IMAGES, CONCAT_VECTORS, GATED],
                         ids=["residual", "two_inputs", "two_heads", "concat_images", "concat_vectors", "gated"])
def test_graphs_agree_in_numpy_onnxruntime_and_the_reference_evaluator(text, tmp_path):
    net, _ = agree(text)
    report = net.export(tmp_path / "graph.onnx")
    assert report.ok and report.max_diff <= 1e-5
    assert {n for n, _ in report.cases} == {1, 3, 8}


def test_the_residual_add_reads_the_named_value():
    _, proto = agree(RESIDUAL, batches=(2,), lengths=(1,))
    add = next(n for n in proto.graph.node if n.op_type == "Add" and n.name == "add@4")
    producers = {out: n.name for n in proto.graph.node for out in n.output}
    assert [producers[name] for name in add.input] == ["conv@4:50", "relu@3"]
    assert [o.name for o in proto.graph.output] == ["label", "label_class"]


def test_several_inputs_and_outputs_keep_the_spec_names_in_declared_order():
    _, proto = agree(TWO_INPUTS, batches=(2,), lengths=(1,))
    assert [i.name for i in proto.graph.input] == ["image", "meta"]
    _, proto = agree(TWO_HEADS, batches=(2,), lengths=(1,))
    assert [o.name for o in proto.graph.output] == ["digit", "size", "digit_class"]


def test_concat_joins_images_along_channels_and_vectors_along_features():
    for text, axis, width in ((CONCAT_IMAGES, 1, 7), (CONCAT_VECTORS, 1, 5), (WORDS_AND_NUMBERS, 2, 6)):
        net = specc.loads(text, "graph.nn")
        concat = next(layer for layer in net.model.layers if layer.kind == "concat")
        assert concat.out_shape[concat.attrs.axis] == width
        node = next(n for n in net.to_onnx().graph.node if n.name == concat.id)
        assert (node.op_type, node.attribute[0].i) == ("Concat", axis)


# ---- words: folding and packing where the graph allows them ----

def test_a_word_branch_joined_with_numbers_per_word_is_exact(tmp_path):
    net, proto = agree(WORDS_AND_NUMBERS, batches=(1, 4), lengths=(1, 6))
    assert ops(proto).count("Compress") == 1  # the tail after the concat runs on the words only
    report = net.export(tmp_path / "tagger.onnx")
    assert report.ok and {t for _, t in report.cases} == set(SEQUENCE_LENGTHS)


def test_one_hot_words_read_by_one_chain_are_folded_and_its_tail_packed():
    net, proto = agree(ONE_READER, lengths=(1, 6))
    rnn = next(layer for layer in net.model.layers if layer.kind == "rnn")
    assert folded(proto) == [f"{rnn.id}.layer1.W", f"{rnn.id}.layer1.b"]
    assert "OneHot" not in ops(proto) and ops(proto).count("Compress") == 1
    # the same as one chain: the name binding costs no node
    plain = specc.loads(ONE_READER.replace("e = words", "words").replace("\ne -> rnn", " -> rnn"), "graph.nn")
    assert sorted(ops(plain.to_onnx())) == sorted(ops(proto))


def test_a_branched_embedding_is_written_out_once_and_nothing_is_packed(tmp_path):
    net, proto = agree(BRANCHED, lengths=(1, 6))
    dense, rnn = (next(layer for layer in net.model.layers if layer.kind == kind) for kind in ("dense", "rnn"))
    # the embedding's own dense still becomes a table of its chain; the rnn reads it as a tensor
    assert folded(proto) == [f"{dense.id}.weight", f"{dense.id}.bias"]
    assert f"{rnn.id}.layer1.W" in {t.name for t in proto.graph.initializer}
    assert "Compress" not in ops(proto)
    gathers = [n for n in proto.graph.node if n.op_type == "Gather" and n.input[0].endswith(".table")]
    assert len(gathers) == 1  # one lookup, read by the rnn's chain and by the add
    report = net.export(tmp_path / "branched.onnx")
    assert report.ok


def test_a_value_read_by_two_merges_and_a_chain_is_one_tensor():
    text = f"""\
input words: seq token
output tag: a | b
e = words -> onehot {VOCAB}
e -> dense 6 -> add e -> multiply e -> dense -> softmax -> tag
"""
    _, proto = agree(text, lengths=(1, 5))
    assert ops(proto).count("OneHot") == 1 and not folded(proto)


def test_a_word_trunk_with_two_heads_packs_each_head():
    text = f"""\
input words: seq token
output tag: other | dest | time
output score
r = words -> onehot {VOCAB} -> rnn elman hidden=4 bidirectional
r -> dense -> softmax -> tag
r -> dense 1 -> tanh -> score
"""
    net, proto = agree(text, lengths=(1, 6))
    # the rnn's output is read by two chains: transposed to batch-major once, then packed per head
    assert ops(proto).count("Compress") == 2
    assert [n.op_type for n in proto.graph.node if n.name.startswith("rnn@") and n.name.endswith("batch_major")] == \
        ["Transpose"]
    assert [o.name for o in proto.graph.output] == ["tag", "score", "tag_class"]


# ---- verification ----

@pytest.mark.parametrize("head", ["digit", "size"])
def test_verification_compares_every_output(head):
    net = specc.loads(TWO_HEADS, "graph.nn", seed=3)
    proto = net.to_onnx()
    chain = next(c for c in net.model.chains if c.result == head)
    weight = next(t for t in proto.graph.initializer if t.name == chain.layers[0].weight_name("weight"))
    changed = numpy_helper.to_array(weight).copy()
    changed[0] += 0.01  # one unit of one head (every unit alike would leave a softmax unchanged)
    weight.raw_data = changed.tobytes()
    result = verify(net.model, net.weights, proto.SerializeToString())
    assert not result.ok and result.max_diff > 1e-4
    assert verify(net.model, net.weights, net.to_onnx().SerializeToString()).ok
