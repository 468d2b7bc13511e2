"""window K -> Pad the time axis with (K-1)/2 zero steps on either side, then Concat K Slices of
the padded sequence, piece o holding steps o .. o+T-1: every end but the last counts from the
sequence's end (o - (K-1)), the last is the padded length, read by Shape, so the graph runs at
any length. (An end past any length, 2^62, was refused by tract on a dynamic T.)"""
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
    axis = g.constant(layer, "time_axis", [1], "int64")
    pieces = []
    for offset in range(steps):
        start = g.constant(layer, f"start{offset}", [offset], "int64")
        end = (g.constant(layer, f"end{offset}", [offset - (steps - 1)], "int64") if offset < steps - 1
               else g.node("Shape", [padded], layer, suffix="padded_length", start=1, end=2))
        pieces.append(g.node("Slice", [padded, start, end, axis], layer, suffix=f"step{offset - side:+d}"))
    return g.node("Concat", pieces, layer, axis=-1)
