"""Portable models: what `specc compile --portable` writes beside the graph, and how words become ids.

A portable model uses the default ONNX domain only (opset 17: no ai.onnx.ml, no onnxruntime
contrib ops), so OpenVINO, tract and onnx2torch run it as onnxruntime does. Where the default
export reads strings and writes class names, a portable model reads and writes integers, and
its metadata_props say how to map them:

- a `seq token` input read by `onehot` takes word ids, int64 (N, T): the word's index in the
  vocabulary (looked up lower-cased by specc.lowercase when the layer has `lowercase`), the
  unknown id len(vocabulary) for a word outside it, PADDING_ID (-1) after a sentence's end;
- one read by `wordhash` takes trigram ids, int64 (N, T, K): for each letter trigram of
  `#word#` in order (specc.trigrams.word_trigrams, repeats kept), its index in the trigram
  vocabulary, or the unknown id len(vocabulary) for a trigram outside it; rows padded with
  PADDING_ID to K (any K >= 1: the longest word's trigram count is enough); a padding word is
  all PADDING_ID. Every word has at least one trigram, so padding and words stay apart, and the
  model sums the weight rows of exactly the trigrams the NumPy interpreter counts.
  `specc.words.NAME` holds, as JSON, {"ids": "words" | "trigrams", "vocabulary": [...],
  "lowercase": bool, "unknown_id": V, "padding_id": -1};
- a classifier output NAME is followed by NAME_index, int64: the index of the highest score
  (-1 on padding for a tagger), whose names `specc.classes.NAME` holds as a JSON list.

`specc run` and specc.load_onnx read this metadata, map words to ids and indices to names, and
so print and return what the default export gives. Only NumPy and specc's core are imported here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .errors import SpecError
from .ir import Output
from .lowercase import lowercase
from .trigrams import trigram_index, word_trigrams

PADDING_ID = -1
MARKER = "specc.portable"  # present in a portable model's metadata, saying what it is
MARKER_TEXT = ("default ONNX domain only (opset 17): words in as int64 ids (specc.words.*), classes out as "
               "int64 indices (specc.classes.*)")
WORDS_KEY = "specc.words."
CLASSES_KEY = "specc.classes."


def index_output_name(output: str) -> str:
    """The graph output holding a classifier output's class indices."""
    return f"{output}_index"


@dataclass(frozen=True)
class WordIds:
    """How one input's words become ids: `ids` is 'words' (onehot) or 'trigrams' (wordhash)."""

    ids: str
    vocabulary: tuple[str, ...]
    lowercase: bool

    @property
    def unknown_id(self) -> int:
        return len(self.vocabulary)

    def to_json(self) -> str:
        return json.dumps({"ids": self.ids, "vocabulary": list(self.vocabulary), "lowercase": self.lowercase,
                           "unknown_id": self.unknown_id, "padding_id": PADDING_ID}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, name: str) -> "WordIds":
        """Read a `specc.words.NAME` entry; SpecError if it is not one specc wrote."""
        try:
            entry = json.loads(text)
            vocabulary = entry["vocabulary"]
            found = cls(entry["ids"], tuple(vocabulary), entry["lowercase"])
            # other runtimes read unknown_id and padding_id, specc the vocabulary's length: they must agree;
            # a repeated word would give its ids to one of its places only
            well_formed = (found.ids in ("words", "trigrams") and isinstance(found.lowercase, bool)
                           and isinstance(vocabulary, list) and all(isinstance(w, str) for w in vocabulary)
                           and len(set(vocabulary)) == len(vocabulary)
                           and type(entry["unknown_id"]) is int and entry["unknown_id"] == found.unknown_id
                           and type(entry["padding_id"]) is int and entry["padding_id"] == PADDING_ID)
        except (ValueError, KeyError, TypeError, RecursionError):
            well_formed = False
        if not well_formed:
            raise SpecError(f"the model's metadata entry {WORDS_KEY}{name} is damaged",
                            hint="compile the model again with specc compile --portable")
        return found

    def encode(self, words: np.ndarray) -> np.ndarray:
        """Words (N, T), padded with "", -> int64 ids: (N, T) word ids, or (N, T, K) trigram ids
        (K the most trigrams of any word, at least 1); see the module."""
        words = np.asarray(words, dtype=object)
        distinct, inverse = np.unique(words.reshape(-1), return_inverse=True)
        if self.ids == "words":
            index = {w: i for i, w in enumerate(self.vocabulary)}
            table = np.array([PADDING_ID if w == "" else index.get(lowercase(w) if self.lowercase else w,
                                                                    self.unknown_id) for w in distinct.tolist()],
                             dtype=np.int64)
            return table[inverse].reshape(words.shape)
        index = trigram_index(self.vocabulary)
        per_word = [[index.get(t, self.unknown_id) for t in word_trigrams(lowercase(w) if self.lowercase else w)]
                    for w in distinct.tolist()]
        table = np.full((len(per_word), max([1] + [len(ids) for ids in per_word])), PADDING_ID, dtype=np.int64)
        for row, ids in enumerate(per_word):
            table[row, :len(ids)] = ids
        return table[inverse].reshape(words.shape + (table.shape[1],))


def is_portable(metadata: Mapping[str, str]) -> bool:
    return MARKER in metadata


def word_inputs(metadata: Mapping[str, str]) -> dict[str, WordIds]:
    """Input name -> how its words become ids, for every word input of a portable model."""
    return {key[len(WORDS_KEY):]: WordIds.from_json(value, key[len(WORDS_KEY):])
            for key, value in metadata.items() if key.startswith(WORDS_KEY)}


def class_names(metadata: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Classifier output name -> its class names, for a portable model."""
    found = {}
    for key, value in metadata.items():
        if key.startswith(CLASSES_KEY):
            try:
                names = json.loads(value)
            except (ValueError, RecursionError):
                names = None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise SpecError(f"the model's metadata entry {key} is damaged", expected="a JSON list of class names",
                                hint="compile the model again with specc compile --portable")
            found[key[len(CLASSES_KEY):]] = tuple(names)
    return found


def encode_words(metadata: Mapping[str, str], inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inputs of a portable model with each word input's words (N, T) mapped to its ids."""
    encoders = word_inputs(metadata)
    return {name: encoders[name].encode(value) if name in encoders else value for name, value in inputs.items()}


def name_classes(metadata: Mapping[str, str], outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A portable model's outputs as the default export gives them: each NAME_index (int64)
    replaced by NAME_class, the class names ("" where the index is -1, on padding)."""
    named = dict(outputs)
    for output, names in class_names(metadata).items():
        index = named.pop(index_output_name(output), None)
        if index is not None and index.size and index.max() >= len(names):
            raise SpecError(f"the model's metadata entry {CLASSES_KEY}{output} is damaged: it names "
                            f"{len(names)} classes, but the model gives class {int(index.max())}",
                            hint="compile the model again with specc compile --portable")
        if index is not None:
            lookup = np.array(list(names) + [""], dtype=object)  # -1 picks the last: ""
            named[Output(output, names, None).class_output_name] = lookup[np.where(index < 0, -1, index)]
    return named


class WordsRunner:
    """A model runner (specc.runtime.onnx_runner.OnnxModel: inputs, outputs, word_inputs,
    metadata, run) seen through words: each word input of a portable model takes (N, T) words
    padded with "" and each NAME_index output comes back as NAME_class names, as from the default
    export; a default model's runner passes through unchanged."""

    def __init__(self, runner):
        self.runner = runner
        self.metadata = runner.metadata
        self.inputs = runner.inputs
        self.word_inputs = set(runner.word_inputs) | set(word_inputs(self.metadata))
        renamed = {index_output_name(output): Output(output, names, None).class_output_name
                   for output, names in class_names(self.metadata).items()}
        self.outputs = [renamed.get(name, name) for name in runner.outputs]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The outputs (named as self.outputs) for feeds of words and numbers."""
        return name_classes(self.metadata, self.runner.run(encode_words(self.metadata, feeds)))
