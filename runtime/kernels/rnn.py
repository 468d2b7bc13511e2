"""rnn (Elman) forward in NumPy; the layout and equations are in specc/layers/rnn.py."""
from __future__ import annotations

import numpy as np

from .activation import FUNCTIONS
from .base import Kernel, kernel


def elman_direction(xw: np.ndarray, recurrent: np.ndarray, f, reverse: bool) -> np.ndarray:
    """Run one direction of an Elman layer.

    xw: (N, T, H), the input projection x_t W^T + b of every step, done in one product;
    recurrent: (H, H) matrix R. Returns the hidden states (N, T, H) at their own steps.
    """
    n, steps, hidden = xw.shape
    out = np.empty_like(xw)
    h = np.zeros((n, hidden), dtype=xw.dtype)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        h = f(xw[:, t] + h @ recurrent.T)
        out[:, t] = h
    return out


@kernel("rnn")
class Rnn(Kernel):
    def forward(self, layer, w, x):
        a = layer.attrs
        f = FUNCTIONS[a["activation"]]
        for k in range(1, a["layers"] + 1):
            joined = []
            for d in range(a["directions"]):
                xw = x @ w[f"layer{k}.W"][d].T
                if a["bias"]:
                    xw += w[f"layer{k}.b"][d]
                joined.append(elman_direction(xw, w[f"layer{k}.R"][d], f, reverse=d == 1))
            x = np.concatenate(joined, axis=-1) if len(joined) > 1 else joined[0]
        return x
