"""Model + weights -> ONNX ModelProto. Each layer kind lowers itself through GraphBuilder.

Names come from the spec: a layer's nodes are called after its id ('conv@5', 'rnn@7.layer1'),
its initializers after its weights ('conv@5.weight'). Only weights become initializers; fixed
values a lowering needs (indices, zero biases) are Constant nodes, so the initializers hold
exactly the parameters that `specc check` counts.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder with int64 keys and string values
IR_VERSION = 8


class GraphBuilder:
    """Collects nodes, initializers and constants while layers lower themselves."""

    def __init__(self, weights: Mapping[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self.used: set[str] = set()

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


def to_onnx(model, weights: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> onnx.ModelProto:
    """Lower a checked Model with its weights to an ONNX model (opset 17, dynamic N and T).

    Inputs and the first outputs keep the spec's names; a classifier output NAME is followed by
    NAME_class, the predicted class names (ArgMax then ai.onnx.ml LabelEncoder).
    """
    from .layers import REGISTRY

    g = GraphBuilder(weights)
    g.used.update(i.name for i in model.inputs)
    graph_outputs, class_outputs = [], []
    for chain in model.chains:
        x = chain.source
        for layer in chain.layers:
            x = REGISTRY[layer.kind].lower(g, layer, x)
        out = chain.output
        g.rename_output(x, out.name)
        graph_outputs.append(_value_info(out.name, chain.layers[-1].out_shape))
        if out.classes:
            index = g.node("ArgMax", [out.name], name=f"{out.name}.argmax", axis=-1, keepdims=0)
            g.node("LabelEncoder", [index], name=out.class_output_name, domain="ai.onnx.ml",
                   keys_int64s=list(range(len(out.classes))), values_strings=list(out.classes),
                   default_string="")
            class_outputs.append(_value_info(out.class_output_name, chain.layers[-1].out_shape[:-1],
                                             TensorProto.STRING))
    graph = helper.make_graph(g.nodes, model.name, [_value_info(i.name, i.shape) for i in model.inputs],
                              graph_outputs + class_outputs, list(g.initializers.values()),
                              doc_string=f"compiled by specc from {model.file}")
    proto = helper.make_model(graph, producer_name="specc", opset_imports=[
        helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    proto.ir_version = IR_VERSION
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    return proto


def initializer_weight_count(proto: onnx.ModelProto) -> int:
    """How many numbers the model's initializers hold."""
    return sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
