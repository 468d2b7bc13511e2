"""Slot filling end to end (seed-examples §5): words in, slot names out, in NumPy and in the
exported ONNX model; 1-of-N and word hashing; Elman, Jordan, bidirectional and stacked."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import specc
from specc.specs import spec_path
from tests.test_cli import specc_cli

LECTURE = ("arrive Beijing on November 2nd", "leave Beijing on November 2nd")
SLOT_SPECS = ("slots_elman", "slots_jordan", "slots_bi", "slots_hash")


def spec_text(name: str, epochs: int) -> str:
    return spec_path(name).read_text().replace("epochs 10", f"epochs {epochs}")


@pytest.fixture(scope="module")
def trained_elman(tmp_path_factory):
    """specs/slots_elman.nn trained for 3 epochs on the built-in flights (seed 0)."""
    out = tmp_path_factory.mktemp("slots_elman")
    net = specc.loads(spec_text("slots_elman", 3), file=str(spec_path("slots_elman")))
    result = net.train(out=out)
    return net, result


# ---- the lecture's sentences ----

def test_the_lecture_sentences_are_tagged_in_numpy_and_in_onnx(trained_elman):
    net, result = trained_elman
    assert result.export.ok and result.heldout_split == "test" and result.heldout_count == 300
    for tags in (net.run(words=list(LECTURE))["slots_class"],
                 specc.load_onnx(result.export.path).run(words=list(LECTURE))["slots_class"]):
        assert list(tags[0]) == ["other", "dest", "other", "time", "time"]
        assert tags[1][1] == "depart"  # the same word, after `leave`: memory decides


def test_held_out_scores_come_from_the_exported_model(trained_elman):
    _, result = trained_elman
    assert result.heldout_accuracy >= 0.98 and result.heldout_f1 >= 0.95
    history = result.history
    assert all(record["val_f1"] is not None for record in history)
    assert history[-1]["loss"] < history[0]["loss"]


def test_specc_run_text_prints_each_word_with_its_slot(trained_elman):
    _, result = trained_elman
    run = specc_cli("run", result.export.path, "--text", "arrive Taipei on November 2nd")
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines()]
    assert rows == [["arrive", "other"], ["Taipei", "dest"], ["on", "other"], ["November", "time"], ["2nd", "time"]]


def test_specc_run_file_and_json(trained_elman, tmp_path):
    _, result = trained_elman
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("leave Taipei for Tokyo tomorrow\n\nfrom Boston to Paris\n")
    run = specc_cli("run", result.export.path, "--file", sentences, "--json")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["words"] for line in lines] == [["leave", "Taipei", "for", "Tokyo", "tomorrow"],
                                                ["from", "Boston", "to", "Paris"]]
    assert lines[0]["slots_class"] == ["other", "depart", "other", "dest", "time"]
    assert lines[1]["slots_class"] == ["other", "depart", "other", "dest"]


def test_the_checkpoint_keeps_the_vocabulary(trained_elman, tmp_path):
    net, result = trained_elman
    # loaded against other data, the spec's vocabulary differs: its network refuses the weights
    other = specc.load(spec_path("slots_elman"), data="atis")
    assert other.model.layers[0].attrs.vocabulary != net.model.layers[0].attrs.vocabulary
    assert result.kept_epoch is not None  # the specs keep the epoch best on validation: best.npz
    with pytest.raises(specc.SpecError, match=r"other vocabularies or classes than this network took from atis"):
        other.load_weights(result.out_dir / "best.npz")
    # loaded with the checkpoint, the spec takes its vocabulary: the checkpoint's wins
    other = specc.load(spec_path("slots_elman"), data="atis", weights=result.out_dir / "best.npz")
    assert other.model.layers[0].attrs.vocabulary == net.model.layers[0].attrs.vocabulary
    np.testing.assert_array_equal(other.run(words=list(LECTURE))["slots"], net.run(words=list(LECTURE))["slots"])
    compiled = specc_cli("compile", spec_path("slots_elman"), "--weights", result.out_dir / "best.npz",
                         "-o", tmp_path / "again.onnx", "--data", "atis")
    assert compiled.returncode == 0, compiled.stderr
    tags = specc.load_onnx(tmp_path / "again.onnx").run(words=LECTURE[0])["slots_class"]
    assert list(tags[0]) == ["other", "dest", "other", "time", "time"]


# ---- 1-of-N against word hashing on words never seen in training ----

TAGGER = """input words: seq token
output slots: from data
words -> {encoding} -> dense 50 bias=false -> rnn elman hidden=50 -> dense -> softmax -> slots
train
  optimizer adam lr=0.003
  epochs 4
  batch 16
  clip 5
"""
# real cities that appear nowhere in the flights data, each resembling one that does
# (Nanjing - Beijing, Madras - Madrid, Bern - Berlin ...), and misspelt time words
UNSEEN_CITIES = ("Nanjing", "Madras", "Dalian", "Bern", "Bangalore", "Vientiane", "Parma", "Seville")
UNSEEN_TIMES = ("tomorow", "tonite", "Mondays", "Fridays", "todays", "Saturdays")


def last_word_tags(net, words) -> list[str]:
    sentences = [f"arrive {w}" for w in words] + [f"I want to fly to {w}" for w in words]
    tags = net.run(words=sentences)["slots_class"]
    return [row[len(s.split()) - 1] for s, row in zip(sentences, tags)]


@pytest.fixture(scope="module")
def taggers(tmp_path_factory):
    nets = {}
    for encoding in ("onehot", "wordhash"):
        nets[encoding] = specc.loads(TAGGER.format(encoding=encoding))
        nets[encoding].train(out=tmp_path_factory.mktemp(encoding))
    return nets


def test_word_hashing_tags_unseen_cities_and_unseen_time_words(taggers):
    net = taggers["wordhash"]
    assert last_word_tags(net, UNSEEN_CITIES) == ["dest"] * 16
    assert sum(tag == "time" for tag in last_word_tags(net, UNSEEN_TIMES)) >= 10  # of 12


def test_one_hot_cannot_tell_an_unseen_city_from_an_unseen_time_word(taggers):
    net = taggers["onehot"]
    city, time = last_word_tags(net, UNSEEN_CITIES), last_word_tags(net, UNSEEN_TIMES)
    # every unseen word is the same "other" vector: one tag per context, whatever the word
    assert len(set(city[:8] + time[:6])) == 1 and len(set(city[8:] + time[6:])) == 1
    assert city != ["dest"] * 16 or time.count("time") == 0


# ---- the encodings themselves, as the lecture gives them ----

def identity_dense(size: int) -> str:
    rows = ", ".join("[" + ", ".join("1" if i == j else "0" for j in range(size)) + "]" for i in range(size))
    return f"dense {size} bias=false weights=[{rows}]"


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
def test_one_of_n_vectors_as_in_the_lecture(backend, tmp_path):
    net = specc.loads(f"""input words: seq token
words -> onehot vocab=[apple, bag, cat, dog, elephant] -> {identity_dense(6)}""")
    batch = [["apple", "bag", "cat", "dog", "elephant", "zebra"], ["Apple", "dog"]]
    if backend == "onnx":
        out = specc.load_onnx(net.export(tmp_path / "onehot.onnx").path).run(words=batch)["output"]
    else:
        out = net.run(words=batch)["output"]
    np.testing.assert_array_equal(out[0], np.eye(6))  # zebra: the "other" dimension
    np.testing.assert_array_equal(out[1, :2], [[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0]])  # case kept by default
    np.testing.assert_array_equal(out[1, 2:], 0)  # padding: the zero vector


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
def test_word_hashing_counts_letter_trigrams(backend, tmp_path):
    vocab = ['"#ap"', "app", "ppl", "ple", '"le#"', "ana", '"#ba"']
    net = specc.loads(f"""input words: seq token
words -> wordhash vocab=[{', '.join(vocab)}] -> {identity_dense(len(vocab))}""")
    batch = [["apple", "banana", "Apple"]]
    if backend == "onnx":
        out = specc.load_onnx(net.export(tmp_path / "hash.onnx").path).run(words=batch)["output"]
    else:
        out = net.run(words=batch)["output"]
    np.testing.assert_array_equal(out[0], [[1, 1, 1, 1, 1, 0, 0],   # #ap app ppl ple le#
                                           [0, 0, 0, 0, 0, 2, 1],   # #ba ban ana nan ana na#
                                           [0, 0, 1, 1, 1, 0, 0]])  # #Ap App: not #ap app


def test_lowercase_and_the_vocabulary_from_data():
    net = specc.loads("""input words: seq token
output slots: from data
words -> onehot lowercase min_count=5 -> rnn 4 -> dense -> slots""")
    onehot = net.model.layers[0]
    vocabulary = onehot.attrs.vocabulary
    assert list(vocabulary) == sorted(vocabulary) and "beijing" in vocabulary and "Beijing" not in vocabulary
    assert net.model.outputs[0].classes == ("other", "depart", "dest", "time")
    assert onehot.out_shape == ("N", "T", len(vocabulary) + 1)
    capped = specc.loads("""input words: seq token
output slots: from data
words -> onehot max=10 -> rnn 4 -> dense -> slots""").model.layers[0]
    assert len(capped.attrs.vocabulary) == 10 and "to" in capped.attrs.vocabulary


# ---- NumPy against onnxruntime on sentences of different lengths ----

@pytest.mark.parametrize("name", SLOT_SPECS)
def test_numpy_and_onnxruntime_agree_on_padded_batches(name, tmp_path):
    net = specc.load(spec_path(name))
    report = net.export(tmp_path / f"{name}.onnx")
    assert report.ok and report.max_abs_diff <= 1e-5
    assert any(t and t > 1 for _, t in report.cases)  # verification padded sentences of several lengths
    batch = ["arrive in Zürich tomorrow morning", "leave", "FROM Oslo to Hong Kong on November 2nd please"]
    expected, got = net.run(words=batch), specc.load_onnx(report.path).run(words=batch)
    assert np.abs(expected["slots"] - got["slots"]).max() <= 1e-5
    np.testing.assert_array_equal(expected["slots_class"], got["slots_class"])
    assert list(got["slots_class"][1, 1:]) == [""] * 8  # padding has no slot
    np.testing.assert_array_equal(got["slots"][1, 1:], 0)


def test_a_padded_sentence_gives_what_it_gives_alone():
    net = specc.load(spec_path("slots_bi"))
    alone = net.run(words="leave Beijing for Taipei")["slots"]
    padded = net.run(words=["leave Beijing for Taipei", "a much longer sentence than the first one here"])["slots"]
    np.testing.assert_allclose(padded[0, :4], alone[0], atol=1e-6)


# ---- mistakes ----

def test_sentences_with_a_hole_are_refused():
    net = specc.load(spec_path("slots_elman"))
    with pytest.raises(specc.SpecError, match="empty word before its end"):
        net.run(words=[["arrive", "", "Beijing"]])


def test_an_empty_text_is_refused(trained_elman):
    _, result = trained_elman
    run = specc_cli("run", result.export.path, "--text", "  ")
    assert run.returncode == 2 and "has no words" in run.stderr and "Traceback" not in run.stderr


def test_text_on_a_model_that_does_not_read_words(tmp_path):
    run = specc_cli("run", spec_path("memory"), "--text", "arrive Beijing")
    assert run.returncode == 2 and "one input of words" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("text, message", [
    ("input image: 1x6x6\nimage -> onehot -> flatten -> dense 2", "needs a sequence of words"),
    ("input words: seq token\nwords -> rnn 3 -> dense 2", "start the chain with onehot or wordhash"),
    ('input words: seq token\nwords -> wordhash vocab=[ab, "#ab"] -> dense 2', "not a trigram"),
    ("input words: seq token\noutput tags: from datum\nwords -> onehot -> dense -> tags", "neither class names"),
    ("input image: 1x4x4\noutput label: from data\nimage -> flatten -> dense -> label", "reads no words"),
])
def test_word_spec_mistakes_are_clear(text, message):
    with pytest.raises(specc.SpecError, match=message) as caught:
        specc.loads(text, file="bad.nn")
    assert caught.value.render().startswith("bad.nn:")


def test_image_data_for_a_word_spec_and_word_data_for_an_image_spec(tmp_path):
    with pytest.raises(specc.SpecError, match="unknown data set 'xo' for a sequence of words"):
        specc.load(spec_path("slots_elman"), data="xo")
    with pytest.raises(specc.SpecError, match="sentences of words"):
        specc.load(spec_path("x_or_o")).train(data="flights", epochs=1, out=tmp_path)


def test_a_checker_crash_on_a_word_model_is_an_error_not_a_dead_process(monkeypatch):
    from specc import onnx_check

    proto = specc.load(spec_path("slots_elman")).to_onnx()
    assert onnx_check.reads_strings(proto)
    onnx_check.check_model(proto)  # the real check, in a child process, passes
    monkeypatch.setattr(onnx_check, "CHECK", "import os; os.abort()")  # what a segfault looks like from here
    with pytest.raises(specc.SpecError, match="fails the ONNX check"):
        onnx_check.check_model(proto)


@pytest.mark.parametrize("chain", [
    "onehot vocab=[a, b, c] -> dense 4 -> window 3 -> dense 3 -> softmax",   # packed after a window
    "onehot vocab=[a, b, c] -> dense 3",                                      # a lookup to the end
    'wordhash vocab=["#a#", "#b#", abc] -> dense 4 -> tanh -> dense 3',       # packed from the first dense
    "onehot vocab=[a, b, c] -> rnn 4 bidirectional -> dropout 0.5 -> dense 3 -> relu",
    "onehot vocab=[a, b, c] -> rnn jordan 4 -> last -> dense 3",             # one vector a sentence
])
def test_exports_of_word_chains_agree_with_numpy_on_padded_batches(chain, tmp_path):
    net = specc.loads(f"input words: seq token\nwords -> {chain}\n", "chain.nn", seed=3)
    report = net.export(tmp_path / "chain.onnx")
    assert report.ok, report.max_abs_diff
    batch = [["a", "b", "zz", "c"], ["c"], ["b", "a"]]
    got, expected = specc.load_onnx(report.path).run(words=batch)["output"], net.run(words=batch)["output"]
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-5


def test_the_per_word_tail_runs_on_the_words_only():
    proto = specc.load(spec_path("slots_elman")).to_onnx()
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Compress") == 1 and "Mul" not in ops  # packed: no padding to zero afterwards
    nodes = {n.output[0]: n for n in proto.graph.node}
    argmax = next(n for n in proto.graph.node if n.op_type == "ArgMax")
    assert nodes[argmax.input[0]].op_type == "Softmax"  # the packed rows, not the (N, T, C) output
    assert nodes["slots"].op_type == "Gather" and nodes["slots"].input[0] == "slots.with_padding"


def test_a_tagger_trains_on_a_conll_file_with_its_own_tags(tmp_path):
    blocks = []
    for i in range(60):
        name, place = ("Alice", "Bob", "Carol")[i % 3], ("Paris", "Lima", "Cairo", "Oslo")[i % 4]
        blocks.append(f"{name}\tB-PER\nwent\tO\nto\tO\n{place}\tB-LOC\n.\tO\n")
    data = tmp_path / "people.conll"
    data.write_text("\n".join(blocks))
    net = specc.loads(f"""input words: seq token
output tags: from data
words -> onehot -> dense 8 bias=false -> rnn 8 bidirectional -> dense -> softmax -> tags
train
  data "{data}"
  optimizer adam lr=0.01
  epochs 6
  batch 8
""", file=str(tmp_path / "people.nn"))
    assert net.model.outputs[0].classes == ("O", "B-LOC", "B-PER")
    result = net.train(out=tmp_path / "run")
    assert result.heldout_split == "validation" and result.heldout_count == 6  # a tenth held out
    assert result.heldout_f1 == 1.0
    tags = specc.load_onnx(result.export.path).run(words="Carol went to Lima .")["tags_class"]
    assert list(tags[0]) == ["B-PER", "O", "O", "B-LOC", "O"]


def test_run_reads_sentences_from_json_and_npy_inputs(trained_elman, tmp_path):
    _, result = trained_elman
    (tmp_path / "s.json").write_text('["arrive Taipei on Monday", ["leave", "Tokyo"]]')
    np.save(tmp_path / "w.npy", np.array([["from", "Oslo", "to", "Paris"], ["fly", "to", "Rome", ""]]))
    for name in ("s.json", "w.npy"):
        run = specc_cli("run", result.export.path, "--input", f"words={tmp_path / name}", "--json")
        assert run.returncode == 0, run.stderr
        tags = json.loads(run.stdout)["slots_class"]
        assert len(tags) == 2 and tags[1][-1] == ""  # the shorter sentence's padding has no slot


def conll_file(path):
    """A small CoNLL file of people going to places, tagged B-PER and B-LOC."""
    blocks = [f"{('Alice', 'Bob', 'Carol')[i % 3]}\tB-PER\nwent\tO\nto\tO\n{('Paris', 'Lima', 'Oslo')[i % 2]}\tB-LOC\n"
              for i in range(30)]
    path.write_text("\n".join(blocks))
    return path


def test_training_on_other_data_takes_a_network_loaded_with_it_and_reads_the_data_once(tmp_path, monkeypatch):
    import specc.runtime.data.sentences as sentences

    reads = []
    real = sentences.load_sentences
    monkeypatch.setattr(sentences, "load_sentences", lambda *args: reads.append(args) or real(*args))
    text = "input words: seq token\noutput tags: from data\nwords -> onehot -> rnn 4 -> dense -> softmax -> tags\n"
    net = specc.loads(text, file="t.nn")
    assert "Beijing" in net.model.layers[0].attrs.vocabulary  # flights, the default
    data = conll_file(tmp_path / "people.conll")
    with pytest.raises(specc.SpecError, match=re.escape(f"load the spec with the run's data: specc.load(spec, "
                                                        f"data={str(data)!r}, seed=0)")):
        net.train(data=str(data), epochs=1, out=tmp_path / "run")
    reads.clear()
    net = specc.loads(text, file="t.nn", data=str(data))
    result = net.train(epochs=1, out=tmp_path / "run")
    assert net.model.layers[0].attrs.vocabulary == ("Alice", "Bob", "Carol", "Lima", "Paris", "to", "went")
    assert net.model.outputs[0].classes == ("O", "B-LOC", "B-PER") and result.export.ok
    assert len(reads) == 1  # the vocabulary's sentences are the training data's


def test_weights_loaded_from_a_checkpoint_can_train_on(trained_elman, tmp_path):
    _, result = trained_elman
    net = specc.load(spec_path("slots_elman"))
    net.load_weights(result.out_dir / "best.npz")
    more = net.train(epochs=1, out=tmp_path / "more")
    assert more.export.ok and more.heldout_f1 is not None
