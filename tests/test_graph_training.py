"""Training a graph (issue 9): several inputs and outputs from one .npz file, a loss per output
with its weight, per-output scores, and the mistakes a user can make on the way."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

import specc
from specc.cli import main
from specc.runtime.interpreter import backward_graph, chain_masks, run_graph
from specc.runtime.progress import Reporter
from specc.runtime.train import graph_objective

TWO_INPUTS = """input x: 4
input extra: 2
output label: A | B
h = x -> dense 8 -> relu
h -> concat extra -> dense 2 -> softmax -> label
train
  data "two.npz"
  epochs 3
  batch 16
"""

TWO_OUTPUTS = """input x: 4
output label: A | B
output size
h = x -> dense 8 -> relu
h -> dense 2 -> softmax -> label
h -> dense 1 -> size
train
  data "two.npz"
  loss label cross_entropy
  loss size mse weight=0.5
  epochs 3
  batch 16
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder holding two.npz: x (200, 4), extra (200, 2), label (A or B), size (200, 1), and
    a test split of 40 rows for each (<name>_test)."""
    rng = np.random.default_rng(0)
    x, extra = rng.standard_normal((240, 4)).astype(np.float32), rng.standard_normal((240, 2)).astype(np.float32)
    label = np.where(x[:, 0] + extra[:, 0] > 0, "A", "B")
    size = 2 * x[:, 1:2]
    arrays = {"x": x, "extra": extra, "label": label, "size": size}
    np.savez(tmp_path / "two.npz", **{k: v[:200] for k, v in arrays.items()},
             **{f"{k}_test": v[200:] for k, v in arrays.items()})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def train(folder, text: str, *flags: str) -> int:
    (folder / "g.nn").write_text(text)
    return main(["train", "g.nn", "--out", "run", *flags])


def test_a_two_input_spec_trains_from_npz_and_exports_a_verified_model(folder, capsys):
    assert train(folder, TWO_INPUTS) == 0
    out = capsys.readouterr().out
    assert "training g: 180 train, 20 validation" in out and "epoch 3/3" in out
    assert "held-out accuracy in onnxruntime (test split, 40 samples): " in out
    model = specc.load_onnx(folder / "run" / "g.onnx")
    assert float(model.metadata["specc.max_diff"]) <= 1e-5
    got = model.run(x=np.zeros((2, 4), np.float32), extra=np.zeros((2, 2), np.float32))
    assert got["label"].shape == (2, 2) and set(got["label_class"]) <= {"A", "B"}


def test_two_outputs_train_with_a_weighted_loss_each_and_are_scored_each(folder, capsys):
    assert train(folder, TWO_OUTPUTS) == 0
    out = capsys.readouterr().out
    assert "  loss       label cross_entropy, size mse weight=0.5\n" in out
    assert "label val " in out and "size val loss " in out
    assert "held-out scores in onnxruntime (test split, 40 samples):\n  label: accuracy " in out
    assert "\n  size: mean squared error " in out
    history = json.loads((folder / "run" / "history.json").read_text())
    last = history[-1]
    assert set(last["outputs"]) == {"label", "size"}
    parts = last["outputs"]
    # the total is the weighted sum of the outputs' losses
    assert last["val_loss"] == pytest.approx(parts["label"]["val_loss"] + 0.5 * parts["size"]["val_loss"])
    assert parts["size"]["train_accuracy"] is None and 0 <= parts["label"]["val_accuracy"] <= 1
    assert history[0]["loss"] > last["loss"]


def test_a_two_output_run_stopped_mid_epoch_resumes_to_the_same_weights(folder, capsys, monkeypatch):
    assert train(folder, TWO_OUTPUTS) == 0
    straight = dict(np.load(folder / "run" / "checkpoint.npz"))
    history = json.loads((folder / "run" / "history.json").read_text())

    def batch(self, epoch: int, batch: int) -> None:
        if (epoch, batch) == (1, 3):
            os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as patched:
        patched.setattr(Reporter, "batch", batch)
        assert main(["train", "g.nn", "--out", "again"]) == 130
    assert main(["train", "g.nn", "--resume", "again/checkpoint.npz"]) == 0
    resumed = dict(np.load(folder / "again" / "checkpoint.npz"))
    assert all(np.array_equal(straight[key], resumed[key]) for key in straight if key != "meta")
    again = json.loads((folder / "again" / "history.json").read_text())
    assert [r["outputs"] for r in again] == [r["outputs"] for r in history]


def test_the_total_loss_gradient_matches_torch():
    """The objective of two outputs: cross-entropy on label's logits (softmax left out) plus
    0.5 times the mean squared error of size, backward through the shared trunk."""
    torch = pytest.importorskip("torch")
    net = specc.loads(TWO_OUTPUTS.split("train")[0], "g.nn", seed=1)
    objective = graph_objective(net.model, {"label": ("cross_entropy", 1.0), "size": ("mse", 0.5)})
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    targets = {"label": np.array([0, 1, 1, 0, 1]), "size": rng.standard_normal((5, 1)).astype(np.float32)}
    caches: list = []
    masks = chain_masks(objective.steps, {})
    outputs = run_graph(objective.steps, net.weights, {"x": x}, masks, caches)
    loss, output_grads, _, _ = objective.losses(outputs, targets, masks)
    _, grads = backward_graph(objective.steps, net.weights, caches, output_grads, masks)

    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in net.weights.items()}
    (trunk, head, size) = [layer for layer in net.model.layers if layer.weights]

    def linear(v, layer):
        return torch.nn.functional.linear(v, leaves[layer.weight_name("weight")], leaves[layer.weight_name("bias")])

    h = torch.relu(linear(torch.from_numpy(x), trunk))
    total = torch.nn.functional.cross_entropy(linear(h, head), torch.from_numpy(targets["label"])) \
        + 0.5 * torch.nn.functional.mse_loss(linear(h, size), torch.from_numpy(targets["size"]))
    total.backward()
    assert loss == pytest.approx(total.item(), rel=1e-6)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("lines, line, column, message, hint", [
    ("  loss labl cross_entropy\n", 9, 8, "loss: no output named 'labl'", "did you mean 'label'?"),
    ("  loss mse\n", 9, 3, "this spec has 2 outputs (label, size): each takes its own loss",
     "for example: loss label cross_entropy"),
    ("  loss size mse\n  loss size mse weight=2\n", 10, 3, "the loss of output size is given twice", "keep one"),
    ("  loss size hinge\n", 9, 13, "loss: 'kind' cannot be hinge", "cross_entropy or mse"),
    ("  loss size mse weight=0\n", 9, 24, "loss: 'weight' cannot be 0", None),
], ids=["misspelt-output", "one-loss-for-two-outputs", "output-twice", "unknown-kind", "zero-weight"])
def test_a_wrong_loss_line_is_a_located_mistake(folder, capsys, lines, line, column, message, hint):
    text = TWO_OUTPUTS.replace("  loss label cross_entropy\n  loss size mse weight=0.5\n", lines)
    assert train(folder, text) == 2
    err = capsys.readouterr().err
    assert f"g.nn:{line}:{column}: error: {message}" in err, err
    assert hint is None or f"hint: {hint}" in err
    assert "Traceback" not in err and not (folder / "run" / "checkpoint.npz").exists()


def test_outputs_without_a_loss_line_take_the_defaults(folder, capsys):
    text = TWO_OUTPUTS.replace("  loss label cross_entropy\n  loss size mse weight=0.5\n", "  epochs 1\n")
    assert train(folder, text.replace("  epochs 3\n", "")) == 0
    assert "  loss       label cross_entropy, size mse  (default)\n" in capsys.readouterr().out


@pytest.mark.parametrize("arrays, data, message", [
    ({"x": 4, "label": 1}, '"two.npz"', "two.npz has no array named 'extra'"),
    ({"x": 4, "extra": 2, "label": 1, "x_test": 4}, '"two.npz"',
     "two.npz has a test split for some arrays but not all: no extra_test, label_test"),
    ({"x": 4, "extra": 3, "label": 1}, '"two.npz"', "array 'extra' of two.npz has samples of shape (3,)"),
    ({"x": 4, "extra": 2, "label": 1}, "digits", "the built-in data set digits has one input and one output; "
                                                  "this spec has 2 inputs and 1 outputs"),
], ids=["missing-array", "partial-test-split", "wrong-shape", "built-in"])
def test_data_that_does_not_fit_several_inputs_is_named(folder, capsys, arrays, data, message):
    rng = np.random.default_rng(1)
    np.savez(folder / "two.npz", **{name: rng.integers(0, 2, (10, width)).astype(np.float32) if width > 1
                                    else rng.integers(0, 2, 10) for name, width in arrays.items()})
    assert train(folder, TWO_INPUTS.replace('"two.npz"', data)) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_the_residual_block_trains_on_digits(folder, capsys):
    """The issue's residual block, one input and one output: the built-in data serves it."""
    text = """input image: 1x8x8
output label: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9
h = image -> conv 3x3 filters=8 padding=same -> relu
h -> conv 3x3 filters=8 padding=same -> relu -> conv 3x3 filters=8 padding=same -> add h -> relu
  -> maxpool 2 -> flatten -> dense -> softmax -> label
train
  data digits
  epochs 3
"""
    assert train(folder, text) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("held-out accuracy in onnxruntime (test split, 359 samples): ")[1].split("%")[0])
    assert accuracy > 70


def test_specc_check_finds_a_loss_line_naming_no_output(folder, capsys):
    (folder / "g.nn").write_text(TWO_OUTPUTS.replace("loss size mse", "loss sise mse"))
    assert main(["check", "g.nn"]) == 2
    err = capsys.readouterr().err
    assert "g.nn:10:8: error: loss: no output named 'sise'" in err and "hint: did you mean 'size'?" in err


def test_a_tagger_of_words_and_per_word_numbers_trains_from_npz(folder, capsys):
    """Words (N, T) padded with "", per-word numbers (N, T, 2) and tags (N, T), "" on padding."""
    rng = np.random.default_rng(3)
    words = np.array(["the", "cat", "sat", "dog"])[rng.integers(0, 4, (60, 5))]
    tags = np.array(["B", "I", "O"])[rng.integers(0, 3, (60, 5))]
    for row, length in enumerate(rng.integers(1, 6, 60)):
        words[row, length:] = tags[row, length:] = ""
    np.savez(folder / "tag.npz", words=words, nums=rng.standard_normal((60, 5, 2)).astype(np.float32), tags=tags)
    assert train(folder, """input words: seq token
input nums: seq 2
output tags: B | I | O
e = words -> onehot vocab=[the, cat, sat] -> dense 3
words -> onehot vocab=[the, cat, sat] -> concat e nums -> rnn 4 -> dense 3 -> softmax -> tags
train
  data "tag.npz"
  epochs 2
""") == 0
    out = capsys.readouterr().out
    assert "training g: 54 train, 6 validation" in out and " words/s " in out
    assert "held-out accuracy in onnxruntime (validation split, 6 sentences): " in out
    assert "held-out slot F1 in onnxruntime (conlleval): " in out


BRANCHES_OF_DIFFERENT_DEPTH = """input image: 1x6x6
output label: A | B
shallow = image -> conv 3x3 filters=2 padding=same
image -> conv 3x3 filters=3 padding=same -> relu -> conv 3x3 filters=3 padding=same -> concat shallow
  -> relu -> maxpool 2 -> flatten -> dense -> softmax -> label
train
  data "graphs.npz"
  epochs 2
  batch 16
"""

GATED_SEQUENCE = """input s: seq 3
output label: A | B
gate = s -> dense 4 -> sigmoid
s -> dense 4 -> multiply gate -> rnn elman hidden=4 -> last -> dense -> softmax -> label
train
  data "graphs.npz"
  epochs 2
  batch 16
"""


@pytest.mark.parametrize("text", [BRANCHES_OF_DIFFERENT_DEPTH, GATED_SEQUENCE], ids=["concat-depths", "gated-sequence"])
def test_the_issues_other_graphs_train_and_export_a_verified_model(tmp_path, monkeypatch, capsys, text):
    """The issue's concat of two branches of different depth and its gated sequence model train
    with `specc train` from an .npz and export a model verified against NumPy."""
    rng = np.random.default_rng(1)
    image, s = rng.random((120, 1, 6, 6), dtype=np.float32), rng.standard_normal((120, 5, 3)).astype(np.float32)
    label = np.where(image.mean(axis=(1, 2, 3)) + s[:, :, 0].mean(axis=1) > 0.5, "A", "B")
    np.savez(tmp_path / "graphs.npz", image=image, s=s, label=label)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.nn").write_text(text)
    assert main(["train", "g.nn", "--out", "run", "--json"]) == 0
    end = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert end["verified"] and end["max_diff"] <= 1e-5 and (tmp_path / "run" / "g.onnx").exists()
