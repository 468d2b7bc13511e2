"""Batch scoring (issue 10, part 2): an exported model run over a data set, batch by batch, and
every output written at once to a .npz, atomically.

The data set is one file or a folder of files of one kind, read in sorted name order:

    .npz    one array per model input, named after it, all with the same number of rows: numbers
            (any real dtype, read as float32) or, for words, (N, T) strings padded with ""
    .csv    a header row, then one sample a row. A numeric input of shape (N, C, H, W) takes C*H*W
            columns, in C order (channel by channel, row by row, as numpy.reshape reads them); a
            word input takes one column of sentences, words split at spaces. With one input every
            column is its; with several, a column belongs to the input its header names (`image`,
            or `image_0`, `image.0`, `image[0]`: the input's name, then _ . or [). Columns named
            `label` or like a model output are left out, so a training file scores as it is.
    tagged  sentences in the files specc train reads (.txt .conll .tsv .iob .bio .tags: CoNLL
            columns or `word:TAG` lines), for a model whose one input is words; the tags are
            ignored, and each sentence is scored

Every file is checked before any is scored (array headers before their data, the model's inputs,
rows, shapes, numbers), so a mistake anywhere exits before the work. Batches hold `batch` rows
from the start of each file; words are padded with "" to the longest sentence (or widest .npz
array) of the whole data set, so that the outputs of all files line up. The engines score the same
batches: `local` in this process, file after file; `ray` (specc.predict_ray) in Ray Data workers.
"""
from __future__ import annotations

import io
import math
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import check_not_read, destination, kind_of, write_atomically
from .errors import SpecError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_BATCH = 1024  # rows per onnxruntime call; the CLI reads it without NumPy loading
ENGINES = ("local", "ray")
TAGGED_SUFFIXES = (".txt", ".conll", ".tsv", ".iob", ".bio", ".tags")  # those specc train reads
KINDS = {".npz": "npz", ".csv": "csv", **{suffix: "tagged" for suffix in TAGGED_SUFFIXES}}
DATA_HINT = ("give a .npz (numpy.savez(path, image=...)), a .csv with a header row, tagged sentences "
             f"({' '.join(TAGGED_SUFFIXES)}), or a folder of such files, all of one kind")
NPZ_HINT = "save one array per model input, named after it: numpy.savez(path, image=...)"
LEFT_OUT = "label"  # a CSV column of this name (or an output's) is not an input: training files score as they are
CHUNK = 1 << 16  # rows checked for NaN at a time
FLOAT32_MAX = 3.4028235e38  # the model takes float32: a float64 beyond this would reach it as an infinity


@dataclass(frozen=True)
class Source:
    """One data file, checked: its kind ('npz', 'csv', 'tagged'), its rows, for words its widest
    sentence (the .npz array's T, or the most words in a sentence), and the shape of one sample
    of each numeric input (a sequence's T is the file's own)."""

    path: Path
    kind: str
    rows: int
    width: int = 0
    samples: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class Scored:
    """What predict wrote: rows, files, batches and the outputs' names."""

    path: Path
    rows: int
    files: int
    batches: int
    outputs: tuple[str, ...]


# ---- which files ----

def data_files(data: str | Path) -> list[tuple[Path, str]]:
    """(path, kind) of the data file `data`, or of every file in the folder `data` in sorted name
    order (names starting with '.' skipped), all of one kind."""
    path = Path(data)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise SpecError(f"no such data file or folder: {path}", hint=DATA_HINT) from None
    if stat.S_ISDIR(mode):
        files = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        if not files:
            raise SpecError(f"the data folder {path} holds no files", hint=DATA_HINT)
    elif stat.S_ISREG(mode):
        files = [path]
    else:
        raise SpecError(f"cannot read {path}: it is {kind_of(mode)}, not a file or a folder", hint=DATA_HINT)
    found = [(file, _kind(file)) for file in files]
    kinds = sorted({kind for _, kind in found})
    if len(kinds) > 1:
        raise SpecError(f"the files of {path} are of {len(kinds)} kinds: " + ", ".join(kinds),
                        expected="files of one kind", received=", ".join(f.name for f in files[:6]), hint=DATA_HINT)
    return found


def _kind(file: Path) -> str:
    """The kind of a data file by its suffix; SpecError for a folder, another suffix, or anything
    but a regular file (a FIFO would block the reading for ever)."""
    try:
        mode = file.stat().st_mode
    except OSError as error:  # a dangling link, a loop of links
        raise SpecError(f"cannot read {file}: {error.strerror or error}", hint=DATA_HINT) from None
    if stat.S_ISDIR(mode):
        raise SpecError(f"the data folder holds a folder, {file}", hint="put the data files in one folder, no deeper")
    if not stat.S_ISREG(mode):
        raise SpecError(f"cannot read {file}: it is {kind_of(mode)}, not a file", hint=DATA_HINT)
    kind = KINDS.get(file.suffix.lower())
    if kind is None:
        raise SpecError(f"cannot read {file}: its kind is not known by its name",
                        expected="a name ending in " + ", ".join(KINDS), received=file.name, hint=DATA_HINT)
    return kind


# ---- checking a file, before any is read whole ----

def survey(path: Path, kind: str, session) -> Source:
    """`path` checked against the model (specc.runtime.onnx_runner.OnnxModel `session`): its
    rows and width, or SpecError naming the file and what is wrong."""
    if kind == "npz":
        return _survey_npz(path, session)
    arrays = read_text_file(path, kind, session)
    return Source(path, kind, _rows(arrays, path), _widest(arrays, session))


def _survey_npz(path: Path, session) -> Source:
    """A .npz checked from its headers (names, dtypes, shapes, rows), then its numbers for NaN."""
    import numpy as np

    from .feed import check_finite
    from .npy import npz_headers

    try:
        headers = npz_headers(path)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:  # PickledArray is a ValueError
        raise SpecError(f"cannot read {path}: {str(error) or type(error).__doc__}", hint=NPZ_HINT) from None
    names = list(session.inputs)
    if sorted(headers) != sorted(names):
        raise SpecError(f"the arrays of {path} do not match the model's inputs", expected="arrays " + ", ".join(names),
                        received="arrays " + (", ".join(headers) or "none"), hint=NPZ_HINT)
    for name, (shape, dtype, _) in headers.items():
        _check_npz_array(path, name, shape, dtype, session)
    counts = {name: (shape[0] if shape else 0) for name, (shape, _, _) in headers.items()}
    _check_rows(counts, path)
    arrays = read_npz(path, names)
    for name, array in arrays.items():
        for start in range(0, len(array), CHUNK):
            if array.dtype.kind == "f" and not np.isfinite(array[start:start + CHUNK]).all():
                try:  # the whole array checked again: the first positions are named in it
                    check_finite(name, np.asarray(array))
                except SpecError as error:
                    error.message = f"{path}: {error.message}"
                    raise
            if array.dtype.kind == "f" and array.dtype.itemsize > 4:
                _check_float32_range(path, name, array[start:start + CHUNK], start)
    width = max((headers[name][0][1] for name in session.word_inputs), default=0)
    samples = tuple((name, headers[name][0][1:]) for name in names if name not in session.word_inputs)
    return Source(path, "npz", next(iter(counts.values())), width, samples)


def _check_npz_array(path: Path, name: str, shape: tuple, dtype, session) -> None:
    """A .npz array that the model's input `name` can take: (N, T) strings for words, real numbers
    of the input's shape otherwise (a symbolic dim takes any size; (N, H, W) is a batch of
    one-channel images), as as_batch takes each batch of it."""
    import numpy as np

    from .feed import as_batch
    from .shapes import fmt

    declared = session.inputs[name]
    if name in session.word_inputs:
        # bytes (kind S) are not words until decoded; T = 0 holds no word to score
        if dtype.kind != "U" or len(shape) != 2 or not shape[1]:
            raise SpecError(f"array {name} of {path} must hold sentences: (N, T) strings padded with \"\", T at least 1",
                            received=f"{shape} of {dtype}", hint=NPZ_HINT)
        return
    if dtype.kind not in "biuf":
        raise SpecError(f"array {name} of {path} must hold real numbers", received=f"{shape} of {dtype}", hint=NPZ_HINT)
    try:
        as_batch(name, np.zeros((0, *shape[1:]), np.float32), declared)  # no rows: only the shape is checked
    except SpecError:
        raise SpecError(f"array {name} of {path} has shape {shape}, which does not fit input {name} {fmt(declared)}",
                        expected=f"a batch {fmt(declared)}", received=str(shape), hint=NPZ_HINT) from None


def _check_float32_range(path: Path, name: str, block: np.ndarray, start: int) -> None:
    """SpecError naming the first value of `block` (rows `start`... of array `name`) that float32
    cannot hold."""
    import numpy as np

    large = np.abs(block) > FLOAT32_MAX
    if large.any():
        where = np.unravel_index(int(np.argmax(large)), block.shape)
        raise SpecError(f"{path}: array {name} holds {block[where]:g} at [{', '.join(map(str, (start + where[0],) + where[1:]))}],"
                        " which is too large for float32, the model's numbers", expected=f"numbers within ±{FLOAT32_MAX:.4g}")


def _check_rows(counts: dict[str, int], path) -> None:
    """Every input of a file has the same number of rows, at least one."""
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise SpecError(f"the arrays of {path} must hold the same number of rows, at least one",
                        received=", ".join(f"{name}: {count}" for name, count in counts.items()), hint=NPZ_HINT)


def _rows(arrays: dict, path) -> int:
    counts = {name: len(array) for name, array in arrays.items()}
    _check_rows(counts, path)
    return next(iter(counts.values()))


def _widest(arrays: dict, session) -> int:
    """The widest sentence of the word inputs among `arrays` (0: no words)."""
    return max((arrays[name].shape[1] for name in session.word_inputs), default=0)


# ---- reading ----

def read_npz(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The arrays `names` of a checked .npz: each a read-only view of the file where its member is
    stored uncompressed in C order (rows read as they are scored), else read whole, its size
    checked against the memory first."""
    with zipfile.ZipFile(path) as archive:
        return {name: _npz_array(path, archive, archive.getinfo(f"{name}.npy")) for name in names}


def _npz_array(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One member of a .npz archive (see read_npz)."""
    import struct

    import numpy as np
    from numpy.lib import format as npy

    from .feed import check_input_size

    with archive.open(info) as stream:
        version = npy.read_magic(stream)  # the header was checked by npz_headers: no objects, sizes agree
        shape, fortran, dtype = (npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0)(stream)
        header = stream.tell()
        if info.compress_type == zipfile.ZIP_STORED and not fortran and math.prod(shape):
            with open(path, "rb") as raw:  # the member's data starts after its local header in the file
                raw.seek(info.header_offset + 26)
                name_length, extra_length = struct.unpack("<HH", raw.read(4))
            start = info.header_offset + 30 + name_length + extra_length + header
            if start + math.prod(shape) * dtype.itemsize > path.stat().st_size:  # a file cut short, its directory kept
                raise SpecError(f"cannot read {path}: its array {info.filename[:-4]} is cut short: the file ends "
                                "before its data does", hint=NPZ_HINT)
            return np.memmap(path, dtype, "r", start, shape)
        check_input_size(math.prod(shape) * dtype.itemsize, f"array {info.filename[:-4]} {shape} of {dtype.name}")
        data = stream.read()
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def read_text_file(path: Path, kind: str, session) -> dict[str, np.ndarray]:
    """The model's inputs from a .csv or tagged file: numbers as float64 (N, ...) of the input's
    shape, words as (N, T) objects (str) padded with "" (T: the file's longest sentence)."""
    from .feed import check_input_size

    try:
        size = path.stat().st_size
    except OSError as error:
        raise SpecError(f"cannot read {path}: {error.strerror or error}", hint=DATA_HINT) from None
    # every number takes at least two characters ("0,"): 4 bytes of float64 a character bounds the arrays
    check_input_size(4 * size, f"the data of {path} ({size:,} bytes of text)")
    return _read_csv(path, session) if kind == "csv" else _read_tagged(path, session)


def _read_tagged(path: Path, session) -> dict[str, np.ndarray]:
    """A tagged-sentences (or label<TAB>sentence) file as the words of the model's one input
    (tags and labels ignored)."""
    from specc.runtime.data.sentences import pad_words, read_sentences

    inputs = list(session.inputs)
    if len(inputs) != 1 or inputs[0] not in session.word_inputs:
        raise SpecError(f"{path} holds sentences of words, but the model takes " + _inputs_text(session),
                        hint="score numbers from a .npz or .csv file")
    return {inputs[0]: pad_words(read_sentences(str(path)).words)}


def _read_csv(path: Path, session) -> dict[str, np.ndarray]:
    """A .csv file as the model's inputs (the column mapping: see the module's docstring)."""
    from specc.runtime.data.files import parse_numbers, read_table

    header, lines, rows = read_table(str(path), "add a first line naming the columns")
    arrays = {}
    for name, columns in _csv_columns(path, header, session).items():
        if name in session.word_inputs:
            arrays[name] = _sentences([row[columns[0]] for row in rows])
            continue
        import numpy as np

        table = np.array([[row[c] for c in columns] for row in rows], dtype=str)
        numbers = parse_numbers(table, str(path), lines, [header[c] for c in columns])
        _check_finite_cells(numbers, path, lines, [header[c] for c in columns])
        arrays[name] = numbers.reshape((len(rows),) + tuple(session.inputs[name][1:]))
    return arrays


def _csv_columns(path: Path, header: list[str], session) -> dict[str, list[int]]:
    """The columns (indices) of each model input: all but the left-out ones for a model of one
    input, else by the input their header names; SpecError for a count that does not fit."""
    left_out = {LEFT_OUT, *session.outputs}
    kept = [i for i, name in enumerate(header) if name not in left_out]
    inputs = list(session.inputs)
    if len(inputs) == 1:
        columns = {inputs[0]: kept}
    else:
        columns = {name: [] for name in inputs}
        for i in kept:
            owner = _owner(header[i], inputs)
            if owner is None:
                raise SpecError(f"{path}: column '{header[i]}' names none of the model's inputs",
                                expected="columns named after an input: " + ", ".join(f"{n}, {n}_0, ..." for n in inputs),
                                received=f"'{header[i]}'", hint=f"drop the column, or name it '{LEFT_OUT}'")
            columns[owner].append(i)
    for name, found in columns.items():
        _check_column_count(path, name, [header[i] for i in found], session)
    return columns


def _owner(column: str, inputs: list[str]) -> str | None:
    """The input a column's header names: the longest input name it is, or starts with before _ . or [."""
    owners = [name for name in inputs if re.fullmatch(re.escape(name) + r"([_.\[].*)?", column)]
    return max(owners, key=len, default=None)


def _check_column_count(path: Path, name: str, columns: list[str], session) -> None:
    """An input's columns are as many as one sample's values (one for words)."""
    from .shapes import fmt

    declared = session.inputs[name]
    shown = ", ".join(columns[:4]) + (f", ... ({len(columns)} in all)" if len(columns) > 4 else "") or "none"
    if name in session.word_inputs:
        if len(columns) != 1:
            raise SpecError(f"{path}: input {name} takes sentences, one column of them, not {len(columns)}",
                            expected="one column of sentences, words split at spaces", received=shown)
        return
    sample = declared[1:]
    if not all(isinstance(d, int) for d in sample):
        raise SpecError(f"{path}: input {name} {fmt(declared)} is a sequence, which a row of a .csv cannot hold",
                        hint="save sequences in a .npz file, one (N, T, ...) array")
    if len(columns) != math.prod(sample):
        raise SpecError(f"{path} has {len(columns)} columns for input {name} {fmt(declared)}, which takes "
                        f"{math.prod(sample)} numbers a row", expected=f"{math.prod(sample)} columns: the values of "
                        f"one sample ({' x '.join(map(str, sample))}) in C order; columns named {LEFT_OUT} or after an "
                        "output are left out", received=shown)


def _sentences(cells: list[str]) -> np.ndarray:
    """CSV cells of sentences -> (N, T) words (objects) split at spaces, padded with ""."""
    from specc.runtime.data.sentences import pad_words

    return pad_words([cell.split() for cell in cells])


def _check_finite_cells(numbers: np.ndarray, path: Path, lines: list[int], columns: list[str]) -> None:
    """SpecError naming the line and column of the first NaN or infinity."""
    import numpy as np

    bad = ~np.isfinite(numbers) | (np.abs(numbers) > FLOAT32_MAX)  # the model reads float32: 1e300 is inf to it
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        value = numbers[row, column]
        what = "a finite number" if not np.isfinite(value) else "a number float32 can hold (the model's numbers)"
        raise SpecError(f"{path}: line {lines[row]}, column '{columns[column]}' is not {what}: {value:g}",
                        hint="fill in or drop the rows with NaN or infinities" if not np.isfinite(value)
                        else f"the model takes numbers within ±{FLOAT32_MAX:.4g}")


def _inputs_text(session) -> str:
    from .shapes import fmt

    return ", ".join(f"{name} {'(words)' if name in session.word_inputs else fmt(shape)}"
                     for name, shape in session.inputs.items())


def read_block(source: Source, start: int, stop: int, session) -> dict[str, np.ndarray]:
    """Rows start..stop of a checked source, as read_npz or read_text_file give them."""
    arrays = (read_npz(source.path, list(session.inputs)) if source.kind == "npz"
              else read_text_file(source.path, source.kind, session))
    return {name: array[start:stop] for name, array in arrays.items()}


# ---- scoring ----

def score_block(session, arrays: dict[str, np.ndarray], width: int, batch: int) -> dict[str, np.ndarray]:
    """Every output for the rows of `arrays` (words padded to `width`), `batch` rows an
    onnxruntime call from the first row; strings come back as str arrays."""
    import numpy as np

    parts: dict[str, list] = {name: [] for name in session.outputs}
    rows = len(next(iter(arrays.values())))
    for start in range(0, rows, batch):
        for name, value in session.run(_feeds(session, arrays, start, start + batch, width)).items():
            parts[name].append(value.astype(str) if value.dtype == object else value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def _feeds(session, arrays: dict[str, np.ndarray], start: int, stop: int, width: int) -> dict[str, np.ndarray]:
    """Rows start..stop of every input, made what the model takes: float32 batches, and (n, width)
    words padded with "" (so that every batch's outputs line up)."""
    import numpy as np

    from .feed import as_batch, as_sentences

    feeds = {}
    for name, shape in session.inputs.items():
        rows = np.asarray(arrays[name][start:stop])
        if name in session.word_inputs:
            words = as_sentences(name, rows)
            feeds[name] = np.pad(words, ((0, 0), (0, width - words.shape[1])), constant_values="")
        else:
            feeds[name] = as_batch(name, rows, shape)
    return feeds


def _check_samples_agree(sources: list[Source]) -> None:
    """The files of a sequence model hold sequences of one length T: their outputs are joined
    along the rows (sentences of words are padded instead)."""
    differ = [s for s in sources if s.samples != sources[0].samples]
    if differ:
        raise SpecError("the files of the data set hold samples of different shapes, so their outputs cannot be "
                        "joined", expected=_samples_text(sources[0]), received=_samples_text(differ[0]),
                        hint="pad the sequences to one length T in every file")


def _samples_text(source: Source) -> str:
    """'part1.npz: x (12, 3)': a file's sample shapes."""
    return f"{source.path.name}: " + ", ".join(f"{name} {shape}" for name, shape in source.samples)


def batches_of(sources: list[Source], batch: int) -> int:
    return sum(-(-source.rows // batch) for source in sources)


def predict(model: str | Path, data: str | Path, out: str | Path, batch: int = DEFAULT_BATCH,
            device: str = "cpu", engine: str = "local", threads: int | None = None,
            workers: int | None = None) -> Scored:
    """Score every row of `data` (a file or folder, see the module's docstring) with the ONNX
    `model`, `batch` rows at a time, and write every output to the .npz `out` (class names and
    tags as strings). `device`: cpu or cuda; `engine`: local or ray; `threads`: onnxruntime's
    threads in each session (None: one per core, locally; one a worker on Ray); `workers`: Ray
    Data workers (None: one per CPU of the cluster)."""
    import numpy as np

    from specc.runtime.onnx_runner import providers_for

    from .api import load_onnx
    from .portable import WordsRunner

    for flag, value in (("--batch", batch), ("--threads", threads), ("--workers", workers)):
        if value is not None and value < 1:
            raise SpecError(f"{flag} {value} must be at least 1", hint=f"give a whole number, e.g. {DEFAULT_BATCH}"
                            if flag == "--batch" else "give a whole number, e.g. 2")
    if engine not in ENGINES:
        raise SpecError(f"unknown engine {engine!r}", hint="choose local or ray")
    if engine == "ray":
        from .ray_cluster import require_ray

        require_ray("specc predict --engine ray", "data")
    destination(out)  # a folder or an unwritable place is refused before the work
    runner = load_onnx(model, providers_for(device), threads if engine == "local" else None).session
    runner.check_fed("specc predict")
    session = WordsRunner(runner)
    files = data_files(data)
    check_not_read(out, [model, *(path for path, _ in files)], "--out")
    sources = [survey(path, kind, session) for path, kind in files]
    _check_samples_agree(sources)
    width = max(source.width for source in sources)
    if engine == "local":
        blocks = [score_block(session, read_block(s, 0, s.rows, session), width, batch) for s in sources]
    else:
        from .predict_ray import score_on_ray

        blocks = score_on_ray(str(Path(model).resolve()), sources, width, batch, device, threads, workers)
    outputs = {name: np.concatenate([block[name] for block in blocks]) for name in session.outputs}
    buffer = io.BytesIO()
    np.savez(buffer, **outputs)
    write_atomically(out, buffer.getvalue())
    return Scored(Path(out), sum(s.rows for s in sources), len(sources), batches_of(sources, batch), tuple(outputs))
