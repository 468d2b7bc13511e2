"""Merges: add, concat and multiply join the flowing value with named values (`-> add h`).

A merge names its other operands, values bound earlier with `NAME = SOURCE -> ...`; the
builder (specc/build.py) resolves them and hands their shapes to the shape rule.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import FORM_WORDS, Shape, ShapeError, fmt, form
from ..signature import Arg, ArgTypeError
from .base import Inferred, LayerAttrs, LayerKind, register

MERGEABLE = ("image", "vector", "seq")


class OperandMismatch(ShapeError):
    """A shape rule's refusal of one operand: `index` counts the named operands from 0."""

    def __init__(self, message: str, index: int, **details):
        super().__init__(message, **details)
        self.index = index


def value_name(value) -> str:
    """An argument type: the bare name of a value (`h`), not a number or a quoted string."""
    if value.kind == "word":
        return value.value
    raise ArgTypeError("the name of a value bound earlier with NAME = SOURCE -> ...")


def concat_axis(shape: Shape) -> int:
    """The axis concat joins along: channels of an image, features of a vector or sequence.

    >>> concat_axis(('N', 16, 8, 8)), concat_axis(('N', 5)), concat_axis(('N', 'T', 5))
    (1, 1, 2)
    """
    return 1 if form(shape) == "image" else len(shape) - 1


def _mismatch_hint(shape: Shape, other: Shape) -> str:
    """What would make two shapes of one form merge (concat's only mismatch is an image's size)."""
    if form(shape) == "image" and shape[2:] != other[2:]:
        return "keep the heights and widths equal: padding=same on each conv, the same pooling on both branches"
    what, joined = ("number of filters", "channels") if form(shape) == "image" else ("width", "features")
    return f"give both branches the same {what}, or join them with concat ({joined} add up)"


def merged_shape(op: str, shape: Shape, others: tuple[Shape, ...]) -> Shape:
    """The shape rule of a merge: the flowing value's shape and the named operands' shapes ->
    the result's. add and multiply need equal shapes; concat adds up the channels (images) or
    features (vectors, sequences), the other sizes equal. Raises OperandMismatch at the first
    operand that does not fit.

    >>> merged_shape("add", ('N', 16, 8, 8), (('N', 16, 8, 8),))
    ('N', 16, 8, 8)
    >>> merged_shape("concat", ('N', 16, 8, 8), (('N', 8, 8, 8), ('N', 1, 8, 8)))
    ('N', 25, 8, 8)
    >>> merged_shape("concat", ('N', 'T', 5), (('N', 'T', 3),))
    ('N', 'T', 8)
    """
    if form(shape) not in MERGEABLE:
        hint = ("a sequence of words must first become vectors: onehot or wordhash before the merge"
                if form(shape) == "tokens" else None)
        wanted = " or ".join(FORM_WORDS[f] for f in MERGEABLE)
        raise ShapeError(f"needs {wanted}", expected=wanted, hint=hint)
    axis = concat_axis(shape)
    joined = 0
    for index, other in enumerate(others):
        if form(other) != form(shape):
            flatten = "flatten the image branch first" if "image" in (form(shape), form(other)) else None
            raise OperandMismatch(f"cannot merge {FORM_WORDS[form(shape)]} with {FORM_WORDS.get(form(other), fmt(other))}",
                                  index, expected=f"{FORM_WORDS[form(shape)]} for every operand", hint=flatten)
        if op == "concat":
            same = other[:axis] + other[axis + 1:] == shape[:axis] + shape[axis + 1:]
            expected = f"every size but axis {axis} ({'channels' if form(shape) == 'image' else 'features'}) equal"
        else:
            same = other == shape
            expected = f"equal shapes ({op} does not broadcast)"
        if not same:
            raise OperandMismatch("needs shapes that fit", index, expected=expected,
                                  hint=_mismatch_hint(shape, other))
        joined += other[axis]
    if op != "concat":
        return shape
    return shape[:axis] + (shape[axis] + joined,) + shape[axis + 1:]


@dataclass(frozen=True)
class MergeAttrs(LayerAttrs):
    """operands: the named values, in order; axis: the axis concat joins along (1 for the
    channels of an image (N, C, H, W) or the features of a vector (N, F), 2 for the features of
    a sequence (N, T, F); None for add and multiply)."""

    reads_operands = True

    operands: tuple[str, ...]
    axis: int | None = None


class Merge(LayerKind):
    """A layer reading, besides the flowing value, the values its arguments name."""

    attrs_type = MergeAttrs
    signature = (Arg("operands", value_name, (), "the values to merge with the flowing one, by name: a b ...",
                     positional=True, any_word=True, variadic=True),)

    def infer(self, args, shape, others: tuple[Shape, ...] = ()):
        """`others`: the named operands' shapes, in the order of args["operands"]."""
        merged = merged_shape(self.name, shape, others)
        axis = concat_axis(shape) if self.name == "concat" else None
        return Inferred(merged, MergeAttrs(operands=tuple(args["operands"]), axis=axis))


def _merge(name: str, doc: str) -> type[Merge]:
    return register(type(name.capitalize(), (Merge,), {"name": name, "doc": doc}))


Add = _merge("add", "the flowing value plus the named values, elementwise (equal shapes: a residual connection)")
Concat = _merge("concat", "the flowing value and the named values joined along channels (images) "
                          "or features (vectors, sequences), in that order")
Multiply = _merge("multiply", "the flowing value times the named values, elementwise (gates)")
