"""Starting values of a model's weights: literal values from the spec or seeded random draws.

Each weight tensor draws from its own generator, seeded by (seed, the weight's name), so a
weight keeps its starting values when other layers of the spec change.

Initialisers (fan_in, fan_out from the layer's WeightSpec):
  xavier  U(-a, a), a = sqrt(6 / (fan_in + fan_out))   (Glorot uniform; the default)
  he      N(0, 2 / fan_in)
  normal  N(0, 1 / fan_in)
  ones, zeros
Biases start at zero unless the spec gives them.
"""
from __future__ import annotations

import zlib

import numpy as np

DEFAULT_SEED = 0


def initial_value(spec, name: str, seed: int) -> np.ndarray:
    """One weight tensor (float32, shape spec.shape) for the WeightSpec `spec` named `name`."""
    if spec.literal is not None:
        return np.asarray(spec.literal.values, dtype=np.float32).reshape(spec.shape)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    # drawn in float32 and scaled in place: a large layer never holds a float64 copy
    if spec.init == "xavier":
        values = rng.random(spec.shape, dtype=np.float32)
        values *= 2.0
        values -= 1.0
        values *= np.sqrt(6.0 / (spec.fan_in + spec.fan_out))
    elif spec.init in ("he", "normal"):
        values = rng.standard_normal(spec.shape, dtype=np.float32)
        values *= np.sqrt((2.0 if spec.init == "he" else 1.0) / spec.fan_in)
    else:
        values = (np.ones if spec.init == "ones" else np.zeros)(spec.shape, dtype=np.float32)
    return values


def init_weights(model, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """All weights of a Model, keyed by global name ('conv@5.weight'), float32."""
    return {layer.weight_name(w.name): initial_value(w, layer.weight_name(w.name), seed)
            for layer in model.layers for w in layer.weights}
