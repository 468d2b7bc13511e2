"""The built-in digits: the UCI handwritten digits (1,797 8x8 images) bundled with scikit-learn."""
from __future__ import annotations

import numpy as np

from specc.errors import SpecError

from . import Dataset, SpecSide, Split, fit_samples, holdout, install_hint, labels_by_name, split_validation

CLASSES = tuple(str(digit) for digit in range(10))
TEST_FRACTION = 0.2
TEST_SEED = 1797  # fixed, so every run is scored on the same 359 images


def load_digits(spec: SpecSide, seed: int, validation: float) -> Dataset:
    """A stratified 80/20 train/test split fixed for every run, and a stratified `validation`
    fraction of the train part chosen by `seed`.

    Pixels are scaled from 0..16 to [0, 1] and shaped (N, 1, 8, 8), or reshaped to the spec's
    input if it holds 64 numbers ((N, 64) for a vector input). Labels index the spec's classes,
    which must be the names 0..9.
    """
    try:
        from sklearn.datasets import load_digits as bundled_digits
    except ImportError:
        raise SpecError("the digits data set needs scikit-learn, which is not installed",
                        hint=install_hint("data", "scikit-learn")) from None
    bunch = bundled_digits()
    where = "the digits data set"
    x = fit_samples((bunch.images / 16).astype(np.float32)[:, None], spec, where)
    digit = bunch.target.astype(np.int64)
    y = labels_by_name(digit, CLASSES, spec, where)
    # Stratify on the digits themselves, so the split does not depend on the spec's class order.
    rest, test = holdout(len(x), TEST_FRACTION, np.random.default_rng(TEST_SEED), digit)
    train, held = split_validation(x[rest], y[rest], validation, seed, digit[rest])
    return Dataset("digits", train, held, Split(x[test], y[test]), spec.classes)
