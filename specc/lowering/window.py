"""window K -> Pad the time axis with (K-1)/2 zero steps on either side, then Concat K Slices of
the padded sequence, piece o holding steps o .. o+T-1: their ends are computed from the input's
length T, so the graph runs at any length. (Ends counted from the sequence's end, -2 or 2^62 for
"to the end", were refused by tract on a dynamic T.)"""
from __future__ import annotations

from .base import lowering


@lowering("window")
def lower_window(g, layer, x):
    """(N, T, F) -> (N, T, steps*F), the earliest neighbour first."""
    steps = layer.attrs.steps
    side = steps // 2
    if steps == 1:
        return g.node("Identity", [x], layer)
    pads = g.constant(layer, "pads", [0, side, 0, 0, side, 0], "int64")
    padded = g.node("Pad", [x, pads], layer, suffix="pad")
    length = g.node("Shape", [x], layer, suffix="length", start=1, end=2)  # (1,) int64: T
    axis = g.constant(layer, "time_axis", [1], "int64")
    pieces = []
    for offset in range(steps):
        start = g.constant(layer, f"start{offset}", [offset], "int64")
        end = g.node("Add", [length, start], layer, suffix=f"end{offset}") if offset else length
        pieces.append(g.node("Slice", [padded, start, end, axis], layer, suffix=f"step{offset - side:+d}"))
    return g.node("Concat", pieces, layer, axis=-1)
