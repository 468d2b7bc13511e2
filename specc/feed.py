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


def read_array(path: str) -> np.ndarray:
    """Load an input file: .npy (no pickles) or .json (nested lists of numbers)."""
    file = Path(path)
    try:
        if file.suffix == ".json":
            return np.asarray(json.loads(file.read_text(encoding="utf-8")), dtype=np.float32)
        return np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise SpecError(f"no such input file: {path}") from None
    except (ValueError, OSError, json.JSONDecodeError) as error:
        raise SpecError(f"cannot read {path}: {error}", hint="inputs are .npy files or JSON lists of numbers") from None


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
