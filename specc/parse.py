"""Text -> :class:`SpecSyntax`: the Lark parser, its newline rules, and syntax errors in words."""
from __future__ import annotations

import functools
from pathlib import Path

from .errors import Coord, SpecError
from .syntax import (Argument, ChainSyntax, InputDecl, LayerCall, OutputDecl, SpecSyntax,
                     Value)

# Terminal names as a user would say them, for "expected ..." lines.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "a whole number", "FLOAT": "a number", "DIMS": "a size like 3x3",
    "STRING": "a quoted string", "ARROW": "'->'", "_NL": "the end of the line", "$END": "the end of the file",
    "EQUAL": "'='", "COLON": "':'", "VBAR": "'|'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "MODEL": "'model'", "INPUT": "'input'", "OUTPUT": "'output'", "SEQ": "'seq'", "TOKEN": "'token'",
    "TRAIN": "'train'",
}


class _NewlinePostLexer:
    """Drops the newlines that do not end a statement.

    A newline inside [...] is part of a literal list; a newline right after "->", or before a
    line that starts with "->", continues a chain. Runs of newlines collapse into one.
    """

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        pending = None  # a newline held back until we see whether "->" follows
        after_arrow = False
        for token in stream:
            if token.type == "_NL":
                if depth == 0 and not after_arrow and pending is None:
                    pending = token
                continue
            if pending is not None and token.type != "ARROW":
                yield pending
            pending = None
            depth += {"LSQB": 1, "RSQB": -1}.get(token.type, 0)
            after_arrow = token.type == "ARROW"
            yield token
        if pending is not None:
            yield pending


@functools.lru_cache(maxsize=1)
def _parser():
    import lark  # imported here: only parsing needs it
    from grammar import grammar_text

    # cache=True keeps the LALR tables in a temporary file: start-up drops from ~40 ms to ~3 ms
    return lark.Lark(grammar_text(), parser="lalr", lexer="basic", postlex=_NewlinePostLexer(),
                     propagate_positions=True, maybe_placeholders=False, cache=True)


class _Builder:
    """Turns the Lark tree into syntax dataclasses; one method per grammar alias."""

    def __init__(self, file: str, lines: list[str]):
        self.file = file
        self.lines = lines

    def coord(self, line: int, column: int, width: int = 1) -> Coord:
        text_line = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Coord(self.file, line, column, width, text_line)

    def at(self, token) -> Coord:
        return self.coord(token.line, token.column, len(str(token)))

    def span(self, tree) -> Coord:
        meta = tree.meta
        width = meta.end_column - meta.column if meta.end_line == meta.line else 1
        return self.coord(meta.line, meta.column, width)

    # ---- values ----
    def value(self, tree) -> Value:
        kind = tree.data.removesuffix("_value")
        if kind == "list":
            return Value("list", tuple(self.value(child) for child in tree.children), self.span(tree))
        token = tree.children[0]
        convert = {"int": int, "float": float, "word": str, "string": lambda s: s[1:-1],
                   "dims": lambda s: tuple(int(d) for d in s.split("x"))}[kind]
        return Value(kind, convert(str(token)), self.at(token))

    def argument(self, tree) -> Argument:
        if tree.data == "keyword_arg":
            key, value = tree.children
            return Argument(str(key), self.value(value), self.at(key))
        value = self.value(tree.children[0])
        return Argument(None, value, value.coord)

    # ---- statements ----
    def layer(self, tree) -> LayerCall:
        name, *args = tree.children
        return LayerCall(str(name), tuple(self.argument(a) for a in args), self.at(name))

    def chain(self, tree) -> ChainSyntax:
        source, *rest = tree.children
        layers = tuple(self.layer(child) for child in rest if not isinstance(child, type(source)))
        return ChainSyntax(str(source), self.at(source), layers)

    def input_decl(self, tree) -> InputDecl:
        name, type_tree = tree.children
        if type_tree.data == "token_type":
            return InputDecl(str(name), "tokens", (), self.at(name))
        size = str(type_tree.children[0])
        dims = tuple(int(d) for d in size.split("x"))
        form = {"image_type": "image", "vector_type": "vector", "seq_type": "seq"}[type_tree.data]
        return InputDecl(str(name), form, dims, self.at(name))

    def output_decl(self, tree) -> OutputDecl:
        name, *classes = tree.children
        names = tuple(str(c).strip('"') for c in classes) or None
        return OutputDecl(str(name), names, self.at(name))

    def output_from_data(self, tree) -> OutputDecl:
        name, first, second = tree.children
        if (str(first), str(second)) != ("from", "data"):
            raise SpecError(f"output {name}: '{first} {second}' is neither class names nor 'from data'",
                            self.at(first), expected="class names separated by | (A | B), or: from data",
                            received=f"{first} {second}", hint="separate class names with |")
        return OutputDecl(str(name), None, self.at(name), from_data=True)


def _code_end(lines: list[str], before_line: int) -> tuple[int, int]:
    """(line, column) just after the last code on or before `before_line`: comments, blank
    lines and trailing spaces skipped, so an error at a line's end points where code stopped."""
    for line in range(min(before_line, len(lines)), 0, -1):
        code = lines[line - 1].split("#", 1)[0].rstrip()
        if code:
            return line, len(code) + 1
    return 1, 1


def _syntax_error(error, file: str, lines: list[str]) -> SpecError:
    """Lark's exception turned into a SpecError with the expected tokens in words."""
    import lark

    builder = _Builder(file, lines)
    if isinstance(error, lark.UnexpectedCharacters):
        # The lexer cannot know what the parser wanted here, so the hint carries the advice.
        char = error.char
        coord = builder.coord(error.line, error.column)
        hint = "names, numbers, sizes like 3x3, '->', '=', ':', '|' and [lists] make up a spec"
        if char == "-":
            hint = "a chain links layers with '->'"
        elif char in "({":
            hint = "literal weights are written as nested lists in [ ]"
        return SpecError(f"unexpected character {char!r}", coord, hint=hint)
    expected = sorted({_TERMINAL_WORDS.get(t, repr(t)) for t in error.expected or ()})
    expected_text = ", ".join(expected) if expected else None
    token = error.token
    wants_value = "LSQB" in (error.expected or ())  # only a value may start with '['
    value_hint = "an argument written with '=' needs a value, as in stride=2"
    if token.type == "$END":
        coord = builder.coord(*_code_end(lines, len(lines)))
        return SpecError("unexpected end of file", coord, expected=expected_text,
                         hint=value_hint if wants_value else "a chain must end with a layer, not with '->'")
    if token.type == "_NL":
        coord = builder.coord(*_code_end(lines, token.line))
        return SpecError("the line ends too early", coord, expected=expected_text,
                         hint=value_hint if wants_value else
                         "finish the statement on this line, or end the line with '->' to continue a chain")
    hint = None
    if token.type == "ARROW" and any(line.strip() == "train" for line in lines[:token.line - 1]):
        hint = "the train section ends the spec: write chains above the 'train' line"
    elif wants_value:
        hint = value_hint
    elif token.type == "ARROW" and "NAME" in (error.expected or ()):
        hint = "a layer name must follow '->'"
    elif token.type in ("NAME", "INT", "DIMS", "FLOAT") and "ARROW" in (error.expected or ()):
        from .training import SETTINGS

        first_word = lines[token.line - 1].split()[0] if lines[token.line - 1].split() else ""
        hint = ("settings belong in the train section at the end: a line 'train', then one setting a line"
                if first_word in SETTINGS else "separate layers with '->'")
    what = _TERMINAL_WORDS.get(token.type, token.type).removeprefix("a ")
    if not what.startswith("'"):
        what = f"{what} {str(token)!r}"
    return SpecError(f"unexpected {what}",
                     builder.at(token), expected=expected_text, hint=hint)


def parse(text: str, file: str = "<spec>") -> SpecSyntax:
    """Parse the text of a .nn file. Raises SpecError with a position on any syntax error."""
    import lark

    lines = text.splitlines()
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except lark.UnexpectedInput as error:
        raise _syntax_error(error, file, lines) from None
    builder = _Builder(file, lines)
    model_name = model_coord = train = None
    inputs, outputs, chains = [], [], []
    for statement in tree.children:
        if statement.data == "model_decl":
            if model_name is not None:
                raise SpecError("the model is named twice", builder.at(statement.children[0]),
                                received=f"model {statement.children[0]} after model {model_name}",
                                hint=f"keep one 'model' line (first at line {model_coord.line})")
            model_name, model_coord = str(statement.children[0]), builder.at(statement.children[0])
        elif statement.data == "input_decl":
            inputs.append(builder.input_decl(statement))
        elif statement.data in ("output_decl", "output_from_data"):
            outputs.append(getattr(builder, statement.data)(statement))
        elif statement.data == "train_section":
            train = tuple(builder.layer(setting) for setting in statement.children)
        else:
            chains.append(builder.chain(statement))
    return SpecSyntax(file, text, model_name, model_coord, tuple(inputs), tuple(outputs), tuple(chains), train)


def parse_file(path: str | Path) -> SpecSyntax:
    """Read and parse a .nn file; the file's name (as given) appears in every error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"no such spec file: {path}", hint="check the path; specs end in .nn") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read {path}: {error}") from None
    return parse(text, str(path))
