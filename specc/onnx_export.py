"""Model + weights -> ONNX ModelProto. Each layer kind's lowering (specc/lowering/<kind>.py, found
in LOWERINGS by the kind's name) adds its nodes through GraphBuilder, reading the layer's typed
attributes and the flags they declare (reads_one_hot, reads_padding, each_step).

The spec's graph becomes one ONNX graph: its inputs and outputs carry the spec's names, and the
chains are lowered in their written (topological) order, each value they bind kept in
GraphBuilder.values for the chains and merges that read it.

Names come from the spec: a layer's nodes are called after its id ('conv@5', 'rnn@7.layer1'),
its initializers after its weights ('conv@5.weight'). Only weights become initializers; fixed
values a lowering needs (indices, zero biases) are Constant nodes, so the initializers hold
exactly the parameters and buffers that `specc check` counts, except the weights that a one-hot
input folds into a lookup table (GraphBuilder.project) and those of a batchnorm folded into the
conv or dense before it (specc/lowering/batchnorm.py), which the metadata lists under specc.folded.

`to_onnx(..., portable=True)` writes the same graph in the default ONNX domain only, for other
runtimes (specc/portable.py): words come in as ids (trigram ids for wordhash, held as a bag
Lookup), the padding mask is read from the ids, nothing is packed (onnx2torch has no Compress),
one-hot rows are an Equal against 0..V-1 (it has no OneHot), and a classifier gives its class
indices where the default export gives names.
"""
from __future__ import annotations

import json
from typing import Mapping, NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .errors import SpecError
from .lowering import LOWERINGS
from .lowering.batchnorm import fold_batchnorms
from .portable import CLASSES_KEY, MARKER, MARKER_TEXT, PADDING_ID, WORDS_KEY, WordIds, index_output_name

OPSET = 17
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder with int64 keys and string values
IR_VERSION = 8


class Lookup(NamedTuple):
    """A tensor held as int64 ids: the rows table[ids] (the one-hot vectors of `width` themselves
    when table is None); with `bag`, each vector is the sum of the rows of its ids (..., K), as
    wordhash's trigram counts in a portable model."""

    ids: str
    table: np.ndarray | None
    width: int
    bag: bool = False


class GraphBuilder:
    """Collects nodes, initializers and constants while layers lower themselves. `portable`: use
    the default ONNX domain only, words coming in as ids (specc/portable.py)."""

    def __init__(self, weights: Mapping[str, np.ndarray], portable: bool = False):
        self.weights = weights
        self.portable = portable
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self.used: set[str] = set()
        # one-hot words (or trigram bags) kept as ids, and what linear layers made of them (see project)
        self.lookups: dict[str, Lookup] = {}
        self.folded: list[str] = []  # weights folded into lookup tables, so not initializers
        # batch-major tensors not yet transposed from time-major: name -> (time-major name, layer)
        self.time_major_of: dict[str, tuple[str, object]] = {}
        # the current chain's padding mask for a sentence input: float (N, T, 1), 1 on words; else None
        self.mask: str | None = None
        self.mask2: str | None = None  # the same mask as (N, T)
        # the spec's values (declared inputs, values bound by chains) -> the tensors holding them; a
        # merge's lowering reads its operands here (to_onnx writes them out first)
        self.values: dict[str, str] = {}
        self.opsets: dict[str, int] = {"": OPSET} if portable else {"": OPSET, "ai.onnx.ml": ML_OPSET}
        self.needs_contrib_ops = False  # set by a lowering that uses onnxruntime's com.microsoft ops
        self.metadata: dict[str, str] = {}  # what lowerings note in the model's metadata_props

    def _fresh(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.used:
            n += 1
            candidate = f"{name}#{n}"
        self.used.add(candidate)
        return candidate

    def weight(self, layer, local: str) -> str:
        """Name of the initializer holding a layer's weight (added once)."""
        name = layer.weight_name(local)
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(np.asarray(self.weights[name], np.float32), name)
            self.used.add(name)
        return name

    def constant(self, layer, local: str, value, dtype: str = "float32") -> str:
        """A Constant node holding a fixed value, named after the layer; reused if already made."""
        name = f"{layer.id}.{local}" if layer is not None else local
        if name in self.used:
            return name
        self.used.add(name)
        tensor = numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        self.nodes.append(helper.make_node("Constant", [], [name], name=name, value=tensor))
        return name

    def node(self, op: str, inputs: list[str], layer=None, suffix: str | None = None, *,
             name: str | None = None, domain: str = "", keep_output: int = 0, **attrs) -> str:
        """Add one node, its outputs named like the node (the first) and NAME:i (the others);
        return the name of output `keep_output` (Scan's scanned output is its second)."""
        base = name or (layer.id if suffix is None else f"{layer.id}.{suffix}")
        out = self._fresh(base)
        outputs = [out] + [f"{out}:{i}" for i in range(1, keep_output + 1)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=out, domain=domain or None, **attrs))
        return outputs[keep_output]

    def one_hot_ids(self, ids: str, width: int, layer) -> str:
        """A one-hot tensor (..., width) named after `layer`, held as its int64 `ids` (...): a layer
        that reads it (project) looks rows up; any other layer gets it written out."""
        return self._lookup(Lookup(ids, None, width), f"{layer.id}.onehot")

    def bag_of_ids(self, ids: str, width: int, layer) -> str:
        """Vectors (..., width) named after `layer`, each the count of the ids in its row of
        `ids` (..., K) below `width` (an id of `width` adds nothing), held as those ids."""
        return self._lookup(Lookup(ids, None, width, bag=True), f"{layer.id}.bag")

    def padding_to(self, ids: str, value: int, layer) -> str:
        """int64 ids with the padding id (-1) replaced by `value`."""
        padding = self.node("Less", [ids, self.constant(layer, "zero_id", 0, "int64")], layer, suffix="is_padding")
        return self.node("Where", [padding, self.constant(layer, f"id{value}", value, "int64"), ids], layer,
                         suffix="ids")

    def _lookup(self, lookup: Lookup, name: str) -> str:
        name = self._fresh(name)
        self.lookups[name] = lookup
        return name

    def pending(self, x: str) -> bool:
        """Whether tensor x is held as a lookup or a pending transpose, its nodes not yet emitted."""
        return x in self.lookups or x in self.time_major_of

    def write_out(self, x: str) -> None:
        """Emit the nodes of a tensor held as a lookup or a pending transpose (once): OneHot, a
        Gather of its table, or the Transpose."""
        if x in self.time_major_of:
            source, _ = self.time_major_of.pop(x)
            self.nodes.append(helper.make_node("Transpose", [source], [x], name=x, perm=[1, 0, 2]))
            return
        ids, table, width, bag = self.lookups.pop(x)
        if table is None and self.portable:
            self._write_one_hot(x, ids, width, bag)
        elif table is None:
            # a scalar depth: ONNX's reference evaluator refuses the (1,) tensor that the standard allows
            depth = self.constant(None, f"depth{width}", width, "int64")
            values = self.constant(None, "off_on", [0.0, 1.0])
            self.nodes.append(helper.make_node("OneHot", [ids, depth, values], [x], name=x, axis=-1))
        else:
            self.nodes.append(helper.make_node("Gather", [self.constant(None, f"{x}.table", table), ids], [x],
                                               name=x, axis=0))

    def _write_one_hot(self, x: str, ids: str, width: int, bag: bool) -> None:
        """One-hot vectors (..., width) of ids (...), or with `bag` their sums over the last axis of
        ids (..., K), in the default domain: onnx2torch has no OneHot. An id outside 0..width-1
        matches no column."""
        columns = self.constant(None, f"columns{width}", np.arange(width), "int64")
        each = self.node("Unsqueeze", [ids, self.constant(None, "last_axis", [-1], "int64")], name=f"{x}.each")
        hot = self.node("Equal", [each, columns], name=f"{x}.hot")
        if not bag:
            self.nodes.append(helper.make_node("Cast", [hot], [x], name=x, to=TensorProto.FLOAT))
            return
        rows = self.node("Cast", [hot], name=f"{x}.rows", to=TensorProto.FLOAT)
        self.nodes.append(helper.make_node("ReduceSum", [rows, self.constant(None, "second_last", [-2], "int64")], [x],
                                           name=x, keepdims=0))

    def project(self, x: str, layer, weight: str, suffix: str, direction: int | None = None,
                bias: str | tuple[str, ...] | None = None) -> str:
        """x (..., F) @ W^T (+ b) for a layer's weight W (H, F) (direction `direction` of an rnn's
        (dirs, H, F)) and bias b (H,), or the sum of several biases (an LSTM's b and Rb).

        For words held as a lookup (ids of one-hot vectors, or table rows), the product of every
        possible row is computed here, once: the result is a Gather of one table (V, H) by id, the
        embedding and the next layer's input weights folded into one lookup. Those weights then
        live in the table, a Constant, instead of as initializers (listed in self.folded). A bag
        of ids sums its rows of W^T (a zero row for the unknown id), then adds b.
        """
        biases = (bias,) if isinstance(bias, str) else tuple(bias or ())
        lookup = self.lookups.get(x)
        if lookup is not None and not lookup.bag:
            table = self._folded_table(x, layer, weight, biases, direction)
            return self.node("Gather", [self.constant(layer, f"{suffix}.table", table), lookup.ids], layer,
                             suffix=suffix, axis=0)
        if lookup is not None:
            table = self._folded_table(x, layer, weight, (), direction)
            table = np.concatenate([table, np.zeros((1, table.shape[1]), np.float32)])
            rows = self.node("Gather", [self.constant(layer, f"{suffix}.table", table), lookup.ids], layer,
                             suffix=f"{suffix}.rows", axis=0)
            y = self.node("ReduceSum", [rows, self.constant(None, "second_last", [-2], "int64")], layer, suffix=suffix,
                          keepdims=0)
        else:
            matrix = self.weight(layer, weight)
            if direction is not None:
                matrix = self.node("Gather", [matrix, self.constant(layer, f"dir{direction}", direction, "int64")],
                                   layer, suffix=f"{weight}[{direction}]", axis=0)
            y = self.node("MatMul", [x, self.node("Transpose", [matrix], layer, suffix=f"{weight}[{direction}]T"
                                                  if direction is not None else f"{weight}T", perm=[1, 0])],
                          layer, suffix=suffix)
        if not biases:
            return y
        parts = [self.weight(layer, name) for name in biases]
        if direction is not None:
            parts = [self.node("Gather", [b, self.constant(layer, f"dir{direction}", direction, "int64")], layer,
                               suffix=f"{name}[{direction}]", axis=0) for b, name in zip(parts, biases)]
        # several biases are summed first (onnxruntime folds the sum of constants when it loads),
        # so the projection of every step takes one Add
        total = parts[0]
        for part, name in zip(parts[1:], biases[1:]):
            total = self.node("Add", [total, part], layer, suffix=f"{suffix}.bias+{name}")
        return self.node("Add", [y, total], layer, suffix=f"{suffix}+{'+'.join(biases)}")

    def fold(self, x: str, layer, weight: str, bias: str | None) -> str | None:
        """A per-step linear layer (x W^T + b) on words held as a lookup, kept as a lookup of the
        product table (nothing emitted yet); None if x is not a lookup, or a bag of ids (whose
        sum would add the bias once per id: project sums, then adds it)."""
        if x not in self.lookups or self.lookups[x].bag:
            return None
        table = self._folded_table(x, layer, weight, (bias,) if bias else (), None)
        return self._lookup(Lookup(self.lookups[x].ids, table, table.shape[1]), layer.id)

    def _folded_table(self, x: str, layer, weight: str, biases: tuple[str, ...], direction: int | None) -> np.ndarray:
        """Every row the lookup x can take, times W^T, plus the biases: float32 (V, H), computed
        in float64."""
        def value(local: str) -> np.ndarray:
            array = np.asarray(self.weights[layer.weight_name(local)], np.float64)
            return array if direction is None else array[direction]

        table = self.lookups[x][1]
        folded = value(weight).T if table is None else table @ value(weight).T
        for name in biases:
            folded = folded + value(name)
        self.folded += [layer.weight_name(name) for name in (weight, *biases)]
        return folded.astype(np.float32)

    def batch_major(self, x: str, layer) -> str:
        """(T, N, F) -> (N, T, F), emitted only when a layer reads it (write_out): packing the words
        of a batch (to_onnx) can read the time-major tensor and skip the transpose."""
        name = self._fresh(f"{layer.id}.batch_major")
        self.time_major_of[name] = (x, layer)
        return name

    def time_major(self, x: str, layer) -> str:
        """(N, T, ...) -> (T, N, ...); a lookup stays a lookup, of (transposed) ids."""
        if x in self.lookups:
            lookup = self.lookups[x]
            transposed = self.node("Transpose", [lookup.ids], layer, suffix="ids_time_major",
                                   perm=[1, 0, 2] if lookup.bag else [1, 0])
            return self._lookup(lookup._replace(ids=transposed), f"{layer.id}.lookup_time_major")
        return self.node("Transpose", [x], layer, suffix="time_major", perm=[1, 0, 2])

    def steps(self, x: str, indices: str, layer, suffix: str) -> str:
        """x (T, ...) at the steps `indices` (int64 (T',)), a Gather on axis 0; a lookup stays a
        lookup, of the gathered ids (so an rnn's backward direction reverses its words' ids, not
        the projection of every step)."""
        if x in self.lookups:
            ids = self.node("Gather", [self.lookups[x].ids, indices], layer, suffix=f"{suffix}_ids", axis=0)
            return self._lookup(self.lookups[x]._replace(ids=ids), f"{layer.id}.{suffix}")
        return self.node("Gather", [x, indices], layer, suffix=suffix, axis=0)

    def rename_output(self, old: str, new: str) -> None:
        """Give the tensor `old` (the output of the node that made it) the name `new`.

        Used for the declared outputs: renaming the last node beats an Identity node, which
        costs a measurable share of a small model's latency (bench/RESULTS.md).
        """
        node = next(n for n in reversed(self.nodes) if old in n.output)
        node.output[list(node.output).index(old)] = new
        self.used.add(new)


def _value_info(name: str, shape, elem_type=TensorProto.FLOAT):
    # symbolic sizes ('N', 'T') become dim_params, so the model runs at any batch and length
    return helper.make_tensor_value_info(name, elem_type, list(shape))


def _padding_mask(g: GraphBuilder, words: str, word_ids: WordIds | None) -> tuple[str, str]:
    """The padding mask of the words (N, T) of one input: float (N, T, 1), 0 where the word is ""
    (padding), else 1, and the same as (N, T). A portable model's words come as `word_ids`
    (N, T), or trigram ids (N, T, K) whose first column is padding only for padding."""
    if word_ids is None:
        mask2 = g.node("LabelEncoder", [words], name=f"{words}.mask", domain="ai.onnx.ml",
                       keys_strings=[""], values_floats=[0.0], default_float=1.0)
    else:
        first = words if word_ids.ids == "words" else g.node(
            "Gather", [words, g.constant(None, "first_column", 0, "int64")], name=f"{words}.first", axis=-1)
        on_words = g.node("Greater", [first, g.constant(None, "padding_id", PADDING_ID, "int64")],
                          name=f"{words}.on_words")
        mask2 = g.node("Cast", [on_words], name=f"{words}.mask", to=TensorProto.FLOAT)
    return g.node("Unsqueeze", [mask2, g.constant(None, "last_axis", [-1], "int64")], name=f"{words}.mask3"), mask2


def _packed_tail(chain) -> int:
    """Where the chain's last run of layers that work on each step alone begins (its index), for
    a chain that ends in a sequence; len(layers) when there is none. A merge ends the run: the
    values it reads are not packed."""
    start = len(chain.layers)
    while start > 0 and _packs(chain.layers[start - 1]):
        start -= 1
    return start


def _packs(layer) -> bool:
    """Whether a layer may run on the packed words of a batch (see _packed_tail)."""
    return layer.attrs.each_step and len(layer.out_shape) == 3 and not layer.attrs.reads_operands


def _pack_words(g: GraphBuilder, x: str, width: int) -> tuple[str, str]:
    """The rows of x (N, T, width) that hold words, packed (R, width), and where each step of the
    batch finds its row: (N, T) int64, the packed row's index for a word, -1 for padding (the
    row that _unpack_words appends last)."""
    # a sequence still time-major (an rnn's output) is packed in time-major order, sparing the
    # transpose of the whole batch; only the small (N, T) index map is transposed then
    source, _ = g.time_major_of.pop(x, (None, None))
    mask = g.mask2 if source is None else g.node("Transpose", [g.mask2], name=f"{x}.mask_time_major", perm=[1, 0])
    keep = g.node("Cast", [g.node("Reshape", [mask, g.constant(None, "flat", [-1], "int64")], name=f"{x}.mask_flat")],
                  name=f"{x}.keep", to=TensorProto.BOOL)
    flat = g.node("Reshape", [source or x, g.constant(None, f"rows_of_{width}", [-1, width], "int64")],
                  name=f"{x}.flat")
    rows = g.node("Compress", [flat, keep], name=f"{x}.words", axis=0)
    counted = g.node("CumSum", [g.node("Cast", [keep], name=f"{x}.keep_int", to=TensorProto.INT64),
                                g.constant(None, "axis0", 0, "int64")], name=f"{x}.counted")
    row_of = g.node("Where", [keep, g.node("Sub", [counted, g.constant(None, "one", 1, "int64")], name=f"{x}.row"),
                              g.constant(None, "last_row", -1, "int64")], name=f"{x}.row_of")
    row_of_step = g.node("Reshape", [row_of, g.node("Shape", [mask], name=f"{x}.mask_shape")], name=f"{x}.row_of_step")
    if source is not None:
        row_of_step = g.node("Transpose", [row_of_step], name=f"{x}.row_of_step_batch_major", perm=[1, 0])
    return rows, row_of_step


def _unpack_words(g: GraphBuilder, rows: str, row_of_step: str, padding, name: str) -> str:
    """Packed rows (R, ...) back to (N, T, ...): one Gather by row_of_step, whose -1 picks the
    row `padding` (1, ...) appended after the words' rows."""
    table = g.node("Concat", [rows, g.constant(None, f"{name}.padding_row", padding,
                                               "float32" if padding.dtype.kind == "f" else "int64")],
                   name=f"{name}.with_padding", axis=0)
    return g.node("Gather", [table, row_of_step], name=f"{name}.unpacked", axis=0)


def _class_index(g: GraphBuilder, out, per_step: bool) -> str:
    """Index of the highest score; -1 (no class, "") on padding."""
    index = g.node("ArgMax", [out.name], name=f"{out.name}.argmax", axis=-1, keepdims=0)
    if g.mask is None or not per_step:
        return index
    on_words = g.node("Cast", [g.mask2], name=f"{out.name}.on_words", to=TensorProto.BOOL)
    return g.node("Where", [on_words, index, g.constant(None, "no_class", -1, "int64")], name=f"{out.name}.index")


def _input_info(model_input, word_ids: WordIds | None = None):
    if model_input.form == "tokens" and word_ids is not None:  # a portable model's ids (N, T) or (N, T, K)
        return _value_info(model_input.name, model_input.shape + (("K",) if word_ids.ids == "trigrams" else ()),
                           TensorProto.INT64)
    if model_input.form == "tokens":
        return _value_info(model_input.name, model_input.shape, TensorProto.STRING)
    return _value_info(model_input.name, model_input.shape)


def _word_ids(model) -> dict[str, WordIds]:
    """For a portable model: each `seq token` input -> how its words come in as ids, after the
    one word layer (onehot or wordhash) that reads it. SpecError if several layers read it: a
    portable input holds one kind of id."""
    found = {}
    for i in (i for i in model.inputs if i.form == "tokens"):
        readers = [chain.layers[0] for chain in model.chains if chain.source == i.name]
        if len(readers) != 1:
            raise SpecError(f"input {i.name} is read by {len(readers)} word layers; a portable model takes one kind "
                            "of word ids per input", hint="read it once (bind it: h = words -> onehot), or compile "
                            "without --portable")
        layer = readers[0]
        found[i.name] = WordIds("words" if layer.kind == "onehot" else "trigrams", layer.attrs.vocabulary,
                                layer.attrs.lowercase)
    return found


def _check_portable(graph) -> None:
    """Every node of the graph and of its subgraphs is in the default domain (a bug otherwise)."""
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise RuntimeError(f"portable export made node {node.name} of domain {node.domain}")
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                _check_portable(attribute.g)


def to_onnx(model, weights: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None,
            portable: bool = False) -> onnx.ModelProto:
    """Lower a checked Model with its weights to one ONNX graph (opset 17, dynamic N and T).

    The graph's inputs and first outputs keep the spec's names, in the order declared; a
    classifier output NAME is followed, after them, by NAME_class, the predicted class names
    (ArgMax then ai.onnx.ml LabelEncoder). A `seq token` input is a string tensor (N, T) of
    words, padded with "" at the end of shorter sentences; the outputs are zero on the padding
    (as in the interpreter), and NAME_class is "" there. The chains are lowered in the written
    (topological) order; the value a chain binds is kept in g.values for the chains and merges
    that read it.

    With `portable`, the default ONNX domain only (specc/portable.py): words come in as int64
    ids, and a classifier output NAME is followed by NAME_index (int64, -1 on padding), its
    class names in the metadata.
    """
    # a batchnorm right after a conv or dense becomes part of that layer's weights (inference form)
    model, weights, folded = fold_batchnorms(model, weights)
    g = GraphBuilder(weights, portable)
    g.folded += folded
    word_ids = _word_ids(model) if portable else {}
    g.used.update(i.name for i in model.inputs)
    g.values.update((i.name, i.name) for i in model.inputs)
    masks: dict[str, tuple[str, str]] = {}  # a `seq token` input -> its padding masks, made once
    # the `seq token` input whose padding each value carries: its chain's mask_source, else (an IR
    # built without one) that of the first value the chain reads which carries one, as the interpreter
    carried = {i.name: i.name for i in model.inputs if i.form == "tokens"}
    reached: dict[str, tuple] = {}  # an output's name -> its value infos (scores, class names)
    for chain in model.chains:
        read = (chain.source, *(name for layer in chain.layers for name in layer.operands))
        words = carried[chain.result] = chain.mask_source or next(filter(None, map(carried.get, read)), None)
        if words is not None and words not in masks:
            masks[words] = _padding_mask(g, words, word_ids.get(words))
        g.mask, g.mask2 = masks[words] if words is not None else (None, None)
        x, row_of_step = _lower_chain(g, chain)
        if chain.output is None:
            _bind(g, model, chain.name, x)
        else:
            reached[chain.output.name] = _reach_output(g, chain, x, row_of_step)
    infos = [reached[o.name] for o in model.outputs if o.name in reached]
    graph = helper.make_graph(g.nodes, model.name, [_input_info(i, word_ids.get(i.name)) for i in model.inputs],
                              [info for info, _ in infos] + [info for _, info in infos if info is not None],
                              list(g.initializers.values()), doc_string=f"compiled by specc from {model.file}")
    proto = helper.make_model(graph, producer_name="specc", opset_imports=[
        helper.make_opsetid(domain, version) for domain, version in g.opsets.items()])
    proto.ir_version = IR_VERSION
    if portable:
        _check_portable(graph)
        g.metadata[MARKER] = MARKER_TEXT
        g.metadata.update((WORDS_KEY + name, ids.to_json()) for name, ids in word_ids.items())
    if g.needs_contrib_ops:
        entry = proto.metadata_props.add()
        entry.key, entry.value = "specc.runtime", "onnxruntime (uses its com.microsoft contrib ops)"
    if g.folded:
        entry = proto.metadata_props.add()
        entry.key, entry.value = "specc.folded", " ".join(dict.fromkeys(g.folded))
    for key, value in {**g.metadata, **(metadata or {})}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    return proto


def _lower_chain(g: GraphBuilder, chain) -> tuple[str, str | None]:
    """Lower one chain's layers from the tensor of its source value. Returns its result (packed
    rows (R, F) if its tail was packed) and where each step finds its packed row ((N, T) int64;
    None when not packed)."""
    x = g.values[chain.source]
    # the layers after the last one that mixes steps run on the words only, packed together (a
    # batch's padding can be most of it); their result is gathered back at the output, zero on
    # padding. Only a chain reaching an output packs: a bound value is read whole by others.
    # A portable model does not pack: onnx2torch has no Compress.
    pack_at = (_packed_tail(chain) if g.mask is not None and chain.output is not None and not g.portable
               else len(chain.layers))
    row_of_step = None
    for position, layer in enumerate(chain.layers):
        flags = layer.attrs
        if position == pack_at and x not in g.lookups:
            x, row_of_step = _pack_words(g, x, layer.in_shape[-1])
        if (x in g.lookups and not flags.reads_one_hot) or x in g.time_major_of:
            g.write_out(x)
        for operand in layer.operands:  # a merge reads its operands as plain tensors
            if g.pending(g.values[operand]):
                g.write_out(g.values[operand])
        if g.mask is not None and flags.reads_padding:
            x = g.node("Mul", [x, g.mask], layer, suffix="padding_zeroed")
        x = LOWERINGS[layer.kind](g, layer, x)
    if chain.output is not None and g.pending(x):
        g.write_out(x)
    return x, row_of_step


def _bind(g: GraphBuilder, model, name: str, x: str) -> None:
    """Bind tensor x to the value `name`. A value that one chain reads as its source may stay a
    lookup (one-hot words, or a table folded from them) or a pending transpose, so that chain
    folds its first layer into the table or packs without the transpose, as within one chain;
    a value read twice, or by a merge, is written out here, once, and read as a plain tensor."""
    uses = model.uses(name)
    if g.pending(x) and (len(uses) > 1 or any(layer >= 0 for _, layer in uses)):
        g.write_out(x)
    g.values[name] = x


def _reach_output(g: GraphBuilder, chain, x: str, row_of_step: str | None) -> tuple:
    """Name the chain's result x after its output, unpacked or zeroed on padding, and add
    NAME_class for a classifier. Returns the value infos of the output and of its class names
    (None for other outputs)."""
    out, rows, shape = chain.output, x, chain.layers[-1].out_shape
    if row_of_step is not None:
        x = _unpack_words(g, rows, row_of_step, np.zeros((1, shape[-1]), np.float32), out.name)
    elif g.mask is not None and len(shape) == 3:  # the interpreter's zeros on padding
        x = g.node("Mul", [x, g.mask], name=f"{out.name}.padding_zeroed")
    g.rename_output(x, out.name)
    if not out.classes:
        return _value_info(out.name, shape), None
    if row_of_step is not None:
        best = g.node("ArgMax", [rows], name=f"{out.name}.argmax", axis=-1, keepdims=0)
        index = _unpack_words(g, best, row_of_step, np.array([-1], np.int64), f"{out.name}.index")
    else:
        index = _class_index(g, out, len(shape) == 3)
    if g.portable:
        g.rename_output(index, index_output_name(out.name))
        g.metadata[CLASSES_KEY + out.name] = json.dumps(list(out.classes), ensure_ascii=False)
        return _value_info(out.name, shape), _value_info(index_output_name(out.name), shape[:-1], TensorProto.INT64)
    g.node("LabelEncoder", [index], name=out.class_output_name, domain="ai.onnx.ml",
           keys_int64s=list(range(len(out.classes))), values_strings=list(out.classes), default_string="")
    return _value_info(out.name, shape), _value_info(out.class_output_name, shape[:-1], TensorProto.STRING)


def initializer_weight_count(proto: onnx.ModelProto) -> int:
    """How many numbers the model's initializers hold."""
    return sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
