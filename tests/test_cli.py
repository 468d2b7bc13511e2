"""The specc command line: exit codes, outputs, files, and the cheap path staying cheap."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from specc.cli import main
from specc.specs import spec_path
from tests.helpers import LECTURE_IMAGE

ROOT = Path(__file__).resolve().parent.parent


def specc_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """Run `specc ARGS` as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "specc.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT)


def test_check_prints_the_table_and_exits_0(capsys):
    assert main(["check", str(spec_path("seed_conv"))]) == 0
    out = capsys.readouterr().out
    assert "Layer (arguments in full)" in out and "(N, 2, 4, 4)" in out and "Total params: 18" in out


def test_check_json(capsys):
    assert main(["check", str(spec_path("seed_pool")), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["params"] == 18
    assert [layer["output_shape"] for layer in summary["layers"]] == [["N", 2, 4, 4], ["N", 2, 2, 2]]


def test_spec_error_exits_2_with_location_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.nn"
    bad.write_text("input image: 1x6x6\nimage -> conv 3x3 -> dense 10\n")
    result = specc_cli("check", bad)
    assert result.returncode == 2
    assert f"{bad}:2:22: error: dense 10 needs" in result.stderr
    assert "hint: add flatten before dense" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_spec_file_exits_2(capsys):
    assert main(["check", "no/such/file.nn"]) == 2
    assert "no such spec file" in capsys.readouterr().err


def test_usage_error_exits_2():
    assert specc_cli("compile").returncode == 2
    assert specc_cli("frobnicate").returncode == 2


def test_help_everywhere():
    for command in ([], ["check"], ["compile"], ["run"], ["demo"]):
        result = specc_cli(*command, "--help")
        assert result.returncode == 0 and "usage: specc" in result.stdout


def test_compile_writes_a_verified_model(tmp_path, capsys):
    target = tmp_path / "out" / "x.onnx"
    assert main(["compile", str(spec_path("x_or_o")), "-o", str(target)]) == 0
    out = capsys.readouterr().out
    assert "verified: onnxruntime vs NumPy, largest difference" in out
    assert target.exists() and not list(target.parent.glob(".*tmp"))


def test_compile_default_output_is_the_spec_name_here(tmp_path):
    result = specc_cli("compile", spec_path("neuron"), "--quiet", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == ""
    assert (tmp_path / "neuron.onnx").exists()


def test_compile_failing_verification_exits_1(tmp_path, monkeypatch, capsys):
    import specc.verify

    monkeypatch.setattr(specc.verify, "TOLERANCE", -1.0)
    target = tmp_path / "x.onnx"
    assert main(["compile", str(spec_path("neuron")), "-o", str(target)]) == 1
    assert "disagrees with the NumPy interpreter" in capsys.readouterr().err
    assert not target.exists()


def test_run_spec_and_onnx_print_the_lectures_maps(tmp_path):
    image = tmp_path / "img.npy"
    np.save(image, LECTURE_IMAGE)
    model = tmp_path / "seed_conv.onnx"
    assert specc_cli("compile", spec_path("seed_conv"), "-o", model).returncode == 0
    for target, extra in ((spec_path("seed_conv"), []), (model, []),
                          (spec_path("seed_conv"), ["--backend", "onnxruntime"])):
        result = specc_cli("run", target, "--input", f"image={image}", "--json", *extra)
        assert result.returncode == 0, result.stderr
        maps = json.loads(result.stdout)["maps"]
        assert maps[0][0][0] == [3, -1, -3, -1] and maps[0][1][3] == [-1, 0, -4, 3]


def test_run_json_input_and_npz_output(tmp_path):
    sequence = tmp_path / "x.json"
    sequence.write_text("[[1, 1], [1, 1], [2, 2]]")
    saved = tmp_path / "y.npz"
    result = specc_cli("run", spec_path("memory"), "--input", f"x={sequence}", "--output", saved)
    assert result.returncode == 0
    assert "[12 12]" in result.stdout
    np.testing.assert_array_equal(np.load(saved)["y"][0], [[4, 4], [12, 12], [32, 32]])


def test_run_classifier_prints_class_names(tmp_path):
    image = tmp_path / "x.npy"
    np.save(image, np.zeros((2, 12, 12), np.float32))
    result = specc_cli("run", spec_path("x_or_o"), "--input", f"image={image}", "--json")
    names = json.loads(result.stdout)["label_class"]
    assert len(names) == 2 and set(names) <= {"X", "O"}


@pytest.mark.parametrize("flag, message", [
    ("image=missing.npy", "no such input file"),
    ("image", "is not NAME=FILE"),
    ("picture={img}", "inputs do not match the model"),
])
def test_bad_inputs_exit_2(tmp_path, flag, message):
    img = tmp_path / "img.npy"
    np.save(img, LECTURE_IMAGE)
    result = specc_cli("run", spec_path("seed_conv"), "--input", flag.format(img=img))
    assert result.returncode == 2 and message in result.stderr


def test_wrong_input_shape_exits_2_and_names_both_shapes(tmp_path):
    img = tmp_path / "img.npy"
    np.save(img, np.zeros((5, 5), np.float32))
    result = specc_cli("run", spec_path("seed_conv"), "--input", f"image={img}")
    assert result.returncode == 2
    assert "(5, 5)" in result.stderr and "(N, 1, 6, 6)" in result.stderr


def test_demo_matches_the_lecture():
    result = specc_cli("demo", "--quiet")
    assert result.returncode == 0
    assert "all lecture examples match in NumPy and onnxruntime" in result.stdout


def test_check_does_not_import_numpy_onnx_or_onnxruntime():
    code = ("import sys; from specc.cli import main; main(['check', sys.argv[1]]); "
            "print(sorted(m for m in ('numpy', 'onnx', 'onnxruntime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(spec_path("x_or_o"))], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.stdout.strip().endswith("[]")


def short_xo_spec(tmp_path, epochs: int = 2):
    path = tmp_path / "x_or_o.nn"
    path.write_text(spec_path("x_or_o").read_text().replace("epochs 8", f"epochs {epochs}"))
    return path


def test_train_prints_epochs_and_writes_the_run_folder(tmp_path):
    result = specc_cli("train", short_xo_spec(tmp_path), "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "epoch 1/2  loss" in result.stdout and "samples/s" in result.stdout and "left" in result.stdout
    assert "held-out accuracy in onnxruntime (test split, 400 samples)" in result.stdout
    assert "(default)" in result.stdout  # the settings the spec left out are named
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"checkpoint.npz", "history.json", "x_or_o.onnx"}


def test_train_json_is_one_object_per_line_and_quiet_prints_nothing(tmp_path):
    spec = short_xo_spec(tmp_path)
    lines = specc_cli("train", spec, "--out", tmp_path / "a", "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "end"]
    assert events[1]["epoch"] == 1 and 0 <= events[1]["val_accuracy"] <= 1
    assert events[-1]["heldout_accuracy"] is not None
    quiet = specc_cli("train", spec, "--out", tmp_path / "b", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == ""


def test_train_resume_then_compile_and_run_the_trained_weights(tmp_path):
    spec = short_xo_spec(tmp_path, epochs=1)
    assert specc_cli("train", spec, "--out", tmp_path / "run", "--quiet").returncode == 0
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    resumed = specc_cli("train", spec, "--out", tmp_path / "run", "--resume", checkpoint, "--epochs", "2")
    assert resumed.returncode == 0 and "resuming at epoch 2" in resumed.stdout
    model = tmp_path / "trained.onnx"
    assert specc_cli("compile", spec, "--weights", checkpoint, "-o", model, "--quiet").returncode == 0
    image = tmp_path / "x.npy"
    from specc.runtime.data.xo import make_xo

    images, labels = make_xo(6, 12, 12, np.random.default_rng(5))
    np.save(image, images)
    names = json.loads(specc_cli("run", model, "--input", f"image={image}", "--json").stdout)["label_class"]
    assert names == [["X", "O"][label] for label in labels]


def test_train_bad_data_exits_2_and_a_diverging_run_exits_1(tmp_path):
    spec = short_xo_spec(tmp_path)
    assert specc_cli("train", spec, "--data", "dgits").returncode == 2
    diverging = specc_cli("train", spec, "--lr", "1e9", "--out", tmp_path / "run", "--quiet")
    assert diverging.returncode == 1 and "lower the learning rate" in diverging.stderr


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--batch", "-3"), ("--lr", "0")])
def test_train_flags_are_checked_like_the_settings_they_override(tmp_path, flag, value):
    result = specc_cli("train", short_xo_spec(tmp_path), flag, value, "--out", tmp_path / "run")
    assert result.returncode == 2 and f"{flag} cannot be" in result.stderr
    assert not (tmp_path / "run").exists()


def test_resume_from_a_file_that_is_no_checkpoint_exits_2(tmp_path):
    fake = tmp_path / "fake.npz"
    fake.write_text("hello")
    result = specc_cli("train", short_xo_spec(tmp_path), "--resume", fake, "--out", tmp_path / "run")
    assert result.returncode == 2 and "is not a specc checkpoint" in result.stderr and "pickle" not in result.stderr
