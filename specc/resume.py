"""Resuming a training run: it continues as it was started.

The settings saved in the checkpoint are the run's settings and its folder is the checkpoint's
folder. A flag may repeat a saved setting; one that contradicts it is an error naming both,
except --epochs above the saved count, which trains the run longer. The spec's train section
is not read again (the checkpoint says what the run was); where it now differs, a note says so.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from .errors import SpecError
from .syntax import Value
from .signature import ArgTypeError
from .training import DEFAULTS, SETTING_FIELDS, SETTINGS, TrainSettings, with_flags

_OPTIONAL = {"clip"}  # the one setting a run may have left unset (no clipping)


def _field_types():
    """(field, Arg) for every field of TrainSettings, with the type that checks it in a spec."""
    for setting, args in SETTINGS.items():
        for arg in args:
            yield SETTING_FIELDS.get((setting, arg.name), arg.name), arg


def saved_settings(saved, checkpoint) -> TrainSettings:
    """The run's settings from a checkpoint's meta["settings"], checked with the same types as
    a spec's train section; SpecError naming the checkpoint and the setting otherwise."""
    def refuse(problem: str):
        return SpecError(f"checkpoint {checkpoint} {problem}", hint="resume from the checkpoint.npz that specc train "
                         "wrote in the run folder (best.npz holds the kept weights, not the run)")

    if not isinstance(saved, dict):
        raise refuse("holds no run settings")
    known = dict(_field_types())
    unknown = sorted(set(saved) - set(known))
    if unknown:
        raise refuse(f"has an unknown setting '{unknown[0]}'")
    values = {}
    for field, arg in known.items():
        value = saved.get(field, DEFAULTS[field])  # older checkpoints: the default then
        if value is None and field in _OPTIONAL:
            values[field] = None
            continue
        kind = {int: "int", float: "float", str: "word"}.get(type(value))
        try:
            if kind is None:
                raise ArgTypeError(arg.doc)
            values[field] = arg.convert(Value(kind, value, None))
        except ArgTypeError as error:
            raise refuse(f"has the setting {field} = {value!r}, which is not {error.expected}") from None
    origin = tuple((field, "checkpoint") for field in values)
    return TrainSettings(**values, origin=origin)


def _same_data(a: str, b: str) -> bool:
    """Whether two `data` values name the same data: equal, or the same file by two paths."""
    try:
        return a == b or os.path.samefile(a, b)
    except OSError:
        return False


def continued_settings(saved: TrainSettings, flags: dict, checkpoint) -> TrainSettings:
    """The saved settings, with --epochs raised if a larger count is given (merged as a new
    run's flags are: with_flags). SpecError for a flag that contradicts a saved setting (a
    smaller --epochs included), naming both values."""
    given = {name: value for name, value in flags.items() if value is not None}
    checked = with_flags(saved, given)  # the same checks as without --resume
    for name in given:
        wanted, kept = getattr(checked, name), getattr(saved, name)
        if name == "epochs" and wanted >= kept:
            continue
        if wanted == kept or name == "data" and _same_data(wanted, kept):
            continue
        hint = ("a resumed run can be trained longer (a larger --epochs), not shorter" if name == "epochs" else
                f"drop --{name} to continue the run as it was, or start a new run in another --out")
        raise SpecError(f"--{name} {wanted} contradicts the run being resumed, which has {name} {kept} "
                        f"(saved in {checkpoint})", hint=hint)
    return with_flags(saved, {"epochs": given.get("epochs")})


def spec_differences(spec: TrainSettings, saved: TrainSettings, continued: TrainSettings) -> list[str]:
    """A note for each setting the spec's train section (Model.train) now gives otherwise than
    the run was started with (`saved`) and goes on with (`continued`); a setting a flag changes
    for this resumption (a larger --epochs) is the user's choice, and gets no note."""
    notes = []
    for field, where in spec.origin:
        if where != "spec" or getattr(continued, field) != getattr(saved, field):
            continue
        value, kept = getattr(spec, field), getattr(saved, field)
        if value == kept or field == "data" and _same_data(value, kept):
            continue
        longer = " (pass --epochs to train longer)" if field == "epochs" and value > kept else ""
        notes.append(f"note: the spec says {field} {value}; this run was started with {field} {kept} "
                     f"and goes on with it{longer}")
    return notes


def run_folder(checkpoint, out) -> Path:
    """The folder a resumed run writes to: its checkpoint's. SpecError if `out` names another."""
    folder = Path(checkpoint).parent
    if out is not None and os.path.realpath(out) != os.path.realpath(folder):
        raise SpecError(f"--out {out} is not the folder of the run being resumed ({folder})",
                        hint="drop --out: a resumed run goes on in its checkpoint's folder")
    return folder


def continue_command(spec, checkpoint) -> str:
    """The command that continues an interrupted run, quoted for a POSIX shell."""
    return f"specc train {shlex.quote(str(spec))} --resume {shlex.quote(str(checkpoint))}"
