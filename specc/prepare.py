"""What a spec takes from data, resolved before a Network exists.

A spec whose onehot or wordhash has no vocabulary, or whose output is `from data`, is built with
tables: read here from the checkpoint its weights come from, else from the sentences of its data
(the train section's `data`, a --data flag, else flights). The model is then built once, with
them, and a Network made from it never rebuilds itself. This module is the API's: the front end
(specc.build, specc.tables) is handed the sentences and never loads data. It imports no NumPy
until a spec needs data, so `specc check` stays cheap.
"""
from __future__ import annotations

from .build import build
from .tables import DEFAULT_WORD_DATA, TablesFromData, needs_data
from .training import bind_section


def build_model(syntax, data: str | None = None, seed: int | None = None, weights=None):
    """Build a parsed spec with what it takes from data. Returns (model, tables or None).

    `weights`: a checkpoint whose saved vocabularies and classes the spec takes (its data is
    then not read). Else the sentences of `data` (default: the train section's data, else
    flights), split with `seed` (default: the train section's) and its validation fraction.
    """
    if not needs_data(syntax):
        return build(syntax), None
    settings = bind_section(syntax.train)  # read once here for the data, handed to build
    if weights is not None:
        tables = checkpoint_tables(weights)
    else:
        tables = tables_from_data(data or settings.data or DEFAULT_WORD_DATA,
                                  settings.seed if seed is None else seed, settings.validation)
    return build(syntax, tables, settings), tables


def tables_from_data(source: str, seed: int, validation: float) -> TablesFromData:
    """The tables of the sentences of `source`, split with `seed` and `validation`."""
    from specc.runtime.data.sentences import load_sentences

    return TablesFromData(source, seed, validation, load_sentences(source, seed, validation))


def checkpoint_tables(checkpoint):
    """The vocabularies and classes saved in a checkpoint (SavedTables; empty if it holds none).
    SpecError, naming the file, for anything but a checkpoint."""
    from specc.runtime.checkpoint import load_tables

    from .identity import SavedTables

    return load_tables(checkpoint) or SavedTables({}, {})
