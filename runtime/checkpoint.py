"""Checkpoints: weights, optimizer state and the run's position in one .npz, without pickle.

Layout: `weights/<i>` (the model's weights in order), `optimizer/<key>`, `vocabulary/<layer id>`
and `classes/<output>` (string arrays: what the spec took from its data), and `meta`, a JSON
string holding the architecture fingerprint, the weight names, the position (next epoch and
batch), the optimizer's step count, the settings and the history so far. Written atomically.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

FORMAT = "specc-checkpoint-1"


def save_checkpoint(path, model, weights: dict, optimizer, meta: dict) -> None:
    """Write a checkpoint atomically (temp file, then rename)."""
    from specc.atomic import write_atomically
    from specc.tables import saved_tables
    from specc.weights import architecture_fingerprint

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


def load_tables(path):
    """The vocabularies and classes saved in a checkpoint (SavedTables), or None if it holds
    no vocabulary (a spec that takes nothing from data). Unreadable files are left to
    load_checkpoint to report."""
    from specc.tables import SavedTables

    try:
        with np.load(Path(path), allow_pickle=False) as archive:
            found = {key: tuple(str(w) for w in archive[key]) for key in archive.files
                     if key.startswith(("vocabulary/", "classes/"))}
    except (OSError, ValueError, EOFError):
        return None
    vocabularies = {key.partition("/")[2]: v for key, v in found.items() if key.startswith("vocabulary/")}
    if not vocabularies:
        return None
    return SavedTables(vocabularies, {key.partition("/")[2]: v for key, v in found.items() if key.startswith("classes/")})


def load_checkpoint(path, model) -> tuple[dict, dict, dict]:
    """Read a checkpoint for `model`: (weights by the model's names, optimizer state, meta).

    Raises SpecError if the file is not a checkpoint or was written for another network.
    """
    from specc.errors import SpecError
    from specc.weights import architecture_fingerprint

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays["meta"]))
    except FileNotFoundError:
        raise SpecError(f"no such checkpoint: {path}") from None
    except (OSError, ValueError, KeyError, EOFError):
        raise SpecError(f"{path} is not a specc checkpoint", hint="checkpoints are the checkpoint.npz files "
                        "that specc train writes in its run folder") from None
    if meta.get("format") != FORMAT:
        raise SpecError(f"{path} is not a specc checkpoint", hint="checkpoints are written by specc train")
    if meta["fingerprint"] != architecture_fingerprint(model):
        raise SpecError(f"checkpoint {path} was written for another network ({meta['model']}), not this "
                        f"spec's {model.name}", hint="train this spec from scratch, or use the spec the checkpoint came from")
    names = [layer.weight_name(w.name) for layer in model.layers for w in layer.weights]
    weights = {name: arrays[f"weights/{i}"] for i, name in enumerate(names)}
    # the saved names may differ (lines moved); the fingerprint says the order still matches
    renamed = dict(zip(meta["weight_names"], names))
    state = {}
    for key in meta["optimizer_keys"]:
        kind, _, old = key.partition("/")
        state[f"{kind}/{renamed[old]}"] = arrays[f"optimizer/{key}"]
    return weights, state, meta
