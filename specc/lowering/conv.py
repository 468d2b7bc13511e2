"""conv -> one ONNX Conv node, its pads explicit (the shape rule resolved `same`)."""
from __future__ import annotations

from .base import lowering


@lowering("conv")
def lower_conv(g, layer, x):
    """x (N, C, H, W) -> (N, filters, H', W'): Conv with the weight (and bias) initializers."""
    a = layer.attrs
    inputs = [x] + [g.weight(layer, w.name) for w in layer.weights]
    return g.node("Conv", inputs, layer, kernel_shape=list(a.kernel), strides=list(a.stride), pads=list(a.pads))
