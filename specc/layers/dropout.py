"""dropout: during training, zero each value with probability p and scale the rest by 1/(1-p)
(inverted dropout, as PyTorch does), so that at inference the layer is the identity."""
from __future__ import annotations

from ..signature import Arg, probability
from .base import Inferred, LayerKind, register


@register
class Dropout(LayerKind):
    name = "dropout"
    each_step = True
    doc = "training only: zero values with probability p, scale the rest by 1/(1-p); identity at inference"
    signature = (Arg("p", probability, 0.5, "probability of zeroing a value, from 0 to below 1", positional=True),)

    def infer(self, args, shape):
        return Inferred(shape, dict(p=args["p"]))

    def lower(self, g, layer, x):
        # an exported model is for inference, where dropout does nothing
        return g.node("Identity", [x], layer)
