"""dense forward in NumPy: x W^T + b on (N, F) or on every step of (N, T, F)."""
from __future__ import annotations

from .base import Kernel, kernel


@kernel("dense")
class Dense(Kernel):
    def forward(self, layer, w, x):
        y = x @ w["weight"].T
        if "bias" in w:
            y += w["bias"]
        return y
