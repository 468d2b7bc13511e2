"""flatten -> Flatten; last -> the last step (Gather), or for sentences of different lengths
each row's last word, at (number of words - 1) by the padding mask (GatherElements)."""
from __future__ import annotations

from .base import lowering


@lowering("flatten")
def lower_flatten(g, layer, x):
    """(N, C, H, W) -> (N, C*H*W), channel-major."""
    return g.node("Flatten", [x], layer, axis=1)


@lowering("last")
def lower_last(g, layer, x):
    """(N, T, F) -> (N, F): each sentence's last word."""
    if g.mask is None:
        index = g.constant(layer, "index", -1, "int64")
        return g.node("Gather", [x, index], layer, axis=1)
    words = g.node("ReduceSum", [g.mask, g.constant(layer, "time_axis", [1], "int64")], layer, suffix="words",
                   keepdims=1)
    last = g.node("Sub", [g.node("Cast", [words], layer, suffix="count", to=7), g.constant(layer, "one", 1, "int64")],
                  layer, suffix="last_index")
    width = g.node("Slice", [g.node("Shape", [x], layer, suffix="shape"), g.constant(layer, "two", [2], "int64"),
                             g.constant(layer, "three", [3], "int64")], layer, suffix="width")
    shape = g.node("Concat", [g.constant(layer, "ones", [1, 1], "int64"), width], layer, suffix="index_shape",
                   axis=0)
    index = g.node("Expand", [last, shape], layer, suffix="index")
    picked = g.node("GatherElements", [x, index], layer, suffix="picked", axis=1)
    return g.node("Squeeze", [picked, g.constant(layer, "time_axis", [1], "int64")], layer)
