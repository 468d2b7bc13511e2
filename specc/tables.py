"""What a spec takes from its training data: onehot's words and the classes of
`output NAME: from data`.

The vocabulary is part of the trained network, as its weights are: training writes it to the
checkpoint (as string arrays) and into the exported model (the LabelEncoder's keys), so a model
always reads words with the vocabulary its weights learned.
"""
from __future__ import annotations

from functools import cached_property

from .errors import SpecError
from .vocabulary import tag_classes


class TablesFromData:
    """Vocabularies from the training split of a tagged data set, classes from all its tags;
    the sentences are read on first use (a spec that needs no table never reads them)."""

    def __init__(self, source: str, seed: int = 0, validation: float = 0.1):
        self.source, self.seed, self.validation = source, seed, validation

    @cached_property
    def sentences(self):
        """(train, validation, test or None) TaggedSentences."""
        from specc.runtime.data.sentences import load_sentences

        return load_sentences(self.source, self.seed, self.validation)

    def vocabulary(self, layer_id: str, kind, args) -> tuple[str, ...]:
        """The vocabulary of layer `layer_id` (of `kind`, with its bound `args`): from the
        training sentences, by the kind's own rule."""
        return kind.vocabulary_from(args, self.sentences[0].words)

    def classes(self, output_name: str) -> tuple[str, ...]:
        """The class names of an `output NAME: from data`: the data's tags (vocabulary.tag_classes)."""
        # every split's tags: a tag seen only in the test sentences is still a class to score
        classes = tag_classes(tags for split in self.sentences if split is not None for tags in split.tags)
        if len(classes) < 2:
            raise SpecError(f"the data {self.source} has {len(classes)} tag for output {output_name}",
                            expected="two or more distinct tags", hint="check the data's tag column")
        return classes


def needs_data(syntax) -> bool:
    """Whether building the spec takes anything from training data."""
    from .layers import REGISTRY
    from .signature import bind

    if any(decl.from_data for decl in syntax.outputs):
        return True
    for chain in syntax.chains:
        for call in chain.layers:
            kind = REGISTRY.get(call.name)
            arg = getattr(kind, "vocabulary_arg", None)
            if arg and bind(call, kind.signature, REGISTRY)[arg] is None:
                return True
    return False


DEFAULT_WORD_DATA = "flights"


def build_with_data(syntax, data: str | None = None, seed: int | None = None):
    """Build a parsed spec, taking its vocabularies and classes, if it needs any, from `data`
    (default: the train section's data, else flights), drawn with `seed` (default: the train
    section's, else 0). Returns (model, tables or None)."""
    from .build import build
    from .training import settings_from_spec

    if not needs_data(syntax):
        return build(syntax), None
    spec_settings = settings_from_spec(syntax.train)
    tables = TablesFromData(data or spec_settings.get("data") or DEFAULT_WORD_DATA,
                            spec_settings.get("seed", 0) if seed is None else seed,
                            spec_settings.get("validation", 0.1))
    return build(syntax, tables), tables
