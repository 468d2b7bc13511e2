"""The checked IR: frozen dataclasses with shapes, weights and source positions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .errors import Coord
from .layers.base import WeightSpec
from .shapes import Shape
from .signature import BoundArgs, describe_value


@dataclass(frozen=True)
class Input:
    """A declared input. `shape` has the symbolic batch (and time) dimension: ('N', 1, 6, 6)."""

    name: str
    form: str
    shape: Shape
    coord: Coord


@dataclass(frozen=True)
class Output:
    """A declared (or implied) output; `classes` is set for a classifier."""

    name: str
    classes: tuple[str, ...] | None
    coord: Coord | None

    @property
    def class_output_name(self) -> str:
        """Name of the second graph output that holds predicted class names."""
        return f"{self.name}_class"


@dataclass(frozen=True)
class Layer:
    """One layer of a chain after checking.

    `attrs` holds the values its kernels and lowering read (normalised once: kernel sizes,
    strides, explicit pads, units ...); `args` what the signature bound, defaults included.
    """

    kind: str
    id: str
    call_text: str
    args: BoundArgs
    attrs: Mapping[str, Any]
    in_shape: Shape
    out_shape: Shape
    weights: tuple[WeightSpec, ...]
    coord: Coord

    @property
    def param_count(self) -> int:
        return sum(w.size for w in self.weights)

    @property
    def operands(self) -> tuple[str, ...]:
        """The named values a merge layer reads besides the flowing one, in order; () for others."""
        return tuple(self.attrs.get("operands", ()))

    def weight_name(self, local: str) -> str:
        """Global name of one of this layer's weights, e.g. 'conv@5.weight'."""
        return f"{self.id}.{local}"

    def full_text(self) -> str:
        """The call with every argument spelled out, defaults included."""
        parts = [self.kind, *self.operands]  # a merge's value names, as written: add h
        for name, value in self.args.values.items():
            if name == "operands":
                continue
            if value is None:
                value = self.attrs.get(name)  # derived by the shape rule (filters from weights ...)
            if value is None or (name == "init" and self.args.values.get("weights") is not None):
                continue
            parts.append(f"{name}={describe_value(value)}")
        return " ".join(parts)


@dataclass(frozen=True)
class Chain:
    """Layers applied in order to one value, giving a named value or reaching an output.

    A spec is a graph of chains: `source` is a declared input or a value bound by an earlier
    chain (`NAME = SOURCE -> ...`), and a chain either binds its result to `name` (then
    `output` is None) or reaches `output` (then `name` is None). Merge layers (add, concat,
    multiply) read, besides the flowing value, the values named in their `operands`. Chains
    are kept in the order they are written, which is a topological order: a value is always
    bound before it is used.
    """

    source: str
    layers: tuple[Layer, ...]
    output: Output | None
    name: str | None = None
    mask_source: str | None = None  # the `seq token` input whose padding this chain's values carry

    @property
    def result(self) -> str:
        """The name of the value this chain gives: its bound name, or its output's name."""
        return self.name if self.name is not None else self.output.name


@dataclass(frozen=True)
class Model:
    """A whole checked spec."""

    name: str
    file: str
    text: str
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    chains: tuple[Chain, ...]
    train: tuple = ()  # the train section's settings as written (LayerCalls), checked
    warnings: tuple = ()  # SpecErrors that do not stop the build (a value never used), for `check` to print

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for chain in self.chains for layer in chain.layers)

    @property
    def param_count(self) -> int:
        return sum(layer.param_count for layer in self.layers)

    def input(self, name: str) -> Input:
        return next(i for i in self.inputs if i.name == name)

    def value_shape(self, name: str) -> Shape:
        """The shape of a value: a declared input, or the result of a chain."""
        for chain in self.chains:
            if chain.result == name:
                return chain.layers[-1].out_shape if chain.layers else self.value_shape(chain.source)
        return self.input(name).shape

    def uses(self, name: str) -> list[tuple[int, int]]:
        """Where a value is read: (chain index, layer index) pairs, the layer index -1 for a chain's
        source, in execution order."""
        found = []
        for c, chain in enumerate(self.chains):
            if chain.source == name:
                found.append((c, -1))
            found += [(c, i) for i, layer in enumerate(chain.layers) if name in layer.operands]
        return found
