"""Sentences for a spec whose input is `seq token`: the built-in flights and atis data sets, a
token/tag file (CoNLL or `word:TAG` lines, see tagged.py) or a label<TAB>sentence file (see
labelled.py); which of the two a file is, its content says.

A split becomes arrays the trainer takes: words (N, T) padded at the end with "" (the padding
that the interpreter and the exported model mask out), and for an output with a class per word
its tags (N, T) as int64 indices into the output's classes, 0 on the padding; for an output with
one class per sentence (a sentence classifier, after `last`) the sentences' labels (N,) (atis:
the intents).
"""
from __future__ import annotations

from pathlib import Path

from specc.errors import SpecError, did_you_mean

from .labelled import FORM, looks_labelled, parse_labelled
from .tagged import TaggedSentences, parse_tagged, read_text

BUILTIN = ("flights", "atis")
FILE_SUFFIXES = (".txt", ".conll", ".tsv", ".iob", ".bio", ".tags")
PADDING = ""


def load_sentences(source: str, seed: int = 0, validation: float = 0.1):
    """(train, validation, test or None) TaggedSentences from `source`: 'flights' (drawn with
    `seed`, a fixed test set), 'atis' (the benchmark's split, intents as labels) or a token/tag
    or label<TAB>sentence file, of which a `validation` fraction, chosen by `seed`, is held out
    (stratified by label for labelled sentences). A built-in data set keeps its own split
    whatever the fraction, except 0: its validation sentences then train too (a final fit on
    every labelled sentence, its epochs chosen by validation before)."""
    if source in BUILTIN:
        if source == "flights":
            from .cache import cached_flights  # drawn by NumPy once, then read from the user's cache
            splits = cached_flights(seed)
        else:
            from .atis import load_atis
            splits = load_atis()
        return splits if validation else _training_on_every_sentence(*splits)
    if Path(source).suffix.lower() in FILE_SUFFIXES or Path(source).is_file():
        from .files import require_data_file  # NumPy's loaders: not for the built-in data sets

        require_data_file(source, "a token/tag file: 'token<TAB>tag' lines, or one 'word:TAG word:TAG' sentence "
                                  f"a line; or {FORM} lines")
        return _hold_out(read_sentences(source), seed, validation)
    raise SpecError(f"unknown data set '{source}' for a sequence of words",
                    expected=f"a built-in data set ({', '.join(BUILTIN)}) or a token/tag file ({', '.join(FILE_SUFFIXES)})",
                    received=source, hint=did_you_mean(source, BUILTIN) or "quote a file's path: data \"train.txt\"")


def read_sentences(path: str) -> TaggedSentences:
    """A file of label<TAB>sentence lines or of tagged words, told apart by its content."""
    text = read_text(path, "sentences")
    if looks_labelled(text.splitlines()):
        return parse_labelled(text, path)
    return parse_tagged(text, path)


def _training_on_every_sentence(train: TaggedSentences, validation: TaggedSentences, test):
    """The splits with the validation sentences appended to the training ones, none left to validate."""
    return train.followed_by(validation), validation.pick(()), test


def _hold_out(sentences: TaggedSentences, seed: int, fraction: float):
    import numpy as np

    from . import holdout

    strata = np.array(sentences.labels) if sentences.tags is None else None
    kept, held = holdout(len(sentences), fraction, np.random.default_rng(seed), strata)
    return sentences.pick(kept), sentences.pick(held), None


def pad_words(sentences) -> np.ndarray:
    """Sentences (lists of words) -> (N, T) object array, T the longest, padded with ""."""
    import numpy as np

    longest = max((len(s) for s in sentences), default=0)
    words = np.full((len(sentences), max(longest, 1)), PADDING, dtype=object)
    for i, sentence in enumerate(sentences):
        words[i, :len(sentence)] = sentence
    return words


def targets(sentences: TaggedSentences, spec, where: str) -> np.ndarray:
    """What the spec's output learns from `sentences`: tags (N, T) as int64 indices into its
    classes, 0 on the padding (T the longest sentence), for an output with a class per word
    (spec.per_step); else the sentences' labels (N,) as indices. SpecError where the data has not
    that kind of class, or a class outside the output's."""
    import numpy as np

    name = spec.output_name
    if spec.classes is None:
        raise SpecError(f"the data {where} holds classes, but the spec's output {name} has no classes",
                        hint=f"declare 'output {name}: from data' (or list the classes)")
    if spec.per_step and sentences.tags is None:
        raise SpecError(f"{where} holds one label per sentence, but the spec's output {name} gives a class per word",
                        expected="a token/tag file, or a spec that takes one step per sentence",
                        hint=f"a sentence classifier ends: ... -> rnn ... -> last -> dense -> softmax -> {name}")
    if not spec.per_step and sentences.labels is None:
        raise SpecError(f"{where} tags every word but holds no label per sentence, and the spec's output {name} "
                        "gives one class per sentence",
                        expected=f"{FORM} lines, or atis (whose sentences carry their intents)",
                        hint=f"for a class per word, drop 'last' before '{name}'")
    index = {label: i for i, label in enumerate(spec.classes)}

    def lookup(label: str, i: int, what: str) -> int:
        if label not in index:
            raise SpecError(f"{where}: sentence {i + 1} has {what} '{label}', not among the spec's classes",
                            expected=f"{what}s among {' | '.join(spec.classes[:8])}{' ...' if len(spec.classes) > 8 else ''}",
                            received=f"'{label}' in the sentence '{' '.join(sentences.words[i])}'",
                            hint=f"add the {what} to the output's classes, or declare 'output {name}: from data'")
        return index[label]

    if not spec.per_step:
        return np.array([lookup(label, i, "label") for i, label in enumerate(sentences.labels)], dtype=np.int64)
    tags = np.zeros((len(sentences), max(max((len(w) for w in sentences.words), default=0), 1)), dtype=np.int64)
    for i, sentence_tags in enumerate(sentences.tags):
        tags[i, :len(sentence_tags)] = [lookup(tag, i, "tag") for tag in sentence_tags]
    return tags


def load_tagged_data(source: str, spec, seed: int, validation: float, sentences=None):
    """A Dataset of padded words and their tags (or the sentences' labels, per spec.per_step)
    for a spec with a `seq token` input; `sentences` are load_sentences(source, seed,
    validation) if already read."""
    from . import Dataset, Split

    splits = [None if split is None else Split(pad_words(split.words), targets(split, spec, f"{source} ({name})"))
              for split, name in zip(sentences or load_sentences(source, seed, validation),
                                     ("train", "validation", "test"))]
    return Dataset(source, *splits, spec.classes)


def load_sentence_graph(source: str, words, outputs: list, seed: int, validation: float):
    """A Dataset for a spec with one `seq token` input `words` and several outputs (each a
    SpecSide with its classes; per_step for a class per word): x maps the input to the padded
    words, y each output to its tags or labels (atis: slots and intents)."""
    from . import Dataset, Split

    def split_of(part, name: str):
        if part is None:
            return None
        return Split({words.input_name: pad_words(part.words)},
                     {spec.output_name: targets(part, spec, f"{source} ({name})") for spec in outputs})

    parts = load_sentences(source, seed, validation)
    return Dataset(source, *(split_of(part, name) for part, name in zip(parts, ("train", "validation", "test"))),
                   None)
