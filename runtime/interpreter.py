"""The NumPy interpreter: runs a checked Model's chains layer by layer."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .kernels import KERNELS


def layer_weights(layer, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights of one layer under their local names ('weight', 'layer1.W', ...)."""
    return {w.name: weights[layer.weight_name(w.name)] for w in layer.weights}


def class_names(output, scores: np.ndarray) -> np.ndarray:
    """Predicted class names of a classifier output: scores (..., C) -> strings (...)."""
    return np.asarray(output.classes, dtype=object)[np.argmax(scores, axis=-1)]


def forward(model, weights: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the model on prepared inputs (float32 batches, see specc.feed).

    Returns each output by name; a classifier output NAME also gives NAME_class, the class
    names of the highest scores.
    """
    results: dict[str, np.ndarray] = {}
    for chain in model.chains:
        x = inputs[chain.source]
        for layer in chain.layers:
            x = KERNELS[layer.kind].forward(layer, layer_weights(layer, weights), x)
        results[chain.output.name] = x
        if chain.output.classes:
            results[chain.output.class_output_name] = class_names(chain.output, x)
    return results
