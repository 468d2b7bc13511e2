"""Text -> :class:`SpecSyntax`: the Lark parser, its newline rules, and syntax errors in words.

One rule for lines everywhere: only "\\n" ends a line ("\\r\\n" and a lone "\\r" are read as
"\\n", as Python reads text files); every other character, "\\f" or "\\u2028" included, belongs
to its line, so the line shown under an error is the line the parser counted.
"""
from __future__ import annotations

import bisect
import functools
import stat
import unicodedata
from pathlib import Path

from .errors import Coord, SpecError, source_lines
from .lists import ListError, read_list
from .syntax import (Argument, ChainSyntax, InputDecl, LayerCall, Literal, OutputDecl, SpecSyntax,
                     Value)

MAX_SPEC_BYTES = 64 * 2**20  # a spec is text; a larger file is a mistake (or not a spec at all)

# Terminal names as a user would say them, for "expected ..." lines.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "a whole number", "FLOAT": "a number", "DIMS": "a size like 3x3",
    "STRING": "a quoted string", "ARROW": "'->'", "_NL": "the end of the line", "$END": "the end of the file",
    "EQUAL": "'='", "COLON": "':'", "VBAR": "'|'", "LIST": "'['",
    "MODEL": "'model'", "INPUT": "'input'", "OUTPUT": "'output'", "SEQ": "'seq'", "TOKEN": "'token'",
    "TRAIN": "'train'",
}


class _NewlinePostLexer:
    """Drops the newlines that do not end a statement.

    A newline right after "->", or before a line that starts with "->", continues a chain.
    Runs of newlines collapse into one. (The newlines inside a [list] are part of its token.)
    """

    always_accept = ("_NL",)

    def process(self, stream):
        pending = None  # a newline held back until we see whether "->" follows
        after_arrow = False
        for token in stream:
            if token.type == "_NL":
                if not after_arrow and pending is None:
                    pending = token
                continue
            if pending is not None and token.type != "ARROW":
                yield pending
            pending = None
            after_arrow = token.type == "ARROW"
            yield token
        if pending is not None:
            yield pending


@functools.lru_cache(maxsize=1)
def _parser():
    """The LALR parser, built from the grammar on each run (about 25 ms).

    No cache: Lark's cache is a pickle in the shared temporary folder, and loading a pickle that
    another user can write runs their code.
    """
    import lark  # imported here: only parsing needs it
    from lark.lexer import BasicLexer

    from specc.grammar import grammar_text

    class ListLexer(BasicLexer):
        """Lark's basic lexer, except that a LIST token ("[") grows to the whole list, read by
        read_list; the token's value is read_list's Literal or tree, its text the list as written."""

        __future_interface__ = 2  # lex(lexer_state, parser_state), as BasicLexer itself

        def next_token(self, lex_state, parser_state=None):
            token = super().next_token(lex_state, parser_state)
            if token.type != "LIST":
                return token
            text = getattr(lex_state.text, "text", lex_state.text)  # a TextSlice from lark 1.3 on
            end, items = read_list(text, token.start_pos)
            counter = lex_state.line_ctr
            counter.feed(text[token.end_pos:end])
            whole = lark.Token("LIST", text[token.start_pos:end], token.start_pos, token.line, token.column,
                               counter.line, counter.column, end)
            whole.value = items
            lex_state.last_token = whole
            return whole

    return lark.Lark(grammar_text(), parser="lalr", lexer=ListLexer, postlex=_NewlinePostLexer(),
                     propagate_positions=True, maybe_placeholders=False)


class _Builder:
    """Turns the Lark tree into syntax dataclasses; one method per grammar alias."""

    def __init__(self, file: str, lines: list[str]):
        self.file = file
        self.lines = lines
        self._starts: list[int] | None = None  # offset of each line's first character

    def coord(self, line: int, column: int, width: int = 1) -> Coord:
        text_line = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Coord(self.file, line, column, width, text_line)

    def coord_at(self, start: int, end: int) -> Coord:
        """The Coord of text[start:end], its width cut at the end of its first line."""
        if self._starts is None:
            self._starts = [0]
            for text_line in self.lines:
                self._starts.append(self._starts[-1] + len(text_line) + 1)
        line = bisect.bisect_right(self._starts, start)
        line_end = self._starts[line] - 1 if line < len(self._starts) else end
        return self.coord(line, start - self._starts[line - 1] + 1, max(1, min(end, line_end) - start))

    def at(self, token) -> Coord:
        return self.coord(token.line, token.column, len(str(token)))

    def span(self, tree) -> Coord:
        meta = tree.meta
        width = meta.end_column - meta.column if meta.end_line == meta.line else 1
        return self.coord(meta.line, meta.column, width)

    # ---- values ----
    def value(self, tree) -> Value:
        kind = tree.data.removesuffix("_value")
        token = tree.children[0]
        if kind == "list":
            if isinstance(token.value, Literal):
                return Value("numbers", token.value, self.coord_at(token.start_pos, token.end_pos))
            return self.raw_value(token.value)
        return self.leaf(kind, str(token), self.at(token))

    def raw_value(self, item: tuple) -> Value:
        """A Value from read_list's tree: ("list", items, start, end) or (kind, text, start, end).
        Lists nest at most lists.MAX_DEPTH deep, so this recursion is bounded."""
        kind, content, start, end = item
        coord = self.coord_at(start, end)
        if kind == "list":
            return Value("list", tuple(self.raw_value(child) for child in content), coord)
        return self.leaf(kind, content, coord)

    @staticmethod
    def leaf(kind: str, text: str, coord: Coord) -> Value:
        """The Value of one token: int, float, dims, word or string."""
        convert = {"int": int, "float": float, "word": str, "string": lambda s: s[1:-1],
                   "dims": lambda s: tuple(int(d) for d in s.split("x"))}[kind]
        try:
            return Value(kind, convert(text), coord)
        except ValueError:  # int() refuses more than 4300 digits
            raise SpecError(f"a number of {len(text)} digits", coord, expected="a number of at most 4300 digits",
                            received=f"{text[:20]}...") from None

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

    def bound_chain(self, tree) -> ChainSyntax:
        """`NAME = SOURCE -> ...`: a chain whose result is the value NAME."""
        name, *rest = tree.children
        chain = self.chain(type(tree)("chain", rest, tree.meta))
        return ChainSyntax(chain.source, chain.source_coord, chain.layers, str(name), self.at(name))

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
        elif char == "]":
            hint = "this ']' closes no list: is its '[' missing?"
        elif char == ",":
            hint = "arguments are separated by spaces; commas separate the items of a [list]"
        elif not char.isprintable():
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            return SpecError(f"unexpected character {char!r} ({name})", coord,
                             hint="only a newline ends a line, and only spaces and tabs separate words; "
                                  "other characters may stand in comments and strings")
        return SpecError(f"unexpected character {char!r}", coord, hint=hint)
    expected = sorted({_TERMINAL_WORDS.get(t, repr(t)) for t in error.expected or ()})
    expected_text = ", ".join(expected) if expected else None
    token = error.token
    wants_value = "LIST" in (error.expected or ())  # only a value may start with '['
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


def _list_error(error: ListError, builder: _Builder) -> SpecError:
    """A mistake inside a [list], located at its offsets."""
    hint = error.hint
    if hint is None and error.open_at is not None:
        opened = builder.coord_at(error.open_at, error.open_at + 1)
        hint = f"the list opened at line {opened.line}, column {opened.column} is still open"
    return SpecError(error.message, builder.coord_at(error.start, error.end), expected=error.expected, hint=hint)


def source_text(text: str) -> str:
    """The text the parser reads: no byte-order mark, and "\\r\\n" or a lone "\\r" read as "\\n"
    (as Python reads a text file), so that only "\\n" ends a line."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse(text: str, file: str = "<spec>") -> SpecSyntax:
    """Parse the text of a .nn file. Raises SpecError with a position on any syntax error."""
    import lark

    text = source_text(text)
    lines = source_lines(text)
    builder = _Builder(file, lines)
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except lark.UnexpectedInput as error:
        raise _syntax_error(error, file, lines) from None
    except ListError as error:
        raise _list_error(error, builder) from None
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
            chains.append(getattr(builder, statement.data)(statement))
    return SpecSyntax(file, text, model_name, model_coord, tuple(inputs), tuple(outputs), tuple(chains), train)


def _read_spec(path: Path) -> bytes:
    """The bytes of a spec file; SpecError for a missing file, a folder, a device or a FIFO (which
    could block or never end), or a file too large to be a spec."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
            raise SpecError(f"{path} is {kind}, not a spec file", hint="give the path of a .nn file")
        if info.st_size > MAX_SPEC_BYTES:
            raise SpecError(f"{path} holds {info.st_size:,} bytes, too many for a spec",
                            expected=f"a .nn text file of at most {MAX_SPEC_BYTES:,} bytes",
                            hint="a spec is a small text file: is this the right path?")
        with path.open("rb") as stream:
            return stream.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"no such spec file: {path}", hint="check the path; specs end in .nn") from None
    except OSError as error:
        raise SpecError(f"cannot read {path}: {error.strerror or error}") from None


def _not_text(data: bytes, offset: int, message: str, file: str, hint: str) -> SpecError:
    """A SpecError at the byte `offset` of a spec that is not UTF-8 text: the line and column
    count the characters before it, and the line is shown with the bad bytes replaced."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    line_end = data.find(b"\n", offset)
    before = data[line_start:offset].decode("utf-8", errors="replace")
    shown = data[line_start:line_end if line_end >= 0 else len(data)].decode("utf-8", errors="replace")
    coord = Coord(file, data.count(b"\n", 0, offset) + 1, len(before) + 1, 1, shown)
    return SpecError(message, coord, hint=hint)


def decode_spec(data: bytes, file: str) -> str:
    """The text of a spec file's bytes: UTF-8 (a byte-order mark is allowed). A NUL byte, UTF-16
    or bytes that are not UTF-8 are a SpecError at the first bad byte's line and column."""
    utf8_hint = "save the file as UTF-8 text (most editors offer it under 'Save as' or 'Encoding')"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _not_text(data, 0, "the file is UTF-16 text, not UTF-8", file, utf8_hint)
    # the lines and columns of the parser's text (source_text): no mark, "\r\n" and "\r" as "\n"
    data = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if not 0 <= nul < error.start:
            raise _not_text(data, error.start, f"the file is not UTF-8 text (byte 0x{data[error.start]:02x}: "
                            f"{error.reason})", file, utf8_hint) from None
    if nul >= 0:
        raise _not_text(data, nul, "the file holds a NUL byte: it is binary, not a spec", file,
                        "give the .nn text file (a model or checkpoint is not a spec)")
    return text


def parse_file(path: str | Path) -> SpecSyntax:
    """Read and parse a .nn file; the file's name (as given) appears in every error."""
    path = Path(path)
    return parse(decode_spec(_read_spec(path), str(path)), str(path))
