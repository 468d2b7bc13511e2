"""The checked IR: frozen dataclasses with shapes, weights and source positions."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from .errors import Coord
from .shapes import Shape


@dataclass(frozen=True)
class WeightSpec:
    """One weight tensor of a layer: its local name, shape, how it starts, and fan in/out.
    `literal` holds the values a spec gives (a signature Literal: .shape, .values), else None.
    `buffer`: state that the kernel updates in training and the optimizer never touches
    (batchnorm's running statistics, PyTorch's buffers): saved and checked with the weights,
    not counted as a parameter. `nonnegative`: a value below 0 is meaningless (a variance), so a
    checkpoint holding one is refused rather than giving NaN outputs."""

    name: str
    shape: tuple[int, ...]
    init: str
    fan_in: int
    fan_out: int
    literal: Any = None
    buffer: bool = False
    nonnegative: bool = False

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class LayerAttrs:
    """Base of a layer kind's typed attributes: the values its kernel and its lowering read,
    normalised once by the shape rule. Each kind declares a frozen subclass in its front-end
    file (specc/layers/<kind>.py: ConvAttrs, RnnAttrs ...); the back ends read its fields by
    name and never import the front end.

    The class attributes below are the facts about a kind that both back ends rely on, declared
    here once (a subclass sets those that hold for it):
    - reads_one_hot: reads one-hot words as they are held, ids or rows (NumPy: a SparseRows
      input, runtime/kernels/sparse.py; ONNX: a lookup that GraphBuilder.project folds).
    - reads_padding: mixes steps in a way that reads padded steps (window: a word's neighbours
      past the sentence's end must be zero), so both back ends zero them before the layer.
    - each_step: computes each step from that step alone (dense, activations, dropout), so the
      export may run it on the packed words of a batch, without the padding.
    - takes_mask: takes the padding mask itself (rnn, last); its kernel's forward has mask=.
    - random: draws random numbers in training (dropout); the trainer makes a generator then.
    - reads_operands: a merge; reads the values named in its `operands` besides the flowing one.
    - output_head: ends a chain at a classifier output and is trained by its own loss (crf: its
      kernel's `loss` on the scores it reads), so training runs the chain without it.

    A field whose name differs from the argument it comes from (or from its name before attrs
    were typed) says so in its metadata, {"written": NAME}: `written()` gives the values by
    those names, which checkpoints' architecture fingerprints and `check`'s call text read;
    a field set to None (a value this kind of a family does not have) is left out there.
    """

    reads_one_hot: ClassVar[bool] = False
    reads_padding: ClassVar[bool] = False
    each_step: ClassVar[bool] = False
    takes_mask: ClassVar[bool] = False
    random: ClassVar[bool] = False
    reads_operands: ClassVar[bool] = False
    output_head: ClassVar[bool] = False

    def written(self) -> dict[str, Any]:
        """The values by their written names (conv's kernel as 'size'), in field order, None left out."""
        values = ((f.metadata.get("written", f.name), getattr(self, f.name)) for f in fields(self))
        return {name: value for name, value in values if value is not None}


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

    `attrs` holds the values its kernels and lowering read, typed per kind (a LayerAttrs:
    kernel sizes, strides, explicit pads, units ...), with the flags both back ends rely on;
    `args` what the signature bound (a BoundArgs), defaults included.
    """

    kind: str
    id: str
    call_text: str
    args: Any
    attrs: LayerAttrs
    in_shape: Shape
    out_shape: Shape
    weights: tuple[WeightSpec, ...]
    coord: Coord

    @property
    def param_count(self) -> int:
        """The numbers training learns (buffers left out, as PyTorch's parameters())."""
        return sum(w.size for w in self.weights if not w.buffer)

    @property
    def buffer_count(self) -> int:
        return sum(w.size for w in self.weights if w.buffer)

    @property
    def operands(self) -> tuple[str, ...]:
        """The named values a merge layer reads besides the flowing one, in order; () for others."""
        return self.attrs.operands if self.attrs.reads_operands else ()

    def weight_name(self, local: str) -> str:
        """Global name of one of this layer's weights, e.g. 'conv@5.weight'."""
        return f"{self.id}.{local}"


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
    train: Any = None  # the train section bound once (specc.training.TrainSettings, losses per output)
    warnings: tuple = ()  # SpecErrors that do not stop the build (a value never used), for `check` to print

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for chain in self.chains for layer in chain.layers)

    @property
    def param_count(self) -> int:
        return sum(layer.param_count for layer in self.layers)

    @property
    def buffer_count(self) -> int:
        return sum(layer.buffer_count for layer in self.layers)

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
