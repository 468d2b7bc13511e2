"""The NumPy interpreter: runs a checked Model's chains layer by layer, forward and backward."""
from __future__ import annotations

from typing import Mapping, Sequence

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
        x = run_layers(execution_order(chain.layers), weights, inputs[chain.source])
        results[chain.output.name] = x
        if chain.output.classes:
            results[chain.output.class_output_name] = class_names(chain.output, x)
    return results


def execution_order(layers: Sequence) -> list:
    """The layers in the order the interpreter runs them: `relu -> maxpool` becomes
    `maxpool -> relu`, which is the same function (max and relu commute, bit for bit) with the
    same gradient (a window whose maximum is not positive passes no gradient either way), and
    applies relu to a quarter of the values."""
    order = list(layers)
    for i in range(len(order) - 1):
        if order[i].kind == "relu" and order[i + 1].kind == "maxpool":
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


def run_layers(layers: Sequence, weights: Mapping[str, np.ndarray], x: np.ndarray,
               caches: list | None = None) -> np.ndarray:
    """Apply `layers` in order. With `caches` (a list), append each layer's backward cache.

    Callers pass execution_order(layers) to run them fastest; backward_layers takes the same list.
    """
    for layer in layers:
        cache = None if caches is None else {}
        x = KERNELS[layer.kind].forward(layer, layer_weights(layer, weights), x, cache)
        if caches is not None:
            caches.append(cache)
    return x


def backward_layers(layers: Sequence, weights: Mapping[str, np.ndarray], caches: list,
                    dy: np.ndarray, need_input_grad: bool = True) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Backpropagate dy through `layers` (as run by run_layers with caches).

    Returns the gradient with respect to the layers' input (None when `need_input_grad` is
    False: training never needs the gradient of its data) and every weight's gradient, keyed
    by global weight name.
    """
    grads: dict[str, np.ndarray] = {}
    for position in range(len(layers) - 1, -1, -1):
        layer = layers[position]
        dy, local = KERNELS[layer.kind].backward(layer, layer_weights(layer, weights), caches[position], dy,
                                                 need_dx=position > 0 or need_input_grad)
        grads.update({layer.weight_name(name): g for name, g in local.items()})
    return dy, grads
