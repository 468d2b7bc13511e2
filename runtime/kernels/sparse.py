"""One-hot and bag-of-ids vectors kept as the ids of their ones.

`onehot` and `wordhash` output vectors that are almost all zero. Multiplying them by a weight
matrix would cost a product with a mostly-zero matrix; kept as ids, the product is a lookup of
the weight's columns (and its gradient an addition into them). Kernels that can take a
SparseRows (dense, rnn) do; run_layers expands it for any other kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseRows:
    """A batch of vectors of `width` held as ids (..., K): each vector is the sum of the one-hot
    vectors of its K ids (a repeated id counts twice); id -1 adds nothing (padding)."""

    ids: np.ndarray
    width: int
    dtype: type = np.float32

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ids.shape[:-1] + (self.width,)

    def swap_batch_and_time(self) -> "SparseRows":
        """(N, T, ...) <-> (T, N, ...), as the rnn kernel runs time-major."""
        return SparseRows(np.ascontiguousarray(self.ids.swapaxes(0, 1)), self.width, self.dtype)

    def project(self, weight: np.ndarray) -> np.ndarray:
        """self @ weight^T for a weight (H, width) as the layers store it: (..., H), each vector
        the sum of the weight's columns at its ids."""
        valid = self.ids >= 0
        picked = weight.T[np.where(valid, self.ids, 0)]  # (..., K, H)
        if not valid.all():
            picked *= valid[..., None]
        return picked[..., 0, :] if self.ids.shape[-1] == 1 else picked.sum(axis=-2)

    def project_grad(self, d_out: np.ndarray) -> np.ndarray:
        """Gradient of project's weight from d_out (..., H): (H, width), the rows of d_out summed
        into the columns of their ids. The first row of each id is written, only the repeats are
        added with np.add.at: a few times faster than np.add.at on every row."""
        k = self.ids.shape[-1]
        d_rows = d_out.reshape(-1, d_out.shape[-1])
        ids = self.ids.reshape(-1)
        rows = np.repeat(d_rows, k, axis=0) if k > 1 else d_rows
        valid = ids >= 0  # padding adds nothing
        ids, rows = ids[valid], rows[valid]
        grad = np.zeros((d_rows.shape[1], self.width), dtype=d_out.dtype)
        distinct, first = np.unique(ids, return_index=True)
        grad[:, distinct] = rows[first].T
        repeats = np.ones(len(ids), dtype=bool)
        repeats[first] = False
        if repeats.any():
            np.add.at(grad.T, ids[repeats], rows[repeats])
        return grad

    def dense(self) -> np.ndarray:
        """The vectors written out: (..., width)."""
        flat = self.ids.reshape(-1, self.ids.shape[-1])
        out = np.zeros((len(flat), self.width + 1), dtype=self.dtype)
        for k in range(flat.shape[1]):
            np.add.at(out, (np.arange(len(flat)), flat[:, k]), 1)
        return out[:, :-1].reshape(self.shape)
