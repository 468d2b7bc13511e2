"""Tensor shapes with a symbolic batch dimension N and time dimension T.

A shape is a tuple: images ('N', C, H, W), vectors ('N', F), sequences ('N', 'T', F),
token sequences ('N', 'T') of words. Shape rules are pure functions over these tuples.
"""
from __future__ import annotations

Shape = tuple

BATCH = "N"
TIME = "T"
BYTES_PER_FLOAT = 4  # weights and activations are float32 in both back ends


class ShapeError(Exception):
    """Raised by a shape rule; the IR builder adds the layer's position and what it received.

    `arg` names the argument to point at (else the layer itself is pointed at).
    """

    def __init__(self, message: str, *, expected: str | None = None, hint: str | None = None,
                 arg: str | None = None):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.hint = hint
        self.arg = arg


def fmt(shape: Shape) -> str:
    """('N', 2, 4, 4) -> '(N, 2, 4, 4)'.

    >>> fmt(('N', 'T', 3))
    '(N, T, 3)'
    """
    return "(" + ", ".join(str(d) for d in shape) + ")"


def form(shape: Shape) -> str:
    """What kind of tensor a shape holds: image, vector, seq or tokens.

    >>> form(('N', 1, 6, 6)), form(('N', 36)), form(('N', 'T', 2)), form(('N', 'T'))
    ('image', 'vector', 'seq', 'tokens')
    """
    if len(shape) >= 2 and shape[1] == TIME:
        return "seq" if len(shape) == 3 else "tokens"
    return {2: "vector", 4: "image"}.get(len(shape), f"{len(shape)}-d")


FORM_WORDS = {
    "image": "an image (N, C, H, W)",
    "vector": "a vector (N, F)",
    "seq": "a sequence (N, T, F)",
    "tokens": "a sequence of words (N, T)",
}


def require(shape: Shape, *forms: str, hint: str | None = None) -> None:
    """Raise ShapeError unless the shape is of one of `forms`."""
    if form(shape) not in forms:
        wanted = " or ".join(FORM_WORDS[f] for f in forms)
        raise ShapeError(f"needs {wanted}", expected=wanted, hint=hint)


def sample_elements(shape: Shape) -> int:
    """How many numbers one sample holds (symbolic dims count as 1)."""
    return elements(shape)


def elements(shape: Shape, batch: int = 1, steps: int = 1) -> int:
    """How many numbers a tensor of this shape holds with N = batch and T = steps: Python
    integers, exact at any size, nothing allocated.

    >>> elements(('N', 'T', 3), batch=8, steps=9), elements(('N', 1, 100000, 100000))
    (216, 10000000000)
    """
    total = 1
    for d in shape:
        total *= batch if d == BATCH else steps if d == TIME else d
    return total
