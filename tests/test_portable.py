"""`specc compile --portable`: models in the default ONNX domain only, which OpenVINO (f32),
tract and onnx2torch run as onnxruntime does (tests/other_runtimes.py), for every spec in specs/
and a seeded sample of generated numeric specs; words go in as ids and class indices come out,
and `specc run` maps both back to what the default export prints."""
from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import numpy as np
import onnx
import pytest

import specc
from specc.cli import main
from specc.errors import SpecError
from specc.portable import WordIds, index_output_name
from specc.runtime.onnx_runner import OnnxModel
from specc.verify import TOLERANCE
from tests import other_runtimes
from tests.spec_fuzzer import random_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"
SPEC_NAMES = sorted(p.stem for p in SPECS.glob("*.nn"))
FUZZ_SEED, FUZZ_COUNT = 20261201, 30
NO_SCAN = "onnx2torch has no converter for Scan, which an rnn needs on a dynamic T"
# the specs whose output names classes ("output digit: 0 | 1 | ..." or "output slots: from data")
CLASSIFIERS = [name for name in SPEC_NAMES if any(
    line.startswith("output ") and ":" in line for line in (SPECS / f"{name}.nn").read_text().splitlines())]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("portable")


@cache
def _compiled(name: str, folder: Path, portable: bool = True) -> Path:
    """The spec `name` of specs/ compiled by `specc compile --portable` into `folder`, once; or
    its default export, unverified (tests/test_export.py verifies it; here it is what the
    portable model's printing is compared with)."""
    if not portable:
        return specc.load(SPECS / f"{name}.nn").export(folder / f"{name}.onnx", verify=False).path
    path = folder / f"{name}.portable.onnx"
    assert main(["compile", str(SPECS / f"{name}.nn"), "-o", str(path), "--quiet", "--portable"]) == 0
    return path


def worst_difference(expected: np.ndarray, got: np.ndarray) -> float:
    """The largest difference, absolute where a value is at most 1 in size, relative above
    (specc.verify's measure)."""
    assert expected.shape == got.shape, (expected.shape, got.shape)
    if not expected.size:
        return 0.0
    return float((np.abs(expected - got) / np.maximum(np.abs(expected), 1)).max())


def check_outputs(expected: dict, got: dict) -> None:
    """Every output equal: float ones within the tolerance, class indices exactly."""
    assert list(got) == list(expected)
    for name, value in expected.items():
        if value.dtype.kind == "f":
            assert worst_difference(value, got[name]) <= TOLERANCE, name
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)


def check_class_indices(model, outputs: dict, feeds: dict) -> None:
    """Each classifier output's NAME_index is the argmax of its scores, -1 on padding."""
    for output in (o for o in model.outputs if o.classes):
        index = outputs[index_output_name(output.name)]
        expected = outputs[output.name].argmax(axis=-1)
        words = next((v for v in feeds.values() if v.dtype == np.int64), None)
        if words is not None and index.ndim == 2:  # a tagger: no class on padding
            expected = np.where((words if words.ndim == 2 else words[..., 0]) >= 0, expected, -1)
        np.testing.assert_array_equal(index, expected)


def run_everywhere(model, path: Path, runtime: str) -> None:
    """Run the portable model at `path` (of the spec IR `model`) in onnxruntime and `runtime` at
    two sizes; the outputs agree, and the class indices are the argmax of the scores."""
    session = OnnxModel(str(path))
    runner = other_runtimes.load(runtime, str(path))
    for feeds in other_runtimes.feeds_at(model, session.metadata):
        expected = session.session.run(None, feeds)
        expected = dict(zip(session.outputs, expected))
        check_class_indices(model, expected, feeds)
        check_outputs(expected, runner(feeds))


def has_scan(path: Path) -> bool:
    return any(node.op_type == "Scan" for node in onnx.load(str(path)).graph.node)


# ---- every spec in specs/ ----

@pytest.mark.parametrize("name", SPEC_NAMES)
def test_a_portable_model_holds_default_domain_operators_only(name, folder):
    proto = onnx.load(str(_compiled(name, folder)))
    assert {(o.domain, o.version) for o in proto.opset_import} == {("", 17)}
    assert {n.domain for n in proto.graph.node} == {""}
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert set(types.values()) <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    metadata = {m.key: m.value for m in proto.metadata_props}
    model = specc.load(SPECS / f"{name}.nn").model
    for output in model.outputs:
        if output.classes:
            assert json.loads(metadata[f"specc.classes.{output.name}"]) == list(output.classes)
    for i in model.inputs:
        expected = onnx.TensorProto.INT64 if i.form == "tokens" else onnx.TensorProto.FLOAT
        assert types[i.name] == expected


@pytest.mark.parametrize("runtime", other_runtimes.RUNTIMES)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_every_spec_runs_in_other_runtimes_as_in_onnxruntime(name, runtime, folder):
    path = _compiled(name, folder)
    if runtime == "onnx2torch" and has_scan(path):
        with pytest.raises(NotImplementedError, match="Scan"):  # (a skip passes through if it is missing)
            other_runtimes.load(runtime, str(path))
        pytest.xfail(NO_SCAN)
    run_everywhere(specc.load(SPECS / f"{name}.nn").model, path, runtime)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_specc_run_prints_the_names_the_default_export_prints(name, folder, capsys):
    model = specc.load(SPECS / f"{name}.nn").model
    if model.inputs[0].form == "tokens":
        flags = ["--text", "arrive Zürich on MONDAY", "--text", "show flights from İSTANBUL to unseenword  at 8pm"]
    else:
        image = folder / f"{name}.json"
        sizes = (2,) + model.inputs[0].shape[1:]
        image.write_text(json.dumps(np.linspace(-1, 1, int(np.prod(sizes))).reshape(sizes).round(3).tolist()))
        flags = ["--input", f"{model.inputs[0].name}={image}"]
    printed = []
    for portable in (False, True):
        capsys.readouterr()
        assert main(["run", str(_compiled(name, folder, portable)), "--json", *flags]) == 0
        printed.append(capsys.readouterr().out)
    names = [json.loads(line) for line in printed[0].splitlines()]
    assert [json.loads(line) for line in printed[1].splitlines()] == names
    assert any(isinstance(value, list) and value and isinstance(value[0], str) for line in names
               for value in line.values())  # class names were printed


def test_the_api_exports_a_portable_model_and_runs_it_with_words(tmp_path):
    net = specc.load(SPECS / "slots_elman.nn")
    report = net.export(tmp_path / "tagger.onnx", portable=True)
    assert report.ok and report.max_diff <= TOLERANCE
    onnx_net = specc.load_onnx(report.path)
    assert onnx_net.word_inputs == {"words"}
    got = onnx_net.run(words=["arrive Boston", "leave"])
    expected = net.run(words=["arrive Boston", "leave"])
    assert list(got) == ["slots", "slots_class"]
    assert got["slots_class"].tolist() == expected["slots_class"].tolist()
    assert got["slots_class"][1, 1] == ""  # padding has no class
    assert worst_difference(expected["slots"], got["slots"]) <= TOLERANCE


def test_the_api_gives_the_tensors_for_another_runtime_and_names_what_it_returns(tmp_path):
    """A user running a portable tagger in tract gets its ids from `feeds` and the slot names
    back from `named`: the words and names specc itself gives."""
    net = specc.load(SPECS / "slots_elman.nn")
    path = net.export(tmp_path / "tagger.onnx", portable=True).path
    onnx_net = specc.load_onnx(path)
    sentences = ["arrive Boston on monday", "leave"]
    feeds = onnx_net.feeds(words=sentences)
    assert feeds["words"].dtype == np.int64 and feeds["words"].shape == (2, 4)
    assert feeds["words"][1].tolist()[1:] == [-1, -1, -1]
    outputs = other_runtimes.load("tract", str(path))(feeds)
    assert onnx_net.named(outputs)["slots_class"].tolist() == net.run(words=sentences)["slots_class"].tolist()


def test_the_default_path_of_a_portable_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compile", str(SPECS / "neuron.nn"), "--portable"]) == 0
    assert "wrote neuron.portable.onnx (16 parameters)" in capsys.readouterr().out
    assert (tmp_path / "neuron.portable.onnx").is_file()


# ---- how words become ids ----

def test_word_ids_follow_the_vocabulary_lowercase_and_the_unknown_id():
    ids = WordIds("words", ("arrive", "boston", "istanbul"), lowercase=True)
    words = np.array([["Arrive", "BOSTON", "İSTANBUL", "Zürich"], ["boston", "", "", ""]], dtype=object)
    assert ids.encode(words).tolist() == [[0, 1, 2, 3], [1, -1, -1, -1]]
    assert WordIds("words", ("arrive",), lowercase=False).encode(np.array([["Arrive", "arrive"]], object)).tolist() \
        == [[1, 0]]


def test_trigram_ids_list_every_trigram_unknown_ones_as_the_vocabulary_size():
    ids = WordIds("trigrams", ("#ap", "app", "ppl", "ple", "le#"), lowercase=True)
    words = np.array([["Apple", "apples", "x"], ["apple", "", ""]], dtype=object)
    # apples: #ap app ppl ple les es#; x: #x#; padding: all -1
    assert ids.encode(words).tolist() == [[[0, 1, 2, 3, 4, -1], [0, 1, 2, 3, 5, 5], [5, -1, -1, -1, -1, -1]],
                                          [[0, 1, 2, 3, 4, -1], [-1] * 6, [-1] * 6]]


def test_a_word_input_read_by_two_word_layers_has_no_portable_form(tmp_path, capsys):
    spec = tmp_path / "two.nn"
    spec.write_text("input words: seq token\noutput y\na = words -> onehot vocab=[a, b] -> dense 2\n"
                    "words -> wordhash vocab=[\"#a#\"] -> dense 2 -> add a -> y\n")
    assert main(["compile", str(spec), "--portable"]) == 2
    error = capsys.readouterr().err
    assert "input words is read by 2 word layers; a portable model takes one kind of word ids per input" in error
    assert not (tmp_path / "two.portable.onnx").exists()


def test_damaged_word_metadata_is_named():
    from specc.portable import word_inputs

    with pytest.raises(SpecError, match="metadata entry specc.words.words is damaged"):
        word_inputs({"specc.words.words": '{"ids": "letters"}'})


# ---- a seeded sample of generated numeric specs ----

@pytest.fixture(scope="module")
def fuzz_models(folder) -> list[tuple[str, object, Path]]:
    """(text, spec IR, portable model) for FUZZ_COUNT generated specs (tests/spec_fuzzer.py) that
    build and read numbers, in the order the seeded generator writes them; each is exported with
    --portable's verification against NumPy, and those whose NumPy outputs are not finite (huge
    literal weights) are left out, as there is nothing to compare."""
    rng, found = random.Random(FUZZ_SEED), []
    while len(found) < FUZZ_COUNT:
        text = random_spec(rng)
        try:
            net = specc.loads(text, "fuzz.nn")
        except SpecError:
            continue
        if any(i.form == "tokens" for i in net.model.inputs):
            continue
        report = net.export(folder / f"fuzz{len(found)}.onnx", portable=True)
        assert report.ok or not report.finite, text
        found.append((text, net.model, report.path if report.ok else None))
    return [entry for entry in found if entry[2] is not None]


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
def test_generated_numeric_specs_run_in_other_runtimes(runtime, fuzz_models):
    ran = 0
    for number, (text, model, path) in enumerate(fuzz_models):
        try:
            run_everywhere(model, path, runtime)
        except AssertionError as failure:
            raise AssertionError(f"generated spec {number}:\n{text}") from failure
        ran += 1
    assert ran >= FUZZ_COUNT // 3


def test_generated_word_specs_export_portable_models_equal_to_numpy(tmp_path):
    """Vocabularies in many scripts and cases (tests/spec_fuzzer.WORDS), with and without
    `lowercase`: the ids specc maps words to give NumPy's numbers on every verification word
    (unseen, capitalised, special lower cases), and tract agrees."""
    rng, exported = random.Random(FUZZ_SEED), 0
    while exported < FUZZ_COUNT // 3:
        text = random_spec(rng)
        if "seq token" not in text or "from data" in text or "vocab=" not in text:
            continue  # vocabularies from data would read the flights data set
        try:
            net = specc.loads(text, "words.nn")
        except SpecError:
            continue
        report = net.export(tmp_path / f"words{exported}.onnx", portable=True)
        assert report.ok or not report.finite, text
        if report.ok:
            run_everywhere(net.model, report.path, "tract")
        exported += 1
