"""--device cuda on run, serve and predict (issue 10, part 5): onnxruntime's CUDA provider. These
machines have none, so what is checked here is the refusal: exit 2, naming the package to install,
before anything is written or served; and the GPU check script's CPU-only path."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from specc.cli import main
from specc.runtime.onnx_runner import GPU_HINT
from specc.specs import spec_path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = f"image={ROOT / 'specs' / 'inputs' / 'x_12x12.json'}"
MISSING = (f"error: --device cuda needs onnxruntime's CUDAExecutionProvider; the installed onnxruntime {ort.__version__} "
           f"has only {', '.join(ort.get_available_providers())}\n  hint: {GPU_HINT}\n")

pytestmark = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                                reason="this onnxruntime has a CUDA provider: the refusals cannot be seen here")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """x_or_o exported with its seeded random weights."""
    path = tmp_path_factory.mktemp("device") / "x_or_o.onnx"
    assert main(["compile", str(spec_path("x_or_o")), "-o", str(path), "--quiet"]) == 0
    return path


def test_the_gpu_hint_names_the_package_and_that_it_replaces_onnxruntime():
    assert GPU_HINT == ("install onnxruntime-gpu in place of onnxruntime (the [gpu] extra): python -m pip uninstall -y "
                        "onnxruntime onnxruntime-gpu && python -m pip install onnxruntime-gpu")


@pytest.mark.parametrize("args", [
    ["--device", "cuda"],
    ["--device", "cuda", "--backend", "onnxruntime"],
])
def test_run_without_a_cuda_provider_exits_2_naming_the_package(model, tmp_path, capsys, args):
    out = tmp_path / "out.npz"
    assert main(["run", str(model), "--input", IMAGE, "--output", str(out), *args]) == 2
    assert capsys.readouterr() == ("", MISSING) and not out.exists()


def test_a_spec_runs_in_onnxruntime_on_cuda_and_is_refused_the_same_way(capsys):
    assert main(["run", str(spec_path("x_or_o")), "--input", IMAGE, "--device", "cuda"]) == 2
    assert capsys.readouterr().err == MISSING


def test_the_numpy_backend_does_not_run_on_cuda(capsys):
    assert main(["run", str(spec_path("x_or_o")), "--input", IMAGE, "--device", "cuda", "--backend", "numpy"]) == 2
    assert capsys.readouterr().err == ("error: the numpy backend runs on the CPU; --device cuda runs a model in "
                                       "onnxruntime\n  hint: drop --backend numpy (or give --backend onnxruntime)\n")


def test_cpu_is_the_default_and_gives_the_same_answer(model, capsys):
    assert main(["run", str(model), "--input", IMAGE, "--json"]) == 0
    default = capsys.readouterr().out
    assert main(["run", str(model), "--input", IMAGE, "--json", "--device", "cpu"]) == 0
    assert capsys.readouterr().out == default


def test_predict_without_a_cuda_provider_writes_nothing(model, tmp_path, capsys):
    np.savez(tmp_path / "data.npz", image=np.zeros((3, 1, 12, 12), np.float32))
    out = tmp_path / "predictions.npz"
    assert main(["predict", str(model), "--data", str(tmp_path / "data.npz"), "--out", str(out),
                 "--device", "cuda"]) == 2
    assert capsys.readouterr() == ("", MISSING) and not out.exists()


def test_serve_without_a_cuda_provider_exits_before_listening(model, capsys):
    pytest.importorskip("starlette", reason='specc serve needs the [serve] extra: python -m pip install -e ".[serve]"')
    pytest.importorskip("uvicorn", reason='specc serve needs the [serve] extra: python -m pip install -e ".[serve]"')
    assert main(["serve", str(model), "--port", "0", "--device", "cuda"]) == 2
    assert capsys.readouterr() == ("", MISSING)


def test_a_provider_that_is_installed_but_cannot_start_is_refused(model, capsys, monkeypatch):
    # onnxruntime lists the provider yet falls back to the CPU when it cannot start it (no GPU, no
    # CUDA libraries): the model must not quietly run on the CPU
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert main(["run", str(model), "--input", IMAGE, "--device", "cuda"]) == 2
    assert capsys.readouterr().err.startswith("error: --device cuda: onnxruntime could not start its CUDAExecutionProvider (no NVIDIA GPU "
                          "or driver, or CUDA and cuDNN libraries it cannot load), so the model would run on the CPU\n")


def test_the_device_check_script_runs_its_cpu_half_and_says_why_it_compares_nothing():
    done = subprocess.run(["bash", str(ROOT / "bench" / "device_check.sh"), str(spec_path("neuron"))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == ["no CUDA: " + MISSING.splitlines()[0].removeprefix("error: "), f"  {GPU_HINT}",
                         "running the CPU half only: nothing is compared"]
    assert lines[4:6] == ["| spec | rows/s CPU, batch 1 | rows/s CPU, batch 256 | result |", "|---|---|---|---|"]
    assert lines[6].startswith("| neuron.nn | ") and lines[6].endswith(" | CPU only |") and len(lines) == 7
    assert done.stderr == ""
