"""globalpool: the mean (or maximum) of each channel over the whole image, (N, C, H, W) -> (N, C),
as Keras' GlobalAveragePooling2D and PyTorch's adaptive pooling to 1x1 give it."""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import form, require
from ..signature import Arg, one_of
from .base import Inferred, LayerAttrs, LayerKind, register


@dataclass(frozen=True)
class GlobalPoolAttrs(LayerAttrs):
    """mode: avg (the mean of each channel) or max (its largest value)."""

    mode: str


@register
class GlobalPool(LayerKind):
    name = "globalpool"
    doc = "the mean (avg) or largest value (max) of each channel over the whole image: (N, C, H, W) -> (N, C)"
    attrs_type = GlobalPoolAttrs
    signature = (Arg("mode", one_of("avg", "max"), "avg", "avg (the mean of each channel) or max", positional=True),)

    def infer(self, args, shape):
        hint = {"vector": "a vector has no height and width to pool: put globalpool before flatten or dense",
                "seq": "globalpool pools images; for a sequence take its final step with 'last'"}.get(form(shape))
        require(shape, "image", hint=hint or "globalpool reads images (N, C, H, W)")
        return Inferred(("N", shape[1]), GlobalPoolAttrs(mode=args["mode"]))
