"""batchnorm: batch normalisation (Ioffe and Szegedy 2015) with PyTorch's conventions, per
channel of images (BatchNorm2d) or per feature of vectors and sequences (BatchNorm1d).

Training normalises with the batch's own mean and biased variance (padding steps of sentences
left out of both), y = (x - mean) / sqrt(var + eps) * weight + bias, and updates the running
statistics: running = (1 - momentum) * running + momentum * batch statistic, the variance's
being the unbiased one (m / (m - 1) times the biased, m values per channel). Inference and the
export use the running ones. Weights, PyTorch's names and layout, all (C,):
  weight (gamma, starts at 1) and bias (beta, starts at 0): parameters, trained;
  running_mean (starts at 0) and running_var (starts at 1): buffers, updated by the kernel in
  training, never by the optimizer, saved in checkpoints beside the weights.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import BYTES_PER_FLOAT, elements, form, require
from ..signature import Arg, ArgTypeError
from .base import Inferred, LayerAttrs, LayerKind, Scratch, WeightSpec, register


def _momentum(value) -> float:
    if value.kind in ("int", "float") and 0 <= value.value <= 1:
        return float(value.value)
    raise ArgTypeError("a number from 0 to 1 (the weight of each batch in the running statistics)")


def _eps(value) -> float:
    if value.kind in ("int", "float") and 0 < value.value < 1:
        return float(value.value)
    raise ArgTypeError("a number above 0 and below 1, like 1e-5")


@dataclass(frozen=True)
class BatchNormAttrs(LayerAttrs):
    """momentum: the weight of each batch's statistics in the running ones; eps: added to the
    variance before its square root. Training mixes the steps of a batch (their statistics),
    inference maps each step alone: each_step holds for the export, which is inference."""

    each_step = True
    takes_mask = True

    momentum: float
    eps: float


@register
class BatchNorm(LayerKind):
    name = "batchnorm"
    doc = "batch normalisation per channel (images) or feature (vectors, sequences), PyTorch's conventions"
    attrs_type = BatchNormAttrs
    signature = (
        Arg("momentum", _momentum, 0.1, "the weight of each batch in the running statistics, from 0 to 1"),
        Arg("eps", _eps, 1e-5, "added to the variance before its square root"),
    )

    def infer(self, args, shape):
        require(shape, "image", "vector", "seq",
                hint="put onehot or wordhash first" if form(shape) == "tokens" else None)
        width = shape[1] if form(shape) == "image" else shape[-1]
        weights = (WeightSpec("weight", (width,), "ones", width, width),
                   WeightSpec("bias", (width,), "zeros", width, width),
                   WeightSpec("running_mean", (width,), "zeros", width, width, buffer=True),
                   WeightSpec("running_var", (width,), "ones", width, width, buffer=True, nonnegative=True))
        return Inferred(shape, BatchNormAttrs(momentum=args["momentum"], eps=args["eps"]), weights)

    def scratch(self, layer, steps):
        """Training keeps the normalised input (the size of the input) for backpropagation."""
        return Scratch(elements(layer.in_shape, 1, steps) * BYTES_PER_FLOAT, "its normalised input")
