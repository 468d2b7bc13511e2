"""The full ONNX check of an exported model, where a crash cannot take the caller down.

onnx's checker with shape inference has crashed the whole process (a segmentation fault, not
an exception) on graphs of strings whose intermediate types it cannot infer. A model that reads
words is therefore checked in a child process; any other model in this one, which is faster.
"""
from __future__ import annotations

import subprocess
import sys

from .errors import SpecError

CHECK = "import sys, onnx; onnx.checker.check_model(onnx.load_from_string(sys.stdin.buffer.read()), full_check=True)"


def reads_strings(proto) -> bool:
    """Whether any graph input is a string tensor."""
    from onnx import TensorProto

    return any(i.type.tensor_type.elem_type == TensorProto.STRING for i in proto.graph.input)


def check_model(proto) -> None:
    """Run onnx.checker (full check, with shape inference) on `proto`; raise SpecError if the
    model fails it or crashes it."""
    import onnx

    if not reads_strings(proto):
        onnx.checker.check_model(proto, full_check=True)
        return
    child = subprocess.run([sys.executable, "-c", CHECK], input=proto.SerializeToString(), capture_output=True)
    if child.returncode != 0:
        why = child.stderr.decode(errors="replace").strip().splitlines()
        raise SpecError("the exported model fails the ONNX check" + (f": {why[-1]}" if why else
                        f" (the checker stopped with status {child.returncode})"),
                        hint="this is a bug in specc's export: please report it with the spec")
