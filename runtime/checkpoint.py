"""Checkpoints: weights, optimizer state and the run's position in one .npz, without pickle.

Layout: `weights/<i>` (the model's weights in order, float32), `optimizer/<slot>/<weight>`,
`vocabulary/<layer id>` (string arrays: the words the spec took from its data), `classes/<output>`
(the class names of every classifier output, in the order of the weights' rows), and `meta`, a
JSON string holding the architecture fingerprint, the weight names, the position (next epoch and
batch), the optimizer's step count, the settings and the history so far (best.npz: the score of
its epoch instead of the settings). Written atomically; read as described under "reading".
"""
from __future__ import annotations

import io
import json
import math
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

FORMAT = "specc-checkpoint-1"


def save_checkpoint(path, model, weights: dict, optimizer, meta: dict) -> None:
    """Write a checkpoint atomically (temp file, then rename)."""
    from specc.atomic import write_atomically
    from specc.identity import architecture_fingerprint, saved_tables

    names = list(weights)
    arrays = {f"weights/{i}": weights[name] for i, name in enumerate(names)}
    arrays.update({f"optimizer/{key}": value for key, value in optimizer.state.items()})
    tables = saved_tables(model)
    arrays.update({f"vocabulary/{name}": np.array(words, dtype=str) for name, words in tables.vocabularies.items()})
    arrays.update({f"classes/{name}": np.array(names, dtype=str) for name, names in tables.class_names.items()})
    full_meta = dict(meta, format=FORMAT, fingerprint=architecture_fingerprint(model), model=model.name,
                     weight_names=names, optimizer_steps=optimizer.steps,
                     optimizer_keys=list(optimizer.state))
    arrays["meta"] = np.array(json.dumps(full_meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


# ---- reading: nothing in the file is trusted ----
#
# A checkpoint is checked in this order, and nothing is used before it is checked: the path
# (a regular, non-empty file), the zip directory (every member a known .npy name, none twice),
# `meta` (JSON, an object, every field of META_FIELDS of its type, and consistent with the
# members), the class and vocabulary tables, then, against the model, the fingerprint, the
# tables, and each array's .npy header (exact shape, float32) before its data is read, then
# that its values are finite. Sizes come from the headers and the model, so no member is
# decompressed into more memory than the model's own weights take.

MAX_TEXT_BYTES = 256 * 2**20  # meta and the tables together: far above any real one (ATIS's vocabulary is 0.1 MB)
NOT_A_CHECKPOINT_HINT = "checkpoints are the checkpoint.npz and best.npz files that specc train writes in its run folder"
CHANGED_HINT = "the file was changed after specc train wrote it: use the run's own checkpoint, or train again"


def _unreadable(path, why: str, hint: str = NOT_A_CHECKPOINT_HINT):
    """The SpecError for a file that cannot be a checkpoint at all."""
    from specc.errors import SpecError

    return SpecError(f"{path} is not a specc checkpoint: {why}", hint=hint)


def _refused(path, problem: str, hint: str = CHANGED_HINT):
    """The SpecError for a checkpoint whose content is wrong or does not fit the spec."""
    from specc.errors import SpecError

    return SpecError(f"checkpoint {path} {problem}", hint=hint)


# what zipfile, zlib and numpy's .npy reader raise on damaged bytes (RuntimeError: an encrypted
# member; NotImplementedError: an unknown compression)
_DAMAGED = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
            zipfile.LargeZipFile, zlib.error)


def _count(value) -> bool:
    """A JSON whole number >= 0 (not a bool, not 1.0)."""
    return type(value) is int and value >= 0


def _number(value) -> bool:
    """A JSON number (inf and NaN included: a validation loss may overflow)."""
    return type(value) in (int, float)


def _seconds(value) -> bool:
    return _number(value) and 0 <= value < math.inf


def _names(value) -> bool:
    """A list of distinct strings."""
    return isinstance(value, list) and all(isinstance(v, str) for v in value) and len(set(value)) == len(value)


def _fields(record, schema: dict, exact: bool) -> str | None:
    """What is wrong with the JSON object `record` under `schema` {field: (check, what it must
    be, required)}: a missing required field, a field of the wrong type, or an unknown one
    (when `exact`); None if nothing."""
    if not isinstance(record, dict):
        return "is not an object"
    for field, (check, what, required) in schema.items():
        if field not in record:
            if required:
                return f"has no '{field}'"
        elif not check(record[field]):
            return f"has '{field}' = {_quote(record[field])}, which is not {what}"
    unknown = sorted(set(record) - set(schema))
    return f"has an unknown field '{unknown[0]}'" if exact and unknown else None


def _quote(value) -> str:
    """A JSON value for a message, cut to a readable length."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


REQUIRED, OPTIONAL = True, False
_TEXT = (lambda v: isinstance(v, str), "a string")
_COUNT = (_count, "a whole number >= 0")
# meta: field -> (check, what it must be, required); `settings` is the run's, absent in best.npz,
# which has `best_score` instead. Unknown fields are left alone (later writers may add some).
META_FIELDS = {
    "fingerprint": (*_TEXT, REQUIRED),
    "model": (*_TEXT, REQUIRED),
    "weight_names": (_names, "a list of distinct weight names", REQUIRED),
    "optimizer_keys": (_names, "a list of distinct optimizer keys", REQUIRED),
    "optimizer_steps": (*_COUNT, REQUIRED),
    "epoch": (*_COUNT, REQUIRED),
    "batch": (*_COUNT, REQUIRED),
    "history": (lambda v: isinstance(v, list), "a list with one object per epoch", REQUIRED),
    "partial": (lambda v: v is None or isinstance(v, dict), "null or an object", REQUIRED),
    "settings": (lambda v: isinstance(v, dict) and all(
        x is None or type(x) in (str, int, float, bool) for x in v.values()), "an object of settings", OPTIONAL),
    "best_score": (lambda v: isinstance(v, list) and 1 <= len(v) <= 2 and all(
        _number(x) and not math.isnan(x) for x in v), "a list of one or two numbers", OPTIONAL),
}
# the sums of an epoch interrupted part way
PARTIAL_FIELDS = {"loss": (_number, "a number", REQUIRED), "correct": (*_COUNT, REQUIRED),
                  "seen": (*_COUNT, REQUIRED), "seconds": (_seconds, "seconds >= 0", REQUIRED),
                  # a spec with several outputs: each one's loss, correct and seen
                  "outputs": (lambda v: isinstance(v, dict) and all(isinstance(p, dict) for p in v.values()),
                              "an object of each output's sums", OPTIONAL)}
_SCORE = (lambda v: v is None or _number(v), "a number or null", OPTIONAL)
# one epoch of the history (what runtime/train.fit records; it computes with epoch and seconds)
HISTORY_FIELDS = {"epoch": (*_COUNT, REQUIRED), "seconds": (_seconds, "seconds >= 0", REQUIRED),
                  "loss": _SCORE, "train_accuracy": _SCORE, "val_loss": _SCORE, "val_accuracy": _SCORE,
                  "val_f1": _SCORE, "lr": _SCORE, "samples_per_s": _SCORE, "counts": (*_TEXT, OPTIONAL),
                  "best": (lambda v: isinstance(v, bool), "true or false", OPTIONAL)}


def _meta_problem(meta: dict, best: bool) -> str | None:
    """What is wrong with a checkpoint's meta (already a JSON object), or None: the fields'
    types, then whether they agree with each other."""
    from .optim import OPTIMIZERS

    problem = _fields(meta, META_FIELDS, exact=False)
    if problem:
        return f"meta {problem}"
    if best and "best_score" not in meta:
        return "meta has no 'best_score' (best.npz keeps the score of the epoch it holds)"
    for i, record in enumerate(meta["history"]):
        problem = _fields(record, HISTORY_FIELDS, exact=False)
        if not problem and record["epoch"] != i + 1:
            problem = f"says it is epoch {_quote(record['epoch'])}"
        if problem:
            return f"meta's history: epoch {i + 1} {problem}"
    if len(meta["history"]) != meta["epoch"]:
        return f"meta says {meta['epoch']} epochs are done but its history holds {len(meta['history'])}"
    if meta["partial"] is not None and (problem := _fields(meta["partial"], PARTIAL_FIELDS, exact=True)):
        return f"meta's 'partial' (the epoch so far) {problem}"
    if meta["batch"] and meta["partial"] is None:
        return f"meta says the run stopped at batch {meta['batch'] + 1} but holds no sums of that epoch ('partial')"
    settings = meta.get("settings", {})
    epochs = settings.get("epochs")
    if epochs is not None and not (type(epochs) is int and meta["epoch"] <= epochs):
        return f"meta says {meta['epoch']} epochs are done of a run of {_quote(epochs)}"
    optimizer = OPTIMIZERS.get(settings.get("optimizer"))
    slots = optimizer.slots if optimizer else {s for kind in OPTIMIZERS.values() for s in kind.slots}
    for key in meta["optimizer_keys"]:
        slot, _, name = key.partition("/")
        if slot not in slots or name not in meta["weight_names"]:
            return (f"meta has the optimizer key {_quote(key)}, which is not <slot>/<weight name> with a slot of "
                    f"{' or '.join(sorted(slots))} and one of its weights")
    return None


class _Archive:
    """A checkpoint's zip, its members read one at a time after their .npy headers are checked."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = _open_zip(path)
        try:
            infos = self.zip.infolist()
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise _unreadable(path, "a name appears twice in its zip directory")
            strange = [name for name in names if not name.endswith(".npy")]
            if strange:
                raise _unreadable(path, f"it holds {_quote(strange[0])}, which is not a .npy array (not an .npz)")
            self.members = {info.filename[:-len(".npy")]: info for info in infos}
            self.text_left = MAX_TEXT_BYTES  # what the string members may still take
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def header(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) of member `name` from its .npy header, reading none of its data;
        refused if it holds Python objects or disagrees with the zip directory's size."""
        from specc.npy import PickledArray, read_npy_header

        info = self.members[name]
        try:
            with self.zip.open(info) as file:
                shape, dtype, size = read_npy_header(file)
                offset = file.tell()
        except PickledArray as error:
            raise _unreadable(self.path, f"its member '{name}' {error}") from None
        except ValueError:
            raise _unreadable(self.path, f"its member '{name}' is not a valid .npy array",
                              hint="the file is damaged: use another copy, or train again") from None
        except _DAMAGED:
            raise self._damaged(name) from None
        # the zip directory must agree with the header, or the data is cut short or padded
        if info.file_size != offset + size:
            raise _refused(self.path, f"is damaged: its member '{name}' declares {shape} {dtype.name} "
                           f"but holds {info.file_size - offset} bytes of data", "use another copy, or train again")
        return shape, dtype

    def read(self, name: str) -> np.ndarray:
        """The array of member `name`; call after its header was checked."""
        from numpy.lib import format as npy

        try:
            with self.zip.open(self.members[name]) as file:
                return npy.read_array(file, allow_pickle=False)
        except _DAMAGED:
            raise self._damaged(name) from None

    def _damaged(self, name: str):
        """The SpecError for a member whose bytes do not decompress or fail their checksum."""
        return _refused(self.path, f"is damaged: its member '{name}' cannot be read (cut short, or its checksum "
                        "fails)", "use another copy, or train again")

    def text(self, name: str, ndim: int) -> np.ndarray:
        """A string member (meta: ndim 0, a table: ndim 1), refused if it is anything else or
        if the string members read so far and this one take more than MAX_TEXT_BYTES."""
        shape, dtype = self.header(name)
        if dtype.kind != "U" or len(shape) != ndim:
            raise _refused(self.path, f"has '{name}' of {_array_text(shape, dtype)}, not "
                           f"{'a string' if ndim == 0 else 'a list of strings'}")
        size = math.prod(shape) * dtype.itemsize
        if size > self.text_left:
            raise _refused(self.path, f"has '{name}' of {size:,} bytes: with its other text, more than any "
                           f"checkpoint holds ({MAX_TEXT_BYTES:,} bytes)")
        self.text_left -= size
        return self.read(name)

    def weights(self, name: str, what: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of exactly `shape` with finite values; `what` names it for messages."""
        found_shape, dtype = self.header(name)
        if dtype != np.float32:
            raise _refused(self.path, f"has {what} ('{name}') of {_array_text(found_shape, dtype)}; "
                           "weights are float32", "specc never converts weights: use the checkpoint specc train wrote")
        if tuple(found_shape) != tuple(shape):
            raise _refused(self.path, f"has {what} ('{name}') of shape {_shape_text(found_shape)}; "
                           f"this spec's is {_shape_text(shape)}")
        array = self.read(name)
        bad = array.size - int(np.isfinite(array).sum())
        if bad:
            raise _refused(self.path, f"has {what} ('{name}') with {bad:,} values that are NaN or infinite",
                           "a run that diverged writes no checkpoint: the file was changed, or use an earlier one")
        return array


def _shape_text(shape) -> str:
    return "() (a scalar)" if len(shape) == 0 else str(tuple(shape))


def _array_text(shape, dtype) -> str:
    order = "" if dtype.isnative or dtype.byteorder == "|" else ", byte-swapped"
    return f"shape {_shape_text(shape)}, dtype {dtype.name}{order}"


def _open_zip(path: Path) -> zipfile.ZipFile:
    """The zip of a checkpoint path, after checking that it is a non-empty regular file."""
    from specc.errors import SpecError

    try:
        status = path.stat()
    except FileNotFoundError:
        raise SpecError(f"no such checkpoint: {path}") from None
    except OSError as error:
        raise _unreadable(path, f"it cannot be read ({error.strerror})") from None
    if stat.S_ISDIR(status.st_mode):
        raise _unreadable(path, "it is a folder", hint="give the checkpoint.npz (or best.npz) inside it")
    if not stat.S_ISREG(status.st_mode):
        raise _unreadable(path, "it is not a regular file")
    if status.st_size == 0:
        raise _unreadable(path, "it is empty (0 bytes)")
    try:
        with open(path, "rb") as file:
            zipped = file.read(4) == b"PK\x03\x04"
    except OSError as error:
        raise _unreadable(path, f"it cannot be read ({error.strerror})") from None
    try:
        return zipfile.ZipFile(path)
    except _DAMAGED:
        if zipped:
            raise _unreadable(path, "it is cut short or damaged (its zip directory is missing or broken)",
                              hint="a copy that did not finish? use another copy, or train again") from None
        raise _unreadable(path, "it is not a zip archive (.npz)") from None


def _read_meta(archive: _Archive, best: bool) -> dict:
    """The checked meta of a checkpoint, and every member name checked against it."""
    path = archive.path
    if "meta" not in archive.members:
        raise _unreadable(path, "it has no 'meta'")
    try:
        meta = json.loads(str(archive.text("meta", 0)))
    except (ValueError, RecursionError):
        raise _refused(path, "has a 'meta' that is not JSON") from None
    if not isinstance(meta, dict):
        raise _refused(path, "has a 'meta' that is not a JSON object")
    if meta.get("format") != FORMAT:
        raise _unreadable(path, f"its meta says format {_quote(meta.get('format'))}, not '{FORMAT}'")
    problem = _meta_problem(meta, best)
    if problem:
        raise _refused(path, f"is inconsistent: {problem}")
    expected = {"meta", *(f"weights/{i}" for i in range(len(meta["weight_names"]))),
                *(f"optimizer/{key}" for key in meta["optimizer_keys"])}
    found = {name for name in archive.members if not name.startswith(("vocabulary/", "classes/"))}
    if expected - found:
        raise _refused(path, f"is missing the array '{min(expected - found)}' that its meta lists")
    if found - expected:
        raise _refused(path, f"holds an array its meta does not list: '{min(found - expected)}'")
    return meta


def _read_tables(archive: _Archive):
    """The vocabularies and classes of a checkpoint (SavedTables), each a list of distinct,
    non-empty strings."""
    from specc.identity import SavedTables

    tables = {"vocabulary": {}, "classes": {}}
    for name in archive.members:
        kind, _, owner = name.partition("/")
        if kind in tables:
            words = tuple(str(w) for w in archive.text(name, 1))
            if not words or "" in words or len(set(words)) != len(words):
                raise _refused(archive.path, f"has '{name}' with {'no' if not words else 'empty or repeated'} "
                               f"{'words' if kind == 'vocabulary' else 'class names'}")
            tables[kind][owner] = words
    return SavedTables(tables["vocabulary"], tables["classes"])


def load_tables(path):
    """The vocabularies and classes saved in a checkpoint (SavedTables), or None if it holds
    none. Raises SpecError (naming the file and what is wrong) for anything but a checkpoint."""
    with _Archive(Path(path)) as archive:
        _read_meta(archive, best=False)
        tables = _read_tables(archive)
    return tables if tables.vocabularies or tables.class_names else None


def _check_tables(path, saved, model) -> None:
    """The checkpoint's classes and vocabularies must be the model's: the weights' rows and
    columns mean them, in that order."""
    from specc.identity import saved_tables

    wanted = saved_tables(model)
    for what, old_tables, new_tables in (("class names", saved.class_names, wanted.class_names),
                                         ("vocabulary", saved.vocabularies, wanted.vocabularies)):
        for owner in sorted(set(old_tables) | set(new_tables)):
            old, new = old_tables.get(owner), new_tables.get(owner)
            if old != new:
                raise _refused(path, *_table_problem(what, owner, old, new))


def _table_problem(what: str, owner: str, old, new) -> tuple[str, str]:
    """(problem, hint) when a checkpoint's table `old` (class names of an output, or the
    vocabulary of a layer `owner`) differs from the spec's `new`; either may be None."""
    if old is None:
        return f"holds no {what} for {owner}", CHANGED_HINT
    if new is None:
        return f"holds {what} for {owner}, which this spec does not have", CHANGED_HINT
    if what == "vocabulary":
        return (f"was trained with another vocabulary for {owner} ({len(old)} words; this spec's has {len(new)})",
                CHANGED_HINT)
    return (f"was trained with the classes {' | '.join(old)} for output {owner}; this spec has {' | '.join(new)}",
            f"the weights' outputs mean the checkpoint's classes in that order: declare 'output {owner}: "
            f"{' | '.join(old)}', or train this spec anew")


def load_checkpoint(path, model, *, best: bool = False) -> tuple[dict, dict, dict]:
    """Read a checkpoint for `model`: (weights by the model's names, optimizer state, meta).
    `best`: the file is a best.npz, which must hold its score.

    Raises SpecError, naming the file and what is wrong, if it is not a checkpoint, is damaged
    or changed, was written for another network, or holds other classes than the spec's.
    """
    from specc.identity import architecture_fingerprint

    path = Path(path)
    with _Archive(path) as archive:
        meta = _read_meta(archive, best)
        if meta["fingerprint"] != architecture_fingerprint(model):
            raise _refused(path, f"was written for another network ({meta['model']}), not this spec's {model.name}",
                           "train this spec from scratch, or use the spec the checkpoint came from (if this is that "
                           "spec, the checkpoint was changed after specc train wrote it)")
        _check_tables(path, _read_tables(archive), model)
        shapes = {layer.weight_name(w.name): tuple(w.shape) for layer in model.layers for w in layer.weights}
        kinds = {layer.weight_name(w.name): "buffer" if w.buffer else "weight" for layer in model.layers
                 for w in layer.weights}
        if len(meta["weight_names"]) != len(shapes):
            raise _refused(path, f"lists {len(meta['weight_names'])} weights; this spec has {len(shapes)}")
        weights = {name: archive.weights(f"weights/{i}", f"{kinds[name]} {name}", shape)
                   for i, (name, shape) in enumerate(shapes.items())}
        for layer in model.layers:
            for w in layer.weights:
                name = layer.weight_name(w.name)
                if w.nonnegative and (weights[name] < 0).any():
                    raise _refused(path, f"has {kinds[name]} {name} with {int((weights[name] < 0).sum()):,} "
                                   "negative values, which it cannot hold (a variance)", "use another copy, or train again")
        # the saved names may differ (lines moved); the fingerprint says the order still matches
        renamed = dict(zip(meta["weight_names"], shapes))
        state = {}
        for key in meta["optimizer_keys"]:
            slot, _, old = key.partition("/")
            name = renamed[old]
            state[f"{slot}/{name}"] = archive.weights(f"optimizer/{key}", f"optimizer state {slot} of {name}",
                                                      shapes[name])
    return weights, state, meta
