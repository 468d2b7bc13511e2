"""SpecSyntax -> checked Model: resolve layers, bind arguments, infer shapes, count weights."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from .budget import check_memory
from .errors import Coord, SpecError, did_you_mean, source_lines
from .ir import Chain, Input, Layer, Model, Output
from .layers import REGISTRY
from .shapes import BATCH, TIME, ShapeError, fmt, form
from .signature import bind
from .syntax import ChainSyntax, InputDecl, LayerCall, OutputDecl, SpecSyntax
from .training import settings_from_spec


def _input(decl: InputDecl) -> Input:
    dims = decl.dims
    if decl.form == "image":
        if len(dims) == 2:
            dims = (1,) + dims  # HxW: one channel
        if len(dims) != 3:
            raise SpecError(f"input {decl.name}: an image is channels x height x width", decl.coord,
                            received="x".join(map(str, decl.dims)), expected="like 1x28x28 (or 28x28 for one channel)")
        shape = (BATCH,) + dims
    elif decl.form == "vector":
        shape = (BATCH,) + dims
    elif decl.form == "seq":
        shape = (BATCH, TIME) + dims
    else:
        shape = (BATCH, TIME)
    if any(d < 1 for d in dims):
        raise SpecError(f"input {decl.name} has a size of 0", decl.coord, hint="every size must be at least 1")
    return Input(decl.name, form(shape), shape, decl.coord)


def _output(decl: OutputDecl, tables) -> Output:
    if decl.from_data:
        if tables is None:
            raise SpecError(f"output {decl.name} takes its classes from data, and none is given", decl.coord,
                            hint="load the spec with its training data (specc.load(..., data=...))")
        return Output(decl.name, tuple(tables.classes(decl.name)), decl.coord)
    if decl.classes is not None:
        if len(decl.classes) < 2:
            raise SpecError(f"output {decl.name} has one class", decl.coord,
                            expected="two or more class names, like X | O",
                            hint="for a raw tensor output, drop the ':' and the classes")
        seen = set()
        for name in decl.classes:
            if name in seen:
                raise SpecError(f"output {decl.name} names class '{name}' twice", decl.coord,
                                received=" | ".join(decl.classes), hint="class names must be distinct")
            seen.add(name)
    return Output(decl.name, decl.classes, decl.coord)


def _unique(items, what: str) -> dict:
    found = {}
    for item in items:
        if item.name in found:
            raise SpecError(f"{what} '{item.name}' is declared twice", item.coord,
                            received=f"first at line {found[item.name].coord.line}",
                            hint=f"give each {what} its own name")
        found[item.name] = item
    return found


def _pair_outputs(chains: tuple[ChainSyntax, ...], outputs: dict[str, Output]):
    """Each chain with its output: named at the chain's end (`-> label`), else in order."""
    explicit: list[tuple[tuple[LayerCall, ...], Output | None, ChainSyntax]] = []
    for chain in chains:
        last = chain.layers[-1]
        if last.name in outputs and not last.args:
            if len(chain.layers) == 1:
                raise SpecError(f"chain from {chain.source} has no layers before output {last.name}",
                                last.coord, hint=f"write {chain.source} -> LAYER ... -> {last.name}")
            explicit.append((chain.layers[:-1], outputs[last.name], chain))
        else:
            explicit.append((chain.layers, None, chain))
    used = {o.name for _, o, _ in explicit if o is not None}
    free = [o for name, o in outputs.items() if name not in used]
    paired = []
    for layers, output, chain in explicit:
        if output is None:
            if free:
                output = free.pop(0)
            elif not outputs and len(chains) == 1:
                output = Output("output", None, None)
            else:
                raise SpecError(f"the chain from {chain.source} leads to no output", chain.source_coord,
                                expected="one declared output per chain",
                                hint="declare one with 'output NAME', or end the chain with '-> NAME' of a declared output")
        paired.append((chain, layers, output))
    if free:
        o = free[0]
        raise SpecError(f"output {o.name} is produced by no chain", o.coord,
                        hint=f"end a chain with '-> {o.name}', or remove the output")
    names = [o.name for _, _, o in paired]
    for name in names:
        if names.count(name) > 1:
            raise SpecError(f"two chains lead to output {name}", outputs[name].coord,
                            hint="each output takes exactly one chain")
    return paired


def _call_coord(call: LayerCall, arg: str | None, args) -> Coord:
    if arg and arg in args.coords:
        return args.coords[arg]
    return Coord(call.coord.file, call.coord.line, call.coord.column, len(call.text()), call.coord.text_line)


def _size_from_classes(calls: tuple[LayerCall, ...], output: Output) -> int | None:
    """Index of the call whose size the output's classes decide: the last layer with a size_arg."""
    for index in range(len(calls) - 1, -1, -1):
        kind = REGISTRY.get(calls[index].name)
        if kind is not None and kind.size_arg:
            return index
    return None


def _layer_ids(calls: list[LayerCall]) -> list[str]:
    """Each layer's id from its kind and line (`conv@5`), with the column where a line has two
    layers of one kind."""
    keys = [f"{call.name}@{call.coord.line}" for call in calls]
    counts = Counter(keys)
    return [key if counts[key] == 1 else f"{key}:{call.coord.column}" for key, call in zip(keys, calls)]


def _with_vocabulary(kind, args, layer_id: str, call: LayerCall, tables):
    """args with the layer's vocabulary filled in from the training data when the spec gives none."""
    name = getattr(kind, "vocabulary_arg", None)
    if name is None or args[name] is not None:
        return args
    if tables is None:
        raise SpecError(f"{call.name} takes its vocabulary from data, and none is given", _call_coord(call, None, args),
                        hint=f"give the words ({call.name} {name}=[a, b, c]), or load the spec with its training data")
    values = dict(args.values, **{name: tables.vocabulary(layer_id, kind, args)})
    return type(args)(values, args.given, args.coords)


def _layers(calls: tuple[LayerCall, ...], ids: list[str], source: Input, output: Output, tables) -> list[Layer]:
    shape = source.shape
    made_by = f"input {source.name}"
    layers = []
    sized_index = _size_from_classes(calls, output)
    for index, call in enumerate(calls):
        kind = REGISTRY.get(call.name)
        if kind is None:
            suggestion = did_you_mean(call.name, REGISTRY)
            where = _call_coord(LayerCall(call.name, (), call.coord), None, None)
            if index == len(calls) - 1 and not call.args and suggestion is None:
                # a bare name ending a chain is meant as its output (`x -> dense 2 -> y`)
                raise SpecError(f"the chain ends in '{call.name}', which is not a declared output", where,
                                expected="a declared output, or a layer", received=call.name,
                                hint=f"declare it on a line of its own: output {call.name}")
            raise SpecError(f"unknown layer '{call.name}'", where,
                            expected="one of " + ", ".join(sorted(REGISTRY)),
                            hint=suggestion or "see the layer list in README.md")
        args = _with_vocabulary(kind, bind(call, kind.signature, REGISTRY), ids[index], call, tables)
        if kind.size_arg and args[kind.size_arg] is None:
            if index == sized_index and output.classes:
                values = dict(args.values, **{kind.size_arg: len(output.classes)})
                args = type(args)(values, args.given, args.coords)
            else:
                why = ("its output has no classes" if index == sized_index
                       else "only the last sized layer of a chain takes its size from the output's classes")
                raise SpecError(f"{call.name} needs a size: {why}", _call_coord(call, None, args),
                                expected=f"{call.name} N, as in {call.name} 10",
                                hint="give the size, or declare classes on the output (output label: A | B)")
        try:
            inferred = kind.infer(args, shape)
        except ShapeError as error:
            hint = error.hint
            if form(shape) == "tokens":
                hint = "a sequence of words must first become vectors: start the chain with onehot or wordhash"
            raise SpecError(f"{call.text()} {error.message}: received {fmt(shape)} from {made_by}",
                            _call_coord(call, error.arg, args), expected=error.expected,
                            received=f"{fmt(shape)} from {made_by}", hint=hint) from None
        layers.append(Layer(call.name, ids[index], call.text(), args, inferred.attrs, shape, inferred.shape,
                            inferred.weights, call.coord))
        shape = inferred.shape
        made_by = f"{call.text()} at line {call.coord.line}"
    return layers


def _class_hint(layers: list[Layer]) -> str:
    if any(REGISTRY[layer.kind].size_arg for layer in layers):
        return "leave out the size of the final dense: it then takes it from the classes"
    return "add dense at the end of the chain (its size then comes from the classes), then softmax"


def _check_output(layers: list[Layer], output: Output, source: Input) -> None:
    if output.classes is None:
        return
    last = layers[-1]
    width = last.out_shape[-1]
    if form(last.out_shape) not in ("vector", "seq") or width != len(output.classes):
        where = output.coord or last.coord
        raise SpecError(f"output {output.name} has {len(output.classes)} classes but the chain from "
                        f"{source.name} ends with {last.call_text} at line {last.coord.line} giving {fmt(last.out_shape)}",
                        where, expected=f"a last layer of width {len(output.classes)} ({' | '.join(output.classes)})",
                        received=fmt(last.out_shape),
                        hint=_class_hint(layers))


def build(syntax: SpecSyntax, tables=None) -> Model:
    """Check a parsed spec and infer every shape; raises SpecError at the first mistake.

    `tables` supplies what the spec takes from its training data (specc.tables): the
    vocabulary of an onehot or wordhash without one (`.vocabulary(layer_id, kind, args)`) and
    the classes of an `output NAME: from data` (`.classes(output_name)`).
    """
    inputs = _unique([_input(d) for d in syntax.inputs], "input")
    for decl in syntax.outputs:
        if decl.from_data and not any(i.form == "tokens" for i in inputs.values()):
            raise SpecError(f"output {decl.name}: 'from data' takes the tags of sentences, and this spec reads no words",
                            decl.coord, expected="class names, like output label: X | O",
                            hint="'from data' is for taggers whose input is 'seq token'")
    outputs = _unique([_output(d, tables) for d in syntax.outputs], "output")
    if not syntax.chains:
        line = len(source_lines(syntax.text)) or 1
        raise SpecError("the spec has no chain of layers", Coord(syntax.file, line, 1),
                        expected="a line like: image -> conv 3x3 -> flatten -> dense",
                        hint="declare an input, then chain layers from it with '->'")
    chains = []
    paired = _pair_outputs(syntax.chains, outputs)
    all_ids = _layer_ids([call for _, calls, _ in paired for call in calls])
    position = 0
    for chain, calls, output in paired:
        if chain.source not in inputs:
            raise SpecError(f"the chain starts from '{chain.source}', which is not a declared input",
                            chain.source_coord, expected="one of: " + ", ".join(inputs) if inputs else "a declared input",
                            hint=did_you_mean(chain.source, inputs) or f"declare it, as in: input {chain.source}: 1x28x28")
        source = inputs[chain.source]
        layers = _layers(calls, all_ids[position:position + len(calls)], source, output, tables)
        position += len(calls)
        _check_output(layers, output, source)
        chains.append(Chain(chain.source, tuple(layers), output))
    built = chains
    all_outputs = tuple(chain.output for chain in built)
    name = syntax.model_name or Path(syntax.file).stem or "model"
    settings_from_spec(syntax.train)  # a mistake in the train section is found by `specc check` too
    model = Model(name, syntax.file, syntax.text, tuple(inputs.values()), all_outputs, tuple(built),
                  syntax.train or ())
    check_memory(model)  # before any command allocates a weight or an activation
    return model
