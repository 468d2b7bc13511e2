"""The layer kinds. Importing this package registers every kind in REGISTRY."""
from . import (activation, conv, dense, dropout, merge, onehot, pool, reshape, rnn, window,  # noqa: F401  (registration)
               wordhash)
from .base import REGISTRY, Inferred, LayerKind, WeightSpec

__all__ = ["REGISTRY", "Inferred", "LayerKind", "WeightSpec"]
