"""The lecture's worked examples (shared/seed-examples.md §2, §4) through both back ends."""
from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.specs import spec_path

from tests.helpers import FILTER_1, FILTER_2, LECTURE_IMAGE, run_both, run_reference

FEATURE_MAPS = np.array([
    [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]],
    [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]], dtype=np.float32)
POOLED = np.array([[[3, 0], [3, 1]], [[-1, 1], [0, 3]]], dtype=np.float32)


def both(net, inputs, output):
    numpy_out, ort_out = run_both(net, inputs)
    return numpy_out[output], ort_out[output]


def test_two_filters_stride_1_give_the_lectures_feature_maps():
    net = specc.load(spec_path("seed_conv"))
    for got in both(net, {"image": LECTURE_IMAGE}, "maps"):
        np.testing.assert_array_equal(got[0], FEATURE_MAPS)


def test_stride_2_gives_a_2x2_map():
    net = specc.loads(f"""input image: 1x6x6
image -> conv 3x3 stride 2 bias=false weights=[{FILTER_1}]""", "stride2.nn")
    for got in both(net, {"image": LECTURE_IMAGE}, "output"):
        np.testing.assert_array_equal(got[0, 0], [[3, -3], [-3, 0]])


def test_max_pooling_gives_the_lectures_2x2x2_tensor():
    net = specc.load(spec_path("seed_pool"))
    for got in both(net, {"image": LECTURE_IMAGE}, "pooled"):
        np.testing.assert_array_equal(got[0], POOLED)
    np.testing.assert_array_equal(run_reference(net, {"image": LECTURE_IMAGE})["pooled"][0], POOLED)


def test_conv_has_18_weights_where_dense_would_need_1152():
    net = specc.load(spec_path("seed_conv"))
    assert net.param_count == 18
    assert "a dense layer from the same 36 inputs to the same 32 outputs would need 1,152" in net.summary()


@pytest.mark.parametrize("sequence, outputs", [
    ([[1, 1], [1, 1], [2, 2]], [[4, 4], [12, 12], [32, 32]]),
    ([[2, 2], [1, 1], [1, 1]], [[8, 8], [20, 20], [44, 44]]),
])
def test_rnn_with_all_weights_one_remembers(sequence, outputs):
    net = specc.load(spec_path("memory"))
    for got in both(net, {"x": sequence}, "y"):
        np.testing.assert_array_equal(got[0], outputs)
    np.testing.assert_array_equal(run_reference(net, {"x": sequence})["y"][0], outputs)


def test_rnn_hidden_states_are_2_6_16():
    net = specc.loads("""input x: seq 2
x -> rnn elman hidden=2 activation=linear init=ones bias=false""", "hidden.nn")
    for got in both(net, {"x": [[1, 1], [1, 1], [2, 2]]}, "output"):
        np.testing.assert_array_equal(got[0], [[2, 2], [6, 6], [16, 16]])


def test_neuron_network_is_3_3_1_with_sigmoids():
    net = specc.load(spec_path("neuron"))
    layers = net.model.layers
    assert [layer.kind for layer in layers] == ["dense", "sigmoid", "dense", "sigmoid"]
    assert [layer.out_shape for layer in layers] == [("N", 3), ("N", 3), ("N", 1), ("N", 1)]
    assert net.param_count == 3 * 3 + 3 + 3 + 1
    x = np.array([[0.5, -1.0, 2.0]], dtype=np.float32)
    w = net.weights
    hidden = 1 / (1 + np.exp(-(x @ w["dense@7:6.weight"].T + w["dense@7:6.bias"])))
    expected = 1 / (1 + np.exp(-(hidden @ w["dense@7:28.weight"].T + w["dense@7:28.bias"])))
    for got in both(net, {"x": x}, "h"):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_literal_filters_are_the_lectures():
    net = specc.load(spec_path("seed_conv"))
    np.testing.assert_array_equal(net.weights["conv@7.weight"][:, 0], [FILTER_1, FILTER_2])
