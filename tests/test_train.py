"""Training: the lecture's CNN and the digits CNN learn, XOR is learned, runs repeat bit for bit,
resume equals an uninterrupted run, and every failure is reported before or as it happens."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

import specc
from specc.runtime.progress import Reporter
from specc.runtime.train import Interrupted, TrainingError
from specc.specs import spec_path

XOR_SPEC = """model xor
input x: 2
output y
x -> dense 3 -> sigmoid -> dense 1 -> sigmoid
train
  data "{data}"
  loss mse
  optimizer sgd lr=2 momentum=0.9
  epochs 400
  batch 4
  validation 0
"""


@pytest.fixture
def xor_data(tmp_path):
    path = tmp_path / "xor.npz"
    np.savez(path, x=np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32),
             y=np.array([[0], [1], [1], [0]], np.float32))
    return path


def small_xo_spec(epochs: int = 3) -> str:
    return spec_path("x_or_o").read_text().replace("epochs 8", f"epochs {epochs}")


def test_x_or_o_reaches_100_percent_on_the_held_out_distorted_set(tmp_path):
    net = specc.load(spec_path("x_or_o"))
    result = net.train(out=tmp_path)
    assert result.heldout_split == "test" and result.heldout_count == 400
    assert result.heldout_accuracy == 1.0
    assert result.export.ok and (tmp_path / "x_or_o.onnx").exists()
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history) == 8 and history[-1]["loss"] < history[0]["loss"]


def test_digits_cnn_reaches_97_percent_on_the_80_20_split(tmp_path):
    pytest.importorskip("sklearn")
    result = specc.load(spec_path("digits")).train(out=tmp_path)
    assert result.heldout_split == "test" and result.heldout_count == 359
    assert result.heldout_accuracy >= 0.97


def test_a_sigmoid_mlp_learns_xor(tmp_path, xor_data):
    net = specc.loads(XOR_SPEC.format(data=xor_data), "xor.nn")
    net.train(out=tmp_path)
    outputs = net.run(x=[[0, 0], [0, 1], [1, 0], [1, 1]])["y"][:, 0]
    assert list(outputs > 0.5) == [False, True, True, False]


def test_same_seed_repeats_bit_for_bit(tmp_path):
    runs = []
    for folder in ("a", "b"):
        net = specc.loads(small_xo_spec(2), "x_or_o.nn", seed=3)
        net.train(out=tmp_path / folder, seed=3)
        runs.append(net.weights)
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])


class InterruptAt(Reporter):
    """Sends this process a real SIGINT (Ctrl-C) before a given batch."""

    def __init__(self, epoch: int, batch: int):
        super().__init__("quiet")
        self.at = (epoch, batch)

    def batch(self, epoch: int, batch: int) -> None:
        if (epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_writes_a_checkpoint_and_resume_ends_with_the_same_weights(tmp_path):
    spec = small_xo_spec(3)
    straight = specc.loads(spec, "x_or_o.nn")
    straight.train(out=tmp_path / "straight")

    stopped = specc.loads(spec, "x_or_o.nn")
    with pytest.raises(Interrupted):
        stopped.train(out=tmp_path / "stopped", progress=InterruptAt(epoch=1, batch=7))
    checkpoint = tmp_path / "stopped" / "checkpoint.npz"
    assert checkpoint.exists() and not list((tmp_path / "stopped").glob(".*.tmp"))

    resumed = specc.loads(spec, "x_or_o.nn")  # a fresh process would start from seeded weights too
    result = resumed.train(out=tmp_path / "stopped", resume=checkpoint)
    assert all(np.array_equal(straight.weights[k], resumed.weights[k]) for k in straight.weights)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]


def test_a_checkpoint_of_another_network_is_refused(tmp_path):
    net = specc.loads(small_xo_spec(1), "x_or_o.nn")
    net.train(out=tmp_path)
    other = specc.loads("input image: 1x12x12\noutput label: X | O\nimage -> flatten -> dense -> softmax\n"
                        "train\n  data xo\n", "other.nn")
    with pytest.raises(specc.SpecError, match="written for another network"):
        other.train(out=tmp_path / "o", resume=tmp_path / "checkpoint.npz")
    with pytest.raises(specc.SpecError, match="written for another network"):
        other.load_weights(tmp_path / "checkpoint.npz")


def test_checkpoint_survives_reformatting_the_spec(tmp_path):
    net = specc.loads(small_xo_spec(1), "x_or_o.nn")
    net.train(out=tmp_path)
    moved = specc.loads("# a new comment line\n\n" + small_xo_spec(1), "x_or_o.nn")
    moved.load_weights(tmp_path / "checkpoint.npz")
    assert [np.array_equal(a, b) for a, b in zip(net.weights.values(), moved.weights.values())] == [True] * 6


def test_checkpoints_hold_no_pickles(tmp_path):
    specc.loads(small_xo_spec(1), "x_or_o.nn").train(out=tmp_path)
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as archive:
        assert "meta" in archive.files and all(archive[k].dtype != object for k in archive.files)


def test_a_loss_that_explodes_stops_with_epoch_batch_and_a_hint(tmp_path, xor_data):
    net = specc.loads(XOR_SPEC.format(data=xor_data).replace("sigmoid\ntrain", "linear\ntrain")
                      .replace("lr=2", "lr=1e6").replace("dense 1 -> sigmoid", "dense 1"), "xor.nn")
    with pytest.raises(TrainingError, match=r"the loss became (nan|inf) at epoch \d+, batch \d+") as info:
        net.train(out=tmp_path)
    assert "lower the learning rate" in info.value.hint


def test_data_that_does_not_fit_is_refused_before_training(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((10, 5), np.float32), y=np.zeros(10, np.int64))
    net = specc.load(spec_path("x_or_o"))
    with pytest.raises(specc.SpecError, match="1x12x12"):
        net.train(data=str(bad), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_flags_override_the_train_section(tmp_path):
    result = specc.load(spec_path("x_or_o")).train(epochs=1, batch=64, lr=0.01, out=tmp_path)
    assert len(result.history) == 1 and result.history[0]["lr"] == 0.01


def test_no_data_anywhere_is_a_clear_error():
    with pytest.raises(specc.SpecError, match="no training data"):
        specc.loads("input x: 2\nx -> dense 1\n", "n.nn").train()


def test_the_run_folder_has_a_training_curve_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    specc.loads(small_xo_spec(2), "x_or_o.nn").train(out=tmp_path)
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_with_dropout_repeats_bit_for_bit(tmp_path):
    spec = small_xo_spec(1).replace("-> flatten -> dense", "-> flatten -> dropout 0.3 -> dense")
    runs = []
    for folder in ("a", "b"):
        net = specc.loads(spec, "x_or_o.nn")
        net.train(out=tmp_path / folder)
        runs.append(net.weights)
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_keep_best_ends_with_the_epoch_best_on_validation(tmp_path):
    from specc.runtime.checkpoint import load_checkpoint

    text = small_xo_spec(4).replace("  batch 32", "  batch 32\n  keep best").replace("lr=0.05", "lr=0.3")
    net = specc.loads(text, file="x_or_o.nn")
    result = net.train(out=tmp_path)
    # the highest validation accuracy, ties to the lower validation loss, then to the earlier epoch
    scores = [(r["val_accuracy"], -r["val_loss"], -r["epoch"]) for r in result.history]
    best_epoch = -max(scores)[2]
    assert result.kept_epoch == best_epoch
    improved = [r["epoch"] for r in result.history if r["best"]]
    assert improved[0] == 1 and improved[-1] == best_epoch
    kept, _, meta = load_checkpoint(tmp_path / "best.npz", net.model)
    assert meta["epoch"] == best_epoch
    assert all(np.array_equal(kept[name], net.weights[name]) for name in kept)


def test_the_epoch_line_shows_accuracy_slot_f1_and_the_kept_mark(capsys):
    record = {"epoch": 3, "loss": 0.25, "train_accuracy": 0.9, "val_accuracy": 0.8, "val_f1": 0.75,
              "val_loss": 0.3, "samples_per_s": 1000.0, "counts": "words", "best": True}
    Reporter("text").epoch(record, 10, 5.0)
    line = capsys.readouterr().out
    assert "train  90.0%" in line and "val  80.0%" in line and "val slot F1  75.0% *" in line
    assert "1,000 words/s" in line and "val loss" not in line
