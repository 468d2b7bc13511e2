"""batchnorm -> the inference form, from the running statistics: BatchNormalization on images
(channels on axis 1, as the op wants them), Mul and Add on vectors and sequences (features
last), with scale = weight / sqrt(running_var + eps) and shift = bias - running_mean * scale
computed in the graph from the initializers.

A batchnorm that directly follows a conv or a dense in its chain is folded into that layer's
weights instead (fold_batchnorms, called by to_onnx): W' = W * scale per output, b' = (b -
running_mean) * scale + bias, computed in float64, the batchnorm's own weights listed under the
model's specc.folded metadata."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir import WeightSpec
from .base import lowering

FOLDS_INTO = ("conv", "dense")


@lowering("batchnorm")
def lower_batchnorm(g, layer, x):
    """x (N, C, H, W), (N, F), (N, T, F) or packed words (R, F) -> the same shape."""
    weight, bias, mean, var = (g.weight(layer, name) for name in ("weight", "bias", "running_mean", "running_var"))
    if len(layer.in_shape) == 4:
        return g.node("BatchNormalization", [x, weight, bias, mean, var], layer, epsilon=layer.attrs.eps)
    spread = g.node("Sqrt", [g.node("Add", [var, g.constant(layer, "eps", layer.attrs.eps)], layer, suffix="var+eps")],
                    layer, suffix="sigma")
    scale = g.node("Div", [weight, spread], layer, suffix="scale")
    shift = g.node("Sub", [bias, g.node("Mul", [mean, scale], layer, suffix="mean*scale")], layer, suffix="shift")
    return g.node("Add", [g.node("Mul", [x, scale], layer, suffix="scaled"), shift], layer)


def fold_batchnorms(model, weights):
    """(model, weights, folded names): each batchnorm that directly follows a conv or a dense in
    the same chain is left out, that layer's weight and bias taking it in (a bias is added to a
    layer without one). The interpreter's inference is the same function, to float32 rounding."""
    weights, folded, chains = dict(weights), [], []
    for chain in model.chains:
        layers = []
        for layer in chain.layers:
            if layer.kind == "batchnorm" and layers and layers[-1].kind in FOLDS_INTO:
                layers[-1] = _folded(layers[-1], layer, weights)
                folded += [layer.weight_name(w.name) for w in layer.weights]
            else:
                layers.append(layer)
        chains.append(replace(chain, layers=tuple(layers)))
    return (replace(model, chains=tuple(chains)) if folded else model), weights, folded


def _folded(linear, batchnorm, weights):
    """`linear` (a conv or dense) with `batchnorm` folded in: its new weight and bias are put in
    `weights`, and a bias WeightSpec added if it had none."""
    def value(layer, name):
        return np.asarray(weights[layer.weight_name(name)], np.float64)

    scale = value(batchnorm, "weight") / np.sqrt(value(batchnorm, "running_var") + batchnorm.attrs.eps)
    kernel = value(linear, "weight")
    has_bias = any(w.name == "bias" for w in linear.weights)
    bias = value(linear, "bias") if has_bias else np.zeros(len(scale))
    weights[linear.weight_name("weight")] = (kernel * scale.reshape((-1,) + (1,) * (kernel.ndim - 1))).astype(np.float32)
    weights[linear.weight_name("bias")] = ((bias - value(batchnorm, "running_mean")) * scale
                                           + value(batchnorm, "bias")).astype(np.float32)
    if has_bias:
        return linear
    units = len(scale)
    return replace(linear, weights=linear.weights + (WeightSpec("bias", (units,), "zeros", units, units),))
