"""The model summary that `specc check` prints: layers, shapes, weights, the memory estimates,
and the lecture's comparison of a conv layer with the dense layer it replaces."""
from __future__ import annotations

from .budget import summary_line
from .shapes import BYTES_PER_FLOAT, fmt, sample_elements
from .signature import describe_value


def _table(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def spelled_out(layer) -> str:
    """A layer's call with every argument spelled out, defaults included: `conv size=3x3 filters=16 ...`."""
    parts = [layer.kind, *layer.operands]  # a merge's value names, as written: add h
    derived = layer.attrs.written()  # what the shape rule found for an argument left out (filters from weights ...)
    for name, value in layer.args.values.items():
        if name == "operands":
            continue
        if value is None:
            value = derived.get(name)
        if value is None or (name == "init" and layer.args.values.get("weights") is not None):
            continue
        parts.append(f"{name}={describe_value(value)}")
    return " ".join(parts)


def conv_comparisons(model) -> list[str]:
    """For each conv: its weights against a dense layer with the same input and output sizes."""
    lines = []
    for layer in model.layers:
        if layer.kind != "conv":
            continue
        kernel_weights = layer.weights[0].size
        n_in, n_out = sample_elements(layer.in_shape), sample_elements(layer.out_shape)
        lines.append(f"{layer.id}: {kernel_weights:,} shared weights; a dense layer from the same "
                     f"{n_in:,} inputs to the same {n_out:,} outputs would need {n_in * n_out:,}")
    return lines


def is_graph(model) -> bool:
    """Whether the spec names values or merges them (else it is a set of plain chains)."""
    return any(chain.name is not None or any(layer.operands for layer in chain.layers) for chain in model.chains)


def _origin(model, name: str) -> tuple[str, str]:
    """(line, what) of a value: a declared input, or the last layer of the chain that binds it."""
    for chain in model.chains:
        if chain.name == name:
            last = chain.layers[-1]
            return str(last.coord.line), f"{last.call_text} at line {last.coord.line}"
    return str(model.input(name).coord.line), f"input {name}"


def _chain_rows(model, chain, graph: bool) -> list[tuple[str, ...]]:
    """The table rows of one chain: its source, then its layers; in a graph, a fifth column says
    which named values each merge reads, with their shapes and origins."""
    is_input = any(i.name == chain.source for i in model.inputs)
    head = f"{chain.source} ({'input' if is_input else 'value'})"
    if chain.name is not None:
        head = f"{chain.name} = {head}"
    line = _origin(model, chain.source)[0]
    rows = [(head, line, fmt(model.value_shape(chain.source)), "0")]
    for layer in chain.layers:
        reads = "; ".join(f"{name} {fmt(model.value_shape(name))} from {_origin(model, name)[1]}"
                          for name in layer.operands)
        rows.append((spelled_out(layer), str(layer.coord.line), fmt(layer.out_shape), f"{layer.param_count:,}"))
        if graph:
            rows[-1] += (reads,)
    if graph:
        rows[0] += ("",)
    return rows


def summary(model) -> str:
    """The summary table and totals, as plain text. A graph's chains come in written order, each
    headed by the value it binds (`h = image (input)`) or by its source (`h (value)`)."""
    out = [f"model {model.name}  ({model.file})"]
    for i in model.inputs:
        out.append(f"input  {i.name}: {i.form} {fmt(i.shape)}")
    for o in model.outputs:
        classes = f" classes {' | '.join(o.classes)} (+ {o.class_output_name}: predicted class name)" if o.classes else ""
        out.append(f"output {o.name}{classes}")
    out.append("")
    graph = is_graph(model)
    rows = [("Layer (arguments in full)", "Line", "Output Shape", "Param #") + (("Merges with",) if graph else ())]
    for chain in model.chains:
        rows += _chain_rows(model, chain, graph)
    out += _table(rows, right={1, 3})
    total = model.param_count
    out.append("")
    out.append(f"Total params: {total:,} ({total * BYTES_PER_FLOAT:,} bytes as float32)")
    if model.buffer_count:  # PyTorch's split: state the kernels update in training, not trained
        out.append(f"Buffers: {model.buffer_count:,} (batchnorm's running means and variances: updated in training, "
                   "not by the optimizer; saved with the weights)")
    out.append(summary_line(model))
    comparisons = conv_comparisons(model)
    if comparisons:
        out.append("")
        out.append("Shared weights (conv vs fully connected):")
        out += ["  " + c for c in comparisons]
    return "\n".join(out)
