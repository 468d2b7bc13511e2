"""Deploying, attacked from outside: requests, model files, data and command lines that
`specc serve`, `predict`, `triton`, `quantize` and `compile --portable` had not seen. Each is
refused with a clear message (the protocol's error object and a 4xx for the server, which keeps
serving; exit 2 for the command line), never a traceback or a 500."""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """x_or_o (numbers in) and slots_elman (words in), default and portable exports."""
    folder = tmp_path_factory.mktemp("exported")
    for spec, name, extra in (("x_or_o.nn", "xo", []), ("slots_elman.nn", "slots", []),
                              ("slots_elman.nn", "slots_p", ["--portable"])):
        assert main(["compile", str(ROOT / "specs" / spec), "-o", str(folder / f"{name}.onnx"), "--quiet", *extra]) == 0
    return folder


def send(app, path: str, body, headers=None):
    """The response to one POST of `body` (bytes, or an object sent as JSON) to `path`, sent
    straight to the ASGI app (no socket), its header values as raw bytes."""
    import httpx

    async def sending():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://specc") as client:
            return await client.post(path, headers=headers or {},
                                     content=body if isinstance(body, bytes) else json.dumps(body).encode())

    return asyncio.run(sending())


def post(app, model: str, body, headers=None, path: str | None = None):
    """(status, JSON answer) of one inference request (to `path`, default the model's infer path)."""
    response = send(app, path or f"/v2/models/{model}/infer", body, headers)
    return response.status_code, response.json() if response.status_code != 500 else response.text


@pytest.fixture(scope="module")
def served(exported):
    """model name -> the ASGI app serving it."""
    pytest.importorskip("starlette", reason="specc serve needs the [serve] extra (starlette, uvicorn)")
    pytest.importorskip("httpx", reason="the tests send requests with httpx")
    from specc.serve import load_served, make_app

    return {name: make_app(load_served(exported / f"{name}.onnx", True), max_body=1 << 16) for name in ("xo", "slots")}


IMAGE = {"name": "image", "datatype": "FP32", "shape": [1, 1, 12, 12], "data": [0.5] * 144}
WORDS = {"name": "words", "datatype": "BYTES", "shape": [1, 2], "data": ["show", "flights"]}


# ---- serve: requests ----

@pytest.mark.parametrize("body, headers, error", [
    # "²" is a digit to str.isdigit but not to int()
    (json.dumps({"inputs": [IMAGE]}).encode(), {"Inference-Header-Content-Length": b"\xb2"},
     "Inference-Header-Content-Length \xb2 is not a number of bytes"),
    (b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1], "data": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",
     {}, "the request is not valid JSON: its lists and objects are nested too deeply"),
    ({"inputs": [IMAGE], "outputs": [{"name": "label"}, {"name": "label"}]}, {}, "output label is asked for twice"),
    ({"inputs": [{**IMAGE, "parameters": ["binary_data_size", 576]}]}, {},
     '"parameters" of input image must be a JSON object'),
    ({"inputs": [IMAGE], "parameters": "binary_data_output"}, {}, '"parameters" of the request must be a JSON object'),
    ({"inputs": [IMAGE], "outputs": [{"name": "label", "parameters": [True]}]}, {},
     '"parameters" of output label must be a JSON object'),
], ids=["unicode-digit-header", "deep-json", "output-twice", "input-parameters", "request-parameters",
        "output-parameters"])
def test_odd_requests_are_refused_and_the_server_serves_on(served, body, headers, error):
    assert post(served["xo"], "xo", body, headers) == (400, {"error": error})
    assert post(served["xo"], "xo", {"inputs": [IMAGE]})[0] == 200


def test_a_word_that_is_not_unicode_text_is_refused(served):
    body = b'{"inputs": [{"name": "words", "datatype": "BYTES", "shape": [1, 1], "data": ["\\ud800"]}]}'
    assert post(served["slots"], "slots", body) == (400, {"error": "input words: word 1 is not UTF-8 text"})
    assert post(served["slots"], "slots", {"inputs": [WORDS]})[0] == 200


def test_a_refusal_from_the_word_checks_does_not_start_with_error(served):
    padded = {**WORDS, "shape": [1, 3], "data": ["show", "", "flights"]}
    assert post(served["slots"], "slots", {"inputs": [padded]}) == \
        (400, {"error": "input words: sentence 1 has an empty word before its end"})


# ---- serve: model files ----

def tiny_model(path: Path, inputs: list, outputs: list, nodes: list) -> Path:
    """Save a hand-made ONNX model (opset 17) of value infos and nodes."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def odd_models(folder: Path) -> dict[str, Path]:
    """Models specc never writes: an int32 input, no input at all, a single-value input, a double output."""
    from onnx import TensorProto, helper

    info = helper.make_tensor_value_info
    constant = helper.make_node("Constant", [], ["y"], value=helper.make_tensor("c", TensorProto.FLOAT, [1, 3], [1, 2, 3]))
    return {
        "int32": tiny_model(folder / "int32.onnx", [info("x", TensorProto.INT32, ["N", 3])],
                            [info("y", TensorProto.FLOAT, ["N", 3])],
                            [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)]),
        "none": tiny_model(folder / "none.onnx", [], [info("y", TensorProto.FLOAT, [1, 3])], [constant]),
        "scalar": tiny_model(folder / "scalar.onnx", [info("x", TensorProto.FLOAT, [])],
                             [info("y", TensorProto.FLOAT, [])], [helper.make_node("Identity", ["x"], ["y"])]),
        "double": tiny_model(folder / "double.onnx", [info("x", TensorProto.FLOAT, ["N", 3])],
                             [info("y", TensorProto.DOUBLE, ["N", 3])],
                             [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.DOUBLE)]),
    }


@pytest.mark.parametrize("model, error", [
    ("int32", "cannot serve model int32: input x is tensor(int32); it can be FP32, INT64, BYTES"),
    ("none", "cannot serve model none: it has no inputs, so a request has nothing to give it"),
    ("scalar", "cannot serve model scalar: input x is a single value: requests need a batch axis, shape (N, ...)"),
    ("double", "cannot serve model double: output y is tensor(double); it can be FP32, BYTES, INT64, BOOL"),
])
def test_a_model_requests_cannot_feed_is_refused_before_serving(tmp_path, model, error):
    pytest.importorskip("onnx", reason="the odd models are written with onnx")
    from specc.errors import SpecError
    from specc.serve import load_served

    with pytest.raises(SpecError) as caught:
        load_served(odd_models(tmp_path)[model], True)
    assert caught.value.message == error


# ---- a portable model's metadata, tampered ----

def tampered(source: Path, folder: Path, key: str, change) -> Path:
    """A copy of a portable model whose metadata entry `key` (JSON) is replaced by change(entry)."""
    import onnx

    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = json.dumps(change(json.loads(prop.value)))
    path = folder / "tampered.onnx"
    onnx.save(model, str(path))
    return path


DAMAGED_WORDS = "error: the model's metadata entry specc.words.words is damaged"


@pytest.mark.parametrize("key, change, error", [
    ("specc.words.words", lambda e: {**e, "vocabulary": "show"}, DAMAGED_WORDS),  # a string: its letters were words
    ("specc.words.words", lambda e: {**e, "unknown_id": 5}, DAMAGED_WORDS),
    ("specc.words.words", lambda e: {**e, "unknown_id": 10 ** 30}, DAMAGED_WORDS),
    ("specc.words.words", lambda e: {**e, "padding_id": 0}, DAMAGED_WORDS),
    ("specc.words.words", lambda e: {**e, "vocabulary": ["show"] * len(e["vocabulary"])}, DAMAGED_WORDS),
    ("specc.classes.slots", lambda e: e[:1],
     "error: the model's metadata entry specc.classes.slots is damaged: it names 1 classes, but the model gives class"),
], ids=["vocabulary-string", "unknown-id", "unknown-id-huge", "padding-id", "repeated-words", "too-few-classes"])
def test_a_portable_model_with_damaged_metadata_is_refused(exported, tmp_path, capsys, key, change, error):
    pytest.importorskip("onnx", reason="the metadata is tampered with onnx")
    path = tampered(exported / "slots_p.onnx", tmp_path, key, change)
    assert main(["run", str(path), "--text", "show me flights to Boston"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(error) and "Traceback" not in err


def test_a_portable_vocabulary_larger_than_its_word_table_is_refused_at_load(exported, tmp_path, capsys):
    # consistent metadata (ids agree) naming more words than the embedding has rows: once, every
    # request with an unknown word failed inside onnxruntime, and the server answered 500
    pytest.importorskip("onnx", reason="the metadata is tampered with onnx")
    grow = lambda e: {**e, "vocabulary": e["vocabulary"] + [f"w{k}" for k in range(1000)],  # noqa: E731
                      "unknown_id": len(e["vocabulary"]) + 1000}
    path = tampered(exported / "slots_p.onnx", tmp_path, "specc.words.words", grow)
    assert main(["run", str(path), "--text", "show me flights to Boston"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: an unknown word (id ") and "fails in the model" in err, err
    assert "Traceback" not in err
    pytest.importorskip("starlette", reason="specc serve needs the [serve] extra")
    from specc.errors import SpecError
    from specc.serve import load_served

    with pytest.raises(SpecError, match="an unknown word .* fails in the model"):  # serve stops before listening
        load_served(path, onnx=True)


# ---- predict and quantize: where the output goes ----

def write_csv(path: Path, rows: int = 2) -> Path:
    """A .csv of x_or_o images: a header of 144 pixel columns, then `rows` rows of 0.5."""
    path.write_text(",".join(f"p{i}" for i in range(144)) + "\n" + (",".join(["0.5"] * 144) + "\n") * rows)
    return path


def test_predict_refuses_to_write_over_its_model_or_data(exported, tmp_path, capsys):
    model = tmp_path / "xo.onnx"
    model.write_bytes((exported / "xo.onnx").read_bytes())
    data = write_csv(tmp_path / "images.csv")
    before = model.read_bytes(), data.read_bytes()
    link = tmp_path / "link.npz"
    link.symlink_to(data)
    for out, read in ((model, model), (data, data), (link, data)):
        assert main(["predict", str(model), "--data", str(data), "--out", str(out), "--quiet"]) == 2
        assert capsys.readouterr().err == (f"error: cannot write {out}: it is {read}, which the command reads; "
                                           "--out would replace it\n  hint: give --out another path\n")
    assert (model.read_bytes(), data.read_bytes()) == before


def test_quantize_refuses_to_write_over_the_float_model(exported, tmp_path, capsys):
    model = tmp_path / "xo.onnx"
    model.write_bytes((exported / "xo.onnx").read_bytes())
    assert main(["quantize", str(model), "-o", str(model), "--quiet"]) == 2
    assert capsys.readouterr().err == (f"error: cannot write {model}: it is {model}, which the command reads; "
                                       "-o would replace it\n  hint: give -o another path\n")
    assert model.read_bytes() == (exported / "xo.onnx").read_bytes()


# ---- predict: data ----

def test_predict_refuses_a_fifo_in_the_data_folder(exported, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    write_csv(folder / "a.csv")
    os.mkfifo(folder / "b.csv")  # reading it would block for ever
    assert main(["predict", str(exported / "xo.onnx"), "--data", str(folder), "--out", str(tmp_path / "o.npz")]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read {folder / 'b.csv'}: it is a FIFO (named pipe), "
                                              "not a file\n")


def test_predict_refuses_numbers_float32_cannot_hold(exported, tmp_path, capsys):
    import numpy as np

    images = np.full((3, 1, 12, 12), 0.5)
    images[2, 0, 4, 7] = -1e300  # float64: finite, but an infinity once the model reads it as float32
    np.savez(tmp_path / "big.npz", image=images)
    csv = write_csv(tmp_path / "big.csv")
    csv.write_text(csv.read_text().replace("0.5\n", "1e300\n", 1))
    for data, error in (("big.npz", f"error: {tmp_path / 'big.npz'}: array image holds -1e+300 at [2, 0, 4, 7], "
                                    "which is too large for float32, the model's numbers\n"),
                        ("big.csv", f"error: {tmp_path / 'big.csv'}: line 2, column 'p143' is not a number float32 "
                                    "can hold (the model's numbers): 1e+300\n")):
        assert main(["predict", str(exported / "xo.onnx"), "--data", str(tmp_path / data),
                     "--out", str(tmp_path / "o.npz"), "--quiet"]) == 2
        assert capsys.readouterr().err.startswith(error)
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("model, error", [
    ("int32", "error: specc predict cannot feed {path}: x is tensor(int32)\n"),
    ("none", "error: specc predict cannot feed {path}: it has no inputs\n"),
])
def test_predict_refuses_a_model_it_cannot_feed(tmp_path, capsys, model, error):
    pytest.importorskip("onnx", reason="the odd models are written with onnx")
    import numpy as np

    path = odd_models(tmp_path)[model]
    np.savez(tmp_path / "x.npz", x=np.ones((2, 3), np.float32))
    assert main(["predict", str(path), "--data", str(tmp_path / "x.npz"), "--out", str(tmp_path / "o.npz")]) == 2
    assert capsys.readouterr().err.startswith(error.format(path=path))


# ---- triton ----

@pytest.mark.parametrize("flags, error", [
    (["--max-batch", str(2**31)], f"error: --max-batch {2**31} is more than Triton's config holds ({2**31 - 1})\n"),
    (["--instances", str(10**11)], f"error: --instances {10**11} is more than Triton's config holds ({2**31 - 1})\n"),
    (["--repo", ""], "error: --repo is empty\n"),
], ids=["max-batch-past-int32", "instances-past-int32", "empty-repo"])
def test_triton_refuses_what_its_config_cannot_hold(exported, tmp_path, capsys, monkeypatch, flags, error):
    monkeypatch.chdir(tmp_path)
    assert main(["triton", str(exported / "xo.onnx"), "--repo", "repo", *flags]) == 2
    assert capsys.readouterr().err.startswith(error)
    assert list(tmp_path.iterdir()) == []


def test_triton_prints_a_docker_command_that_keeps_the_folder_one_word(exported, tmp_path, capsys):
    repo = tmp_path / "my models $(touch pwned)"
    assert main(["triton", str(exported / "xo.onnx"), "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert f"-v '{repo}:/models' nvcr.io/" in out


# ---- quantize ----

def test_quantize_takes_a_portable_word_model_as_it_takes_the_default_export(exported, tmp_path, capsys):
    """The held-out sentences reached the portable model as words where it takes ids (an internal error)."""
    pytest.importorskip("onnx", reason="specc quantize needs onnx")
    lines = {}
    for name in ("slots", "slots_p"):
        assert main(["quantize", str(exported / f"{name}.onnx"), "-o", str(tmp_path / f"{name}.int8.onnx")]) == 0
        lines[name] = [line for line in capsys.readouterr().out.splitlines() if "slot F1" in line]
    assert len(lines["slots"]) == 1 and lines["slots_p"] == lines["slots"]


@pytest.mark.parametrize("path, status, answer", [
    ("/v2/models/xo/versions/1/infer", 200, None),
    ("/v2/models/xo/versions/2/infer", 404, {"error": "model xo has no version 2: its one version is 1"}),
    ("/v2/models/xo/versions/%C3%A9/infer", 404, {"error": "model xo has no version \u00e9: its one version is 1"}),
])
def test_the_versioned_paths_of_the_protocol(served, path, status, answer):
    found = post(served["xo"], "xo", {"inputs": [IMAGE]}, path=path)
    assert found[0] == status and (answer is None or found[1] == answer)


@pytest.mark.parametrize("host, port, hint", [
    ("not a host", 0, "give --host an address of this machine: 127.0.0.1 (this machine only) or 0.0.0.0 (all)"),
    ("192.0.2.1", 0, "give --host an address of this machine: 127.0.0.1 (this machine only) or 0.0.0.0 (all)"),
    ("127.0.0.1", 70000, "choose another --port, or stop the program using it"),
], ids=["unresolvable", "not-this-machine", "port"])
def test_a_host_that_cannot_be_listened_on_is_blamed_not_the_port(host, port, hint):
    from specc.errors import SpecError
    from specc.serve import listen

    with pytest.raises(SpecError) as caught:
        listen(host, port)
    assert caught.value.message.startswith(f"cannot listen on {host}:{port}: ") and caught.value.hint == hint


def test_predict_refuses_a_npz_cut_short_inside_its_data(exported, tmp_path, capsys):
    """A stored .npz with bytes cut out of its array's data, its zip directory moved to match:
    the headers agree, but the file ends before the data does (memmap failed: internal error)."""
    import struct

    import numpy as np

    np.savez(tmp_path / "whole.npz", image=np.zeros((100, 1, 12, 12), np.float32))
    data = bytearray((tmp_path / "whole.npz").read_bytes())
    cut, end = 10_000, data.rfind(b"PK\x05\x06")  # the end of central directory record
    directory = struct.unpack_from("<I", data, end + 16)[0]
    data = data[:2000] + data[2000 + cut:]
    struct.pack_into("<I", data, end - cut + 16, directory - cut)
    (tmp_path / "cut.npz").write_bytes(bytes(data))
    assert main(["predict", str(exported / "xo.onnx"), "--data", str(tmp_path / "cut.npz"),
                 "--out", str(tmp_path / "o.npz")]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read {tmp_path / 'cut.npz'}: its array image is cut "
                                              "short: the file ends before its data does\n")


# ---- compile ----

@pytest.mark.parametrize("portable", [[], ["--portable"]], ids=["default", "portable"])
def test_compile_refuses_to_write_the_model_over_its_spec(tmp_path, capsys, portable):
    spec = tmp_path / "x_or_o.nn"
    spec.write_text((ROOT / "specs" / "x_or_o.nn").read_text())
    assert main(["compile", str(spec), "-o", str(spec), "--quiet", *portable]) == 2
    assert capsys.readouterr().err == (f"error: cannot write {spec}: it is {spec}, which the command reads; "
                                       "-o would replace it\n  hint: give -o another path\n")
    assert spec.read_text() == (ROOT / "specs" / "x_or_o.nn").read_text()


def test_run_refuses_to_write_its_outputs_over_its_model_or_input(exported, tmp_path, capsys):
    import numpy as np

    model = tmp_path / "xo.onnx"
    model.write_bytes((exported / "xo.onnx").read_bytes())
    image = tmp_path / "image.npy"
    np.save(image, np.zeros((1, 1, 12, 12), np.float32))
    before = model.read_bytes(), image.read_bytes()
    for out in (model, image):
        assert main(["run", str(model), "--input", f"image={image}", "--output", str(out), "--quiet"]) == 2
        assert capsys.readouterr().err == (f"error: cannot write {out}: it is {out}, which the command reads; "
                                           "--output would replace it\n  hint: give --output another path\n")
    assert (model.read_bytes(), image.read_bytes()) == before


# ---- Ray ----

def test_a_ray_address_ray_cannot_parse_is_refused(monkeypatch):
    ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
    from specc.errors import SpecError
    from specc.ray_cluster import ray_cluster

    if ray.is_initialized():
        pytest.skip("this process is connected to Ray already: RAY_ADDRESS is not read")
    monkeypatch.setenv("RAY_ADDRESS", "garbage")
    with pytest.raises(SpecError) as caught:
        with ray_cluster():
            pass
    assert caught.value.message == "cannot join the Ray cluster at RAY_ADDRESS=garbage: Invalid address format: garbage"


def test_a_ray_address_where_nothing_listens_is_refused_at_once(monkeypatch):
    # Ray itself retried such an address silently for over a minute and a half
    import socket
    import time

    ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
    from specc.errors import SpecError
    from specc.ray_cluster import ray_cluster

    if ray.is_initialized():
        pytest.skip("this process is connected to Ray already: RAY_ADDRESS is not read")
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        with ray_cluster():
            pass
    assert caught.value.message == (f"cannot join the Ray cluster at RAY_ADDRESS=127.0.0.1:{port}: nothing answers "
                                    "there (Connection refused)")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("words, received", [
    ([[b"show", b"me"]], "(1, 2) of |S4"),  # bytes: refused only once a batch was scored, without the file's name
    ([[], []], "(2, 0) of <U1"),  # no word at all: an internal error
], ids=["bytes", "no-words"])
def test_predict_refuses_word_arrays_that_hold_no_words(exported, tmp_path, capsys, words, received):
    import numpy as np

    path = tmp_path / "words.npz"
    np.savez(path, words=np.array(words) if words[0] else np.zeros((2, 0), "U1"))
    assert main(["predict", str(exported / "slots.onnx"), "--data", str(path), "--out", str(tmp_path / "o.npz")]) == 2
    assert capsys.readouterr().err.startswith(
        f'error: array words of {path} must hold sentences: (N, T) strings padded with "", T at least 1\n'
        f"  received: {received}\n")


def test_an_output_json_cannot_carry_is_refused_and_binary_carries_it(served):
    """Inputs of 3e38 overflow x_or_o's conv: its scores are NaN, which the answer wrote as NaN,
    a literal that JSON does not have (strict clients fail on it)."""
    import numpy as np

    huge = {**IMAGE, "data": [3e38] * 144}
    assert post(served["xo"], "xo", {"inputs": [huge]}) == (400, {"error": (
        "output label holds 2 values that are not finite numbers, which JSON cannot carry: ask for it as binary data")})
    status, answer = post(served["xo"], "xo", {"inputs": [huge], "outputs": [{"name": "label_class"}]})
    assert status == 200 and answer["outputs"][0]["data"] == ["X"]
    response = send(served["xo"], "/v2/models/xo/infer",
                    {"inputs": [huge], "outputs": [{"name": "label", "parameters": {"binary_data": True}}]})
    header = int(response.headers["Inference-Header-Content-Length"])
    assert response.status_code == 200 and np.isnan(np.frombuffer(response.content[header:], "<f4")).all()


def with_metadata(source: Path, path: Path, **entries: str) -> Path:
    """A copy of the model at `source` with metadata entries (specc_spec: specc.spec) replaced."""
    import onnx

    model = onnx.load(str(source))
    for prop in model.metadata_props:
        prop.value = entries.get(prop.key.replace(".", "_"), prop.value)
    onnx.save(model, str(path))
    return path


def test_quantize_refuses_a_model_whose_spec_is_not_its_graphs(exported, tmp_path, capsys):
    """Another model's spec in the metadata fed the graph words where it takes images (an internal error)."""
    pytest.importorskip("onnx", reason="the metadata is edited with onnx")
    slots_spec = (ROOT / "specs" / "slots_elman.nn").read_text()
    path = with_metadata(exported / "xo.onnx", tmp_path / "xo.onnx", specc_spec=slots_spec)
    assert main(["quantize", str(path), "-o", str(tmp_path / "int8.onnx")]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: the spec in its metadata (specc.spec) does not describe its graph\n"
        "  expected: inputs image ('N', 1, 12, 12)\n  received: inputs words ('N', 'T')\n"
        "  hint: quantize a model as specc compile or specc train wrote it\n")
    path = with_metadata(exported / "xo.onnx", tmp_path / "seed.onnx", specc_seed="zero")
    assert main(["quantize", str(path), "-o", str(tmp_path / "int8.onnx")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: its metadata entry specc.seed is damaged\n")
