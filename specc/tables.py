"""What a spec takes from its training data: onehot's words and the classes of
`output NAME: from data`.

The vocabulary is part of the trained network, as its weights are: training writes it to the
checkpoint (as string arrays) and into the exported model (the LabelEncoder's keys), so a model
always reads words with the vocabulary its weights learned.
"""
from __future__ import annotations

from .errors import SpecError
from .vocabulary import tag_classes


class TablesFromData:
    """Vocabularies from the training split of a tagged data set, classes from all its tags.
    The API reads the sentences (specc.prepare) and hands them here, so the front end never
    loads data: `splits` is (train, validation, test or None), each with `.words` and `.tags`
    (one list of strings per sentence); `source`, `seed` and `validation` say how they were drawn."""

    def __init__(self, source: str, seed: int, validation: float, splits: tuple):
        self.source, self.seed, self.validation, self.splits = source, seed, validation, splits

    @property
    def drawn(self) -> tuple[str, int, float]:
        """(source, seed, validation): the draw of the sentences these tables come from."""
        return self.source, self.seed, self.validation

    def vocabulary(self, layer_id: str, kind, args) -> tuple[str, ...]:
        """The vocabulary of layer `layer_id` (of `kind`, with its bound `args`): from the
        training sentences, by the kind's own rule."""
        return kind.vocabulary_from(args, self.splits[0].words)

    def classes(self, output_name: str) -> tuple[str, ...]:
        """The class names of an `output NAME: from data`: the data's tags (vocabulary.tag_classes)."""
        # every split's tags: a tag seen only in the test sentences is still a class to score
        classes = tag_classes(tags for split in self.splits if split is not None for tags in split.tags)
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


DEFAULT_WORD_DATA = "flights"  # where a word spec that names no data takes its tables
