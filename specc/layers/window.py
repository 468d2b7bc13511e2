"""window: each step of a sequence sees its neighbours too (the context window of Mesnil et al.).

`window K` (K odd) turns (N, T, F) into (N, T, K*F): step t becomes the concatenation of steps
t-(K-1)/2 ... t+(K-1)/2, earliest first; steps past either end are zero vectors. The lowering
(specc/lowering/window.py) pads the time axis with zeros and concatenates K slices whose ends count from the end of the
padded sequence, so it runs at any length.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..shapes import BYTES_PER_FLOAT, require
from ..signature import Arg, ArgTypeError
from .base import Inferred, LayerAttrs, LayerKind, Scratch, register

# The kernels and the lowering make one slice per step of the window, in Python: 1,001 compile
# in about a second (10,000 took 16 s), and a context window is a few words wide.
MAX_SIZE = 1001


def odd_size(value) -> int:
    """A window size: an odd whole number, so that the window is centred on its step."""
    if value.kind == "int" and 1 <= value.value <= MAX_SIZE and value.value % 2:
        return value.value
    raise ArgTypeError(f"an odd whole number from 1 to {MAX_SIZE:,}, like 3 or 5 (a window needs an odd size, "
                       "centred on each step)")


@dataclass(frozen=True)
class WindowAttrs(LayerAttrs):
    """steps: how many steps each window holds (odd, centred on its step)."""

    reads_padding = True

    steps: int = field(metadata={"written": "size"})


@register
class Window(LayerKind):
    name = "window"
    doc = "each step joined with its (K-1)/2 neighbours on either side, zero vectors past the ends"
    attrs_type = WindowAttrs
    signature = (Arg("size", odd_size, 3, "how many steps each window holds: an odd number", positional=True),)

    def infer(self, args, shape):
        require(shape, "seq", hint="window reads sequences (N, T, F)")
        return Inferred(shape[:-1] + (args["size"] * shape[-1],), WindowAttrs(steps=args["size"]))

    def scratch(self, layer, steps):
        """The zero-padded copy (T + K - 1, F) the kernel takes its K shifted views from."""
        padded = (steps + layer.attrs.steps - 1) * layer.in_shape[-1] * BYTES_PER_FLOAT
        return Scratch(padded, f"its zero-padded copy of the {steps} steps")
