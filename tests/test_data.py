"""The training data (issue 3, §4): the built-in X/O generator and UCI digits, .npz and .csv
files, and the error for each kind of data that does not fit the spec, raised before training.

Oracles: class counts and pixel ranges by construction, a nearest-class-mean classifier for
"X and O are distinguishable", and the UCI set's own size and labels for digits.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pytest

import specc
from specc.runtime.data import BUILTIN, Dataset, load_data
from specc.runtime.data.xo import make_xo
from specc.specs import spec_path

XO_SPEC = dict(input_name="image", input_shape=(1, 12, 12), output_name="label", classes=("X", "O"))
DIGITS_SPEC = dict(input_name="image", input_shape=(1, 8, 8), output_name="digit", classes=tuple("0123456789"))
NEURON_SPEC = dict(input_name="x", input_shape=(3,), output_name="h", classes=None)


def load(source, **spec) -> Dataset:
    """load_data for the X/O spec (image 1x12x12, label X | O), with `spec` overriding it."""
    return load_data(str(source), **{**XO_SPEC, **spec})


def data_error(source, *words: str, **spec) -> specc.SpecError:
    """The SpecError that loading `source` raises; its rendering contains each of `words`."""
    with pytest.raises(specc.SpecError) as info:
        load(source, **spec)
    shown = info.value.render()
    assert shown.startswith("error: "), shown
    for word in words:
        assert word in shown, f"{word!r} not in:\n{shown}"
    return info.value


def nearest_mean_accuracy(train, test) -> float:
    """Accuracy on `test` of the classifier that picks the class whose mean training image is
    nearest: an oracle that knows nothing of specc's training."""
    x = train.x.reshape(len(train), -1)
    means = np.stack([x[train.y == c].mean(axis=0) for c in np.unique(train.y)])
    distance = ((test.x.reshape(len(test), 1, -1) - means) ** 2).sum(axis=-1)
    return float((distance.argmin(axis=1) == test.y).mean())


def hole_in_the_middle_accuracy(split) -> float:
    """Accuracy of calling an image O when the pixel at its centre of ink is dark (an O has a
    hole there, an X its crossing): a shift-invariant oracle for any image size."""
    ink = split.x[:, 0]
    ys, xs = np.mgrid[0:ink.shape[1], 0:ink.shape[2]]
    total = ink.sum(axis=(1, 2))
    row = np.rint((ink * ys).sum(axis=(1, 2)) / total).astype(int)
    column = np.rint((ink * xs).sum(axis=(1, 2)) / total).astype(int)
    called_o = ink[np.arange(len(ink)), row, column] < 0.5
    return float((called_o == (split.y == 1)).mean())


@pytest.fixture(scope="module")
def xo() -> Dataset:
    return load("xo")


@pytest.fixture(scope="module")
def digits() -> Dataset:
    pytest.importorskip("sklearn")
    return load("digits", **DIGITS_SPEC)


# ---- xo ----

def test_xo_splits_are_balanced_float_images_in_0_1(xo):
    assert xo.name == "xo" and xo.classes == ("X", "O")
    for split, n in ((xo.train, 2000), (xo.validation, 400), (xo.test, 400)):
        assert split.x.shape == (n, 1, 12, 12) and split.x.dtype == np.float32
        assert split.y.shape == (n,) and split.y.dtype == np.int64
        assert split.x.min() >= 0 and split.x.max() <= 1
        assert np.bincount(split.y).tolist() == [n // 2, n // 2]


def test_xo_images_are_bright_strokes_on_a_dark_background(xo):
    images = xo.train.x.reshape(len(xo.train), -1)
    assert images.max(axis=1).min() > 0.8
    ink, dark = (images > 0.5).mean(axis=1), (images < 0.15).mean(axis=1)
    assert 0.05 < ink.min() and ink.max() < 0.5 and dark.min() > 0.4


def test_xo_is_the_same_for_a_seed_and_its_test_split_for_every_seed(xo):
    again, other = load("xo"), load("xo", seed=1)
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(again, name).x, getattr(xo, name).x)
        np.testing.assert_array_equal(getattr(again, name).y, getattr(xo, name).y)
    assert not np.array_equal(other.train.x, xo.train.x)
    np.testing.assert_array_equal(other.test.x, xo.test.x)
    np.testing.assert_array_equal(other.test.y, xo.test.y)


def test_xo_labels_follow_the_specs_class_order(xo):
    flipped = load("xo", classes=("O", "X"))
    assert flipped.classes == ("O", "X")
    np.testing.assert_array_equal(flipped.test.x, xo.test.x)
    np.testing.assert_array_equal(flipped.test.y, 1 - xo.test.y)


def test_x_and_o_are_told_apart_by_simple_oracles(xo):
    assert nearest_mean_accuracy(xo.train, xo.test) > 0.9
    assert hole_in_the_middle_accuracy(xo.test) > 0.95


@pytest.mark.parametrize("shape", [(1, 16, 20), (1, 6, 6), (1, 28, 28), (1, 20, 9)])
def test_xo_fits_any_one_channel_size_of_at_least_6(shape):
    data = load("xo", input_shape=shape)
    assert data.train.x.shape == (2000, *shape) and data.test.x.shape == (400, *shape)
    assert data.train.x.reshape(2000, -1).max(axis=1).min() > 0.8
    assert hole_in_the_middle_accuracy(data.test) > 0.95


def test_make_xo_shapes_and_labels():
    images, labels = make_xo(7, 6, 9, np.random.default_rng(3))
    assert images.shape == (7, 1, 6, 9) and images.dtype == np.float32
    assert labels.dtype == np.int64 and sorted(labels.tolist()) == [0, 0, 0, 0, 1, 1, 1]


def test_make_xo_is_fast():
    start = time.perf_counter()
    make_xo(2800, 12, 12, np.random.default_rng(0))
    assert time.perf_counter() - start < 1.0


def test_xo_takes_its_size_from_the_spec_file():
    net = specc.load(spec_path("x_or_o"))
    image, label = net.model.inputs[0], net.model.outputs[0]
    data = load_data("xo", input_name=image.name, input_shape=image.shape[1:], output_name=label.name,
                     classes=label.classes)
    assert data.train.x.shape[1:] == image.shape[1:] and data.classes == label.classes


@pytest.mark.parametrize("shape, words", [
    ((3, 12, 12), ["one-channel", "3 channels", "3x12x12", "1x12x12"]),
    ((1, 5, 12), ["at least 6x6", "1x5x12"]),
    ((144,), ["images 1xHxW", "input image is 144"]),
])
def test_xo_refuses_an_input_it_cannot_draw(shape, words):
    data_error("xo", *words, input_shape=shape)


def test_xo_needs_a_classifier_with_classes_x_and_o():
    data_error("xo", "classes X | O", "cat | dog", classes=("cat", "dog"))
    data_error("xo", "classes X | O", "raw output", "output label: X | O", classes=None)


# ---- digits ----

def test_digits_is_the_uci_set_split_80_20(digits):
    assert digits.classes == tuple("0123456789")
    assert len(digits.train) + len(digits.validation) + len(digits.test) == 1797
    assert len(digits.test) == 359 and len(digits.validation) == 144
    for split in (digits.train, digits.validation, digits.test):
        assert split.x.shape[1:] == (1, 8, 8) and split.x.dtype == np.float32 and split.y.dtype == np.int64
        assert split.x.min() == 0 and split.x.max() == 1
    assert np.bincount(digits.test.y).min() >= 35  # stratified: 20% of each digit's ~180 images


def test_digits_test_split_is_fixed_and_validation_follows_the_seed(digits):
    other = load("digits", **DIGITS_SPEC, seed=5)
    np.testing.assert_array_equal(other.test.x, digits.test.x)
    np.testing.assert_array_equal(other.test.y, digits.test.y)
    assert not np.array_equal(other.validation.x, digits.validation.x)


def test_digits_reshape_to_a_vector_of_64_and_follow_the_class_order(digits):
    flat = load("digits", **{**DIGITS_SPEC, "input_shape": (64,), "classes": tuple("9876543210")})
    assert flat.test.x.shape == (359, 64)
    np.testing.assert_array_equal(flat.test.x, digits.test.x.reshape(359, 64))
    np.testing.assert_array_equal(flat.test.y, 9 - digits.test.y)


def test_digits_refuse_a_spec_that_does_not_fit(digits):
    data_error("digits", "samples of shape (1, 8, 8)", "input image is 1x12x12",
               **{**DIGITS_SPEC, "input_shape": (1, 12, 12)})
    data_error("digits", "0 | 1 | 2", "X | O", **{**DIGITS_SPEC, "classes": ("X", "O")})


def test_digits_without_scikit_learn_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    data_error("digits", "needs scikit-learn", "pip install", **DIGITS_SPEC)


# ---- .npz files ----

def random_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 12, 12), dtype=np.float32)


def test_npz_named_after_the_spec_with_class_names_and_a_test_split(tmp_path):
    names = np.array(["O", "X", "O", "O"] * 5)
    path = tmp_path / "data.npz"
    np.savez(path, image=random_images(20), label=names, image_test=random_images(6, 1), label_test=names[:6])
    data = load(path, classes=("X", "O"), validation=0.25)
    assert data.name == "data.npz" and data.classes == ("X", "O")
    assert len(data.train) == 15 and len(data.validation) == 5 and len(data.test) == 6
    expected = (names == "O").astype(np.int64)
    rows = np.sort(np.concatenate([data.train.x, data.validation.x])[:, 0, 0, 0])
    np.testing.assert_array_equal(rows, np.sort(random_images(20)[:, 0, 0, 0]))
    np.testing.assert_array_equal(data.test.y, expected[:6])
    assert data.validation.y.sum() == 4  # stratified: a quarter of the 15 O's and of the 5 X's


def test_npz_x_and_y_with_indices_and_flat_samples(tmp_path):
    path = tmp_path / "flat.npz"
    y = np.arange(10) % 2
    np.savez(path, x=random_images(10).reshape(10, 144), y=y[:, None])
    data = load(path, validation=0.2)
    assert data.train.x.shape == (8, 1, 12, 12) and data.test is None
    assert data.train.y.shape == (8,) and data.train.y.dtype == np.int64
    same, other = load(path, validation=0.2), load(path, validation=0.2, seed=1)
    np.testing.assert_array_equal(same.validation.x, data.validation.x)
    assert not np.array_equal(other.validation.x, data.validation.x)


def test_npz_regression_targets_become_float_columns(tmp_path):
    path = tmp_path / "xor.npz"
    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    np.savez(path, x=x, h=np.array([0, 1, 1, 0]))
    data = load(path, **NEURON_SPEC)
    assert data.classes is None and len(data.validation) == 0  # a tenth of 4 rows rounds to none
    assert data.train.x.dtype == np.float32 and data.train.y.dtype == np.float32
    np.testing.assert_array_equal(data.train.y, [[0], [1], [1], [0]])


# ---- .csv files ----

def test_csv_with_class_names_in_another_order_than_the_spec(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{i},{i + 1},{i + 2},{'XO'[i % 2]}\n" for i in range(10)))
    data = load(path, input_name="p", input_shape=(3,), classes=("O", "X"), validation=0.2)
    assert data.train.x.shape == (8, 3) and len(data.validation) == 2
    x = np.concatenate([data.train.x, data.validation.x])
    y = np.concatenate([data.train.y, data.validation.y])
    np.testing.assert_array_equal(y, np.where(x[:, 0] % 2 == 0, 1, 0))  # X is the spec's class 1


@pytest.mark.parametrize("header, label_at", [("a,kind,b,c", 1), ("label,a,b,c", 0), ("a,b,c,target", 3)])
def test_csv_label_column_is_the_outputs_name_or_label_or_the_last(tmp_path, header, label_at):
    path = tmp_path / "t.csv"
    rows = [[str(i), str(i), str(i)] for i in range(6)]
    for i, row in enumerate(rows):
        row.insert(label_at, str(i % 2))
    path.write_text(header + "\n" + "".join(",".join(row) + "\n" for row in rows))
    data = load(path, input_name="p", input_shape=(3,), output_name="kind", validation=0)
    np.testing.assert_array_equal(data.train.x[:, 0], np.arange(6))
    np.testing.assert_array_equal(data.train.y, np.arange(6) % 2)


def test_csv_labels_that_are_class_names_map_by_name(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n0,1\n1,2\n2,3\n")
    data = load(path, input_name="p", input_shape=(1,), classes=("1", "2", "3"), validation=0)
    np.testing.assert_array_equal(data.train.y, [0, 1, 2])


def test_csv_regression_target(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("x1,x2,x3,h\n0,0,1,0.25\n1,1,1,0.75\n")
    data = load(path, **NEURON_SPEC, validation=0)
    np.testing.assert_array_equal(data.train.y, np.array([[0.25], [0.75]], dtype=np.float32))


# ---- errors: each names both the data and the spec ----

def test_unknown_builtin_suggests_and_lists_the_choices():
    assert BUILTIN == ("xo", "digits", "flights", "atis")
    data_error("dgits", "unknown data set 'dgits'", "did you mean 'digits'?", "xo, digits", "a .npz or .csv file")
    data_error("mnist", "unknown data set 'mnist'", "xo, digits", ".npz or .csv")


def test_a_file_of_another_format(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("1 2 3\n")
    data_error(path, "not a .npz or .csv file")


@pytest.mark.parametrize("name", ["missing.npz", "missing.csv"])
def test_missing_file(tmp_path, name):
    data_error(tmp_path / name, "no such data file", name)


def test_unreadable_files(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00\x01not a zip archive at all")
    data_error(garbage, "cannot read", "garbage.npz")
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, random_images(2))
    data_error(single, "not a .npz archive")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,label\n1,\xe9\n".encode("latin-1"))
    data_error(latin, "cannot read", "latin.csv")


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    data_error(path, "cannot read", "holds Python objects", "pickled objects are refused")


def _npz_with_header(path, shape, data_bytes: int) -> None:
    """An .npz whose one array 'x' declares `shape` of float64 but holds `data_bytes` bytes, and a
    good 'y': the kind of file a truncated copy or a crafted attack leaves."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    labels = io.BytesIO()
    np.save(labels, np.array([0, 1]))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + bytes(data_bytes))
        archive.writestr("y.npy", labels.getvalue())


def test_npz_headers_are_checked_before_any_array_is_read(tmp_path, monkeypatch):
    cut = tmp_path / "cut.npz"
    _npz_with_header(cut, (2, 1, 12, 12), 100)  # 2,304 bytes declared
    data_error(cut, "cannot read", "cut.npz", "its array 'x' declares (2, 1, 12, 12) of float64 (2,304 bytes) "
               "but holds 100 bytes of data")
    # 10^12 numbers: refused from the header alone, not allocated (the file holds them, compressed)
    huge = tmp_path / "huge.npz"
    _npz_with_header(huge, (10**6, 1, 1000, 1000), 0)
    data_error(huge, "cannot read", "declares (1000000, 1, 1000, 1000)")
    monkeypatch.setenv("SPECC_MEMORY_LIMIT", "1KiB")
    fits = tmp_path / "fits.npz"
    np.savez(fits, x=random_images(2), y=np.array([0, 1]))
    data_error(fits, "the arrays of", "a part of the data", "(x, y) needs 1.1 KiB, more than the 1.0 KiB that SPECC_MEMORY_LIMIT allows")


def test_empty_files(tmp_path):
    for name in ("empty.csv", "empty.npz"):
        (tmp_path / name).write_bytes(b"")
        data_error(tmp_path / name, "is empty", name)
    header = tmp_path / "header.csv"
    header.write_text("a,b,label\n\n")
    data_error(header, "header but no data rows")
    no_rows = tmp_path / "no_rows.npz"
    np.savez(no_rows, x=np.zeros((0, 1, 12, 12)), y=np.zeros(0, dtype=int))
    data_error(no_rows, "array 'x' of", "holds no samples")
    no_arrays = tmp_path / "no_arrays.npz"
    np.savez(no_arrays)
    data_error(no_arrays, "holds no arrays")


def test_sample_shape_must_fit_the_specs_input(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 65)), y=np.arange(4) % 2)
    data_error(path, "samples of shape (65,)", "the spec's input image is 1x8x8", input_shape=(1, 8, 8))
    data_error(path, "samples of shape (65,)", "input image is 64", input_shape=(64,))
    np.savez(path, x=np.zeros((4, 64)), y=np.arange(4) % 2)
    assert load(path, input_shape=(1, 8, 8), validation=0).train.x.shape == (4, 1, 8, 8)


def test_nan_and_infinite_values_are_counted_and_placed(tmp_path):
    x = random_images(6)
    x[2, 0, 1, 1] = x[3, 0, 0, 0] = np.nan
    x[5, 0, 4, 4] = np.inf
    path = tmp_path / "d.npz"
    np.savez(path, image=x, label=np.arange(6) % 2)
    data_error(path, "found 2 NaN values and 1 infinite value", "array 'image' of", "sample 2")
    np.savez(path, image=random_images(6), label=np.array([0, 1, np.nan, 0, 1, 0]))
    data_error(path, "found 1 NaN value", "array 'label' of")
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,X\n3,nan,O\n")
    data_error(csv, "found 1 NaN value", "line 3, column 'b'", input_shape=(2,))


def test_a_label_not_among_the_classes_names_it_and_the_classes(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=random_images(4), label=np.array(["X", "O", "Q", "X"]))
    data_error(path, "label 'Q'", "not among the spec's classes X | O", "array 'label' of")
    csv = tmp_path / "d.csv"
    csv.write_text("a,label\n1,X\n2,cat\n3,dog\n")
    data_error(csv, "labels 'cat', 'dog'", "X | O", "column 'label' of", input_shape=(1,))
    np.savez(path, image=random_images(3), label=np.array([0, 1, 2]))
    data_error(path, "label 2", "not a class index", "X | O", "0..1")


def test_a_classifier_refuses_fractional_targets_and_one_hot_rows(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=random_images(3), label=np.array([0.0, 0.5, 1.0]))
    data_error(path, "fractional targets", "classifier", "0.5")
    np.savez(path, image=random_images(2), label=np.eye(2))
    data_error(path, "one class label per sample", "argmax")


def test_a_raw_output_refuses_class_names(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 3)), h=np.array(["yes", "no"]))
    data_error(path, "class names", "raw output", "output h:", **NEURON_SPEC)


def test_sample_and_label_counts_must_match(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=random_images(10), label=np.zeros(9, dtype=int))
    data_error(path, "array 'image' of", "has 10 samples but array 'label' of", "has 9")


def test_npz_arrays_must_be_named_after_the_spec_or_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, a=random_images(2), b=np.zeros(2))
    data_error(path, "no arrays named after the spec's input image and output label", "arrays a, b")
    np.savez(path, image=random_images(2))
    data_error(path, "an array 'image' but no 'label'")
    np.savez(path, x=random_images(2), y=np.zeros(2, dtype=int), x_test=random_images(2))
    data_error(path, "an array 'x_test' but no 'y_test'")


def test_csv_mistakes_name_the_line_and_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,X\n3,,O\n")
    data_error(path, "line 3, column 'b' is empty", input_shape=(2,))
    path.write_text("a,b,label\n1,2,X\n3,four,O\n")
    data_error(path, "line 3, column 'b' is not a number: 'four'", input_shape=(2,))
    # float() reads both as numbers (10 and 12); in a data file they are mistakes
    for cell in ("1_0", "\u0661\u0662"):
        path.write_text(f"a,b,label\n1,2,X\n3,{cell},O\n", encoding="utf-8")
        data_error(path, f"line 3, column 'b' is not a number: '{cell}'", input_shape=(2,))
    path.write_text("a,b,label\n1,2,X\n3,O\n")
    data_error(path, "line 3 has 2 columns, the header 3")
    path.write_text("1,2,0\n3,4,1\n")
    data_error(path, "no header row")
    data_error(path, "sequence", "seq 2", input_shape=("T", 2))


def test_validation_fraction_must_be_below_1():
    data_error("xo", "validation fraction", "received 1", validation=1)
