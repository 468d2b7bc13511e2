"""Training data from a file: arrays in a .npz archive, or a table in a .csv file."""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from specc.errors import SpecError

from . import Dataset, SpecSide, Split, check_finite, fit_samples, holdout, split_validation, targets_for_spec

HINT = "give a .npz file written by numpy.savez, or a .csv file with a header row"


class Table(NamedTuple):
    """Samples and labels as read, before they are fitted to the spec; `x_what` and `y_what`
    name them in messages ("array 'image' of data.npz")."""

    x: np.ndarray
    y: np.ndarray
    x_what: str
    y_what: str


def require_data_file(path: str, hint: str) -> None:
    """SpecError unless `path` is a regular file: missing, or a folder, FIFO or device said so
    (a FIFO or device would block the run or never end)."""
    from specc.atomic import require_file

    require_file(path, "data", hint)


def load_file(path: str, spec: SpecSide, seed: int, validation: float) -> Dataset:
    """The file's samples fitted to the spec; a `validation` fraction of its training rows held
    out by `seed` (stratified for a classifier), and its own test split where it has one."""
    file = Path(path)
    require_data_file(path, f"{HINT}, or a built-in data set: xo, digits")
    if file.stat().st_size == 0:
        raise SpecError(f"the data file {path} is empty", hint=HINT)
    read = read_npz if file.suffix.lower() == ".npz" else read_csv
    train_table, test_table = read(path, spec)
    train = fit_table(train_table, spec)
    test = fit_table(test_table, spec) if test_table else None
    strata = train.y if spec.classes and train.y.ndim == 1 else None
    train, held = split_validation(train.x, train.y, validation, seed, strata)
    return Dataset(file.name, train, held, test, spec.classes)


def fit_table(table: Table, spec: SpecSide) -> Split:
    """Check a table against the spec: samples (N, *input_shape) float32 and finite, as many
    labels as samples, labels that fit the spec's output."""
    x, y = table.x, table.y
    for array, what in ((x, table.x_what), (y, table.y_what)):
        if array.ndim == 0:
            raise SpecError(f"{what} holds a single number, not one row per sample", hint=HINT)
    if len(x) == 0:
        raise SpecError(f"{table.x_what} holds no samples", hint=HINT)
    if len(x) != len(y):
        raise SpecError(f"{table.x_what} has {len(x)} samples but {table.y_what} has {len(y)}",
                        expected="one label per sample", received=f"{len(x)} samples, {len(y)} labels")
    if x.dtype.kind not in "biuf":
        raise SpecError(f"{table.x_what} must hold numbers: received an array of {x.dtype}", hint=HINT)
    samples = fit_samples(x, spec, table.x_what)
    check_finite(samples, table.x_what)
    steps = samples.shape[1] if spec.is_sequence else None
    return Split(samples, targets_for_spec(y, spec, table.y_what, steps))


# ---- .npz ----

def check_npz(path: str, hint: str) -> None:
    """Refuse, from the zip directory and the arrays' headers alone, before any array is read: a
    file that is not an .npz archive, an array of Python objects, a header that disagrees with
    the size of its data, and arrays that together would not fit in the memory available.
    Raises SpecError, or ValueError for the caller to name the file."""
    from specc.memory import check_fits
    from specc.npy import NPY_MAGIC, npz_headers

    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            if stream.read(len(NPY_MAGIC)) == NPY_MAGIC:
                raise SpecError(f"{path} is not a .npz archive: it holds one array", hint=hint)
        raise ValueError("it is not an .npz archive (a zip of .npy arrays)")
    sizes = {name: size for name, (_, _, size) in npz_headers(path).items()}
    check_fits(sum(sizes.values()), f"the arrays of {path} ({', '.join(sizes)})",
               hint="train on a part of the data, or on a machine with more memory")


def read_npz(path: str, spec: SpecSide) -> tuple[Table, Table | None]:
    """The training arrays (named after the spec's input and output, or x and y) and the
    optional test arrays (<input>_test and <output>_test, or x_test and y_test)."""
    try:
        check_npz(path, hint="save the samples and labels with numpy.savez(path, x=..., y=...)")
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not names:
                raise SpecError(f"the data file {path} holds no arrays", hint=HINT)
            pairs = ((spec.input_name, spec.output_name), ("x", "y"))
            train = pick_pair(names, pairs, path, spec)
            test = pick_pair(names, [(f"{a}_test", f"{b}_test") for a, b in pairs], path, spec, required=False)

            def table(x_name: str, y_name: str) -> Table:
                return Table(archive[x_name], archive[y_name],
                             f"array '{x_name}' of {path}", f"array '{y_name}' of {path}")

            return table(*train), (table(*test) if test else None)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise SpecError(f"cannot read {path}: {error}",
                        hint="save plain numeric (or string label) arrays with numpy.savez; pickled objects are refused"
                        ) from None


def pick_pair(names: list[str], pairs, path: str, spec: SpecSide, required: bool = True) -> tuple[str, str] | None:
    """The first (samples, labels) pair of array names present in the archive."""
    for x_name, y_name in pairs:
        if x_name in names and y_name in names:
            return x_name, y_name
    for x_name, y_name in pairs:
        if (x_name in names) != (y_name in names):
            present, absent = (x_name, y_name) if x_name in names else (y_name, x_name)
            raise SpecError(f"{path} has an array '{present}' but no '{absent}'",
                            expected=f"arrays '{x_name}' and '{y_name}'", received=f"arrays {', '.join(names)}")
    if not required:
        return None
    raise SpecError(f"{path} has no arrays named after the spec's input {spec.input_name} and output "
                    f"{spec.output_name}, nor x and y",
                    expected="arrays " + " or ".join(f"'{x}' and '{y}'" for x, y in pairs),
                    received=f"arrays {', '.join(names)}",
                    hint=f"numpy.savez(path, {spec.input_name}=samples, {spec.output_name}=labels)")


# ---- several inputs or outputs: one array each in a .npz ----

def load_arrays(path: str, inputs: list[SpecSide], outputs: list[SpecSide], seed: int, validation: float) -> Dataset:
    """A .npz holding one array per input and per output, named after them, of as many rows
    each; optionally `<name>_test` for every one of them (a held-out test split). `inputs` give
    each input's name and sample shape, `outputs` each output's name and classes (and, as its
    input, the sequence its per-step targets follow). A `validation` fraction of the rows is
    held out by `seed`, the same rows of every array."""
    require_data_file(path, "give a .npz file with one array per input and output")
    if Path(path).suffix.lower() != ".npz":
        raise SpecError(f"a spec with several inputs or outputs reads a .npz file, not {path}",
                        hint="numpy.savez(path, " + ", ".join(f"{s.input_name}=..." for s in inputs) + ", "
                             + ", ".join(f"{s.output_name}=..." for s in outputs) + ")")
    names = [s.input_name for s in inputs] + [s.output_name for s in outputs]
    try:
        check_npz(path, hint="numpy.savez(path, " + ", ".join(f"{name}=..." for name in names) + ")")
        with np.load(path, allow_pickle=False) as archive:
            present = set(archive.files)
            missing = [name for name in names if name not in present]
            if missing:
                raise SpecError(f"{path} has no array named {', '.join(repr(n) for n in missing)}",
                                expected="one array per input and output: " + ", ".join(names),
                                received="arrays " + ", ".join(archive.files),
                                hint="numpy.savez(path, " + ", ".join(f"{name}=..." for name in names) + ")")
            tests = [f"{name}_test" for name in names]
            given = [name for name in tests if name in present]
            if given and len(given) != len(tests):
                absent = [name for name in tests if name not in present]
                raise SpecError(f"{path} has a test split for some arrays but not all: no {', '.join(absent)}",
                                expected="either no <name>_test arrays, or one for every input and output",
                                received="arrays " + ", ".join(archive.files))
            train = _fit_arrays(archive, names, inputs, outputs, path)
            test = _fit_arrays(archive, tests, inputs, outputs, path) if given else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise SpecError(f"cannot read {path}: {error}",
                        hint="save plain numeric (or string) arrays with numpy.savez; pickled objects are refused"
                        ) from None
    rows = len(next(iter(train.x.values())))
    classifier = next((s.output_name for s in outputs if s.classes and train.y[s.output_name].ndim == 1), None)
    kept, held = holdout(rows, validation, np.random.default_rng(seed),
                         train.y[classifier] if classifier else None)

    def pick(split: Split, at: np.ndarray) -> Split:
        return Split({k: v[at] for k, v in split.x.items()}, {k: v[at] for k, v in split.y.items()})

    return Dataset(Path(path).name, pick(train, kept), pick(train, held), test, None)


def _fit_arrays(archive, names: list[str], inputs: list[SpecSide], outputs: list[SpecSide], path: str) -> Split:
    """The arrays `names` (inputs first, then outputs, in order) checked against the spec: as
    many rows each, samples of each input's shape, targets that fit each output."""
    arrays = [archive[name] for name in names]
    whats = [f"array '{name}' of {path}" for name in names]
    for array, what in zip(arrays, whats):
        if array.ndim == 0:
            raise SpecError(f"{what} holds a single number, not one row per sample", hint=HINT)
    if len(arrays[0]) == 0:
        raise SpecError(f"{whats[0]} holds no samples", hint=HINT)
    for array, what in zip(arrays[1:], whats[1:]):
        if len(array) != len(arrays[0]):
            raise SpecError(f"{whats[0]} has {len(arrays[0])} rows but {what} has {len(array)}",
                            expected="as many rows in every array", received=f"{len(arrays[0])} and {len(array)}")
    xs = {spec.input_name: _input_array(array, spec, what) for spec, array, what in zip(inputs, arrays, whats)}
    ys = {}
    for spec, array, what in zip(outputs, arrays[len(inputs):], whats[len(inputs):]):
        steps = xs[spec.input_name].shape[1] if spec.input_name in xs and spec.is_sequence else None
        if steps is not None and spec.classes and array.dtype.kind == "U":
            # tags of padded steps may be "" as the words are: no loss or score reads them
            array = np.where(array == "", spec.classes[0], array)
        ys[spec.output_name] = targets_for_spec(array, spec, what, steps)
    return Split(xs, ys)


def _input_array(array: np.ndarray, spec: SpecSide, what: str) -> np.ndarray:
    """One input's array: words (N, T) of text, "" on padding, for a `seq token` input; else
    numbers fitted to the input's shape, finite."""
    if spec.is_words:
        if array.dtype.kind != "U" or array.ndim != 2:
            raise SpecError(f"{what} must hold sentences of words, (N, T) strings padded with \"\"",
                            received=f"an array of {array.dtype}, shape {array.shape}")
        return array
    if array.dtype.kind not in "biuf":
        raise SpecError(f"{what} must hold numbers: received an array of {array.dtype}", hint=HINT)
    samples = fit_samples(array, spec, what)
    check_finite(samples, what)
    return samples


# ---- .csv ----

def read_csv(path: str, spec: SpecSide) -> tuple[Table, None]:
    """A header row, then one sample per row: feature columns and one label column (named
    like the spec's output, or 'label', or else the last column)."""
    if spec.is_sequence:
        raise SpecError(f"a .csv file holds one vector per row, but the spec's input {spec.input_name} is a "
                        f"sequence ({spec.input_text()})", hint="save sequences in a .npz file, (N, T, F)")
    header, lines, rows = read_table(path, f"add a first line naming the columns, the label column "
                                           f"'{spec.output_name}' or 'label'")
    label = next((header.index(name) for name in (spec.output_name, "label") if name in header), len(header) - 1)
    features = [i for i in range(len(header)) if i != label]
    table = np.array(rows, dtype=str)
    x = parse_numbers(table[:, features], path, lines, [header[i] for i in features])
    check_finite(x, path, lambda at: f"line {lines[at[0]]}, column '{header[features[at[1]]]}'")
    labels = label_column([cell.strip() for cell in table[:, label]], spec)
    return Table(x, labels, path, f"column '{header[label]}' of {path}"), None


def read_table(path: str, header_hint: str) -> tuple[list[str], list[int], list[list[str]]]:
    """A CSV file's header (names stripped), then its data rows and the line each ends on;
    SpecError for a file without a header row (`header_hint` says what to add) or data rows, and
    for a row whose number of columns differs from the header's."""
    lines, rows = read_rows(path)
    header, lines, rows = [name.strip() for name in rows[0]], lines[1:], rows[1:]
    if all(is_number(cell) for cell in header):
        raise SpecError(f"{path} has no header row: its first line holds only numbers", hint=header_hint)
    if not rows:
        raise SpecError(f"the data file {path} has a header but no data rows", hint=HINT)
    for line, row in zip(lines, rows):
        if len(row) != len(header):
            raise SpecError(f"{path}: line {line} has {len(row)} columns, the header {len(header)}",
                            expected=f"{len(header)} columns: {', '.join(header)}", received=",".join(row))
    return header, lines, rows


def read_rows(path: str) -> tuple[list[int], list[list[str]]]:
    """The non-blank rows of a CSV file and the line each ends on."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            found = [(reader.line_num, row) for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SpecError(f"cannot read {path}: {error}", hint=HINT) from None
    if not found:
        raise SpecError(f"the data file {path} is empty", hint=HINT)
    lines, rows = zip(*found)
    return list(lines), list(rows)


def parse_numbers(cells: np.ndarray, path: str, lines: list[int], columns: list[str]) -> np.ndarray:
    """Feature cells (N, F) of text -> float64 (N, F); names the first cell that is no number."""
    try:
        if not _plain("".join(cells.ravel().tolist())):
            raise ValueError  # NumPy would read "1_0" as 10 and "١٢" as 12
        return cells.astype(np.float64)
    except ValueError:
        row, column = next((r, c) for r, c in np.ndindex(cells.shape) if not is_number(cells[r, c]))
        cell = cells[row, column]
        problem = f"is not a number: '{cell}'" if cell.strip() else "is empty"
        raise SpecError(f"{path}: line {lines[row]}, column '{columns[column]}' {problem}",
                        expected="numbers in every feature column", received=f"'{cells[row, column]}'",
                        hint="fill in empty cells; only the label column may hold class names") from None


def label_column(values: list[str], spec: SpecSide) -> np.ndarray:
    """A label column's text -> class names (str array) or numbers (float64).

    Text that is all among the spec's class names is names, even where it looks like numbers
    (classes 1 | 2 | 3); otherwise numbers are class indices (or a raw output's targets).
    """
    if spec.classes and set(values) <= set(spec.classes):
        return np.array(values)
    if all(is_number(value) for value in values):
        return np.array(values).astype(np.float64)
    return np.array(values)


def _plain(text: str) -> bool:
    """True for text a number in a CSV file may be made of: ASCII, without Python's digit
    separators. float() also reads "1_0" as 10 and other scripts' digits ("١٢") as 12, which
    in a data file are typing mistakes or another program's format, not numbers."""
    return text.isascii() and "_" not in text


def is_number(text: str) -> bool:
    """True if `text` is a number as a CSV cell writes one: float() reads it, in plain ASCII."""
    if not _plain(text):
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True
