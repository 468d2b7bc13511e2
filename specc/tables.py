"""What a spec takes from its training data: onehot's words and the classes of
`output NAME: from data` (the tags of tagged words, the labels of labelled sentences, or the
class folders of a folder of images).

The vocabulary is part of the trained network, as its weights are: training writes it to the
checkpoint (as string arrays) and into the exported model (the LabelEncoder's keys), so a model
always reads words with the vocabulary its weights learned.
"""
from __future__ import annotations

from .errors import SpecError
from .vocabulary import tag_classes


class TablesFromData:
    """Vocabularies from the training split of a set of sentences, classes from all its tags
    (or, for an output that classifies whole sentences, from all its labels). The API reads the
    sentences (specc.prepare) and hands them here, so the front end never loads data: `splits`
    is (train, validation, test or None), each with `.words` (one list of strings per sentence),
    `.tags` (the same, or None) and `.labels` (one string per sentence, or None); `source`,
    `seed` and `validation` say how they were drawn. `sentence_outputs` are the outputs that
    give one class per sentence (specc.prepare.sentence_outputs)."""

    def __init__(self, source: str, seed: int, validation: float, splits: tuple,
                 sentence_outputs: frozenset = frozenset()):
        self.source, self.seed, self.validation, self.splits = source, seed, validation, splits
        self.sentence_outputs = sentence_outputs

    @property
    def drawn(self) -> tuple[str, int, float]:
        """(source, seed, validation): the draw of the sentences these tables come from."""
        return self.source, self.seed, self.validation

    def vocabulary(self, layer_id: str, kind, args) -> tuple[str, ...]:
        """The vocabulary of layer `layer_id` (of `kind`, with its bound `args`): from the
        training sentences, by the kind's own rule."""
        return kind.vocabulary_from(args, self.splits[0].words)

    def classes(self, output_name: str) -> tuple[str, ...]:
        """The class names of an `output NAME: from data`: the data's tags (vocabulary.tag_classes),
        or its sentences' labels (sorted) for an output that classifies sentences."""
        splits = [split for split in self.splits if split is not None]
        # every split's: a tag or label seen only in the test sentences is still a class to score
        if output_name in self.sentence_outputs:
            if any(split.labels is None for split in splits):
                raise SpecError(f"output {output_name} gives one class per sentence, and the data {self.source} "
                                "holds no label per sentence",
                                expected="label<TAB>sentence lines, or atis (whose sentences carry their intents)")
            return at_least_two(tuple(sorted({label for split in splits for label in split.labels})),
                                f"the data {self.source}", output_name, "label")
        if any(split.tags is None for split in splits):
            raise SpecError(f"output {output_name} gives a class per word, and the data {self.source} holds one "
                            "label per sentence, no tags", expected="a token/tag file",
                            hint=f"a sentence classifier takes one step per sentence: ... -> last -> dense -> "
                                 f"softmax -> {output_name}")
        return at_least_two(tag_classes(tags for split in splits for tags in split.tags),
                            f"the data {self.source}", output_name, "tag")


class ClassesFromFolder(TablesFromData):
    """The classes of `output NAME: from data` from a folder of images: its class folders'
    names, sorted (`classes`, read by specc.prepare); the draw is the run's, as for sentences."""

    def __init__(self, source: str, seed: int, validation: float, classes: tuple[str, ...]):
        super().__init__(source, seed, validation, ())
        self.folder_classes = classes

    def vocabulary(self, layer_id: str, kind, args) -> tuple[str, ...]:
        raise SpecError(f"the data {self.source} is a folder of images: it has no words for {kind.name}'s vocabulary",
                        hint="a folder of images is read by a spec whose input is an image, CxHxW")

    def classes(self, output_name: str) -> tuple[str, ...]:
        return at_least_two(self.folder_classes, f"the image folder {self.source}", output_name, "class folder")


def at_least_two(classes: tuple[str, ...], where: str, output_name: str, what: str) -> tuple[str, ...]:
    """`classes`, unless there are fewer than two (SpecError naming `where` and `what` they are)."""
    if len(classes) < 2:
        raise SpecError(f"{where} has {len(classes)} {what}{'s' if len(classes) != 1 else ''} for output "
                        f"{output_name}", expected=f"two or more distinct {what}s", hint=f"check the data's {what}s")
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
