"""dense -> Gemm on vectors; on sequences a MatMul broadcast over (N, T), or on one-hot words a
lookup table of every possible row (GraphBuilder.fold / project)."""
from __future__ import annotations

from .base import lowering


@lowering("dense")
def lower_dense(g, layer, x):
    """x (N, F) -> (N, units) by Gemm; (N, T, F) -> (N, T, units) per step."""
    bias = "bias" if len(layer.weights) > 1 else None
    if not layer.attrs.per_step:
        return g.node("Gemm", [x, g.weight(layer, "weight")] + ([g.weight(layer, bias)] if bias else []), layer,
                      transB=1)
    # on words held as a lookup (after onehot) the layer becomes a table of every possible row
    # (GraphBuilder.fold); otherwise MatMul broadcasts over (N, T) with the weight transposed
    return g.fold(x, layer, "weight", bias) or g.project(x, layer, "weight", "project", bias=bias)
