"""Test helpers: the lecture's data, and running a network through every back end."""
from __future__ import annotations

import numpy as np
import specc
from runtime.onnx_runner import OnnxModel

LECTURE_IMAGE = np.array([
    [1, 0, 0, 0, 0, 1],
    [0, 1, 0, 0, 1, 0],
    [0, 0, 1, 1, 0, 0],
    [1, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 1, 0],
    [0, 0, 1, 0, 1, 0]], dtype=np.float32)

FILTER_1 = [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
FILTER_2 = [[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]]


def run_both(net: specc.Network, inputs: dict) -> tuple[dict, dict]:
    """Outputs of the NumPy interpreter and of the exported model in onnxruntime."""
    ort_model = OnnxModel(net.to_onnx().SerializeToString())
    return net.run(inputs), ort_model.run(net.prepare(inputs))


def run_reference(net: specc.Network, inputs: dict) -> dict:
    """Outputs of the exported model in ONNX's own reference evaluator (a second oracle)."""
    from onnx.reference import ReferenceEvaluator

    proto = net.to_onnx()
    names = [o.name for o in proto.graph.output]
    values = ReferenceEvaluator(proto).run(None, net.prepare(inputs))
    return dict(zip(names, values))
