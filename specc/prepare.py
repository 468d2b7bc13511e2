"""What a spec takes from data, resolved before a Network exists.

A spec whose onehot or wordhash has no vocabulary, or whose output is `from data`, is built with
tables: read here from the checkpoint its weights come from, else from its data (the train
section's `data`, a --data flag, else flights): the sentences' words, tags and labels, or the
class folders of a folder of images. The model is then built once, with
them, and a Network made from it never rebuilds itself. This module is the API's: the front end
(specc.build, specc.tables) is handed the sentences and never loads data. It imports no NumPy
until a spec needs data, so `specc check` stays cheap.
"""
from __future__ import annotations

from pathlib import Path

from .build import build
from .tables import DEFAULT_WORD_DATA, ClassesFromFolder, TablesFromData, needs_data
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
    source = data or settings.data or DEFAULT_WORD_DATA
    if weights is not None:
        tables = checkpoint_tables(weights)
    elif (any(decl.from_data for decl in syntax.outputs) and not Path(source).is_dir()
          and not any(decl.form == "tokens" for decl in syntax.inputs)):
        tables = None  # classes from data that has none for this spec: the build says what would work
    else:
        tables = tables_from_data(source, settings.seed if seed is None else seed, settings.validation,
                                  sentence_outputs(syntax))
    return build(syntax, tables, settings), tables


def tables_from_data(source: str, seed: int, validation: float,
                     sentence_outputs: frozenset = frozenset()) -> TablesFromData:
    """The tables of `source`: its class folders' names if it is a folder of images, else those
    of its sentences, split with `seed` and `validation`; `sentence_outputs` take the sentences'
    labels as classes, the other outputs their tags."""
    if Path(source).is_dir():
        from specc.runtime.data.images import list_images

        return ClassesFromFolder(source, seed, validation, list_images(source)[0])
    from specc.runtime.data.sentences import load_sentences

    return TablesFromData(source, seed, validation, load_sentences(source, seed, validation), sentence_outputs)


def sentence_outputs(syntax) -> frozenset:
    """The outputs that give one class per sentence, as written: those whose chain, or a value
    it starts from, takes `last` (the one layer that turns a sequence into a vector). A chain
    reaches the output it names at its end; with one output and one such chain, that one."""
    chains = {chain.name: chain for chain in syntax.chains if chain.name is not None}
    ends = [chain for chain in syntax.chains if chain.name is None]
    found = set()
    for chain in ends:
        named = chain.layers[-1].name if not chain.layers[-1].args else None
        output = named if any(o.name == named for o in syntax.outputs) else (
            syntax.outputs[0].name if len(syntax.outputs) == 1 and len(ends) == 1 else None)
        seen = set()
        while chain is not None and chain.source not in seen:
            if any(call.name == "last" for call in chain.layers):
                found.add(output)
                break
            seen.add(chain.source)
            chain = chains.get(chain.source)
    return frozenset(found - {None})


def checkpoint_tables(checkpoint):
    """The vocabularies and classes saved in a checkpoint (SavedTables; empty if it holds none).
    SpecError, naming the file, for anything but a checkpoint."""
    from specc.runtime.checkpoint import load_tables

    from .identity import SavedTables

    return load_tables(checkpoint) or SavedTables({}, {})
