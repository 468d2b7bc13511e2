"""`specc serve`: the Open Inference Protocol (KServe v2), driven by its reference client
tritonclient.http against a uvicorn server on a free loopback port, and answers compared with a
direct onnxruntime call on the same tensors."""
from __future__ import annotations

import http.client
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason="specc serve needs the [serve] extra (starlette, uvicorn)")
pytest.importorskip("uvicorn", reason="specc serve needs the [serve] extra (starlette, uvicorn)")
httpclient = pytest.importorskip("tritonclient.http", reason="the tests drive the server with tritonclient[http]")
from tritonclient.utils import InferenceServerException  # noqa: E402

import onnxruntime as ort  # noqa: E402

import specc  # noqa: E402
from specc.cli import main  # noqa: E402
from specc.serve import listen, load_served, make_app, make_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1 << 16  # a small body limit, so that an oversized body is cheap to send


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """x_or_o (numbers in, scores and class names out) and slots_elman (words in, tags out), exported."""
    folder = tmp_path_factory.mktemp("models")
    for spec, name in (("x_or_o.nn", "xo"), ("slots_elman.nn", "slots")):
        assert main(["compile", str(ROOT / "specs" / spec), "-o", str(folder / f"{name}.onnx"), "--quiet"]) == 0
    return folder


@contextmanager
def serving(served, limit=LIMIT, **batching):
    """Serve `served` on a free loopback port in a thread (`batching`: make_app's max_batch and
    max_delay_ms); yields its host:port, then stops it."""
    sock = listen("127.0.0.1", 0)
    server = make_server(make_app(served, max_body=limit, **batching), log_level="error")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def xo(models):
    with serving(load_served(models / "xo.onnx", True)) as url:
        yield url, models / "xo.onnx"


@pytest.fixture(scope="module")
def slots(models):
    with serving(load_served(models / "slots.onnx", True)) as url:
        yield url, models / "slots.onnx"


def direct(path, **feeds):
    """The outputs of a direct onnxruntime call."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def infer(url, model, name, array, datatype, binary=True, outputs=None):
    """One request through tritonclient.http; the result object."""
    client = httpclient.InferenceServerClient(url)
    tensor = httpclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput(o, binary_data=binary) for o in outputs] if outputs else None
    return client.infer(model, [tensor], outputs=wanted)


def raw(url, method, path, body=b"", headers=None):
    """(status, JSON answer) of one plain HTTP request."""
    connection = http.client.HTTPConnection(*url.split(":"))
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


# ---- what works ----

def test_health_and_metadata_of_a_classifier(xo):
    url, _ = xo
    client = httpclient.InferenceServerClient(url)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("xo")
    meta = client.get_model_metadata("xo")
    assert meta["name"] == "xo"
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 12, 12]}]
    assert meta["outputs"] == [{"name": "label", "datatype": "FP32", "shape": [-1, 2]},
                               {"name": "label_class", "datatype": "BYTES", "shape": [-1]}]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_classifier_answers_equal_onnxruntime(xo, binary):
    url, path = xo
    images = np.random.default_rng(0).normal(size=(5, 1, 12, 12)).astype(np.float32)
    result = infer(url, "xo", "image", images, "FP32", binary, outputs=None if binary else ["label", "label_class"])
    expected = direct(path, image=images)
    np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
    assert result.as_numpy("label").dtype == np.float32
    assert [w.decode() if isinstance(w, bytes) else w for w in result.as_numpy("label_class")] == \
        expected["label_class"].tolist()


def test_word_model_takes_and_gives_words(slots):
    url, path = slots
    client = httpclient.InferenceServerClient(url)
    meta = client.get_model_metadata("slots")
    assert meta["inputs"] == [{"name": "words", "datatype": "BYTES", "shape": [-1, -1]}]
    assert meta["outputs"] == [{"name": "slots", "datatype": "FP32", "shape": [-1, -1, 4]},
                               {"name": "slots_class", "datatype": "BYTES", "shape": [-1, -1]}]
    words = np.array([["arrive", "Taipei", "on", "Monday"], ["fly", "to", "Boston", ""]], dtype=object)
    expected = direct(path, words=words)
    for binary in (True, False):
        result = infer(url, "slots", "words", words, "BYTES", binary, outputs=["slots", "slots_class"])
        np.testing.assert_array_equal(result.as_numpy("slots"), expected["slots"])
        tags = result.as_numpy("slots_class")
        assert tags.shape == (2, 4)
        assert [[t.decode() if isinstance(t, bytes) else t for t in row] for row in tags] == \
            expected["slots_class"].tolist()


def test_a_portable_model_takes_word_ids_and_refuses_ids_it_has_no_word_for(models, tmp_path):
    path = tmp_path / "slots.portable.onnx"
    assert main(["compile", str(ROOT / "specs" / "slots_elman.nn"), "--portable", "-o", str(path), "--quiet"]) == 0
    model = specc.load_onnx(path)
    ids = model.feeds(words=["arrive Taipei on Monday", "fly to Boston"])["words"]
    unknown = json.loads(model.metadata["specc.words.words"])["unknown_id"]
    with serving(load_served(path, True)) as url:
        client = httpclient.InferenceServerClient(url)
        assert client.get_model_metadata("slots.portable")["inputs"] == \
            [{"name": "words", "datatype": "INT64", "shape": [-1, -1]}]
        for binary in (True, False):
            result = infer(url, "slots.portable", "words", ids, "INT64", binary, outputs=["slots", "slots_index"])
            expected = direct(path, words=ids)
            np.testing.assert_array_equal(result.as_numpy("slots"), expected["slots"])
            np.testing.assert_array_equal(result.as_numpy("slots_index"), expected["slots_index"])
        for bad in (-2, unknown + 1):
            with pytest.raises(InferenceServerException) as error:
                infer(url, "slots.portable", "words", np.array([[0, bad]], dtype=np.int64), "INT64")
            assert f"input words holds ids outside -1..{unknown} (-1: padding, {unknown}: an unknown word)" in \
                str(error.value)
        status, answer = raw(url, "POST", "/v2/models/slots.portable/infer", json.dumps(
            {"inputs": [{"name": "words", "datatype": "INT64", "shape": [1, 2], "data": [1, 2.5]}]}).encode())
        assert (status, answer) == (400, {"error": "input words is INT64: its data must be whole numbers"})


def test_a_spec_is_compiled_on_the_fly(models):
    served = load_served(ROOT / "specs" / "x_or_o.nn", False)
    with serving(served) as url:
        images = np.ones((2, 1, 12, 12), np.float32)
        result = infer(url, "x_or_o", "image", images, "FP32")
        np.testing.assert_array_equal(result.as_numpy("label"), served.runner.run({"image": images})["label"])


def test_an_answer_does_not_wait_for_delayed_acks(xo):
    """Without TCP_NODELAY each answer waited ~40 ms for the client's delayed ACK; now well under."""
    url, _ = xo
    client, times = httpclient.InferenceServerClient(url), []
    for _ in range(11):
        tensor = httpclient.InferInput("image", [1, 1, 12, 12], "FP32")
        tensor.set_data_from_numpy(IMAGE)
        started = time.perf_counter()
        client.infer("xo", [tensor])
        times.append(time.perf_counter() - started)
    assert np.median(times) < 0.025


# ---- what is refused, with the protocol's error object, and the server serving on ----

IMAGE = np.zeros((1, 1, 12, 12), np.float32)


@pytest.mark.parametrize("model, name, array, datatype, status, error", [
    ("nope", "image", IMAGE, "FP32", 404, "unknown model nope: this server serves xo"),
    ("xo", "picture", IMAGE, "FP32", 400, "model xo has no input picture: its inputs are image"),
    ("xo", "image", np.zeros((1, 1, 12, 11), np.float32), "FP32", 400,
     "input image has shape [1, 1, 12, 11], which does not fit [-1, 1, 12, 12] (-1: any size)"),
    ("xo", "image", np.zeros((1, 1, 12, 12), np.int64), "INT64", 400, "input image must be FP32, not INT64"),
    ("xo", "image", np.full((1, 1, 12, 12), np.nan, np.float32), "FP32", 400,
     "input image holds 144 values that are not finite numbers"),
], ids=["model", "name", "shape", "datatype", "nan"])
def test_bad_requests_are_refused(xo, model, name, array, datatype, status, error):
    url, _ = xo
    with pytest.raises(InferenceServerException) as caught:
        infer(url, model, name, array, datatype)
    assert caught.value.message() == error
    assert caught.value.status() == str(status)
    assert httpclient.InferenceServerClient(url).is_server_ready()
    assert infer(url, "xo", "image", IMAGE, "FP32").as_numpy("label").shape == (1, 2)


def tensor(data: bytes, shape: bytes = b"[1, 1, 12, 12]") -> bytes:
    """A request body with one JSON input image holding `data`."""
    return b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": ' + shape + b', "data": ' + data + b"}]}"


# an input whose binary data should follow the JSON, but the body ends there
NO_BINARY = (b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 12, 12], '
             b'"parameters": {"binary_data_size": 576}}]}')


@pytest.mark.parametrize("body, headers, status, error", [
    (b'{"inputs": [', {}, 400, "the request is not valid JSON: Expecting value: line 1 column 13 (char 12)"),
    (b'[1, 2]', {}, 400, 'the request must be a JSON object with a list "inputs"'),
    (b"x" * (LIMIT + 1), {}, 413, f"the request body of {LIMIT + 1} bytes is larger than the server's limit of "
                                  f"{LIMIT} bytes"),
    (tensor(b"[1]"), {}, 400,
     "input image holds 1 values, but its shape [1, 1, 12, 12] needs 144"),
    (NO_BINARY, {"Inference-Header-Content-Length": str(len(NO_BINARY))}, 400,
     "input image: binary_data_size 576 does not fit the 0 bytes left in the request"),
    (tensor(b"[[1, 2], [3]]"), {}, 400, 'input image: its "data" lists are of unequal lengths'),
    (tensor(b"[1" + b"0" * 400 + b"]"), {}, 400, "input image holds a number too large for FP32"),
    (tensor(b'["1"]'), {}, 400, "input image is FP32: its data must be numbers"),
    (tensor(b"[]", b"[0, 1, 12, 12]"), {}, 400, "input image holds no values: its shape is [0, 1, 12, 12]"),
], ids=["malformed", "not-object", "too-large", "too-few-values", "missing-binary", "ragged", "huge-int",
        "string-for-number", "empty"])
def test_malformed_bodies_are_refused(xo, body, headers, status, error):
    url, _ = xo
    assert raw(url, "POST", "/v2/models/xo/infer", body, headers) == (status, {"error": error})
    assert infer(url, "xo", "image", IMAGE, "FP32").as_numpy("label").shape == (1, 2)


def test_oversized_body_without_length_is_refused_while_read(xo):
    url, _ = xo
    connection = http.client.HTTPConnection(*url.split(":"))
    connection.request("POST", "/v2/models/xo/infer", body=iter([b"x" * 4096] * 64), encode_chunked=True)
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (
        413, {"error": f"the request body is larger than the server's limit of {LIMIT} bytes"})


def test_unknown_path_is_a_protocol_error(xo):
    url, _ = xo
    assert raw(url, "GET", "/v2/nothing") == (404, {"error": "Not Found"})
    assert raw(url, "GET", "/v2/models/xo/infer") == (405, {"error": "Method Not Allowed"})


# ---- the command line ----

def test_serve_refuses_weights_for_an_exported_model(models, capsys):
    assert main(["serve", str(models / "xo.onnx"), "--weights", "ckpt.npz"]) == 2
    assert "holds its weights already" in capsys.readouterr().err


def test_serve_names_a_port_it_cannot_take(models, capsys):
    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        assert main(["serve", str(models / "xo.onnx"), "--port", str(port)]) == 2
    finally:
        taken.close()
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err


def test_serve_without_the_extra_names_it(models, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if uvicorn were not installed
    assert main(["serve", str(models / "xo.onnx")]) == 2
    err = capsys.readouterr().err
    assert "specc serve needs uvicorn, which is not installed" in err
    assert 'python -m pip install -e ".[serve]"' in err


def test_serve_command_serves_until_ctrl_c(models):
    import re
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "specc.cli", "serve", str(models / "xo.onnx"), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = process.stdout.readline()
        url = re.fullmatch(r"serving xo at http://(127\.0\.0\.1:\d+)/v2/models/xo \(Ctrl-C stops\)\n", first).group(1)
        assert infer(url, "xo", "image", IMAGE, "FP32").as_numpy("label").shape == (1, 2)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert (process.returncode, out, err) == (0, "stopped serving xo\n", "")
