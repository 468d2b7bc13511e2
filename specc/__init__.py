"""specc: a declarative model-spec compiler. `.nn` text -> checked IR -> NumPy or verified ONNX.

The public API:
    load(path, seed=0) / loads(text) -> Network   (summary, run, to_onnx, export;
                                                   export(path, portable=True): for other runtimes)
    load_onnx(path) -> OnnxNetwork                (run in onnxruntime)
    SpecError                                      (every user mistake, rendered file:line:col)
"""
from .errors import SpecError

__all__ = ["ExportReport", "Network", "OnnxNetwork", "SpecError", "load", "load_onnx", "loads"]
__version__ = "0.1.0"

_API_NAMES = {"ExportReport", "Network", "OnnxNetwork", "load", "load_onnx", "loads"}


def __getattr__(name: str):
    # The API pulls in NumPy; importing it lazily keeps `specc check` and `--help` fast.
    if name in _API_NAMES:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'specc' has no attribute {name!r}")
