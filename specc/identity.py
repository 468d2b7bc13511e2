"""What trained weights mean, beyond their values: the architecture fingerprint a checkpoint
carries, and the tables (vocabularies, class names) a model took from its data and saves with
its weights.

Core: the front end makes these values, the NumPy back end writes and checks them in
checkpoints; neither imports the other for them.
"""
from __future__ import annotations

from typing import Mapping

from .errors import SpecError


class FromData(tuple):
    """A vocabulary taken from the training data rather than written in the spec."""


class SavedTables:
    """Vocabularies and classes as saved with trained weights (checkpoint or ONNX model)."""

    def __init__(self, vocabularies: Mapping[str, tuple[str, ...]], classes: Mapping[str, tuple[str, ...]]):
        self.vocabularies, self.class_names = dict(vocabularies), dict(classes)

    def vocabulary(self, layer_id: str, kind, args) -> FromData:
        """The saved vocabulary of layer `layer_id`; SpecError if there is none."""
        if layer_id not in self.vocabularies:
            raise SpecError(f"the saved weights have no vocabulary for {layer_id}",
                            hint="the checkpoint was written for another spec")
        return FromData(self.vocabularies[layer_id])

    def classes(self, output_name: str) -> tuple[str, ...]:
        """The saved class names of an output; SpecError if there are none."""
        if output_name not in self.class_names:
            raise SpecError(f"the saved weights have no classes for output {output_name}",
                            hint="the checkpoint was written for another spec")
        return self.class_names[output_name]


def saved_tables(model) -> SavedTables:
    """The tables a built model took from data, to save with its weights."""
    vocabularies = {layer.id: layer.attrs.vocabulary for layer in model.layers
                    if isinstance(layer.args.values.get("vocab"), FromData)}
    classes = {output.name: output.classes for output in model.outputs if output.classes}
    return SavedTables(vocabularies, classes)


def architecture_fingerprint(model) -> str:
    """A hash of what the weights mean: layer kinds, normalised attributes and weight shapes,
    in order. Comments, spacing and line numbers do not change it, so a checkpoint still
    loads after the spec is reformatted, and is refused by a different network."""
    import hashlib
    import json

    description = [[layer.kind, sorted((k, repr(v)) for k, v in layer.attrs.written().items()),
                    [[w.name, list(w.shape)] for w in layer.weights]] for layer in model.layers]
    return hashlib.sha256(json.dumps(description).encode()).hexdigest()[:16]
