"""Activations -> one ONNX node each: Relu, Sigmoid, Tanh, Identity (linear), Softmax (last axis)."""
from __future__ import annotations

from .base import lowering

ELEMENTWISE_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "linear": "Identity"}


@lowering(*ELEMENTWISE_OPS)
def lower_elementwise(g, layer, x):
    """relu, sigmoid, tanh, linear: one elementwise node of any shape."""
    return g.node(ELEMENTWISE_OPS[layer.kind], [x], layer)


@lowering("softmax")
def lower_softmax(g, layer, x):
    """Softmax over the last axis: classes per sample (N, K) or per step (N, T, K)."""
    return g.node("Softmax", [x], layer, axis=-1)
