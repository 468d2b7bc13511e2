"""Scores of a tagger: token accuracy, and slot precision, recall and F1 as conlleval counts them.

A slot (a chunk) is a run of words with one type; a predicted chunk is correct only when its
span and its type are both those of a true chunk, so a city tagged `depart` where it is the
destination counts as one wrong prediction and one missed slot.

Tags are read as conlleval reads them:

- IOB2/BIO: `B-x` starts a chunk of type x, `I-x` continues one, `O` is outside. An `I-x` that
  opens the sentence or follows `O` or a tag of another type starts a new chunk, as conlleval
  does for ill-formed IOB (seqeval's default mode agrees).
- Plain slot names without a prefix (`dest`, `time`, as the flights data has them): `other` and
  `O` are outside, any other tag is read as `I-tag`, so a run of identical tags is one chunk.
  This is conlleval's `-r` (raw) treatment of prefix-less tags. Other prefixes (`E-`, `S-`)
  are not interpreted: such a tag is a plain name.
"""
from __future__ import annotations

from collections.abc import Sequence

OUTSIDE = frozenset({"O", "other"})
PREFIXES = ("B-", "I-")


def chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The chunks of one sentence's tags as (type, start, end), `end` exclusive, in order.

    >>> chunks(["O", "B-dest", "I-dest", "I-time", "B-time"])
    [('dest', 1, 3), ('time', 3, 4), ('time', 4, 5)]
    >>> chunks(["other", "dest", "dest", "other", "time", "time"])
    [('dest', 1, 3), ('time', 4, 6)]
    """
    found = []
    start, current = None, None  # the open chunk's first position and type
    for i, tag in enumerate(tags):
        prefix, kind = _split(tag)
        continues = prefix == "I" and kind == current
        if start is not None and not continues:
            found.append((current, start, i))
            start, current = None, None
        if prefix != "O" and not continues:
            start, current = i, kind
    if start is not None:
        found.append((current, start, len(tags)))
    return found


def slot_scores(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> tuple[float, float, float]:
    """(precision, recall, F1) in [0, 1] over all chunks of all sentences (micro-averaged, as
    conlleval and seqeval do); each is 0 where its denominator is 0."""
    _check_aligned(true, pred)
    correct = found_true = found_pred = 0
    for true_tags, pred_tags in zip(true, pred):
        true_chunks, pred_chunks = set(chunks(true_tags)), set(chunks(pred_tags))
        correct += len(true_chunks & pred_chunks)
        found_true += len(true_chunks)
        found_pred += len(pred_chunks)
    precision = correct / found_pred if found_pred else 0.0
    recall = correct / found_true if found_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def token_accuracy(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """The share of words whose predicted tag is the true tag, over all sentences (0 for none)."""
    _check_aligned(true, pred)
    total = sum(len(tags) for tags in true)
    right = sum(t == p for true_tags, pred_tags in zip(true, pred) for t, p in zip(true_tags, pred_tags))
    return right / total if total else 0.0


def _split(tag: str) -> tuple[str, str]:
    """'B-dest' -> ('B', 'dest'); 'O' and 'other' -> ('O', ''); a plain 'dest' -> ('I', 'dest')."""
    if tag in OUTSIDE:
        return "O", ""
    if tag.startswith(PREFIXES):
        return tag[0], tag[2:]
    return "I", tag


def _check_aligned(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true sentences but {len(pred)} predicted")
    for i, (true_tags, pred_tags) in enumerate(zip(true, pred)):
        if len(true_tags) != len(pred_tags):
            raise ValueError(f"sentence {i} has {len(true_tags)} true tags but {len(pred_tags)} predicted")


def tag_rows(indices, mask, classes: Sequence[str]) -> list[list[str]]:
    """Per-word class indices (N, T) with their padding mask (N, T) -> each sentence's tag names."""
    lengths = mask.sum(axis=1).astype(int)
    return [[classes[i] for i in row[:length]] for row, length in zip(indices, lengths)]
