"""The NumPy interpreter: runs a checked Model's chains layer by layer, forward and backward."""
from __future__ import annotations

from dataclasses import dataclass
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
    steps = plan(model)
    masks = chain_masks(steps, input_masks(inputs))
    results = run_graph(steps, weights, inputs, masks)
    masks_by_output = {step.chain.result: mask for step, mask in zip(steps, masks)}
    for output in model.outputs:
        if output.classes:
            names = class_names(output, results[output.name])
            mask = masks_by_output.get(output.name)
            if mask is not None and names.shape == mask.shape:  # per word: padding has no class
                names[mask == 0] = ""
            results[output.class_output_name] = names
    return results


def layer_values(model, weights: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every layer's output on prepared inputs (as `forward` takes them), by layer id, in the
    order the spec writes them: (N, C, H, W) images, (N, T, F) sequences, (N, F) vectors.
    The layers run one by one as written (no fused or reordered kernels), for pictures of what
    each layer computes; the values on a sentence's padding are left as the layer gave them."""
    from dataclasses import replace

    steps = [replace(step, layers=step.chain.layers) for step in plan(model)]
    trace: list = []
    run_graph(steps, weights, inputs, chain_masks(steps, input_masks(inputs)), trace=trace)
    return {layer.id: _as_declared(x) for layer, x in trace}


def _as_declared(x) -> np.ndarray:
    """A value as a kernel holds it -> as the spec declares it (dense, images batch-major)."""
    x = x.dense() if isinstance(x, SparseRows) else x
    return _swap_batch_and_channels(x) if _is_image(x.shape) else x


# ---- the graph: chains in written (topological) order, values by name ----

@dataclass(frozen=True)
class Step:
    """One chain as the interpreter runs it: its layers in execution order, the values it
    reads (values_read), those read for the last time by it (freed once it has run), and
    whether its source is an input (then training needs no gradient below it)."""

    chain: object
    layers: tuple
    reads: tuple[str, ...]
    frees: tuple[str, ...]
    from_input: bool


def plan(model, scored: frozenset = frozenset()) -> tuple[Step, ...]:
    """The model's chains as Steps. A chain reaching an output in `scored` runs without its
    final softmax or output head (crf): the loss takes the scores before it (the fused softmax
    cross-entropy the logits, a crf's likelihood its tag scores)."""
    last_use = {}
    for c, chain in enumerate(model.chains):
        for name in values_read(chain):
            last_use[name] = c
    produced = {chain.result for chain in model.chains}
    steps = []
    for c, chain in enumerate(model.chains):
        layers = chain.layers
        if chain.output is not None and chain.output.name in scored and scores_before(layers[-1]):
            layers = layers[:-1]
        frees = tuple(name for name, at in last_use.items() if at == c)
        steps.append(Step(chain, tuple(execution_order(layers)), values_read(chain), frees,
                          chain.source not in produced))
    return tuple(steps)


def scores_before(layer) -> bool:
    """Whether a chain's last layer is one that training leaves out, scoring its input instead:
    a softmax (under cross-entropy) or an output head (crf)."""
    return layer.kind == "softmax" or layer.attrs.output_head


def values_read(chain) -> tuple[str, ...]:
    """The values a chain reads: its source, then its merges' operands."""
    return (chain.source, *(name for layer in chain.layers for name in layer.operands))


def input_masks(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The padding mask of each input that is a batch of sentences (see padding_mask)."""
    masks = {name: padding_mask(x) for name, x in inputs.items()}
    return {name: mask for name, mask in masks.items() if mask is not None}


def chain_masks(steps: Sequence[Step], masks: Mapping[str, np.ndarray]) -> list[np.ndarray | None]:
    """The padding mask each chain's values carry: its `mask_source`'s, else (an IR built without
    one) that of the first value it reads which carries one."""
    if not masks:  # no sentences: nothing is padded
        return [None] * len(steps)
    value_masks = dict(masks)
    found = []
    for step in steps:
        chain = step.chain
        if chain.mask_source is not None:
            mask = masks.get(chain.mask_source)
        else:
            mask = next((value_masks[name] for name in step.reads if value_masks.get(name) is not None), None)
        value_masks[chain.result] = mask
        found.append(mask)
    return found


def run_graph(steps: Sequence[Step], weights: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
              masks_of_chains: Sequence, caches: list | None = None,
              rng: np.random.Generator | None = None, trace: list | None = None) -> dict[str, np.ndarray]:
    """Run every chain; returns the outputs by name, (N, ...) as the spec declares them.
    `masks_of_chains`: chain_masks(steps, input_masks(inputs)).

    Values between chains stay as the kernels hold them (images channel-major) and are freed
    after their last use. With `caches` (a list), run in training mode: one list of layer
    caches per chain is appended, for backward_graph. With `trace` (a list), each layer's
    (layer, output) is appended as the kernels hold it (see layer_values).
    """
    values = {name: _swap_batch_and_channels(x) if x.ndim == 4 else x for name, x in inputs.items()}
    results = {}
    for step, mask in zip(steps, masks_of_chains):
        chain = step.chain
        chain_caches = None if caches is None else []
        x = run_chain(step.layers, weights, values[chain.source], chain_caches, rng, mask, values, trace)
        if caches is not None:
            caches.append(chain_caches)
        for name in step.frees:
            del values[name]
        values[chain.result] = x
        if chain.output is not None:
            results[chain.output.name] = _swap_batch_and_channels(x) if _is_image(x.shape) else x
    return results


def backward_graph(steps: Sequence[Step], weights: Mapping[str, np.ndarray], caches: list,
                   output_grads: Mapping[str, np.ndarray], masks_of_chains: Sequence,
                   need_input_grads: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Backpropagate the loss gradients of the outputs (by name, (N, ...)) through the graph run
    by run_graph with `caches`; `masks_of_chains` from chain_masks. A value read by several
    chains or merges (fan-out) receives the sum of their gradients. Returns (gradients of the
    inputs by name, only with `need_input_grads`; every weight's gradient by global name)."""
    value_grads: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    for c in range(len(steps) - 1, -1, -1):
        chain = steps[c].chain
        dy = value_grads.pop(chain.result, None)
        if chain.output is not None and chain.output.name in output_grads:
            given = output_grads[chain.output.name]
            given = _swap_batch_and_channels(given) if _is_image(given.shape) else given
            dy = given if dy is None else dy + given
        if dy is None:  # nothing below this chain reaches a loss
            continue
        need_dx = need_input_grads or not steps[c].from_input
        dx, local = backward_chain(steps[c].layers, weights, caches[c], dy, need_dx, masks_of_chains[c], value_grads)
        grads.update(local)
        if dx is not None:
            _accumulate(value_grads, chain.source, dx)
    # what is left is the inputs' gradients: every bound value's was used by the chain binding it
    input_grads = {}
    if need_input_grads:
        input_grads = {name: _swap_batch_and_channels(g) if _is_image(g.shape) else g for name, g in value_grads.items()}
    return input_grads, grads


def _accumulate(value_grads: dict, name: str, grad: np.ndarray) -> None:
    """Add a gradient into a value's: where a value fans out, its gradient is the sum."""
    value_grads[name] = grad if name not in value_grads else value_grads[name] + grad


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
    return mask is not None and layer.attrs.reads_padding


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
    x = run_chain(layers, weights, x, caches, rng, mask)
    if layers and _is_image(layers[-1].out_shape):
        x = _swap_batch_and_channels(x)
    return x


def run_chain(layers: Sequence, weights: Mapping[str, np.ndarray], x, caches: list | None = None,
              rng: np.random.Generator | None = None, mask: np.ndarray | None = None,
              values: Mapping[str, np.ndarray] | None = None, trace: list | None = None) -> np.ndarray:
    """run_layers on a value as the kernels hold it (images channel-major, (C, N, H, W)); a
    merge layer reads its operands from `values` (by name, held the same way). `trace`: a list
    that receives (layer, output) after each layer."""
    for layer in layers:
        cache = None if caches is None else {"rng": rng} if rng is not None else {}
        kernel, flags = kernel_for(layer), layer.attrs
        if isinstance(x, SparseRows) and not flags.reads_one_hot:
            x = x.dense()
        if zeroes_padding_before(layer, mask):
            x = x * mask[..., None].astype(x.dtype)
        if flags.takes_mask:
            x = kernel.forward(layer, layer_weights(layer, weights), x, cache, mask=mask)
        elif flags.reads_operands:
            x = kernel.forward(layer, layer_weights(layer, weights), x, cache,
                               operands=[values[name] for name in layer.operands])
        else:
            x = kernel.forward(layer, layer_weights(layer, weights), x, cache)
        if caches is not None:
            caches.append(cache)
        if trace is not None:
            trace.append((layer, x))
    if isinstance(x, SparseRows):  # a chain ending in onehot or wordhash gives the vectors
        x = x.dense()
    if mask is not None and isinstance(x, np.ndarray) and x.ndim == 3:
        x = x * mask[..., None].astype(x.dtype)
    return x


def backward_layers(layers: Sequence, weights: Mapping[str, np.ndarray], caches: list,
                    dy: np.ndarray, need_input_grad: bool = True,
                    mask: np.ndarray | None = None) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Backpropagate dy through `layers` (as run by run_layers with caches and `mask`).

    Returns the gradient with respect to the layers' input (None when `need_input_grad` is
    False: training never needs the gradient of its data; None too below onehot or wordhash,
    whose input is words) and every weight's gradient, keyed by global weight name.
    """
    if layers and _is_image(layers[-1].out_shape):
        dy = _swap_batch_and_channels(dy)
    dy, grads = backward_chain(layers, weights, caches, dy, need_input_grad, mask)
    if dy is not None and layers and _is_image(layers[0].in_shape):
        dy = _swap_batch_and_channels(dy)
    return dy, grads


def backward_chain(layers: Sequence, weights: Mapping[str, np.ndarray], caches: list, dy: np.ndarray,
                   need_input_grad: bool = True, mask: np.ndarray | None = None,
                   value_grads: dict | None = None) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """backward_layers on gradients held as the kernels hold values (images channel-major). A
    merge layer adds the gradients of its operands into `value_grads` (by name)."""
    grads: dict[str, np.ndarray] = {}
    if mask is not None and dy.ndim == 3:  # the output is zero on padding: no gradient flows there
        dy = dy * mask[..., None].astype(dy.dtype)
    for position in range(len(layers) - 1, -1, -1):
        layer = layers[position]
        if dy is None:  # below a layer that read words: nothing to pass down, and no weights
            break
        kernel = kernel_for(layer)
        dy, local = kernel.backward(layer, layer_weights(layer, weights), caches[position], dy,
                                    need_dx=position > 0 or need_input_grad)
        if layer.attrs.reads_operands:  # the gradient of the flowing value, then of each operand
            dy, *operand_grads = dy
            for name, grad in zip(layer.operands, operand_grads):
                _accumulate(value_grads, name, grad)
        if dy is not None and zeroes_padding_before(layer, mask):
            dy = dy * mask[..., None].astype(dy.dtype)
        grads.update({layer.weight_name(name): g for name, g in local.items()})
    return dy, grads
