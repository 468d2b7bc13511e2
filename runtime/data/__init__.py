"""Training data for a spec: the built-in X/O generator and UCI digits, a .npz/.csv file, or a
folder of images (runtime/data/images.py).

`load_data` returns a :class:`Dataset` whose arrays already fit the spec: inputs are float32
batches of the spec's input shape, classifier labels are int64 indices into the spec's classes
(in the spec's order), targets of a raw output are float32. Data that does not fit is a
SpecError raised here, naming both the data and the spec, before any training starts.

NumPy is imported inside the functions that need it: `specc check` reads sentences through this
package (their vocabulary and classes) and imports none.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from specc.errors import SpecError, did_you_mean

BUILTIN = ("xo", "digits", "flights", "atis")
# built-in data sets that bring their own validation split: the validation fraction does not apply,
# but for 0, which trains on the validation split too
OWN_SPLIT = ("xo", "flights", "atis")
FILE_FORMATS = (".npz", ".csv")


def install_hint(extra: str, package: str) -> str:
    """How to install an optional dependency: from the checkout, since a different, unrelated
    `specc` is on the package index and an extra asked of it would fetch that one."""
    return f'from the specc checkout: python -m pip install -e ".[{extra}]"  (or: python -m pip install {package})'


@dataclass(frozen=True)
class Split:
    """One part of a data set.

    `x`: float32 (N, *sample_shape), the spec's input shape. `y`: int64 class indices (N,) for
    a classifier ((N, T) per step for a sequence), float32 (N, *target_shape) for a raw output.
    For a spec with several inputs or outputs, `x` and `y` map each input's and output's name
    to such an array, all of N rows.
    """

    x: np.ndarray | dict
    y: np.ndarray | dict

    def __len__(self) -> int:
        return len(next(iter(self.x.values()))) if isinstance(self.x, dict) else len(self.x)


@dataclass(frozen=True)
class Dataset:
    """Train, validation and (where the data has one) held-out test splits.

    `classes` are the spec's class names in the spec's order (the labels index them), or None
    for a raw output.
    """

    name: str
    train: Split
    validation: Split
    test: Split | None
    classes: tuple[str, ...] | None

    def validation_trains_too(self) -> Dataset:
        """The same data with the validation rows appended to the training rows, none left to
        validate (`validation 0` on a data set with its own split; x and y plain arrays)."""
        import numpy as np

        joined = Split(*(np.concatenate([a, b]) for a, b in ((self.train.x, self.validation.x),
                                                               (self.train.y, self.validation.y))))
        return replace(self, train=joined, validation=Split(self.validation.x[:0], self.validation.y[:0]))


@dataclass(frozen=True)
class SpecSide:
    """What the spec asks of the data: its input's name and one sample's shape ((1, 12, 12),
    (3,), ('T', 3)), and its output's name and class names (None for a raw output). `per_step`:
    for a sequence input, whether the output gives a class per step (a tagger) rather than one
    per sequence (a sentence classifier, after `last`)."""

    input_name: str
    input_shape: tuple
    output_name: str
    classes: tuple[str, ...] | None
    per_step: bool = True

    def input_text(self) -> str:
        """The input's shape as the spec writes it: '1x12x12', '3', 'seq 3'."""
        if self.is_words:
            return "seq token"
        if any(isinstance(d, str) for d in self.input_shape):
            return f"seq {self.input_shape[-1]}"
        return "x".join(str(d) for d in self.input_shape)

    def classes_text(self) -> str:
        return " | ".join(self.classes or ())

    def output_text(self) -> str:
        """'label (X | O)' for a classifier, 'h (a raw output)' otherwise."""
        kind = self.classes_text() if self.classes else "a raw output"
        return f"{self.output_name} ({kind})"

    @property
    def is_words(self) -> bool:
        """The input is a sentence of words (`seq token`): one sample's shape is ('T',)."""
        return self.input_shape == ("T",)

    @property
    def is_sequence(self) -> bool:
        return any(isinstance(d, str) for d in self.input_shape)


def load_data(source: str, *, input_name: str, input_shape: tuple[int, ...], output_name: str,
              classes: tuple[str, ...] | None, seed: int = 0, validation: float = 0.1,
              sentences=None, resize: str = "refuse", per_step: bool = True) -> Dataset:
    """Load `source` ('xo', 'digits', a path to a .npz or .csv file, or a folder of images in
    class subfolders) to fit the spec.

    `input_shape` is one sample's shape from the spec: (1, 12, 12) for an image, (3,) for a
    vector. `classes` are the spec output's class names (None for a raw output); labels come
    back as indices into them. `seed` picks the training (and validation) samples; the test
    split of a built-in data set is the same in every run. `validation` is the fraction of the
    training rows held out for validation (digits and files; xo generates 2,000 + 400).
    `sentences`: for a spec that reads words, the (train, validation, test) sentences of `source`
    if they were already read (specc.runtime.data.sentences.load_sentences), so they are not read again.
    `resize`: how images of a folder that differ from the input's size are made to fit
    (runtime/data/images.py: refuse, stretch, fit or crop); only a folder takes another than refuse.
    `per_step`: for a `seq token` input, whether the output tags every word (else it classifies
    each sentence, and learns the sentences' labels).
    """
    check_fraction(validation)
    spec = SpecSide(input_name, tuple(input_shape), output_name, None if classes is None else tuple(classes),
                    per_step)
    # a built-in name means the built-in set even where a folder of that name is here: write
    # ./atis for the folder
    if source not in BUILTIN and Path(source).is_dir():
        from .images import load_folder
        return load_folder(source, spec, seed, validation, resize)
    if resize != "refuse":
        raise SpecError(f"resize={resize} applies to a folder of images, and the data {source} is not one",
                        expected=f'data "FOLDER" resize={resize}, FOLDER holding one subfolder of images per class',
                        received=source, hint="drop resize=, or give a folder of images")
    if spec.is_words:
        from .sentences import load_tagged_data
        return load_tagged_data(source, spec, seed, validation, sentences)
    if source in ("flights", "atis"):
        raise SpecError(f"the data set {source} is sentences of words, but the spec's input {input_name} is "
                        f"{spec.input_text()}", expected=f"input {input_name}: seq token",
                        hint="a tagger reads words: input words: seq token, then onehot")
    # Loaders are imported here: they import the checks below, and digits pulls in scikit-learn.
    if source == "xo":
        from .xo import load_xo
        generated = load_xo(spec, seed)
        return generated if validation else generated.validation_trains_too()
    if source == "digits":
        from .digits import load_digits
        return load_digits(spec, seed, validation)
    if Path(source).suffix.lower() in FILE_FORMATS:
        from .files import load_file
        return load_file(source, spec, seed, validation)
    if Path(source).exists():
        raise SpecError(f"cannot read data from {source}: not a .npz or .csv file",
                        expected="a built-in data set (xo, digits; flights, atis for words) or a .npz or .csv file", received=source,
                        hint="save the data with numpy.savez or as a CSV file with a header row")
    raise SpecError(f"unknown data set '{source}'",
                    expected="a built-in data set (xo, digits; flights, atis for words), a .npz or .csv file, or a folder of images",
                    received=source, hint=did_you_mean(source, BUILTIN) or "a file name must end in .npz or .csv")


def load_graph_data(source: str, inputs: list[SpecSide], outputs: list[SpecSide], seed: int = 0,
                    validation: float = 0.1) -> Dataset:
    """The data of a spec with several inputs or outputs: a .npz file with one array named after
    each (runtime/data/files.load_arrays); for a spec whose one input is `seq token`, also
    sentences (flights, atis, a token/tag or label<TAB>sentence file), each output learning the
    words' tags or the sentences' labels. `inputs`: each input's name and sample shape;
    `outputs`: each output's name and classes, with the input whose steps per-step targets
    follow. The splits' x and y map names to arrays."""
    check_fraction(validation)
    if len(inputs) == 1 and inputs[0].is_words and Path(source).suffix.lower() != ".npz":
        from .sentences import load_sentence_graph
        # an output that follows the words' steps tags them; any other classifies the sentence
        return load_sentence_graph(source, inputs[0], [replace(s, per_step=s.is_words) for s in outputs],
                                   seed, validation)
    if source in BUILTIN:
        raise SpecError(f"the built-in data set {source} has one input and one output; this spec has "
                        f"{len(inputs)} inputs and {len(outputs)} outputs",
                        hint="give a .npz file with one array per input and output: numpy.savez(path, "
                             + ", ".join(f"{s.input_name}=..." for s in inputs) + ", "
                             + ", ".join(f"{s.output_name}=..." for s in outputs) + ")")
    from .files import load_arrays
    return load_arrays(source, inputs, outputs, seed, validation)


def check_fraction(validation: float) -> None:
    if not 0 <= validation < 1:
        raise SpecError(f"the validation fraction must be at least 0 and below 1: received {validation}",
                        hint="for example 0.1 holds out a tenth of the training data")


# ---- checks shared by the loaders ----

def fit_samples(x: np.ndarray, spec: SpecSide, where: str) -> np.ndarray:
    """`x` (N, ...) as float32 (N, *spec.input_shape); reshaped when the number of values per
    sample matches exactly. A symbolic dimension ('T') matches any length."""
    import numpy as np

    sample = tuple(x.shape[1:])
    want = spec.input_shape
    fits = len(sample) == len(want) and all(isinstance(w, str) or s == w for s, w in zip(sample, want))
    if fits:
        return np.ascontiguousarray(x, dtype=np.float32)
    if not spec.is_sequence and math.prod(sample) == math.prod(want):
        return np.ascontiguousarray(x.reshape((len(x),) + want), dtype=np.float32)
    raise SpecError(f"{where} has samples of shape {sample}, the spec's input {spec.input_name} is {spec.input_text()}",
                    expected=f"samples of shape {want} ({spec.input_text()})", received=f"samples of shape {sample}",
                    hint=f"reshape the data, or change the spec's line 'input {spec.input_name}: ...'")


def check_finite(array: np.ndarray, what: str, locate=None) -> None:
    """Raise unless every value of a float array is finite; `locate` turns the index of the
    first bad value into words (default: 'sample i')."""
    import numpy as np

    bad = ~np.isfinite(array)
    if not bad.any():
        return
    nans = int(np.isnan(array).sum())
    infinite = int(bad.sum()) - nans
    counts = " and ".join(_count(k, kind) for k, kind in ((nans, "NaN value"), (infinite, "infinite value")) if k)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = locate(first) if locate else f"sample {first[0]}"
    raise SpecError(f"found {counts} in {what}",
                    received=f"the first at {where}", hint="remove or fill in those values before training")


def labels_by_name(labels: np.ndarray, data_classes: tuple[str, ...], spec: SpecSide, where: str) -> np.ndarray:
    """Indices into a data set's own `data_classes` -> indices into the spec's classes, which
    must be the same names in any order."""
    import numpy as np

    data_text = " | ".join(data_classes)
    if spec.classes is None:
        raise SpecError(f"{where} has classes {data_text}, but the spec's output {spec.output_name} is a raw output",
                        expected=f"a classifier output with classes {data_text}", received=spec.output_text(),
                        hint=f"declare the output as 'output {spec.output_name}: {data_text}'")
    if set(data_classes) != set(spec.classes) or len(data_classes) != len(spec.classes):
        raise SpecError(f"{where} has classes {data_text}, but the spec's output {spec.output_name} "
                        f"has classes {spec.classes_text()}",
                        expected=f"classes {data_text} (in any order)", received=spec.output_text(),
                        hint=f"declare the output as 'output {spec.output_name}: {data_text}'")
    to_spec = np.array([spec.classes.index(name) for name in data_classes], dtype=np.int64)
    return to_spec[labels]


def targets_for_spec(y: np.ndarray, spec: SpecSide, where: str, steps: int | None = None) -> np.ndarray:
    """Labels or targets as read from a file -> what the trainer takes.

    For a classifier: class names or whole numbers (N,) (or (N, 1); (N, T) per step when the
    input is a sequence of `steps` steps) -> int64 indices into the spec's classes. For a raw
    output: numbers (N, ...) -> float32, a column (N,) becoming (N, 1).
    """
    import numpy as np

    if y.dtype.kind in "US":
        return _names_to_indices(y, spec, where)
    if y.dtype.kind not in "biuf":
        raise SpecError(f"{where} must hold numbers or class names: received an array of {y.dtype}")
    if spec.classes is None:
        targets = y.astype(np.float32)
        check_finite(targets, where)
        return targets[:, None] if targets.ndim == 1 else targets
    labels = _one_label_per_sample(y, spec, where, steps)
    if labels.dtype.kind == "f":
        check_finite(labels, where)
        fractional = labels[labels != np.round(labels)]
        if fractional.size:
            raise SpecError(f"{where} holds fractional targets, but the spec's output {spec.output_name} "
                            "is a classifier",
                            expected=f"class indices 0..{len(spec.classes) - 1} or class names {spec.classes_text()}",
                            received=f"{_count(fractional.size, 'fractional value')}, e.g. {fractional[0]:g}",
                            hint=f"give class labels, or declare a raw output: 'output {spec.output_name}'")
    indices = labels.astype(np.int64)
    outside = indices[(indices < 0) | (indices >= len(spec.classes))]
    if outside.size:
        raise SpecError(f"{where} holds label {outside[0]}, which is not a class index of the spec's output "
                        f"{spec.output_name} ({spec.classes_text()})",
                        expected=f"indices 0..{len(spec.classes) - 1} or class names {spec.classes_text()}",
                        received=f"labels {_listing(np.unique(outside))}")
    return indices


def _one_label_per_sample(y: np.ndarray, spec: SpecSide, where: str, steps: int | None) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim == 1 or (spec.is_sequence and y.ndim == 2 and y.shape[1] == steps):
        return y
    raise SpecError(f"{where} has labels of shape {y.shape[1:]} per sample, but the spec's output "
                    f"{spec.output_name} is a classifier ({spec.classes_text()})",
                    expected="one class label per sample, (N,)", received=f"labels of shape {y.shape}",
                    hint="for one-hot rows, save y.argmax(axis=1)")


def _names_to_indices(y: np.ndarray, spec: SpecSide, where: str) -> np.ndarray:
    import numpy as np

    names, inverse = np.unique(y, return_inverse=True)
    if spec.classes is None:
        raise SpecError(f"{where} holds class names, but the spec's output {spec.output_name} is a raw output",
                        expected="numbers", received=f"class names {_listing(names)}",
                        hint=f"declare a classifier: 'output {spec.output_name}: {' | '.join(names[:4])}'")
    unknown = [str(name) for name in names if name not in spec.classes]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise SpecError(f"{where} holds label{plural} {_listing(unknown)}, not among the spec's classes "
                        f"{spec.classes_text()}",
                        expected=f"labels among {spec.classes_text()}", received=f"label{plural} {_listing(unknown)}",
                        hint=f"add the class{'es' if plural else ''} to 'output {spec.output_name}: ...', "
                             "or drop those rows")
    lookup = np.array([spec.classes.index(name) for name in names], dtype=np.int64)
    return lookup[inverse].reshape(y.shape)


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}{'s' if k != 1 else ''}"


def _listing(values, most: int = 5) -> str:
    shown = [f"'{v}'" if isinstance(v, str) else str(v) for v in list(values)[:most]]
    more = len(values) - most
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


# ---- splits ----

def holdout(n: int, fraction: float, rng: np.random.Generator,
            strata: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out), each sorted, with round(fraction * n) held out at random.

    With `strata` (N,) labels, every class gives the same fraction, its share rounded so the
    total is still round(fraction * n) (largest remainders first).
    """
    import numpy as np

    count = round(fraction * n)
    order = rng.permutation(n)
    if strata is None:
        return np.sort(order[count:]), np.sort(order[:count])
    _, group, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    quota = fraction * sizes
    take = np.floor(quota).astype(np.int64)
    take[np.argsort(take - quota, kind="stable")[:count - take.sum()]] += 1
    grouped = order[np.argsort(group[order], kind="stable")]  # shuffled within each class
    starts = np.cumsum(sizes) - sizes
    rank = np.arange(n) - starts[group[grouped]]
    held = rank < take[group[grouped]]
    return np.sort(grouped[~held]), np.sort(grouped[held])


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int,
                     strata: np.ndarray | None = None) -> tuple[Split, Split]:
    """(train, validation) from the training rows: a `fraction` of them held out, chosen by `seed`."""
    import numpy as np

    kept, held = holdout(len(x), fraction, np.random.default_rng(seed), strata)
    return Split(x[kept], y[kept]), Split(x[held], y[held])
