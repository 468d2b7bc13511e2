"""What `specc run` does with hostile or careless inputs (issue 8, "Text and inputs"): every
mistake exits 2 with a message that names the file and what is wrong, never an exception's name
or a traceback; seeds, ONNX files and string outputs; and the catch-all that reports a bug."""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

import specc
from specc.cli import main
from specc.specs import spec_path

CLASSIFIER = "input x: 2\noutput y: A | B\nx -> dense 2 weights=[[1, 0], [0, 1]] bias=false -> softmax -> y\n"


def no_internals(err: str) -> None:
    """Nothing a user should never see: a traceback or an exception's class name."""
    for word in ("Traceback", "Error:", "RecursionError", "TypeError", "ValueError", "UnicodeDecodeError",
                 "internal error"):
        assert word not in err


@pytest.fixture
def classifier(tmp_path):
    spec = tmp_path / "two.nn"
    spec.write_text(CLASSIFIER)
    return spec


def run(spec, *flags) -> int:
    return main(["run", str(spec), *map(str, flags)])


# ---- JSON inputs ----

@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "holds lists nested more than 32 deep"),
    ('{"x": [30, 0]}', "holds a JSON object ({...}), not a list"),
    ("[30, null]", "holds null at [1], which is neither a number nor a word"),
    ("[[30, 0], [1]]", "has rows of different lengths"),
    ('[30, "a"]', "mixes numbers and words"),
], ids=["nested-100000-deep", "object", "null", "ragged", "numbers-and-words"])
def test_a_malformed_json_input_exits_2_naming_the_file(tmp_path, classifier, capsys, text, message):
    given = tmp_path / "x.json"
    given.write_text(text)
    assert run(classifier, "--input", f"x={given}") == 2
    err = capsys.readouterr().err
    assert f"error: cannot read {given}: {message}" in err
    no_internals(err)


# ---- complex and non-finite numbers ----

def _npy_header_only(path, shape: str) -> None:
    """A .npy header that claims an array of `shape` float32, and no data at all."""
    header = ("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape).ljust(117) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_text("root:x:0:0:root:/root:/bin/bash\n"), "is neither a .npy array nor JSON"),
    (lambda path: np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True),
     "holds Python objects, which specc never loads"),
    (lambda path: _npy_header_only(path, "(100000000000,)"),
     "is damaged: its header declares an array (100000000000,) of float32 (400,000,000,000 bytes), but it holds 0"),
    (lambda path: path.mkdir(), "it is a directory, not a file"),
    (lambda path: __import__("os").mkfifo(path), "it is a FIFO (named pipe), not a file"),
], ids=["text", "objects", "header-only", "folder", "fifo"])
def test_an_input_file_is_checked_before_it_is_read(tmp_path, classifier, capsys, make, message):
    bad = tmp_path / "bad.npy"
    make(bad)
    assert run(classifier, "--input", f"x={bad}") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read {bad}: {message}")
    no_internals(err)


def test_an_input_larger_than_the_memory_is_refused_before_it_is_read(tmp_path, classifier, capsys, monkeypatch):
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((4096, 2), dtype=np.float32))
    monkeypatch.setenv("SPECC_MEMORY_LIMIT", "16KiB")
    assert run(classifier, "--input", f"x={big}") == 2
    assert "its array (4096, 2) of float32 needs 32.0 KiB, more than the 16.0 KiB" in capsys.readouterr().err


def test_a_complex_input_is_refused_without_a_numpy_warning(tmp_path, classifier, capsys):
    given = tmp_path / "x.npy"
    np.save(given, np.array([30 + 1j, 0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(classifier, "--input", f"x={given}") == 2
    err = capsys.readouterr().err
    assert "error: input x holds complex numbers" in err and "expected: real numbers" in err
    assert caught == [] and capsys.readouterr().out == ""
    no_internals(err)


def test_nan_and_inf_inputs_exit_2_with_their_positions(tmp_path, classifier, capsys):
    given = tmp_path / "x.npy"
    batch = np.zeros((3, 2), np.float32)
    batch[0, 1], batch[2, 0] = np.inf, np.nan
    np.save(given, batch)
    assert run(classifier, "--input", f"x={given}") == 2
    captured = capsys.readouterr()
    assert "error: input x holds 2 values that are not finite numbers: inf at [0, 1], nan at [2, 0]" in captured.err
    assert "--allow-nonfinite" in captured.err and captured.out == ""


def test_allow_nonfinite_runs_without_numpy_warnings(tmp_path, classifier, capsys):
    given = tmp_path / "x.json"
    given.write_text("[NaN, 1]")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(classifier, "--input", f"x={given}", "--allow-nonfinite") == 0
    assert caught == []
    out = capsys.readouterr().out
    assert "[[nan nan]]" in out


# ---- seeds ----

@pytest.mark.parametrize("command", [["compile"], ["run", "--input", "x=unused.json"], ["train"]])
def test_a_negative_seed_flag_exits_2_on_every_command(tmp_path, classifier, capsys, command):
    argv = [command[0], str(classifier), *command[1:], "--seed", "-1"]
    if command[0] == "train":
        argv += ["--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: --seed cannot be -1" in err and "a whole number of at least 0" in err
    assert not (tmp_path / "run").exists()
    no_internals(err)


def test_a_negative_seed_in_the_train_section_is_found_by_check_at_its_place(tmp_path, capsys):
    spec = tmp_path / "bad.nn"
    spec.write_text(CLASSIFIER + "train\n  data xo\n  seed -1\n")
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:6:8: error: seed: 'value' cannot be -1" in err and "a whole number of at least 0" in err


# ---- ONNX files ----

def test_an_onnx_model_is_known_by_any_suffix_case_and_by_its_content(tmp_path, classifier, capsys):
    model = tmp_path / "two.onnx"
    assert main(["compile", str(classifier), "-o", str(model), "--quiet"]) == 0
    given = tmp_path / "x.json"
    given.write_text("[30, 0]")
    for name in ("TWO.ONNX", "two.model"):
        shutil.copy(model, tmp_path / name)
        assert run(tmp_path / name, "--input", f"x={given}") == 0
        assert capsys.readouterr().out.splitlines() == ["y (1, 2):", "[[1.000000 9.36e-14]]", "y_class: A"]


def test_check_refuses_an_onnx_model_given_as_a_spec(tmp_path, classifier, capsys):
    model = tmp_path / "two.ONNX"
    assert main(["compile", str(classifier), "-o", str(model), "--quiet"]) == 0
    assert main(["check", str(model)]) == 2
    err = capsys.readouterr().err
    assert f"error: {model} is an ONNX model, not a .nn spec" in err and f"specc run {model}" in err


def test_an_onnx_string_output_that_is_not_utf8_exits_2(tmp_path, capsys):
    from onnx import TensorProto, helper, save

    words = helper.make_tensor("words", TensorProto.STRING, [2], [b"ok", b"\xff\xfe"])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["label"], value=words), helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2]),
         helper.make_tensor_value_info("label", TensorProto.STRING, [2])])
    model = tmp_path / "foreign.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    given = tmp_path / "x.json"
    given.write_text("[1, 2]")
    assert run(model, "--input", f"x={given}") == 2
    err = capsys.readouterr().err
    assert f"error: {model}: output label holds text that is not UTF-8" in err
    no_internals(err)


def test_a_model_that_onnxruntime_cannot_run_is_a_runtime_failure_not_a_bug(tmp_path, capsys):
    from onnx import TensorProto, helper, numpy_helper, save

    shape = numpy_helper.from_array(np.array([3], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], [shape])
    model = tmp_path / "foreign.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    given = tmp_path / "x.json"
    given.write_text("[1, 2]")
    assert run(model, "--input", f"x={given}") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: onnxruntime could not run {model}: ") and "bug" not in err


# ---- the catch-all ----

def fail_inside(monkeypatch):
    """Make `specc check` fail inside specc, as a bug would."""
    def broken(model):
        raise TypeError("unsupported operand")

    monkeypatch.setattr("specc.summary.summary", broken)


def test_an_internal_error_says_it_is_a_bug_and_where_to_look(monkeypatch, capsys):
    fail_inside(monkeypatch)
    monkeypatch.delenv("SPECC_DEBUG", raising=False)
    assert main(["check", str(spec_path("seed_pool"))]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: internal error: unsupported operand. This is a bug in specc, not a mistake of yours.",
        "  rerun with --debug (or SPECC_DEBUG=1) to see where, and report it with the spec and the command"]


@pytest.mark.parametrize("flag, env", [("--debug", None), (None, "1")], ids=["--debug", "SPECC_DEBUG=1"])
def test_debug_shows_where_an_internal_error_happened(monkeypatch, capsys, flag, env):
    fail_inside(monkeypatch)
    if env:
        monkeypatch.setenv("SPECC_DEBUG", env)
    else:
        monkeypatch.delenv("SPECC_DEBUG", raising=False)
    assert main(["check", str(spec_path("seed_pool")), *([flag] if flag else [])]) == 1
    err = capsys.readouterr().err
    assert "This is a bug in specc" in err and "Traceback (most recent call last)" in err
    assert "in broken" in err and "TypeError: unsupported operand" in err


@pytest.mark.parametrize("seed", [-1, 1.5])
def test_the_api_refuses_a_seed_the_command_line_refuses(seed):
    with pytest.raises(specc.SpecError, match="seed"):
        specc.load(spec_path("neuron"), seed=seed)
