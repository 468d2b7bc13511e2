"""The train section bound once, into the IR, over one table of defaults, with flags merged in
one function; what a spec takes from data resolved before a Network exists, which never
rebuilds its model (issue 9)."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import specc
from specc import training
from specc.identity import saved_tables
from tests.test_slots import conll_file

ROOT = Path(__file__).resolve().parent.parent
TAGGER = "input words: seq token\noutput tags: from data\nwords -> onehot -> rnn 4 -> dense -> softmax -> tags\n"
TWO_HEADS = """input x: 4
output label: A | B
output box
h = x -> dense 8 -> relu
h -> dense -> softmax -> label
h -> dense 2 -> box
train
  data "pairs.npz"
  loss box mse weight=0.5
  epochs 3
"""


# ---- one table of defaults, the section bound once into Model.train ----

def test_every_default_is_read_from_one_table():
    """DEFAULTS is the settings' argument defaults; TrainSettings and a spec without a train
    section read theirs from it."""
    expected = {"data": None, "resize": "refuse", "loss": None, "optimizer": "adam", "lr": None, "momentum": 0.9, "beta1": 0.9,
                "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "epochs": 10, "batch": 32, "schedule": "constant",
                "every": 10, "gamma": 0.1, "clip": None, "seed": 0, "validation": 0.1, "keep": "last"}
    assert training.DEFAULTS == expected
    fields = {f.name: f.default for f in dataclasses.fields(training.TrainSettings) if f.name != "origin"}
    assert fields == expected
    settings = specc.loads("input x: 4\noutput y: A | B\nx -> dense -> softmax -> y\n", "plain.nn").model.train
    assert dataclasses.replace(settings, origin=()) == training.TrainSettings(loss="cross_entropy", lr=0.001)
    assert set(dict(settings.origin).values()) == {"default"} and not settings.from_spec


def test_the_model_holds_the_bound_section_with_a_loss_per_output():
    settings = specc.loads(TWO_HEADS, "heads.nn").model.train
    assert (settings.data, settings.loss, settings.epochs, settings.lr) == (
        "pairs.npz", "label cross_entropy, box mse weight=0.5", 3, 0.001)
    origin = dict(settings.origin)
    assert (origin["loss"], origin["epochs"], origin["lr"], origin["batch"]) == ("spec", "spec", "default", "default")
    assert settings.from_spec


def test_the_section_is_bound_once_even_when_the_data_is_read_first(tmp_path, monkeypatch):
    calls = []
    real = training._given
    monkeypatch.setattr(training, "_given", lambda section: calls.append(section) or real(section))
    data = conll_file(tmp_path / "people.conll")
    net = specc.loads(TAGGER + f'train\n  data "{data}"\n  epochs 1\n', "t.nn")
    assert len(calls) == 1 and net.model.train.data == str(data)
    net.train(out=tmp_path / "run")
    assert len(calls) == 1


# ---- flags merged in one function, for a new run and a resumed one ----

def test_flags_are_merged_over_the_spec_in_one_function():
    spec = specc.loads(TWO_HEADS, "heads.nn").model.train
    merged = training.with_flags(spec, {"epochs": 5, "lr": None, "data": "other.npz"})
    assert (merged.epochs, merged.lr, merged.data, merged.loss) == (5, 0.001, "other.npz", spec.loss)
    origin = dict(merged.origin)
    assert (origin["epochs"], origin["data"], origin["lr"], origin["loss"]) == ("flag", "flag", "default", "spec")
    with pytest.raises(specc.SpecError, match="--epochs cannot be 0"):
        training.with_flags(spec, {"epochs": 0})


def test_a_resumed_run_merges_its_flags_the_same_way(monkeypatch):
    from specc import resume

    merged = []
    monkeypatch.setattr(resume, "with_flags", lambda s, f: merged.append(dict(f)) or training.with_flags(s, f))
    saved = resume.saved_settings({"epochs": 4, "loss": "mse", "data": "xo", "lr": 0.01}, "ck.npz")
    longer = resume.continued_settings(saved, {"epochs": 6, "batch": None}, "ck.npz")
    assert (longer.epochs, dict(longer.origin)["epochs"], dict(longer.origin)["batch"]) == (6, "flag", "checkpoint")
    assert merged == [{"epochs": 6}, {"epochs": 6}]  # checked as a new run's flags are, then merged
    with pytest.raises(specc.SpecError, match=r"--batch 8 contradicts the run being resumed, which has batch 32"):
        resume.continued_settings(saved, {"batch": 8}, "ck.npz")


# ---- data resolved before the Network; the Network never rebuilds ----

def test_vocabularies_and_classes_are_resolved_before_the_network_is_made(tmp_path, monkeypatch):
    import specc.runtime.data.sentences as sentences

    reads, seen = [], []
    real_read, real_init = sentences.load_sentences, specc.Network.__init__
    monkeypatch.setattr(sentences, "load_sentences", lambda *args: reads.append(args) or real_read(*args))

    def init(net, model, *args, **kwargs):
        seen.append((len(reads), saved_tables(model).class_names))
        real_init(net, model, *args, **kwargs)

    monkeypatch.setattr(specc.Network, "__init__", init)
    data = conll_file(tmp_path / "people.conll")
    specc.loads(TAGGER, "t.nn", data=str(data))
    assert seen == [(1, {"tags": ("O", "B-LOC", "B-PER")})]


def test_a_network_never_rebuilds_its_model(tmp_path):
    data, other = conll_file(tmp_path / "people.conll"), conll_file(tmp_path / "more.conll")
    net = specc.loads(TAGGER, "t.nn", data=str(data))
    model = net.model
    net.run(words="Alice went to Paris")
    with pytest.raises(specc.SpecError, match=r"this network took its vocabularies and classes from .*people.conll "
                                              r"\(seed 0, validation 0.1\); this run draws .*more.conll"):
        net.train(data=str(other), epochs=1, out=tmp_path / "refused")
    assert net.model is model
    result = net.train(epochs=1, out=tmp_path / "run")
    assert net.model is model and result.export.ok
    net.load_weights(result.out_dir / "checkpoint.npz")
    assert net.model is model
    assert net.train(epochs=2, resume=result.out_dir / "checkpoint.npz").history[-1]["epoch"] == 2
    assert net.model is model
    flights = specc.loads(TAGGER, "t.nn")  # the words of flights, not of people.conll
    flights_model = flights.model
    with pytest.raises(specc.SpecError, match=r"other vocabularies or classes than this network took from flights"
                                              r"[\s\S]*hint: load the spec with the checkpoint's: specc.load\(spec, "
                                              r"weights=checkpoint\)"):
        flights.load_weights(result.out_dir / "checkpoint.npz")
    assert flights.model is flights_model


def test_a_checkpoints_tables_are_taken_before_the_network_without_reading_data(tmp_path, monkeypatch):
    import specc.runtime.data.sentences as sentences

    data = conll_file(tmp_path / "people.conll")
    trained = specc.loads(TAGGER, "t.nn", data=str(data))
    result = trained.train(epochs=1, out=tmp_path / "run")
    reads = []
    monkeypatch.setattr(sentences, "load_sentences", lambda *args: reads.append(args))
    net = specc.loads(TAGGER, "t.nn", weights=result.out_dir / "checkpoint.npz")
    assert reads == []
    assert saved_tables(net.model).vocabularies == {"onehot@3": ("Alice", "Bob", "Carol", "Lima", "Paris", "to", "went")}
    assert (net.run(words="Bob went to Lima")["tags"] == trained.run(words="Bob went to Lima")["tags"]).all()


@pytest.mark.parametrize("module", ["tables", "training"])
def test_the_front_end_does_not_load_data(module):
    tree = ast.parse((ROOT / "specc" / f"{module}.py").read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if "runtime" in name]
