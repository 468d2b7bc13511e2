"""SpecSyntax -> checked Model: resolve layers, bind arguments, infer shapes, count weights."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from .budget import check_memory
from .errors import Coord, SpecError, did_you_mean, source_lines
from .ir import Chain, Input, Layer, Model, Output
from .layers import REGISTRY
from .layers.merge import Merge, OperandMismatch
from .shapes import BATCH, TIME, Shape, ShapeError, fmt, form
from .signature import bind
from .syntax import ChainSyntax, InputDecl, LayerCall, OutputDecl, SpecSyntax
from .training import TrainSettings, bind_section, with_losses


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
    """Each chain with its layers and output: a chain that binds a value (`h = ...`) reaches no
    output; the others reach the output named at their end (`-> label`), else the declared
    outputs in order. Every output is reached by exactly one chain."""
    explicit: list[tuple[tuple[LayerCall, ...], Output | None, ChainSyntax]] = []
    reached: dict[str, LayerCall] = {}
    for chain in chains:
        last = chain.layers[-1]
        if last.name in outputs and not last.args:
            if len(chain.layers) == 1:
                raise SpecError(f"chain from {chain.source} has no layers before output {last.name}",
                                last.coord, hint=f"write {chain.source} -> LAYER ... -> {last.name}")
            if chain.name is not None:
                raise SpecError(f"the chain that binds {chain.name} also reaches output {last.name}", last.coord,
                                expected="a chain either binds a value (NAME = ...) or reaches an output",
                                hint=f"drop '{chain.name} =' so that the chain reaches {last.name}, or end "
                                     f"it before '-> {last.name}' and read {chain.name} in another chain")
            if last.name in reached:
                raise SpecError(f"two chains lead to output {last.name}", last.coord,
                                received=f"the first at line {reached[last.name].coord.line}",
                                hint="each output takes exactly one chain: merge the branches (add, concat, "
                                     "multiply) before the output, or declare another output")
            reached[last.name] = last
            explicit.append((chain.layers[:-1], outputs[last.name], chain))
        else:
            explicit.append((chain.layers, None, chain))
    free = [o for name, o in outputs.items() if name not in reached]
    unbound = sum(1 for chain in chains if chain.name is None)
    paired = []
    for layers, output, chain in explicit:
        if output is None and chain.name is None:
            if free:
                output = free.pop(0)
            elif not outputs and unbound == 1:
                output = Output("output", None, None)
            else:
                raise SpecError(f"the chain from {chain.source} leads to no output", chain.source_coord,
                                expected="one declared output per chain",
                                hint="declare one with 'output NAME', end the chain with '-> NAME' of a declared "
                                     "output, or bind its value for later chains: NAME = " + chain.source + " -> ...")
        paired.append((chain, layers, output))
    if free:
        o = free[0]
        raise SpecError(f"output {o.name} is produced by no chain", o.coord,
                        hint=f"end a chain with '-> {o.name}', or remove the output")
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


def _layers(calls: tuple[LayerCall, ...], ids: list[str], start: "_Value", output: Output | None, tables,
            scope: "_Scope", reader: ChainSyntax) -> tuple[list[Layer], str | None]:
    """The checked layers of one chain from its source's value, and the token input whose padding
    its layers see (Chain.mask_source: its source's, else the first a merge brings in)."""
    shape, made_by, mask = start.shape, start.origin, start.mask
    layers = []
    sized_index = _size_from_classes(calls, output)
    for index, call in enumerate(calls):
        kind = REGISTRY.get(call.name)
        if kind is None:
            suggestion = did_you_mean(call.name, REGISTRY)
            where = _call_coord(LayerCall(call.name, (), call.coord), None, None)
            if index == len(calls) - 1 and not call.args and suggestion is None:
                # a bare name ending a chain is meant as its output (`x -> dense 2 -> y`)
                hint = f"declare it on a line of its own: output {call.name}"
                if call.name in scope.values:
                    hint = (f"{call.name} is a value: a merge reads it (-> add {call.name}); to bind this chain's "
                            f"result write NAME = {reader.source} -> ...")
                raise SpecError(f"the chain ends in '{call.name}', which is not a declared output", where,
                                expected="a declared output, or a layer", received=call.name, hint=hint)
            raise SpecError(f"unknown layer '{call.name}'", where,
                            expected="one of " + ", ".join(sorted(REGISTRY)),
                            hint=suggestion or "see the layer list in README.md")
        args = _with_vocabulary(kind, bind(call, kind.signature, REGISTRY), ids[index], call, tables)
        if kind.size_arg and args[kind.size_arg] is None:
            if index == sized_index and output is not None and output.classes:
                values = dict(args.values, **{kind.size_arg: len(output.classes)})
                args = type(args)(values, args.given, args.coords)
            else:
                why = ("its output has no classes" if index == sized_index and output is not None
                       else "its chain binds a value, and only a chain reaching an output with classes sizes "
                            "its last layer from them" if index == sized_index
                       else "only the last sized layer of a chain takes its size from the output's classes")
                raise SpecError(f"{call.name} needs a size: {why}", _call_coord(call, None, args),
                                expected=f"{call.name} N, as in {call.name} 10",
                                hint="give the size, or declare classes on the output (output label: A | B)")
        operands = _operands(call, args, scope, reader) if isinstance(kind, Merge) else []
        flowing = mask if TIME in shape else None  # a value without steps (after last) carries no padding
        for name, coord, value in operands:
            flowing = _merged_mask(call, flowing, made_by, name, coord, value)
        mask = mask or flowing
        try:
            if isinstance(kind, Merge):
                inferred = kind.infer(args, shape, tuple(value.shape for _, _, value in operands))
            else:
                inferred = kind.infer(args, shape)
        except OperandMismatch as error:
            raise _operand_error(call, error, shape, made_by, operands[error.index]) from None
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
    return layers, mask


# ---- the graph: names in scope, merges ----

@dataclass(frozen=True)
class _Value:
    """A name in scope while building: its shape, where it comes from (for messages: "input x",
    "relu at line 3") and the `seq token` input whose padding it carries."""

    shape: Shape
    origin: str
    mask: str | None


def _reads(chain: ChainSyntax) -> set[str]:
    """The names a chain reads as written: its source and its merges' arguments."""
    names = {chain.source}
    for call in chain.layers:
        if isinstance(REGISTRY.get(call.name), Merge):
            names |= {a.value.value for a in call.args if a.value.kind == "word"}
    return names


class _Scope:
    """The names a chain may read: the declared inputs and the values bound above it. Knows every
    binding of the spec, so that a name bound further down, or in a cycle, is told apart from a
    misspelling."""

    def __init__(self, inputs: dict[str, Input], outputs: dict[str, Output], chains: tuple[ChainSyntax, ...]):
        self.inputs, self.outputs = inputs, outputs
        self.values = {name: _Value(i.shape, f"input {name}", name if i.form == "tokens" else None)
                       for name, i in inputs.items()}
        self.bound: dict[str, Coord] = {}
        self.binders: dict[str, ChainSyntax] = {}
        for chain in chains:
            if chain.name is not None:
                self.binders.setdefault(chain.name, chain)

    def read(self, name: str, coord: Coord, reader: ChainSyntax, what: str) -> _Value:
        """The value `name` as read at `coord` by `reader` (`what`: "the chain starts from" ...)."""
        if name in self.values:
            return self.values[name]
        if name == reader.name:
            raise SpecError(f"{name} reads itself: the chain that binds {name} uses it", coord,
                            expected=f"a value bound above line {reader.name_coord.line}, or an input",
                            hint="a spec is a graph without loops: for a loop over steps use rnn")
        if name in self.binders:
            cycle = self._cycle(name, reader.name)
            if cycle:
                raise SpecError(f"a cycle of values: {' -> '.join(cycle)} (each is computed from the next)", coord,
                                hint="a value can only read the inputs and values bound above it")
            line = self.binders[name].name_coord.line
            raise SpecError(f"{what} '{name}', which is bound further down, at line {line}", coord,
                            expected=f"a value bound above line {coord.line}, or an input",
                            hint=f"move the chain that binds {name} (line {line}) above line {coord.line}")
        known = list(self.values)
        where = "a declared input or a value bound above" if self.bound else "a declared input"
        hint = did_you_mean(name, known)
        if name in self.outputs:
            hint = f"{name} is a declared output: a chain reaches it at its end (-> {name}), and reads a value"
        elif hint is None and name in REGISTRY:
            hint = f"separate layers with '->': ... -> {name}"
        raise SpecError(f"{what} '{name}', which is not {where}", coord,
                        expected="one of: " + ", ".join(known) if known else "a declared input",
                        hint=hint or f"declare it, as in: input {name}: 1x28x28, or bind it: {name} = INPUT -> ...")

    def _cycle(self, start: str, goal: str | None) -> list[str]:
        """Names from `goal` through `start` back to `goal`, each reading the next; [] if none."""
        if goal is None:
            return []
        parents, queue = {start: None}, [start]
        while queue:
            name = queue.pop(0)
            for read in sorted(_reads(self.binders[name])) if name in self.binders else ():
                if read == goal:
                    path = [name]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [goal] + path[::-1] + [goal]
                if read not in parents:
                    parents[read] = name
                    queue.append(read)
        return []

    def bind(self, chain: ChainSyntax, value: _Value) -> None:
        """Bring the value a chain binds into scope; its name must be new."""
        name, coord = chain.name, chain.name_coord
        if name in self.inputs:
            raise SpecError(f"'{name}' is a declared input, and a value cannot take its name", coord,
                            received=f"input {name} at line {self.inputs[name].coord.line}",
                            hint="give the value its own name")
        if name in self.outputs:
            raise SpecError(f"'{name}' is a declared output, and a value cannot take its name", coord,
                            hint=f"give the value its own name; a chain reaches the output with '-> {name}' at its end")
        if name in self.bound:
            raise SpecError(f"value '{name}' is bound twice", coord, received=f"first at line {self.bound[name].line}",
                            hint=f"give each value its own name, as in {name}2 = ...")
        self.bound[name] = coord
        self.values[name] = value


def _operands(call: LayerCall, args, scope: _Scope, reader: ChainSyntax) -> list[tuple[str, Coord, _Value]]:
    """A merge's named operands: each name, where it is written, and its value."""
    names = args["operands"]
    if not names:
        verb = {"add": "add to", "concat": "join with", "multiply": "multiply"}[call.name]
        raise SpecError(f"{call.name} needs the name of a value to {verb} the flowing one", _call_coord(call, None, args),
                        expected=f"{call.name} NAME ..., naming values bound above (NAME = SOURCE -> ...)",
                        hint=f"bind a value and name it, as in: h = x -> relu, then ... -> {call.name} h")
    coords = [argument.value.coord for argument in call.args]
    return [(name, coord, scope.read(name, coord, reader, f"{call.name} reads"))
            for name, coord in zip(names, coords)]


def _merged_mask(call: LayerCall, mask: str | None, made_by: str, name: str, coord: Coord, value: _Value):
    """The token input whose padding a merge's result carries: its operands', which must agree."""
    if mask is None or value.mask is None or mask == value.mask:
        return mask or value.mask
    raise SpecError(f"{call.name} {name} merges the words of two inputs: the flowing value ({made_by}) carries "
                    f"the sentences of {mask}, {name} those of {value.mask}", coord,
                    hint="sentences of two token inputs may differ in length; merge values read from one token input")


def _operand_error(call: LayerCall, error: OperandMismatch, shape: Shape, made_by: str, operand) -> SpecError:
    """A merge refusing an operand's shape: both shapes, and where each came from."""
    name, coord, value = operand
    return SpecError(f"{call.text()} {error.message}: received {fmt(shape)} from {made_by} and {name} "
                     f"{fmt(value.shape)} from {value.origin}", coord, expected=error.expected,
                     received=f"{fmt(shape)} from {made_by}; {name}: {fmt(value.shape)} from {value.origin}",
                     hint=error.hint)


def _class_hint(layers: list[Layer]) -> str:
    if any(REGISTRY[layer.kind].size_arg for layer in layers):
        return "leave out the size of the final dense: it then takes it from the classes"
    return "add dense at the end of the chain (its size then comes from the classes), then softmax"


def _check_output(layers: list[Layer], output: Output, source: str) -> None:
    if output.classes is None:
        return
    last = layers[-1]
    width = last.out_shape[-1]
    if form(last.out_shape) not in ("vector", "seq") or width != len(output.classes):
        where = output.coord or last.coord
        raise SpecError(f"output {output.name} has {len(output.classes)} classes but the chain from "
                        f"{source} ends with {last.call_text} at line {last.coord.line} giving {fmt(last.out_shape)}",
                        where, expected=f"a last layer of width {len(output.classes)} ({' | '.join(output.classes)})",
                        received=fmt(last.out_shape),
                        hint=_class_hint(layers))


def _check_heads(layers: list[Layer], output: Output | None) -> None:
    """An output head (crf) ends its chain at a classifier output: training scores what it reads."""
    for position, layer in enumerate(layers):
        if not layer.attrs.output_head:
            continue
        if position == len(layers) - 1 and output is not None and output.classes:
            continue
        reached = f"output {output.name}, which has no classes" if output is not None else "no output"
        raise SpecError(f"{layer.call_text} must end a chain at a classifier output, but "
                        + ("layers follow it" if position < len(layers) - 1 else f"this chain reaches {reached}"),
                        layer.coord, expected=f"{layer.kind} as the last layer before a tagger's output",
                        hint=f"write ... -> dense -> {layer.kind} -> NAME, where output NAME has classes "
                             "(output NAME: from data)")


def _unused(model: Model, syntax: SpecSyntax) -> tuple[SpecError, ...]:
    """Warnings for inputs and bound values that nothing reads."""
    found = [SpecError(f"input '{i.name}' is never used", i.coord,
                       hint=f"start a chain from it ({i.name} -> ...), or remove the input")
             for i in model.inputs if not model.uses(i.name)]
    for chain in syntax.chains:
        if chain.name is not None and not model.uses(chain.name):
            found.append(SpecError(f"value '{chain.name}' is never used", chain.name_coord,
                                   hint=f"read it in a chain ({chain.name} -> ...) or a merge (-> add {chain.name}), "
                                        f"or drop '{chain.name} ='"))
    return tuple(found)


def build(syntax: SpecSyntax, tables=None, settings: TrainSettings | None = None) -> Model:
    """Check a parsed spec and infer every shape; raises SpecError at the first mistake.

    The train section is bound into `Model.train` (a TrainSettings, every output's loss filled
    in); `settings` is the section already bound by bind_section, for a caller that read it
    first to find the data the tables come from (specc.prepare).

    `tables` supplies what the spec takes from its training data (specc.tables): the
    vocabulary of an onehot or wordhash without one (`.vocabulary(layer_id, kind, args)`) and
    the classes of an `output NAME: from data` (`.classes(output_name)`).
    """
    inputs = _unique([_input(d) for d in syntax.inputs], "input")
    for decl in syntax.outputs:
        if decl.from_data and tables is None and not any(i.form == "tokens" for i in inputs.values()):
            raise SpecError(f"output {decl.name}: 'from data' takes the tags or labels of sentences, or the class "
                            "folders of a folder of images; this spec reads no words, and its data is no folder", decl.coord,
                            expected="class names, like output label: X | O",
                            hint="'from data' is for a spec whose input is 'seq token', or whose data is a folder "
                                 "of images: data \"FOLDER\"")
    outputs = _unique([_output(d, tables) for d in syntax.outputs], "output")
    if not syntax.chains:
        line = len(source_lines(syntax.text)) or 1
        raise SpecError("the spec has no chain of layers", Coord(syntax.file, line, 1),
                        expected="a line like: image -> conv 3x3 -> flatten -> dense",
                        hint="declare an input, then chain layers from it with '->'")
    chains = []
    paired = _pair_outputs(syntax.chains, outputs)
    all_ids = _layer_ids([call for _, calls, _ in paired for call in calls])
    scope = _Scope(inputs, outputs, syntax.chains)
    position = 0
    for chain, calls, output in paired:
        start = scope.read(chain.source, chain.source_coord, chain, "the chain starts from")
        if chain.source not in inputs:
            start = _Value(start.shape, f"value {chain.source} ({start.origin})", start.mask)
        layers, mask = _layers(calls, all_ids[position:position + len(calls)], start, output, tables, scope, chain)
        position += len(calls)
        _check_heads(layers, output)
        if output is not None:
            _check_output(layers, output, chain.source)
        else:
            last = layers[-1]
            scope.bind(chain, _Value(last.out_shape, f"{last.call_text} at line {last.coord.line}",
                                     mask if TIME in last.out_shape else None))
        chains.append(Chain(chain.source, tuple(layers), output, chain.name, mask))
    built = chains
    all_outputs = tuple(chain.output for chain in built if chain.output is not None)
    name = syntax.model_name or Path(syntax.file).stem or "model"
    # a mistake in the train section (a loss line naming no output included) is found by `specc check` too
    train = with_losses(settings or bind_section(syntax.train), syntax.train,
                        {output.name: bool(output.classes) for output in all_outputs})
    model = Model(name, syntax.file, syntax.text, tuple(inputs.values()), all_outputs, tuple(built), train)
    model = replace(model, warnings=_unused(model, syntax))
    check_memory(model)  # before any command allocates a weight or an activation
    return model
