"""onehot -> word ids (a LabelEncoder, or character by character with `lowercase`:
specc/onnx_words.py), held as a one-hot lookup that the next layer may fold (GraphBuilder). A
portable model takes the ids themselves (specc/portable.py)."""
from __future__ import annotations

from ..onnx_words import lower_word_ids, require_character_ops
from .base import lowering


@lowering("onehot")
def lower_onehot(g, layer, x):
    """words (N, T) -> one-hot (N, T, V + 1), held as its ids until a layer reads it."""
    vocabulary = layer.attrs.vocabulary
    if g.portable:  # ids in: padding (-1) gets the "other" id, as "" does below; the mask zeroes it
        ids = g.padding_to(x, len(vocabulary), layer)
    elif layer.attrs.lowercase:
        require_character_ops(g, lowercase_first=True)
        ids = lower_word_ids(g, x, vocabulary, layer.id)
    else:
        ids = g.node("LabelEncoder", [x], layer, suffix="ids", domain="ai.onnx.ml",
                     keys_strings=list(vocabulary), values_int64s=list(range(len(vocabulary))),
                     default_int64=len(vocabulary))
    return g.one_hot_ids(ids, len(vocabulary) + 1, layer)
