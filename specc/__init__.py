"""specc: a declarative model-spec compiler. `.nn` text -> checked IR -> NumPy or verified ONNX.

The public API:
    load(path, seed=0) / loads(text) -> Network   (summary, run, to_onnx, export)
    load_onnx(path) -> OnnxNetwork                (run in onnxruntime)
    SpecError                                      (every user mistake, rendered file:line:col)
"""
from .api import ExportReport, Network, OnnxNetwork, load, load_onnx, loads
from .errors import SpecError

__all__ = ["ExportReport", "Network", "OnnxNetwork", "SpecError", "load", "load_onnx", "loads"]
__version__ = "0.1.0"
