"""Arrays as specc prints them, to a user's terminal: numbers as the lecture writes them,
probabilities with six decimals, class names quoted when empty. Read by `specc run` and
`specc demo` (the CLI and the API's demo), so it sits below both."""
from __future__ import annotations


def _number(x) -> str:
    import numpy as np

    return np.format_float_positional(np.float32(x), precision=6, trim="-")


def _probability(x) -> str:
    """A probability with six decimals (1.000000, 0.250000), tiny ones in scientific notation
    (5.60e-10), so that neither 1 nor a small chance reads as an integer."""
    return f"{x:.6f}" if x == 0 or abs(x) >= 1e-4 or x != x else f"{x:.2e}"


def format_array(array, probabilities: bool = False) -> str:
    """An array printed with numbers as the lecture writes them (3, -1, 0.5), or as
    probabilities (`_probability`)."""
    import numpy as np

    if array.dtype.kind in "OUS":  # class names; "" (padding) is shown as "", never as nothing
        return np.array2string(np.asarray(array, dtype=str), separator=" ", formatter={"all": lambda s: str(s) or '""'})
    number = _probability if probabilities else _number
    width = max((len(number(x)) for x in array.flat), default=1)
    return np.array2string(array, separator=" ", max_line_width=100,
                           formatter={"float_kind": lambda x: number(x).rjust(width)})
