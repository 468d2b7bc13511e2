"""The layer kinds. Importing this package registers every kind in REGISTRY."""
from . import activation, conv, dense, dropout, onehot, pool, reshape, rnn, window, wordhash  # noqa: F401  (registration)
from .base import REGISTRY, Inferred, LayerKind, WeightSpec

__all__ = ["REGISTRY", "Inferred", "LayerKind", "WeightSpec"]
