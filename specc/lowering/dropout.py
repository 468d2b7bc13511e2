"""dropout -> Identity: an exported model is for inference, where dropout does nothing."""
from __future__ import annotations

from .base import lowering


@lowering("dropout")
def lower_dropout(g, layer, x):
    """The identity: x unchanged."""
    return g.node("Identity", [x], layer)
