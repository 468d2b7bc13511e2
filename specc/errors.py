"""Source positions and the one error type a user can cause.

Every mistake in a spec is raised as :class:`SpecError`, which renders as::

    x_or_o.nn:5:22: error: dense 10 received (N, 2, 2, 2) from maxpool 2 at line 5
        5 | image -> conv 3x3 -> maxpool 2 -> dense 10
          |                                   ^^^^^^^^
      expected: a vector (N, F) or a sequence (N, T, F)
      hint: add flatten before dense
"""
from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field


def source_lines(text: str) -> list[str]:
    """The lines of a spec as the parser numbers them: only "\\n" ends a line.

    str.splitlines also breaks at \\r, \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029, which the
    grammar reads as characters of a line; splitting there would show the wrong source line.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _display_char(char: str) -> str:
    """One column of a shown source line: controls and line/paragraph separators become a space,
    so that a terminal neither moves the cursor nor breaks the line, and the caret stays aligned."""
    return " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char


def display_line(text: str) -> str:
    """A source line as printed under an error: one printed column per character."""
    text = text.removesuffix("\r")
    if text.isprintable():
        return text
    return "".join(_display_char(char) for char in text)


@dataclass(frozen=True)
class Coord:
    """Where something stands in a spec: file, 1-based line and column, and its width."""

    file: str
    line: int
    column: int
    width: int = 1
    text_line: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SpecError(Exception):
    """A mistake in a spec (or in what the user handed to it), with where and what would work."""

    def __init__(self, message: str, coord: Coord | None = None, *, expected: str | None = None,
                 received: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.coord = coord
        self.expected = expected
        self.received = received
        self.hint = hint

    def __str__(self) -> str:
        return self.render()

    def render(self, severity: str = "error") -> str:
        """The error as the CLI prints it: location, message, source line with a caret, details.
        `severity` is "warning" for what does not stop a build (a value never used)."""
        where = f"{self.coord}: " if self.coord else ""
        lines = [f"{where}{severity}: {self.message}"]
        if self.coord and self.coord.text_line:
            number = str(self.coord.line)
            gutter = " " * len(number)
            text = display_line(self.coord.text_line)
            lines.append(f"    {number} | {text}")
            caret = "^" * max(1, min(self.coord.width, len(text) - self.coord.column + 1))
            lines.append(f"    {gutter} | {' ' * (self.coord.column - 1)}{caret}")
        for label, value in (("expected", self.expected), ("received", self.received), ("hint", self.hint)):
            if value:
                lines.append(f"  {label}: {value}")
        return "\n".join(lines)


def did_you_mean(word: str, choices) -> str | None:
    """The closest of `choices` to `word`, phrased as a suggestion, or None if nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
