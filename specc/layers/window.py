"""window: each step of a sequence sees its neighbours too (the context window of Mesnil et al.).

`window K` (K odd) turns (N, T, F) into (N, T, K*F): step t becomes the concatenation of steps
t-(K-1)/2 ... t+(K-1)/2, earliest first; steps past either end are zero vectors. The lowering
pads the time axis with zeros and concatenates K slices whose ends count from the end of the
padded sequence, so it runs at any length.
"""
from __future__ import annotations

from ..shapes import BYTES_PER_FLOAT, require
from ..signature import Arg, ArgTypeError
from .base import Inferred, LayerKind, Scratch, register

LAST = 2**62  # a Slice end past any length
# The kernels and the lowering make one slice per step of the window, in Python: 1,001 compile
# in about a second (10,000 took 16 s), and a context window is a few words wide.
MAX_SIZE = 1001


def odd_size(value) -> int:
    """A window size: an odd whole number, so that the window is centred on its step."""
    if value.kind == "int" and 1 <= value.value <= MAX_SIZE and value.value % 2:
        return value.value
    raise ArgTypeError(f"an odd whole number from 1 to {MAX_SIZE:,}, like 3 or 5 (a window needs an odd size, "
                       "centred on each step)")


@register
class Window(LayerKind):
    name = "window"
    doc = "each step joined with its (K-1)/2 neighbours on either side, zero vectors past the ends"
    reads_padding = True
    signature = (Arg("size", odd_size, 3, "how many steps each window holds: an odd number", positional=True),)

    def infer(self, args, shape):
        require(shape, "seq", hint="window reads sequences (N, T, F)")
        return Inferred(shape[:-1] + (args["size"] * shape[-1],), dict(size=args["size"]))

    def scratch(self, layer, steps):
        """The zero-padded copy (T + K - 1, F) the kernel takes its K shifted views from."""
        padded = (steps + layer.attrs["size"] - 1) * layer.in_shape[-1] * BYTES_PER_FLOAT
        return Scratch(padded, f"its zero-padded copy of the {steps} steps")

    def lower(self, g, layer, x):
        size = layer.attrs["size"]
        side = size // 2
        if size == 1:
            return g.node("Identity", [x], layer)
        pads = g.constant(layer, "pads", [0, side, 0, 0, side, 0], "int64")
        padded = g.node("Pad", [x, pads], layer, suffix="pad")
        axis = g.constant(layer, "time_axis", [1], "int64")
        pieces = []
        for offset in range(size):
            start = g.constant(layer, f"start{offset}", [offset], "int64")
            end = g.constant(layer, f"end{offset}", [offset - (size - 1) if offset < size - 1 else LAST], "int64")
            pieces.append(g.node("Slice", [padded, start, end, axis], layer, suffix=f"step{offset - side:+d}"))
        return g.node("Concat", pieces, layer, axis=-1)
