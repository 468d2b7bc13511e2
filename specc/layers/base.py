"""What every layer kind declares, and the registry that finds a kind by its name.

A kind's file in specc/layers/ holds its signature, its typed attributes (a LayerAttrs
subclass, with the flags both back ends read), its shape rule and the shapes of its weights.
Its NumPy forward (and backward) live in runtime/kernels/<kind>.py, its ONNX lowering in
specc/lowering/<kind>.py. tests/test_registry.py asserts that every kind has every part.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Layer, LayerAttrs, WeightSpec
from ..signature import Arg, ArgTypeError, BoundArgs, Value
from ..shapes import Shape

__all__ = ["WeightSpec", "LayerAttrs", "Inferred", "LayerKind", "Scratch", "register", "REGISTRY"]


@dataclass(frozen=True)
class Scratch:
    """What a layer's kernels hold for one sample beside its output (an rnn's per-step states,
    conv's im2col columns), in bytes, and what it is, for the message that refuses it."""

    bytes: int
    what: str


def whole_number_up_to(limit: int, why: str):
    """An argument type: a whole number from 1 to `limit`. For an argument that a kernel or a
    lowering loops over in Python, so that a typo of a few zeros is refused, not run for hours."""

    def convert(value: Value) -> int:
        if value.kind == "int" and 1 <= value.value <= limit:
            return value.value
        raise ArgTypeError(f"a whole number from 1 to {limit:,} ({why})")

    return convert


@dataclass(frozen=True)
class Inferred:
    """What a shape rule finds: the output shape, the typed attributes (of the kind's
    `attrs_type`), the weights."""

    shape: Shape
    attrs: LayerAttrs
    weights: tuple[WeightSpec, ...] = ()


class LayerKind:
    """Base of the layer kinds. Subclasses set `name`, `doc`, `signature`, `attrs_type` (the
    LayerAttrs subclass their shape rule fills, whose class attributes are the kind's flags)
    and the rules.

    `size_arg` names the argument that sets the output width (dense's units); left out on the
    last such layer of a chain, it is taken from the number of classes of the chain's output.
    `vocabulary_arg` (onehot, wordhash) names the argument that, left out, is filled from the
    training data by the kind's `vocabulary_from(args, sentences)`.
    """

    name: str = ""
    doc: str = ""
    signature: tuple[Arg, ...] = ()
    attrs_type: type[LayerAttrs] = LayerAttrs
    size_arg: str | None = None

    def infer(self, args: BoundArgs, shape: Shape) -> Inferred:
        """The shape rule: input shape -> output shape, attributes and weights.

        Raises ShapeError when the input does not fit.
        """
        raise NotImplementedError

    def scratch(self, layer: Layer, steps: int) -> Scratch | None:
        """What the kernels hold for one sample beside the layer's output (specc/budget.py
        counts the output itself, out_shape x 4 bytes), sequences taken as `steps` long; None
        when nothing worth counting."""
        return None


REGISTRY: dict[str, LayerKind] = {}


def register(kind: type[LayerKind]) -> type[LayerKind]:
    """Class decorator: add a kind to the registry under its `name`."""
    instance = kind()
    if instance.name in REGISTRY:
        raise ValueError(f"layer kind {instance.name!r} registered twice")
    REGISTRY[instance.name] = instance
    return kind
