"""The train section: settings, their signatures and defaults, and the flags that override them.

    train
      data xo
      loss cross_entropy
      optimizer sgd lr=0.1 momentum=0.9
      epochs 30
      batch 16

Settings bind like layer arguments (positional, key=value, `key value`). The build binds the
section once (bind_section, then with_losses once the outputs are known) into `Model.train`, a
TrainSettings; the spec wins over DEFAULTS, the one table of defaults (each setting's argument
default in SETTINGS), and a flag on the command line or an API argument wins over the spec,
merged in one place (with_flags), as it is over a resumed run's saved settings.

A spec with several outputs gives each its loss on a line of its own, the output named first:
`loss label cross_entropy` and `loss box mse weight=0.5`; the weights scale each output's loss
in the total that training lowers. An output without a line takes cross_entropy if it is a
classifier, else mse, with weight 1. The setting then holds the table as one text, every
output in declared order: "label cross_entropy, box mse weight=0.5".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import SpecError, did_you_mean
from .signature import Arg, ArgTypeError, Value, bind, one_of, positive_int, probability
from .syntax import LayerCall


def positive_number(value: Value) -> float:
    if value.kind in ("int", "float") and value.value > 0:
        return float(value.value)
    raise ArgTypeError("a number above 0, like 0.01")


def non_negative_number(value: Value) -> float:
    if value.kind in ("int", "float") and value.value >= 0:
        return float(value.value)
    raise ArgTypeError("a number of at least 0")


def seed_number(value: Value) -> int:
    """A seed: a whole number of at least 0 (NumPy's generators take no negative seeds)."""
    if value.kind == "int" and value.value >= 0:
        return value.value
    raise ArgTypeError("a whole number of at least 0, like 0 or 42")


def data_source(value: Value) -> str:
    """A built-in data set's name (xo, digits, flights, atis) or a quoted path to a data file."""
    if value.kind in ("word", "string"):
        return value.value
    raise ArgTypeError('a built-in data set (xo, digits, flights, atis) or a quoted path like "train.npz"')


LOSSES = ("cross_entropy", "mse")


def loss_table(text: str) -> dict[str, tuple[str, float]]:
    """The per-output loss table as the `loss` setting holds it -> {output: (loss, weight)};
    {} for a plain loss kind. ValueError if the text is neither.

    >>> loss_table("label cross_entropy, box mse weight=0.5")
    {'label': ('cross_entropy', 1.0), 'box': ('mse', 0.5)}
    """
    if text in LOSSES:
        return {}
    table = {}
    for entry in text.split(", "):
        output, kind, *rest = entry.split(" ")
        weight = float(rest[0].removeprefix("weight=")) if rest and rest[0].startswith("weight=") else 1.0
        if kind not in LOSSES or len(rest) > 1 or not weight > 0 or output in table:
            raise ValueError(text)
        table[output] = (kind, weight)
    return table


def loss_entry(output: str, kind: str, weight: float) -> str:
    """One output's entry of the loss table: 'box mse weight=0.5' ('label cross_entropy' at weight 1)."""
    return f"{output} {kind}" + (f" weight={weight:g}" if weight != 1 else "")


def loss_setting(value: Value) -> str:
    """A loss kind; from a checkpoint (no position) also a per-output table (loss_table)."""
    if value.kind == "word" and value.value in LOSSES:
        return value.value
    if value.kind == "word" and value.coord is None:
        try:
            loss_table(value.value)
            return value.value
        except ValueError:
            pass
    raise ArgTypeError(" or ".join(LOSSES))


loss_setting.words = LOSSES


def output_name(value: Value) -> str:
    if value.kind == "word":
        return value.value
    raise ArgTypeError("the name of a declared output")


# `loss OUTPUT KIND weight=W`: one output's loss in a spec with several outputs
PER_OUTPUT_LOSS = (
    Arg("output", output_name, None, "the output this loss is for", positional=True, any_word=True),
    Arg("kind", one_of(*LOSSES), None, "cross_entropy or mse", positional=True),
    Arg("weight", positive_number, 1.0, "the share of this output's loss in the total"),
)

SETTINGS: dict[str, tuple[Arg, ...]] = {
    "data": (Arg("source", data_source, None, "xo, digits, flights, atis, or a quoted path to a .npz/.csv file, a "
                 "token/tag or label<TAB>sentence file, or a folder of images", positional=True, any_word=True),
             Arg("resize", one_of("refuse", "stretch", "fit", "crop"), "refuse",
                 "a folder's images of another size than the input: refuse, stretch, fit (keep the aspect, black "
                 "around) or crop (keep the aspect, cut the middle)")),
    "loss": (Arg("kind", loss_setting, None, "cross_entropy or mse", positional=True),),
    "optimizer": (
        Arg("kind", one_of("sgd", "adam"), "adam", "sgd or adam", positional=True),
        Arg("lr", positive_number, None, "learning rate; default 0.01 for sgd, 0.001 for adam"),
        Arg("momentum", probability, 0.9, "sgd momentum, from 0 to below 1"),
        Arg("beta1", probability, 0.9, "adam's first-moment decay"),
        Arg("beta2", probability, 0.999, "adam's second-moment decay"),
        Arg("eps", positive_number, 1e-8, "adam's denominator guard"),
        Arg("weight_decay", non_negative_number, 0.0, "L2 penalty added to every gradient, as in PyTorch"),
    ),
    "epochs": (Arg("count", positive_int, 10, "passes over the training data", positional=True),),
    "batch": (Arg("size", positive_int, 32, "samples per step", positional=True),),
    "schedule": (
        Arg("kind", one_of("constant", "step", "cosine"), "constant", "constant, step or cosine", positional=True),
        Arg("every", positive_int, 10, "step: epochs between decays"),
        Arg("gamma", positive_number, 0.1, "step: factor applied every `every` epochs"),
    ),
    "clip": (Arg("norm", positive_number, None, "largest global gradient norm (off by default)", positional=True),),
    "seed": (Arg("value", seed_number, 0, "seed of initial weights, shuffling and data", positional=True),),
    "validation": (Arg("fraction", probability, 0.1, "share of the training data held out", positional=True),),
    "keep": (Arg("which", one_of("last", "best"), "last",
                 "last: the final epoch's weights; best: the epoch best on validation (slot F1, accuracy, "
                 "else loss)", positional=True),),
}

# the field each setting's single or named argument fills
SETTING_FIELDS = {("data", "source"): "data", ("loss", "kind"): "loss", ("optimizer", "kind"): "optimizer",
                  ("epochs", "count"): "epochs", ("batch", "size"): "batch", ("schedule", "kind"): "schedule",
                  ("clip", "norm"): "clip", ("seed", "value"): "seed", ("validation", "fraction"): "validation",
                  ("keep", "which"): "keep"}

# The one table of defaults: every setting's default is its argument's in SETTINGS, by field.
DEFAULTS = {SETTING_FIELDS.get((setting, arg.name), arg.name): arg.default
            for setting, args in SETTINGS.items() for arg in args}

DEFAULT_LR = {"sgd": 0.01, "adam": 0.001}

# Arguments that belong to one kind of their setting: (setting, argument) -> that kind.
# Given with another kind they would be ignored, so they are refused.
ONLY_FOR = {("optimizer", "momentum"): "sgd", ("optimizer", "beta1"): "adam", ("optimizer", "beta2"): "adam",
            ("optimizer", "eps"): "adam", ("schedule", "every"): "step", ("schedule", "gamma"): "step"}


@dataclass(frozen=True)
class TrainSettings:
    """Everything a training run needs to know, defaults filled in. `origin` says, for each
    field, whether it came from the 'spec', a 'flag' or the 'default'."""

    data: str | None = DEFAULTS["data"]
    resize: str = DEFAULTS["resize"]
    loss: str | None = DEFAULTS["loss"]
    optimizer: str = DEFAULTS["optimizer"]
    lr: float | None = DEFAULTS["lr"]
    momentum: float = DEFAULTS["momentum"]
    beta1: float = DEFAULTS["beta1"]
    beta2: float = DEFAULTS["beta2"]
    eps: float = DEFAULTS["eps"]
    weight_decay: float = DEFAULTS["weight_decay"]
    epochs: int = DEFAULTS["epochs"]
    batch: int = DEFAULTS["batch"]
    schedule: str = DEFAULTS["schedule"]
    every: int = DEFAULTS["every"]
    gamma: float = DEFAULTS["gamma"]
    clip: float | None = DEFAULTS["clip"]
    seed: int = DEFAULTS["seed"]
    validation: float = DEFAULTS["validation"]
    keep: str = DEFAULTS["keep"]
    origin: tuple[tuple[str, str], ...] = ()

    @property
    def from_spec(self) -> bool:
        """Whether the spec gave any setting (it has a train section that says something)."""
        return any(where == "spec" for _, where in self.origin)

    def describe(self, own_split: bool = False) -> str:
        """One line per setting group, marking defaults, for the start of a run. `own_split`:
        the data set brings its own validation split (the back end that loads it knows)."""
        origin = dict(self.origin)

        def mark(*fields: str) -> str:
            return "" if any(origin.get(f) != "default" for f in fields) else "  (default)"

        optimizer = f"{self.optimizer} lr={self.lr:g}" + (
            f" momentum={self.momentum:g}" if self.optimizer == "sgd" else f" betas=({self.beta1:g}, {self.beta2:g})")
        if self.weight_decay:
            optimizer += f" weight_decay={self.weight_decay:g}"
        schedule = self.schedule + (f" every={self.every} gamma={self.gamma:g}" if self.schedule == "step" else "")
        return "\n".join([
            f"  data       {self.data}" + (f" resize={self.resize}" if self.resize != "refuse" else "") + mark("data", "resize"),
            f"  loss       {self.loss}{mark('loss')}",
            f"  optimizer  {optimizer}{mark('optimizer', 'lr', 'momentum', 'beta1', 'beta2', 'eps', 'weight_decay')}",
            f"  epochs     {self.epochs}{mark('epochs')}",
            f"  batch      {self.batch}{mark('batch')}",
            f"  schedule   {schedule}{mark('schedule')}",
            f"  clip       {self.clip if self.clip else 'off'}{mark('clip')}",
            f"  seed       {self.seed}{mark('seed')}",
            f"  validation {self._validation_text(origin, own_split)}",
            f"  keep       {self.keep}{mark('keep')}",
        ])

    def _validation_text(self, origin: dict, own_split: bool) -> str:
        """The validation fraction, or the data set's own split where it brings one."""
        from_spec = origin.get("validation") != "default"
        if own_split and from_spec and not self.validation:
            return "0: none held out, the data set's validation split trains too"
        if own_split:
            return "the data set's own split" + (f" (validation {self.validation:g} does not apply)" if from_spec else "")
        return f"{self.validation:g}" + ("" if from_spec else "  (default)")


def bind_section(calls: tuple[LayerCall, ...] | None) -> TrainSettings:
    """The train section bound, once: the spec's settings over DEFAULTS, each field's origin
    'spec' or 'default', lr the optimizer's default unless given. The loss stays as written
    until the outputs are known (with_losses); SpecError, located, for any mistake."""
    given = _given(calls)
    settings = TrainSettings(**given, origin=tuple((name, "spec" if name in given else "default")
                                                   for name in DEFAULTS))
    if settings.lr is None:
        settings = dataclasses.replace(settings, lr=DEFAULT_LR[settings.optimizer])
    return settings


def with_losses(settings: TrainSettings, calls: tuple[LayerCall, ...] | None,
                classifiers: dict[str, bool]) -> TrainSettings:
    """`settings` (bind_section's) with the loss of every output filled in (output_losses);
    `classifiers`: output name -> whether a classifier, in declared order."""
    return dataclasses.replace(settings, loss=output_losses(calls, settings.loss, classifiers))


def _given(calls: tuple[LayerCall, ...] | None) -> dict:
    """The train section's settings as {field: value}, only those the spec gives."""
    found: dict = {}
    seen: dict[str, LayerCall] = {}
    losses: dict[str, tuple] = {}  # output -> (kind, weight, the line), from `loss OUTPUT KIND` lines
    for call in calls or ():
        if call.name not in SETTINGS:
            raise SpecError(f"unknown setting '{call.name}'", call.coord,
                            expected="one of " + ", ".join(SETTINGS),
                            hint=did_you_mean(call.name, SETTINGS) or "the train section holds settings, one a line")
        if call.name == "loss" and sum(arg.key is None for arg in call.args) >= 2:
            _per_output_loss(call, losses, seen)
            continue
        if call.name in seen:
            raise SpecError(f"setting '{call.name}' is given twice", call.coord,
                            received=f"first at line {seen[call.name].coord.line}", hint="keep one")
        seen[call.name] = call
        args = bind(call, SETTINGS[call.name])
        _check_applies(call, args)
        for name in args.given | {a.name for a in SETTINGS[call.name] if a.positional and args[a.name] is not None}:
            found[SETTING_FIELDS.get((call.name, name), name)] = args[name]
    if losses:
        found["loss"] = ", ".join(loss_entry(output, kind, weight) for output, (kind, weight, _) in losses.items())
    return found


def _per_output_loss(call: LayerCall, losses: dict, seen: dict) -> None:
    """Bind a `loss OUTPUT KIND weight=W` line into `losses`; SpecError for an output given
    twice, or beside a plain `loss KIND` line."""
    args = bind(call, PER_OUTPUT_LOSS)
    output = args["output"]
    if "loss" in seen and not losses:
        raise SpecError("setting 'loss' is given twice", call.coord,
                        received=f"first at line {seen['loss'].coord.line}",
                        hint="with several outputs, name the output on each loss line: loss OUTPUT KIND")
    if output in losses:
        raise SpecError(f"the loss of output {output} is given twice", call.coord,
                        received=f"first at line {losses[output][2].coord.line}", hint="keep one")
    losses[output] = (args["kind"], args["weight"], call)
    seen.setdefault("loss", call)


def output_losses(calls: tuple[LayerCall, ...] | None, loss: str | None,
                  classifiers: dict[str, bool]) -> str:
    """The `loss` setting for the outputs (name -> whether a classifier, declared order): a plain
    kind for one output, else the table with every output, defaults filled in. SpecError, at the
    line, for a loss line naming no declared output or a plain kind given for several outputs."""
    written = {}
    for call in calls or ():
        if call.name == "loss" and sum(arg.key is None for arg in call.args) >= 2:
            written[bind(call, PER_OUTPUT_LOSS)["output"]] = call
        elif call.name == "loss" and len(classifiers) > 1:
            names = list(classifiers)
            raise SpecError(f"this spec has {len(names)} outputs ({', '.join(names)}): each takes its own loss",
                            call.coord, expected="loss OUTPUT KIND [weight=W], one line per output",
                            hint=f"for example: loss {names[0]} {'cross_entropy' if classifiers[names[0]] else 'mse'}")
    for output, call in written.items():
        if output not in classifiers:
            raise SpecError(f"loss: no output named '{output}'", call.args[0].coord,
                            expected="one of the declared outputs: " + ", ".join(classifiers),
                            hint=did_you_mean(output, list(classifiers)))
    table = loss_table(loss) if loss else {}
    if len(classifiers) == 1 and not table:
        return loss or ("cross_entropy" if next(iter(classifiers.values())) else "mse")
    return ", ".join(loss_entry(name, *table.get(name, ("cross_entropy" if classifier else "mse", 1.0)))
                     for name, classifier in classifiers.items())


def _check_applies(call: LayerCall, args) -> None:
    """Refuse an argument that belongs to another kind of the setting (`optimizer adam momentum=0.9`)."""
    kind = args.values.get("kind")
    for name in sorted(args.given, key=lambda n: args.coords[n].column):
        owner = ONLY_FOR.get((call.name, name))
        if owner is None or owner == kind:
            continue
        applies = [a.name for a in SETTINGS[call.name] if not a.positional
                   and ONLY_FOR.get((call.name, a.name), kind) == kind]
        raise SpecError(f"{call.name} {kind} takes no '{name}': it is for {call.name} {owner} only", args.coords[name],
                        expected=f"{call.name} {kind} accepts " + (", ".join(f"{a}=..." for a in applies) or "nothing besides the kind"),
                        hint=f"drop {name}, or write {call.name} {owner}")


# command-line flags, checked with the same types as the settings they override
FLAG_TYPES = {"epochs": positive_int, "batch": positive_int, "lr": positive_number, "seed": seed_number}


def check_flag(name: str, value):
    """A command-line flag's value, checked like the setting it overrides; SpecError naming
    the flag if it does not fit."""
    convert = FLAG_TYPES.get(name)
    if convert is None:
        return value
    kind = "int" if isinstance(value, int) else "float"
    try:
        return convert(Value(kind, value, None))
    except ArgTypeError as error:
        raise SpecError(f"--{name} cannot be {value}", expected=f"--{name}: {error.expected}") from None


def with_flags(settings: TrainSettings, flags: dict) -> TrainSettings:
    """`settings` with command-line flags or API arguments over them: the one place where they
    are merged, for a new run (over the spec's) and a resumed one (over the checkpoint's). A
    flag set to None is not given; each is checked like the setting it overrides (check_flag)."""
    given = {name: check_flag(name, value) for name, value in flags.items() if value is not None}
    origin = dict(settings.origin, **dict.fromkeys(given, "flag"))
    return dataclasses.replace(settings, **given, origin=tuple(origin.items()))
