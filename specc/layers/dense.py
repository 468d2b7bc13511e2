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
        weight = g.weight(layer, "weight")
        bias = [g.weight(layer, "bias")] if len(layer.weights) > 1 else []
        if not layer.attrs["per_step"]:
            return g.node("Gemm", [x, weight] + bias, layer, transB=1)
        # MatMul broadcasts over (N, T); the weight is transposed in the graph, keeping one layout.
        transposed = g.node("Transpose", [weight], layer, suffix="wT", perm=[1, 0])
        y = g.project(x, transposed, layer, "project")
        return g.node("Add", [y] + bias, layer, suffix="bias") if bias else y
