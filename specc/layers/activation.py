"""Activations: relu, sigmoid, tanh, linear (elementwise) and softmax (over the last axis)."""
from __future__ import annotations

from ..shapes import form, require
from .base import Inferred, LayerKind, register


class Activation(LayerKind):
    """An elementwise function; the shape passes through unchanged."""

    onnx_op = ""
    each_step = True

    def infer(self, args, shape):
        return Inferred(shape)

    def lower(self, g, layer, x):
        return g.node(self.onnx_op, [x], layer)


def _activation(name: str, onnx_op: str, doc: str) -> type[Activation]:
    return register(type(name.capitalize(), (Activation,), {"name": name, "onnx_op": onnx_op, "doc": doc}))


Relu = _activation("relu", "Relu", "max(0, x)")
Sigmoid = _activation("sigmoid", "Sigmoid", "1 / (1 + exp(-x))")
Tanh = _activation("tanh", "Tanh", "tanh(x)")
Linear = _activation("linear", "Identity", "x unchanged (the identity)")


@register
class Softmax(Activation):
    name = "softmax"
    doc = "exp(x) / sum(exp(x)) over the last axis: class probabilities per sample or per step"

    def infer(self, args, shape):
        require(shape, "vector", "seq", hint="add flatten before softmax" if form(shape) == "image" else None)
        return Inferred(shape)

    def lower(self, g, layer, x):
        return g.node("Softmax", [x], layer, axis=-1)
