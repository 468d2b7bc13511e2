"""The NumPy interpreter over a graph (issue 9): forward and gradients through fan-out, add,
concat and multiply, for images, vectors and sequences, against float64 finite differences and
PyTorch autograd.

Each case is a spec and its PyTorch twin written by hand from the spec's text. Both run in
float64 on the same weights and inputs; every output is scored against its own random upstream
gradient r (loss = sum over outputs of sum(y * r)), and the outputs, every float input's
gradient and every weight's gradient must agree with torch to 1e-9 (relative to the largest
entry), and sampled entries with central finite differences to 1e-6.
"""
from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.runtime.interpreter import backward_graph, chain_masks, input_masks, plan, run_graph
from specc.runtime.kernels import fused

torch = pytest.importorskip("torch")
F = torch.nn.functional

BATCH = 3


# ---- the PyTorch twins: inputs by name, P[i] the weights (local names) of the i-th layer with weights ----

def same_conv(x, w):
    return F.conv2d(x, w["weight"], w["bias"], padding=w["weight"].shape[-1] // 2)


def linear(x, w):
    return F.linear(x, w["weight"], w["bias"])


def elman(x, w):
    """h_t = tanh(W x_t + R h_{t-1} + b), h_0 = 0: one direction, specc's weights (1, H, ...)."""
    W, R, b = w["layer1.W"][0], w["layer1.R"][0], w["layer1.b"][0]
    h, steps = torch.zeros(x.shape[0], R.shape[0], dtype=x.dtype), []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W.T + h @ R.T + b)
        steps.append(h)
    return torch.stack(steps, dim=1)


def residual(v, P):
    h = F.relu(same_conv(v["image"], P[0]))
    y = F.relu(same_conv(F.relu(same_conv(h, P[1])), P[2]) + h)
    return {"label": F.softmax(linear(F.max_pool2d(y, 2).flatten(1), P[3]), dim=-1)}


def branches(v, P):
    a = F.max_pool2d(F.relu(same_conv(v["image"], P[0])), 2)
    b = F.max_pool2d(same_conv(v["image"], P[1]), 2)
    return {"maps": F.conv2d(torch.cat([b, a], dim=1), P[2]["weight"], P[2]["bias"])}


def gate(v, P):
    g = torch.sigmoid(linear(v["z"], P[0]))
    y = torch.cat([torch.tanh(linear(v["x"], P[1])) * g, v["z"]], dim=1)
    return {"y": F.softmax(linear(y, P[2]), dim=-1)}


def heads(v, P):
    h = F.relu(linear(v["x"], P[0]))
    return {"label": F.softmax(linear(h, P[1]), dim=-1), "size": linear(h, P[2])}


def gated_sequence(v, P):
    a = torch.tanh(linear(v["s"], P[0]))
    return {"tags": F.softmax(linear(elman(v["s"], P[1]) * a + a, P[2]), dim=-1)}


VOCABULARY = ["the", "cat", "sat"]


def one_hot(words: np.ndarray):
    """(N, T) words -> (N, T, 4): the vocabulary's index, 3 for any other word, zero on padding."""
    ids = np.array([[VOCABULARY.index(w) if w in VOCABULARY else 3 for w in row] for row in words])
    rows = torch.from_numpy(np.eye(4)[ids])
    return rows * torch.from_numpy(words != "")[..., None]


def tagger(v, P):
    mask = torch.from_numpy(v["words"] != "")[..., None].double()
    e = linear(one_hot(v["words"]), P[0]) * mask
    y = elman(torch.cat([one_hot(v["words"]), e, v["nums"]], dim=-1), P[1]) * mask
    return {"tags": F.softmax(linear(y, P[2]), dim=-1) * mask}


CASES = {
    "residual block (fan-out, add, images)": ("""
input image: 1x6x6
output label: a | b | c
h = image -> conv 3x3 filters=2 padding=same -> relu
h -> conv 3x3 filters=2 padding=same -> relu -> conv 3x3 filters=2 padding=same -> add h -> relu
  -> maxpool 2 -> flatten -> dense -> softmax -> label
""", residual),
    "concat of images along channels, branches of different depth": ("""
input image: 2x6x6
output maps
a = image -> conv 3x3 filters=2 padding=same -> relu -> maxpool 2
image -> conv 3x3 filters=3 padding=same -> maxpool 2 -> concat a -> conv 3x3 filters=2 -> maps
""", branches),
    "two inputs: a gate (multiply) and a concat of vectors": ("""
input x: 4
input z: 3
output y: yes | no
g = z -> dense 5 -> sigmoid
x -> dense 5 -> tanh -> multiply g -> concat z -> dense 2 -> softmax -> y
""", gate),
    "a shared trunk with two heads": ("""
input x: 4
output label: a | b
output size
h = x -> dense 6 -> relu
h -> dense 2 -> softmax -> label
h -> dense 1 -> size
""", heads),
    "a gated sequence (multiply and add per step)": ("""
input s: seq 3
output tags: p | q
a = s -> dense 4 -> tanh
s -> rnn 4 -> multiply a -> add a -> dense 2 -> softmax -> tags
""", gated_sequence),
    "word features concatenated with per-word numbers, a tagger": ("""
input words: seq token
input nums: seq 2
output tags: B | I | O
e = words -> onehot vocab=[the, cat, sat] -> dense 3
words -> onehot vocab=[the, cat, sat] -> concat e nums -> rnn 4 -> dense 3 -> softmax -> tags
""", tagger),
}

SENTENCES = np.array([["the", "cat", "sat", "down"], ["a", "cat", "", ""], ["sat", "", "", ""]])


def make_inputs(model, rng) -> dict:
    """A batch for every input: sentences of different lengths for words, else normal float64."""
    inputs = {}
    for i in model.inputs:
        if i.form == "tokens":
            inputs[i.name] = SENTENCES
        else:
            shape = [BATCH if d == "N" else SENTENCES.shape[1] if d == "T" else d for d in i.shape]
            inputs[i.name] = rng.standard_normal(shape)
    return inputs


def numpy_run(net, weights, inputs, dys=None):
    """run_graph, then backward_graph from `dys` (by output): (outputs, input grads, weight grads)."""
    steps, caches = plan(net.model), []
    masks = chain_masks(steps, input_masks(inputs))
    outputs = run_graph(steps, weights, inputs, masks, caches)
    if dys is None:
        return outputs, None, None
    input_grads, grads = backward_graph(steps, weights, caches, dys, masks, need_input_grads=True)
    return outputs, input_grads, grads


def torch_run(net, torch_fn, weights, inputs, dys):
    """The twin's (outputs, input grads, weight grads) after backward from sum(y * dy)."""
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in weights.items()}
    given = {name: x if x.dtype.kind == "U" else torch.tensor(x, requires_grad=True) for name, x in inputs.items()}
    P = [{w.name: leaves[layer.weight_name(w.name)] for w in layer.weights} for layer in net.model.layers if layer.weights]
    outputs = torch_fn(given, P)
    sum((outputs[name] * torch.from_numpy(dy)).sum() for name, dy in dys.items()).backward()
    input_grads = {name: x.grad for name, x in given.items() if not isinstance(x, np.ndarray)}
    return outputs, input_grads, {name: leaf.grad for name, leaf in leaves.items()}


def assert_close(actual, expected, what: str, tolerance: float = 1e-9) -> None:
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-6)
    diff = float(np.abs(actual - expected).max(initial=0.0))
    assert diff / scale <= tolerance, f"{what}: max |numpy - torch| = {diff:.3g}, relative {diff / scale:.3g}"


def case_setup(text: str):
    net = specc.loads(text, "g.nn", seed=3)
    rng = np.random.default_rng(5)
    # float64, biases moved off zero so their gradients are exercised
    weights = {name: value.astype(np.float64) + (rng.normal(0, 0.1, value.shape) if name.endswith((".bias", ".b")) else 0)
               for name, value in net.weights.items()}
    inputs = make_inputs(net.model, rng)
    outputs, _, _ = numpy_run(net, weights, inputs)
    dys = {name: rng.standard_normal(y.shape) for name, y in outputs.items()}
    return net, weights, inputs, dys, rng


@pytest.mark.parametrize("name", CASES)
def test_forward_and_gradients_match_torch(name):
    text, torch_fn = CASES[name]
    net, weights, inputs, dys, _ = case_setup(text)
    outputs, input_grads, grads = numpy_run(net, weights, inputs, dys)
    t_outputs, t_input_grads, t_grads = torch_run(net, torch_fn, weights, inputs, dys)
    assert set(outputs) == {o.name for o in net.model.outputs}
    for output in outputs:
        assert_close(outputs[output], t_outputs[output], f"output {output}")
    assert set(input_grads) == set(t_input_grads)
    for input_name in input_grads:
        assert_close(input_grads[input_name], t_input_grads[input_name], f"gradient of input {input_name}")
    assert set(grads) == set(weights)
    for weight in grads:
        assert_close(grads[weight], t_grads[weight], f"gradient of {weight}")


@pytest.mark.parametrize("name", CASES)
def test_gradients_match_finite_differences(name):
    net, weights, inputs, dys, rng = case_setup(CASES[name][0])
    _, input_grads, grads = numpy_run(net, weights, inputs, dys)

    def loss() -> float:
        outputs = numpy_run(net, weights, inputs)[0]
        return sum(float((outputs[o] * dy).sum()) for o, dy in dys.items())

    arrays = [(weights[w], grads[w], w) for w in weights] + [(inputs[i], input_grads[i], i) for i in input_grads]
    for array, grad, what in arrays:
        for flat in rng.choice(array.size, size=min(array.size, 5), replace=False):
            at = np.unravel_index(flat, array.shape)
            kept = array[at]
            array[at] = kept + 1e-6
            up = loss()
            array[at] = kept - 1e-6
            down = loss()
            array[at] = kept
            assert abs((up - down) / 2e-6 - grad[at]) <= 1e-6 * max(1.0, abs(grad[at])), (what, at)


def test_padding_gets_no_gradient_and_no_class():
    """The tagger's second input (per-word numbers) gets no gradient on padded steps, and the
    classes of padding are empty, as for a single-input tagger."""
    net, weights, inputs, dys, _ = case_setup(CASES["word features concatenated with per-word numbers, a tagger"][0])
    _, input_grads, _ = numpy_run(net, weights, inputs, dys)
    padding = SENTENCES == ""
    assert np.all(input_grads["nums"][padding] == 0) and np.all(input_grads["nums"][~padding] != 0)
    tags = net.run(words=SENTENCES, nums=inputs["nums"].astype(np.float32))["tags_class"]
    assert [list(row) for row in (tags == "")] == padding.tolist()


def test_fused_kernels_fire_inside_a_graph():
    """conv+maxpool fuses, and relu -> maxpool runs as maxpool -> relu, in bound chains and in a
    chain that merges (the merge itself stays where it is)."""
    net = specc.loads(CASES["concat of images along channels, branches of different depth"][0], "g.nn")
    planned = [[type(layer).__name__ if isinstance(layer, fused.ConvMaxPool) else layer.kind for layer in step.layers]
               for step in plan(net.model)]
    assert planned == [["ConvMaxPool", "relu"], ["ConvMaxPool", "concat", "conv"]]
    net = specc.loads(CASES["residual block (fan-out, add, images)"][0], "g.nn")
    assert [layer.kind for layer in plan(net.model)[1].layers] == [
        "conv", "relu", "conv", "add", "maxpool", "relu", "flatten", "dense", "softmax"]


def test_each_value_is_freed_after_its_last_use():
    """z is read by the first chain and merged by the second: it is kept until the second has run."""
    net = specc.loads(CASES["two inputs: a gate (multiply) and a concat of vectors"][0], "g.nn")
    assert [set(step.frees) for step in plan(net.model)] == [set(), {"x", "z", "g"}]
