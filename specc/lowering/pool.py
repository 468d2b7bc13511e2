"""maxpool, avgpool -> MaxPool, AveragePool (a partial ceil window averages what it covers)."""
from __future__ import annotations

from .base import lowering

POOL_OPS = {"maxpool": ("MaxPool", {}), "avgpool": ("AveragePool", {"count_include_pad": 0})}


@lowering(*POOL_OPS)
def lower_pool(g, layer, x):
    """x (N, C, H, W) -> (N, C, H', W'); avgpool leaves padding out of its means."""
    a = layer.attrs
    op, extra = POOL_OPS[layer.kind]
    return g.node(op, [x], layer, kernel_shape=list(a.window), strides=list(a.stride), ceil_mode=int(a.ceil), **extra)
