"""The text of a spec as a user hands it over: how it is read (no pickled parser cache), how
long a literal list may be, how deep it may nest, and which bytes and characters are lines.

Every case goes through `specc check` (specc.cli.main) and asserts the exit code and the
rendered error: its location, the source line shown and the caret under it.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import specc.parse
from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent


def check(path: Path, capsys) -> tuple[int, str]:
    """`specc check PATH`: its exit code and everything it printed."""
    code = main(["check", str(path)])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def write(tmp_path: Path, data: bytes | str, name: str = "bad.nn") -> Path:
    """A spec file holding exactly `data` (text is written as UTF-8, its newlines untouched)."""
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def rendered(output: str, at: str, message: str, shown: str, caret: str) -> None:
    """The error is reported at `at` with `message`, then `shown` as its source line (with the
    line's number) and the caret line under it."""
    number = at.split(":")[-2]
    gutter = " " * len(number)
    assert f"{at}: error: {message}" in output, output
    assert f"    {number} | {shown}\n    {gutter} | {caret}\n" in output, output
    assert "Traceback" not in output


# ---- the parser: nothing loaded with pickle ----

def test_the_parser_is_built_without_a_pickled_cache(tmp_path, monkeypatch, capsys):
    """Lark's cache=True pickled the parser into $TMPDIR/.lark_cache_* and loaded it on every
    run: whoever could write there ran code as the user."""
    def refuse(*args, **kwargs):
        raise AssertionError("the parser loaded a pickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spec = write(tmp_path, "input x: 3\nx -> dense 2\n", "ok.nn")
    for _ in range(2):  # a second run would find a cache written by the first
        specc.parse._parser.cache_clear()
        assert check(spec, capsys)[0] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["ok.nn"]


# ---- literal lists: linear time, no recursion, mistakes located inside them ----

def test_a_million_literal_weights_are_read_in_seconds(tmp_path, capsys):
    """1000x1000 dense weights took 74 s and 1.1 GB; here about 1.5 s."""
    rows = ",\n".join("[" + ", ".join(f"{(r * 7 + c) % 13 - 6.5:g}" for c in range(1000)) + "]"
                      for r in range(1000))
    spec = write(tmp_path, f"input x: 1000\nx -> dense 1000 weights=[{rows}]\n", "big.nn")
    start = time.perf_counter()
    code, output = check(spec, capsys)
    assert code == 0, output
    assert time.perf_counter() - start < 15
    assert "dense units=1000 bias=true weights=[literal 1000x1000]" in output
    assert "Total params: 1,001,000" in output


def test_literal_numbers_in_every_form_keep_their_values_and_order():
    syntax = specc.parse.parse("input x: 4\nx -> dense 2 weights=[[1, -1.5e0, +.25, 2.,],  # first row\n"
                               "   [3E1,\n 4, -0, 6 # last\n ]] bias=[ 0.5 , -7 ]\n", "f.nn")
    weights, bias = (arg.value.value for arg in syntax.chains[0].layers[0].args[1:])
    assert weights.shape == (2, 4) and weights.values == (1, -1.5, 0.25, 2, 30, 4, 0, 6)
    assert bias.shape == (2,) and bias.values == (0.5, -7)


@pytest.mark.parametrize("depth", [400, 100_000])
def test_lists_nested_too_deep_are_refused_where_they_go_too_deep(tmp_path, capsys, depth):
    spec = write(tmp_path, "input x: 3\nx -> dense 2 weights=" + "[" * depth + "1" + "]" * depth + "\n")
    code, output = check(spec, capsys)
    assert code == 2
    assert "bad.nn:2:38: error: lists nest at most 16 deep\n" in output
    assert "\n      |                                      ^\n" in output


@pytest.mark.parametrize("second_row, at, message, caret", [
    ("[4, 5]]", "3:23", "rows of different lengths: this one has 2 numbers, the first has 3", "^^^^^^"),
    ("[4, 5, 1e999]]", "3:30", "1e999 is too large for a weight", "^^^^^"),
    ("[4, 5.0.1, 6]]", "3:27", "'5.0.1' is not a number", "^^^^^"),
    ("[4, five, 6]]", "3:27", "the word five in a list of numbers", "^^^^"),
    ("[]]", "3:23", "an empty list among numbers", "^^"),
    ("4]", "3:23", "a number where a list belongs", "^"),
    ("[4 5 6]]", "3:26", "unexpected '5' in a list", "^"),
])
def test_mistakes_inside_a_literal_list_are_located_exactly(tmp_path, capsys, second_row, at, message, caret):
    spec = write(tmp_path, f"input x: 3\nx -> dense 2 weights=[[1, 2, 3],\n                      {second_row}\n")
    code, output = check(spec, capsys)
    assert code == 2
    column = int(at.split(":")[1])
    rendered(output, f"bad.nn:{at}", message, f"                      {second_row}", " " * (column - 1) + caret)


def test_word_lists_take_any_word_and_span_lines(tmp_path, capsys):
    """A list is read as one token: the language's keywords are plain words inside it."""
    spec = write(tmp_path, 'input w: seq token\noutput tag: A | B\n'
                           'w -> onehot vocab=[model, input, "new york",  # keywords are words here\n'
                           '                   train, seq] -> dense\n', "words.nn")
    code, output = check(spec, capsys)
    assert code == 0, output
    assert "onehot vocab=[model, input, new york, train, seq]" in output


# ---- characters and bytes ----

def test_a_byte_order_mark_is_accepted_and_columns_do_not_count_it(tmp_path, capsys):
    code, output = check(write(tmp_path, "\ufeffinput x: 3\nx -> dense 2\n", "ok.nn"), capsys)
    assert code == 0, output
    code, output = check(write(tmp_path, "\ufeffinput x: 3 oops\nx -> dense 2\n"), capsys)
    assert code == 2
    rendered(output, "bad.nn:1:12", "unexpected name 'oops'", "input x: 3 oops", "           ^^^^")


LINE_LIKE = ["\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"]


@pytest.mark.parametrize("char", LINE_LIKE, ids=[f"U+{ord(c):04X}" for c in LINE_LIKE])
def test_only_a_newline_ends_a_line(tmp_path, capsys, char):
    """str.splitlines breaks at these characters and the grammar does not: a comment holding one
    showed the wrong source line (or none) under an error on a later line."""
    spec = write(tmp_path, f"input x: 3  # a{char}comment\nx -> dense 2 -> relu foo  # b{char}c\n")
    code, output = check(spec, capsys)
    assert code == 2
    # the character itself is shown as a space, so that the terminal neither breaks the line nor
    # moves the caret
    rendered(output, "bad.nn:2:22", "relu has no word 'foo'", "x -> dense 2 -> relu foo  # b c",
             "                     ^^^")


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_windows_and_old_mac_line_ends_count_as_newlines(tmp_path, capsys, newline):
    spec = write(tmp_path, newline.join(["input x: 3  # comment", "x -> dense 2 -> relu foo", ""]))
    code, output = check(spec, capsys)
    assert code == 2
    rendered(output, "bad.nn:2:22", "relu has no word 'foo'", "x -> dense 2 -> relu foo", "                     ^^^")


def test_a_line_separator_in_code_is_named(tmp_path, capsys):
    code, output = check(write(tmp_path, "input x: 3\nx -> dense 2\u2028-> relu\n"), capsys)
    assert code == 2
    rendered(output, "bad.nn:2:13", "unexpected character '\\u2028' (LINE SEPARATOR)", "x -> dense 2 -> relu",
             "            ^")


def test_a_file_that_is_not_utf8_is_located_at_its_first_bad_byte(tmp_path, capsys):
    code, output = check(write(tmp_path, b"input x: 3\r\nx -> dense 2  # caf\xe9 au lait\r\n"), capsys)
    assert code == 2
    rendered(output, "bad.nn:2:20", "the file is not UTF-8 text (byte 0xe9: invalid continuation byte)",
             "x -> dense 2  # caf\ufffd au lait", "                   ^")
    assert "hint: save the file as UTF-8 text" in output


def test_utf16_and_binary_files_are_named_as_such(tmp_path, capsys):
    code, output = check(write(tmp_path, "input x: 3\n".encode("utf-16")), capsys)
    assert code == 2
    assert "bad.nn:1:1: error: the file is UTF-16 text, not UTF-8" in output
    code, output = check(write(tmp_path, b"input x: 3\nx -> dense 2\x00\x01\x02\n"), capsys)
    assert code == 2
    rendered(output, "bad.nn:2:13", "the file holds a NUL byte: it is binary, not a spec", "x -> dense 2   ",
             "            ^")


def test_a_folder_or_a_fifo_given_as_the_spec_is_refused_at_once(tmp_path):
    """Reading a FIFO waited for ever for a writer (and /dev/zero never ends)."""
    os.mkfifo(tmp_path / "pipe.nn")
    (tmp_path / "folder.nn").mkdir()
    for name, kind in (("pipe.nn", "a device, FIFO or socket"), ("folder.nn", "a folder")):
        done = subprocess.run([sys.executable, "-m", "specc.cli", "check", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=20, cwd=ROOT)
        assert done.returncode == 2
        assert done.stderr == f"error: {tmp_path / name} is {kind}, not a spec file\n  hint: give the path of a .nn file\n"


def test_the_last_line_is_counted_as_the_parser_counts(tmp_path, capsys):
    code, output = check(write(tmp_path, "input x: 3  # no chain\u2028yet\n"), capsys)
    assert code == 2
    assert "bad.nn:1:1: error: the spec has no chain of layers" in output


def test_a_file_too_large_to_be_a_spec_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(specc.parse, "MAX_SPEC_BYTES", 1000)
    code, output = check(write(tmp_path, "# " + "x" * 1000 + "\n"), capsys)
    assert code == 2
    assert output.startswith(f"error: {tmp_path / 'bad.nn'} holds 1,003 bytes, too many for a spec\n"
                             "  expected: a .nn text file of at most 1,000 bytes\n")


def test_a_number_too_long_for_python_is_a_located_mistake(tmp_path, capsys):
    """int() refuses more than 4300 digits: that ValueError reached the catch-all."""
    code, output = check(write(tmp_path, "input x: 3\nx -> dense " + "1" * 5000 + "\n"), capsys)
    assert code == 2
    assert "bad.nn:2:12: error: a number of 5000 digits\n" in output
    assert "  expected: a number of at most 4300 digits\n" in output
