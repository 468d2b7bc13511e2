"""Activations: relu, sigmoid, tanh, linear (elementwise) and softmax (over the last axis)."""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import form, require
from .base import Inferred, LayerAttrs, LayerKind, register


@dataclass(frozen=True)
class ActivationAttrs(LayerAttrs):
    """No values: the kind's name says the function. Each step's output is its own step's."""

    each_step = True


class Activation(LayerKind):
    """An elementwise function; the shape passes through unchanged."""

    attrs_type = ActivationAttrs

    def infer(self, args, shape):
        return Inferred(shape, ActivationAttrs())


def _activation(name: str, doc: str) -> type[Activation]:
    return register(type(name.capitalize(), (Activation,), {"name": name, "doc": doc}))


Relu = _activation("relu", "max(0, x)")
Sigmoid = _activation("sigmoid", "1 / (1 + exp(-x))")
Tanh = _activation("tanh", "tanh(x)")
Linear = _activation("linear", "x unchanged (the identity)")


@register
class Softmax(Activation):
    name = "softmax"
    doc = "exp(x) / sum(exp(x)) over the last axis: class probabilities per sample or per step"

    def infer(self, args, shape):
        require(shape, "vector", "seq", hint="add flatten before softmax" if form(shape) == "image" else None)
        return Inferred(shape, ActivationAttrs())
