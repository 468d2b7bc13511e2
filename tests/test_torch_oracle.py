"""Backward passes against PyTorch autograd (CPU): the same weights and inputs, in float32.

Each case builds `x -> CHAIN` in specc and writes the same network by hand in PyTorch, from
the case's own arguments (not from specc's parsed attributes), so a wrong shape rule or pad
shows up as well as a wrong backward. Both run forward, then backward from one random upstream
gradient dy (PyTorch: `(y * dy).sum().backward()`), and the output, the input's gradient and
every weight's gradient must agree to 1e-4, relative to the largest entry of the PyTorch tensor.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
from torch.func import functional_call  # noqa: E402

import specc  # noqa: E402
from specc.runtime.interpreter import backward_layers, run_layers  # noqa: E402
from specc.runtime.losses import cross_entropy, mse  # noqa: E402

TOLERANCE = 1e-4  # |a - b|_max / max(|b|_max, 1e-6), per tensor, in float32
BATCH = 3


def assert_close(actual, expected, what: str) -> None:
    """specc's `actual` against PyTorch's `expected`, norm-relative, shape and dtype included."""
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert actual.dtype == np.float32, (what, actual.dtype)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-6)
    diff = float(np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max(initial=0.0))
    assert diff / scale <= TOLERANCE, f"{what}: max |specc - torch| = {diff:.3g}, relative {diff / scale:.3g}"


# ---------------------------------------------------------------------------------------------
# PyTorch equivalents that need more than one call


def torch_rnn(x, w, *, hidden: int, layers: int = 1, bidirectional: bool = False,
              activation: str = "tanh", bias: bool = True):
    """torch.nn.RNN(batch_first=True) run on specc's weights of one rnn layer (local names).

    specc stacked layer k, direction d: W (dirs, H, F), R (dirs, H, H), b (dirs, H) ->
    weight_ih_l{k-1}{_reverse} = W[d], weight_hh = R[d], bias_ih = b[d], bias_hh = 0.
    The specc tensors are the leaves, so their gradients land in specc's layout.
    """
    dirs = 2 if bidirectional else 1
    module = torch.nn.RNN(x.shape[-1], hidden, num_layers=layers, nonlinearity=activation, bias=bias,
                          batch_first=True, bidirectional=bidirectional)
    params = {}
    for k in range(1, layers + 1):
        for d in range(dirs):
            suffix = f"_l{k - 1}" + ("_reverse" if d == 1 else "")
            params["weight_ih" + suffix] = w[f"layer{k}.W"][d]
            params["weight_hh" + suffix] = w[f"layer{k}.R"][d]
            if bias:
                params["bias_ih" + suffix] = w[f"layer{k}.b"][d]
                params["bias_hh" + suffix] = torch.zeros(hidden)  # specc has no recurrent bias
    assert set(params) == {name for name, _ in module.named_parameters()}
    return functional_call(module, params, (x,))[0]


def torch_jordan(x, w, *, layers: int = 1, bidirectional: bool = False, activation: str = "tanh",
                 bias: bool = True):
    """A hand-written Jordan loop in torch (the issue's definition, independent of specc's code):
    h_t = f(W x_t + U y_{t-1} + b), y_t = f(V h_t + c), y_0 = 0, per direction, joined per step."""
    f = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
    for k in range(1, layers + 1):
        joined = []
        for d in range(2 if bidirectional else 1):
            W, U, V = (w[f"layer{k}.{name}"][d] for name in "WUV")
            b = w[f"layer{k}.b"][d] if bias else 0
            c = w[f"layer{k}.c"][d] if bias else 0
            y, outputs = torch.zeros(x.shape[0], V.shape[0]), {}
            for t in (range(x.shape[1] - 1, -1, -1) if d == 1 else range(x.shape[1])):
                h = f(x[:, t] @ W.T + y @ U.T + b)
                y = outputs[t] = f(h @ V.T + c)
            joined.append(torch.stack([outputs[t] for t in range(x.shape[1])], dim=1))
        x = torch.cat(joined, dim=-1)
    return x


def jordan(**options):
    """The torch side of a case whose chain is one Jordan rnn layer."""
    return lambda x, w: torch_jordan(x, w[0], **options)


def rnn(**options):
    """The torch side of a case whose chain is one rnn layer."""
    return lambda x, w: torch_rnn(x, w[0], **options)


def conv(**options):
    """The torch side of a case whose chain is one conv layer; `pad` is F.pad's (l, r, t, b)."""
    pad = options.pop("pad", None)
    return lambda x, w: F.conv2d(F.pad(x, pad) if pad else x, w[0]["weight"], w[0].get("bias"), **options)


def dense(x, w):
    return F.linear(x, w[0]["weight"], w[0].get("bias"))


# ---------------------------------------------------------------------------------------------
# the cases


def make_input(values: str, shape, rng) -> np.ndarray:
    if values == "normal":
        x = rng.standard_normal(shape)
    elif values == "integers":  # -1, 0, 1: most pooling windows hold a tied maximum
        x = rng.integers(-1, 2, shape)
    elif values == "negative":  # mostly below zero: relu gives windows of tied zeros
        x = rng.standard_normal(shape) - 1.5
    else:
        raise ValueError(values)
    return x.astype(np.float32)


def case(chain: str, input: str, torch_fn, *, values: str = "normal", steps: int = 4, xfail: str | None = None):
    """One row: `x -> chain` on `input`, its PyTorch twin `torch_fn(x, w)` (w: per layer of the
    chain, its weights by local name, e.g. w[0]['weight']), the kind of input values, and the
    sequence length."""
    name = f"{chain} | {input}" + (f" | T={steps}" if input.startswith("seq") else "") \
        + ("" if values == "normal" else f" | {values}")
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(chain, input, torch_fn, values, steps, id=name, marks=marks)


CASES = [
    # conv: F.conv2d, weights (F, C, kh, kw)
    case("conv 3x3 filters=4", "3x6x5", conv()),
    case("conv 3x3 filters=2 bias=false", "2x5x5", conv()),
    case("conv 3x3 filters=2 stride=2", "1x7x7", conv(stride=2)),
    case("conv 3x3 filters=3 stride=2 padding=1", "2x7x6", conv(stride=2, padding=1)),
    case("conv 3x3 filters=3 padding=same", "2x6x6", conv(padding=1)),
    case("conv 3x3 filters=2 padding=same stride=2 bias=false", "3x6x5", conv(stride=2, pad=(1, 1, 0, 1))),
    case("conv 2x2 filters=3 padding=same", "3x5x5", conv(pad=(0, 1, 0, 1))),
    case("conv 4x4 filters=2 stride=2 padding=same", "2x7x6", conv(stride=2, pad=(1, 1, 1, 2))),
    case("conv 2x3 filters=2 padding=same bias=false", "2x5x4", conv(pad=(1, 1, 0, 1))),
    case("conv 3x3 filters=2 padding=2x1", "2x4x5", conv(padding=(2, 1))),
    case("conv 1x1 filters=4", "3x3x4", conv()),
    # maxpool: F.max_pool2d
    case("maxpool 2", "2x4x6", lambda x, w: F.max_pool2d(x, 2)),
    case("maxpool 3 stride=1", "2x5x5", lambda x, w: F.max_pool2d(x, 3, 1)),
    case("maxpool 2 ceil", "2x5x5", lambda x, w: F.max_pool2d(x, 2, ceil_mode=True)),
    case("maxpool 3 stride=2 ceil", "1x6x6", lambda x, w: F.max_pool2d(x, 3, 2, ceil_mode=True)),
    case("maxpool 2x3 stride=1x2 ceil", "2x5x6", lambda x, w: F.max_pool2d(x, (2, 3), (1, 2), ceil_mode=True)),
    case("maxpool 2 floor", "1x5x5", lambda x, w: F.max_pool2d(x, 2)),
    # tied maxima: the gradient goes to the first maximum of each window, as in PyTorch. The
    # integer inputs probe the tie-break (choosing the last maximum fails them); after relu the
    # tied zeros pass no gradient back, so those two check only that ties do no harm
    case("maxpool 2", "2x4x6", lambda x, w: F.max_pool2d(x, 2), values="integers"),
    case("maxpool 3 stride=1", "2x5x5", lambda x, w: F.max_pool2d(x, 3, 1), values="integers"),
    case("maxpool 2 ceil", "2x5x5", lambda x, w: F.max_pool2d(x, 2, ceil_mode=True), values="integers"),
    case("maxpool 3 stride=2 ceil", "1x6x6", lambda x, w: F.max_pool2d(x, 3, 2, ceil_mode=True),
         values="integers"),
    case("relu -> maxpool 2", "2x4x4", lambda x, w: F.max_pool2d(F.relu(x), 2), values="negative"),
    case("relu -> maxpool 3 stride=1", "1x5x5", lambda x, w: F.max_pool2d(F.relu(x), 3, 1), values="negative"),
    # avgpool: a partial ceil window averages only the pixels it covers (count_include_pad=False)
    case("avgpool 2", "2x4x4", lambda x, w: F.avg_pool2d(x, 2)),
    case("avgpool 3 stride=1", "1x5x5", lambda x, w: F.avg_pool2d(x, 3, 1)),
    case("avgpool 2 floor", "1x5x5", lambda x, w: F.avg_pool2d(x, 2)),
    case("avgpool 2 ceil", "2x5x5",
         lambda x, w: F.avg_pool2d(x, 2, ceil_mode=True, count_include_pad=False)),
    case("avgpool 3 stride=2 ceil", "1x6x6",
         lambda x, w: F.avg_pool2d(x, 3, 2, ceil_mode=True, count_include_pad=False)),
    case("avgpool 2x3 stride=2 ceil", "2x5x6",
         lambda x, w: F.avg_pool2d(x, (2, 3), 2, ceil_mode=True, count_include_pad=False)),
    # dense: F.linear, on vectors and per time step
    case("dense 4", "5", dense),
    case("dense 3 bias=false", "6", dense),
    case("dense 4", "seq 3", dense, steps=5),
    case("dense 2 bias=false", "seq 4", dense, steps=3),
    # activations and reshapes
    case("relu", "7", lambda x, w: F.relu(x)),
    case("sigmoid", "seq 3", lambda x, w: torch.sigmoid(x)),
    case("tanh", "2x3x3", lambda x, w: torch.tanh(x)),
    case("softmax", "5", lambda x, w: F.softmax(x, dim=-1)),
    case("softmax", "seq 4", lambda x, w: F.softmax(x, dim=-1)),
    case("flatten", "2x3x3", lambda x, w: x.flatten(1)),
    case("last", "seq 3", lambda x, w: x[:, -1, :], steps=5),
    # rnn: torch.nn.RNN(batch_first=True)
    case("rnn elman hidden=4", "seq 3", rnn(hidden=4), steps=5),
    case("rnn elman hidden=4 activation=relu", "seq 3", rnn(hidden=4, activation="relu"), steps=5),
    case("rnn elman hidden=3 bias=false", "seq 2", rnn(hidden=3, bias=False), steps=5),
    case("rnn elman hidden=3 activation=relu bias=false", "seq 2",
         rnn(hidden=3, activation="relu", bias=False), steps=5),
    case("rnn elman hidden=4 bidirectional", "seq 3", rnn(hidden=4, bidirectional=True), steps=5),
    case("rnn elman hidden=3 bidirectional activation=relu", "seq 3",
         rnn(hidden=3, bidirectional=True, activation="relu"), steps=5),
    case("rnn elman hidden=3 bidirectional bias=false", "seq 2",
         rnn(hidden=3, bidirectional=True, bias=False), steps=4),
    case("rnn elman hidden=3 layers=2", "seq 2", rnn(hidden=3, layers=2), steps=5),
    case("rnn elman hidden=3 layers=3 activation=relu", "seq 2",
         rnn(hidden=3, layers=3, activation="relu"), steps=5),
    case("rnn elman hidden=3 layers=3 bias=false", "seq 4", rnn(hidden=3, layers=3, bias=False), steps=4),
    case("rnn elman hidden=3 layers=2 bidirectional", "seq 2",
         rnn(hidden=3, layers=2, bidirectional=True), steps=5),
    case("rnn elman hidden=2 layers=3 bidirectional activation=relu bias=false", "seq 3",
         rnn(hidden=2, layers=3, bidirectional=True, activation="relu", bias=False), steps=4),
    case("rnn elman hidden=4 bidirectional layers=2", "seq 3",
         rnn(hidden=4, layers=2, bidirectional=True), steps=1),
    case("rnn elman hidden=4 activation=relu", "seq 3", rnn(hidden=4, activation="relu"), steps=1),
    case("rnn elman hidden=4 bidirectional", "seq 3", rnn(hidden=4, bidirectional=True), steps=20),
    case("rnn elman hidden=4 layers=2 activation=relu", "seq 3",
         rnn(hidden=4, layers=2, activation="relu"), steps=20),
    # rnn jordan: a hand-written torch loop
    case("rnn jordan hidden=4", "seq 3", jordan(), steps=5),
    case("rnn jordan hidden=4 out=2 activation=relu", "seq 3", jordan(activation="relu"), steps=5),
    case("rnn jordan hidden=3 out=2 bidirectional", "seq 2", jordan(bidirectional=True), steps=6),
    case("rnn jordan hidden=3 layers=2 bidirectional bias=false activation=sigmoid", "seq 2",
         jordan(layers=2, bidirectional=True, bias=False, activation="sigmoid"), steps=4),
    case("rnn jordan hidden=4 out=3", "seq 3", jordan(), steps=20),
    # whole chains
    case("conv 3x3 filters=4 padding=1 -> relu -> maxpool 2 -> flatten -> dense 3", "2x6x6",
         lambda x, w: F.linear(F.max_pool2d(F.relu(F.conv2d(x, w[0]["weight"], w[0]["bias"], padding=1)), 2)
                               .flatten(1), w[4]["weight"], w[4]["bias"])),
    case("rnn elman hidden=5 bidirectional -> last -> dense 3", "seq 4",
         lambda x, w: F.linear(torch_rnn(x, w[0], hidden=5, bidirectional=True)[:, -1, :],
                               w[2]["weight"], w[2]["bias"]), steps=6),
]


@pytest.mark.parametrize("chain, input, torch_fn, values, steps", CASES)
def test_backward_matches_torch_autograd(chain, input, torch_fn, values, steps):
    net = specc.loads(f"input x: {input}\nx -> {chain}\n", "t.nn", seed=3)
    rng = np.random.default_rng(11)
    weights = {}
    for name, value in net.weights.items():
        assert value.dtype == np.float32, name
        if name.endswith((".bias", ".b")):  # biases start at zero; noise exercises them
            value = value + rng.normal(0, 0.1, value.shape).astype(np.float32)
        weights[name] = value
    shape = [BATCH if d == "N" else steps if d == "T" else d for d in net.model.inputs[0].shape]
    x = make_input(values, shape, rng)
    layers = net.model.layers

    caches: list = []
    y = run_layers(layers, weights, x, caches)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, grads = backward_layers(layers, weights, caches, dy)

    x_t = torch.tensor(x, requires_grad=True)
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in weights.items()}
    per_layer = [{w.name: leaves[layer.weight_name(w.name)] for w in layer.weights} for layer in layers]
    y_t = torch_fn(x_t, per_layer)
    (y_t * torch.from_numpy(dy)).sum().backward()

    assert_close(y, y_t, "output")
    assert_close(dx, x_t.grad, "input gradient")
    assert set(grads) == set(weights)
    for name, leaf in leaves.items():
        assert leaf.grad is not None, name
        assert_close(grads[name], leaf.grad, name)


# ---------------------------------------------------------------------------------------------
# losses: value and gradient with respect to the logits / outputs


def _per_sample_cross_entropy(rng):
    logits = rng.standard_normal((6, 5)).astype(np.float32) * 3
    targets = rng.integers(0, 5, 6)
    return (cross_entropy, (logits, targets)), \
        lambda lt: F.cross_entropy(lt, torch.from_numpy(targets))


def _huge_logits_cross_entropy(rng):
    logits = np.array([[1e4, 0.0, -1e4], [-50.0, 80.0, 3.0]], dtype=np.float32)
    targets = np.array([1, 1])
    return (cross_entropy, (logits, targets)), \
        lambda lt: F.cross_entropy(lt, torch.from_numpy(targets))


def _masked(rng):
    logits = rng.standard_normal((3, 6, 4)).astype(np.float32) * 2
    targets = rng.integers(0, 4, (3, 6))
    mask = np.arange(6)[None, :] < np.array([6, 2, 4])[:, None]
    logits[~mask] = 1e3  # whatever stands in the padding counts for nothing
    return logits, targets, mask


def _per_step_cross_entropy_sum(rng):
    logits, targets, mask = _masked(rng)
    m = torch.from_numpy(mask)
    return (cross_entropy, (logits, targets, mask)), \
        lambda lt: F.cross_entropy(lt[m], torch.from_numpy(targets)[m], reduction="sum") / m.sum()


def _per_step_cross_entropy_ignore_index(rng):
    logits, targets, mask = _masked(rng)
    ignored = torch.from_numpy(np.where(mask, targets, -100))
    return (cross_entropy, (logits, targets, mask)), \
        lambda lt: F.cross_entropy(lt.permute(0, 2, 1), ignored, ignore_index=-100)


def _per_step_cross_entropy_unmasked(rng):
    logits = rng.standard_normal((2, 5, 3)).astype(np.float32)
    targets = rng.integers(0, 3, (2, 5))
    return (cross_entropy, (logits, targets)), \
        lambda lt: F.cross_entropy(lt.reshape(-1, 3), torch.from_numpy(targets).reshape(-1))


def _mse(rng):
    outputs, targets = rng.standard_normal((2, 4, 3)).astype(np.float32)
    return (mse, (outputs, targets)), lambda ot: F.mse_loss(ot, torch.from_numpy(targets))


def _mse_per_step(rng):
    outputs, targets = rng.standard_normal((2, 3, 5, 2)).astype(np.float32)
    return (mse, (outputs, targets)), lambda ot: F.mse_loss(ot, torch.from_numpy(targets))


@pytest.mark.parametrize("make", [
    _per_sample_cross_entropy, _huge_logits_cross_entropy, _per_step_cross_entropy_unmasked,
    _per_step_cross_entropy_sum, _per_step_cross_entropy_ignore_index, _mse, _mse_per_step,
], ids=lambda make: make.__name__.strip("_"))
def test_loss_matches_torch(make, rng):
    (loss_fn, args), torch_loss = make(rng)
    loss, grad = loss_fn(*args)
    leaf = torch.tensor(args[0], requires_grad=True)
    expected = torch_loss(leaf)
    expected.backward()
    assert_close(np.float32(loss), expected, "loss")
    assert_close(grad, leaf.grad, "gradient")
