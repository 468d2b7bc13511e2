"""conv's im2col and col2im: each has two paths by size, which give the same values bit for bit;
col2im is the adjoint of im2col."""
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


# (C, N, H, W), kernel, strides, blocks (a fused pool's window), pads
GATHERS = [((16, 4, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)), ((3, 4, 8, 8), (3, 3), (1, 1), (2, 2), (1, 1, 1, 1)),
           ((3, 5, 9, 9), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)), ((2, 3, 12, 12), (3, 2), (2, 1), (2, 2), (1, 1, 1, 1)),
           ((2, 3, 7, 6), (2, 2), (1, 1), (1, 1), (0, 0, 1, 0))]


@pytest.mark.parametrize("x_shape, kernel_hw, strides, blocks, pads", GATHERS)
def test_window_copy_gives_the_gathered_columns(x_shape, kernel_hw, strides, blocks, pads):
    """The sliding-window copy (large columns) and the index gather (small) agree exactly, in
    the column order a fused pool's blocks ask for."""
    x = np.random.default_rng(2).standard_normal(x_shape).astype(np.float32)
    xp = conv.padded(x, pads)
    out = [(size - k) // s + 1 for size, k, s in zip(xp.shape[2:], kernel_hw, strides)]
    out_hw = tuple(o - o % b for o, b in zip(out, blocks))
    gathered = np.take(xp.reshape(-1), conv.column_index(xp.shape, kernel_hw, strides, out_hw, blocks))
    np.testing.assert_array_equal(conv.window_columns(xp, kernel_hw, strides, out_hw, blocks), gathered)
