"""Batch scoring (issue 10, part 2): an exported model run over a .npz data set, batch by batch,
in this process (the local engine), every output written at once to a .npz, atomically.

The data set holds one array per model input, named after it, with the same number of rows:
numbers (any real dtype, read as float32) or, for words, a (N, T) array of strings padded with "".
Each batch keeps the data set's T, so the outputs of all batches line up, and the result equals
one onnxruntime call on all the rows.
"""
from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import destination, kind_of, write_atomically
from .errors import SpecError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_BATCH = 1024  # rows per onnxruntime call; the CLI reads it without NumPy loading
DATA_HINT = "save one array per model input, named after it: numpy.savez(path, image=...)"


@dataclass(frozen=True)
class Scored:
    """What predict wrote: rows, batches and the outputs' names."""

    path: Path
    rows: int
    batches: int
    outputs: tuple[str, ...]


def read_data(path: str | Path, names: list[str]) -> dict[str, np.ndarray]:
    """The arrays named `names` of the .npz at `path`; nothing else may be in it. Each array's
    header is read first: no Python objects, and a size the memory can take."""
    import numpy as np

    from .feed import check_input_size  # the one memory check of inputs, shared with specc run
    from .npy import read_npy_header

    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise SpecError(f"cannot read {path}: it is {kind_of(mode)}, not a file", hint=DATA_HINT)
        with zipfile.ZipFile(path) as archive:
            found = [m.removesuffix(".npy") for m in archive.namelist()]
            missing, extra = [n for n in names if n not in found], [n for n in found if n not in names]
            if missing or extra:
                raise SpecError(f"the arrays of {path} do not match the model's inputs",
                                expected="arrays " + ", ".join(names), received="arrays " + (", ".join(found) or "none"),
                                hint=DATA_HINT)
            for name in names:
                with archive.open(f"{name}.npy") as stream:
                    shape, dtype, size = read_npy_header(stream)
                check_input_size(size, f"array {name} {shape} of {dtype.name}")
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in names}
    except FileNotFoundError:
        raise SpecError(f"no such data file: {path}", hint=DATA_HINT) from None
    except SpecError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:  # PickledArray is a ValueError
        raise SpecError(f"cannot read {path}: {error}", hint=DATA_HINT) from None


def _rows(data: dict[str, np.ndarray], path) -> int:
    """The number of rows, the same in every array."""
    counts = {name: (len(array) if array.ndim else 0) for name, array in data.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise SpecError(f"the arrays of {path} must hold the same number of rows, at least one",
                        received=", ".join(f"{name}: {count}" for name, count in counts.items()), hint=DATA_HINT)
    return next(iter(counts.values()))


def _feeds(session, data: dict[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    """Rows start..stop of every input, checked and made what the model takes: float32 batches,
    and (n, T) words padded with "" to the data set's T (so that every batch's outputs line up)."""
    import numpy as np

    from .feed import as_batch, as_sentences

    feeds = {}
    for name, shape in session.inputs.items():
        rows = data[name][start:stop]
        if name in session.word_inputs:
            if rows.dtype.kind not in "US" or rows.ndim != 2:
                raise SpecError(f"array {name} must hold sentences: (N, T) strings padded with \"\"",
                                received=f"{rows.shape} of {rows.dtype}", hint=DATA_HINT)
            words = as_sentences(name, rows)
            feeds[name] = np.pad(words, ((0, 0), (0, rows.shape[1] - words.shape[1])), constant_values="")
        else:
            feeds[name] = as_batch(name, rows, shape)
    return feeds


def predict(model: str | Path, data: str | Path, out: str | Path, batch: int = DEFAULT_BATCH,
            device: str = "cpu") -> Scored:
    """Score every row of the .npz `data` with the ONNX `model`, `batch` rows at a time, and
    write every output to the .npz `out` (class names and tags as strings). `device`: cpu or cuda."""
    import numpy as np

    from specc.runtime.onnx_runner import providers_for

    from .api import load_onnx
    from .feed import check_finite

    if batch < 1:
        raise SpecError(f"--batch {batch} must be at least 1", hint=f"give rows per batch, e.g. {DEFAULT_BATCH}")
    destination(out)  # a folder or an unwritable place is refused before the work
    session = load_onnx(model, providers_for(device)).session
    arrays = read_data(data, list(session.inputs))
    rows = _rows(arrays, data)
    for name, array in arrays.items():
        check_finite(name, array)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in session.outputs}
    starts = range(0, rows, batch)
    for start in starts:
        for name, value in session.run(_feeds(session, arrays, start, start + batch)).items():
            parts[name].append(value)
    outputs = {name: np.concatenate(values) for name, values in parts.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.astype(str) if v.dtype == object else v for k, v in outputs.items()})
    write_atomically(out, buffer.getvalue())
    return Scored(Path(out), rows, len(starts), tuple(outputs))
