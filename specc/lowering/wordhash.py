"""wordhash -> letter-trigram counts computed in the graph (specc/onnx_trigrams.py), with
onnxruntime's contrib Tokenizer: the model's metadata says it needs onnxruntime."""
from __future__ import annotations

from ..onnx_trigrams import TRIGRAM_ONNX_OPSETS, lower_trigram_counts
from ..onnx_words import require_character_ops
from .base import lowering


@lowering("wordhash")
def lower_wordhash(g, layer, x):
    """words (N, T) -> trigram counts (N, T, V)."""
    g.opsets.update(TRIGRAM_ONNX_OPSETS)
    require_character_ops(g, layer.attrs.lowercase)
    return lower_trigram_counts(g, x, layer.attrs.vocabulary, layer, lowercase_first=layer.attrs.lowercase)
