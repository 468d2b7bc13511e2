"""Memory a model needs, estimated from its shapes before anything is allocated, against what
this machine has: `specc check` (and every command, which builds the spec first) refuses what
cannot run here, at the input or layer where it stops fitting, with the sizes.

Everything is float32 (4 bytes) and counted in Python integers, exact at any size:
- weights: the parameter count;
- activations: each input, and each layer's output (out_shape; training keeps every one for
  backpropagation), plus what its kernels hold beside it (LayerKind.scratch, declared in the
  kind's own file: conv's im2col columns, an rnn's per-step states, window's padded copy).
  In a graph every value is counted as alive at once, the sum over all chains: an over-estimate
  (the interpreter frees a value after its last use), never an under-estimate.
A sequence of unknown length is taken as STEPS long, the longest `specc compile` verifies, and
the verification batch as the largest compile runs (specc/verify.py uses these numbers).

The refusals, in order: one sample's activations; the weights (at most half the memory, and at
most what an ONNX file can hold); the weights with the activations of the verification batch.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import Coord, SpecError
from .layers import REGISTRY
from .layers.base import Scratch
from .memory import Available, available_memory, human
from .shapes import BYTES_PER_FLOAT, TIME, elements, fmt

# compile compares the two back ends at these batch sizes and sequence lengths (specc/verify.py)
BATCH_SIZES = (1, 3, 8)
SEQUENCE_LENGTHS = (1, 4, 9)
STEPS = max(SEQUENCE_LENGTHS)
VERIFY_BATCH = max(BATCH_SIZES)
# An ONNX file is one protobuf message, and protobuf stops at 2 GiB (2**31 - 1 bytes); the graph's
# nodes and names and the spec's text (metadata) need room beside the weights.
PROTOBUF_LIMIT = 2**31 - 1
GRAPH_ALLOWANCE = 2**20
# Weights may take at most this share of the memory: training adds their gradients and the
# optimizer's state.
WEIGHT_SHARE = 0.5


# ---- the estimates ----

@dataclass(frozen=True)
class Need:
    """One input or layer at some batch size: its output, what its kernels hold beside it, and
    the activations held once it has run (those before it included)."""

    what: str  # "input x", "conv 3x3"
    coord: Coord
    shape: tuple
    output: int
    scratch: Scratch | None
    total: int

    @property
    def before(self) -> int:
        return self.total - self.output - (self.scratch.bytes if self.scratch else 0)


def _span(layer) -> Coord:
    """The layer's call, underlined whole."""
    c = layer.coord
    return Coord(c.file, c.line, c.column, len(layer.call_text), c.text_line)


def activation_needs(model, batch: int) -> list[Need]:
    """Every input, then every layer in chain order, with the running total of activations
    for `batch` samples of STEPS steps."""
    needs, total = [], 0
    for source in model.inputs:
        output = elements(source.shape, batch, STEPS) * BYTES_PER_FLOAT
        total += output
        needs.append(Need(f"input {source.name}", source.coord, source.shape, output, None, total))
    for layer in model.layers:
        output = elements(layer.out_shape, batch, STEPS) * BYTES_PER_FLOAT
        scratch = REGISTRY[layer.kind].scratch(layer, STEPS)
        if scratch is not None:
            scratch = Scratch(scratch.bytes * batch, scratch.what)
        total += output + (scratch.bytes if scratch else 0)
        needs.append(Need(layer.call_text, _span(layer), layer.out_shape, output, scratch, total))
    return needs


def has_steps(model) -> bool:
    """Whether any input is a sequence, whose length the estimates assume."""
    return any(TIME in i.shape for i in model.inputs)


def _samples(model, batch: int) -> str:
    steps = f" of {STEPS} steps" if has_steps(model) else ""
    if batch == 1:
        return f"one sample{steps}"
    return f"compile's verification batch of {batch} samples{steps}"


def summary_line(model) -> str:
    """The estimates, as a line of `specc check`'s totals."""
    weights = model.param_count * BYTES_PER_FLOAT
    sample, batch = (activation_needs(model, n)[-1].total for n in (1, VERIFY_BATCH))
    steps = f" (sequences taken as {STEPS} steps)" if has_steps(model) else ""
    return (f"Memory: weights {human(weights)}, activations {human(sample)} for one sample and "
            f"{human(batch)} for compile's verification batch of {VERIFY_BATCH}{steps}, "
            f"within {available_memory().phrase()}")


# ---- the refusals ----

def _refuse_activations(model, need: Need, batch: int, weights: int, available: Available) -> SpecError:
    is_input = need.what.startswith("input ")
    parts = [f"{'its' if is_input else 'its output'} {fmt(need.shape)}: {human(need.output)} as float32"]
    if need.scratch:
        parts.append(f"{need.scratch.what}: {human(need.scratch.bytes)}")
    if need.before:
        parts.append(f"the input and layers before it: {human(need.before)}")
    if weights:
        parts.append(f"the weights: {human(weights)}")
    if is_input:
        hint = "declare a smaller input"
    else:
        hint = "make the layer or the input smaller, or reduce the size before it (pooling, a stride)"
    if batch > 1:
        hint = f"compile checks the export on {batch} samples at once, and training holds a batch: {hint}"
    return SpecError(f"{need.what} needs {human(need.total + weights)} for {_samples(model, batch)}, "
                     f"more than {available.phrase()}", need.coord, received="; ".join(parts), hint=hint)


def _check_weights(model, available: Available) -> None:
    """The weights fit in half the memory, and in an ONNX file."""
    total = model.param_count
    weight_bytes = total * BYTES_PER_FLOAT
    biggest = max(model.layers, key=lambda layer: layer.param_count)
    received = f"{biggest.call_text} alone has {biggest.param_count:,} weights"
    share = int(available.bytes * WEIGHT_SHARE)
    if weight_bytes > share:
        raise SpecError(f"the model has {total:,} weights ({human(weight_bytes)} as float32), more than half "
                        f"({human(share)}) of {available.phrase()}", _span(biggest), received=received,
                        hint="shrink the layer, or add pooling or a stride before it; training needs the rest "
                             "for gradients and the optimizer's state")
    onnx_bytes = weight_bytes + len(model.text.encode("utf-8", "replace")) + GRAPH_ALLOWANCE
    if onnx_bytes > PROTOBUF_LIMIT:
        raise SpecError(f"the model has {total:,} weights ({human(weight_bytes)} as float32), more than an ONNX "
                        f"file holds: ONNX is a protobuf, which stops at 2 GiB", _span(biggest), received=received,
                        expected=f"at most about {(PROTOBUF_LIMIT - GRAPH_ALLOWANCE) // BYTES_PER_FLOAT:,} weights",
                        hint="shrink the layer, or add pooling or a stride before it (specc writes no ONNX "
                             "external data)")


def check_memory(model) -> None:
    """Raise SpecError, at the input or layer where it happens, when the model cannot run here:
    one sample's activations, the weights, or the weights with the verification batch's
    activations are more than this machine has available (or SPECC_MEMORY_LIMIT allows)."""
    available = available_memory()
    for need in activation_needs(model, 1):
        if need.total > available.bytes:
            raise _refuse_activations(model, need, 1, 0, available)
    _check_weights(model, available)
    weights = model.param_count * BYTES_PER_FLOAT
    for need in activation_needs(model, VERIFY_BATCH):
        if weights + need.total > available.bytes:
            raise _refuse_activations(model, need, VERIFY_BATCH, weights, available)
