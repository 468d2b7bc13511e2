"""Verified export: the ONNX model in onnxruntime against the NumPy interpreter."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .budget import BATCH_SIZES, SEQUENCE_LENGTHS  # defined where `specc check` sizes the largest case

TOLERANCE = 1e-5


@dataclass(frozen=True)
class Verification:
    """The largest difference over every float output and case, and what was tried.

    `max_diff` is what must stay within TOLERANCE: absolute where NumPy's value is at most 1
    in size, relative above (float32 holds about 7 significant digits of any value, so a
    network with large outputs differs by more than 1e-5 in the last digits alone).
    `max_abs_diff` is the plain absolute difference, for information.
    """

    max_abs_diff: float
    cases: tuple[tuple[int, int | None], ...]  # (batch size, sequence length or None)
    finite: bool = True  # False when a back end gave inf or NaN: the weights themselves are broken
    max_diff: float = 0.0

    @property
    def ok(self) -> bool:
        return self.max_diff <= TOLERANCE


def describe(max_diff: float) -> str:
    """The verification's result in words, as every command prints it."""
    return f"largest difference {max_diff:.3g} (absolute, relative above 1; tolerance {TOLERANCE:.0e})".replace("e-0", "e-")


# words outside any vocabulary: unseen, capitalised, non-ASCII, one letter
UNSEEN_WORDS = ("Zürich", "unseenword", "NEW", "x", "北京", "o'clock")

# words whose lower case is special in some rule (Python's, a C library's, specc's): final sigma,
# dotted and dotless I, ß and ẞ, ligatures, titlecase digraphs, combining marks, signs that
# lower-case to letters (Kelvin, Ohm, Angstrom), scripts whose case came late to Unicode
# (Cherokee, Georgian Mtavruli, Adlam), characters beyond U+FFFF, emoji, CJK, fullwidth forms
CASE_WORDS = (
    "ΟΔΟΣ", "Οδός", "ΣΑΣ", "ς", "İSTANBUL", "DİYARBAKIR", "ısparta", "I", "STRASSE", "Straße", "ẞ", "ﬁ", "ﬀ",
    "ﬓ", "ԵՐԵՎԱՆ", "ᏣᎳᎩ", "ꮳꮃꭹ", "ᲗᲑᲘᲚᲘᲡᲘ", "თბილისი", "ǅemal", "ǈ", "ǋ", "ǲ", "ǅ", "Ǆ", "e\u0301", "E\u0301",
    "Å", "K", "Ω", "ΐ", "ǰ", "ŉ", "Ⅻ", "Ⓐ", "ＡＢＣ", "𐐀𐐁", "𞤀𞤢", "МОСКВА", "Ѐ", "McDonald", "iPhone",
    "ÀÉÎÕÜ", "👍🏽", "👨\u200d👩\u200d👧", "東京", "ß",
)


def word_pool(model) -> list[str]:
    """The words verification sentences are made of: the model's vocabularies' words (200 of
    them), 20 of those capitalised and 20 upper-cased, UNSEEN_WORDS and CASE_WORDS."""
    known = [w for layer in model.layers if layer.kind == "onehot" for w in layer.attrs.vocabulary]
    return list(dict.fromkeys(known[:200] + [w.capitalize() for w in known[:20]] + [w.upper() for w in known[:20]]
                              + list(UNSEEN_WORDS) + list(CASE_WORDS)))


def every_word(model, length: int) -> np.ndarray:
    """(batch, length) sentences holding every word of word_pool once, the last padded with ""."""
    pool = word_pool(model)
    words = np.full((-(-len(pool) // length), length), "", dtype=object)
    words.ravel()[:len(pool)] = pool
    return words


def random_sentences(model, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """(batch, length) words padded with "": the first sentence `length` words long, the others
    1 to `length`; words drawn from word_pool."""
    pool = np.array(word_pool(model), dtype=object)
    words = np.full((batch, length), "", dtype=object)
    lengths = rng.integers(1, length + 1, size=batch)
    lengths[0] = length
    for row, size in enumerate(lengths):
        words[row, :size] = rng.choice(pool, size=size)
    return words


def random_inputs(model, batch: int, length: int, rng: np.random.Generator,
                  all_words: bool = False) -> dict[str, np.ndarray]:
    """Inputs for every declared input at this batch size and length: standard-normal float32,
    or random sentences of different lengths for a `seq token` input (with `all_words`,
    every_word's sentences, whose number must be `batch`)."""
    sizes = {"N": batch, "T": length}
    return {i.name: (every_word(model, length) if all_words else random_sentences(model, batch, length, rng))
            if i.form == "tokens" else rng.standard_normal([sizes.get(d, d) for d in i.shape]).astype(np.float32)
            for i in model.inputs}


def verify(model, weights, onnx_bytes: bytes, seed: int = 1234, encode=None) -> Verification:
    """Run both back ends on the same random inputs, one for every declared input (numbers, or
    sentences of different lengths), at several batch sizes (and lengths), and compare every
    declared output. `encode` maps the inputs to the model's feeds (a portable model's word ids)."""
    from specc.runtime.blas_threads import blas_threads_for
    from specc.runtime.interpreter import forward
    from specc.runtime.onnx_runner import OnnxModel

    # the cases are small: threads spin-waiting between their short calls only take the cores' time
    session = OnnxModel(onnx_bytes, spin=False)
    rng = np.random.default_rng(seed)
    has_time = any("T" in i.shape for i in model.inputs)
    cases = tuple((n, t) for n in BATCH_SIZES for t in (SEQUENCE_LENGTHS if has_time else (None,)))
    reads_words = any(i.form == "tokens" for i in model.inputs)
    if reads_words:  # and a batch with every test word, as random batches may miss some
        length = SEQUENCE_LENGTHS[-1]
        cases += ((len(every_word(model, length)), length),)
    worst = worst_scaled = 0.0
    largest = max(batch for batch, _ in cases), max(length or 1 for _, length in cases)
    # the BLAS threads specc train would choose for the largest case: (batch, length)
    with blas_threads_for(model.layers, largest[0], largest):
        for case, (batch, length) in enumerate(cases):
            inputs = random_inputs(model, batch, length or 1, rng, all_words=reads_words and case == len(cases) - 1)
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite outputs fail below, with a hint
                expected = forward(model, weights, inputs)
            got = session.run(encode(inputs) if encode else inputs)
            for output in model.outputs:
                a, b = expected[output.name], got[output.name]
                if a.shape != b.shape:
                    return Verification(float("inf"), cases, max_diff=float("inf"))
                difference = np.abs(a - b)
                if not np.isfinite(difference).all():  # NaN compares false: it must fail, not vanish
                    return Verification(float("inf"), cases, finite=False, max_diff=float("inf"))
                if a.size:
                    worst = max(worst, float(difference.max()))
                    worst_scaled = max(worst_scaled, float((difference / np.maximum(np.abs(a), 1)).max()))
    return Verification(worst, cases, max_diff=worst_scaled)
