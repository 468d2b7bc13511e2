"""Geometry shared by conv and the pools: padding and output sizes of a sliding window."""
from __future__ import annotations

from ..shapes import ShapeError


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) so that the output has ceil(size / stride) positions.

    The odd pixel goes after, as in TensorFlow and ONNX's SAME_UPPER.

    >>> same_pads(6, 3, 1), same_pads(6, 2, 1), same_pads(5, 3, 2)
    ((1, 1), (0, 1), (1, 1))
    """
    out = -(-size // stride)  # ceil in integers: exact at any size, where a float overflows
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int,
                ceil: bool = False) -> int:
    """Number of window positions along one axis.

    With `ceil`, a last partial window counts if it starts inside the input (ONNX ceil_mode).

    >>> output_size(6, 3, 1, 0, 0), output_size(6, 3, 2, 0, 0), output_size(5, 2, 2, 0, 0, ceil=True)
    (4, 2, 3)
    """
    span = size + pad_before + pad_after - kernel
    if not ceil:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_before:
        out -= 1
    return out


def check_fits(hw: tuple[int, int], kernel: tuple[int, int], pads: tuple[int, int, int, int],
               what: str) -> None:
    """Raise ShapeError if the window is larger than the (padded) input."""
    padded = (hw[0] + pads[0] + pads[2], hw[1] + pads[1] + pads[3])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ShapeError(f"has a {kernel[0]}x{kernel[1]} {what} larger than its "
                         f"{padded[0]}x{padded[1]} input",
                         expected=f"a {what} of at most {padded[0]}x{padded[1]}",
                         hint="use a smaller size, or remove a pooling layer or stride before it",
                         arg="size")
