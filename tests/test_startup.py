"""The cheap path of `specc check` (issue 13: under 0.25 s for every spec in specs/, timed by
bench/startup_bench.py, not here): it imports neither NumPy nor onnx nor onnxruntime for any spec,
word specs included, and the flights sentences it reads come from the user's cache
(runtime/data/cache.py) only when the cache is sound: never stale, damaged or planted."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from specc.parse import parse_file
from specc.prepare import build_model
from specc.runtime.data import cache
from specc.runtime.data.flights import load_flights
from specc.runtime.data.tagged import TaggedSentences

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.nn"))
HEAVY = ("numpy", "onnx", "onnxruntime")


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> Path:
    """An empty XDG cache folder of this test's own; returns where flights' files go in it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "specc"


def test_check_imports_no_numpy_onnx_or_onnxruntime_for_any_spec(cache_home):
    for spec in SPECS:  # what a user's first run leaves: flights drawn once and cached
        build_model(parse_file(str(spec)))
    code = ("import contextlib, io, json, sys\nfrom specc.cli import main\nfound = {}\n"
            "for spec in sys.argv[1:]:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n        status = main(['check', spec])\n"
            f"    found[spec] = [status] + sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
            "print(json.dumps(found))")
    child = subprocess.run([sys.executable, "-c", code, *map(str, SPECS)], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "XDG_CACHE_HOME": str(cache_home.parent)})
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.splitlines()[-1]) == {str(spec): [0] for spec in SPECS}


# ---- the flights cache ----

def test_a_miss_draws_and_keeps_the_sentences_and_a_hit_gives_them_back_equal(cache_home):
    drawn = load_flights(3)
    assert cache.cached_flights(3) == drawn
    assert (cache_home / "flights-3.json").is_file()
    assert oct(cache_home.stat().st_mode & 0o777) == "0o700"
    assert cache.read_splits(cache_home / "flights-3.json", cache.flights_key(3)) == drawn
    assert cache.cached_flights(3) == drawn


def test_the_key_changes_with_the_seed_the_generator_and_numpy(tmp_path, monkeypatch):
    key = cache.flights_key(0)
    assert cache.flights_key(1) != key
    changed = tmp_path / "flights.py"
    changed.write_bytes(cache.GENERATOR.read_bytes() + b"\n# one more city\n")
    monkeypatch.setattr(cache, "GENERATOR", changed)
    assert cache.flights_key(0) != key


def planted(path: Path, key: str, words=(("planted",),), tags=(("other",),)) -> None:
    """A well-formed cache file for `key` whose three splits hold `words` and `tags`."""
    split = TaggedSentences(tuple(words), tuple(tags))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(cache.encode_splits((split, split, split), key))


def test_a_file_for_another_key_is_never_read_and_is_replaced(cache_home):
    path = cache_home / "flights-0.json"
    planted(path, "0" * 64)  # what an older flights.py or another NumPy would have left
    assert cache.cached_flights(0) == load_flights(0)
    assert cache.read_splits(path, cache.flights_key(0)) == load_flights(0)


@pytest.mark.parametrize("damage", [
    lambda data: data[:len(data) // 2],  # cut short
    lambda data: data.replace(b"Beijing", b"Beijinq", 1),  # one byte changed: the digest disagrees
    lambda data: b"",
    lambda data: b"\x80\xff not json at all",
])
def test_a_damaged_file_is_drawn_anew(cache_home, damage):
    path = cache_home / "flights-0.json"
    assert cache.cached_flights(0) == load_flights(0)
    path.write_bytes(damage(path.read_bytes()))
    assert cache.read_splits(path, cache.flights_key(0)) is None
    assert cache.cached_flights(0) == load_flights(0)


@pytest.mark.parametrize("words, tags", [
    ([["arrive", 7]], [["other", "dest"]]),  # a number among the words
    ([["arrive", "Taipei"]], [["other"]]),  # fewer tags than words
    ("arrive", None),  # a string, not a list of sentences
])
def test_a_file_of_the_right_key_and_digest_but_the_wrong_shape_is_refused(cache_home, words, tags):
    path, key = cache_home / "flights-0.json", cache.flights_key(0)
    body = json.dumps([{"words": words, "tags": tags, "labels": None}] * 3).encode()
    header = {"format": cache.FORMAT, "key": key, "digest": hashlib.sha256(body).hexdigest()}
    path.parent.mkdir(mode=0o700, parents=True)
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)
    assert cache.read_splits(path, key) is None
    assert cache.cached_flights(0) == load_flights(0)


def test_a_folder_others_may_write_to_is_not_used(cache_home):
    planted(cache_home / "flights-0.json", cache.flights_key(0))
    cache_home.chmod(0o777)  # a shared folder: someone else could have left these sentences
    assert cache.cache_folder() is None
    assert cache.cached_flights(0) == load_flights(0)


def test_a_link_is_not_followed(cache_home, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    planted(elsewhere, cache.flights_key(0))
    cache_home.mkdir(mode=0o700, parents=True)
    (cache_home / "flights-0.json").symlink_to(elsewhere)
    assert cache.read_splits(cache_home / "flights-0.json", cache.flights_key(0)) is None
    assert cache.cached_flights(0) == load_flights(0)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give a file away")
def test_a_file_of_another_users_is_not_read(cache_home):
    path = cache_home / "flights-0.json"
    planted(path, cache.flights_key(0))
    os.chown(path, 4242, -1)
    assert cache.read_splits(path, cache.flights_key(0)) is None
    assert cache.cached_flights(0) == load_flights(0)


def test_a_relative_xdg_cache_home_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_folder() == tmp_path / ".cache" / "specc"


def test_a_cache_folder_that_cannot_be_made_leaves_the_cache_out(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # even root cannot make a folder in a file
    assert cache.cache_folder() is None
    assert cache.cached_flights(0) == load_flights(0)


# ---- specc compile: a word model's ONNX check runs beside the verification ----

def test_a_failed_check_still_stops_the_export_it_ran_beside(tmp_path, monkeypatch):
    import specc
    from specc import onnx_check

    net = specc.load(ROOT / "specs" / "slots_elman.nn")
    monkeypatch.setattr(onnx_check, "CHECK", "import os; os.abort()")  # the checker crashing, as onnx's has
    with pytest.raises(specc.SpecError, match="fails the ONNX check"):
        net.export(tmp_path / "slots.onnx")
    assert not (tmp_path / "slots.onnx").exists()
    monkeypatch.undo()
    assert net.export(tmp_path / "slots.onnx").ok
