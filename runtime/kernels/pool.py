"""maxpool and avgpool forward in NumPy: one window view, the reduction as a parameter."""
from __future__ import annotations

import numpy as np

from .base import Kernel, kernel
from .conv import windows


def _ceil_pads(layer, x: np.ndarray) -> tuple[int, int, int, int]:
    """Extra rows/columns after the image that a ceil-mode last window reaches past."""
    a = layer.attrs
    out_h, out_w = layer.out_shape[2:]
    extra_h = max((out_h - 1) * a["stride"][0] + a["size"][0] - x.shape[2], 0)
    extra_w = max((out_w - 1) * a["stride"][1] + a["size"][1] - x.shape[3], 0)
    return (0, 0, extra_h, extra_w)


@kernel("maxpool")
class MaxPool(Kernel):
    def forward(self, layer, w, x):
        a = layer.attrs
        view = windows(x, a["size"], a["stride"], _ceil_pads(layer, x), fill=-np.inf)
        return view.max(axis=(4, 5))


@kernel("avgpool")
class AvgPool(Kernel):
    def forward(self, layer, w, x):
        a = layer.attrs
        pads = _ceil_pads(layer, x)
        total = windows(x, a["size"], a["stride"], pads).sum(axis=(4, 5))
        if not any(pads):
            return (total / (a["size"][0] * a["size"][1])).astype(np.float32)
        # a partial window averages only the pixels it covers (ONNX count_include_pad=0)
        ones = np.ones((1, 1) + x.shape[2:], dtype=np.float32)
        count = windows(ones, a["size"], a["stride"], pads).sum(axis=(4, 5))
        return (total / count).astype(np.float32)
