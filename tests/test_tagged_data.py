"""Token/tag files, the built-in flights sentences, and conlleval-style slot scores."""
import warnings

import numpy as np
import pytest

from specc.runtime.data.flights import (CITIES, FLIGHT_TAGS, HELD_OUT_CITIES, TEMPLATES, load_flights,
                                  make_flights)
from specc.runtime.data.tagged import TaggedSentences, read_tagged
from specc.runtime.metrics import chunks, slot_scores, token_accuracy
from specc.errors import SpecError

SENTENCES = TaggedSentences(
    words=(("arrive", "Taipei", "on", "November", "2nd"), ("from", "New", "York"), ("at", "10:30", "am")),
    tags=(("O", "B-dest", "O", "B-time", "I-time"), ("O", "B-depart", "I-depart"), ("O", "B-time", "I-time")),
)


def write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_error(tmp_path, text, line, *words):
    """Reading `text` raises a SpecError at `file:line:` whose text holds each of `words`."""
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        read_tagged(path)
    message = str(caught.value)
    assert f"{path}:{line}:" in message if line else str(path) in message
    for word in words:
        assert word in message


# ---- reading files ----

def test_conll_round_trip_with_tabs_docstart_and_extra_blank_lines(tmp_path):
    blocks = ["\n".join(f"{w}\t{t}" for w, t in zip(words, tags)) for words, tags in zip(SENTENCES.words, SENTENCES.tags)]
    path = write(tmp_path, "-DOCSTART-\tO\n\n" + "\n\n\n".join(blocks) + "\n")
    assert read_tagged(path) == SENTENCES


def test_conll_with_spaces_takes_the_last_column_as_the_tag(tmp_path):
    path = write(tmp_path, "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n10:30 CD B-NP B-time")
    assert read_tagged(path) == TaggedSentences((("EU", "rejects"), ("10:30",)), (("B-ORG", "O"), ("B-time",)))


def test_word_tag_lines_round_trip_and_split_at_the_last_colon(tmp_path):
    lines = [" ".join(f"{w}:{t}" for w, t in zip(words, tags)) for words, tags in zip(SENTENCES.words, SENTENCES.tags)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert read_tagged(path) == SENTENCES
    assert read_tagged(path).words[2][1] == "10:30"


def test_atis_lines_drop_bos_eos_and_keep_the_intent_as_the_label(tmp_path):
    path = write(tmp_path, "BOS i:O want:O to:O fly:O to:O dallas:B-toloc.city_name EOS <=> atis_flight\n"
                           "BOS:O on:O april:B-depart_date.month_name EOS:O <=> atis_airfare\n"
                           "round:B-round_trip trip:I-round_trip <=> atis_flight#atis_airfare\n")
    assert read_tagged(path) == TaggedSentences(
        (("i", "want", "to", "fly", "to", "dallas"), ("on", "april"), ("round", "trip")),
        (("O",) * 5 + ("B-toloc.city_name",), ("O", "B-depart_date.month_name"), ("B-round_trip", "I-round_trip")),
        ("atis_flight", "atis_airfare", "atis_flight#atis_airfare"))


def test_style_can_be_given(tmp_path):
    path = write(tmp_path, "a:b c:d\n")
    assert read_tagged(path, style="line").words == (("a", "c"),)
    assert read_tagged(path, style="conll").tags == (("c:d",),)


def test_a_conll_line_without_a_tag_names_its_line(tmp_path):
    check_error(tmp_path, "arrive\tO\nTaipei\tB-dest\n\non\tO\nNovember\n", 5, "a token without a tag", "November")


def test_a_word_without_a_tag_names_its_line(tmp_path):
    check_error(tmp_path, "arrive:O Taipei:B-dest\nleave:O Beijing on:O\n", 2, "'Beijing' has no tag", "word:TAG")
    check_error(tmp_path, "arrive:O Taipei:B-dest\nleave:O :B-x\n", 2, "':B-x' has no tag")


def test_mismatched_column_counts_name_both_lines(tmp_path):
    check_error(tmp_path, "EU NNP B-ORG\nrejects VBZ O\n\nGerman B-MISC\n", 4, "2 columns, but line 1 has 3")


def test_empty_and_marker_only_inputs(tmp_path):
    check_error(tmp_path, "", None, "no tagged sentences", "an empty file")
    check_error(tmp_path, "\n\n-DOCSTART- O\n\n", None, "no tagged sentences")
    check_error(tmp_path, "a:O b:O <=> x\nBOS EOS <=> atis_flight\n", 2, "a sentence without words")
    with pytest.raises(SpecError, match="cannot read"):
        read_tagged(tmp_path / "missing.txt")


def test_the_error_points_at_the_item(tmp_path):
    path = write(tmp_path, "leave:O Beijing on:O\n")
    with pytest.raises(SpecError) as caught:
        read_tagged(path)
    assert f"{path}:1:9:" in str(caught.value)
    assert "^^^^^^^" in str(caught.value)


# ---- flights ----

def test_flights_sizes_determinism_and_tag_set():
    train, validation, test = load_flights(seed=0)
    assert (len(train), len(validation), len(test)) == (2000, 300, 300)
    again = load_flights(seed=0)
    assert again == (train, validation, test)
    other_seed = load_flights(seed=1)
    assert other_seed[0] != train and other_seed[2] == test
    used = {tag for split in (train, validation, test) for tags in split.tags for tag in tags}
    assert used == set(FLIGHT_TAGS) == {"other", "dest", "depart", "time"}


def test_the_lecture_sentences_are_in_training_with_their_tags():
    train, _, _ = load_flights(seed=3)
    tagged = {" ".join(words): " ".join(tags) for words, tags in zip(train.words, train.tags)}
    assert tagged["arrive Beijing on November 2nd"] == "other dest other time time"
    assert tagged["leave Beijing on November 2nd"] == "other depart other time time"
    assert tagged["from Taipei to Beijing"] == "other depart other dest"
    assert tagged["leave Beijing for Taipei tomorrow morning"] == "other depart other dest time time"


def test_a_city_takes_its_role_from_the_words_before_it():
    train, _, _ = load_flights(seed=0)
    roles = {}
    for words, tags in zip(train.words, train.tags):
        for i in range(1, len(words)):
            if tags[i] in ("dest", "depart") and tags[i - 1] == "other":
                roles.setdefault(words[i - 1], set()).add(tags[i])
    assert roles["arrive"] == roles["to"] == roles["in"] == {"dest"}
    assert roles["leave"] == roles["from"] == roles["leaving"] == {"depart"}
    beijing = {tag for words, tags in zip(train.words, train.tags) for w, tag in zip(words, tags) if w == "Beijing"}
    assert beijing == {"dest", "depart"}


def test_held_out_cities_only_in_the_test_set():
    train, validation, test = load_flights(seed=0)
    held = set(HELD_OUT_CITIES)
    assert not held & {w for part in CITIES for w in part.split()}
    assert not held & {w for template in TEMPLATES for w in template.split()}
    for split in (train, validation):
        assert not held & {w for words in split.words for w in words}
    seen_in_test = {w: t for words, tags in zip(test.words, test.tags) for w, t in zip(words, tags) if w in held}
    assert set(seen_in_test) == held


def test_make_flights_uses_the_cities_it_is_given():
    sentences = make_flights(50, np.random.default_rng(0), cities=("Lisbon", "Oslo"))
    places = {w for words, tags in zip(sentences.words, sentences.tags) for w, t in zip(words, tags)
              if t in ("dest", "depart")}
    assert places == {"Lisbon", "Oslo"}


# ---- metrics ----

def test_chunks_of_iob2_ill_formed_iob_and_plain_tags():
    assert chunks(["B-a", "I-a", "O", "I-a", "I-b", "B-b", "I-b"]) == [("a", 0, 2), ("a", 3, 4), ("b", 4, 5), ("b", 5, 7)]
    assert chunks(["I-a", "B-a", "B-a"]) == [("a", 0, 1), ("a", 1, 2), ("a", 2, 3)]
    plain = ["other", "dest", "dest", "O", "time", "depart", "depart"]
    assert chunks(plain) == [("dest", 1, 3), ("time", 4, 5), ("depart", 5, 7)]
    # conlleval -r: a prefix-less tag reads as I-tag
    assert chunks(plain) == chunks(["O" if t in ("O", "other") else f"I-{t}" for t in plain])


def test_slot_scores_by_hand():
    true = [["other", "dest", "other", "time", "time"], ["other", "depart", "other", "time", "time"]]
    # sentence 2: right span, wrong type (one false positive, one miss); its time is right
    pred = [["other", "dest", "other", "time", "time"], ["other", "dest", "other", "time", "time"]]
    assert slot_scores(true, pred) == (0.75, 0.75, 0.75)
    assert token_accuracy(true, pred) == 0.9
    # wrong span, right type: `time time` predicted as two chunks of one word
    assert slot_scores([["B-time", "I-time"]], [["B-time", "B-time"]]) == (0.0, 0.0, 0.0)
    # a partial chunk counts as wrong: 1 of 2 predicted right, 1 of 1 true found
    p, r, f = slot_scores([["O", "B-dest", "O"]], [["B-time", "B-dest", "O"]])
    assert (p, r) == (0.5, 1.0) and f == pytest.approx(2 / 3)
    assert slot_scores([["O", "O"]], [["O", "O"]]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        slot_scores([["O"]], [["O", "O"]])


def random_iob(rng, length):
    """Random IOB2 tags over types a, b, c: about half ill-formed (I- after O or another type)."""
    choices = ["O", "O", "B-a", "I-a", "B-b", "I-b", "B-c", "I-c"]
    return [choices[k] for k in rng.integers(len(choices), size=length)]


def test_slot_scores_match_seqeval_on_random_sequences():
    metrics = pytest.importorskip("seqeval.metrics")
    from seqeval.metrics.sequence_labeling import get_entities
    rng = np.random.default_rng(20261126)
    for trial in range(300):
        lengths = rng.integers(1, 12, size=rng.integers(1, 6))
        true = [random_iob(rng, n) for n in lengths]
        if trial % 2:  # half the predictions close to the truth, so scores are not all near 0
            pred = [[t if rng.random() < 0.8 else random_iob(rng, 1)[0] for t in tags] for tags in true]
        else:
            pred = [random_iob(rng, n) for n in lengths]
        for tags in true:
            assert chunks(tags) == [(kind, start, end + 1) for kind, start, end in get_entities(tags)]
        with warnings.catch_warnings():  # seqeval warns where a denominator is 0 (and gives 0, as we do)
            warnings.simplefilter("ignore")
            expected = (metrics.precision_score(true, pred), metrics.recall_score(true, pred),
                        metrics.f1_score(true, pred))
            accuracy = metrics.accuracy_score(true, pred)
        assert slot_scores(true, pred) == tuple(float(v) for v in expected), (true, pred)
        assert token_accuracy(true, pred) == accuracy

