"""conv: 2-D convolution of an image (N, C, H, W) -> (N, filters, H', W')."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..shapes import BYTES_PER_FLOAT, ShapeError, require
from ..signature import (Arg, ArgTypeError, Literal, Value, literal, literal_or_flag, one_of,
                         positive_int, size_pair)
from .base import Inferred, LayerAttrs, LayerKind, Scratch, WeightSpec, register
from .geometry import check_fits, output_size, same_pads

INITS = one_of("xavier", "he", "normal", "ones", "zeros")
INDEX_BYTES = 8  # int64: the gather index of im2col (runtime/kernels/conv.py)


def padding(value: Value):
    """`same`, `valid`, a number of pixels on every side, or HxW (top/bottom x left/right)."""
    if value.kind == "word" and value.value in ("same", "valid"):
        return value.value
    if value.kind == "int" and value.value >= 0:
        return (value.value, value.value)
    if value.kind == "dims" and len(value.value) == 2:
        return tuple(value.value)
    raise ArgTypeError("same, valid, a number of pixels like 1, or HxW like 1x2")


padding.words = ("same", "valid")


def bias_values(spec, units: int, layer: str) -> tuple[WeightSpec, ...]:
    """The bias WeightSpec of a layer with `units` outputs: none, zeros, or the literal given."""
    if spec is False:
        return ()
    if isinstance(spec, Literal):
        if spec.shape != (units,):
            raise ShapeError(f"has a bias of shape {spec.shape}, expected ({units},)",
                             expected=f"a list of {units} numbers", arg="bias",
                             hint=f"{layer} has {units} outputs, one bias each")
        return (WeightSpec("bias", (units,), "zeros", 1, units, spec),)
    return (WeightSpec("bias", (units,), "zeros", 1, units),)


@dataclass(frozen=True)
class ConvAttrs(LayerAttrs):
    """kernel (kh, kw); stride (sh, sw); pads (top, left, bottom, right) in pixels, explicit
    whatever `padding` said; filters: output channels."""

    kernel: tuple[int, int] = field(metadata={"written": "size"})
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    filters: int


@register
class Conv(LayerKind):
    name = "conv"
    attrs_type = ConvAttrs
    doc = "2-D convolution (cross-correlation, as in the lecture and ONNX) of an image"
    signature = (
        Arg("size", size_pair, None, "kernel size HxW like 3x3; default from weights", positional=True),
        Arg("filters", positive_int, None, "how many filters (output channels); default 1 or from weights",
            positional=True),
        Arg("stride", size_pair, (1, 1), "step between windows, like 1 or 2x2"),
        Arg("padding", padding, "valid", "same, valid or pixels per side"),
        Arg("bias", literal_or_flag, True, "true, false or a list, one per filter"),
        Arg("weights", literal, None, "literal filters: (filters, kh, kw) or (filters, channels, kh, kw)"),
        Arg("init", INITS, "xavier", "xavier (Glorot uniform), he, normal, ones or zeros"),
    )

    def infer(self, args, shape):
        require(shape, "image", hint="conv reads images (N, C, H, W); declare input NAME: CxHxW")
        channels, height, width = shape[1:]
        kernel, filters, given = args["size"], args["filters"], args["weights"]
        if given is not None:
            dims = given.shape
            if len(dims) == 3 and channels == 1:
                dims = (dims[0], 1) + dims[1:]
            if len(dims) != 4 or dims[1] != channels or (kernel and dims[2:] != kernel) \
                    or (filters and dims[0] != filters):
                want = (filters or "F", channels) + (kernel or ("kh", "kw"))
                raise ShapeError(f"has weights of shape {given.shape}, which do not fit",
                                 expected="weights of shape (" + ", ".join(map(str, want)) + ")"
                                 + (" or (F, kh, kw)" if channels == 1 else ""),
                                 arg="weights", hint="filters x channels x kernel height x kernel width")
            filters, kernel = dims[0], dims[2:]
            given = Literal(dims, given.values)
        if kernel is None:
            raise ShapeError("needs a kernel size", expected="conv 3x3 (or literal weights)", arg="size")
        filters = filters or 1
        strides = args["stride"]
        if args["padding"] == "same":
            (top, bottom), (left, right) = (same_pads(height, kernel[0], strides[0]),
                                            same_pads(width, kernel[1], strides[1]))
        elif args["padding"] == "valid":
            top = bottom = left = right = 0
        else:
            (top, left), (bottom, right) = args["padding"], args["padding"]
        pads = (top, left, bottom, right)
        check_fits((height, width), kernel, pads, "kernel")
        out_h = output_size(height, kernel[0], strides[0], top, bottom)
        out_w = output_size(width, kernel[1], strides[1], left, right)
        fan_in = channels * kernel[0] * kernel[1]
        weights = (WeightSpec("weight", (filters, channels) + tuple(kernel), args["init"], fan_in,
                              filters * kernel[0] * kernel[1], given),)
        weights += bias_values(args["bias"], filters, "conv")
        attrs = ConvAttrs(kernel=tuple(kernel), stride=strides, pads=pads, filters=filters)
        return Inferred(("N", filters, out_h, out_w), attrs, weights)

    def scratch(self, layer, steps):
        """im2col: each sample's columns (C*kh*kw, H'*W'), float32, kept for backward, and their
        int64 gather index (runtime/kernels/conv.py); onnxruntime's Conv makes such columns too."""
        kh, kw = layer.attrs.kernel
        rows, columns = layer.in_shape[1] * kh * kw, layer.out_shape[2] * layer.out_shape[3]
        return Scratch(rows * columns * (BYTES_PER_FLOAT + INDEX_BYTES),
                       f"its im2col columns ({rows:,} x {columns:,}, with their int64 index)")
