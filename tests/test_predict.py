"""`specc predict` (issue 10, part 2), the local engine: a .npz data set scored in batches equals
one onnxruntime call on all of it, exactly, for a numeric classifier, a word tagger and a graph
with two outputs; mistakes in the data or the command exit 2 and write nothing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import specc
from specc.cli import main
from tests.test_graph_export import GATED, TWO_HEADS

SPECS = Path(__file__).resolve().parent.parent / "specs"
WORDS = "show me flights from boston to denver on monday morning please".split()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    nets = {"x_or_o": specc.load(SPECS / "x_or_o.nn"), "slots": specc.load(SPECS / "slots_elman.nn"),
            "two_heads": specc.loads(TWO_HEADS, "two_heads.nn"), "gated": specc.loads(GATED, "gated.nn")}
    for name, net in nets.items():
        onnx.save(net.to_onnx(), folder / f"{name}.onnx")
    onnx.save(nets["slots"].to_onnx(portable=True), folder / "slots_portable.onnx")
    return {name: folder / f"{name}.onnx" for name in [*nets, "slots_portable"]}


def sentences(count: int, seed: int = 0) -> np.ndarray:
    """(count, 12) words: sentences of 1 to 9 words, padded with "" (so every batch is padded
    past its longest sentence, as a data set of longer sentences would be)."""
    rng = np.random.default_rng(seed)
    batch = np.full((count, 12), "", dtype="<U16")
    for row in range(count):
        length = rng.integers(1, 10)
        batch[row, :length] = rng.choice(WORDS, length)
    return batch


def one_call(model: Path, data: dict) -> dict:
    """The oracle: every row in one onnxruntime call, string outputs as str."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feeds = {k: v.astype(object) if v.dtype.kind == "U" else v.astype(np.float32) for k, v in data.items()}
    values = session.run(None, feeds)
    return {o.name: v.astype(str) if v.dtype == object else v for o, v in zip(session.get_outputs(), values)}


def predict(args: list[str], capsys) -> tuple[int, str, str]:
    status = main(["predict", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("model, data, outputs", [
    ("x_or_o", lambda rng: {"image": rng.random((1000, 1, 12, 12), dtype=np.float32)}, "label, label_class"),
    ("slots", lambda rng: {"words": sentences(300)}, "slots, slots_class"),
    ("two_heads", lambda rng: {"image": rng.random((1000, 1, 8, 8)) * 4 - 2}, "digit, size, digit_class"),
])
def test_batches_equal_one_call(models, tmp_path, capsys, model, data, outputs):
    """97 rows a batch (the last one shorter), float64 data read as float32: every output equal,
    bit for bit, to one onnxruntime call on all rows."""
    arrays = data(np.random.default_rng(0))
    np.savez(tmp_path / "data.npz", **arrays)
    status, out, err = predict([str(models[model]), "--data", str(tmp_path / "data.npz"), "--out",
                                str(tmp_path / "p.npz"), "--batch", "97"], capsys)
    rows = len(next(iter(arrays.values())))
    assert (status, err) == (0, "")
    assert out.startswith(f"scored {rows:,} rows in {-(-rows // 97)} batches (")
    assert out.endswith(f" rows/s): wrote {outputs} to {tmp_path / 'p.npz'}\n")
    expected = one_call(models[model], arrays)
    with np.load(tmp_path / "p.npz") as got:
        assert sorted(got.files) == sorted(expected)
        for name, value in expected.items():
            assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name


def refused(models, tmp_path, capsys, arrays: dict, *flags: str) -> str:
    """Run predict on x_or_o with `arrays` saved as the data; assert exit 2 and no output file;
    return stderr."""
    np.savez(tmp_path / "data.npz", **arrays)
    status, out, err = predict([str(models["x_or_o"]), "--data", str(tmp_path / "data.npz"), "--out",
                                str(tmp_path / "p.npz"), *flags], capsys)
    assert (status, out) == (2, "")
    assert not (tmp_path / "p.npz").exists()
    return err


IMAGES = np.zeros((4, 1, 12, 12), np.float32)


def test_arrays_named_after_the_inputs(models, tmp_path, capsys):
    err = refused(models, tmp_path, capsys, {"images": IMAGES})
    assert err.splitlines()[:3] == [f"error: the arrays of {tmp_path / 'data.npz'} do not match the model's inputs",
                                    "  expected: arrays image", "  received: arrays images"]


def test_nonfinite_rows_are_named(models, tmp_path, capsys):
    bad = IMAGES.copy()
    bad[2, 0, 3, 4] = np.nan
    err = refused(models, tmp_path, capsys, {"image": bad})
    assert err.splitlines()[0] == (f"error: {tmp_path / 'data.npz'}: input image holds 1 value that is not a finite "
                                   "number: nan at [2, 0, 3, 4]")


def test_wrong_shape_and_bad_batch(models, tmp_path, capsys):
    err = refused(models, tmp_path, capsys, {"image": np.zeros((4, 1, 8, 8))})
    assert err.splitlines()[0] == (f"error: array image of {tmp_path / 'data.npz'} has shape (4, 1, 8, 8), which does "
                                   "not fit input image (N, 1, 12, 12)")
    err = refused(models, tmp_path, capsys, {"image": IMAGES}, "--batch", "0")
    assert err.splitlines()[0] == "error: --batch 0 must be at least 1"


def test_pickled_arrays_are_not_loaded(models, tmp_path, capsys):
    err = refused(models, tmp_path, capsys, {"image": np.array([{"a": 1}], dtype=object)})
    assert err.splitlines()[0].startswith(f"error: cannot read {tmp_path / 'data.npz'}: its array 'image' holds Python "
                                          "objects, which specc never loads")


def test_output_folder_refused_before_the_work(models, tmp_path, capsys):
    np.savez(tmp_path / "data.npz", image=IMAGES)
    status, _, err = predict([str(models["x_or_o"]), "--data", str(tmp_path / "data.npz"), "--out", str(tmp_path)],
                             capsys)
    assert (status, err.splitlines()[0]) == (2, f"error: cannot write {tmp_path}: it is a directory, not a regular file")



# ---- .csv, tagged sentences and folders ----

def predictions(models, model: str, data: Path, capsys, *flags: str) -> dict:
    """Run predict; assert it succeeded; the arrays it wrote."""
    out = data.parent / "p.npz"
    status, _, err = predict([str(models[model]), "--data", str(data), "--out", str(out), *flags], capsys)
    assert (status, err) == (0, ""), err
    with np.load(out) as written:
        return {name: written[name] for name in written.files}


def assert_equal(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name


def write_csv(path: Path, header: list[str], rows) -> Path:
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def test_csv_columns_are_an_image_in_c_order(models, tmp_path, capsys):
    """A training-style CSV: 144 pixel columns (channel, row, column) and a label column, left out."""
    images = np.random.default_rng(3).random((50, 1, 12, 12), dtype=np.float32)
    rows = [[*(f"{v:.9g}" for v in image.reshape(-1)), "X"] for image in images]
    data = write_csv(tmp_path / "data.csv", [f"p{i}" for i in range(144)] + ["label"], rows)
    assert_equal(predictions(models, "x_or_o", data, capsys, "--batch", "16"), one_call(models["x_or_o"], {"image": images}))


def test_csv_of_the_wrong_width_is_refused(models, tmp_path, capsys):
    data = write_csv(tmp_path / "data.csv", [f"p{i}" for i in range(143)], [[0] * 143])
    status, out, err = predict([str(models["x_or_o"]), "--data", str(data), "--out", str(tmp_path / "p.npz")], capsys)
    assert (status, out) == (2, "")
    assert err.splitlines()[:3] == [
        f"error: {data} has 143 columns for input image (N, 1, 12, 12), which takes 144 numbers a row",
        "  expected: 144 columns: the values of one sample (1 x 12 x 12) in C order; columns named label or after an "
        "output are left out",
        "  received: p0, p1, p2, p3, ... (143 in all)"]


def test_csv_cells_are_named_where_they_are_wrong(models, tmp_path, capsys):
    header = [f"p{i}" for i in range(144)]
    for cell, message in (("x", "line 3, column 'p5' is not a number: 'x'"),
                          ("1_0", "line 3, column 'p5' is not a number: '1_0'"),
                          ("nan", "line 3, column 'p5' is not a finite number: nan")):
        data = write_csv(tmp_path / "data.csv", header, [[0] * 144, [0] * 5 + [cell] + [0] * 138])
        status, _, err = predict([str(models["x_or_o"]), "--data", str(data), "--out", str(tmp_path / "p.npz")], capsys)
        assert (status, err.splitlines()[0]) == (2, f"error: {data}: {message}")


def test_csv_of_sentences_for_a_word_model(models, tmp_path, capsys):
    words = sentences(40, seed=4)
    data = write_csv(tmp_path / "data.csv", ["words"], [[" ".join(w for w in row if w)] for row in words])
    width = max(sum(1 for w in row if w) for row in words)
    assert_equal(predictions(models, "slots", data, capsys), one_call(models["slots"], {"words": words[:, :width]}))


def test_tagged_sentences_are_scored_tags_ignored(models, tmp_path, capsys):
    words = sentences(30, seed=5)
    lines = [" ".join(f"{w}:O" for w in row if w) for row in words]
    (tmp_path / "data.txt").write_text("\n".join(lines) + "\n")
    width = max(sum(1 for w in row if w) for row in words)
    got = predictions(models, "slots", tmp_path / "data.txt", capsys, "--batch", "7")
    assert_equal(got, one_call(models["slots"], {"words": words[:, :width]}))


def test_a_numeric_model_refuses_sentences(models, tmp_path, capsys):
    (tmp_path / "data.txt").write_text("fly:O home:O\n")
    status, _, err = predict([str(models["x_or_o"]), "--data", str(tmp_path / "data.txt"), "--out",
                              str(tmp_path / "p.npz")], capsys)
    assert (status, err.splitlines()[0]) == (
        2, f"error: {tmp_path / 'data.txt'} holds sentences of words, but the model takes image (N, 1, 12, 12)")


def word_folder(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Three .npz files of sentences padded to 12, 5 and 9 words; and all of them padded to 12."""
    folder = tmp_path / "words"
    folder.mkdir()
    parts = [sentences(n, seed)[:, :width] for n, seed, width in ((40, 6, 12), (25, 7, 5), (31, 8, 9))]
    for i, part in enumerate(parts):
        part[:, -1] = ""  # every sentence shorter than its file's width
        np.savez(folder / f"part{i}.npz", words=part)
    return folder, np.concatenate([np.pad(p, ((0, 0), (0, 12 - p.shape[1])), constant_values="") for p in parts])


def test_a_folder_is_scored_in_name_order_words_padded_alike(models, tmp_path, capsys):
    folder, words = word_folder(tmp_path)
    status, out, _ = predict([str(models["slots"]), "--data", str(folder), "--out", str(tmp_path / "p.npz"),
                              "--batch", "16"], capsys)
    assert status == 0 and out.startswith("scored 96 rows of 3 files in 7 batches (")
    with np.load(tmp_path / "p.npz") as got:
        assert_equal(dict(got), one_call(models["slots"], {"words": words}))


def test_a_portable_word_model_is_given_words_and_gives_names(models, tmp_path, capsys):
    """specc maps the words to the portable model's ids and its class indices back to names: the
    predictions of the default export, the scores within float32 rounding."""
    data = tmp_path / "words.npz"
    np.savez(data, words=sentences(200, seed=4))
    portable = predictions(models, "slots_portable", data, capsys, "--batch", "64")
    default = predictions(models, "slots", data, capsys, "--batch", "64")
    assert sorted(portable) == ["slots", "slots_class"]
    assert portable["slots_class"].tolist() == default["slots_class"].tolist()
    np.testing.assert_allclose(portable["slots"], default["slots"], rtol=0, atol=1e-6)


def test_a_folder_of_mixed_kinds_is_refused(models, tmp_path, capsys):
    np.savez(tmp_path / "a.npz", image=IMAGES)
    (tmp_path / "b.csv").write_text("p0\n0\n")
    status, _, err = predict([str(models["x_or_o"]), "--data", str(tmp_path), "--out", str(tmp_path / "p.npz")],
                             capsys)
    assert (status, err.splitlines()[0]) == (2, f"error: the files of {tmp_path} are of 2 kinds: csv, npz")


def test_sequences_of_other_lengths_in_other_files_are_refused(models, tmp_path, capsys):
    """Numbers in sequences (N, T, 3) cannot be padded as words are: every file must have one T."""
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 5, 3)))
    np.savez(tmp_path / "b.npz", x=np.zeros((2, 7, 3)))
    status, _, err = predict([str(models["gated"]), "--data", str(tmp_path), "--out", str(tmp_path / "p.npz")], capsys)
    assert (status, err.splitlines()[:3]) == (2, [
        "error: the files of the data set hold samples of different shapes, so their outputs cannot be joined",
        "  expected: a.npz: x (5, 3)", "  received: b.npz: x (7, 3)"])


# ---- the Ray engine ----

def test_ray_engine_without_ray_names_the_extra(models, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    err = refused(models, tmp_path, capsys, {"image": IMAGES}, "--engine", "ray")
    assert err.splitlines()[0] == "error: specc predict --engine ray needs ray, which is not installed"
    assert 'python -m pip install -e ".[ray]"' in err


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="--engine ray needs the [ray] extra (ray[serve,data])")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_engine_equals_the_local_one_exactly(models, tmp_path, capsys, monkeypatch, ray_cluster):
    """Two .npz files of images cut into blocks of 300 rows (batch 97: the blocks are rounded up
    to 388), and a folder of sentence files: the Ray engine's output file equals the local one's."""
    import specc.predict_ray

    monkeypatch.setattr(specc.predict_ray, "BLOCK_ROWS", 300)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(9)
    for i, rows in enumerate((1000, 333)):
        np.savez(images / f"{i}.npz", image=rng.normal(size=(rows, 1, 12, 12)).astype(np.float32))
    words, _ = word_folder(tmp_path)
    for model, data in (("x_or_o", images), ("slots", words), ("slots_portable", words)):
        written = []
        for engine in ("local", "ray"):
            out = tmp_path / f"{engine}.npz"
            status, _, err = predict([str(models[model]), "--data", str(data), "--out", str(out), "--batch", "97",
                                      "--engine", engine], capsys)
            assert (status, err) == (0, "")
            with np.load(out) as got:
                written.append(dict(got))
        assert_equal(written[1], written[0])
