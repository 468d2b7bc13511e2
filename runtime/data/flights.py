"""The built-in flights data (seed-examples §5): airline-travel requests tagged with slots.

Sentences come from templates such as `leave {depart} for {dest} {when}`, whose words are tagged
`other` and whose slots are filled with cities, dates and times. The tags are plain slot names
(no B-/I- prefixes; a run of equal tags is one slot, see specc.runtime.metrics):

- `dest`: the city the traveller flies to, every word of it (`New York` -> `dest dest`);
- `depart`: the city the traveller leaves from;
- `time`: when, as in the lecture: dates (`November 2nd`), days (`Monday`, `tomorrow`) and times
  of day (`5 pm`, `morning`), every word of them;
- `other`: everything else, prepositions included (`on November 2nd` -> `other time time`).

The lecture's point is that a city's tag depends on the words before it (`arrive Beijing` vs
`leave Beijing`, `from Taipei to Beijing`), so the templates put every city after words that
decide its role, in either order. HELD_OUT_CITIES never appear in the training and validation
sentences; the fixed test set draws its cities from both lists, so it measures how a model tags
a city it has never seen.
"""
from __future__ import annotations

import numpy as np

from .tagged import TaggedSentences

FLIGHT_TAGS = ("other", "dest", "depart", "time")
TRAIN_SIZE, VALIDATION_SIZE, TEST_SIZE = 2000, 300, 300
TEST_SEED = 20261126
# The test stream gets a spawn key that no plain `seed` produces, so no run trains on it.
TEST_STREAM = np.random.SeedSequence(TEST_SEED, spawn_key=(5,))

CITIES = ("Beijing", "Taipei", "Tokyo", "Seoul", "Shanghai", "Singapore", "Bangkok", "Manila", "Sydney",
          "London", "Paris", "Berlin", "Madrid", "Rome", "Amsterdam", "Vienna", "Dublin", "Chicago",
          "Boston", "Seattle", "Dallas", "Atlanta", "Toronto", "Vancouver", "New York", "Hong Kong",
          "San Francisco", "Los Angeles")
# No word of these is a word of CITIES or of any template.
HELD_OUT_CITIES = ("Lisbon", "Nairobi", "Osaka", "Denver", "Hanoi", "Santiago", "Oslo", "Auckland")

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PARTS_OF_DAY = ("morning", "afternoon", "evening", "night")

# The lecture's sentences, first in every training set (seed-examples §5).
LECTURE = (
    ("arrive Beijing on November 2nd", "other dest other time time"),
    ("leave Beijing on November 2nd", "other depart other time time"),
    ("from Taipei to Beijing", "other depart other dest"),
    ("leave Beijing for Taipei tomorrow morning", "other depart other dest time time"),
)

# Words are tagged `other`; {dest} and {depart} are cities; {date} (`November 2nd`), {day}
# (`Monday`), {clock} (`5 pm`) and {when} (any of them with its preposition, or
# `tomorrow morning`) are `time` with their prepositions `other`.
TEMPLATES = (
    "arrive {dest} on {date}",
    "leave {depart} on {date}",
    "arrive in {dest} {when}",
    "leave {depart} {when}",
    "from {depart} to {dest}",
    "to {dest} from {depart}",
    "from {depart} to {dest} {when}",
    "leave {depart} for {dest} {when}",
    "leave {depart} and arrive in {dest} {when}",
    "arrive in {dest} from {depart} {when}",
    "I want to fly from {depart} to {dest} on {date}",
    "I want to fly to {dest} from {depart} on {day}",
    "fly to {dest} {when}",
    "fly from {depart} {when}",
    "show me flights from {depart} to {dest} {when}",
    "show me flights to {dest} leaving {depart} on {date}",
    "a flight leaving {depart} at {clock} arriving in {dest} at {clock}",
    "depart {depart} at {clock} on {day}",
    "I need to get to {dest} before {clock} on {date}",
    "book a ticket from {depart} to {dest} for {day}",
    "is there a flight to {dest} {when}",
    "which flights go from {depart} to {dest} on {date}",
    "return from {depart} to {dest} {when}",
    "going to {dest} on {date}",
    # no city: after `arrive` or `leave` may come a time as well as a city, so the word itself,
    # not only the words before it, says which it is
    "arrive {when}",
    "leave {when}",
)


def load_flights(seed: int = 0) -> tuple[TaggedSentences, TaggedSentences, TaggedSentences]:
    """(train, validation, test): the lecture's sentences and 1,996 more, then 300, drawn with
    `seed` from CITIES; and the fixed 300 test sentences, the same for every seed, whose cities
    come from CITIES and HELD_OUT_CITIES."""
    rng = np.random.default_rng(seed)
    lecture = TaggedSentences(tuple(tuple(w.split()) for w, _ in LECTURE), tuple(tuple(t.split()) for _, t in LECTURE))
    drawn = make_flights(TRAIN_SIZE - len(lecture), rng)
    train = TaggedSentences(lecture.words + drawn.words, lecture.tags + drawn.tags)
    validation = make_flights(VALIDATION_SIZE, rng)
    test = make_flights(TEST_SIZE, np.random.default_rng(TEST_STREAM), cities=CITIES + HELD_OUT_CITIES)
    return train, validation, test


def make_flights(n: int, rng: np.random.Generator, cities: tuple[str, ...] = CITIES) -> TaggedSentences:
    """`n` sentences, each from a template chosen at random and filled from `cities` (the two
    cities of a sentence differ), months, days and times; tags are FLIGHT_TAGS names."""
    if len(cities) < 2:
        raise ValueError("make_flights needs at least two cities")
    words, tags = [], []
    for _ in range(n):
        sentence = fill(TEMPLATES[rng.integers(len(TEMPLATES))], rng, cities)
        words.append(tuple(w for w, _ in sentence))
        tags.append(tuple(t for _, t in sentence))
    return TaggedSentences(tuple(words), tuple(tags))


def fill(template: str, rng: np.random.Generator, cities: tuple[str, ...]) -> list[tuple[str, str]]:
    """A template's (word, tag) pairs, its slots filled at random."""
    first, second = rng.choice(len(cities), size=2, replace=False)
    places = {"{depart}": (cities[first], "depart"), "{dest}": (cities[second], "dest")}
    sentence = []
    for word in template.split():
        if word in places:
            city, tag = places[word]
            sentence += [(part, tag) for part in city.split()]
        elif word in SLOTS:
            sentence += SLOTS[word](rng)
        else:
            sentence.append((word, "other"))
    return sentence


# ---- times and dates: (word, tag) pairs ----

def _date(rng: np.random.Generator) -> list[tuple[str, str]]:
    """`November 2nd`"""
    day = int(rng.integers(1, 29))
    return [(str(rng.choice(MONTHS)), "time"), (_ordinal(day), "time")]


def _day(rng: np.random.Generator) -> list[tuple[str, str]]:
    """`Monday`"""
    return [(str(rng.choice(WEEKDAYS)), "time")]


def _clock(rng: np.random.Generator) -> list[tuple[str, str]]:
    """`5 pm`, `10:30 am`, `noon`"""
    if rng.random() < 0.1:
        return [(str(rng.choice(("noon", "midnight"))), "time")]
    hour = str(rng.integers(1, 13)) + str(rng.choice(("", ":15", ":30", ":45"), p=(0.7, 0.1, 0.1, 0.1)))
    return [(hour, "time"), (str(rng.choice(("am", "pm"))), "time")]


def _when(rng: np.random.Generator) -> list[tuple[str, str]]:
    """`on November 2nd`, `on Monday`, `at 5 pm`, `tomorrow morning`, `next Friday`, `tonight`"""
    kind = int(rng.integers(6))
    if kind == 0:
        return [("on", "other")] + _date(rng)
    if kind == 1:
        return [("on", "other")] + _day(rng)
    if kind == 2:
        return [("at", "other")] + _clock(rng)
    if kind == 3:
        return [(str(rng.choice(("tomorrow", "Monday", "Friday"))), "time"),
                (str(rng.choice(PARTS_OF_DAY)), "time")]
    if kind == 4:
        return [("next", "time"), (str(rng.choice(WEEKDAYS)), "time")]
    return [(str(rng.choice(("today", "tonight", "tomorrow"))), "time")]


def _ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'"""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


SLOTS = {"{date}": _date, "{day}": _day, "{clock}": _clock, "{when}": _when}
