"""The parse tree of a spec, before any checking: what the user wrote, with positions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import Coord


@dataclass(frozen=True)
class Literal:
    """Literal numbers from the spec (`weights=[...]`), row-major, with their nested shape."""

    shape: tuple[int, ...]
    values: tuple[float, ...]

    def text(self) -> str:
        return f"[literal {'x'.join(map(str, self.shape))}]"

    def written(self, most: int = 12) -> str:
        """The numbers as nested lists, like [[1, -0.5], [2, 0]], or text() beyond `most` numbers."""
        if len(self.values) > most:
            return self.text()
        rows = [format(number, "g") for number in self.values]
        for size in reversed(self.shape):
            rows = ["[" + ", ".join(rows[i:i + size]) + "]" for i in range(0, len(rows), size)]
        return rows[0]


@dataclass(frozen=True)
class Value:
    """A literal argument value. `kind` is int, float, dims, word, string, list (of Values: words,
    strings or anything but a rectangular list of numbers) or numbers (a Literal: a rectangular
    nested list of numbers, read without a Value per number so that a million stay cheap)."""

    kind: str
    value: Any  # int, float, tuple of ints, str, tuple of Value, or Literal
    coord: Coord

    def text(self) -> str:
        """The value as the user would write it (a long list of numbers is summarised)."""
        if self.kind == "dims":
            return "x".join(map(str, self.value))
        if self.kind == "numbers":
            return self.value.written()
        if self.kind == "list":
            return "[" + ", ".join(v.text() for v in self.value) + "]"
        if self.kind == "string":
            return f'"{self.value}"'
        return str(self.value)


@dataclass(frozen=True)
class Argument:
    """`key=value` (key set) or a bare value (key None)."""

    key: str | None
    value: Value
    coord: Coord


@dataclass(frozen=True)
class LayerCall:
    """One link of a chain: a layer name and its arguments as written."""

    name: str
    args: tuple[Argument, ...]
    coord: Coord

    def text(self) -> str:
        """The call as written, arguments normalised to single spaces."""
        parts = [self.name] + [(f"{a.key}=" if a.key else "") + a.value.text() for a in self.args]
        return " ".join(parts)


@dataclass(frozen=True)
class InputDecl:
    """`input NAME: TYPE`. `form` is image, vector, seq or tokens; `dims` the sample's sizes."""

    name: str
    form: str
    dims: tuple[int, ...]
    coord: Coord


@dataclass(frozen=True)
class OutputDecl:
    """`output NAME`, `output NAME: A | B | ...` (a classifier with class names) or
    `output NAME: from data` (a classifier whose classes are the training data's tags)."""

    name: str
    classes: tuple[str, ...] | None
    coord: Coord
    from_data: bool = False


@dataclass(frozen=True)
class ChainSyntax:
    """`source -> layer -> layer ...` as written; `NAME = source -> ...` sets `name` (the value
    it binds) and `name_coord`."""

    source: str
    source_coord: Coord
    layers: tuple[LayerCall, ...]
    name: str | None = None
    name_coord: Coord | None = None


@dataclass(frozen=True)
class SpecSyntax:
    """A whole parsed file."""

    file: str
    text: str
    model_name: str | None
    model_coord: Coord | None
    inputs: tuple[InputDecl, ...]
    outputs: tuple[OutputDecl, ...]
    chains: tuple[ChainSyntax, ...]
    train: tuple[LayerCall, ...] | None = None  # the train section's settings, if it has one
