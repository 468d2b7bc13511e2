"""The built-in flights sentences of a seed, kept on disk as JSON so that `specc check` needs no NumPy.

flights is drawn by NumPy's generator (flights.py), and importing NumPy and drawing the 2,600
sentences is most of what `specc check` of a flights spec would cost, for its vocabulary and
classes. The drawn sentences are therefore kept in the user's cache folder
($XDG_CACHE_HOME/specc, else ~/.cache/specc), one file per seed, and read back when nothing
they came from has changed:

- never a pickle: two lines of JSON, a header ({"format", "key", "digest"}) and the splits'
  words, tags and labels (strings only), so reading a file runs nothing of its;
- keyed: `key` is the SHA-256 of the format, the seed, flights.py's source and the installed
  NumPy's version file, so a changed template, slot or generator never gives stale sentences;
  `digest` is the SHA-256 of the splits' line, so a damaged file is seen before it is parsed;
- checked: the folder must be the user's own and writable by no one else, the file a regular
  file of the user's (not a link), at most MAX_BYTES, and every value a string of the right
  nesting; anything else is a miss, and the sentences are drawn anew;
- written atomically (specc.atomic), so a crash or a second process never leaves half a file.

A miss draws the sentences as before; a folder that cannot be written leaves the cache out.
The sentences are the same either way: strings through JSON come back equal.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from importlib.util import find_spec
from pathlib import Path

from specc.atomic import read_bounded, write_atomically
from specc.errors import SpecError

from .tagged import TaggedSentences

FORMAT = 1
MAX_BYTES = 16 * 2**20  # the flights splits take about 0.3 MB; a larger file is not one of ours
GENERATOR = Path(__file__).with_name("flights.py")


def cached_flights(seed: int) -> tuple[TaggedSentences, TaggedSentences, TaggedSentences]:
    """load_flights(seed)'s (train, validation, test), from the cache when it holds them for
    this key, else drawn (importing NumPy) and kept for the next run."""
    folder, key = cache_folder(), flights_key(seed)
    path = None if folder is None or key is None else folder / f"flights-{seed}.json"
    found = read_splits(path, key) if path is not None else None
    if found is not None:
        return found
    from .flights import load_flights

    splits = load_flights(seed)
    if path is not None:
        try:
            write_atomically(path, encode_splits(splits, key))
        except SpecError:  # a full disk or a read-only folder: the sentences are drawn next time too
            pass
    return splits


def cache_folder() -> Path | None:
    """specc's folder in the user's cache folder, made if missing (mode 0700); None where it
    cannot be made, or is not the user's own, or others may write to it (another user could
    leave sentences there), or the system has no user ids to check that by."""
    if not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    try:
        # the XDG rule: a relative XDG_CACHE_HOME is ignored
        folder = (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "specc"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = os.stat(folder)
    except (OSError, RuntimeError):  # RuntimeError: no home folder to find
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o022:
        return None
    return folder


def flights_key(seed: int) -> str | None:
    """SHA-256 (hex) of what the flights sentences of `seed` come from: the format, the seed,
    flights.py and NumPy's version file (its generator draws them). None where either file
    cannot be read (no cache then)."""
    numpy = find_spec("numpy")  # finds the installed package without importing it
    locations = list(numpy.submodule_search_locations or ()) if numpy is not None else []
    if not locations:
        return None
    try:
        sources = (GENERATOR.read_bytes(), (Path(locations[0]) / "version.py").read_bytes())
    except OSError:
        return None
    hashed = hashlib.sha256(f"specc flights cache {FORMAT} seed {seed}\n".encode())
    for source in sources:
        hashed.update(hashlib.sha256(source).digest())
    return hashed.hexdigest()


def encode_splits(splits, key: str) -> bytes:
    """The cache file's bytes: the header line, then the splits' line (see the module's doc)."""
    body = json.dumps([{"words": split.words, "tags": split.tags, "labels": split.labels} for split in splits],
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    header = json.dumps({"format": FORMAT, "key": key, "digest": hashlib.sha256(body).hexdigest()})
    return header.encode("utf-8") + b"\n" + body


def read_splits(path: Path, key: str) -> tuple[TaggedSentences, ...] | None:
    """The splits cached at `path` for `key`, or None if there are none, or the file is not the
    user's own regular file, or it does not check out."""
    try:
        data = read_bounded(path, MAX_BYTES, own=True)
    except OSError:
        return None
    header, _, body = data.partition(b"\n")
    try:
        found = json.loads(header)
        if found != {"format": FORMAT, "key": key, "digest": hashlib.sha256(body).hexdigest()}:
            return None
        return tuple(_sentences(split) for split in json.loads(body))
    except (ValueError, TypeError):  # not JSON, not UTF-8, or not the shape written
        return None


def _sentences(split) -> TaggedSentences:
    """TaggedSentences from one cached split; TypeError or ValueError unless its words and
    tags are lists of lists of strings and its labels a list of strings (or null), of one length."""
    if not isinstance(split, dict) or set(split) != {"words", "tags", "labels"}:
        raise TypeError("a split is an object of words, tags and labels")
    words, tags, labels = (split[name] for name in ("words", "tags", "labels"))
    nested = [words] + ([tags] if tags is not None else [])
    if not all(isinstance(part, list) and all(isinstance(row, list) and all(isinstance(s, str) for s in row)
                                              for row in part) for part in nested):
        raise TypeError("words and tags are lists of lists of strings")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(s, str) for s in labels)):
        raise TypeError("labels are a list of strings")
    # TaggedSentences checks that every sentence has as many tags as words
    return TaggedSentences(tuple(map(tuple, words)), None if tags is None else tuple(map(tuple, tags)),
                           None if labels is None else tuple(labels))
