"""The NumPy side of a layer kind: a kernel per kind name, found through KERNELS."""
from __future__ import annotations

from typing import Mapping

import numpy as np

KERNELS: dict[str, "Kernel"] = {}


class Kernel:
    """NumPy forward and backward of one layer kind.

    forward(layer, w, x, cache=None) -> y
        `layer` is the IR Layer (read `layer.attrs`); `w` maps the layer's local weight names
        ('weight', 'bias', 'layer1.W' ...) to arrays; `x` is the input batch (images channel-major,
        (C, N, H, W): run_layers swaps the axes on the way in and out). When training, the
        caller passes a dict as `cache` and the kernel keeps there what its backward needs.
    backward(layer, w, cache, dy, need_dx=True) -> (dx, grads)
        dy: the loss gradient with respect to y (same shape as y). Returns the gradient with
        respect to x and a dict of gradients with respect to each weight, by local name. With
        need_dx False (the first layer, whose input is data) a kernel may return None for dx.
    Kernels keep the dtype they are given: float32 in training, float64 in gradient checks.
    """

    kind: str = ""
    # reads_sparse: forward takes a SparseRows input (runtime/kernels/sparse.py) as it is.
    # takes_mask: forward takes mask= ((N, T), 0 on padding) and zeroes its own padded outputs.
    # random: forward draws from cache["rng"] in training (dropout); the trainer makes one only then.
    # reads_padding: forward reads padded steps as zeros (window); run_layers zeroes them first.
    # reads_operands: a merge (add, concat, multiply): forward takes operands= (the named values
    # it reads besides x, held as x is), and backward returns as dx a tuple: the gradient of x,
    # then of each operand.
    reads_sparse = False
    takes_mask = False
    random = False
    reads_padding = False
    reads_operands = False

    def forward(self, layer, w: Mapping[str, np.ndarray], x: np.ndarray, cache: dict | None = None) -> np.ndarray:
        raise NotImplementedError

    def backward(self, layer, w: Mapping[str, np.ndarray], cache: dict, dy: np.ndarray,
                 need_dx: bool = True) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        raise NotImplementedError


def kernel(kind_name: str):
    """Class decorator: register a Kernel under the layer kind's name."""

    def register(cls):
        if kind_name in KERNELS:
            raise ValueError(f"kernel {kind_name!r} registered twice")
        instance = cls()
        instance.kind = kind_name
        KERNELS[kind_name] = instance
        return cls

    return register
