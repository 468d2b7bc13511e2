"""Sentences with one label each, for a sentence classifier: a text file of `label<TAB>sentence`
lines (UTF-8; blank lines skipped; the sentence split into words at whitespace)::

    greeting	hello there
    flight	show me flights from boston to denver

Such a file is told from a token/tag file (tagged.py, which a `.txt` or `.tsv` name may also hold)
by its content: no line has more than one tab, and some line's text after its tab holds two words
or more. A CoNLL file's text after the tab is one tag (or, with more columns, holds more tabs), so
it never looks so; a file of one-word sentences only is read as CoNLL. A line without a tab in a
label<TAB>sentence file is then a mistake named at its line.
"""
from __future__ import annotations

from specc.errors import Coord, SpecError

from .tagged import TaggedSentences

TAB = "\t"
FORM = "label<TAB>sentence"


def looks_labelled(lines: list[str]) -> bool:
    """Whether `lines` are label<TAB>sentence lines (see the module's docstring)."""
    return (all(line.count(TAB) <= 1 for line in lines)
            and any(len(line.partition(TAB)[2].split()) >= 2 for line in lines))


def parse_labelled(text: str, path: str) -> TaggedSentences:
    """The sentences and labels of a label<TAB>sentence file's `text`, without tags.

    SpecError at file:line, with a caret, for a line without a tab, with an empty label or an
    empty sentence; for a file without sentences.
    """
    words, labels = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, tab, sentence = line.partition(TAB)
        problem = ("no tab between the label and the sentence" if not tab else
                   "an empty label" if not label.strip() else "an empty sentence" if not sentence.split() else None)
        if problem:
            stripped = line.rstrip("\r\n")
            raise SpecError(problem, Coord(path, number, 1, max(1, len(stripped)), stripped),
                            expected=f"{FORM}: a label, one tab, then the sentence's words",
                            received=repr(stripped),
                            hint="separate the label from the sentence with a tab (not spaces); blank lines are skipped")
        words.append(tuple(sentence.split()))
        labels.append(label.strip())
    if not words:
        raise SpecError(f"{path} holds no sentences", expected=f"{FORM} lines", received="an empty file")
    return TaggedSentences(tuple(words), None, tuple(labels))
