"""Turning what a user hands in (one sample or a batch, .npy or .json) into model inputs."""
from __future__ import annotations

import json
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
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
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


def _holds_words(value) -> bool:
    """Whether a JSON value is a string or (nested) lists of strings."""
    if isinstance(value, list):
        return bool(value) and all(_holds_words(item) for item in value)
    return isinstance(value, str)


def read_array(path: str):
    """Load an input file: .npy (no pickles) or .json (nested lists of numbers; or sentences for
    a model that reads words: a string, a list of words, or a list of sentences, returned as read)."""
    file = Path(path)
    try:
        if file.suffix == ".json":
            value = json.loads(file.read_text(encoding="utf-8"))
            return value if _holds_words(value) else np.asarray(value, dtype=np.float32)
        return np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise SpecError(f"no such input file: {path}") from None
    except (ValueError, OSError, json.JSONDecodeError) as error:
        raise SpecError(f"cannot read {path}: {error}",
                        hint="inputs are .npy files or JSON lists of numbers (or of words, for a model that reads words)") from None


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
