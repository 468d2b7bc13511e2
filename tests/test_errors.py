"""Bad specs and the errors they earn: each reported at the right file:line:col, with the
message, expected/received and hint a user needs to fix it.

Every case is a small spec written out line by line, so the columns can be counted by eye.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import specc
import specc.api

ROOT = Path(__file__).resolve().parent.parent
FILE = "bad.nn"


def spec(*lines: str) -> str:
    """The lines of a spec, each ending in a newline."""
    return "".join(line + "\n" for line in lines)


def spec_error(text: str, file: str = FILE) -> specc.SpecError:
    """The SpecError that loading `text` raises (any other exception fails the test)."""
    with pytest.raises(specc.SpecError) as info:
        specc.loads(text, file=file)
    return info.value


def _parts(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def expect_error(text: str, *, at: str, message, hint=None, expected=None, received=None,
                 file: str = FILE) -> specc.SpecError:
    """Load `text` and check the error: its exact location, and that the message (and the hint,
    expected and received lines, where given) contain each of the given strings."""
    err = spec_error(text, file)
    shown = err.render()
    assert str(err.coord) == at, f"reported at {err.coord}, not {at}:\n{shown}"
    for part in _parts(message):
        assert part in err.message, f"{part!r} not in the message:\n{shown}"
    for label, want in (("hint", hint), ("expected", expected), ("received", received)):
        if want is None:
            continue
        got = getattr(err, label)
        assert got, f"no {label} line:\n{shown}"
        for part in _parts(want):
            assert part in got, f"{part!r} not in the {label} line:\n{shown}"
    assert shown.startswith(f"{at}: error: {err.message}")
    assert str(err) == shown
    return err


def case(name: str, text: str, **want):
    """One row of the table."""
    return pytest.param(text, want, id=name)


CASES = [
    # ---- syntax ----
    case("arrow-at-end-of-file",
         spec("input x: 3",
              "x -> dense 2 ->"),
         at="bad.nn:2:16", message="unexpected end of file", expected="a name",
         hint="a chain must end with a layer"),
    case("arrow-at-end-of-file-without-newline",
         "input x: 3\nx -> dense 2 ->",
         at="bad.nn:2:16", message="unexpected end of file", hint="a chain must end with a layer"),
    case("arrow-at-end-of-file-then-blank-lines",
         spec("input x: 3",
              "x -> dense 2 ->",
              "",
              ""),
         at="bad.nn:2:16", message="unexpected end of file", hint="a chain must end with a layer"),
    case("arrow-at-end-of-file-then-comment",
         spec("input x: 3",
              "x -> dense 2 ->",
              "# the end"),
         at="bad.nn:2:16", message="unexpected end of file", hint="a chain must end with a layer"),
    case("keyword-without-value-at-end-of-line",
         spec("input image: 1x6x6",
              "image -> conv 3x3 stride="),
         at="bad.nn:2:26", message="the line ends too early", expected=("a whole number", "a size like 3x3")),
    case("keyword-without-value-before-arrow",
         spec("input image: 1x6x6",
              "image -> conv 3x3 stride= -> flatten"),
         at="bad.nn:2:27", message="unexpected '->'", expected="a size like 3x3", hint="value"),
    case("stray-parenthesis",
         spec("input image: 1x6x6",
              "image -> conv (3x3) -> flatten"),
         at="bad.nn:2:15", message="unexpected character '('", hint="nested lists in [ ]"),
    case("stray-brace",
         spec("input x: 3",
              "x -> dense {3}"),
         at="bad.nn:2:12", message="unexpected character '{'", hint="nested lists in [ ]"),
    case("single-dash-instead-of-arrow",
         spec("input x: 3",
              "x - dense 3"),
         at="bad.nn:2:3", message="unexpected character '-'", hint="'->'"),
    case("no-arrow-after-the-input",
         spec("input x: 3",
              "x dense 3"),
         at="bad.nn:2:3", message="unexpected name 'dense'", expected="'->'", hint="separate layers with '->'"),
    case("two-layers-without-arrow",
         spec("input x: 3",
              "x -> dense 3 relu dense 2"),
         at="bad.nn:2:14", message="relu", hint="separate layers with '->'"),
    case("two-layers-without-arrow-after-a-size",
         spec("input image: 1x6x6",
              "image -> conv 3x3 maxpool 2"),
         at="bad.nn:2:19", message="maxpool", hint="separate layers with '->'"),
    case("model-named-twice",
         spec("model a",
              "model b",
              "input x: 3",
              "x -> dense 2"),
         at="bad.nn:2:7", message="the model is named twice", hint="first at line 1"),

    # ---- names: layers, arguments, inputs ----
    case("unknown-layer",
         spec("input image: 1x6x6",
              "image -> conv 3x3 -> maxpol 2"),
         at="bad.nn:2:22", message="unknown layer 'maxpol'", expected="maxpool",
         hint="did you mean 'maxpool'?"),
    case("unknown-layer-on-a-continuation-line",
         spec("input image: 1x6x6",
              "image -> conv 3x3",
              "  -> maxpol 2"),
         at="bad.nn:3:6", message="unknown layer 'maxpol'", hint="did you mean 'maxpool'?"),
    case("unknown-layer-crlf",
         "input x: 3\r\nx -> dense 2 -> maxpol\r\n",
         at="bad.nn:2:17", message="unknown layer 'maxpol'", hint="did you mean 'maxpool'?"),
    case("unknown-keyword-argument",
         spec("input x: seq 2",
              "x -> rnn elman hiden=3"),
         at="bad.nn:2:16", message="rnn has no argument 'hiden'", hint="did you mean 'hidden'?",
         expected=("rnn accepts", "cell=", "hidden=", "bidirectional", "layers=", "activation=")),
    case("unknown-argument-written-key-space-value",
         spec("input x: seq 2",
              "x -> rnn elman hiden 3"),
         at="bad.nn:2:16", message="'hiden'", hint="did you mean 'hidden'?"),
    case("unknown-conv-argument-written-key-space-value",
         spec("input image: 1x6x6",
              "image -> conv 3x3 strid 2"),
         at="bad.nn:2:19", message="'strid'", hint="did you mean 'stride'?"),
    case("word-given-to-a-layer-without-arguments",
         spec("input x: 3",
              "x -> relu foo"),
         at="bad.nn:2:11", message="'foo'", expected="no arguments"),
    case("duplicated-argument",
         spec("input image: 1x6x6",
              "image -> conv 3x3 stride=1 stride 2"),
         at="bad.nn:2:28", message="argument 'stride' is given twice", received="first at column 19",
         hint="keep one 'stride'"),
    case("duplicated-positional-and-keyword",
         spec("input image: 1x6x6",
              "image -> conv 3x3 size=3"),
         at="bad.nn:2:19", message="argument 'size' is given twice", received="first at column 15"),
    case("ill-typed-argument",
         spec("input image: 1x6x6",
              "image -> conv 3x3 stride=same"),
         at="bad.nn:2:26", message="'stride' cannot be same", expected="a size like 3 or 3x3",
         received="same"),
    case("zero-stride",
         spec("input image: 1x6x6",
              "image -> conv 3x3 stride=0"),
         at="bad.nn:2:26", message="'stride' cannot be 0", expected="a size like 3 or 3x3"),
    case("ragged-literal",
         spec("input x: 3",
              "x -> dense 2 weights=[[1, 2, 3], [1, 2]]"),
         at="bad.nn:2:34", message="rows of different lengths: this one has 2 numbers, the first has 3",
         expected="every row of the same length"),
    case("chain-from-an-undeclared-input",
         spec("input image: 1x6x6",
              "imgae -> conv 3x3"),
         at="bad.nn:2:1", message="the chain starts from 'imgae', which is not a declared input",
         expected="image", hint="did you mean 'image'?"),
    case("chain-with-no-input-declared",
         spec("x -> dense 2"),
         at="bad.nn:1:1", message="'x', which is not a declared input", hint="input x:"),
    case("input-declared-twice",
         spec("input x: 3",
              "input x: 4",
              "x -> dense 2"),
         at="bad.nn:2:7", message="input 'x' is declared twice", received="first at line 1"),

    # ---- shapes ----
    case("conv-kernel-larger-than-its-input",
         spec("input image: 1x4x4",
              "image -> conv 5x5"),
         at="bad.nn:2:15", message="has a 5x5 kernel larger than its 4x4 input", expected="at most 4x4",
         received="(N, 1, 4, 4) from input image"),
    case("pool-larger-than-its-input",
         spec("input image: 1x6x6",
              "image -> conv 3x3 -> maxpool 5"),
         at="bad.nn:2:30", message="has a 5x5 window larger than its 4x4 input", expected="at most 4x4",
         received="(N, 1, 4, 4) from conv 3x3 at line 2"),
    case("pool-does-not-tile",
         spec("input image: 1x5x5",
              "image -> maxpool 2"),
         at="bad.nn:2:10", message=("maxpool 2", "does not tile its input", "5"),
         hint=("'maxpool 2 floor'", "'maxpool 2 ceil'")),
    case("pool-does-not-tile-rectangular-window",
         spec("input image: 1x5x5",
              "image -> maxpool 2x3"),
         at="bad.nn:2:10", message="does not tile its input", hint=("maxpool 2x3 floor", "maxpool 2x3 ceil")),
    case("pool-does-not-tile-with-stride",
         spec("input image: 1x6x6",
              "image -> maxpool 3 stride 2"),
         at="bad.nn:2:10", message="does not tile its input",
         hint=("maxpool 3 stride 2 floor", "maxpool 3 stride 2 ceil")),
    case("dense-on-an-image",
         spec("input image: 1x6x6",
              "image -> conv 3x3 2 -> maxpool 2 -> dense 10"),
         at="bad.nn:2:37", message=("dense 10", "(N, 2, 2, 2)"), expected="a vector (N, F)",
         received="(N, 2, 2, 2) from maxpool 2 at line 2", hint="add flatten before dense"),
    case("classes-do-not-match-the-last-layer",
         spec("input x: 3",
              "output label: A | B",
              "x -> dense 3"),
         at="bad.nn:2:8", message=("output label has 2 classes", "dense 3", "(N, 3)"),
         expected="width 2", hint="leave out the size of the final dense"),
    case("classes-do-not-match-a-chain-without-dense",
         spec("input image: 1x6x6",
              "output label: A | B",
              "image -> conv 3x3 -> flatten"),
         at="bad.nn:2:8", message=("output label has 2 classes", "flatten", "(N, 16)"),
         hint="add dense"),
    case("conv-literal-weights-of-the-wrong-shape",
         spec("input image: 1x6x6",
              "image -> conv 3x3 weights=[[1, 2], [3, 4]]"),
         at="bad.nn:2:19", message="has weights of shape (2, 2), which do not fit",
         expected="(F, 1, 3, 3)"),
    case("conv-literal-weights-with-the-wrong-channels",
         spec("input image: 2x6x6",
              "image -> conv 3x3 weights=[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]]"),
         at="bad.nn:2:19", message="has weights of shape (1, 3, 3)", expected="(F, 2, 3, 3)"),
    case("dense-literal-weights-of-the-wrong-shape",
         spec("input x: 3",
              "x -> dense 2 weights=[[1, 2], [3, 4]]"),
         at="bad.nn:2:14", message="has weights of shape (2, 2), expected (2, 3)",
         expected="weights of shape (2, 3)", hint="3 inputs to 2 units"),
    case("dense-literal-bias-of-the-wrong-shape",
         spec("input x: 3",
              "x -> dense 2 bias=[1, 2, 3]"),
         at="bad.nn:2:14", message="has a bias of shape (3,)", expected="a list of 2 numbers"),
    case("rnn-fed-an-image",
         spec("input image: 1x6x6",
              "image -> rnn elman hidden=3"),
         at="bad.nn:2:10", message=("rnn elman hidden=3", "needs a sequence (N, T, F)"),
         received="(N, 1, 6, 6) from input image", hint="seq"),
    case("conv-fed-a-sequence",
         spec("input x: seq 4",
              "x -> conv 3x3"),
         at="bad.nn:2:6", message=("conv 3x3", "needs an image (N, C, H, W)"),
         received="(N, T, 4) from input x", hint="CxHxW"),
    case("flatten-fed-a-sequence",
         spec("input x: seq 3",
              "x -> flatten"),
         at="bad.nn:2:6", message="needs an image (N, C, H, W) or a vector (N, F)", hint="'last'"),
    case("final-dense-without-size-or-classes",
         spec("input x: 3",
              "x -> dense 4 -> dense"),
         at="bad.nn:2:17", message="dense needs a size", expected="dense 10",
         hint="declare classes on the output"),
    case("inner-dense-without-size",
         spec("input x: 3",
              "output y: A | B",
              "x -> dense -> relu -> dense 2"),
         at="bad.nn:3:6", message=("dense needs a size", "only the last sized layer")),
    case("rnn-without-hidden-size",
         spec("input x: seq 2",
              "x -> rnn"),
         at="bad.nn:2:6", message="rnn needs a hidden size", expected="hidden="),
    case("word-tokens-fed-to-dense",
         spec("input words: seq token",
              "words -> dense 4"),
         at="bad.nn:2:10", message=("dense 4", "needs a vector"), received="(N, T) from input words",
         hint="a sequence of words must first become vectors"),
    case("word-tokens-fed-to-rnn",
         spec("input words: seq token",
              "words -> rnn elman hidden=3"),
         at="bad.nn:2:10", message="needs a sequence (N, T, F)", received="(N, T) from input words",
         hint="words"),
    case("image-input-with-four-sizes",
         spec("input image: 2x3x4x5",
              "image -> conv 3x3"),
         at="bad.nn:1:7", message="an image is channels x height x width", received="2x3x4x5"),
]


@pytest.mark.parametrize("text, want", CASES)
def test_bad_spec(text, want):
    expect_error(text, **want)


# ---- pooling modes that make a window fit ----

@pytest.mark.parametrize("mode, out_shape", [("floor", ("N", 1, 2, 2)), ("ceil", ("N", 1, 3, 3))])
def test_pool_floor_and_ceil_accept_a_window_that_does_not_tile(mode, out_shape):
    net = specc.loads(spec("input image: 1x5x5",
                           f"image -> maxpool 2 {mode}"), file=FILE)
    assert net.model.layers[0].out_shape == out_shape


def test_conv_then_pool_floor_and_ceil_shapes():
    for mode, side in (("floor", 3), ("ceil", 4)):
        net = specc.loads(spec("input image: 1x9x9",
                               f"image -> conv 3x3 2 -> maxpool 2 {mode}"), file=FILE)
        assert [layer.out_shape for layer in net.model.layers] == [("N", 2, 7, 7), ("N", 2, side, side)]


# ---- models too large for memory: refused by the checker, before any weight is drawn ----

@pytest.fixture
def no_weights(monkeypatch):
    """Fail the test, instead of filling the machine's memory, if any weight gets allocated."""
    def refuse(model, seed=0):
        raise AssertionError(f"weights of {model.param_count:,} parameters were allocated")

    monkeypatch.setattr(specc.api, "init_weights", refuse)


def test_model_too_large_for_any_machine_is_refused_quickly(no_weights):
    start = time.perf_counter()
    expect_error(spec("input x: 1000000",
                      "x -> dense 1000000 -> dense 1000000"),
                 at="bad.nn:2:6", message=("2,000,002,000,000 weights", "GiB"),
                 received="1,000,001,000,000 weights", hint="shrink the layer")
    assert time.perf_counter() - start < 5


def test_model_too_large_for_this_machine_is_refused_quickly(monkeypatch, no_weights):
    monkeypatch.setenv("SPECC_MEMORY_LIMIT", "16GiB")
    start = time.perf_counter()
    expect_error(spec("input x: 100000",
                      "x -> dense 100000 -> dense 100000"),
                 at="bad.nn:2:6", message=("20,000,200,000 weights", "74.5 GiB", "half (8.0 GiB)"),
                 received="dense 100000 alone has 10,000,100,000 weights")
    assert time.perf_counter() - start < 5


def test_model_whose_weight_initialisation_does_not_fit_is_refused(monkeypatch, no_weights):
    monkeypatch.setenv("SPECC_MEMORY_LIMIT", "1GiB")  # a 1 GiB machine
    # 200,020,000 weights: 0.75 GiB as float32, more than the half of memory weights may take
    expect_error(spec("input x: 10000",
                      "x -> dense 20000"),
                 at="bad.nn:2:6", message="200,020,000 weights")


# ---- the rendered text: source line and a caret under the right column ----

@pytest.mark.parametrize("text, line, word", [
    (spec("input image: 1x6x6", "image -> conv 3x3 -> maxpol 2"), 2, "maxpol"),
    (spec("input image: 1x6x6", "image -> conv 3x3 2 -> maxpool 2 -> dense 10"), 2, "dense 10"),
    (spec("input image: 1x6x6", "image -> conv 3x3", "  -> maxpol 2"), 3, "maxpol"),
    (spec("input x: 3", "x ->\tdense 2 -> relu\tfoo"), 2, "foo"),
], ids=["unknown-layer", "dense-on-image", "continuation-line", "tabs"])
def test_render_shows_the_source_line_and_a_caret_under_the_mistake(text, line, word):
    err = spec_error(text)
    rendered = err.render().splitlines()
    source = text.splitlines()[line - 1].expandtabs(1)
    assert rendered[0].startswith(f"bad.nn:{line}:")
    assert rendered[1] == f"    {line} | {source}"
    caret_line = rendered[2]
    assert caret_line.strip(" |^") == ""
    assert caret_line.index("^") == rendered[1].index(word, len(f"    {line} | "))
    assert caret_line.count("^") == len(word)
    assert caret_line.rstrip().endswith("^")


def test_render_of_a_dangling_arrow_puts_the_caret_just_past_the_line():
    err = spec_error(spec("input x: 3", "x -> dense 2 ->"))
    rendered = err.render().splitlines()
    assert rendered[1] == "    2 | x -> dense 2 ->"
    assert rendered[2] == "      | " + " " * len("x -> dense 2 ->") + "^"


def test_render_lists_expected_received_and_hint_in_order():
    err = spec_error(spec("input image: 1x6x6", "image -> conv 3x3 -> dense 10"))
    rendered = err.render().splitlines()
    assert rendered[3:] == ["  expected: a vector (N, F) or a sequence (N, T, F)",
                            "  received: (N, 1, 4, 4) from conv 3x3 at line 2",
                            "  hint: add flatten before dense"]


# ---- the command line ----

def check_cli(path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "specc.cli", "check", str(path)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)


@pytest.mark.parametrize("text, location, words", [
    (spec("input image: 1x6x6", "image -> conv 3x3 -> maxpol 2"), "2:22", "did you mean 'maxpool'?"),
    (spec("input x: 3", "x -> dense 2 ->"), "2:16", "unexpected end of file"),
    (spec("input words: seq token", "words -> dense 4"), "2:10", "a sequence of words"),
    (spec("input x: 1000000", "x -> dense 1000000 -> dense 1000000"), "2:6", "2,000,002,000,000 weights"),
], ids=["unknown-layer", "syntax", "tokens", "too-large"])
def test_cli_check_exits_2_with_the_location_and_no_traceback(tmp_path, text, location, words):
    bad = tmp_path / "bad.nn"
    bad.write_text(text)
    result = check_cli(bad)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"{bad}:{location}: error: ")
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
