"""Activation forwards and backwards in NumPy, one table for all of them.

Each elementwise derivative is written as a slope computed from the output y (f'(x) = slope(y)),
so backward needs only y, and the recurrent layer can take the slopes of every step at once.
"""
from __future__ import annotations

import numpy as np

from .base import KERNELS, Kernel


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # written through tanh so that large |x| neither overflows exp nor loses precision
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(x.dtype)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum for stability."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# name: (f(x), f'(x) as a function of y = f(x))
ELEMENTWISE = {
    "relu": (lambda x: np.maximum(x, 0), lambda y: y > 0),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y)),
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "linear": (lambda x: x, None),  # slope 1: the gradient passes unchanged
}


def _sigmoid_in_place(a: np.ndarray) -> np.ndarray:
    a *= 0.5
    np.tanh(a, out=a)
    a += 1.0
    a *= 0.5
    return a


# the same functions, overwriting their argument: the recurrent layer's inner loop allocates nothing
IN_PLACE = {
    "relu": lambda a: np.maximum(a, 0, out=a),
    "sigmoid": _sigmoid_in_place,
    "tanh": lambda a: np.tanh(a, out=a),
    "linear": lambda a: a,
}


class Activation(Kernel):
    def __init__(self, kind: str):
        self.kind = kind
        self.function, self.slope = ELEMENTWISE[kind]

    def forward(self, layer, w, x, cache=None):
        y = self.function(x)
        if cache is not None:
            cache["y"] = y
        return y

    def backward(self, layer, w, cache, dy, need_dx=True):
        return (dy if self.slope is None else dy * self.slope(cache["y"])), {}


class Softmax(Kernel):
    def forward(self, layer, w, x, cache=None):
        y = softmax(x)
        if cache is not None:
            cache["y"] = y
        return y

    def backward(self, layer, w, cache, dy, need_dx=True):
        y = cache["y"]
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True)), {}


for _name in ELEMENTWISE:
    KERNELS[_name] = Activation(_name)
KERNELS["softmax"] = Softmax()
KERNELS["softmax"].kind = "softmax"
