"""globalpool: (N, C, H, W) -> (N, C), the mean or the largest value of each channel. Checked
against PyTorch (adaptive pooling to 1x1), finite differences, onnxruntime, OpenVINO and tract,
and its misuse reported at the layer."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import specc
from specc.cli import main
from specc.runtime.interpreter import backward_layers, run_layers

from . import other_runtimes
from .helpers import check_layer


@pytest.mark.parametrize("mode", ["", " avg", " max", " mode=max"])
def test_shape_params_and_export_agree_with_numpy(mode):
    check_layer(f"globalpool{mode}", "3x4x5", expect_shape=("N", 3), expect_params=0)


def test_values_are_each_channel_s_mean_or_maximum():
    x = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    x[1, 0, 0, 0] = 100.0
    avg = specc.loads("input x: 2x2x3\nx -> globalpool\n", "a.nn").run(x=x)["output"]
    top = specc.loads("input x: 2x2x3\nx -> globalpool max\n", "m.nn").run(x=x)["output"]
    np.testing.assert_array_equal(avg, [[2.5, 8.5], [np.float32(175 / 6), 20.5]])
    np.testing.assert_array_equal(top, [[5, 11], [100, 23]])


def finite_difference_check(chain: str, x: np.ndarray) -> None:
    """The input's gradient of sum(y * r) against central differences, in float64, every entry."""
    net = specc.loads(f"input x: {x.shape[1]}x{x.shape[2]}x{x.shape[3]}\nx -> {chain}\n", "fd.nn")
    layers, rng = net.model.layers, np.random.default_rng(1)
    caches: list = []
    r = rng.standard_normal(run_layers(layers, {}, x, caches).shape)
    dx, _ = backward_layers(layers, {}, caches, r)
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + 1e-6
        up = float((run_layers(layers, {}, x) * r).sum())
        x[index] = saved - 1e-6
        numeric[index] = (up - float((run_layers(layers, {}, x) * r).sum())) / 2e-6
        x[index] = saved
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_gradients_match_finite_differences(mode):
    finite_difference_check(f"globalpool {mode}", np.random.default_rng(0).standard_normal((3, 2, 4, 5)))


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("mode, values", [("avg", "normal"), ("max", "normal"), ("max", "integers")])
def test_forward_and_gradient_match_pytorch(mode, values):
    """PyTorch's adaptive pooling to 1x1; integer inputs tie often, and the gradient goes to the
    first maximum in row-major order, as adaptive_max_pool2d sends it."""
    rng = np.random.default_rng(3)
    x = (rng.integers(-1, 2, (4, 3, 3, 5)) if values == "integers" else rng.standard_normal((4, 3, 3, 5)))
    x = x.astype(np.float32)
    dy = rng.standard_normal((4, 3)).astype(np.float32)
    layers = specc.loads(f"input x: 3x3x5\nx -> globalpool {mode}\n", "t.nn").model.layers
    caches: list = []
    y = run_layers(layers, {}, x, caches)
    dx, _ = backward_layers(layers, {}, caches, dy)
    xt = torch.tensor(x, requires_grad=True)
    pool = torch.nn.functional.adaptive_avg_pool2d if mode == "avg" else torch.nn.functional.adaptive_max_pool2d
    yt = pool(xt, 1).flatten(1)
    (yt * torch.tensor(dy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-6)
    assert y.dtype == dx.dtype == np.float32


SPEC = "input x: 3x6x6\nx -> conv 3x3 filters=4 -> relu -> globalpool {mode} -> dense 2\n"


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_export_is_global_pooling_then_flatten(mode, tmp_path, capsys):
    path = tmp_path / "g.nn"
    path.write_text(SPEC.format(mode=mode))
    assert main(["compile", str(path), "-o", str(tmp_path / "g.onnx"), "--quiet"]) == 0
    ops = [node.op_type for node in onnx.load(tmp_path / "g.onnx").graph.node]
    assert ops == ["Conv", "Relu", "GlobalAveragePool" if mode == "avg" else "GlobalMaxPool", "Flatten", "Gemm"]


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_export_runs_in_other_runtimes(runtime, mode, tmp_path):
    net = specc.loads(SPEC.format(mode=mode), "g.nn")
    onnx.save(net.to_onnx(), tmp_path / "g.onnx")
    run = other_runtimes.load(runtime, str(tmp_path / "g.onnx"))
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 6, 6)).astype(np.float32)
        np.testing.assert_allclose(run({"x": x})["output"], net.run(x=x)["output"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("input, received, hint", [
    ("4", "(N, 3)", "a vector has no height and width to pool: put globalpool before flatten or dense"),
    ("seq 4", "(N, T, 3)", "globalpool pools images; for a sequence take its final step with 'last'"),
])
def test_globalpool_on_a_vector_or_sequence_is_refused_at_the_layer(input, received, hint, tmp_path, capsys):
    path = tmp_path / "bad.nn"
    path.write_text(f"input x: {input}\nx -> dense 3 -> globalpool max\n")
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:2:17: error: globalpool max needs an image (N, C, H, W): received {received} from dense 3 at line 2",
        "    2 | x -> dense 3 -> globalpool max",
        "      |                 ^^^^^^^^^^^^^^",
        "  expected: an image (N, C, H, W)",
        f"  received: {received} from dense 3 at line 2",
        f"  hint: {hint}",
    ]


def test_an_unknown_mode_names_the_two():
    with pytest.raises(specc.SpecError) as info:
        specc.loads("input x: 1x4x4\nx -> globalpool min\n", "bad.nn")
    assert str(info.value).splitlines()[0] == "bad.nn:2:17: error: globalpool: 'mode' cannot be min"
    assert "  expected: mode: avg or max" in str(info.value).splitlines()
