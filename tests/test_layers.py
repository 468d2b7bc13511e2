"""Every layer kind: NumPy forward against onnxruntime and the ONNX reference evaluator,
at batch 1 and odd batches and several sequence lengths, with shapes and parameter counts."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specc
from tests.helpers import check_layer


@pytest.mark.parametrize("chain, input, shape, params", [
    ("conv 3x3", "1x6x6", ("N", 1, 4, 4), 10),
    ("conv 3x3 filters=4 stride 2 padding=1", "3x7x7", ("N", 4, 4, 4), 4 * 27 + 4),
    ("conv 3x2 filters=2 padding=same bias=false", "2x5x6", ("N", 2, 5, 6), 2 * 2 * 6),
    ("conv 2x2 filters=3 padding=same stride=2", "1x7x5", ("N", 3, 4, 3), 3 * 4 + 3),
    ("conv 5 16 padding 2x1", "1x8x8", ("N", 16, 8, 6), 16 * 25 + 16),
    ("conv 1x1 filters=8 init=he", "4x3x3", ("N", 8, 3, 3), 8 * 4 + 8),
])
def test_conv(chain, input, shape, params):
    check_layer(chain, input, expect_shape=shape, expect_params=params)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
@pytest.mark.parametrize("args, input, shape", [
    ("2", "2x6x6", ("N", 2, 3, 3)),
    ("3 stride 1", "1x5x5", ("N", 1, 3, 3)),
    ("2 floor", "1x5x7", ("N", 1, 2, 3)),
    ("2 ceil", "1x5x7", ("N", 1, 3, 4)),
    ("3 stride=2 mode=ceil", "1x6x6", ("N", 1, 3, 3)),
    ("2x3", "1x4x9", ("N", 1, 2, 3)),
])
def test_pools(kind, args, input, shape):
    check_layer(f"{kind} {args}", input, expect_shape=shape, expect_params=0)


def test_maxpool_of_all_negative_ceil_window_ignores_the_outside():
    # a partial ceil window must not see padding as 0 (it would beat the negative values)
    net = check_layer("maxpool 2 ceil", "1x3x3", expect_shape=("N", 1, 2, 2))
    got = net.run(x=-np.ones((3, 3)))["output"]
    np.testing.assert_array_equal(got, -np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("chain, input, shape", [
    ("flatten", "2x3x4", ("N", 24)),
    ("flatten", "5", ("N", 5)),
    ("last", "seq 3", ("N", 3)),
])
def test_layout_layers(chain, input, shape):
    check_layer(chain, input, expect_shape=shape, expect_params=0)


@pytest.mark.parametrize("kind", ["relu", "sigmoid", "tanh", "linear", "softmax"])
@pytest.mark.parametrize("input", ["7", "seq 4"])
def test_activations(kind, input):
    check_layer(kind, input, expect_params=0)


@pytest.mark.parametrize("kind", ["relu", "sigmoid", "tanh", "linear"])
def test_elementwise_activations_on_images(kind):
    check_layer(kind, "2x3x3", expect_shape=("N", 2, 3, 3))


def test_softmax_rows_sum_to_one():
    net = check_layer("softmax", "6")
    probabilities = net.run(x=np.arange(12.0).reshape(2, 6) * 50)["output"]
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("chain, input, shape, params", [
    ("dense 4", "6", ("N", 4), 28),
    ("dense 4 bias=false", "6", ("N", 4), 24),
    ("dense 3", "seq 5", ("N", "T", 3), 18),
    ("dense 2 weights=[[1, 2, 3], [4, 5, 6]] bias=[0.5, -0.5]", "3", ("N", 2), 8),
])
def test_dense(chain, input, shape, params):
    check_layer(chain, input, expect_shape=shape, expect_params=params)


@pytest.mark.parametrize("args, shape, params", [
    ("hidden=4", ("N", "T", 4), 3 * 4 + 16 + 4),
    ("hidden=4 bidirectional", ("N", "T", 8), 2 * (3 * 4 + 16 + 4)),
    ("hidden 3 layers=2", ("N", "T", 3), (9 + 9 + 3) + (9 + 9 + 3)),
    ("hidden=3 bidirectional layers=3 activation=relu", ("N", "T", 6),
     2 * (9 + 9 + 3) + 2 * 2 * (18 + 9 + 3)),
    ("hidden=2 activation=sigmoid bias=false", ("N", "T", 2), 6 + 4),
    ("hidden=2 activation=linear init=normal", ("N", "T", 2), 6 + 4 + 2),
])
def test_rnn_elman(args, shape, params):
    # ONNX's reference evaluator implements only the Tanh and Affine (linear) RNN activations
    reference = "relu" not in args and "sigmoid" not in args
    check_layer(f"rnn elman {args}", "seq 3", expect_shape=shape, expect_params=params,
                batches=(1, 4), lengths=(1, 2, 7), reference=reference)


def test_bidirectional_joins_forward_then_backward_per_step():
    net = check_layer("rnn elman hidden=2 bidirectional activation=linear init=ones bias=false", "seq 1")
    # forward sums the steps so far (x1, x1+x2 ...), backward the steps still to come
    x = np.array([[[1.0], [2.0], [3.0]]], dtype=np.float32)
    out = net.run(x=x)["output"][0]
    forward = np.array([1, 1 * 2 + 2, 4 * 2 + 3], dtype=np.float32)  # h = x + 2h (two units, ones)
    backward = np.array([1 + 2 * (2 + 2 * 3), 2 + 2 * 3, 3], dtype=np.float32)
    np.testing.assert_array_equal(out[:, 0], forward)
    np.testing.assert_array_equal(out[:, 2], backward)


def test_sequence_classifier_with_last():
    check_layer("rnn elman hidden=5 -> last -> dense 3 -> softmax", "seq 2", expect_shape=("N", 3))


def test_deep_cnn_chain():
    check_layer("conv 3x3 filters=4 padding=1 -> relu -> maxpool 2 -> conv 3x3 filters=2 -> avgpool 2 floor "
                "-> flatten -> dense 5 -> tanh -> dense 3 -> softmax", "3x12x10", expect_shape=("N", 3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(height=st.integers(3, 9), width=st.integers(3, 9), kernel=st.integers(1, 3),
       stride=st.integers(1, 3), padding=st.sampled_from(["0", "1", "same", "valid"]),
       channels=st.integers(1, 3), filters=st.integers(1, 3))
def test_conv_geometry_agrees_with_onnxruntime(height, width, kernel, stride, padding, channels, filters):
    check_layer(f"conv {kernel}x{kernel} filters={filters} stride={stride} padding={padding}",
                f"{channels}x{height}x{width}", batches=(2,), reference=False)


@settings(max_examples=25, deadline=None)
@given(height=st.integers(2, 9), width=st.integers(2, 9), size=st.integers(1, 3), stride=st.integers(1, 3),
       mode=st.sampled_from(["floor", "ceil"]), kind=st.sampled_from(["maxpool", "avgpool"]))
def test_pool_geometry_agrees_with_onnxruntime(height, width, size, stride, mode, kind):
    if size > min(height, width):
        return
    check_layer(f"{kind} {size} stride={stride} {mode}", f"1x{height}x{width}", batches=(2,), reference=False)


def test_dropout_is_the_identity_at_inference_and_in_the_export():
    net = check_layer("dense 6 -> dropout 0.3 -> dense 2", "4", expect_params=4 * 6 + 6 + 6 * 2 + 2)
    assert [n.op_type for n in net.to_onnx().graph.node if n.name.startswith("dropout")] == ["Identity"]


@pytest.mark.parametrize("size, features", [(1, 2), (3, 2), (5, 3)])
def test_window_joins_each_step_with_its_neighbours(size, features):
    net = check_layer(f"window {size}", f"seq {features}", expect_shape=("N", "T", size * features),
                      expect_params=0, lengths=(1, 2, 7))
    x = np.arange(1, 4, dtype=np.float32).reshape(1, 3, 1).repeat(features, axis=2)
    out = net.run(x=x)["output"][0]
    if size == 3:  # step 1 sees steps 0, 1, 2; the ends see zeros
        np.testing.assert_array_equal(out[:, ::features], [[0, 1, 2], [1, 2, 3], [2, 3, 0]])


def test_window_needs_an_odd_size():
    with pytest.raises(specc.SpecError, match="needs an odd size"):
        specc.loads("input x: seq 2\nx -> window 4", "w.nn")


@pytest.mark.parametrize("args, shape, params", [
    ("hidden=4", ("N", "T", 4), 3 * 4 + 4 * 4 + 4 + 4 * 4 + 4),
    ("hidden=4 out=2 bidirectional", ("N", "T", 4), 2 * (3 * 4 + 2 * 4 + 4 + 4 * 2 + 2)),
    ("hidden=3 out=2 layers=2 activation=relu", ("N", "T", 2), (9 + 6 + 3 + 6 + 2) + (6 + 6 + 3 + 6 + 2)),
    ("hidden=2 bias=false activation=sigmoid bidirectional layers=2", ("N", "T", 4),
     2 * (6 + 4 + 4) + 2 * (8 + 4 + 4)),
])
def test_rnn_jordan_through_scan(args, shape, params):
    # the reference evaluator runs Scan bodies too: a second oracle for the lowering
    check_layer(f"rnn jordan {args}", "seq 3", expect_shape=shape, expect_params=params,
                batches=(1, 4), lengths=(1, 2, 7))


def test_jordan_feeds_back_its_output():
    # all weights 1, linear, no bias, one unit: h_t = x_t + y_{t-1}, y_t = h_t (a running sum)
    net = specc.loads("input x: seq 1\nx -> rnn jordan hidden=1 activation=linear init=ones bias=false", "j.nn")
    np.testing.assert_array_equal(net.run(x=[[1], [2], [3]])["output"][0, :, 0], [1, 3, 6])
    wide = specc.loads("input x: seq 1\nx -> rnn jordan hidden=2 out=1 activation=linear init=ones bias=false",
                       "j.nn")  # h_t = [x_t + y_{t-1}] * 2 units, y_t = 2 (x_t + y_{t-1})
    np.testing.assert_array_equal(wide.run(x=[[1], [1]])["output"][0, :, 0], [2, 6])


def test_out_size_is_for_jordan_only():
    with pytest.raises(specc.SpecError, match="out= only as a jordan cell"):
        specc.loads("input x: seq 2\nx -> rnn elman hidden=3 out=2", "o.nn")
