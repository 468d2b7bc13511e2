"""The .nn language: statements, line continuation, argument forms, outputs and chains."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import specc
from specc.parse import parse


def test_declarations():
    spec = parse("""# a comment
model x_or_o
input image: 1x6x6                 # channels x height x width
input x: seq 2
input words: seq token
input v: 3
output label: X | O
output y
image -> flatten -> dense -> label
""", "decl.nn")
    assert spec.model_name == "x_or_o"
    assert [(i.name, i.form, i.dims) for i in spec.inputs] == [
        ("image", "image", (1, 6, 6)), ("x", "seq", (2,)), ("words", "tokens", ()), ("v", "vector", (3,))]
    assert [(o.name, o.classes) for o in spec.outputs] == [("label", ("X", "O")), ("y", None)]


def test_the_design_card_line_compiles_as_written():
    net = specc.loads("input image: 1x6x6\noutput label: X | O\n"
                      "image -> conv 3x3 stride 1 -> maxpool 2 -> flatten -> dense\n", "card.nn")
    assert [layer.out_shape for layer in net.model.layers] == [
        ("N", 1, 4, 4), ("N", 1, 2, 2), ("N", 4), ("N", 2)]


def test_chains_continue_after_an_arrow_or_on_a_line_starting_with_one():
    net = specc.loads("""input image: 1x7x7
image -> conv 3x3 filters=2 stride=2 padding=1 bias=false -> relu
      -> maxpool 2 stride 2 ->
      # a comment between the links

      flatten -> dense 10 -> softmax
""", "multi.nn")
    assert [layer.kind for layer in net.model.layers] == ["conv", "relu", "maxpool", "flatten", "dense", "softmax"]
    assert net.model.layers[2].coord.line == 3 and net.model.layers[3].coord.line == 6


def test_argument_forms_bind_the_same():
    forms = ["conv 3x3 filters=2 stride=2 padding=same", "conv 3 2 stride 2 padding same",
             "conv size=3x3 filters 2 same stride=2x2"]
    attrs = [specc.loads(f"input i: 1x8x8\ni -> {f}", "f.nn").model.layers[0].attrs for f in forms]
    assert attrs[0] == attrs[1] == attrs[2]
    assert attrs[0].stride == (2, 2) and attrs[0].filters == 2


def test_flags_and_words():
    layer = specc.loads("input x: seq 2\nx -> rnn elman hidden=3 bidirectional", "f.nn").model.layers[0]
    assert layer.attrs.directions == 2 and layer.out_shape == ("N", "T", 6)


def test_literal_lists_span_lines_and_take_negative_and_float_numbers():
    layer = specc.loads("""input v: 2
v -> dense 2 weights=[[1, -1.5],
                      [2e-1, +3]] bias=[0.5, -.25]""", "w.nn").model.layers[0]
    assert layer.weights[0].literal.values == (1.0, -1.5, 0.2, 3.0)
    assert layer.weights[1].literal.values == (0.5, -0.25)


def test_a_chain_ends_in_a_named_output_and_chains_take_outputs():
    net = specc.loads("""input a: 4
input b: seq 3
output first
output second: yes | no
b -> rnn elman hidden=2 -> last -> dense -> softmax -> second
a -> dense 3
""", "two.nn")
    assert [(c.source, c.output.name) for c in net.model.chains] == [("b", "second"), ("a", "first")]


def test_two_chains_need_outputs():
    with pytest.raises(specc.SpecError, match="leads to no output"):
        specc.loads("input a: 4\na -> dense 3\na -> dense 2\n", "two.nn")


def test_hw_image_means_one_channel():
    assert specc.loads("input i: 6x6\ni -> flatten", "hw.nn").model.inputs[0].shape == ("N", 1, 6, 6)


def test_class_names_may_be_numbers_tags_and_strings():
    spec = parse('output d: 0 | 1 | B-fromloc.city_name | "New York"\n', "c.nn")
    assert spec.outputs[0].classes == ("0", "1", "B-fromloc.city_name", "New York")


def test_non_editable_install_ships_grammar_and_specs(tmp_path):
    pytest.importorskip("setuptools")  # the build backend, used without build isolation
    root = Path(__file__).resolve().parent.parent
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(root)], check=True, capture_output=True)
    code = ("import specc; from specc.specs import spec_path; net = specc.load(spec_path('seed_pool')); "
            "print(net.param_count, float(net.run(image=[[0.0] * 6] * 6)['pooled'].sum()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "18 0.0", result.stderr
    # everything under the one name specc: no top-level runtime, grammar or specs to collide with
    installed = {path.name for path in target.iterdir() if not path.name.endswith((".dist-info", ".egg-info"))}
    assert installed - {"bin"} == {"specc"}
    assert (target / "specc" / "runtime" / "kernels" / "conv.py").exists()
    assert (target / "specc" / "specs" / "inputs" / "x_12x12.json").exists()
