"""dropout: during training, zero each value with probability p and scale the rest by 1/(1-p)
(inverted dropout, as PyTorch does), so that at inference the layer is the identity."""
from __future__ import annotations

from dataclasses import dataclass

from ..signature import Arg, probability
from .base import Inferred, LayerAttrs, LayerKind, register


@dataclass(frozen=True)
class DropoutAttrs(LayerAttrs):
    """p: the probability of zeroing a value in training."""

    each_step = True
    random = True

    p: float


@register
class Dropout(LayerKind):
    name = "dropout"
    attrs_type = DropoutAttrs
    doc = "training only: zero values with probability p, scale the rest by 1/(1-p); identity at inference"
    signature = (Arg("p", probability, 0.5, "probability of zeroing a value, from 0 to below 1", positional=True),)

    def infer(self, args, shape):
        return Inferred(shape, DropoutAttrs(p=args["p"]))
