"""batchnorm: PyTorch's BatchNorm1d/2d in training (batch statistics, running ones updated with
the unbiased variance) and in inference (the running ones); padding never in the statistics;
gradients against finite differences and autograd; running statistics in checkpoints, resumed
bit for bit; the export folded into a conv or dense before it, else BatchNormalization or
Mul/Add; a training batch with one value per channel refused at the layer."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import specc
from specc.cli import main
from specc.runtime.interpreter import backward_layers, run_layers
from specc.runtime.onnx_runner import OnnxModel
from specc.runtime.train import Interrupted

from . import other_runtimes
from .test_train import InterruptAt


def network(input: str, chain: str, seed: int = 0) -> specc.Network:
    """`x -> chain` with every weight drawn at random (variances positive), so that inference
    reads running statistics that are not 0 and 1."""
    net = specc.loads(f"input x: {input}\nx -> {chain}\n", "bn.nn", seed=seed)
    rng = np.random.default_rng(seed)
    for name, value in net.weights.items():
        value[...] = rng.uniform(0.5, 2.0, value.shape) if name.endswith("running_var") else \
            rng.standard_normal(value.shape)
    return net


def draw(shape, rng, dtype=np.float32) -> np.ndarray:
    return (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)


# ---- what check says ----

def test_check_counts_gamma_and_beta_as_parameters_and_the_running_statistics_as_buffers(tmp_path, capsys):
    path = tmp_path / "bn.nn"
    path.write_text("input x: 3x8x8\nx -> conv 3x3 filters=4 -> batchnorm -> relu -> globalpool -> dense 2\n")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\nbatchnorm momentum=0.1 eps=1e-05" + " " * 43 + "2  (N, 4, 6, 6)        8\n" in out
    assert "Total params: 130 (520 bytes as float32)\nBuffers: 8 (batchnorm's running means and variances: updated " \
           "in training, not by the optimizer; saved with the weights)\n" in out


# ---- training: against PyTorch, step after step ----

torch = pytest.importorskip("torch")


def torch_twin(net, layer_index: int, module):
    """`module` (torch BatchNorm) holding the specc layer's weight and bias as leaves."""
    layer = net.model.layers[layer_index]
    with torch.no_grad():
        module.weight.copy_(torch.tensor(net.weights[layer.weight_name("weight")]))
        module.bias.copy_(torch.tensor(net.weights[layer.weight_name("bias")]))
        module.running_mean.zero_()
        module.running_var.fill_(1)
    return layer


@pytest.mark.parametrize("input, shape, module, to_torch", [
    ("3x4x5", (6, 3, 4, 5), lambda: torch.nn.BatchNorm2d(3), lambda t: t),
    ("4", (5, 4), lambda: torch.nn.BatchNorm1d(4), lambda t: t),
    ("seq 3", (4, 6, 3), lambda: torch.nn.BatchNorm1d(3), lambda t: t.transpose(1, 2)),
    ("2x3x3", (1, 2, 3, 3), lambda: torch.nn.BatchNorm2d(2, momentum=0.3, eps=1e-3), lambda t: t),
])
def test_training_steps_match_pytorch_outputs_gradients_and_running_statistics(input, shape, module, to_torch):
    """Four training steps: outputs, every gradient and the running mean and (unbiased) variance
    after each. Batch 1 of 3x3 images holds 9 values per channel, which PyTorch takes too."""
    torch_bn = module()
    call = f"batchnorm momentum={torch_bn.momentum} eps={torch_bn.eps}"
    net = network(input, call)
    layer = torch_twin(net, 0, torch_bn)
    for name in ("running_mean", "running_var"):
        net.weights[layer.weight_name(name)][...] = [0, 1][name == "running_var"]
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, caches = draw(shape, rng), []
        y = run_layers(net.model.layers, net.weights, x, caches)
        dy = draw(y.shape, rng)
        dx, grads = backward_layers(net.model.layers, net.weights, caches, dy)
        xt = torch.tensor(x, requires_grad=True)
        torch_bn.zero_grad()
        yt = to_torch(torch_bn(to_torch(xt)))
        (yt * torch.tensor(dy)).sum().backward()
        for mine, theirs in ((y, yt), (dx, xt.grad), (grads[layer.weight_name("weight")], torch_bn.weight.grad),
                             (grads[layer.weight_name("bias")], torch_bn.bias.grad),
                             (net.weights[layer.weight_name("running_mean")], torch_bn.running_mean),
                             (net.weights[layer.weight_name("running_var")], torch_bn.running_var)):
            np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-5, atol=1e-5)
    torch_bn.eval()
    x = draw(shape, rng)
    np.testing.assert_allclose(run_layers(net.model.layers, net.weights, x),
                               to_torch(torch_bn(to_torch(torch.tensor(x)))).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_padding_of_sentences_never_enters_the_statistics():
    """Sentences of 5, 2 and 3 words: the outputs and statistics are BatchNorm1d's over the ten
    words alone, the outputs are zero on padding, and whatever the padding holds changes nothing."""
    net = network("seq 3", "batchnorm")
    layer = torch_twin(net, 0, torch_bn := torch.nn.BatchNorm1d(3))
    for name, value in (("running_mean", 0), ("running_var", 1)):
        net.weights[layer.weight_name(name)][...] = value
    rng = np.random.default_rng(2)
    mask = (np.arange(5)[None, :] < np.array([5, 2, 3])[:, None]).astype(np.float32)
    x, dy = draw((3, 5, 3), rng), draw((3, 5, 3), rng) * mask[..., None]
    before = {k: v.copy() for k, v in net.weights.items()}
    caches: list = []
    y = run_layers(net.model.layers, net.weights, x, caches, mask=mask)
    dx, grads = backward_layers(net.model.layers, net.weights, caches, dy, mask=mask)
    words = mask.astype(bool)
    xt = torch.tensor(x[words], requires_grad=True)
    yt = torch_bn(xt)
    (yt * torch.tensor(dy[words])).sum().backward()
    np.testing.assert_allclose(y[words], yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx[words], xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert not y[~words].any() and not dx[~words].any()
    np.testing.assert_allclose(net.weights[layer.weight_name("running_var")], torch_bn.running_var.numpy(), rtol=1e-6)
    np.testing.assert_allclose(grads[layer.weight_name("weight")], torch_bn.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    after = {k: v.copy() for k, v in net.weights.items()}
    net.weights.update({k: v.copy() for k, v in before.items()})
    x[~words] = 1e3
    np.testing.assert_array_equal(run_layers(net.model.layers, net.weights, x, [], mask=mask), y)
    assert all(np.array_equal(after[k], net.weights[k]) for k in after)


def test_after_last_a_sentence_is_one_vector_and_padding_is_no_longer_a_mask(tmp_path):
    """`last` turns each sentence into one vector while the chain's padding mask goes on with it:
    batchnorm after it normalises the sentence vectors as BatchNorm1d does, in training and in
    the verified export (it failed to reshape them; found by tests/spec_fuzzer.py)."""
    net = network("seq 3", "rnn hidden=3 -> last -> batchnorm -> dense 2")
    layers = net.model.layers
    cut = [layer.kind for layer in layers].index("batchnorm")
    torch_twin(net, cut, torch_bn := torch.nn.BatchNorm1d(3))
    rng = np.random.default_rng(5)
    mask = (np.arange(4)[None, :] < np.array([4, 1, 3])[:, None]).astype(np.float32)
    x = draw((3, 4, 3), rng) * mask[..., None]
    vectors = run_layers(layers[:cut], net.weights, x, mask=mask)
    trained = run_layers(layers[:cut + 1], net.weights, x, [], mask=mask)
    np.testing.assert_allclose(trained, torch_bn(torch.tensor(vectors)).detach().numpy(), rtol=1e-5, atol=1e-5)
    words = specc.loads("input x: seq token\noutput y: a | b\n"
                        "x -> onehot vocab=[fly, to, boston] -> rnn hidden=3 -> last -> batchnorm -> dense -> softmax -> y\n",
                        "last.nn")
    assert words.export(tmp_path / "last.onnx").ok


# ---- training: against finite differences ----

@pytest.mark.parametrize("input, chain, shape, masked", [
    ("2x3x4", "batchnorm", (3, 2, 3, 4), False),
    ("5", "dense 4 -> batchnorm momentum=0.5 -> tanh", (3, 5), False),
    ("seq 3", "batchnorm eps=0.01 -> dense 2", (3, 4, 3), False),
    ("seq 3", "batchnorm", (3, 4, 3), True),
    ("2x4x4", "conv 3x3 filters=3 -> batchnorm -> relu -> globalpool max -> batchnorm", (4, 2, 4, 4), False),
])
def test_training_gradients_match_finite_differences(input, chain, shape, masked):
    """float64, every input and weight entry, the loss sum(y * r) taken in training mode."""
    net = network(input, chain)
    weights = {k: v.astype(np.float64) for k, v in net.weights.items()}
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    mask = (np.arange(4)[None, :] < np.array([4, 1, 3])[:, None]).astype(np.float64) if masked else None
    layers, caches = net.model.layers, []
    r = rng.standard_normal(run_layers(layers, weights, x, caches, mask=mask).shape)
    dx, grads = backward_layers(layers, weights, caches, r, mask=mask)

    def loss() -> float:
        return float((run_layers(layers, weights, x, [], mask=mask) * r).sum())

    assert set(grads) == {layer.weight_name(w.name) for layer in layers for w in layer.weights if not w.buffer}
    for array, analytic in [(x, dx)] + [(weights[name], grads[name]) for name in grads]:
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + 1e-6
            up = loss()
            array[index] = saved - 1e-6
            numeric[index] = (up - loss()) / 2e-6
            array[index] = saved
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


# ---- inference, the export and its folding ----

@pytest.mark.parametrize("input, chain, expect_ops", [
    ("3x6x6", "conv 3x3 filters=4 -> batchnorm -> relu", ["Conv", "Relu"]),
    ("3x6x6", "conv 3x3 filters=4 bias=false -> batchnorm momentum=0.5 eps=0.001", ["Conv"]),
    ("6", "dense 4 -> batchnorm -> dense 3 bias=false -> batchnorm", ["Gemm", "Gemm"]),
    ("seq 3", "dense 4 -> batchnorm", ["Transpose", "MatMul", "Add"]),
])
def test_a_batchnorm_after_a_conv_or_dense_is_folded_into_it(input, chain, expect_ops, tmp_path):
    """The folded export equals the network run in NumPy and the same network exported unfolded
    (a `linear` between the two layers stops the folding), <= 1e-5, with no BatchNormalization."""
    net = network(input, chain)
    unfolded = network(input, chain.replace("-> batchnorm", "-> linear -> batchnorm"))
    folded_proto, unfolded_proto = net.to_onnx(), unfolded.to_onnx()
    assert [n.op_type for n in folded_proto.graph.node if n.op_type != "Constant"] == expect_ops
    folded = {p.key: p.value for p in folded_proto.metadata_props}["specc.folded"].split()
    bn = [layer for layer in net.model.layers if layer.kind == "batchnorm"]
    assert folded == [layer.weight_name(w) for layer in bn for w in ("weight", "bias", "running_mean", "running_var")]
    rng = np.random.default_rng(4)
    for batch in (1, 5):
        x = draw([batch if d == "N" else 3 if d == "T" else d for d in net.model.inputs[0].shape], rng)
        want = net.run(x=x)["output"]
        for proto in (folded_proto, unfolded_proto):
            np.testing.assert_allclose(OnnxModel(proto.SerializeToString()).run({"x": x})["output"], want,
                                       rtol=0, atol=1e-5)
        assert np.array_equal(unfolded.run(x=x)["output"], want)
    report = net.export(tmp_path / "model.onnx")
    assert report.ok and report.max_abs_diff <= 1e-5


UNFOLDED = {  # a batchnorm after something else than a conv or dense, in each form
    "image": ("3x6x6", "conv 3x3 filters=4 -> relu -> batchnorm -> flatten -> dense 2", "BatchNormalization"),
    "vector": ("5", "batchnorm -> dense 3 -> sigmoid -> batchnorm", "Mul"),
    "sequence": ("seq 3", "tanh -> batchnorm -> rnn elman 4 -> batchnorm", "Mul"),
}


@pytest.mark.parametrize("form", UNFOLDED)
def test_elsewhere_the_export_is_batchnormalization_on_images_and_mul_add_on_features(form, tmp_path):
    input, chain, op = UNFOLDED[form]
    net = network(input, chain)
    ops = [n.op_type for n in net.to_onnx().graph.node]
    assert op in ops and ("BatchNormalization" in ops) == (form == "image")
    report = net.export(tmp_path / "model.onnx")
    assert report.ok and report.max_abs_diff <= 1e-5


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
@pytest.mark.parametrize("form", UNFOLDED)
def test_the_export_runs_in_other_runtimes(runtime, form, tmp_path):
    input, chain, _ = UNFOLDED[form]
    net = network(input, chain)
    onnx.save(net.to_onnx(), tmp_path / "bn.onnx")
    run, rng = other_runtimes.load(runtime, str(tmp_path / "bn.onnx")), np.random.default_rng(5)
    for batch in (1, 4):
        x = draw([batch if d == "N" else 5 if d == "T" else d for d in net.model.inputs[0].shape], rng)
        # absolute up to 1, relative above (float32 keeps about 7 digits), as specc compile compares
        np.testing.assert_allclose(run({"x": x})["output"], net.run(x=x)["output"], rtol=1e-6, atol=1e-5)


# ---- training runs: checkpoints, resume, the batch of one ----

SPEC = """input x: 6
output label: a | b | c
x -> dense 8 -> batchnorm -> relu -> dense -> softmax
train
  data "{data}"
  optimizer sgd lr=0.1
  epochs 3
  batch {batch}
"""


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 6)).astype(np.float32)
    path = tmp_path / "three.npz"
    np.savez(path, x=x, y=np.argmax(x[:, :3], axis=1))
    return path


def test_running_statistics_are_saved_and_a_resumed_run_ends_bit_for_bit(tmp_path, data):
    spec = SPEC.format(data=data, batch=16)
    straight = specc.loads(spec, "bn.nn")
    straight.train(out=tmp_path / "straight")
    mean = straight.weights["batchnorm@3.running_mean"]
    assert mean.any() and not np.array_equal(straight.weights["batchnorm@3.running_var"], np.ones(8))

    stopped = specc.loads(spec, "bn.nn")
    with pytest.raises(Interrupted):
        stopped.train(out=tmp_path / "stopped", progress=InterruptAt(epoch=1, batch=2))
    resumed = specc.loads(spec, "bn.nn")
    resumed.train(out=tmp_path / "stopped", resume=tmp_path / "stopped" / "checkpoint.npz")
    assert all(np.array_equal(straight.weights[k], resumed.weights[k]) for k in straight.weights)

    loaded = specc.loads(spec, "bn.nn")
    loaded.load_weights(tmp_path / "straight" / "checkpoint.npz")
    assert all(np.array_equal(straight.weights[k], loaded.weights[k]) for k in straight.weights)
    x = np.random.default_rng(1).standard_normal((1, 6)).astype(np.float32)  # inference takes batch 1
    onnx_out = specc.load_onnx(tmp_path / "straight" / "bn.onnx").run(x=x)["label"]
    np.testing.assert_allclose(onnx_out, loaded.run(x=x)["label"], rtol=0, atol=1e-5)


def test_a_checkpoint_s_running_statistics_are_checked_like_weights(tmp_path, data, capsys):
    spec_path = tmp_path / "bn.nn"
    spec_path.write_text(SPEC.format(data=data, batch=16).replace("epochs 3", "epochs 1"))
    assert main(["train", str(spec_path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    with np.load(tmp_path / "run" / "checkpoint.npz") as archive:
        arrays = dict(archive)
    names = json.loads(str(arrays["meta"]))["weight_names"]
    shape = arrays[f"weights/{names.index('batchnorm@3.running_var')}"].shape
    arrays[f"weights/{names.index('batchnorm@3.running_var')}"] = np.ones(9, np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    (tmp_path / "x.json").write_text("[1, 2, 3, 4, 5, 6]")
    capsys.readouterr()
    assert main(["run", str(spec_path), "--weights", str(tmp_path / "bad.npz"), "--input", f"x={tmp_path / 'x.json'}"]) == 2
    assert f"checkpoint {tmp_path / 'bad.npz'} has buffer batchnorm@3.running_var ('weights/" in capsys.readouterr().err
    arrays[f"weights/{names.index('batchnorm@3.running_var')}"] = np.full(shape, -0.5, np.float32)
    np.savez(tmp_path / "negative.npz", **arrays)
    assert main(["run", str(spec_path), "--weights", str(tmp_path / "negative.npz"), "--input",
                 f"x={tmp_path / 'x.json'}"]) == 2
    assert (f"checkpoint {tmp_path / 'negative.npz'} has buffer batchnorm@3.running_var with {shape[0]} negative "
            "values, which it cannot hold (a variance)") in capsys.readouterr().err


@pytest.mark.parametrize("batch, received, hint", [
    (1, "batches of 1 sample (72 training samples in batches of 1)",
     "train with batches of 2 samples or more ('batch 32' in the train section)"),
    (71, "the last batch of each epoch holds 1 sample (72 training samples in batches of 71)",
     "choose a batch size that leaves 2 or more samples in the last batch, like batch 72"),
])
def test_a_training_batch_of_one_value_per_feature_is_refused_at_the_layer(batch, received, hint, tmp_path, data,
                                                                            capsys):
    path = tmp_path / "bn.nn"
    path.write_text(SPEC.format(data=data, batch=batch))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[:6] == [
        f"{path}:3:17: error: batchnorm needs more than 1 value per feature in training, to take the batch's variance",
        "    3 | x -> dense 8 -> batchnorm -> relu -> dense -> softmax",
        "      |                 ^^^^^^^^^",
        "  expected: at least 2 values per feature in every training batch",
        f"  received: {received}",
        f"  hint: {hint}",
    ]
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_training_batch_of_one_word_is_refused_at_the_layer():
    """Sentences are counted by their words: one sentence of one word leaves one value."""
    net = network("seq 3", "dense 2 -> batchnorm")
    x, mask = draw((1, 4, 3), np.random.default_rng(6)), np.array([[1, 0, 0, 0]], np.float32)
    with pytest.raises(specc.SpecError) as info:
        run_layers(net.model.layers, net.weights, x, [], mask=mask)
    assert str(info.value).splitlines()[:3] == [
        "bn.nn:2:17: error: batchnorm needs more than 1 value per feature in training, to take the batch's variance",
        "    2 | x -> dense 2 -> batchnorm", "      |                 ^^^^^^^^^"]
    assert "  received: a batch of 1 word per feature" in str(info.value).splitlines()
    assert run_layers(net.model.layers, net.weights, x, mask=mask).shape == (1, 4, 2)  # inference takes it
