"""Verified export: the ONNX model in onnxruntime against the NumPy interpreter."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-5
BATCH_SIZES = (1, 3, 8)
SEQUENCE_LENGTHS = (1, 4, 9)


@dataclass(frozen=True)
class Verification:
    """Largest absolute difference over every float output and case, and what was tried."""

    max_abs_diff: float
    cases: tuple[tuple[int, int | None], ...]  # (batch size, sequence length or None)
    finite: bool = True  # False when a back end gave inf or NaN: the weights themselves are broken

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= TOLERANCE


# words outside any vocabulary: unseen, capitalised, non-ASCII, one letter
UNSEEN_WORDS = ("Zürich", "unseenword", "NEW", "x", "北京", "o'clock")


def random_sentences(model, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """(batch, length) words padded with "": the first sentence `length` words long, the others
    1 to `length`; words from the model's vocabularies, some capitalised, and UNSEEN_WORDS."""
    known = [w for layer in model.layers if layer.kind == "onehot" for w in layer.attrs["vocabulary"]]
    pool = np.array(known[:200] + [w.capitalize() for w in known[:20]] + list(UNSEEN_WORDS), dtype=object)
    words = np.full((batch, length), "", dtype=object)
    lengths = rng.integers(1, length + 1, size=batch)
    lengths[0] = length
    for row, size in enumerate(lengths):
        words[row, :size] = rng.choice(pool, size=size)
    return words


def random_inputs(model, batch: int, length: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs for every declared input at this batch size and length: standard-normal float32,
    or random sentences of different lengths for a `seq token` input."""
    sizes = {"N": batch, "T": length}
    return {i.name: random_sentences(model, batch, length, rng) if i.form == "tokens" else
            rng.standard_normal([sizes.get(d, d) for d in i.shape]).astype(np.float32)
            for i in model.inputs}


def verify(model, weights, onnx_bytes: bytes, seed: int = 1234) -> Verification:
    """Run both back ends on the same random inputs at several batch sizes (and lengths)."""
    from runtime.interpreter import forward
    from runtime.onnx_runner import OnnxModel

    session = OnnxModel(onnx_bytes)
    rng = np.random.default_rng(seed)
    has_time = any("T" in i.shape for i in model.inputs)
    cases = tuple((n, t) for n in BATCH_SIZES for t in (SEQUENCE_LENGTHS if has_time else (None,)))
    worst = 0.0
    for batch, length in cases:
        inputs = random_inputs(model, batch, length or 1, rng)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite outputs fail below, with a hint
            expected = forward(model, weights, inputs)
        got = session.run(inputs)
        for output in model.outputs:
            a, b = expected[output.name], got[output.name]
            if a.shape != b.shape:
                return Verification(float("inf"), cases)
            difference = np.abs(a - b)
            if not np.isfinite(difference).all():  # NaN compares false: it must fail, not vanish
                return Verification(float("inf"), cases, finite=False)
            worst = max(worst, float(difference.max()) if a.size else 0.0)
    return Verification(worst, cases)
