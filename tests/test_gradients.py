"""Backward passes against central finite differences in float64, for every layer kind and loss."""
from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.runtime.interpreter import backward_layers, run_layers
from specc.runtime.losses import cross_entropy, mse

EPS = 1e-6
TOLERANCE = 1e-6  # relative, in float64
PROBES = 12  # entries of each tensor checked


def numeric_gradient(f, array: np.ndarray, index: tuple) -> float:
    """Central difference of the scalar f() with respect to array[index]."""
    saved = array[index]
    array[index] = saved + EPS
    up = f()
    array[index] = saved - EPS
    down = f()
    array[index] = saved
    return (up - down) / (2 * EPS)


def assert_gradient_matches(f, array: np.ndarray, analytic: np.ndarray, rng, what: str) -> None:
    assert analytic.shape == array.shape, what
    for _ in range(PROBES):
        index = tuple(int(rng.integers(d)) for d in array.shape)
        expected = numeric_gradient(f, array, index)
        scale = max(abs(expected), abs(analytic[index]), 1e-3)
        assert abs(expected - analytic[index]) / scale < TOLERANCE, (what, index, expected, analytic[index])


def check_gradients(chain: str, input: str, batch: int = 3, steps: int = 4, seed: int = 0):
    """Build `x -> chain`; compare every weight's and the input's gradient of sum(y * r)."""
    net = specc.loads(f"input x: {input}\nx -> {chain}\n", "grad.nn", seed=seed)
    rng = np.random.default_rng(seed)
    weights = {k: v.astype(np.float64) for k, v in net.weights.items()}
    for name in weights:  # biases start at zero; random values exercise them properly
        weights[name] += rng.normal(0, 0.1, weights[name].shape)
    shape = [batch if d == "N" else steps if d == "T" else d for d in net.model.inputs[0].shape]
    x = rng.standard_normal(shape)
    layers = net.model.layers
    caches: list = []
    y = run_layers(layers, weights, x, caches)
    r = rng.standard_normal(y.shape)
    dx, grads = backward_layers(layers, weights, caches, r)

    def loss() -> float:
        return float((run_layers(layers, weights, x) * r).sum())

    assert set(grads) == set(weights)
    assert_gradient_matches(loss, x, dx, rng, "input")
    for name, array in weights.items():
        assert_gradient_matches(loss, array, grads[name], rng, name)


@pytest.mark.parametrize("chain, input", [
    ("conv 3x3 filters=2", "1x5x5"),
    ("conv 3x3 filters=3 stride=2 padding=1", "2x7x6"),
    ("conv 2x3 filters=2 padding=same bias=false", "2x5x4"),
    ("maxpool 2", "2x4x6"),
    ("maxpool 3 stride=1", "1x5x5"),
    ("maxpool 2 ceil", "1x5x5"),
    ("avgpool 2", "2x4x4"),
    ("avgpool 3 stride=2 ceil", "1x6x6"),
    ("flatten", "2x3x3"),
    ("dense 4", "5"),
    ("dense 3 bias=false", "seq 4"),
    ("relu", "6"),
    ("sigmoid", "6"),
    ("tanh", "seq 3"),
    ("linear", "4"),
    ("softmax", "5"),
    ("softmax", "seq 4"),
    ("last", "seq 3"),
    ("window 3", "seq 2"),
    ("window 5 -> dense 2", "seq 3"),
    ("rnn elman hidden=3", "seq 2"),
    ("rnn elman hidden=3 bidirectional", "seq 2"),
    ("rnn elman hidden=3 layers=2 bidirectional activation=sigmoid", "seq 2"),
    ("rnn elman hidden=2 activation=relu bias=false", "seq 3"),
    ("rnn elman hidden=2 activation=linear", "seq 3"),
    ("rnn jordan hidden=3", "seq 2"),
    ("rnn jordan hidden=3 out=2 bidirectional", "seq 2"),
    ("rnn jordan hidden=2 out=4 layers=2 activation=sigmoid", "seq 3"),
    ("rnn jordan hidden=3 activation=relu bias=false bidirectional layers=2", "seq 2"),
    ("rnn jordan hidden=2 activation=linear", "seq 3"),
    ("conv 3x3 filters=2 padding=1 -> relu -> maxpool 2 -> flatten -> dense 3 -> softmax", "1x6x6"),
])
def test_layer_gradients_match_finite_differences(chain, input):
    check_gradients(chain, input)


def check_loss_gradient(loss_fn, outputs: np.ndarray, *args, rng) -> None:
    _, analytic = loss_fn(outputs, *args)
    assert_gradient_matches(lambda: loss_fn(outputs, *args)[0], outputs, analytic, rng, loss_fn.__name__)


def test_cross_entropy_gradient_per_sample(rng):
    check_loss_gradient(cross_entropy, rng.standard_normal((5, 4)), rng.integers(0, 4, 5), rng=rng)


def test_cross_entropy_gradient_per_step_with_padding_masked(rng):
    logits = rng.standard_normal((3, 6, 4))
    targets = rng.integers(0, 4, (3, 6))
    mask = np.arange(6)[None, :] < np.array([6, 2, 4])[:, None]
    check_loss_gradient(cross_entropy, logits, targets, mask, rng=rng)
    loss, grad = cross_entropy(logits, targets, mask)
    assert np.all(grad[~mask] == 0)
    changed = logits.copy()
    changed[~mask] = 1e3  # whatever stands in the padding does not change the loss
    assert cross_entropy(changed, targets, mask)[0] == pytest.approx(loss, rel=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    loss, grad = cross_entropy(np.array([[1e4, 0.0, -1e4]]), np.array([1]))
    assert np.isfinite(loss) and loss == pytest.approx(1e4)
    assert np.all(np.isfinite(grad))


def test_mse_gradient(rng):
    check_loss_gradient(mse, rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng=rng)


@pytest.mark.parametrize("chain, input, planned", [
    ("conv 3x3 filters=3 padding=1 -> relu -> maxpool 2 -> flatten", "2x6x6", ["conv+maxpool", "relu", "flatten"]),
    ("conv 2x2 filters=2 stride=2 padding=same -> maxpool 3 -> tanh", "1x12x12", ["conv+maxpool", "tanh"]),
    ("conv 3x3 filters=2 -> maxpool 2 ceil -> relu", "1x7x7", ["conv", "maxpool", "relu"]),
    ("relu -> maxpool 2 stride 1", "2x4x4", ["maxpool", "relu"]),
])
def test_the_execution_plan_keeps_values_and_gradients(chain, input, planned):
    """The interpreter runs relu -> maxpool as maxpool -> relu, and conv -> maxpool as one fused
    kernel when the windows tile: the values and gradients of the layers run one by one (up to
    float rounding: the fused product sums in another order)."""
    from specc.runtime.interpreter import execution_order

    net = specc.loads(f"input x: {input}\nx -> {chain}", "f.nn")
    layers = net.model.layers
    assert [layer.kind for layer in execution_order(layers)] == planned
    rng = np.random.default_rng(1)
    x = np.round(rng.standard_normal([4] + list(net.model.inputs[0].shape[1:])), 1).astype(np.float32)  # ties
    runs = []
    for order in (list(layers), execution_order(layers)):
        caches: list = []
        runs.append((order, run_layers(order, net.weights, x, caches), caches))
    dy = np.round(rng.standard_normal(runs[0][1].shape), 1).astype(np.float32)
    (y1, (dx1, g1)), (y2, (dx2, g2)) = [(y, backward_layers(order, net.weights, caches, dy))
                                        for order, y, caches in runs]
    np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx1, dx2, rtol=1e-5, atol=1e-6)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-5, atol=1e-5)


def test_dropout_zeroes_with_probability_p_scales_the_rest_and_routes_gradients_the_same_way():
    from specc.runtime.interpreter import run_layers

    net = specc.loads("input x: 1000\nx -> dropout 0.25", "d.nn")
    x = np.ones((20, 1000), np.float32)
    caches: list = []
    y = run_layers(net.model.layers, net.weights, x, caches, rng=np.random.default_rng(3))
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01  # 20,000 draws
    dy = np.arange(y.size, dtype=np.float32).reshape(y.shape)
    dx, _ = backward_layers(net.model.layers, net.weights, caches, dy)
    np.testing.assert_array_equal(dx, dy * y)  # the same mask and scale as the forward pass
    again = run_layers(net.model.layers, net.weights, x, [], rng=np.random.default_rng(3))
    np.testing.assert_array_equal(y, again)
    np.testing.assert_array_equal(run_layers(net.model.layers, net.weights, x), x)  # inference
