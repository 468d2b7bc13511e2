"""The README stays true: every `specc` command it shows in a code block is one the command line
accepts (its subcommand, options and their values as argparse reads them), and every picture
it shows exists."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from specc.cli import make_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def shown_commands() -> list[str]:
    """Each line of a fenced code block that starts with `specc `, its comment cut off."""
    blocks = re.findall(r"^```\w*\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    lines = [re.split(r"\s#", line)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("specc ")]


def test_the_quick_start_shows_the_trained_network_and_starts_the_page():
    commands = shown_commands()
    assert "specc train specs/x_or_o.nn" in README.read_text(encoding="utf-8")
    assert any(c.startswith("specc show runs/x_or_o ") for c in commands)
    assert "specc play runs/x_or_o" in commands


@pytest.mark.parametrize("command", shown_commands())
def test_every_command_shown_is_accepted(command):
    try:
        make_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as error:  # argparse's way of refusing: exit status 2
        pytest.fail(f"the README shows `{command}`, which specc refuses (exit {error.code})")


def test_every_picture_shown_exists():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text(encoding="utf-8"))
    assert pictures
    assert [p for p in pictures if not (README.parent / p).is_file()] == []
