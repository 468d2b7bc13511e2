"""Running an ONNX model in the runtimes besides onnxruntime that a portable model promises:
OpenVINO (in float32), tract and onnx2torch (PyTorch).

    runner = load("openvino", "model.portable.onnx")   # pytest.skip if OpenVINO is missing
    outputs = runner(feeds)                             # {output name: array}, as onnxruntime's

`feeds_at(model, sizes)` draws the feeds: one per (batch, length) in SIZES, words mapped to the
portable model's ids, so that each runtime meets a dynamic batch (and T) more than once after
loading the model once. The packages come with the extra `[portable-test]`.
"""
from __future__ import annotations

import sys
import types
from typing import Callable, Mapping

import numpy as np
import onnx
import pytest

Feeds = Mapping[str, np.ndarray]
Runner = Callable[[Feeds], dict]

RUNTIMES = ("openvino", "tract", "onnx2torch")
SIZES = ((2, 3), (5, 7))  # (batch, length): two of each, the length for sequences only
EXTRA = 'python -m pip install -e ".[portable-test]"'


def _openvino(path: str, names: list[str], threads: int | None) -> Runner:
    ov = pytest.importorskip("openvino", reason=f"OpenVINO is not installed: {EXTRA}")
    core = ov.Core()
    # f32: OpenVINO's default on CPUs with bf16 units is bf16, ~3 significant digits
    config = {"INFERENCE_PRECISION_HINT": "f32", **({"INFERENCE_NUM_THREADS": threads} if threads else {})}
    compiled = core.compile_model(core.read_model(path), "CPU", config)

    def run(feeds: Feeds) -> dict:
        results = compiled(dict(feeds))
        return {name: np.asarray(results[port]) for name, port in zip(names, compiled.outputs)}

    return run


def _tract(path: str, names: list[str], threads: int | None) -> Runner:
    """tract runs on the calling thread: `threads` changes nothing."""
    tract = pytest.importorskip("tract", reason=f"tract is not installed: {EXTRA}")
    model = tract.onnx().load(path)
    inputs = [model.input_name(i) for i in range(model.input_count())]
    runnable = model.into_model().into_runnable()  # sizes left symbolic: N, T and K vary per run

    def run(feeds: Feeds) -> dict:
        return {name: value.to_numpy() for name, value in zip(names, runnable.run([feeds[i] for i in inputs]))}

    return run


def _without_torchvision() -> None:
    """onnx2torch imports torchvision for its NonMaxSuppression and RoiAlign converters only. The
    torchvision on PyPI is built for CUDA's torch and fails to import beside the CPU torch that
    specc's tests install; specc's models use neither operator, so a stand-in that refuses them
    is put in its place."""
    try:
        import torchvision  # noqa: F401
        return
    except (ImportError, RuntimeError, OSError):
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]

    def refused(*args, **kwargs):
        raise NotImplementedError("torchvision is not usable here")

    ops = types.ModuleType("torchvision.ops")
    ops.nms = ops.roi_align = ops.box_convert = refused
    stand_in = types.ModuleType("torchvision")
    stand_in.ops = ops
    sys.modules.update({"torchvision": stand_in, "torchvision.ops": ops})


def _onnx2torch(path: str, names: list[str], threads: int | None) -> Runner:
    torch = pytest.importorskip("torch", reason=f"PyTorch is not installed: {EXTRA}")
    if threads:
        torch.set_num_threads(threads)
    if "onnx2torch" not in sys.modules:
        _without_torchvision()
    onnx2torch = pytest.importorskip("onnx2torch", reason=f"onnx2torch is not installed: {EXTRA}")
    proto = onnx.load(path)
    inputs = [i.name for i in proto.graph.input]
    module = onnx2torch.convert(proto)

    def run(feeds: Feeds) -> dict:
        with torch.no_grad():
            values = module(*[torch.from_numpy(np.ascontiguousarray(feeds[i])) for i in inputs])
        values = values if isinstance(values, (tuple, list)) else [values]
        return {name: value.numpy() for name, value in zip(names, values)}

    return run


LOADERS = {"openvino": _openvino, "tract": _tract, "onnx2torch": _onnx2torch}


def load(runtime: str, path: str, threads: int | None = None) -> Runner:
    """A function running the model at `path` in `runtime` (one of RUNTIMES) on feeds, returning
    every graph output by name, on `threads` threads where the runtime has a setting (None: its
    default). Skips the test if the runtime is not installed."""
    names = [o.name for o in onnx.load(path, load_external_data=False).graph.output]
    return LOADERS[runtime](str(path), names, threads)


def feeds_at(model, metadata: Mapping[str, str], seed: int = 0) -> list[dict]:
    """Feeds for a portable model of the spec `model` (its IR), one per size in SIZES: random
    numbers, or random sentences (known, unseen and capitalised words, padded) mapped to ids by
    the model's `metadata` as specc run maps them."""
    from specc.portable import encode_words
    from specc.verify import random_inputs

    rng = np.random.default_rng(seed)
    return [encode_words(metadata, random_inputs(model, batch, length, rng)) for batch, length in SIZES]
