"""The ONNX side of a layer kind: a lowering per kind name, found through LOWERINGS.

A lowering is a function (g, layer, x) -> name: it adds to GraphBuilder `g` (specc/onnx_export.py)
the nodes computing IR Layer `layer` (reading its typed `layer.attrs`) from tensor `x`, and
returns the name of the tensor it made. One file per layer kind, named like the kind's file in
specc/layers/ and runtime/kernels/; importing the package registers them all.
"""
from __future__ import annotations

from typing import Callable

Lowering = Callable[..., str]

LOWERINGS: dict[str, Lowering] = {}


def lowering(*kinds: str):
    """Function decorator: register a lowering under one or more layer kinds' names."""

    def register(function: Lowering) -> Lowering:
        for kind in kinds:
            if kind in LOWERINGS:
                raise ValueError(f"lowering {kind!r} registered twice")
            LOWERINGS[kind] = function
        return function

    return register
