"""Messages a new user met (issue 8): each says what is wrong where, and what would work."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import specc
from specc.cli import main
from specc.specs import spec_path

ROOT = Path(__file__).resolve().parent.parent
HEAD = "input x: 4\noutput y: A | B\nx -> dense -> softmax -> y\ntrain\n  data xo\n"


def check(tmp_path, text: str, capsys) -> tuple[int, str]:
    """`specc check` on `text` saved as bad.nn: the exit status and what went to stderr."""
    spec = tmp_path / "bad.nn"
    spec.write_text(text)
    status = main(["check", str(spec)])
    err = capsys.readouterr().err.replace(str(spec), "bad.nn")
    assert "Traceback" not in err
    return status, err


def test_a_chain_ending_in_an_undeclared_name_offers_to_declare_it(tmp_path, capsys):
    status, err = check(tmp_path, "input x: 4\nx -> dense 2 -> y\n", capsys)
    assert status == 2
    assert "bad.nn:2:17: error: the chain ends in 'y', which is not a declared output" in err
    assert "hint: declare it on a line of its own: output y" in err and "unknown layer" not in err
    status, err = check(tmp_path, "input x: 4\nx -> dense 2 -> sofmax\n", capsys)  # a misspelt layer stays one
    assert status == 2 and "unknown layer 'sofmax'" in err and "did you mean 'softmax'?" in err


@pytest.mark.parametrize("line, column, message, expected, hint", [
    ("epochs ten", 10, "epochs: 'count' cannot be ten", "count: a whole number of at least 1",
     "passes over the training data"),
    ("keep worst", 8, "keep: 'which' cannot be worst", "which: last or best", "last: the final epoch's weights"),
    ("keep bset", 8, "keep: 'which' cannot be bset", "which: last or best", "did you mean 'best'?"),
    ("loss hinge", 8, "loss: 'kind' cannot be hinge", "kind: cross_entropy or mse", "cross_entropy or mse"),
], ids=["epochs-ten", "keep-worst", "keep-bset", "loss-hinge"])
def test_a_setting_given_a_wrong_word_lists_the_allowed_values(tmp_path, capsys, line, column, message, expected,
                                                               hint):
    status, err = check(tmp_path, HEAD + f"  {line}\n", capsys)
    assert status == 2
    assert f"bad.nn:6:{column}: error: {message}" in err
    assert f"expected: {expected}" in err and f"hint: {hint}" in err and "accepts" not in err


def test_an_even_window_says_so_once(tmp_path, capsys):
    status, err = check(tmp_path, "input x: seq 3\nx -> window 2\n", capsys)
    assert status == 2
    assert "bad.nn:2:13: error: window: 'size' cannot be 2" in err
    assert "expected: size: an odd whole number" in err and "like 3 or 5" in err and err.count("received") == 1


@pytest.mark.parametrize("line, column, message, expected, hint, fixed", [
    ("optimizer adam momentum=0.9", 18, "optimizer adam takes no 'momentum': it is for optimizer sgd only",
     "optimizer adam accepts lr=..., beta1=..., beta2=..., eps=..., weight_decay=...",
     "drop momentum, or write optimizer sgd", "optimizer sgd momentum=0.9"),
    ("optimizer sgd lr=0.1 beta2=0.99", 24, "optimizer sgd takes no 'beta2': it is for optimizer adam only",
     "optimizer sgd accepts lr=..., momentum=..., weight_decay=...", "drop beta2, or write optimizer adam",
     "optimizer adam lr=0.1 beta2=0.99"),
    ("schedule cosine every=5", 19, "schedule cosine takes no 'every': it is for schedule step only",
     "schedule cosine accepts nothing besides the kind", "drop every, or write schedule step",
     "schedule step every=5"),
], ids=["adam-momentum", "sgd-beta2", "cosine-every"])
def test_an_argument_of_another_kind_is_an_error(tmp_path, capsys, line, column, message, expected, hint, fixed):
    status, err = check(tmp_path, HEAD + f"  {line}\n", capsys)
    assert status == 2
    assert f"bad.nn:6:{column}: error: {message}" in err
    assert f"expected: {expected}" in err and f"hint: {hint}" in err
    assert check(tmp_path, HEAD + f"  {fixed}\n", capsys) == (0, "")


def test_the_validation_line_names_a_data_sets_own_split():
    """The settings printed at the start of `specc train` (specc.runtime.progress prints describe())."""
    from specc.runtime.data import OWN_SPLIT

    for data, given, expected in [
            ("flights", "", "  validation the data set's own split\n"),
            ("atis", "", "  validation the data set's own split\n"),
            ("xo", "  validation 0.2\n", "  validation the data set's own split (validation 0.2 does not apply)\n"),
            ("atis", "  validation 0\n", "  validation 0: none held out, the data set's validation split trains too\n"),
            ('"train.npz"', "", "  validation 0.1  (default)\n")]:
        settings = specc.loads(f"input x: 4\nx -> dense 2\ntrain\n  data {data}\n{given}", "v.nn").model.train
        assert expected in settings.describe(own_split=settings.data in OWN_SPLIT) + "\n"


def message_strings(path: Path) -> list[str]:
    """The string literals of a module that can reach a user: all but docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_every_install_hint_works_from_a_checkout():
    hints = [text for folder in ("specc", "runtime") for path in (ROOT / folder).rglob("*.py")
             for text in message_strings(path) if "pip install" in text]
    assert len(hints) >= 3
    for text in hints:
        assert "pip install" not in text.replace("python -m pip install", ""), text
        assert "specc[" not in text, text


def test_the_digits_hint_names_the_checkout_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # scikit-learn "not installed"
    assert main(["train", str(spec_path("digits")), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "the digits data set needs scikit-learn, which is not installed" in err
    assert 'hint: from the specc checkout: python -m pip install -e ".[data]"' in err


def test_running_a_spec_meant_for_training_says_its_weights_are_untrained(tmp_path, capsys):
    image = tmp_path / "x.json"
    image.write_text(str([[0] * 12] * 12))
    assert main(["run", str(spec_path("x_or_o")), "--input", f"image={image}"]) == 0
    err = capsys.readouterr().err
    assert err == (f"note: {spec_path('x_or_o')} runs with untrained random weights (seed 0); for trained ones pass "
                   "--weights runs/x_or_o/checkpoint.npz (written by specc train)\n")
    for quiet in ("--quiet", "--json"):
        assert main(["run", str(spec_path("x_or_o")), "--input", f"image={image}", quiet]) == 0
        assert capsys.readouterr().err == ""
    # the lecture's literal weights are what the lecture means: no note, and its integers as written
    from tests.helpers import LECTURE_IMAGE

    image = tmp_path / "img.json"
    image.write_text(str(LECTURE_IMAGE.astype(int).tolist()))
    assert main(["run", str(spec_path("seed_conv")), "--input", f"image={image}"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "[[[[ 3 -1 -3 -1]" in captured.out


def test_probabilities_read_as_probabilities(tmp_path, capsys):
    spec = tmp_path / "two.nn"
    spec.write_text("input x: 2\noutput y: A | B\nx -> dense 2 weights=[[1, 0], [0, 1]] bias=false -> softmax -> y\n")
    given = tmp_path / "x.json"
    given.write_text("[[30, 0], [0, 0]]")
    assert main(["run", str(spec), "--input", f"x={given}"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "y (2, 2):", "[[1.000000 9.36e-14]", " [0.500000 0.500000]]", "y_class: A A"]
