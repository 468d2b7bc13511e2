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
    if spec.init == "xavier":
        limit = np.sqrt(6.0 / (spec.fan_in + spec.fan_out))
        values = rng.uniform(-limit, limit, spec.shape)
    elif spec.init == "he":
        values = rng.normal(0.0, np.sqrt(2.0 / spec.fan_in), spec.shape)
    elif spec.init == "normal":
        values = rng.normal(0.0, np.sqrt(1.0 / spec.fan_in), spec.shape)
    elif spec.init == "ones":
        values = np.ones(spec.shape)
    else:
        values = np.zeros(spec.shape)
    return values.astype(np.float32)


def init_weights(model, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """All weights of a Model, keyed by global name ('conv@5.weight'), float32."""
    return {layer.weight_name(w.name): initial_value(w, layer.weight_name(w.name), seed)
            for layer in model.layers for w in layer.weights}
