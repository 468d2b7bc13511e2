"""The graph language: named values (`h = image -> ...`), merges (add, concat, multiply), several
inputs and outputs; their shapes and parameters (counted by hand from the layers' formulas), the
mistakes a user can make in them (located at the use, with a hint), the warning for a value
never used, and how `specc check` prints a graph."""
from __future__ import annotations

import json

import pytest

import specc
from specc.cli import main
from specc.summary import spelled_out
from tests.test_errors import expect_error, spec

RESIDUAL = spec("input image: 1x8x8",
                "output label: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9",
                "h = image -> conv 3x3 filters=16 padding=same -> relu",
                "h -> conv 3x3 filters=16 padding=same -> relu -> conv 3x3 filters=16 padding=same -> add h -> relu",
                "  -> maxpool 2 -> flatten -> dense -> softmax -> label")


def model(text: str):
    return specc.loads(text, file="g.nn").model


def layers_of(chain) -> list[tuple[str, tuple, int]]:
    """(kind, output shape, parameters) of each layer of a chain."""
    return [(layer.kind, layer.out_shape, layer.param_count) for layer in chain.layers]


# ---- the issue's models ----

def test_residual_block_as_the_issue_writes_it():
    m = model(RESIDUAL)
    first, block = m.chains
    assert (first.source, first.name, first.output) == ("image", "h", None)
    # conv 1->16 3x3: 9*16 + 16; conv 16->16: 9*16*16 + 16; dense 256->10: 2560 + 10
    assert layers_of(first) == [("conv", ("N", 16, 8, 8), 160), ("relu", ("N", 16, 8, 8), 0)]
    assert layers_of(block) == [
        ("conv", ("N", 16, 8, 8), 2320), ("relu", ("N", 16, 8, 8), 0), ("conv", ("N", 16, 8, 8), 2320),
        ("add", ("N", 16, 8, 8), 0), ("relu", ("N", 16, 8, 8), 0), ("maxpool", ("N", 16, 4, 4), 0),
        ("flatten", ("N", 256), 0), ("dense", ("N", 10), 2570), ("softmax", ("N", 10), 0)]
    assert (block.source, block.name, block.output.name) == ("h", None, "label")
    assert block.layers[3].operands == ("h",)
    assert m.param_count == 7370
    assert m.uses("h") == [(1, -1), (1, 3)]
    assert m.warnings == ()
    ids = [layer.id for layer in m.layers]
    assert len(set(ids)) == len(ids) == 11  # unique over the whole graph


def test_two_input_model():
    m = model(spec("input image: 1x8x8",
                   "input extra: 3",
                   "output label: yes | no",
                   "f = image -> conv 3x3 filters=2 -> maxpool 2 -> flatten",
                   "extra -> dense 4 -> concat f -> dense -> softmax -> label"))
    # conv 1->2: 18 + 2; dense 3->4: 12 + 4; concat 4 + 2*3*3 = 22 features; dense 22->2: 44 + 2
    assert [i.name for i in m.inputs] == ["image", "extra"]
    assert layers_of(m.chains[1]) == [("dense", ("N", 4), 16), ("concat", ("N", 22), 0), ("dense", ("N", 2), 46),
                                      ("softmax", ("N", 2), 0)]
    assert m.param_count == 20 + 16 + 46
    assert m.chains[1].layers[1].attrs.axis == 1


def test_shared_trunk_with_two_heads():
    m = model(spec("input x: 8",
                   "output kind: a | b | c",
                   "output score",
                   "trunk = x -> dense 16 -> relu",
                   "trunk -> dense -> softmax -> kind",
                   "trunk -> dense 1 -> score"))
    assert [o.name for o in m.outputs] == ["kind", "score"]
    assert [(c.source, c.result) for c in m.chains] == [("x", "trunk"), ("trunk", "kind"), ("trunk", "score")]
    assert m.uses("trunk") == [(1, -1), (2, -1)]
    # 8*16 + 16; 16*3 + 3; 16*1 + 1
    assert m.param_count == 144 + 51 + 17
    assert m.value_shape("kind") == ("N", 3) and m.value_shape("score") == ("N", 1)


def test_concat_of_two_branches_of_different_depth():
    m = model(spec("input image: 1x8x8",
                   "output label: yes | no",
                   "a = image -> conv 3x3 filters=4 padding=same",
                   "image -> conv 3x3 filters=2 padding=same -> relu -> conv 3x3 filters=2 padding=same -> concat a",
                   "  -> flatten -> dense -> softmax -> label"))
    concat = m.chains[1].layers[3]
    assert (concat.kind, concat.in_shape, concat.out_shape, concat.attrs.axis) == (
        "concat", ("N", 2, 8, 8), ("N", 6, 8, 8), 1)
    # convs 1->4: 36 + 4, 1->2: 18 + 2, 2->2: 36 + 2; dense 384->2: 768 + 2
    assert m.param_count == 40 + 20 + 38 + 770


def test_gated_sequence_model_with_multiply():
    m = model(spec("input words: seq token",
                   "output tag: O | B | I",
                   "e = words -> onehot vocab=[a, b, c]",
                   "g = e -> dense 5 -> sigmoid",
                   "e -> dense 5 -> tanh -> multiply g -> dense -> softmax -> tag"))
    # onehot: 3 words + 'other' = 4; dense 4->5: 20 + 5 (twice); dense 5->3: 15 + 3
    assert layers_of(m.chains[2]) == [("dense", ("N", "T", 5), 25), ("tanh", ("N", "T", 5), 0),
                                      ("multiply", ("N", "T", 5), 0), ("dense", ("N", "T", 3), 18),
                                      ("softmax", ("N", "T", 3), 0)]
    assert m.param_count == 68
    assert [c.mask_source for c in m.chains] == ["words", "words", "words"]


def test_word_features_concatenated_with_per_word_numbers():
    m = model(spec("input words: seq token",
                   "input numbers: seq 2",
                   "output tag: O | B",
                   "w = words -> onehot vocab=[a, b] -> dense 3",
                   "w -> concat numbers -> dense -> softmax -> tag"))
    assert layers_of(m.chains[1])[0] == ("concat", ("N", "T", 5), 0)
    assert m.chains[1].layers[0].attrs.axis == 2
    assert [c.mask_source for c in m.chains] == ["words", "words"]
    assert m.uses("numbers") == [(1, 0)]


def test_a_merge_reads_several_values_in_order():
    m = model(spec("input x: 4",
                   "a = x -> dense 2",
                   "b = x -> dense 3",
                   "x -> concat a b -> dense 4 -> add x x"))
    concat, _, add = m.chains[2].layers[:3]
    assert (concat.operands, concat.out_shape) == (("a", "b"), ("N", 9))
    assert (add.operands, add.out_shape, spelled_out(add)) == (("x", "x"), ("N", 4), "add x x")


def test_sentence_summaries_of_two_token_inputs_may_merge():
    m = model(spec("input first: seq token",
                   "input second: seq token",
                   "output same: yes | no",
                   "v = second -> onehot vocab=[a, b] -> rnn elman hidden=3 -> last",
                   "first -> onehot vocab=[a, b] -> rnn elman hidden=3 -> last -> concat v -> dense -> softmax -> same"))
    assert [c.mask_source for c in m.chains] == ["second", "first"]
    assert m.value_shape("same") == ("N", 2)


def test_plain_chains_are_as_before():
    m = model(spec("input a: 4", "input b: 2", "output p", "output q", "a -> dense 3", "b -> dense 1"))
    assert [(c.source, c.name, c.output.name, c.mask_source) for c in m.chains] == [("a", None, "p", None),
                                                                                   ("b", None, "q", None)]


# ---- mistakes, located at the use ----

ERRORS = [
    ("misspelt-source",
     spec("input image: 1x8x8", "h = image -> relu", "hh -> flatten"),
     "g.nn:3:1", "the chain starts from 'hh', which is not a declared input or a value bound above",
     "did you mean 'h'?"),
    ("misspelt-operand",
     spec("input image: 1x8x8", "h = image -> relu", "image -> relu -> add hx -> flatten"),
     "g.nn:3:22", "add reads 'hx', which is not a declared input or a value bound above", "did you mean 'h'?"),
    ("layer-name-as-operand",
     spec("input x: 4", "h = x -> relu", "x -> dense 4 -> add relu -> dense 2"),
     "g.nn:3:21", "add reads 'relu'", "separate layers with '->'"),
    ("used-before-bound",
     spec("input image: 1x8x8", "image -> relu -> add h -> flatten", "h = image -> relu"),
     "g.nn:2:22", "add reads 'h', which is bound further down, at line 3",
     "move the chain that binds h (line 3) above line 2"),
    ("source-before-bound",
     spec("input x: 4", "h -> dense 2", "h = x -> relu"),
     "g.nn:2:1", "the chain starts from 'h', which is bound further down, at line 3", "above line 2"),
    ("reads-itself",
     spec("input image: 1x8x8", "h = image -> relu -> add h", "h -> flatten"),
     "g.nn:2:26", "h reads itself", "a spec is a graph without loops"),
    ("cycle",
     spec("input x: 4", "a = x -> relu -> add b", "b = a -> relu", "b -> dense 2"),
     "g.nn:2:22", "a cycle of values: a -> b -> a", "values bound above it"),
    ("bound-twice",
     spec("input x: 4", "h = x -> relu", "h = x -> tanh", "h -> dense 2"),
     "g.nn:3:1", "value 'h' is bound twice", "give each value its own name"),
    ("value-named-like-an-input",
     spec("input x: 4", "x = x -> relu", "x -> dense 2"),
     "g.nn:2:1", "'x' is a declared input, and a value cannot take its name", "give the value its own name"),
    ("value-named-like-an-output",
     spec("input x: 4", "output y", "y = x -> relu", "x -> dense 2 -> y"),
     "g.nn:3:1", "'y' is a declared output, and a value cannot take its name", "'-> y' at its end"),
    ("output-reached-by-no-chain",
     spec("input x: 4", "output y", "output z", "h = x -> relu", "h -> dense 2 -> y"),
     "g.nn:3:8", "output z is produced by no chain", "end a chain with '-> z'"),
    ("output-reached-by-two-chains",
     spec("input x: 4", "output y", "h = x -> relu", "h -> dense 2 -> y", "x -> dense 2 -> y"),
     "g.nn:5:17", "two chains lead to output y", "merge the branches"),
    ("bound-chain-reaching-an-output",
     spec("input x: 4", "output y", "h = x -> relu -> y"),
     "g.nn:3:18", "the chain that binds h also reaches output y", "drop 'h ='"),
    ("add-of-different-sizes",
     spec("input image: 1x8x8", "h = image -> conv 3x3 filters=16 padding=same -> relu",
          "h -> conv 3x3 filters=16 -> add h -> flatten"),
     "g.nn:3:33", "add h needs shapes that fit: received (N, 16, 6, 6) from conv 3x3 filters=16 at line 3 "
                  "and h (N, 16, 8, 8) from relu at line 2", "padding=same on each conv"),
    ("add-of-different-filters",
     spec("input image: 1x8x8", "h = image -> conv 3x3 filters=16 padding=same -> relu",
          "h -> conv 3x3 filters=8 padding=same -> add h -> flatten"),
     "g.nn:3:45", "received (N, 8, 8, 8) from conv 3x3 filters=8 padding=same at line 3 and h (N, 16, 8, 8)",
     "give both branches the same number of filters, or join them with concat (channels add up)"),
    ("multiply-of-different-widths",
     spec("input x: 4", "g = x -> dense 3", "x -> dense 2 -> multiply g -> dense 1"),
     "g.nn:3:26", "multiply g needs shapes that fit: received (N, 2) from dense 2 at line 3 and g (N, 3) "
                  "from dense 3 at line 2", "give both branches the same width"),
    ("concat-of-an-image-and-a-vector",
     spec("input image: 1x8x8", "v = image -> flatten", "image -> relu -> concat v -> flatten"),
     "g.nn:3:25", "concat v cannot merge an image (N, C, H, W) with a vector (N, F)", "flatten the image branch"),
    ("concat-of-images-of-other-sizes",
     spec("input image: 1x8x8", "p = image -> maxpool 2", "image -> concat p -> flatten"),
     "g.nn:3:17", "received (N, 1, 8, 8) from input image and p (N, 1, 4, 4) from maxpool 2 at line 2",
     "keep the heights and widths equal"),
    ("words-of-two-inputs",
     spec("input a: seq token", "input b: seq token", "v = b -> onehot vocab=[x, y]",
          "a -> onehot vocab=[x, y] -> concat v -> dense 2"),
     "g.nn:4:36", "concat v merges the words of two inputs", "merge values read from one token input"),
    ("add-without-a-name",
     spec("input x: 4", "x -> dense 4 -> add -> dense 2"),
     "g.nn:2:17", "add needs the name of a value to add to the flowing one", "-> add h"),
    ("add-of-a-number",
     spec("input x: 4", "x -> dense 4 -> add 3 -> dense 2"),
     "g.nn:2:21", "add: 'operands' cannot be 3", "by name"),
    ("output-as-a-source",
     spec("input x: 4", "output y", "y -> dense 2"),
     "g.nn:3:1", "the chain starts from 'y'", "y is a declared output: a chain reaches it at its end"),
    ("chain-ending-in-a-value",
     spec("input x: 4", "output y", "h = x -> relu", "x -> tanh -> h"),
     "g.nn:4:14", "the chain ends in 'h', which is not a declared output", "h is a value: a merge reads it"),
    ("bound-chain-without-a-size",
     spec("input x: 4", "output y: a | b", "h = x -> dense", "h -> dense -> y"),
     "g.nn:3:10", "dense needs a size: its chain binds a value", "give the size"),
]


@pytest.mark.parametrize("text,at,message,hint", [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_graph_mistakes_are_located_at_the_use(text, at, message, hint):
    expect_error(text, at=at, message=message, hint=hint, file="g.nn")


def test_a_name_bound_without_layers_is_a_syntax_error():
    expect_error(spec("input x: 4", "h = x"), at="bad.nn:2:6", message="the line ends too early", expected="'->'")


# ---- the command line ----

def test_a_value_never_used_is_a_warning_and_check_exits_0(tmp_path, capsys):
    path = tmp_path / "w.nn"
    path.write_text(spec("input x: 4", "input spare: 3", "output y", "h = x -> relu", "g = x -> tanh",
                         "h -> dense 2 -> y"))
    assert main(["check", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"{path}:2:7: warning: input 'spare' is never used\n"
        "    2 | input spare: 3\n"
        "      |       ^^^^^\n"
        "  hint: start a chain from it (spare -> ...), or remove the input\n"
        f"{path}:5:1: warning: value 'g' is never used\n"
        "    5 | g = x -> tanh\n"
        "      | ^\n"
        "  hint: read it in a chain (g -> ...) or a merge (-> add g), or drop 'g ='\n")
    assert "Total params: 10" in captured.out


def test_compile_says_the_warnings_too_unless_quiet(tmp_path, capsys):
    path = tmp_path / "w.nn"
    path.write_text(spec("input x: 4", "output y", "h = x -> relu", "g = x -> tanh", "h -> dense 2 -> y"))
    assert main(["compile", str(path), "-o", str(tmp_path / "w.onnx")]) == 0
    assert f"{path}:4:1: warning: value 'g' is never used\n" in capsys.readouterr().err
    assert main(["compile", str(path), "-o", str(tmp_path / "w.onnx"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_check_prints_the_graph_in_order(tmp_path, capsys):
    path = tmp_path / "residual.nn"
    path.write_text(RESIDUAL)
    assert main(["check", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = [line.split("  ") for line in captured.out.splitlines()]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    table = cells[cells.index(["Layer (arguments in full)", "Line", "Output Shape", "Param #", "Merges with"]) + 2:]
    conv = "conv size=3x3 filters=16 stride=1x1 padding=same bias=true init=xavier"
    assert table[:13] == [
        ["h = image (input)", "1", "(N, 1, 8, 8)", "0"],
        [conv, "3", "(N, 16, 8, 8)", "160"],
        ["relu", "3", "(N, 16, 8, 8)", "0"],
        ["h (value)", "3", "(N, 16, 8, 8)", "0"],
        [conv, "4", "(N, 16, 8, 8)", "2,320"],
        ["relu", "4", "(N, 16, 8, 8)", "0"],
        [conv, "4", "(N, 16, 8, 8)", "2,320"],
        ["add h", "4", "(N, 16, 8, 8)", "0", "h (N, 16, 8, 8) from relu at line 3"],
        ["relu", "4", "(N, 16, 8, 8)", "0"],
        ["maxpool size=2x2 stride=2x2 mode=exact", "5", "(N, 16, 4, 4)", "0"],
        ["flatten", "5", "(N, 256)", "0"],
        ["dense units=10 bias=true init=xavier", "5", "(N, 10)", "2,570"],
        ["softmax", "5", "(N, 10)", "0"]]
    assert "Total params: 7,370" in captured.out


def test_check_json_describes_the_graph(tmp_path, capsys):
    path = tmp_path / "trunk.nn"
    path.write_text(spec("input x: 8", "output kind: a | b", "output score", "trunk = x -> dense 16 -> relu",
                         "trunk -> dense -> softmax -> kind", "trunk -> dense 1 -> score"))
    assert main(["check", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["outputs"] == ["kind", "score"]
    assert [(c["source"], c["value"], c["output"], c["shape"]) for c in summary["chains"]] == [
        ("x", "trunk", None, ["N", 16]), ("trunk", None, "kind", ["N", 2]), ("trunk", None, "score", ["N", 1])]
    assert summary["chains"][0]["layers"] == ["dense@4", "relu@4"]
    assert summary["warnings"] == []
