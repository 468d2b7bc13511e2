"""The .nn grammar, shipped as package data so that a non-editable install finds it."""
from importlib.resources import files


def grammar_text() -> str:
    """Return the text of the Lark grammar for .nn files."""
    return files(__name__).joinpath("specc.lark").read_text(encoding="utf-8")
