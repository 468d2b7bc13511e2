"""ONNX lowerings, one module per layer kind file in specc/layers/. Importing registers them."""
from . import activation, conv, dense, dropout, merge, onehot, pool, reshape, rnn, window, wordhash  # noqa: F401  (registration)
from .base import LOWERINGS, lowering

__all__ = ["LOWERINGS", "lowering"]
