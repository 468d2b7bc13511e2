"""The NumPy interpreter: runs a checked Model's chains layer by layer, forward and backward."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .kernels import KERNELS
from .kernels import fused
from .kernels.sparse import SparseRows


def _swap_batch_and_channels(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) <-> (C, N, H, W), contiguous. Inside the interpreter images are channel-
    major: conv's one matrix product then yields its output without a transposed copy."""
    return np.ascontiguousarray(x.swapaxes(0, 1))


def _is_image(shape) -> bool:
    return len(shape) == 4


def layer_weights(layer, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights of one layer under their local names ('weight', 'layer1.W', ...)."""
    return {w.name: weights[layer.weight_name(w.name)] for w in layer.weights}


def class_names(output, scores: np.ndarray) -> np.ndarray:
    """Predicted class names of a classifier output: scores (..., C) -> strings (...)."""
    return np.asarray(output.classes, dtype=object)[np.argmax(scores, axis=-1)]


def padding_mask(x) -> np.ndarray | None:
    """For a batch of sentences (N, T) of words, padded with "" at their ends: float32 (N, T),
    1 on words and 0 on padding. None for any other input."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "OUS":
        return (x != "").astype(np.float32)
    return None


def forward(model, weights: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the model on prepared inputs (float32 batches, or (N, T) words; see specc.feed).

    Returns each output by name; a classifier output NAME also gives NAME_class, the class
    names of the highest scores ("" on the padding of a batch of sentences).
    """
    results: dict[str, np.ndarray] = {}
    for chain in model.chains:
        source = inputs[chain.source]
        mask = padding_mask(source)
        x = run_layers(execution_order(chain.layers), weights, source, mask=mask)
        results[chain.output.name] = x
        if chain.output.classes:
            names = class_names(chain.output, x)
            if mask is not None and names.shape == mask.shape:  # per word: padding has no class
                names[mask == 0] = ""
            results[chain.output.class_output_name] = names
    return results


def execution_order(layers: Sequence) -> list:
    """The layers as the interpreter runs them, fastest, with the same values and gradients:
    `relu -> maxpool` becomes `maxpool -> relu` (max and relu commute bit for bit; a window
    whose maximum is not positive passes no gradient either way), which applies relu to a
    quarter of the values; then a conv followed by a maxpool whose windows tile its output
    runs as one fused kernel (runtime/kernels/fused.py)."""
    order = list(layers)
    for i in range(len(order) - 1):
        if order[i].kind == "relu" and order[i + 1].kind == "maxpool":
            order[i], order[i + 1] = order[i + 1], order[i]
    planned = []
    for layer in order:
        pair = fused.fuse(planned[-1], layer) if planned else None
        planned[-1:] = [pair] if pair else planned[-1:] + [layer]
    return planned


def kernel_for(layer):
    """The kernel that runs a planned layer (a layer kind's, or the fused one)."""
    return fused.KERNEL if isinstance(layer, fused.ConvMaxPool) else KERNELS[layer.kind]


def zeroes_padding_before(layer, mask) -> bool:
    """Whether run_layers zeroes the padded steps of this layer's input: only for a kernel that
    reads them (window: a word's neighbours past the sentence's end must be zero vectors). Other
    kernels work per step, or take the mask themselves (rnn, last), so what they leave on
    padding reaches no word; run_layers zeroes it in its final output."""
    return mask is not None and kernel_for(layer).reads_padding


def run_layers(layers: Sequence, weights: Mapping[str, np.ndarray], x: np.ndarray,
               caches: list | None = None, rng: np.random.Generator | None = None,
               mask: np.ndarray | None = None) -> np.ndarray:
    """Apply `layers` in order. With `caches` (a list), run in training mode and append each
    layer's backward cache; `rng` then drives the random layers (dropout).

    mask: (N, T) from padding_mask for a batch of sentences of different lengths: padding never
    reaches a real word (see zeroes_padding_before), and the output is zero on padded steps.
    Callers pass execution_order(layers) to run them fastest; backward_layers takes the same list.
    """
    if layers and _is_image(layers[0].in_shape):
        x = _swap_batch_and_channels(x)
    for layer in layers:
        cache = None if caches is None else {"rng": rng} if rng is not None else {}
        kernel = kernel_for(layer)
        if isinstance(x, SparseRows) and not kernel.reads_sparse:
            x = x.dense()
        if zeroes_padding_before(layer, mask):
            x = x * mask[..., None].astype(x.dtype)
        if kernel.takes_mask:
            x = kernel.forward(layer, layer_weights(layer, weights), x, cache, mask=mask)
        else:
            x = kernel.forward(layer, layer_weights(layer, weights), x, cache)
        if caches is not None:
            caches.append(cache)
    if isinstance(x, SparseRows):  # a chain ending in onehot or wordhash gives the vectors
        x = x.dense()
    if mask is not None and isinstance(x, np.ndarray) and x.ndim == 3:
        x = x * mask[..., None].astype(x.dtype)
    if layers and _is_image(layers[-1].out_shape):
        x = _swap_batch_and_channels(x)
    return x


def backward_layers(layers: Sequence, weights: Mapping[str, np.ndarray], caches: list,
                    dy: np.ndarray, need_input_grad: bool = True,
                    mask: np.ndarray | None = None) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Backpropagate dy through `layers` (as run by run_layers with caches and `mask`).

    Returns the gradient with respect to the layers' input (None when `need_input_grad` is
    False: training never needs the gradient of its data; None too below onehot or wordhash,
    whose input is words) and every weight's gradient, keyed by global weight name.
    """
    grads: dict[str, np.ndarray] = {}
    if mask is not None and dy.ndim == 3:  # the output is zero on padding: no gradient flows there
        dy = dy * mask[..., None].astype(dy.dtype)
    if layers and _is_image(layers[-1].out_shape):
        dy = _swap_batch_and_channels(dy)
    for position in range(len(layers) - 1, -1, -1):
        layer = layers[position]
        if dy is None:  # below a layer that read words: nothing to pass down, and no weights
            break
        dy, local = kernel_for(layer).backward(layer, layer_weights(layer, weights), caches[position], dy,
                                                 need_dx=position > 0 or need_input_grad)
        if dy is not None and zeroes_padding_before(layer, mask):
            dy = dy * mask[..., None].astype(dy.dtype)
        grads.update({layer.weight_name(name): g for name, g in local.items()})
    if dy is not None and layers and _is_image(layers[0].in_shape):
        dy = _swap_batch_and_channels(dy)
    return dy, grads
