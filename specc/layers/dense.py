"""dense: a fully connected layer on vectors (N, F), or on each step of a sequence (N, T, F)."""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import ShapeError, form, require
from ..signature import Arg, literal, literal_or_flag, positive_int
from .base import Inferred, LayerAttrs, LayerKind, WeightSpec, register
from .conv import INITS, bias_values


@dataclass(frozen=True)
class DenseAttrs(LayerAttrs):
    """units: outputs; per_step: the input is a sequence (N, T, F), each step mapped alike."""

    reads_one_hot = True
    each_step = True

    units: int
    per_step: bool


@register
class Dense(LayerKind):
    name = "dense"
    doc = "y = x W^T + b, with W of shape (units, inputs)"
    attrs_type = DenseAttrs
    size_arg = "units"
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
        return Inferred(shape[:-1] + (units,), DenseAttrs(units=units, per_step=form(shape) == "seq"), weights)
