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
    doc = "the final step of each sequence: (N, T, F) -> (N, F)"

    def infer(self, args, shape):
        require(shape, "seq", hint="last reads sequences; images and vectors have no steps")
        return Inferred(("N", shape[-1]))

    def lower(self, g, layer, x):
        index = g.constant(layer, "index", -1, "int64")
        return g.node("Gather", [x, index], layer, axis=1)

