"""wordhash -> letter-trigram counts computed in the graph (specc/onnx_trigrams.py), with
onnxruntime's contrib Tokenizer: the model's metadata says it needs onnxruntime. A portable
model takes each word's trigram ids instead (specc/portable.py) and sums their weight rows."""
from __future__ import annotations

from ..onnx_trigrams import TRIGRAM_ONNX_OPSETS, lower_trigram_counts
from ..onnx_words import require_character_ops
from .base import lowering


@lowering("wordhash")
def lower_wordhash(g, layer, x):
    """words (N, T) -> trigram counts (N, T, V); a portable model's trigram ids (N, T, K) -> the
    same counts, held as the ids (padding and unknown trigrams get id V, which counts nothing)."""
    vocabulary = layer.attrs.vocabulary
    if g.portable:
        return g.bag_of_ids(g.padding_to(x, len(vocabulary), layer), len(vocabulary), layer)
    g.opsets.update(TRIGRAM_ONNX_OPSETS)
    require_character_ops(g, layer.attrs.lowercase)
    return lower_trigram_counts(g, x, vocabulary, layer, lowercase_first=layer.attrs.lowercase)
