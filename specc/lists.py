"""Reading one [list] of a spec, from its "[" to its "]", in a single pass without recursion.

The lexer (specc/parse.py) hands every list to :func:`read_list`, so a list is one token for
the grammar. A list whose first item is a number is a rectangular nested list of numbers (the
literal weights of conv and dense) and comes back as a :class:`Literal`: no object per number,
and a row of plain numbers is read by one regular expression, so a million numbers take about
a second. Any other list (words, quoted strings, sizes) comes back as a tree of raw items that
the parser turns into Values. Every mistake is a :class:`ListError` at its offset in the text.
"""
from __future__ import annotations

import re

from .syntax import Literal

MAX_DEPTH = 16  # conv weights nest 4 deep; a deeper list is a mistake, read without recursion
FLOAT32_MAX = 3.4028234663852886e38  # weights are 32-bit floats: larger numbers become inf

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"  # the grammar's INT and FLOAT
# Spaces, newlines and comments between items; written so that no text can be matched two ways,
# which would make a failing match backtrack for ever on a long run of them.
_GAP = re.compile(r"[ \t\f\n]*(?:#[^\n]*[ \t\f\n]*)*")
_FIRST_IS_NUMBER = re.compile(r"[\[ \t\f\n]*(?:#[^\n]*[\[ \t\f\n]*)*[-+]?\.?\d")
# The characters of a row of plain numbers, up to its "]". float() then checks each number: on
# these characters it accepts exactly the grammar's numbers (no inf, nan, 1_000 or non-ASCII
# digits can be spelled with them). Anything else (a comment, a mistake) is read item by item.
_ROW = re.compile(r"[-+.0-9eE, \t\f\n]*\]")
_ITEMS = (  # what an item may be, tried in this order (the grammar's priorities)
    ("dims", re.compile(r"\d+(?:x\d+)+(?![A-Za-z0-9_])")),
    ("number", re.compile(r"[-+]?\.?\d[\w.+-]*")),  # validated below, so 1.2.3 is one mistake
    ("word", re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(?:-[A-Za-z0-9_.]+)*")),
    ("string", re.compile(r'"[^"\n]*"')),
)
_VALID_NUMBER = re.compile(_NUMBER)


class ListError(Exception):
    """A mistake inside a list: offsets [start, end) into the text, and what would work.

    `open_at` is the offset of the "[" still open, for a hint that says which list to close.
    """

    def __init__(self, message: str, start: int, end: int | None = None, *, expected: str | None = None,
                 hint: str | None = None, open_at: int | None = None):
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = start + 1 if end is None else end
        self.expected = expected
        self.hint = hint
        self.open_at = open_at


def read_list(text: str, start: int) -> tuple[int, Literal | tuple]:
    """Read the list whose "[" is text[start].

    Returns the offset just after its "]", and a Literal (a rectangular list of numbers) or the
    raw tree of any other list: ("list", items, start, end), each item a tree or a leaf
    (kind, text, start, end) with kind int, float, dims, word or string.
    """
    sink = _Grid() if _FIRST_IS_NUMBER.match(text, start) else _Tree()
    opened: list[int] = []  # offsets of the "[" still open, outermost first
    pos, expect_item = start, True
    while True:
        pos = _GAP.match(text, pos).end()
        char = text[pos:pos + 1]
        if not char:
            raise ListError("this '[' is never closed", opened[-1], expected="']'",
                            hint="every '[' needs its ']'")
        if char == "]":  # after "[" (an empty list), after "," (a trailing comma) or after an item
            sink.close(opened.pop(), pos + 1, len(opened) + 1)
            pos += 1
            if not opened:
                return pos, sink.result()
            expect_item = False
        elif not expect_item:
            if char != ",":
                raise ListError(f"unexpected {_what(text, pos)} in a list", pos, expected="',' or ']'",
                                open_at=opened[-1])
            pos, expect_item = pos + 1, True
        elif char == "[":
            if len(opened) == MAX_DEPTH:
                raise ListError(f"lists nest at most {MAX_DEPTH} deep", pos, expected=f"at most {MAX_DEPTH} '[' open",
                                hint="conv weights nest 4 deep: filters, channels, kernel rows, kernel columns")
            opened.append(pos)
            sink.open(pos, len(opened))
            row_end = sink.row(text, pos + 1, len(opened))
            pos, expect_item = (row_end, False) if row_end else (pos + 1, True)
        else:
            kind, end = _item(text, pos, opened[-1])
            sink.leaf(kind, text[pos:end], pos, end, len(opened))
            pos, expect_item = end, False


def _item(text: str, pos: int, open_at: int) -> tuple[str, int]:
    """The kind of the item at text[pos] (int, float, dims, word or string) and its end."""
    for kind, pattern in _ITEMS:
        match = pattern.match(text, pos)
        if not match:
            continue
        word = match.group()
        if kind == "number":
            if not _VALID_NUMBER.fullmatch(word):
                raise ListError(f"'{word}' is not a number", pos, match.end(),
                                expected="a number like 0.5, -1 or 2e-3")
            kind = "float" if any(c in word for c in ".eE") else "int"
        return kind, match.end()
    if text[pos] == '"':
        raise ListError("this string is not closed on its line", pos, expected="a closing '\"'")
    raise ListError(f"unexpected {_what(text, pos)} in a list", pos,
                    expected="a number, a word, a quoted string or a [list]", open_at=open_at)


def _what(text: str, pos: int) -> str:
    """What stands at text[pos], for "unexpected ..." messages: an item's text, or a character."""
    for _, pattern in _ITEMS:
        match = pattern.match(text, pos)
        if match:
            return repr(match.group())
    return f"character {text[pos]!r}"


class _Grid:
    """Collects a rectangular nested list of numbers: its shape and its numbers, row-major.

    The first number fixes the depth at which numbers sit; the first list closed at each depth
    fixes the length of every list at that depth. A list breaking either rule is the mistake.
    """

    def __init__(self):
        self.numbers: list[float] = []
        self.counts: list[int] = []  # items so far in each open list
        self.lengths = [0] * (MAX_DEPTH + 1)  # lengths[d]: the length of every list at depth d
        self.depth = 0  # how deep the numbers sit; 0 until the first one

    def open(self, start: int, depth: int) -> None:
        if self.depth and depth > self.depth:
            raise ListError("a list where a number belongs", start, expected=self._expected())
        self.counts.append(0)

    def row(self, text: str, start: int, depth: int) -> int | None:
        """Read a whole row of plain numbers at once: the offset of its "]", or None to read
        it item by item (a comment in it, a mistake, a number out of range, a deeper list)."""
        if self.depth not in (0, depth):
            return None
        match = _ROW.match(text, start)
        if not match:
            return None
        items = text[start:match.end() - 1].split(",")
        if not items[-1].strip():
            items.pop()  # a trailing comma, or an empty row
        try:
            row = list(map(float, items))  # float() skips the spaces and newlines around a number
        except ValueError:
            return None
        if not row or max(row) > FLOAT32_MAX or min(row) < -FLOAT32_MAX:
            return None
        self.depth = depth
        self.numbers += row
        self.counts[-1] = len(row)
        return match.end() - 1

    def leaf(self, kind: str, word: str, start: int, end: int, depth: int) -> None:
        if kind not in ("int", "float"):
            label = {"dims": "the size", "word": "the word", "string": "the string"}[kind]
            raise ListError(f"{label} {word} in a list of numbers", start, end, expected="a number, like 0.5 or -1",
                            hint="a list holds numbers (weights) or words (a vocabulary), not both")
        if self.depth and depth != self.depth:
            raise ListError("a number where a list belongs", start, end, expected=self._expected())
        number = float(word)
        if not -FLOAT32_MAX <= number <= FLOAT32_MAX:
            raise ListError(f"{word} is too large for a weight", start, end,
                            expected=f"a number between -{FLOAT32_MAX:.4g} and {FLOAT32_MAX:.4g}",
                            hint="weights are 32-bit floats")
        self.depth = depth
        self.numbers.append(number)
        self.counts[-1] += 1

    def close(self, start: int, end: int, depth: int) -> None:
        count = self.counts.pop()
        if count == 0:
            raise ListError("an empty list among numbers", start, end, expected=self._expected())
        if not self.lengths[depth]:
            self.lengths[depth] = count
        elif count != self.lengths[depth]:
            items = "numbers" if depth == self.depth else "lists"
            raise ListError(f"rows of different lengths: this one has {count} {items}, the first has "
                            f"{self.lengths[depth]}", start, end,
                            expected="a rectangular nested list: every row of the same length")
        if self.counts:
            self.counts[-1] += 1

    def _expected(self) -> str:
        return f"numbers nested {self.depth} deep, as in the first row"

    def result(self) -> Literal:
        return Literal(tuple(self.lengths[1:self.depth + 1]), tuple(self.numbers))


class _Tree:
    """Collects any other list as a tree of raw items (see :func:`read_list`)."""

    def __init__(self):
        self.items: list[list] = [[]]  # the items of each open list, with a root that holds the result

    def open(self, start: int, depth: int) -> None:
        self.items.append([])

    def row(self, text: str, start: int, depth: int) -> None:
        return None

    def leaf(self, kind: str, word: str, start: int, end: int, depth: int) -> None:
        self.items[-1].append((kind, word, start, end))

    def close(self, start: int, end: int, depth: int) -> None:
        node = ("list", tuple(self.items.pop()), start, end)
        self.items[-1].append(node)

    def result(self) -> tuple:
        return self.items[0][0]
