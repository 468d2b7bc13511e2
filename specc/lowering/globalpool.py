"""globalpool -> GlobalAveragePool or GlobalMaxPool (N, C, 1, 1), then Flatten to (N, C)."""
from __future__ import annotations

from .base import lowering


@lowering("globalpool")
def lower_globalpool(g, layer, x):
    """x (N, C, H, W) -> (N, C)."""
    op = "GlobalAveragePool" if layer.attrs.mode == "avg" else "GlobalMaxPool"
    return g.node("Flatten", [g.node(op, [x], layer, suffix="pooled")], layer, axis=1)
