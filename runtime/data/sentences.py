"""Sentences tagged word by word, for a spec whose input is `seq token`: the built-in flights
and atis data sets, or a token/tag file (CoNLL or `word:TAG` lines, see tagged.py).

A split becomes arrays the trainer takes: words (N, T) padded at the end with "" (the padding
that the interpreter and the exported model mask out), and tags (N, T) as int64 indices into
the spec's classes, 0 on the padding.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from specc.errors import SpecError, did_you_mean

from .files import require_data_file
from .tagged import TaggedSentences, read_tagged

BUILTIN = ("flights", "atis")
FILE_SUFFIXES = (".txt", ".conll", ".tsv", ".iob", ".bio", ".tags")
PADDING = ""


def load_sentences(source: str, seed: int = 0, validation: float = 0.1):
    """(train, validation, test or None) TaggedSentences from `source`: 'flights' (drawn with
    `seed`, a fixed test set), 'atis' (the benchmark's split) or a token/tag file, of which a
    `validation` fraction, chosen by `seed`, is held out."""
    if source == "flights":
        from .flights import load_flights
        return load_flights(seed)
    if source == "atis":
        from .atis import load_atis
        return load_atis()
    if Path(source).suffix.lower() in FILE_SUFFIXES or Path(source).is_file():
        require_data_file(source, "a token/tag file: 'token<TAB>tag' lines, or one 'word:TAG word:TAG' sentence a line")
        return _hold_out(read_tagged(source), seed, validation)
    raise SpecError(f"unknown data set '{source}' for a sequence of words",
                    expected=f"a built-in data set ({', '.join(BUILTIN)}) or a token/tag file ({', '.join(FILE_SUFFIXES)})",
                    received=source, hint=did_you_mean(source, BUILTIN) or "quote a file's path: data \"train.txt\"")


def _hold_out(sentences: TaggedSentences, seed: int, fraction: float):
    from . import holdout

    def pick(rows) -> TaggedSentences:
        return TaggedSentences(tuple(sentences.words[i] for i in rows), tuple(sentences.tags[i] for i in rows))

    kept, held = holdout(len(sentences), fraction, np.random.default_rng(seed))
    return pick(kept), pick(held), None


def pad_words(sentences) -> np.ndarray:
    """Sentences (lists of words) -> (N, T) object array, T the longest, padded with ""."""
    longest = max((len(s) for s in sentences), default=0)
    words = np.full((len(sentences), max(longest, 1)), PADDING, dtype=object)
    for i, sentence in enumerate(sentences):
        words[i, :len(sentence)] = sentence
    return words


def to_split(sentences: TaggedSentences, classes: tuple[str, ...], where: str):
    """A Split of padded words and tag indices; SpecError for a tag outside `classes`."""
    from . import Split

    index = {name: i for i, name in enumerate(classes)}
    words = pad_words(sentences.words)
    tags = np.zeros(words.shape, dtype=np.int64)
    for i, sentence_tags in enumerate(sentences.tags):
        for t, tag in enumerate(sentence_tags):
            if tag not in index:
                raise SpecError(f"{where}: sentence {i + 1} has tag '{tag}', not among the spec's classes",
                                expected=f"tags among {' | '.join(classes[:8])}{' ...' if len(classes) > 8 else ''}",
                                received=f"'{tag}' on the word '{sentences.words[i][t]}'",
                                hint="add the tag to the output's classes, or declare 'output NAME: from data'")
            tags[i, t] = index[tag]
    return Split(words, tags)


def load_tagged_data(source: str, spec, seed: int, validation: float, sentences=None):
    """A Dataset of padded words and tags for a spec with a `seq token` input and per-word classes;
    `sentences` are load_sentences(source, seed, validation) if already read."""
    from . import Dataset

    if spec.classes is None:
        raise SpecError(f"the data {source} tags every word, but the spec's output {spec.output_name} has no classes",
                        hint=f"declare 'output {spec.output_name}: from data' (or list the tags)")
    train, held, test = sentences or load_sentences(source, seed, validation)
    splits = [to_split(split, spec.classes, f"{source} ({name})") if split is not None else None
              for split, name in ((train, "train"), (held, "validation"), (test, "test"))]
    return Dataset(source, splits[0], splits[1], splits[2], spec.classes)
