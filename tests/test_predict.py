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
from tests.test_graph_export import TWO_HEADS

SPECS = Path(__file__).resolve().parent.parent / "specs"
WORDS = "show me flights from boston to denver on monday morning please".split()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    nets = {"x_or_o": specc.load(SPECS / "x_or_o.nn"), "slots": specc.load(SPECS / "slots_elman.nn"),
            "two_heads": specc.loads(TWO_HEADS, "two_heads.nn")}
    for name, net in nets.items():
        onnx.save(net.to_onnx(), folder / f"{name}.onnx")
    return {name: folder / f"{name}.onnx" for name in nets}


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
    assert err.splitlines()[0] == "error: input image holds 1 value that is not a finite number: nan at [2, 0, 3, 4]"


def test_wrong_shape_and_bad_batch(models, tmp_path, capsys):
    err = refused(models, tmp_path, capsys, {"image": np.zeros((4, 1, 8, 8))})
    assert err.splitlines()[0] == "error: input image has shape (4, 1, 8, 8), which does not fit (N, 1, 12, 12)"
    err = refused(models, tmp_path, capsys, {"image": IMAGES}, "--batch", "0")
    assert err.splitlines()[0] == "error: --batch 0 must be at least 1"


def test_pickled_arrays_are_not_loaded(models, tmp_path, capsys):
    err = refused(models, tmp_path, capsys, {"image": np.array([{"a": 1}], dtype=object)})
    assert err.splitlines()[0].startswith(f"error: cannot read {tmp_path / 'data.npz'}: holds Python objects")


def test_output_folder_refused_before_the_work(models, tmp_path, capsys):
    np.savez(tmp_path / "data.npz", image=IMAGES)
    status, _, err = predict([str(models["x_or_o"]), "--data", str(tmp_path / "data.npz"), "--out", str(tmp_path)],
                             capsys)
    assert (status, err.splitlines()[0]) == (2, f"error: cannot write {tmp_path}: it is a directory, not a regular file")


def test_ray_engine_is_not_offered(models, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(models["x_or_o"]), "--data", "d.npz", "--out", "p.npz", "--engine", "ray"])
    assert stop.value.code == 2
    assert "invalid choice: 'ray'" in capsys.readouterr().err
