"""conv's col2im: the stride-1 path that adds whole runs gives the slice-adding path's values bit
for bit, and both are the adjoint of im2col."""
from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.kernels import conv

# (C, N, H, W), kernel, pads (top, left, bottom, right): square and not, padded and not
CASES = [((16, 4, 8, 8), (3, 3), (1, 1, 1, 1)), ((3, 5, 6, 7), (3, 2), (2, 1, 0, 1)),
         ((2, 3, 5, 5), (5, 5), (0, 0, 0, 0)), ((4, 2, 9, 4), (1, 3), (0, 1, 0, 1))]


def out_hw(x_shape, kernel_hw, pads) -> tuple[int, int]:
    top, left, bottom, right = pads
    return (x_shape[2] + top + bottom - kernel_hw[0] + 1, x_shape[3] + left + right - kernel_hw[1] + 1)


def slices_col2im(dcols, x_shape, kernel_hw, pads, monkeypatch) -> np.ndarray:
    """col2im with the runs path switched off."""
    monkeypatch.setattr(conv, "SHORT_ROWS", 0)
    return conv.col2im(dcols, x_shape, kernel_hw, (1, 1), pads)


@pytest.mark.parametrize("x_shape, kernel_hw, pads", CASES)
def test_runs_give_the_slice_sums_bit_for_bit(x_shape, kernel_hw, pads, monkeypatch):
    rng = np.random.default_rng(0)
    oh, ow = out_hw(x_shape, kernel_hw, pads)
    dcols = rng.standard_normal((x_shape[0], *kernel_hw, x_shape[1], oh, ow)).astype(np.float32)
    runs = conv.col2im(dcols, x_shape, kernel_hw, (1, 1), pads)
    assert runs.shape == x_shape
    np.testing.assert_array_equal(runs, slices_col2im(dcols, x_shape, kernel_hw, pads, monkeypatch))


@pytest.mark.parametrize("x_shape, kernel_hw, pads", CASES)
def test_col2im_is_the_adjoint_of_im2col(x_shape, kernel_hw, pads):
    """<im2col(x), d> = <x, col2im(d)> for any x and d, in float64."""
    rng = np.random.default_rng(1)
    oh, ow = out_hw(x_shape, kernel_hw, pads)
    x = rng.standard_normal(x_shape)
    dcols = rng.standard_normal((x_shape[0], *kernel_hw, x_shape[1], oh, ow))
    cols = conv.im2col(x, kernel_hw, (1, 1), pads, (oh, ow))
    left = float(np.sum(cols * dcols.reshape(cols.shape)))
    right = float(np.sum(x * conv.col2im(dcols, x_shape, kernel_hw, (1, 1), pads)))
    assert left == pytest.approx(right, rel=1e-12)
