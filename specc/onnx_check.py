"""The full ONNX check of an exported model, where a crash cannot take the caller down.

onnx's checker with shape inference has crashed the whole process (a segmentation fault, not
an exception) on graphs of strings whose intermediate types it cannot infer. A model that reads
words is therefore checked in a child process; any other model in this one, which is faster.
"""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .errors import SpecError

CHECK = "import sys, onnx; onnx.checker.check_model(onnx.load_from_string(sys.stdin.buffer.read()), full_check=True)"


def reads_strings(proto) -> bool:
    """Whether any graph input is a string tensor."""
    from onnx import TensorProto

    return any(i.type.tensor_type.elem_type == TensorProto.STRING for i in proto.graph.input)


def check_model(proto) -> None:
    """Run onnx.checker (full check, with shape inference) on `proto`; raise SpecError if the
    model fails it or crashes it."""
    start_check(proto)()


def start_check(proto) -> Callable[[], None]:
    """Start check_model's work on `proto` and return the call that waits for its verdict
    (SpecError if the model fails or crashes the checker). A model of numbers is checked here
    and now; a word model's child process runs beside the caller (`specc compile` verifies the
    export meanwhile), fed by a thread, as the child reads the model only once onnx is imported."""
    import onnx

    if not reads_strings(proto):
        onnx.checker.check_model(proto, full_check=True)
        return lambda: None
    pool = ThreadPoolExecutor(1)
    child = pool.submit(subprocess.run, [sys.executable, "-c", CHECK], input=proto.SerializeToString(),
                        capture_output=True)
    pool.shutdown(wait=False)  # its one thread ends with the child; verdict() waits for it

    def verdict() -> None:
        done = child.result()
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()
            raise SpecError("the exported model fails the ONNX check" + (f": {why[-1]}" if why else
                            f" (the checker stopped with status {done.returncode})"),
                            hint="this is a bug in specc's export: please report it with the spec")

    return verdict
