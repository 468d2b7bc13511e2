"""`specc show`: a network as pictures, from what the NumPy interpreter computes.

What is drawn depends on what is given (specc/pictures.py draws it):
- `--input NAME=FILE` (an image model): the input and the feature maps after every layer whose
  output is an image (conv, activations, pools, ...), per channel, numbers in maps up to 8x8,
  the classifier's answer in the title, then each conv layer's filters; for a sequence of
  vectors (`seq F`), every layer's value step by step;
- `--text "SENTENCE"` (a model whose input is words): each word's class and probability, and
  every rnn layer's hidden state over the words, each direction apart;
- neither: the network as a graph, each conv layer's filters, and for a run folder its
  training curves with the kept epoch marked.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SpecError

FORMATS = ("png", "svg", "pdf")
RUN_WEIGHTS = ("best.npz", "checkpoint.npz")  # the weights a run folder shows, in order of preference


@dataclass(frozen=True)
class Shown:
    """A network to draw: `net` (specc.api.Network with its weights), `run` its run folder or
    None, and `weights` the words saying where the weights came from, for titles."""

    net: object
    run: Path | None
    weights: str


# ---- what the user named: a spec, a run folder or an exported model ----

def open_target(target: str, weights: str | None = None, seed: int | None = None, data: str | None = None,
                onnx: bool | None = None) -> Shown:
    """The network that `target` names: a .nn spec (its starting weights, or `weights`), a run
    folder of specc train (its spec from its exported model, its best.npz, else checkpoint.npz),
    or an exported .onnx model (its spec from its metadata; its run folder's weights when it sits
    in one, else its own). `onnx`: whether `target` is a model (None: by its .onnx suffix).
    SpecError if none of these can be read."""
    from .api import load

    path = Path(target)
    if path.is_dir():
        return _open_run(path, weights, data)
    if path.suffix.lower() == ".onnx" if onnx is None else onnx:
        if any((path.parent / name).is_file() for name in RUN_WEIGHTS) and (path.parent / "history.json").is_file():
            return _open_run(path.parent, weights, data, path)
        return _open_model(path, weights, data)
    net = load(target, seed=seed, data=data, weights=weights)
    return Shown(net, None, f"weights from {weights}" if weights else _starting_words(net))


def _starting_words(net) -> str:
    """How a spec's own weights came: literal, seeded random, or both."""
    random = any(w.literal is None and w.init not in ("zeros", "ones") for layer in net.model.layers
                 for w in layer.weights)
    return f"untrained: starting weights (seed {net.seed})" if random else "the spec's own weights"


def _spec_of(model_path: Path) -> tuple[str, int, object]:
    """(spec text, seed, ModelProto) of an exported model; SpecError if it holds no spec."""
    import onnx

    try:
        proto = onnx.load(str(model_path))
    except Exception as error:  # onnx raises its own types (DecodeError ...) for a damaged file
        raise SpecError(f"cannot read {model_path} as an ONNX model: {error}") from None
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    if "specc.spec" not in metadata:
        raise SpecError(f"{model_path} holds no spec text (its metadata has no specc.spec), so its layers are unknown",
                        hint="show a model written by specc compile or specc train, or give its .nn spec")
    seed = metadata.get("specc.seed", "0")
    return metadata["specc.spec"], int(seed) if seed.isdigit() else 0, proto


def _open_run(folder: Path, weights: str | None, data: str | None, model_path: Path | None = None) -> Shown:
    """A run folder: its spec from its exported model, its best weights (or `weights`)."""
    from .api import loads

    if model_path is None:
        found = sorted(p for p in folder.glob("*.onnx") if not p.name.endswith((".int8.onnx", ".portable.onnx")))
        if not found:
            raise SpecError(f"{folder} holds no exported model (MODEL.onnx), whose metadata holds the spec",
                            hint="give a run folder written by specc train, or the spec with --weights")
        model_path = found[0]
    if weights is None:
        weights = next((str(folder / name) for name in RUN_WEIGHTS if (folder / name).is_file()), None)
        if weights is None:
            raise SpecError(f"{folder} holds no weights (best.npz or checkpoint.npz)",
                            hint="give a run folder written by specc train, or --weights CKPT")
    text, seed, _ = _spec_of(model_path)
    net = loads(text, file=f"{model_path} (its spec)", seed=seed, data=data, weights=weights)
    return Shown(net, folder, f"trained: {folder.name}/{Path(weights).name}" if Path(weights).parent == folder
                 else f"trained: {weights}")


def _open_model(model_path: Path, weights: str | None, data: str | None) -> Shown:
    """An exported model outside a run folder: its spec, and `weights` or its own initializers
    (refused where the export folded them into others: batchnorm, word lookups)."""
    from onnx import numpy_helper

    from .api import loads

    text, seed, proto = _spec_of(model_path)
    net = loads(text, file=f"{model_path} (its spec)", seed=seed, data=data, weights=weights)
    if weights is not None:
        return Shown(net, None, f"trained: {weights}")
    stored = {t.name: t for t in proto.graph.initializer}
    missing = [name for name, value in net.weights.items()
               if name not in stored or tuple(stored[name].dims) != value.shape]
    if missing:
        raise SpecError(f"{model_path} does not hold {missing[0]} as specc trains it (the export folded it into "
                        "another weight)", hint="give the run's checkpoint: --weights RUN/checkpoint.npz")
    net.weights = {name: numpy_helper.to_array(stored[name]).astype(np.float32) for name in net.weights}
    return Shown(net, None, f"weights of {model_path}")


# ---- what to draw ----

def sections_for(shown: Shown, given: dict | None = None, text: str | None = None) -> tuple[list, str, tuple | None]:
    """(the figure's sections, its title, the section drawn on their left or None) for what the
    user gave: `given` inputs by name (as read from files), or a sentence `text`, or neither."""
    from . import pictures

    net = shown.net
    if given and text is not None:
        raise SpecError("give --input or --text, not both", hint="--input draws feature maps, --text a sentence")
    if text is not None:
        sections, said = _sentence_sections(net, text)
        return sections, f"{net.name}: \"{text.strip()}\"{': ' + said if said else ''} ({shown.weights})", None
    if given:
        sections, said = _feature_map_sections(net, given)
        what = "feature maps" if any(len(i.shape) == 4 for i in net.model.inputs) else "every layer, step by step"
        title = f"{net.name}: {what}{': ' + said if said else ''} ({shown.weights})"
        return sections + filter_sections(net), title, None
    sections = filter_sections(net)
    if shown.run is not None and (shown.run / "history.json").is_file():
        sections.append(pictures.training_section(read_history(shown.run / "history.json")))
    title = f"{net.name}: {net.param_count:,} parameters ({shown.weights})"
    return sections, title, pictures.graph_section(*network_graph(net.model))


def filter_sections(net) -> list:
    """The kernels of each conv layer, one section each."""
    from . import pictures

    return [pictures.filter_section(f"{layer.id} ({layer.call_text})", net.weights[layer.weight_name("weight")])
            for layer in net.model.layers if layer.kind == "conv"]


def network_graph(model) -> tuple[list[tuple[str, str, str]], list[tuple[int, int]]]:
    """The network as pictures.graph_section draws it: a box per input, layer and output, in
    written order, (kind, the layer as written, its line, output shape and parameters), and an
    arrow (from, to) for every value a layer reads: the flowing one and a merge's operands."""
    from .shapes import fmt

    boxes = [("input", f"input {i.name}", f"line {i.coord.line} · {i.form} {fmt(i.shape)}") for i in model.inputs]
    where = {i.name: k for k, i in enumerate(model.inputs)}  # value name -> the box that gives it
    arrows = []
    for chain in model.chains:
        previous = where[chain.source]
        for layer in chain.layers:
            call = layer.call_text if len(layer.call_text) <= 48 else layer.call_text[:45] + "..."
            boxes.append((layer.kind, call, f"line {layer.coord.line} · {fmt(layer.out_shape)} · "
                                            f"{layer.param_count:,} parameters"))
            arrows += [(previous, len(boxes) - 1)] + [(where[name], len(boxes) - 1) for name in layer.operands]
            previous = len(boxes) - 1
        if chain.name is not None:
            where[chain.name] = previous
            boxes[previous] = (boxes[previous][0], f"{boxes[previous][1]}  = {chain.name}", boxes[previous][2])
        else:
            classes = " | ".join(chain.output.classes or ())
            said = classes if len(classes) <= 40 else f"{len(chain.output.classes)} classes"
            boxes.append(("output", f"output {chain.output.name}", said or "values"))
            arrows.append((previous, len(boxes) - 1))
    return boxes, arrows


def _one_sample(net, given: dict) -> dict:
    """The inputs prepared as the interpreter takes them, refused unless they hold one sample."""
    prepared = net.prepare(given)
    for name, value in prepared.items():
        if value.shape[0] != 1:
            raise SpecError(f"--input {name} holds {value.shape[0]} samples; specc show draws one",
                            hint="give a file with one sample")
    return prepared


def _feature_map_sections(net, given: dict) -> tuple[list, str]:
    """The input image and every layer output that is an image, of the one sample given; and
    what its classifiers answer (see answers)."""
    from specc.runtime.interpreter import layer_values

    from . import pictures

    images = [i for i in net.model.inputs if len(i.shape) == 4]
    sequences = [i for i in net.model.inputs if i.form == "seq"]
    if not images and not sequences:
        forms = ", ".join(f"{i.name} ({i.form})" for i in net.model.inputs)
        raise SpecError(f"feature maps need an image input or a sequence of vectors; {net.name} has {forms}",
                        hint="for a model of words give --text \"a sentence\"; for others use specc run")
    prepared = _one_sample(net, given)
    values = layer_values(net.model, net.weights, prepared)
    if not images:  # a sequence of vectors: each layer's value per step
        steps = [f"step {t + 1}" for t in range(prepared[sequences[0].name].shape[1])]
        sections = [pictures.steps_section(steps, f"input {i.name}", prepared[i.name][0], "value") for i in sequences]
        for layer in net.model.layers:
            if len(layer.out_shape) == 3:
                sections += _step_sections(steps, layer, values[layer.id][0])
        return sections, answers(net.model, values)
    rows = [(f"input {i.name}", prepared[i.name][0]) for i in images]
    rows += [(layer.id, values[layer.id][0]) for layer in net.model.layers if len(layer.out_shape) == 4]
    return [pictures.feature_map_section(rows)], answers(net.model, values)


def classifiers(model, rank: int):
    """(output, its chain's last layer, 'probability' or 'score') of each classifier output
    whose values have `rank` dimensions: 2 per sample, 3 per word."""
    for chain in model.chains:
        last = chain.layers[-1] if chain.layers else None
        if chain.output is not None and chain.output.classes and last is not None and len(last.out_shape) == rank:
            yield chain.output, last, "probability" if last.kind in ("softmax", "sigmoid") else "score"


def answers(model, values: dict) -> str:
    """What the sample's classifier outputs say, for a title: `label = X (probability 0.98)`;
    '' for a model with no per-sample classifier."""
    said = []
    for output, last, what in classifiers(model, 2):
        scores = values[last.id][0]
        best = int(np.argmax(scores))
        said.append(f"{output.name} = {output.classes[best]} ({what} {scores[best]:.2f})")
    return "; ".join(said)


def _sentence_sections(net, text: str) -> tuple[list, str]:
    """Each per-word classifier output's class and probability per word, then each rnn layer's
    hidden state over the words, one heat map per direction; and what the sentence's
    classifiers answer (see answers)."""
    from specc.runtime.interpreter import layer_values

    from . import pictures
    from .feed import as_sentences

    words_inputs = [i for i in net.model.inputs if i.form == "tokens"]
    if len(net.model.inputs) != 1 or not words_inputs:
        raise SpecError(f"--text needs a model with one input of words; {net.name} has inputs "
                        f"{', '.join(f'{i.name} ({i.form})' for i in net.model.inputs)}",
                        hint="for an image model give --input NAME=FILE")
    if not text.split():
        raise SpecError(f"--text {text!r} has no words", hint='give a sentence: --text "arrive Taipei on Monday"')
    name = words_inputs[0].name
    prepared = {name: as_sentences(name, text)}
    words = [str(w) for w in prepared[name][0]]
    values = layer_values(net.model, net.weights, net.prepare(prepared))
    sections = []
    for output, last, what in classifiers(net.model, 3):
        scores = values[last.id][0]
        best = scores.argmax(axis=-1)
        sections.append(pictures.tag_section(words, output.name, [output.classes[k] for k in best],
                                             scores[np.arange(len(words)), best], what))
    for layer in net.model.layers:
        if layer.kind == "rnn":
            sections += _step_sections(words, layer, values[layer.id][0])
    return sections, answers(net.model, values)


def _step_sections(steps: list[str], layer, values: np.ndarray) -> list:
    """A layer's output per step (T, F) as a heat map; an rnn's as one per direction (forward
    first, as the layer joins them), named its state."""
    from . import pictures

    if layer.kind != "rnn":
        return [pictures.steps_section(steps, f"{layer.id} ({layer.call_text})", values, "value")]
    attrs, width = layer.attrs, layer.attrs.out
    names = ("forward", "backward") if attrs.directions == 2 else ("",)
    stacked = f", the last of {attrs.layers} stacked" if attrs.layers > 1 else ""
    return [pictures.steps_section(steps, f"{layer.id} ({layer.call_text}): {direction + ' ' if direction else ''}"
                                          f"state per step{stacked}", values[:, d * width:(d + 1) * width])
            for d, direction in enumerate(names)]


def read_history(path: Path) -> list[dict]:
    """A run's history.json: a list of epoch records; SpecError naming the file otherwise."""
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise SpecError(f"cannot read {path}: {error}", hint="train the run again to rewrite it") from None
    if not isinstance(history, list) or not history or not all(
            isinstance(r, dict) and isinstance(r.get("epoch"), int) for r in history):
        raise SpecError(f"{path} is not a specc training history (a list of epoch records)",
                        hint="train the run again to rewrite it")
    return history


# ---- the command ----

def picture_format(path: str | Path) -> str:
    """png, svg or pdf, from a picture's suffix; SpecError for any other."""
    form = Path(path).suffix.lower().lstrip(".")
    if form not in FORMATS:
        raise SpecError(f"cannot write a picture to {path}: its suffix must be .png, .svg or .pdf",
                        received=Path(path).suffix or "no suffix", hint="for example -o picture.png")
    return form


def show(target: str, *, weights: str | None = None, inputs: dict | None = None, text: str | None = None,
         output: str | None = None, seed: int | None = None, data: str | None = None,
         onnx: bool | None = None) -> Path:
    """Draw what `target` names (see the module's docstring) and write the picture atomically.
    `inputs`: arrays by input name, as read from files; `onnx` as open_target takes it.
    Returns the path written."""
    from .atomic import destination, write_atomically
    from .pictures import compose, figure_bytes, pyplot

    pyplot()  # before any work: without matplotlib the command stops here, naming the extra
    if output:  # a wrong suffix or a path that cannot be written is refused before the work
        picture_format(output)
        destination(output)
    shown = open_target(target, weights, seed, data, onnx)
    path = Path(output or f"{shown.net.name}.show.png")
    form = picture_format(path)
    destination(path)
    figure = compose(*sections_for(shown, inputs, text))
    write_atomically(path, figure_bytes(figure, form))
    return path
