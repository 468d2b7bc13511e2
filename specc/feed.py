"""Turning what a user hands in (one sample or a batch, .npy or .json) into model inputs."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np

from .errors import SpecError
from .shapes import fmt


def _fits(array_shape: tuple, shape: tuple) -> bool:
    return len(array_shape) == len(shape) and all(
        not isinstance(d, int) or d == a for a, d in zip(array_shape, shape))


def as_batch(name: str, value, shape: tuple) -> np.ndarray:
    """Coerce one input to a float32 batch of `shape` (symbolic 'N'/'T' dims match anything).

    Accepts a whole batch, one sample (the batch axis is added), and for one-channel images
    (H, W) or (N, H, W) arrays (the channel axis is added).
    """
    try:
        kind = np.asarray(value).dtype.kind
        if kind == "c":
            raise SpecError(f"input {name} holds complex numbers", expected="real numbers",
                            hint="give the real part (numpy.real) if that is what you mean")
        if kind not in "biufO":
            raise TypeError(kind)
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(f"input {name} must hold numbers", hint="give a numeric .npy file or a JSON list") from None
    candidates = [array.shape, (1,) + array.shape]
    if len(shape) == 4 and shape[1] == 1:
        candidates += [(1, 1) + array.shape, array.shape[:1] + (1,) + array.shape[1:]]
    for candidate in candidates:
        if _fits(candidate, shape):
            return array.reshape(candidate)
    raise SpecError(f"input {name} has shape {array.shape}, which does not fit {fmt(shape)}",
                    expected=f"a batch {fmt(shape)} or one sample {fmt(shape[1:])}",
                    received=str(array.shape))


def as_sentences(name: str, value) -> np.ndarray:
    """Coerce sentences to a (N, T) object array of words padded with "" at the end.

    Accepts one sentence (a string, split at spaces, or a list of words), a list of sentences
    (strings or lists of words), or a (N, T) array of strings already padded with "".
    """
    if isinstance(value, str):
        value = [value.split()]
    elif isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        value = value.tolist() if value.ndim == 2 else [value.tolist()]
    if isinstance(value, (list, tuple)) and value and all(isinstance(w, str) and " " not in w.strip() for w in value):
        value = [value]  # one sentence of words; a list of strings with spaces is a list of sentences
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(f"input {name} must be sentences of words",
                        expected='a sentence ("arrive Beijing on November 2nd"), a list of words, or a list of those',
                        received=type(value).__name__ if not isinstance(value, (list, tuple)) else "nothing")
    sentences = []
    for number, sentence in enumerate(value, 1):
        words = sentence.split() if isinstance(sentence, str) else list(sentence)
        if not all(isinstance(w, str) for w in words):
            raise SpecError(f"input {name}: sentence {number} holds something other than words",
                            expected="strings", received=", ".join(sorted({type(w).__name__ for w in words})))
        while words and words[-1] == "":
            words.pop()  # padding
        if "" in words:
            raise SpecError(f"input {name}: sentence {number} has an empty word before its end",
                            received=f"word {words.index('') + 1} is \"\"",
                            hint='"" is padding, allowed only after the last word of a sentence')
        sentences.append(words)
    longest = max(max(len(s) for s in sentences), 1)
    batch = np.full((len(sentences), longest), "", dtype=object)
    for row, words in enumerate(sentences):
        batch[row, :len(words)] = words
    return batch


INPUT_HINT = "inputs are .npy files or JSON lists of numbers (or of words, for a model that reads words)"
# deeper than any input a spec declares (a batch of images is 4 deep); json itself recurses
MAX_JSON_DEPTH = 32
JSON_EXPANSION = 16  # bytes of parsed lists per byte of JSON text, at the most (a float list)


def _too_deep() -> SpecError:
    return SpecError(f"holds lists nested more than {MAX_JSON_DEPTH} deep", expected="at most a batch of images, 4 deep")


def _leaf_kind(value) -> str | None:
    """'numbers' or 'words' for a JSON leaf an input may hold, else None (null, true, an object)."""
    if isinstance(value, str):
        return "words"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "numbers"
    return None


def _json_kinds(value) -> set[str]:
    """What a decoded JSON input holds: {'numbers'} and/or {'words'}; raises SpecError (without
    the file's name) on anything else. Walks without recursion, so any depth is safe."""
    if isinstance(value, dict):
        raise SpecError("holds a JSON object ({...}), not a list",
                        expected="nested lists of numbers, like [[1, 0], [0, 1]] (or words, for a model that reads words)",
                        received="an object with keys " + ", ".join(map(str, value))[:80])
    kinds: set[str] = set()
    stack = [(value, ())] if isinstance(value, list) else []
    if not stack:
        kinds.add(_leaf_kind(value) or "nothing")
    while stack:
        item, where = stack.pop()
        if len(where) >= MAX_JSON_DEPTH:
            raise _too_deep()
        for index, x in enumerate(item):
            if isinstance(x, list):
                stack.append((x, where + (index,)))
            elif _leaf_kind(x):
                kinds.add(_leaf_kind(x))
            else:
                position = ", ".join(map(str, where + (index,)))
                raise SpecError(f"holds {json.dumps(x)[:20]} at [{position}], which is neither a number nor a word")
    if "nothing" in kinds:
        raise SpecError(f"holds {json.dumps(value)[:20]}, which is neither a number nor a list")
    if kinds == {"numbers", "words"}:
        raise SpecError("mixes numbers and words", hint="a model reads either numbers or words from one input")
    return kinds


def _read_json(file: Path):
    """A JSON input: words returned as read, numbers as a float32 array."""
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as error:
        raise SpecError(f"is not JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    if _json_kinds(value) == {"words"}:
        return value
    try:
        return np.asarray(value, dtype=np.float32)
    except ValueError:
        raise SpecError("has rows of different lengths", hint="every row of a batch holds the same count") from None
    except OverflowError:
        raise SpecError("holds a whole number too large for float32") from None


def check_input_size(size: int, what: str) -> None:
    """Refuse an input whose array would not fit in the memory available, before reading it."""
    from .memory import check_fits

    check_fits(size, what, hint="give a smaller batch, in several runs")


def _read_npy(file: Path) -> np.ndarray:
    """A .npy input, its header checked before its data is read: no Python objects, and a
    size that the file really holds and the memory can take."""
    from .npy import NPY_MAGIC, read_npy_header

    with open(file, "rb") as stream:
        if stream.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise SpecError("is neither a .npy array nor JSON", hint=INPUT_HINT)
        stream.seek(0)
        shape, dtype, size = read_npy_header(stream)
        held = os.fstat(stream.fileno()).st_size - stream.tell()
        if held != size:
            raise SpecError(f"is damaged: its header declares an array {shape} of {dtype.name} ({size:,} bytes), "
                            f"but it holds {held:,} bytes of data")
        check_input_size(size, f"its array {shape} of {dtype.name}")
        stream.seek(0)  # read_array reads the header again, from the start
        return np.lib.format.read_array(stream, allow_pickle=False)


def read_array(path: str):
    """Load an input file: .npy (no pickles) or .json (nested lists of numbers; or sentences for
    a model that reads words: a string, a list of words, or a list of sentences, returned as read).
    Only regular files are read: a FIFO or a device would block or never end."""
    from .atomic import kind_of

    file = Path(path)
    try:
        mode = file.stat().st_mode
        if not stat.S_ISREG(mode):
            raise SpecError(f"it is {kind_of(mode)}, not a file", hint=INPUT_HINT)
        if file.suffix.lower() == ".json":
            # parsed JSON takes several times its text in memory: a number is a Python float
            check_input_size(JSON_EXPANSION * file.stat().st_size, "its JSON text")
            return _read_json(file)
        return _read_npy(file)
    except FileNotFoundError:
        raise SpecError(f"no such input file: {path}") from None
    except SpecError as error:
        raise SpecError(f"cannot read {path}: {error.message}", expected=error.expected, received=error.received,
                        hint=error.hint or INPUT_HINT) from None
    except UnicodeDecodeError:
        raise SpecError(f"cannot read {path}: not UTF-8 text", hint=INPUT_HINT) from None
    except OSError as error:
        raise SpecError(f"cannot read {path}: {error.strerror or 'not readable'}", hint=INPUT_HINT) from None
    except ValueError as error:
        raise SpecError(f"cannot read {path}: {error}", hint=INPUT_HINT) from None


def check_finite(name: str, value, shown: int = 5) -> None:
    """Refuse NaN and infinities in a numeric input, naming the first `shown` positions as
    indices into the array as given; words and other kinds are left to the model's checks."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        return
    bad = ~np.isfinite(value)
    count = int(np.count_nonzero(bad))
    if not count:
        return
    flat, first, chunk = bad.reshape(-1), [], 1 << 20  # in chunks: no index array as large as the input
    for start in range(0, flat.size, chunk):
        first += (start + np.flatnonzero(flat[start:start + chunk])[:shown]).tolist()
        if len(first) >= shown:
            break
    positions = [np.unravel_index(i, value.shape) for i in first[:shown]]
    listed = ", ".join(f"{value[p]} at [{', '.join(map(str, p))}]" for p in positions)
    what = "value that is not a finite number" if count == 1 else "values that are not finite numbers"
    raise SpecError(f"input {name} holds {count:,} {what}: {listed}{', ...' if count > shown else ''}",
                    expected="finite numbers", hint="fix the input, or pass --allow-nonfinite to run on it anyway")


def parse_input_flags(flags: list[str]) -> dict[str, str]:
    """['image=img.npy', ...] -> {'image': 'img.npy'}; raises SpecError on a malformed flag."""
    found = {}
    for flag in flags:
        name, sep, path = flag.partition("=")
        if not sep or not name or not path:
            raise SpecError(f"--input {flag!r} is not NAME=FILE", hint="for example --input image=img.npy")
        found[name] = path
    return found


def check_names(given: dict, expected: list[str]) -> None:
    """Every expected input is given and nothing else."""
    missing = [n for n in expected if n not in given]
    extra = [n for n in given if n not in expected]
    if missing or extra:
        raise SpecError("inputs do not match the model: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra else [])),
            expected="inputs " + ", ".join(expected), received=", ".join(given) or "none",
            hint="pass each as --input NAME=FILE.npy")
