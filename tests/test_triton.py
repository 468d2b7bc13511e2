"""`specc triton` (issue 10, part 2): a Triton Inference Server model repository.

config.pbtxt is parsed with the ModelConfig protobuf that tritonclient ships (Triton's own
model_config.proto), and its names, data types and dims are checked against the ONNX graph of a
numeric classifier, a word tagger and a graph spec with two outputs.
"""
from __future__ import annotations

from pathlib import Path

import onnx
import pytest

import specc
from specc.cli import main
from tests.test_graph_export import TWO_HEADS  # a graph with two outputs

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason='tritonclient is not installed: python -m pip install -e ".[triton]"')
text_format = pytest.importorskip("google.protobuf.text_format")

SPECS = Path(__file__).resolve().parent.parent / "specs"
DataType = model_config_pb2.DataType


def exported(net, path: Path) -> Path:
    """The network's ONNX model, written unverified (the export's checks are tested elsewhere)."""
    onnx.save(net.to_onnx(), path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {"x_or_o": exported(specc.load(SPECS / "x_or_o.nn"), folder / "x_or_o.onnx"),
            "slots": exported(specc.load(SPECS / "slots_elman.nn"), folder / "slots elman.onnx"),
            "two_heads": exported(specc.loads(TWO_HEADS, "two_heads.nn"), folder / "two_heads.onnx")}


def config(path: Path):
    """config.pbtxt read by Triton's own ModelConfig message."""
    return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def declared(tensors) -> list[tuple]:
    """(name, data type, dims, reshaped to) of each input or output in a ModelConfig."""
    return [(t.name, DataType.Name(t.data_type), list(t.dims), list(t.reshape.shape) if t.HasField("reshape") else None)
            for t in tensors]


def triton(args: list[str], capsys) -> tuple[int, str, str]:
    status = main(["triton", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("model, name, inputs, outputs", [
    ("x_or_o", "x_or_o", [("image", "TYPE_FP32", [1, 12, 12], None)],
     [("label", "TYPE_FP32", [2], None), ("label_class", "TYPE_STRING", [1], [])]),
    ("slots", "slots_elman", [("words", "TYPE_STRING", [-1], None)],
     [("slots", "TYPE_FP32", [-1, 4], None), ("slots_class", "TYPE_STRING", [-1], None)]),
    ("two_heads", "two_heads", [("image", "TYPE_FP32", [1, 8, 8], None)],
     [("digit", "TYPE_FP32", [3], None), ("size", "TYPE_FP32", [1], None), ("digit_class", "TYPE_STRING", [1], [])]),
])
def test_config_declares_the_graph(models, tmp_path, capsys, model, name, inputs, outputs):
    """Names, data types and dims (batch axis left out, -1 for the words' length; a (N,) tensor
    as dims [1] reshaped to []) as in the ONNX graph; the model is copied byte for byte."""
    status, out, err = triton([str(models[model]), "--repo", str(tmp_path / "repo")], capsys)
    assert (status, err) == (0, "")
    folder = tmp_path / "repo" / name
    assert out.splitlines()[0] == f"wrote {folder / 'config.pbtxt'} and {folder / '1' / 'model.onnx'}"
    parsed = config(folder / "config.pbtxt")
    assert (parsed.name, parsed.backend, parsed.platform, parsed.max_batch_size) == (
        name, "onnxruntime", "onnxruntime_onnx", 64)
    assert parsed.HasField("dynamic_batching")
    assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in parsed.instance_group] == [
        (1, "KIND_CPU")]
    assert (declared(parsed.input), declared(parsed.output)) == (inputs, outputs)
    graph = onnx.load(folder / "1" / "model.onnx").graph
    assert [i.name for i in graph.input] == [i[0] for i in inputs]
    assert [o.name for o in graph.output] == [o[0] for o in outputs]
    assert (folder / "1" / "model.onnx").read_bytes() == models[model].read_bytes()


def test_contrib_ops_are_said_to_run_in_triton(models, tmp_path, capsys):
    status, out, _ = triton([str(models["slots"]), "--repo", str(tmp_path)], capsys)
    assert status == 0
    assert out.splitlines()[1] == "the model uses onnxruntime's contrib ops: Triton's onnxruntime backend runs them as they are"
    assert "tritonserver --model-repository=/models" in out.splitlines()[2]


def test_no_batching_gpu_instances_and_a_name(models, tmp_path, capsys):
    """--max-batch 0 keeps the batch axis as -1 and has no dynamic batching (Triton needs a batch
    axis for it); --gpu --instances 3 asks for three instances on GPUs."""
    status, _, _ = triton([str(models["two_heads"]), "--repo", str(tmp_path), "--max-batch", "0", "--gpu",
                           "--instances", "3", "--name", "heads-v2", "--quiet"], capsys)
    assert status == 0
    parsed = config(tmp_path / "heads-v2" / "config.pbtxt")
    assert (parsed.name, parsed.max_batch_size, parsed.HasField("dynamic_batching")) == ("heads-v2", 0, False)
    assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in parsed.instance_group] == [
        (3, "KIND_GPU")]
    assert declared(parsed.output) == [("digit", "TYPE_FP32", [-1, 3], None), ("size", "TYPE_FP32", [-1, 1], None),
                                       ("digit_class", "TYPE_STRING", [-1], None)]


def test_an_existing_model_folder_needs_force(models, tmp_path, capsys):
    """The second write is refused (exit 2, files untouched); --force replaces config and model."""
    repo = tmp_path / "repo"
    assert triton([str(models["x_or_o"]), "--repo", str(repo), "--quiet"], capsys)[0] == 0
    before = (repo / "x_or_o" / "config.pbtxt").read_text()
    status, out, err = triton([str(models["x_or_o"]), "--repo", str(repo), "--max-batch", "8"], capsys)
    assert (status, out) == (2, "")
    assert err == (f"error: {repo / 'x_or_o'} already exists\n  hint: give --force to replace its config.pbtxt "
                   "and 1/model.onnx, or --name for another model name\n")
    assert (repo / "x_or_o" / "config.pbtxt").read_text() == before
    assert triton([str(models["x_or_o"]), "--repo", str(repo), "--max-batch", "8", "--force", "--quiet"], capsys)[0] == 0
    assert config(repo / "x_or_o" / "config.pbtxt").max_batch_size == 8


@pytest.mark.parametrize("args, message", [
    (["--repo", "{file}"], "error: cannot write the repository {file}: it is not a folder"),
    (["--repo", "{tmp}", "--name", ".hidden"], "error: --name '.hidden' is not a Triton model name"),
    (["--repo", "{tmp}", "--instances", "0"], "error: --instances 0 must be at least 1"),
    (["--repo", "{tmp}", "--max-batch", "-1"], "error: --max-batch -1 is negative"),
])
def test_mistakes_exit_2(models, tmp_path, capsys, args, message):
    file = tmp_path / "repo.txt"
    file.write_text("not a folder")
    fill = {"file": file, "tmp": tmp_path / "repo"}
    status, out, err = triton([str(models["x_or_o"]), *[a.format(**fill) for a in args]], capsys)
    assert (status, out, err.splitlines()[0]) == (2, "", message.format(**fill))
    assert not (tmp_path / "repo").exists()


def test_a_file_that_is_not_onnx_exits_2(tmp_path, capsys):
    spec = tmp_path / "x_or_o.onnx"
    spec.write_text((SPECS / "x_or_o.nn").read_text())
    status, _, err = triton([str(spec), "--repo", str(tmp_path / "repo")], capsys)
    assert (status, err.splitlines()[0]) == (2, f"error: cannot load {spec} as an ONNX model: it is not an ONNX protobuf")
    assert not (tmp_path / "repo").exists()
