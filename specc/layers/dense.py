"""dense: a fully connected layer on vectors (N, F), or on each step of a sequence (N, T, F)."""
from __future__ import annotations

from ..shapes import ShapeError, form, require
from ..signature import Arg, literal, literal_or_flag, positive_int
from .base import Inferred, LayerKind, WeightSpec, register
from .conv import INITS, bias_values


@register
class Dense(LayerKind):
    name = "dense"
    doc = "y = x W^T + b, with W of shape (units, inputs)"
    size_arg = "units"
    reads_one_hot = True
    each_step = True
    signature = (
        Arg("units", positive_int, None, "how many outputs; the last dense may take it from the output's classes",
            positional=True),
        Arg("bias", literal_or_flag, True, "true, false or a list, one per unit"),
        Arg("weights", literal, None, "literal weights of shape (units, inputs)"),
        Arg("init", INITS, "xavier", "xavier (Glorot uniform), he, normal, ones or zeros"),
    )

    def infer(self, args, shape):
        require(shape, "vector", "seq", hint="add flatten before dense" if form(shape) == "image" else None)
        inputs = shape[-1]
        units, given = args["units"], args["weights"]
        if given is not None and given.shape != (units, inputs):
            raise ShapeError(f"has weights of shape {given.shape}, expected ({units}, {inputs})",
                             expected=f"weights of shape ({units}, {inputs}): one row per unit, one column per input",
                             arg="weights", hint=f"this dense maps {inputs} inputs to {units} units")
        weights = (WeightSpec("weight", (units, inputs), args["init"], inputs, units, given),)
        weights += bias_values(args["bias"], units, "dense")
        return Inferred(shape[:-1] + (units,), dict(units=units, per_step=form(shape) == "seq"), weights)

    def lower(self, g, layer, x):
        bias = "bias" if len(layer.weights) > 1 else None
        if not layer.attrs["per_step"]:
            return g.node("Gemm", [x, g.weight(layer, "weight")] + ([g.weight(layer, bias)] if bias else []), layer,
                          transB=1)
        # on words held as a lookup (after onehot) the layer becomes a table of every possible row
        # (GraphBuilder.fold); otherwise MatMul broadcasts over (N, T) with the weight transposed
        return g.fold(x, layer, "weight", bias) or g.project(x, layer, "weight", "project", bias=bias)
