"""Test helpers: the lecture's data, and running a network through every back end."""
from __future__ import annotations

import numpy as np
import specc
from specc.runtime.onnx_runner import OnnxModel
from specc.demo import LECTURE_IMAGE  # noqa: F401  (the lecture's 6x6 image, seed-examples §2)


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


def check_layer(chain: str, input: str, *, expect_shape: tuple | None = None, expect_params: int | None = None,
                batches=(1, 3), lengths=(1, 5), reference: bool = True, seed: int = 7) -> specc.Network:
    """Build `x -> chain` on an input declared as `input`, and check the NumPy interpreter
    against onnxruntime (and ONNX's reference evaluator) on random inputs, <= 1e-5.

    `expect_shape` is the output shape of the last layer, e.g. ('N', 2, 4, 4).
    """
    net = specc.loads(f"input x: {input}\nx -> {chain}\n", "layer.nn", seed=seed)
    if expect_shape is not None:
        assert net.model.layers[-1].out_shape == expect_shape
    if expect_params is not None:
        assert net.param_count == expect_params
    rng = np.random.default_rng(seed)
    is_seq = input.startswith("seq")
    for batch in batches:
        for length in (lengths if is_seq else (None,)):
            shape = [batch if d == "N" else length if d == "T" else d for d in net.model.inputs[0].shape]
            x = rng.standard_normal(shape).astype(np.float32)
            numpy_out, ort_out = run_both(net, {"x": x})
            np.testing.assert_allclose(ort_out["output"], numpy_out["output"], rtol=0, atol=1e-5)
            if reference:
                np.testing.assert_allclose(run_reference(net, {"x": x})["output"], numpy_out["output"],
                                           rtol=0, atol=1e-5)
    return net
