"""maxpool and avgpool: one shape rule, the reduction as the kind."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..shapes import ShapeError, require
from ..signature import Arg, one_of, size_pair
from .base import Inferred, LayerAttrs, LayerKind, register
from .geometry import check_fits, output_size


def _size_text(pair: tuple[int, int]) -> str:
    """(2, 2) -> '2', (2, 3) -> '2x3': a size as a user would write it."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


@dataclass(frozen=True)
class PoolAttrs(LayerAttrs):
    """window (kh, kw); stride (sh, sw); ceil: a last partial window is pooled (ONNX ceil_mode)."""

    window: tuple[int, int] = field(metadata={"written": "size"})
    stride: tuple[int, int]
    ceil: bool


class Pool(LayerKind):
    """Pooling over windows of an image; stride defaults to the window size.

    A window that does not tile its input is an error unless the mode says what to do with the
    rest: `floor` drops it, `ceil` pools a last partial window.
    """

    attrs_type = PoolAttrs
    signature = (
        Arg("size", size_pair, None, "window size, like 2 or 2x2", positional=True),
        Arg("stride", size_pair, None, "step between windows; default the window size"),
        Arg("mode", one_of("exact", "floor", "ceil"), "exact",
            "exact (windows must tile the input), floor or ceil"),
    )

    def infer(self, args, shape):
        require(shape, "image", hint=f"{self.name} reads images (N, C, H, W)")
        channels, height, width = shape[1:]
        if args["size"] is None:
            raise ShapeError("needs a window size", expected=f"{self.name} 2", arg="size")
        kernel = args["size"]
        strides = args["stride"] or kernel
        check_fits((height, width), kernel, (0, 0, 0, 0), "window")
        mode = args["mode"]
        if mode == "exact":
            written = f"{self.name} {_size_text(kernel)}" + (
                f" stride {_size_text(args['stride'])}" if args["stride"] else "")
            for axis, size, k, s in (("height", height, kernel[0], strides[0]), ("width", width, kernel[1], strides[1])):
                if (size - k) % s:
                    raise ShapeError(
                        f"does not tile its input: a {axis} of {size} is not covered by windows of {k} every {s}",
                        expected=f"a {axis} h with (h - {k}) divisible by {s}",
                        hint=f"write '{written} floor' to drop the rest, '{written} ceil' to pool a "
                             "partial window, or pad the layer before")
        ceil = mode == "ceil"
        out_h = output_size(height, kernel[0], strides[0], 0, 0, ceil)
        out_w = output_size(width, kernel[1], strides[1], 0, 0, ceil)
        return Inferred(("N", channels, out_h, out_w), PoolAttrs(window=kernel, stride=strides, ceil=ceil))


@register
class MaxPool(Pool):
    name = "maxpool"
    doc = "the largest value of each window, per channel"


@register
class AvgPool(Pool):
    name = "avgpool"
    doc = "the mean of each window, per channel (a partial ceil window averages what it covers)"
