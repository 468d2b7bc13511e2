"""add, concat, multiply -> one Add or Mul node per named operand, left to right; one Concat."""
from __future__ import annotations

from .base import lowering

ELEMENTWISE_OPS = {"add": "Add", "multiply": "Mul"}


@lowering(*ELEMENTWISE_OPS)
def lower_elementwise(g, layer, x):
    """add, multiply: ((x op a) op b) ..., equal shapes, left to right."""
    tensors = [x] + [g.values[name] for name in layer.attrs.operands]
    out = tensors[0]
    for n, tensor in enumerate(tensors[1:], 1):
        out = g.node(ELEMENTWISE_OPS[layer.kind], [out, tensor], layer,
                     suffix=None if n == len(tensors) - 1 else f"step{n}")
    return out


@lowering("concat")
def lower_concat(g, layer, x):
    """x and the operands joined along attrs.axis (channels or features), in order."""
    tensors = [x] + [g.values[name] for name in layer.attrs.operands]
    return g.node("Concat", tensors, layer, axis=layer.attrs.axis)
