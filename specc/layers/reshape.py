"""flatten and last: layers that change the layout of a tensor, not its values."""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import form, require, sample_elements
from .base import Inferred, LayerAttrs, LayerKind, register


@dataclass(frozen=True)
class FlattenAttrs(LayerAttrs):
    """No values: (N, C, H, W) -> (N, C*H*W), channel-major."""


@dataclass(frozen=True)
class LastAttrs(LayerAttrs):
    """No values: each sentence's last word is found by the padding mask."""

    takes_mask = True


@register
class Flatten(LayerKind):
    name = "flatten"
    doc = "an image (N, C, H, W) -> a vector (N, C*H*W), channel-major as in ONNX Flatten"
    attrs_type = FlattenAttrs

    def infer(self, args, shape):
        require(shape, "image", "vector",
                hint="to classify a whole sequence take its final step with 'last'" if form(shape) == "seq" else None)
        return Inferred(("N", sample_elements(shape)), FlattenAttrs())


@register
class Last(LayerKind):
    name = "last"
    doc = "the final step of each sequence (each sentence's last word): (N, T, F) -> (N, F)"
    attrs_type = LastAttrs

    def infer(self, args, shape):
        require(shape, "seq", hint="last reads sequences; images and vectors have no steps")
        return Inferred(("N", shape[-1]), LastAttrs())
