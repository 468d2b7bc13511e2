"""flatten and last: layers that change the layout of a tensor, not its values."""
from __future__ import annotations

from ..shapes import form, require, sample_elements
from .base import Inferred, LayerKind, register


@register
class Flatten(LayerKind):
    name = "flatten"
    doc = "an image (N, C, H, W) -> a vector (N, C*H*W), channel-major as in ONNX Flatten"

    def infer(self, args, shape):
        require(shape, "image", "vector",
                hint="to classify a whole sequence take its final step with 'last'" if form(shape) == "seq" else None)
        return Inferred(("N", sample_elements(shape)))

    def lower(self, g, layer, x):
        return g.node("Flatten", [x], layer, axis=1)


@register
class Last(LayerKind):
    name = "last"
    doc = "the final step of each sequence (each sentence's last word): (N, T, F) -> (N, F)"

    def infer(self, args, shape):
        require(shape, "seq", hint="last reads sequences; images and vectors have no steps")
        return Inferred(("N", shape[-1]))


    def lower(self, g, layer, x):
        if g.mask is None:
            index = g.constant(layer, "index", -1, "int64")
            return g.node("Gather", [x, index], layer, axis=1)
        # sentences of different lengths: each row's last word, at (number of words - 1)
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

