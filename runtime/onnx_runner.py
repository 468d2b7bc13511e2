"""Running an ONNX model in onnxruntime (CPU unless another provider is asked for)."""
from __future__ import annotations

from typing import Mapping

import numpy as np


def _dim(d):
    return d if isinstance(d, int) else "N" if d is None else str(d)


class OnnxModel:
    """An onnxruntime session with the model's declared inputs and outputs."""

    def __init__(self, model, providers=None):
        """`model` is a path or the serialized bytes of an ONNX model."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model if isinstance(model, (bytes, str)) else str(model),
                                            options, providers=providers or ["CPUExecutionProvider"])
        self.inputs = {i.name: tuple(_dim(d) for d in i.shape) for i in self.session.get_inputs()}
        self.word_inputs = {i.name for i in self.session.get_inputs() if i.type == "tensor(string)"}
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on prepared batches (float32, or (N, T) words for a string input); returns every
        graph output by name."""
        values = self.session.run(None, {k: np.asarray(v, object if k in self.word_inputs else np.float32)
                                         for k, v in inputs.items()})
        return dict(zip(self.outputs, values))
