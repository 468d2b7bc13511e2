"""Checkpoints are validated, never trusted: a damaged, changed or foreign checkpoint given to
`run --weights`, `compile --weights`, `train --resume` or Network.load_weights stops with exit 2
(a SpecError) that names the file and what is wrong, before anything is computed with it.

Each case starts from a real checkpoint (a 1-epoch run of a tiny spec) and changes it the way a
careless or hostile user could: cut bytes, other files, rewritten arrays, edited meta JSON."""
from __future__ import annotations

import io
import json
import os
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

import specc
from specc.cli import main

SPEC = """model tiny
input x: 2
output label: {classes}
x -> dense 3 -> relu -> dense -> softmax
train
  data "{data}"
  optimizer sgd lr=0.1 momentum=0.9
  epochs 1
  batch 8
"""
# the weights of SPEC, as the spec names them (layer@line:column)
W1, B1, W2, B2 = "dense@4:6.weight", "dense@4:6.bias", "dense@4:25.weight", "dense@4:25.bias"


def write_spec(folder, classes: str):
    path = folder / f"tiny_{len(list(folder.glob('tiny_*.nn')))}.nn"
    path.write_text(SPEC.format(classes=classes, data=folder / "data.npz"))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(folder, spec, checkpoint bytes): a 1-epoch run of SPEC with classes A | B."""
    folder = tmp_path_factory.mktemp("trust")
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    np.savez(folder / "data.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    np.save(folder / "x.npy", x[:3])
    spec = write_spec(folder, "A | B")
    assert main(["train", str(spec), "--out", str(folder / "run"), "--quiet"]) == 0
    return folder, spec, (folder / "run" / "checkpoint.npz").read_bytes()


# ---- ways to damage a checkpoint: each takes the good bytes and writes the file at `path` ----

def rewritten(change):
    """A case that rewrites the checkpoint with numpy after `change(arrays, meta)`; meta is the
    parsed JSON object, written back unless `change` replaced or removed arrays['meta']."""
    def make(raw: bytes, path) -> None:
        with np.load(io.BytesIO(raw)) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays["meta"]))
        arrays["meta"] = meta
        change(arrays, meta)
        if arrays.get("meta") is meta:
            arrays["meta"] = np.array(json.dumps(meta))
        np.savez(path, **arrays)
    return make


def raw_bytes(change):
    """A case that writes `change(raw bytes)`."""
    def make(raw: bytes, path) -> None:
        path.write_bytes(change(raw))
    return make


def zip_members(change, extra=None):
    """A case that copies the zip member by member, `change(name, data)` giving each member's
    new data (None: leave it out), then adds the member `extra` (name, data)."""
    def make(raw: bytes, path) -> None:
        with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(path, "w") as target:
            for name in source.namelist():
                data = change(name, source.read(name))
                if data is not None:
                    target.writestr(name, data)
            if extra:
                target.writestr(*extra)
    return make


def setting(key, value):
    return rewritten(lambda arrays, meta: meta.update({key: value}))


def array(key, value):
    return rewritten(lambda arrays, meta: arrays.update({key: value}))


def without(key):
    return rewritten(lambda arrays, meta: arrays.pop(key))


def flip_a_weight_byte(raw: bytes) -> bytes:
    with np.load(io.BytesIO(raw)) as archive:
        data = archive["weights/0"].tobytes()
    at = raw.index(data) + 3
    return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:]


def nan_at(key, value=np.nan):
    def change(arrays, meta):
        arrays[key] = arrays[key].copy()
        arrays[key].flat[0] = value
    return rewritten(change)


def epochs_done(n: int):
    def change(arrays, meta):
        meta["history"] = [dict(meta["history"][0], epoch=i + 1) for i in range(n)]
        meta["epoch"] = n
    return rewritten(change)


def drop_last_weight(arrays, meta):
    arrays.pop("weights/3")
    meta["weight_names"].pop()
    meta["optimizer_keys"].remove(f"velocity/{B2}")
    arrays.pop(f"optimizer/velocity/{B2}")


def bogus_optimizer_key(slot_and_name):
    def change(arrays, meta):
        meta["optimizer_keys"].append(slot_and_name)
        arrays[f"optimizer/{slot_and_name}"] = np.zeros(3, np.float32)
    return rewritten(change)


DEEP = "[" * 100_000 + "]" * 100_000

# (case id, how to make the file, what the message must say)
CASES = [
    ("empty file", raw_bytes(lambda raw: b""), "is not a specc checkpoint: it is empty (0 bytes)"),
    ("text file", raw_bytes(lambda raw: b"hello"), "is not a specc checkpoint: it is not a zip archive"),
    ("cut in half", raw_bytes(lambda raw: raw[:len(raw) // 2]), "is not a specc checkpoint: it is cut short"),
    ("last byte cut", raw_bytes(lambda raw: raw[:-1]), "is not a specc checkpoint: it is cut short"),
    ("a folder", lambda raw, path: path.mkdir(), "is not a specc checkpoint: it is a folder"),
    ("no such file", lambda raw, path: None, "no such checkpoint"),
    ("a FIFO", lambda raw, path: os.mkfifo(path), "is not a specc checkpoint: it is not a regular file"),
    ("zip of a text file", zip_members(lambda name, data: None, ("readme.txt", b"hi")),
     "it holds \"readme.txt\", which is not a .npy array"),
    ("member not .npy", zip_members(lambda name, data: b"garbage" if name == "meta.npy" else data),
     "its member 'meta' is not a valid .npy array"),
    ("pickled object", array("weights/0", np.array([{"run": "code"}], dtype=object)),
     "its member 'weights/0' holds Python objects, which specc never loads"),
    ("member cut short", zip_members(lambda name, data: data[:-4] if name == "weights/0.npy" else data),
     "is damaged: its member 'weights/0' declares (3, 2) float32 but holds 20 bytes of data"),
    ("checksum fails", raw_bytes(flip_a_weight_byte), "is damaged: its member 'weights/0' cannot be read"),
    # weights
    ("bias of shape (1,)", array("weights/1", np.zeros(1, np.float32)),
     f"has weight {B1} ('weights/1') of shape (1,); this spec's is (3,)"),
    ("bias a scalar", array("weights/1", np.float32(0.5)),
     f"has weight {B1} ('weights/1') of shape () (a scalar); this spec's is (3,)"),
    ("weight transposed", array("weights/0", np.zeros((2, 3), np.float32)),
     f"has weight {W1} ('weights/0') of shape (2, 3); this spec's is (3, 2)"),
    ("complex weight", array("weights/0", np.zeros((3, 2), np.complex64)), "dtype complex64; weights are float32"),
    ("integer weight", array("weights/0", np.zeros((3, 2), np.int32)), "dtype int32; weights are float32"),
    ("float64 weight", array("weights/0", np.zeros((3, 2), np.float64)), "dtype float64; weights are float32"),
    ("bool weight", array("weights/0", np.zeros((3, 2), bool)), "dtype bool; weights are float32"),
    ("string weight", array("weights/0", np.full((3, 2), "1.0")), "weights are float32"),
    ("big-endian weight", array("weights/0", np.zeros((3, 2), ">f4")), "dtype float32, byte-swapped"),
    ("NaN weight", nan_at("weights/2"), f"has weight {W2} ('weights/2') with 1 values that are NaN or infinite"),
    ("inf weight", nan_at("weights/3", np.inf), f"has weight {B2} ('weights/3') with 1 values that are NaN"),
    ("missing weight", without("weights/3"), "is missing the array 'weights/3' that its meta lists"),
    ("extra weight", array("weights/4", np.zeros(2, np.float32)), "holds an array its meta does not list: 'weights/4'"),
    ("extra array", array("junk", np.zeros(2, np.float32)), "holds an array its meta does not list: 'junk'"),
    ("fewer weights", rewritten(drop_last_weight), "lists 3 weights; this spec has 4"),
    # meta
    ("no meta", without("meta"), "is not a specc checkpoint: it has no 'meta'"),
    ("meta not JSON", array("meta", np.array("{epoch: 1")), "has a 'meta' that is not JSON"),
    ("meta nested deep", array("meta", np.array(DEEP)), "has a 'meta' that is not JSON"),
    ("meta a list", array("meta", np.array("[1, 2]")), "has a 'meta' that is not a JSON object"),
    ("meta a number array", array("meta", np.array(7)), "has 'meta' of shape () (a scalar), dtype int64, not a string"),
    ("other format", setting("format", "specc-checkpoint-0"), "its meta says format \"specc-checkpoint-0\""),
    ("no epoch", rewritten(lambda arrays, meta: meta.pop("epoch")), "meta has no 'epoch'"),
    ("negative epoch", setting("epoch", -1), "meta has 'epoch' = -1, which is not a whole number >= 0"),
    ("fractional epoch", setting("epoch", 1.5), "meta has 'epoch' = 1.5, which is not a whole number"),
    ("epoch a string", setting("epoch", "1"), "meta has 'epoch' = \"1\", which is not a whole number"),
    ("epoch past the run", epochs_done(3), "meta says 3 epochs are done of a run of 1"),
    ("epoch without history", setting("epoch", 0), "meta says 0 epochs are done but its history holds 1"),
    ("negative batch", setting("batch", -2), "meta has 'batch' = -2, which is not a whole number >= 0"),
    ("batch without sums", setting("batch", 3), "stopped at batch 4 but holds no sums of that epoch"),
    ("bad partial sums", rewritten(lambda arrays, meta: meta.update(batch=2, partial={"loss": 1.0})),
     "meta's 'partial' (the epoch so far) has no 'correct'"),
    ("weight names not a list", setting("weight_names", "dense"), "meta has 'weight_names' = \"dense\", which is not"),
    ("history an object", setting("history", {}), "meta has 'history' = {}, which is not a list"),
    ("history of numbers", setting("history", [1]), "meta's history: epoch 1 is not an object"),
    ("history out of order", rewritten(lambda arrays, meta: meta["history"][0].update(epoch=7)),
     "meta's history: epoch 1 says it is epoch 7"),
    ("history seconds a string", rewritten(lambda arrays, meta: meta["history"][0].update(seconds="1")),
     "meta's history: epoch 1 has 'seconds' = \"1\", which is not seconds >= 0"),
    ("settings a list", setting("settings", [1]), "meta has 'settings' = [1], which is not an object of settings"),
    ("negative optimizer steps", setting("optimizer_steps", -3), "meta has 'optimizer_steps' = -3"),
    ("bogus optimizer slot", bogus_optimizer_key(f"bogus/{B1}"),
     f"meta has the optimizer key \"bogus/{B1}\", which is not <slot>/<weight name> with a slot of velocity"),
    ("optimizer key of no weight", bogus_optimizer_key("velocity/dense@9:9.bias"),
     "meta has the optimizer key \"velocity/dense@9:9.bias\""),
    ("optimizer array missing", without(f"optimizer/velocity/{B1}"),
     f"is missing the array 'optimizer/velocity/{B1}' that its meta lists"),
    ("optimizer array of another shape", array(f"optimizer/velocity/{B1}", np.zeros(2, np.float32)),
     f"has optimizer state velocity of {B1} ('optimizer/velocity/{B1}') of shape (2,); this spec's is (3,)"),
    ("optimizer array float64", array(f"optimizer/velocity/{B1}", np.zeros(3)), "dtype float64; weights are float32"),
    ("optimizer array NaN", nan_at(f"optimizer/velocity/{W2}"), f"optimizer state velocity of {W2}"),
    ("another fingerprint", setting("fingerprint", "0123456789abcdef"), "was written for another network (tiny)"),
    # tables
    ("no class names", without("classes/label"), "holds no class names for label"),
    ("repeated class names", array("classes/label", np.array(["A", "A"])),
     "has 'classes/label' with empty or repeated class names"),
    ("empty class name", array("classes/label", np.array(["A", ""])), "with empty or repeated class names"),
    ("class names as numbers", array("classes/label", np.array([0, 1])),
     "has 'classes/label' of shape (2,), dtype int64, not a list of strings"),
    ("class names of no output", array("classes/other", np.array(["A", "B"])),
     "holds class names for other, which this spec does not have"),
    ("repeated vocabulary", array("vocabulary/onehot@3:6", np.array(["to", "to"])),
     "has 'vocabulary/onehot@3:6' with empty or repeated words"),
    ("vocabulary of no layer", array("vocabulary/onehot@3:6", np.array(["to", "from"])),
     "holds vocabulary for onehot@3:6, which this spec does not have"),
]


def command_line(command: str, spec, checkpoint, out) -> list[str]:
    """The argv of `command` using `checkpoint` with `spec`, writing into the folder `out`."""
    return [str(a) for a in {
        "run": ["run", spec, "--weights", checkpoint, "--input", f"x={spec.parent / 'x.npy'}"],
        "compile": ["compile", spec, "--weights", checkpoint, "-o", out / "tiny.onnx"],
        # a resumed run goes on in its checkpoint's folder, `out` in these tests
        "train --resume": ["train", spec, "--resume", checkpoint, "--quiet"],
    }[command]]


def assert_refused(capsys, argv: list[str], checkpoint, problem: str) -> str:
    """Exit 2, the message naming the file and the problem, no Python exception in sight;
    returns the message."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(checkpoint) in err and problem in err, err
    assert not re.search(r"Traceback|BadZipFile|\b[A-Z]\w*(Error|Exception|Warning)\b", err), err
    return err


@pytest.mark.parametrize("command", ["run", "compile", "train --resume"])
@pytest.mark.parametrize("make, problem", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_damaged_or_changed_checkpoint_exits_2_naming_the_file_and_the_problem(
        trained, tmp_path, capsys, command, make, problem):
    folder, spec, raw = trained
    checkpoint = tmp_path / "checkpoint.npz"
    make(raw, checkpoint)
    assert_refused(capsys, command_line(command, spec, checkpoint, tmp_path), checkpoint, problem)
    assert not (tmp_path / "tiny.onnx").exists()


@pytest.mark.parametrize("make, problem", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_load_weights_refuses_and_leaves_the_network_as_it_was(trained, tmp_path, make, problem):
    folder, spec, raw = trained
    checkpoint = tmp_path / "checkpoint.npz"
    make(raw, checkpoint)
    net = specc.load(spec)
    before = {name: value.copy() for name, value in net.weights.items()}
    with pytest.raises(specc.SpecError, match=re.escape(problem)):
        net.load_weights(checkpoint)
    assert all(np.array_equal(before[name], net.weights[name]) for name in before)


@pytest.mark.parametrize("classes", ["B | A", "cat | dog"])
@pytest.mark.parametrize("command", ["run", "compile", "train --resume"])
def test_other_class_names_stop_with_both_lists(trained, tmp_path, capsys, command, classes):
    folder, _, raw = trained
    checkpoint = tmp_path / "checkpoint.npz"
    checkpoint.write_bytes(raw)
    spec = write_spec(folder, classes)
    err = assert_refused(capsys, command_line(command, spec, checkpoint, tmp_path), checkpoint,
                         f"was trained with the classes A | B for output label; this spec has {classes}")
    assert "declare 'output label: A | B'" in err


def test_resuming_at_a_batch_past_the_epoch_exits_2(trained, tmp_path, capsys):
    _, spec, raw = trained
    checkpoint = tmp_path / "checkpoint.npz"
    sums = {"loss": 1.0, "correct": 0, "seen": 8, "seconds": 0.1}
    rewritten(lambda arrays, meta: meta.update(epoch=0, history=[], batch=99, partial=sums))(raw, checkpoint)
    code = main(command_line("train --resume", spec, checkpoint, tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "the checkpoint stopped at batch 100 of epoch 1, but an epoch of these 36 samples has 5 " \
        "batches of 8" in err, err


def test_a_good_checkpoint_still_runs_compiles_and_resumes(trained, tmp_path, capsys):
    folder, spec, raw = trained
    checkpoint = tmp_path / "checkpoint.npz"
    checkpoint.write_bytes(raw)
    for command in ("run", "compile", "train --resume"):
        assert main(command_line(command, spec, checkpoint, tmp_path)) == 0, capsys.readouterr().err
    net = specc.load(spec)
    net.load_weights(folder / "run" / "checkpoint.npz")
    with np.load(folder / "run" / "checkpoint.npz") as archive:
        assert np.array_equal(net.weights[B1], archive["weights/1"])


def test_a_zip_bomb_is_refused_from_its_header_before_any_data_is_read(trained, tmp_path, capsys):
    """weights/0 declares 2**25 float32 (128 MiB of zeros, 0.6 MB deflated): refused from the
    .npy header, with the memory of the run staying far below the member's size."""
    _, spec, raw = trained
    checkpoint = tmp_path / "checkpoint.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**25,)})
    with zipfile.ZipFile(io.BytesIO(raw)) as source, \
            zipfile.ZipFile(checkpoint, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for name in source.namelist():
            if name != "weights/0.npy":
                target.writestr(name, source.read(name))
        with target.open("weights/0.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            for _ in range(2**25 * 4 // 2**22):
                member.write(bytes(2**22))
    net = specc.load(spec)
    tracemalloc.start()
    with pytest.raises(specc.SpecError, match=re.escape(f"('weights/0') of shape ({2**25},); this spec's is (3, 2)")):
        net.load_weights(checkpoint)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 2**20


@pytest.mark.parametrize("tables, problem", [
    ({"classes/label": np.array(["A" * 2000, "B"])}, "has 'classes/label' of 16,000 bytes"),
    # many tables, each small enough alone
    ({f"vocabulary/layer{i}": np.array(["w" * 500]) for i in range(5)}, "has 'vocabulary/layer3' of 2,000 bytes"),
], ids=["one large table", "many tables"])
def test_absurdly_large_tables_are_refused_before_they_are_read(trained, tmp_path, monkeypatch, tables, problem):
    import specc.runtime.checkpoint

    _, spec, raw = trained
    checkpoint = tmp_path / "checkpoint.npz"
    rewritten(lambda arrays, meta: arrays.update(tables))(raw, checkpoint)
    with np.load(checkpoint) as archive:
        # room for meta, the class names and three and a half of the 2,000-byte tables
        monkeypatch.setattr(specc.runtime.checkpoint, "MAX_TEXT_BYTES", archive["meta"].nbytes + 8 + 7_000)
    with pytest.raises(specc.SpecError, match=f"{problem}: with its other text, more than any checkpoint holds"):
        specc.load(spec).load_weights(checkpoint)


def test_best_npz_must_hold_its_score(trained, tmp_path):
    from specc.runtime.checkpoint import load_checkpoint

    _, spec, raw = trained
    checkpoint = tmp_path / "best.npz"
    checkpoint.write_bytes(raw)
    with pytest.raises(specc.SpecError, match="meta has no 'best_score'"):
        load_checkpoint(checkpoint, specc.load(spec).model, best=True)


WORD_SPEC = """model words
input words: seq token
output slots: from data
words -> onehot -> dense -> softmax -> slots
train
  data flights
"""


@pytest.fixture(scope="module")
def word_checkpoint(tmp_path_factory):
    """(spec, checkpoint bytes): WORD_SPEC's starting weights and flights vocabulary, saved as
    the checkpoint of a run at epoch 0."""
    from specc.runtime.checkpoint import save_checkpoint
    from specc.runtime.optim import SGD

    folder = tmp_path_factory.mktemp("words")
    spec = folder / "words.nn"
    spec.write_text(WORD_SPEC)
    net = specc.load(spec)
    save_checkpoint(folder / "checkpoint.npz", net.model, net.weights, SGD(None),
                    {"epoch": 0, "batch": 0, "history": [], "partial": None})
    return spec, (folder / "checkpoint.npz").read_bytes()


def other_words(change):
    """A case whose vocabulary of onehot@4 is `change(words)`."""
    def vocabulary(arrays, meta):
        arrays["vocabulary/onehot@4"] = change(arrays["vocabulary/onehot@4"])
    return rewritten(vocabulary)


@pytest.mark.parametrize("make, problem", [
    # the spec takes its vocabulary from the checkpoint: one word fewer no longer fits the weights
    (other_words(lambda words: words[1:]), "was written for another network (words)"),
    (other_words(lambda words: np.array(["zebra-crossing"] + list(words[1:]))), "was written for another network (words)"),
    (other_words(lambda words: np.array(["to", "to"])), "has 'vocabulary/onehot@4' with empty or repeated words"),
    (other_words(lambda words: np.arange(len(words))), "has 'vocabulary/onehot@4' of shape (168,), dtype int64"),
], ids=["a word fewer", "a word renamed", "repeated words", "numbers"])
def test_a_changed_vocabulary_is_refused(word_checkpoint, tmp_path, capsys, make, problem):
    spec, raw = word_checkpoint
    checkpoint = tmp_path / "checkpoint.npz"
    make(raw, checkpoint)
    assert_refused(capsys, ["compile", str(spec), "--weights", str(checkpoint), "-o", str(tmp_path / "w.onnx")],
                   checkpoint, problem)
    with pytest.raises(specc.SpecError, match=re.escape(problem)):
        specc.load(spec, weights=checkpoint)


def test_the_checkpoint_vocabulary_is_used_when_it_is_sound(word_checkpoint, tmp_path):
    spec, raw = word_checkpoint
    checkpoint = tmp_path / "checkpoint.npz"
    checkpoint.write_bytes(raw)
    net = specc.load(spec, data="atis", weights=checkpoint)
    with np.load(checkpoint) as archive:
        assert net.model.layers[0].attrs.vocabulary == tuple(archive["vocabulary/onehot@4"])
