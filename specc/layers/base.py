"""What every layer kind declares, and the registry that finds a kind by its name.

A kind's file in specc/layers/ holds its signature, its shape rule, the shapes of its weights
and its ONNX lowering; its NumPy forward (and backward) live under runtime/kernels/ in a file
of the same name. tests/test_registry.py asserts that every kind has every part.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from ..signature import Arg, ArgTypeError, BoundArgs, Literal, Value
from ..shapes import Shape

if TYPE_CHECKING:
    from ..ir import Layer
    from ..onnx_export import GraphBuilder


@dataclass(frozen=True)
class WeightSpec:
    """One weight tensor of a layer: its local name, shape, how it starts, and fan in/out."""

    name: str
    shape: tuple[int, ...]
    init: str
    fan_in: int
    fan_out: int
    literal: Literal | None = None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


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
    """What a shape rule finds: the output shape, the normalised attributes, the weights."""

    shape: Shape
    attrs: Mapping[str, Any] = field(default_factory=dict)
    weights: tuple[WeightSpec, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))


class LayerKind:
    """Base of the layer kinds. Subclasses set `name`, `doc`, `signature` and the rules.

    `size_arg` names the argument that sets the output width (dense's units); left out on the
    last such layer of a chain, it is taken from the number of classes of the chain's output.
    `vocabulary_arg` (onehot, wordhash) names the argument that, left out, is filled from the
    training data by the kind's `vocabulary_from(args, sentences)`.
    """

    name: str = ""
    doc: str = ""
    signature: tuple[Arg, ...] = ()
    size_arg: str | None = None
    # reads_one_hot: the lowering takes a one-hot tensor held as ids (GraphBuilder.project).
    # reads_padding: the layer mixes steps in a way that reads padded steps (window: a word's
    # neighbours past the sentence's end must be zero), so to_onnx zeroes them before it. Other
    # layers work per step or mask themselves (rnn), and what they leave on padding is zeroed
    # once, at the chain's end.
    # each_step: the layer computes each step from that step alone (dense, activations, dropout),
    # so to_onnx may run it on the words of a batch packed together, without the padding.
    reads_one_hot = False
    reads_padding = False
    each_step = False

    def infer(self, args: BoundArgs, shape: Shape) -> Inferred:
        """The shape rule: input shape -> output shape, attributes and weights.

        Raises ShapeError when the input does not fit.
        """
        raise NotImplementedError

    def scratch(self, layer: "Layer", steps: int) -> Scratch | None:
        """What the kernels hold for one sample beside the layer's output (specc/budget.py
        counts the output itself, out_shape x 4 bytes), sequences taken as `steps` long; None
        when nothing worth counting."""
        return None

    def lower(self, g: "GraphBuilder", layer: "Layer", x: str) -> str:
        """Emit ONNX nodes computing this layer from tensor `x`; return the output's name."""
        raise NotImplementedError


REGISTRY: dict[str, LayerKind] = {}


def register(kind: type[LayerKind]) -> type[LayerKind]:
    """Class decorator: add a kind to the registry under its `name`."""
    instance = kind()
    if instance.name in REGISTRY:
        raise ValueError(f"layer kind {instance.name!r} registered twice")
    REGISTRY[instance.name] = instance
    return kind
