"""Running an ONNX model in onnxruntime (CPU unless another provider is asked for)."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Mapping

from specc.errors import SpecError

if TYPE_CHECKING:
    import numpy as np


FED = ("tensor(float)", "tensor(string)", "tensor(int64)")  # the input types run() feeds
DEVICES = ("cpu", "cuda")  # --device: where onnxruntime runs a model
CUDA = "CUDAExecutionProvider"
# onnxruntime-gpu replaces onnxruntime: both install the module onnxruntime, and one overwrites the other's files
GPU_HINT = ("install onnxruntime-gpu in place of onnxruntime (the [gpu] extra): python -m pip uninstall -y "
            "onnxruntime onnxruntime-gpu && python -m pip install onnxruntime-gpu")


def providers_for(device: str) -> list[str]:
    """onnxruntime's execution providers for a --device: the CPU's, or CUDA's first with the CPU's
    for the operators CUDA lacks (strings, the class-name LabelEncoder). SpecError, naming the
    package to install, where this onnxruntime has no CUDA provider."""
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device != "cuda":
        raise SpecError(f"unknown device {device!r}", hint=f"choose one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    if CUDA not in available:
        raise SpecError(f"--device cuda needs onnxruntime's {CUDA}; the installed onnxruntime {ort.__version__} "
                        f"has only {', '.join(available)}", hint=GPU_HINT)
    return [CUDA, "CPUExecutionProvider"]


def _dim(d):
    return d if isinstance(d, int) else "N" if d is None else str(d)


class OnnxRunError(RuntimeError):
    """onnxruntime failed while running a model: a runtime failure, not a mistake in the input."""


class OnnxModel:
    """An onnxruntime session with the model's declared inputs and outputs."""

    def __init__(self, model, providers=None, threads: int | None = None, spin: bool = True):
        """`model` is a path or the serialized bytes of an ONNX model; `threads`: onnxruntime's
        intra-op threads (None: its default, one per core); `spin`: whether they spin-wait for
        work between calls (onnxruntime's default; off where other threads need the cores)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.source = model if isinstance(model, str) else "the model"
        with warnings.catch_warnings():  # a provider that cannot start is reported below, in specc's words
            warnings.simplefilter("ignore")
            self.session = ort.InferenceSession(model if isinstance(model, (bytes, str)) else str(model),
                                                options, providers=providers or ["CPUExecutionProvider"])
        if providers and CUDA in providers and CUDA not in self.session.get_providers():
            raise SpecError(f"--device cuda: onnxruntime could not start its {CUDA} (no NVIDIA GPU or driver, or "
                            "CUDA and cuDNN libraries it cannot load), so the model would run on the CPU",
                            hint="check nvidia-smi, and that the CUDA and cuDNN versions match onnxruntime-gpu's "
                                 "(onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html)")
        self.inputs = {i.name: tuple(_dim(d) for d in i.shape) for i in self.session.get_inputs()}
        self.word_inputs = {i.name for i in self.session.get_inputs() if i.type == "tensor(string)"}
        self.id_inputs = {i.name for i in self.session.get_inputs() if i.type == "tensor(int64)"}  # portable words
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def check_fed(self, command: str) -> None:
        """SpecError unless run() can feed the model: at least one input, each float, words or
        int64 ids (another type, e.g. int32, would fail in onnxruntime on every call)."""
        unfed = [f"{i.name} is {i.type}" for i in self.session.get_inputs() if i.type not in FED]
        if unfed or not self.inputs:
            raise SpecError(f"{command} cannot feed {self.source}: " + ("; ".join(unfed) or "it has no inputs"),
                            expected="inputs of " + ", ".join(FED), hint="give a model exported by specc compile")

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on prepared batches (float32, or (N, T) words for a string input); returns every
        graph output by name."""
        import numpy as np  # here: the CLI imports this module for OnnxRunError on its cheap path
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

        feeds = {k: np.asarray(v, object if k in self.word_inputs else np.int64 if k in self.id_inputs else np.float32)
                 for k, v in inputs.items()}
        try:
            values = self.session.run(None, feeds)
        except UnicodeDecodeError:
            raise SpecError(f"{self.source}: {self._undecodable_output(feeds)} holds text that is not UTF-8, "
                            "so its words cannot be read", hint="a model written by specc holds UTF-8 words only: "
                            "export it again with specc compile") from None
        except (ort_state.Fail, ort_state.InvalidArgument, ort_state.RuntimeException, ort_state.NotImplemented,
                ort_state.EPFail) as error:
            raise OnnxRunError(f"onnxruntime could not run {self.source}: {error}") from None
        return dict(zip(self.outputs, values))

    def _undecodable_output(self, feeds) -> str:
        """Which string output (the first) holds bytes that are not UTF-8: onnxruntime decodes every
        string output and cannot hand back the bytes, so each is run alone."""
        for output in self.session.get_outputs():
            if output.type == "tensor(string)":
                try:
                    self.session.run([output.name], feeds)
                except UnicodeDecodeError:
                    return f"output {output.name}"
        return "a string output"
