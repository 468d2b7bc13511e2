"""Layer signatures: which arguments a layer takes, and binding what the user wrote to them.

Binding happens once, when the IR is built; everything downstream reads the normalised values.
A layer's arguments may be written four ways: positional (`conv 3x3`), `key=value`,
`key value` (`stride 1`) and bare flags or words (`bidirectional`, `elman`, `ceil`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from .errors import Coord, SpecError, did_you_mean
from .identity import FromData  # re-exported: the layers read it from here
from .syntax import Argument, LayerCall, Literal, Value

REQUIRED = object()


class ArgTypeError(Exception):
    """A value of the wrong type or range; `expected` says what would work."""

    def __init__(self, expected: str):
        super().__init__(expected)
        self.expected = expected


# ---- value types: each turns a syntax Value into a normalised Python value ----

def positive_int(value: Value) -> int:
    if value.kind == "int" and value.value >= 1:
        return value.value
    raise ArgTypeError("a whole number of at least 1")


def size_pair(value: Value) -> tuple[int, int]:
    """`3` -> (3, 3); `3x2` -> (3, 2) (height x width)."""
    if value.kind == "int" and value.value >= 1:
        return (value.value, value.value)
    if value.kind == "dims" and len(value.value) == 2 and min(value.value) >= 1:
        return tuple(value.value)
    raise ArgTypeError("a size like 3 or 3x3 (height x width)")


def probability(value: Value) -> float:
    if value.kind in ("int", "float") and 0 <= value.value < 1:
        return float(value.value)
    raise ArgTypeError("a number from 0 up to (not including) 1")


def one_of(*words: str) -> Callable[[Value], str]:
    """A type that accepts exactly these words."""

    def convert(value: Value) -> str:
        if value.kind == "word" and value.value in words:
            return value.value
        raise ArgTypeError(" or ".join(words))

    convert.words = words
    return convert


def boolean(value: Value) -> bool:
    if value.kind == "word" and value.value in ("true", "false"):
        return value.value == "true"
    raise ArgTypeError("true or false")


def literal(value: Value) -> Literal:
    """A nested list of numbers -> Literal with its shape.

    The parser has already checked that such a list is rectangular (at the row that is not);
    any other list holds something besides numbers, or is empty.
    """
    if value.kind != "numbers":
        raise ArgTypeError("a nested list of numbers, like [[1, -1], [-1, 1]]")
    return value.value


def literal_or_flag(value: Value) -> Literal | bool:
    """`true`, `false` or a list of numbers (used by bias)."""
    if value.kind == "word":
        return boolean(value)
    try:
        return literal(value)
    except ArgTypeError:
        raise ArgTypeError("true, false or a list of numbers like [0.5, -1]") from None


def word_list(value: Value) -> tuple[str, ...]:
    """A list of distinct words or quoted strings: `[apple, bag, "new york"]`."""
    if value.kind == "list" and value.value and all(item.kind in ("word", "string") for item in value.value):
        words = tuple(item.value for item in value.value)
        if len(set(words)) == len(words):
            return words
        raise ArgTypeError("a list of distinct words: " + ", ".join(sorted({w for w in words if words.count(w) > 1}))
                           + " is given twice")
    raise ArgTypeError("a list of words, like [apple, bag, cat]")


# ---- signatures ----

@dataclass(frozen=True)
class Arg:
    """One argument a layer accepts.

    positional: may be given as a bare value, in signature order.
    flag: a bare `name` sets it to True (bool arguments only).
    any_word: positional, and takes any bare word (a data set's name), not only `words`.
    variadic: takes every such word, as a tuple in order (a merge's value names: `add a b`).
    `convert.words` (from one_of) may stand alone: `elman`, `ceil`, `same`.
    """

    name: str
    convert: Callable[[Value], Any]
    default: Any = REQUIRED
    doc: str = ""
    positional: bool = False
    flag: bool = False
    any_word: bool = False
    variadic: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        return getattr(self.convert, "words", ())


@dataclass(frozen=True)
class BoundArgs:
    """Normalised argument values (defaults filled in), which ones the user gave, and where."""

    values: Mapping[str, Any]
    given: frozenset
    coords: Mapping[str, Coord] = field(compare=False)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def describe_value(value: Any) -> str:
    """An argument value spelled as it would be written in a spec."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return "x".join(map(str, value))
    if isinstance(value, Literal):
        return value.text()
    if isinstance(value, FromData):
        return f"[{len(value)} from data]"
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _accepted(layer: str, signature: tuple[Arg, ...]) -> str:
    if not signature:
        return f"{layer} takes no arguments"
    return f"{layer} accepts " + ", ".join(a.name if a.flag else f"{a.name}=..." for a in signature)


def bind(call: LayerCall, signature: tuple[Arg, ...], layer_names=()) -> BoundArgs:
    """Bind the arguments of `call` to `signature`; raise SpecError naming what is accepted.

    `layer_names` lets a stray layer name (`conv 3x3 relu`) be told apart from a misspelling.
    """
    by_name = {a.name: a for a in signature}
    by_word = {w: a for a in signature for w in a.words}
    values: dict[str, Any] = {}
    coords: dict[str, Coord] = {}

    def put(arg: Arg, value: Value, coord: Coord) -> None:
        if arg.name in values and not arg.variadic:
            raise SpecError(f"{call.name}: argument '{arg.name}' is given twice", coord,
                            received=f"{arg.name} first at column {coords[arg.name].column}",
                            hint=f"keep one '{arg.name}'")
        try:
            converted = arg.convert(value)
        except ArgTypeError as error:
            close = did_you_mean(str(value.value), arg.words) if value.kind == "word" else None
            raise SpecError(f"{call.name}: '{arg.name}' cannot be {value.text()}", value.coord,
                            expected=f"{arg.name}: {error.expected}", received=value.text(),
                            hint=close or arg.doc or None) from None
        values[arg.name] = values.get(arg.name, ()) + (converted,) if arg.variadic else converted
        coords.setdefault(arg.name, coord)  # a variadic argument's first value

    def unknown(name: str, coord: Coord, as_key: bool) -> SpecError:
        suggestion = did_you_mean(name, list(by_name) + list(by_word))
        if not as_key and name in layer_names:
            suggestion = f"separate layers with '->': {call.name} ... -> {name}"
        kind = "argument" if as_key else "word"
        return SpecError(f"{call.name} has no {kind} '{name}'", Coord(
            coord.file, coord.line, coord.column, len(name), coord.text_line),
            expected=_accepted(call.name, signature), hint=suggestion)

    args: list[Argument] = list(call.args)
    positional = [a for a in signature if a.positional]
    i = 0
    while i < len(args):
        argument = args[i]
        value = argument.value
        if argument.key is not None:
            if argument.key not in by_name:
                raise unknown(argument.key, argument.coord, as_key=True)
            put(by_name[argument.key], value, argument.coord)
        elif value.kind == "word" and value.value in by_name:
            arg = by_name[value.value]
            following = args[i + 1] if i + 1 < len(args) else None
            if arg.flag:
                values_flag = Value("word", "true", value.coord)
                put(arg, values_flag, value.coord)
            elif following is not None and following.key is None and not (
                    following.value.kind == "word" and (following.value.value in by_name
                                                        or by_word.get(following.value.value, arg) is not arg)):
                put(arg, following.value, value.coord)  # `key value`, as in `stride 1`
                i += 1
            else:
                raise SpecError(f"{call.name}: '{value.value}' needs a value", value.coord,
                                expected=f"{value.value}=<{arg.doc or 'value'}> or '{value.value} VALUE'",
                                hint=f"for example {value.value}={describe_value(arg.default)}"
                                if arg.default not in (REQUIRED, None) else None)
        elif value.kind == "word" and value.value in by_word:
            put(by_word[value.value], value, value.coord)
        elif value.kind == "word":
            # a bare unknown word is a mistake, unless an argument takes any word; where it stands
            # for a free positional argument (`epochs ten`, `keep worst`), that argument's type
            # says what would work, unless the word is a layer or close to an argument's name
            takers = [a for a in positional if a.any_word and (a.name not in values or a.variadic)]
            free = [a for a in positional if a.name not in values]
            if takers:
                put(takers[0], value, value.coord)
            elif free and value.value not in layer_names and not did_you_mean(value.value, by_name):
                put(free[0], value, value.coord)
            else:
                raise unknown(value.value, value.coord, as_key=False)
        else:
            # a positional argument that only takes words (rnn's cell) never takes a number
            free = [a for a in positional if (a.name not in values or a.variadic)
                    and not (a.words and value.kind != "word")]
            if not free:
                raise SpecError(f"{call.name}: too many positional arguments at {value.text()}",
                                value.coord, expected=_accepted(call.name, signature),
                                hint="name the argument, as in key=value")
            put(free[0], value, value.coord)
        i += 1
    for arg in signature:
        if arg.name not in values:
            if arg.default is REQUIRED:
                raise SpecError(f"{call.name} needs '{arg.name}'", call.coord,
                                expected=_accepted(call.name, signature),
                                hint=f"give {arg.name}, as in {call.name} {arg.name}=...")
            values[arg.name] = arg.default
    ordered = {arg.name: values[arg.name] for arg in signature}
    return BoundArgs(MappingProxyType(ordered), frozenset(coords), MappingProxyType(coords))
