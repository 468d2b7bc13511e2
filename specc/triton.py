"""A Triton Inference Server model repository for an exported ONNX model (issue 10, part 2).

`write_repository` writes, for the model file MODEL.onnx and the repository folder DIR::

    DIR/NAME/config.pbtxt     onnxruntime backend, max_batch_size, dynamic batching, instance group,
                              every input and output with its name, data type and dims
    DIR/NAME/1/model.onnx     the model, byte for byte

config.pbtxt is Triton's ModelConfig protobuf in text format, written here without tritonclient
(only the tests need it, to parse what was written). Dims come from the ONNX graph: a fixed dim
is its size, a named or unknown one is -1; with max_batch_size > 0 the first axis is Triton's
batch axis and is left out. Words and class names are TYPE_STRING. A model that uses
onnxruntime's com.microsoft contrib ops (metadata specc.runtime) runs unchanged in Triton's
onnxruntime backend, which is onnxruntime itself.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .atomic import check_folder, require_file, write_atomically
from .errors import SpecError

DEFAULT_MAX_BATCH = 64
INT32_MAX = 2**31 - 1  # max_batch_size and an instance group's count are int32 in ModelConfig
VERSION = "1"  # the one model version written: DIR/NAME/1/model.onnx
# Triton names a model by its folder: a portable file name, not starting with a dot
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# onnx.TensorProto element types -> Triton data types (model_config.proto's DataType)
_DATA_TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16", 6: "TYPE_INT32",
               7: "TYPE_INT64", 8: "TYPE_STRING", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64",
               12: "TYPE_UINT32", 13: "TYPE_UINT64", 16: "TYPE_BF16"}


@dataclass(frozen=True)
class Tensor:
    """An input or output as Triton declares it: dims without the batch axis when batching.
    A batched tensor of shape (N,) alone, such as class names, is declared as Triton's docs
    say: dims [1] with reshape to [] (`reshaped`), since Triton takes no empty dims."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    reshaped: bool = False


@dataclass(frozen=True)
class Repository:
    """What write_repository wrote."""

    config: Path
    model: Path
    name: str
    repo: Path  # the repository folder, absolute (what Triton's --model-repository is given)
    contrib_ops: bool  # the model uses onnxruntime's com.microsoft contrib ops


def model_name(path: str | Path, name: str | None = None) -> str:
    """The Triton model name: `name` if given (checked), else the file name without .onnx, with
    every character Triton's folder names would not take made an underscore ("x or o" -> x_or_o)."""
    if name is not None:
        if not _NAME.fullmatch(name):
            raise SpecError(f"--name {name!r} is not a Triton model name",
                            hint="use letters, digits, _ . and -, not starting with . or -, at most 128 characters")
        return name
    derived = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).name.removesuffix(".onnx").removesuffix(".ONNX"))
    derived = re.sub(r"^[.-]", "_", derived)[:128] or "model"
    return derived


def _read_model(path: Path):
    """(the file's bytes, its ModelProto); SpecError naming the file if it is not an ONNX model
    that can be copied alone (one that keeps its weights in external files cannot)."""
    import onnx
    from google.protobuf.message import DecodeError

    require_file(path, "model", hint="give an exported .onnx file")
    try:
        data = path.read_bytes()
        proto = onnx.ModelProto.FromString(data)
    except OSError as error:
        raise SpecError(f"cannot read {path}: {error.strerror or error}") from None
    except (DecodeError, RuntimeError, ValueError):
        raise SpecError(f"cannot load {path} as an ONNX model: it is not an ONNX protobuf",
                        hint="give a model written by specc compile or specc train") from None
    if not proto.graph.output:
        raise SpecError(f"cannot load {path} as an ONNX model: its graph has no outputs",
                        hint="give a model written by specc compile or specc train")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise SpecError(f"{path} keeps its weights in external files, which would not be copied",
                        hint="save it as one file (onnx.save_model(..., save_as_external_data=False))")
    return data, proto


def _tensor(value, max_batch: int, path: Path) -> Tensor:
    """The Triton declaration of one graph input or output (an onnx ValueInfoProto)."""
    kind = value.type.tensor_type
    if not value.type.HasField("tensor_type") or kind.elem_type not in _DATA_TYPES:
        raise SpecError(f"{path}: {value.name!r} is not a tensor of a type Triton takes",
                        hint="Triton's onnxruntime backend serves tensors of numbers, booleans and strings")
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in kind.shape.dim)
    if max_batch > 0:
        if not dims or dims[0] != -1:
            shape = "a scalar" if not dims else f"a fixed first dim {dims[0]}"
            raise SpecError(f"{path}: {value.name!r} has {shape}, so Triton cannot batch along it",
                            hint="give --max-batch 0 to serve it without batching")
        if len(dims) == 1:
            return Tensor(value.name, _DATA_TYPES[kind.elem_type], (1,), reshaped=True)
        dims = dims[1:]
    return Tensor(value.name, _DATA_TYPES[kind.elem_type], dims)


def graph_tensors(proto, max_batch: int, path: Path) -> tuple[list[Tensor], list[Tensor]]:
    """(inputs, outputs) of the model as Triton declares them; initializers listed as graph
    inputs (older exporters do so) are weights, not inputs."""
    weights = {t.name for t in proto.graph.initializer}
    inputs = [_tensor(v, max_batch, path) for v in proto.graph.input if v.name not in weights]
    return inputs, [_tensor(v, max_batch, path) for v in proto.graph.output]


def _quoted(text: str) -> str:
    """A protobuf text-format string: printable ASCII as it is, every other UTF-8 byte, quotes and
    backslashes as octal escapes (which text_format reads back to the same string)."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03o}"
                         for b in text.encode("utf-8")) + '"'


def _tensor_text(tensor: Tensor) -> str:
    """One entry of config.pbtxt's input or output list."""
    lines = [f"name: {_quoted(tensor.name)}", f"data_type: {tensor.data_type}",
             f"dims: [ {', '.join(map(str, tensor.dims))} ]"] + (["reshape: { shape: [ ] }"] if tensor.reshaped else [])
    return "  {\n" + "".join(f"    {line}\n" for line in lines) + "  }"


def _tensors_text(field: str, tensors: list[Tensor]) -> list[str]:
    return [f"{field} [\n" + ",\n".join(map(_tensor_text, tensors)) + "\n]"]


def config_text(name: str, inputs: list[Tensor], outputs: list[Tensor], max_batch: int, instances: int,
                gpu: bool) -> str:
    """config.pbtxt: Triton's ModelConfig in protobuf text format. Dynamic batching needs a
    batch axis, so it is there only with max_batch > 0."""
    lines = [f"name: {_quoted(name)}", 'backend: "onnxruntime"', 'platform: "onnxruntime_onnx"',
             f"max_batch_size: {max_batch}"]
    lines += _tensors_text("input", inputs) + _tensors_text("output", outputs)
    if max_batch > 0:
        lines.append("dynamic_batching { }")
    lines.append(f"instance_group [\n  {{\n    count: {instances}\n    kind: {'KIND_GPU' if gpu else 'KIND_CPU'}\n  }}\n]")
    return "\n".join(lines) + "\n"


def write_repository(model: str | Path, repo: str | Path, *, name: str | None = None,
                     max_batch: int = DEFAULT_MAX_BATCH, instances: int = 1, gpu: bool = False,
                     force: bool = False) -> Repository:
    """Write DIR/NAME/1/model.onnx then DIR/NAME/config.pbtxt (each atomically: the config last,
    so a Triton polling the folder never sees a config without its model). An existing model
    folder is refused unless `force`, which replaces those two files and leaves the rest."""
    if not str(repo):  # Path("") is the current folder: a typo, not a choice
        raise SpecError("--repo is empty", hint="give the repository folder, e.g. --repo models")
    model, repo = Path(model), Path(repo)
    if max_batch < 0:
        raise SpecError(f"--max-batch {max_batch} is negative", hint="give 0 (no batching) or more, e.g. 64")
    if instances < 1:
        raise SpecError(f"--instances {instances} must be at least 1", hint="give the number of copies to run, e.g. 2")
    for flag, value in (("--max-batch", max_batch), ("--instances", instances)):
        if value > INT32_MAX:
            raise SpecError(f"{flag} {value} is more than Triton's config holds ({INT32_MAX})", hint="give fewer")
    name = model_name(model, name)
    if repo.exists() and not repo.is_dir():
        raise SpecError(f"cannot write the repository {repo}: it is not a folder",
                        hint="give a folder (it is made if it does not exist)")
    check_folder(repo)
    folder = repo / name
    if folder.exists() and not force:
        raise SpecError(f"{folder} already exists", hint="give --force to replace its config.pbtxt and "
                        f"{VERSION}/model.onnx, or --name for another model name")
    data, proto = _read_model(model)
    inputs, outputs = graph_tensors(proto, max_batch, model)
    config = config_text(name, inputs, outputs, max_batch, instances, gpu)
    write_atomically(folder / VERSION / "model.onnx", data)
    write_atomically(folder / "config.pbtxt", config.encode("utf-8"))
    contrib = any(op.domain == "com.microsoft" for op in proto.opset_import)
    return Repository(folder / "config.pbtxt", folder / VERSION / "model.onnx", name, repo.resolve(), contrib)
