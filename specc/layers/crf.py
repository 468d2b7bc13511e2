"""crf: a linear-chain conditional random field over a tagger's per-step class scores.

`... -> dense -> crf -> slots` reads (N, T, K) scores u (K: the output's classes) and learns a
K x K table `transitions` (transitions[i, j]: the score of tag j following tag i) with `start`
and `end` (K,) scores of a sentence's first and last tag. A tag sequence y of a sentence of L
words scores

    s(y) = start[y_0] + sum_t u_t[y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{L-1}],

and p(y | x) = exp(s(y)) / Z, Z summing over every sequence (Lafferty et al. 2001; the tagger of
Huang et al. 2015 and Lample et al. 2016, as torchcrf and TensorFlow Addons' crf hold it, with
the same weight layout). Training minimises -log p(y | x) of the true tags, summed over the
batch's sentences and divided by its words (so a learning rate means what it means for
softmax's cross-entropy); inference and the export give the best sequence (Viterbi), one-hot:
(N, T, K) rows of 0 and 1, all 0 on padding. The crf ends its chain, at a classifier output
given per word, in place of softmax.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..shapes import BYTES_PER_FLOAT, require
from .base import Inferred, LayerAttrs, LayerKind, Scratch, WeightSpec, register

FLOAT64_BYTES = INDEX_BYTES = 8


@dataclass(frozen=True)
class CrfAttrs(LayerAttrs):
    """tags: K, how many tags (the output's classes) the transitions join."""

    takes_mask = True
    output_head = True

    tags: int


@register
class Crf(LayerKind):
    name = "crf"
    doc = ("a linear-chain CRF: learned tag-to-tag transitions; trained on the whole sentence's likelihood, "
           "it gives each sentence's best tag sequence (Viterbi), one-hot (N, T, K)")
    attrs_type = CrfAttrs

    def infer(self, args, shape):
        require(shape, "seq", hint="crf tags the words of sentences (N, T, K): put it after the last dense of a tagger")
        tags = shape[-1]
        weights = (WeightSpec("transitions", (tags, tags), "zeros", tags, tags),
                   WeightSpec("start", (tags,), "zeros", tags, tags),
                   WeightSpec("end", (tags,), "zeros", tags, tags))
        return Inferred(shape, CrfAttrs(tags=tags), weights)

    def scratch(self, layer, steps):
        """Viterbi's back pointers (T, K) int64 and one step's candidates (K, K); in training, the
        likelihood's float64 scores, forward and backward vectors and marginals (T, K) each
        (runtime/kernels/crf.py)."""
        tags = layer.attrs.tags
        viterbi = steps * tags * INDEX_BYTES + tags * tags * BYTES_PER_FLOAT
        return Scratch(max(viterbi, 4 * steps * tags * FLOAT64_BYTES),
                       f"its back pointers and likelihood over {steps} steps of {tags} tags")
