"""heldout.json: the run folder keeps the exported model's held-out score, exactly as specc train
reports it, tied to the weights it scored; a new run removes an earlier one's before training, a
resumed run writes it again; specc play states it, and passes over a damaged file to history.json's
validation score."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

import specc
import specc.api
from specc.cli import main
from specc.play import describe, open_playable
from specc.run_folder import HELDOUT_LIMIT

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def train(capsys, spec: str, out: Path, *more: str) -> dict:
    """`specc train specs/SPEC --out OUT --json MORE`: its last line, the run's summary."""
    assert main(["train", str(SPECS / spec), "--out", str(out), "--json", *more]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def score(run: Path) -> dict | None:
    """What /play/model states as the held-out score of the run's own weights."""
    return describe(open_playable(str(run)))["score"]


def validation_score(run: Path, epoch: int) -> dict:
    """play's answer from history.json: the validation accuracy of x_or_o's last epoch."""
    record = json.loads((run / "history.json").read_text())[epoch - 1]
    return {"split": "validation", "count": None, "epoch": epoch, "why": "the last",
            "scores": [{"output": None, "metric": "accuracy", "value": record["val_accuracy"]}]}


def trained(out: Path, *more: str) -> Path:
    """A run folder of specs/x_or_o.nn trained for one epoch."""
    assert main(["train", str(SPECS / "x_or_o.nn"), "--out", str(out), "--epochs", "1", "--quiet", *more]) == 0
    return out


@pytest.fixture(scope="module")
def xo_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory.mktemp("runs") / "x_or_o")


@pytest.fixture
def xo(xo_run, tmp_path) -> Path:
    """A copy of the x_or_o run folder that a test may damage."""
    return Path(shutil.copytree(xo_run, tmp_path / "x_or_o"))


# ---- what specc train writes ----

def test_a_run_keeps_the_exported_models_test_score_as_the_command_reports_it(tmp_path, capsys):
    out = tmp_path / "x_or_o"
    end = train(capsys, "x_or_o.nn", out, "--epochs", "1")
    assert (end["heldout_split"], end["heldout_count"], end["kept_epoch"]) == ("test", 400, None)
    assert json.loads((out / "heldout.json").read_text()) == {
        "split": "test", "count": 400, "epoch": 1, "weights": "checkpoint.npz",
        "weights_sha256": sha256(out / "checkpoint.npz"), "outputs": {"label": {"accuracy": end["heldout_accuracy"]}}}


def test_with_keep_best_it_names_best_npz_and_the_kept_epoch_as_train_returns_them(tmp_path):
    net = specc.load(str(SPECS / "slots_elman.nn"))
    result = net.train(epochs=2, out=tmp_path / "run")
    assert (result.heldout_split, result.heldout_count, result.kept_epoch) == ("test", 300, 2)
    curve = ("curve.png",) if importlib.util.find_spec("matplotlib") else ()
    assert result.files == ("checkpoint.npz", "history.json", *curve, "heldout.json")
    assert json.loads((tmp_path / "run" / "heldout.json").read_text()) == {
        "split": "test", "count": 300, "epoch": 2, "weights": "best.npz",
        "weights_sha256": sha256(tmp_path / "run" / "best.npz"), "outputs": result.heldout_by_output}
    assert set(result.heldout_by_output["slots"]) == {"accuracy", "precision", "recall", "f1"}
    assert result.heldout_by_output["slots"]["f1"] == result.heldout_f1


def test_a_new_run_stopped_before_scoring_leaves_no_earlier_score_and_resuming_writes_it(tmp_path, capsys,
                                                                                       monkeypatch):
    out = tmp_path / "x_or_o"
    train(capsys, "x_or_o.nn", out, "--epochs", "1")
    export = specc.api.Network.export

    def interrupted_export(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as the export starts: the run stops before scoring
        return export(*args, **kwargs)

    monkeypatch.setattr(specc.api.Network, "export", interrupted_export)
    assert main(["train", str(SPECS / "x_or_o.nn"), "--out", str(out), "--epochs", "2", "--quiet"]) == 130
    assert "before scoring the exported model" in capsys.readouterr().err
    assert not (out / "heldout.json").exists()
    assert score(out) == validation_score(out, 2)
    monkeypatch.undo()
    end = train(capsys, "x_or_o.nn", out, "--resume", str(out / "checkpoint.npz"))
    assert json.loads((out / "heldout.json").read_text()) == {
        "split": "test", "count": 400, "epoch": 2, "weights": "checkpoint.npz",
        "weights_sha256": sha256(out / "checkpoint.npz"), "outputs": {"label": {"accuracy": end["heldout_accuracy"]}}}


def test_a_resumed_run_trained_longer_rewrites_it_for_its_last_epoch(xo, capsys):
    end = train(capsys, "x_or_o.nn", xo, "--resume", str(xo / "checkpoint.npz"), "--epochs", "2")
    written = json.loads((xo / "heldout.json").read_text())
    assert (written["epoch"], written["weights_sha256"], written["outputs"]) == (
        2, sha256(xo / "checkpoint.npz"), {"label": {"accuracy": end["heldout_accuracy"]}})


# ---- what specc play states ----

def test_play_states_the_test_score_of_the_exported_model(xo):
    accuracy = json.loads((xo / "heldout.json").read_text())["outputs"]["label"]["accuracy"]
    assert score(xo) == {"split": "test", "count": 400, "epoch": 1, "why": "the last",
                         "scores": [{"output": None, "metric": "accuracy", "value": accuracy}]}


def _edited(**changes):
    """A damage: heldout.json with some keys changed (None: removed)."""
    def damage(path: Path) -> None:
        record = json.loads(path.read_text())
        record.update(changes)
        path.write_text(json.dumps({k: v for k, v in record.items() if v is not None}))
    return damage


def _written(text: str | bytes):
    def damage(path: Path) -> None:
        path.write_bytes(text.encode() if isinstance(text, str) else text)
    return damage


def _replaced(make):
    def damage(path: Path) -> None:
        path.unlink()
        make(path)
    return damage


DAMAGES = {
    "not JSON": _written("{"), "not UTF-8": _written(b"\xff\xfe"), "a list": _written("[]"),
    "nested too deeply": _written("[" * 100_000), "an integer of 5000 digits": _written("1" * 5000),
    "another split": _edited(split="train"), "no split": _edited(split=None), "count 0": _edited(count=0),
    "count true": _edited(count=True), "count a string": _edited(count="400"), "epoch a float": _edited(epoch=1.0),
    "other weights": _edited(weights="best.npz"), "a path for weights": _edited(weights="../x_or_o.onnx"),
    "another digest": _edited(weights_sha256="0" * 64), "digest a number": _edited(weights_sha256=7),
    "no outputs": _edited(outputs={}), "outputs a list": _edited(outputs=[0.9]),
    "accuracy above 1": _edited(outputs={"label": {"accuracy": 1.5}}),
    "accuracy below 0": _edited(outputs={"label": {"accuracy": -0.1}}),
    "accuracy a string": _edited(outputs={"label": {"accuracy": "99%"}}),
    "accuracy true": _edited(outputs={"label": {"accuracy": True}}), "no scores": _edited(outputs={"label": {}}),
    "an unknown score": _edited(outputs={"label": {"loss": 0.5}}), "scores a number": _edited(outputs={"label": 0.9}),
    "a key more": _edited(extra=1), "accuracy NaN": _edited(outputs={"label": {"accuracy": float("nan")}}),
    "accuracy Infinity": _edited(outputs={"label": {"accuracy": float("inf")}}),
    "over the size limit": _written(" " * HELDOUT_LIMIT + "{}"),
    "a directory": _replaced(lambda path: path.mkdir()), "a FIFO": _replaced(os.mkfifo),
    "a link to a device": _replaced(lambda path: path.symlink_to("/dev/zero")),
    "a dangling link": _replaced(lambda path: path.symlink_to(path.parent / "nothing.json")),
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES)
def test_a_damaged_heldout_file_is_passed_over_for_the_validation_score(xo, damage):
    damage(xo / "heldout.json")
    assert score(xo) == validation_score(xo, 1)


def test_a_huge_file_that_is_otherwise_right_is_passed_over(xo):
    record = json.loads((xo / "heldout.json").read_text())
    (xo / "heldout.json").write_text(json.dumps(record) + " " * HELDOUT_LIMIT)
    assert score(xo) == validation_score(xo, 1)
    (xo / "heldout.json").write_text(json.dumps(record) + " " * (HELDOUT_LIMIT - len(json.dumps(record))))
    assert score(xo)["split"] == "test"  # at the limit it is read


def test_weights_other_than_those_it_scored_get_the_validation_score(xo, tmp_path):
    other = trained(tmp_path / "other", "--seed", "1")
    shutil.copyfile(other / "checkpoint.npz", xo / "checkpoint.npz")  # a checkpoint.npz, of another run
    assert score(xo) == validation_score(xo, 1)
