"""The NumPy side of a layer kind: a kernel per kind name, found through KERNELS."""
from __future__ import annotations

from typing import Mapping

import numpy as np

KERNELS: dict[str, "Kernel"] = {}


class Kernel:
    """NumPy forward (and, with training, backward) of one layer kind.

    `forward(layer, w, x)`: `layer` is the IR Layer (read `layer.attrs`), `w` maps the layer's
    local weight names ('weight', 'bias', 'layer1.W' ...) to float32 arrays, `x` is the input
    batch. Returns the output batch, float32.
    """

    kind: str = ""

    def forward(self, layer, w: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
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
