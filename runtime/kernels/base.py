"""The NumPy side of a layer kind: a kernel per kind name, found through KERNELS.

What the interpreter must know of a kind (whether its forward reads SparseRows, takes the
padding mask, draws random numbers, reads padded steps, reads named operands) is declared once,
as flags of its typed attributes (specc/ir.py LayerAttrs: `layer.attrs.takes_mask` ...), which
the ONNX export reads too; a kernel declares nothing of the kind.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

KERNELS: dict[str, "Kernel"] = {}


class Kernel:
    """NumPy forward and backward of one layer kind.

    forward(layer, w, x, cache=None) -> y
        `layer` is the IR Layer (read its typed `layer.attrs`: `layer.attrs.stride`); `w` maps the layer's local weight names
        ('weight', 'bias', 'layer1.W' ...) to arrays; `x` is the input batch (images channel-major,
        (C, N, H, W): run_layers swaps the axes on the way in and out). When training, the
        caller passes a dict as `cache` and the kernel keeps there what its backward needs.
        By the layer's flags: reads_one_hot, x may be a SparseRows (runtime/kernels/sparse.py);
        takes_mask, forward also takes mask= ((N, T), 0 on padding) and zeroes its own padded
        outputs; random, it draws from cache["rng"] in training; reads_operands (a merge),
        forward takes operands= (the named values it reads besides x, held as x is).
    backward(layer, w, cache, dy, need_dx=True) -> (dx, grads)
        dy: the loss gradient with respect to y (same shape as y). Returns the gradient with
        respect to x and a dict of gradients with respect to each weight, by local name. With
        need_dx False (the first layer, whose input is data) a kernel may return None for dx.
        A merge (reads_operands) returns as dx a tuple: the gradient of x, then of each operand.
    Kernels keep the dtype they are given: float32 in training, float64 in gradient checks.
    """

    kind: str = ""

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
