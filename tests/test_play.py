"""specc play without a browser: the page's routes on a uvicorn server in a thread, every number
of /play/think compared with the NumPy interpreter's per-layer values (what specc show draws),
strict refusals of bad requests, and the command started and stopped as a user does."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason="specc play needs the [serve] extra (starlette, uvicorn)")
pytest.importorskip("uvicorn", reason="specc play needs the [serve] extra (starlette, uvicorn)")
httpx = pytest.importorskip("httpx", reason="the tests send their requests with httpx")

from specc.cli import main  # noqa: E402
from specc.play import HOST, MAX_BODY, MAX_TEXT, describe, make_play_app, open_playable  # noqa: E402
from specc.serve import listen, make_server  # noqa: E402
from specc.runtime.interpreter import layer_values  # noqa: E402
from specc.show import answers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
X_IMAGE = json.loads((SPECS / "inputs" / "x_12x12.json").read_text())
SENTENCE = "arrive Beijing on November 2nd"  # seed-examples §5


def trained(folder: Path, spec: str, epochs: int | None = None) -> Path:
    """A run folder of specs/SPEC trained by `specc train` (its own epochs unless given)."""
    out = folder / Path(spec).stem
    more = ["--epochs", str(epochs)] if epochs else []
    assert main(["train", str(SPECS / spec), "--out", str(out), "--quiet", *more]) == 0
    return out


def playing(run: Path, *extra: str):
    """Start `specc play RUN --port 0` as a user would, yield its URL, then stop it with Ctrl-C
    and check that it stopped cleanly: exit 0, its last line said."""
    process = subprocess.Popen([sys.executable, "-m", "specc.cli", "play", str(run), "--port", "0", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith(f"playing {run.name} (trained: {run.name}/"), line + process.stderr.read()
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out == f"stopped playing {run.name}\n" and "Traceback" not in err


@pytest.fixture(scope="module")
def xo_run(tmp_path_factory) -> Path:
    """specs/x_or_o.nn trained for one epoch."""
    return trained(tmp_path_factory.mktemp("runs"), "x_or_o.nn", 1)


def client_of(target: str):
    """An httpx client of the page's app for `target`, served on a free loopback port in a
    thread while the client is used."""
    sock = listen(HOST, 0)
    server = make_server(make_play_app(open_playable(target)), log_level="error")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://{HOST}:{sock.getsockname()[1]}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def xo(xo_run):
    yield from client_of(str(xo_run))


@pytest.fixture(scope="module")
def tagger():
    """slots_elman with its starting weights: the numbers, not the tags, are what is compared."""
    yield from client_of(str(SPECS / "slots_elman.nn"))


# ---- what the page states ----

def test_the_model_states_its_spec_parameters_and_held_out_score(xo, xo_run):
    scored = json.loads((xo_run / "heldout.json").read_text())  # the exported model's, on the test split
    assert xo.get("/play/model").json() == {
        "name": "x_or_o", "kind": "image", "input": {"name": "image", "shape": [1, 12, 12]},
        "classes": {"label": ["X", "O"]}, "spec": (SPECS / "x_or_o.nn").read_text(), "parameters": 400,
        "weights": "trained: x_or_o/checkpoint.npz",
        "score": {"split": "test", "count": 400, "epoch": 1, "why": "the last", "scores": [
            {"output": None, "metric": "accuracy", "value": scored["outputs"]["label"]["accuracy"]}]},
        "range": {"background": 0.0, "ink": 1.0}}


def test_a_tagger_states_its_classes_and_no_score_without_a_run(tagger):
    facts = tagger.get("/play/model").json()
    assert (facts["kind"], facts["input"], facts["classes"], facts["score"], facts["weights"]) == (
        "tagger", {"name": "words", "shape": ["T"]}, {"slots": ["other", "depart", "dest", "time"]}, None,
        "untrained: starting weights (seed 0)")


def test_the_score_is_the_played_checkpoints_epoch_and_none_for_weights_from_elsewhere(tmp_path):
    run = trained(tmp_path, "slots_elman.nn", 2)  # keep best: best.npz and checkpoint.npz
    (run / "heldout.json").unlink()  # history.json's validation scores, as for a run stopped before scoring
    history = json.loads((run / "history.json").read_text())
    history[1]["best"] = False  # as if the second epoch had scored worse on validation
    (run / "history.json").write_text(json.dumps(history))
    elsewhere = tmp_path / "best.npz"
    elsewhere.write_bytes((run / "best.npz").read_bytes())
    scores = [describe(open_playable(str(run), weights))["score"] for weights in
              (None, str(run / "checkpoint.npz"), str(elsewhere))]
    assert scores[:2] == [{"split": "validation", "count": None, "epoch": epoch, "why": why, "scores": [
        {"output": None, "metric": "accuracy", "value": history[epoch - 1]["val_accuracy"]},
        {"output": None, "metric": "slot F1", "value": history[epoch - 1]["val_f1"]}]}
        for epoch, why in ((1, "best on validation, best.npz"), (2, "the last"))]
    assert scores[2] is None


def test_the_page_and_its_files_are_served_from_the_package_and_fetch_nothing_else(xo):
    page = xo.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == "default-src 'self'; img-src 'self' data:"
    assert '<script src="/play/play.js"></script>' in page.text and 'href="/play/play.css"' in page.text
    for path, media in (("/play/play.js", "text/javascript"), ("/play/play.css", "text/css")):
        answer = xo.get(path)
        assert answer.status_code == 200 and answer.headers["content-type"] == f"{media}; charset=utf-8"
        assert "http" not in answer.text and "//" not in answer.text.replace("// ", "")  # no address elsewhere
    assert "touch-action: none" in xo.get("/play/play.css").text
    assert xo.get("/play/index.html").status_code == 404


# ---- what the network computes: the interpreter's own numbers ----

def test_a_drawing_gives_the_interpreters_feature_maps_and_probabilities_exactly(xo, xo_run):
    thought = xo.post("/play/think", json={"image": X_IMAGE}).json()
    net = open_playable(str(xo_run)).net
    values = layer_values(net.model, net.weights, net.prepare({"image": np.array(X_IMAGE, np.float32)}))
    assert [(m["layer"], m["call"], m["line"]) for m in thought["maps"]] == [
        ("conv@8", "conv 3x3 padding=same weights=[literal 3x3x3]", 8), ("conv@13", "conv 3x3 filters=8 padding=same", 13)]
    for shown in thought["maps"]:
        np.testing.assert_array_equal(np.array(shown["channels"], np.float32), values[shown["layer"]][0])
    assert [o["name"] for o in thought["outputs"]] == ["label"]
    probabilities = np.array(thought["outputs"][0]["values"], np.float32)
    np.testing.assert_array_equal(probabilities, values["softmax@14"][0])
    np.testing.assert_allclose(probabilities, net.run(image=np.array(X_IMAGE))["label"][0], rtol=1e-6, atol=1e-7)
    assert thought["outputs"][0]["classes"] == ["X", "O"] and thought["outputs"][0]["what"] == "probability"
    assert thought["answer"] == answers(net.model, values)  # as specc show titles it
    # the deploy server's own route on the same weights agrees
    served = xo.post("/v2/models/x_or_o/infer", json={"inputs": [
        {"name": "image", "datatype": "FP32", "shape": [1, 1, 12, 12], "data": X_IMAGE}]}).json()
    np.testing.assert_allclose(served["outputs"][0]["data"], probabilities, rtol=1e-5, atol=1e-6)


def test_a_sentence_gives_each_word_its_tag_and_probability_exactly(tagger):
    thought = tagger.post("/play/think", json={"text": f"  {SENTENCE} "}).json()
    net = open_playable(str(SPECS / "slots_elman.nn")).net
    scores = layer_values(net.model, net.weights, net.prepare({"words": SENTENCE}))["softmax@12"][0]  # (T, 4)
    best = scores.argmax(axis=-1)
    assert thought["words"] == SENTENCE.split()
    assert thought["tagged"] == [{"name": "slots", "tags": [["other", "depart", "dest", "time"][k] for k in best],
                                  "values": scores[np.arange(5), best].tolist(), "what": "probability"}]
    assert (thought["outputs"], thought["answer"]) == ([], "")


# ---- refusals ----

@pytest.mark.parametrize("body, status, error", [
    (b"{", 400, "the request is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 "
                "(char 1)"),
    (b"\xff", 400, "the request is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    (b"[" * 100_000, 400, "the request is not valid JSON: its lists are nested too deeply"),
    (b"[]", 400, 'x_or_o is an image model: send a JSON object with the one key image, as {"image": [[0, 1, ...], ...]}'),
    (b'{"text": "X"}', 400, "x_or_o is an image model: send a JSON object with the one key image"),
    (json.dumps({"image": X_IMAGE, "more": 1}).encode(), 400, "send a JSON object with the one key image"),
    (json.dumps({"image": X_IMAGE[:11]}).encode(), 400, "image must be 12 lists of 12 numbers (the model's input is 12x12)"),
    (json.dumps({"image": [row[:11] for row in X_IMAGE]}).encode(), 400, "image must be 12 lists of 12 numbers"),
    (json.dumps({"image": [[[v] for v in row] for row in X_IMAGE]}).encode(), 400, "image must hold numbers only"),
    (json.dumps({"image": [[True] * 12] * 12}).encode(), 400, "image must hold numbers only"),
    (json.dumps({"image": [["1"] * 12] * 12}).encode(), 400, "image must hold numbers only"),
    (json.dumps({"image": [[float("nan")] + [0] * 11] + [[0] * 12] * 11}).encode(), 400,
     "image holds 1 values that are not finite numbers of float32"),
    (json.dumps({"image": [[1e39, -1e39] + [0] * 10] + [[0] * 12] * 11}).encode(), 400,
     "image holds 2 values that are not finite numbers of float32"),
    (json.dumps({"image": [[10 ** 400] + [0] * 11] + [[0] * 12] * 11}).encode(), 400,
     "image holds a number too large for float32"),
    (b" " * (MAX_BODY + 1), 413, f"the request body of {MAX_BODY + 1} bytes is larger than the server's limit of "
                                  f"{MAX_BODY} bytes"),
])
def test_bad_drawings_are_refused_with_an_error(xo, body, status, error):
    answer = xo.post("/play/think", content=body)
    assert answer.status_code == status
    assert error in answer.json()["error"]


@pytest.mark.parametrize("request_, error", [
    ({"text": ["arrive"]}, "text must be a string"),
    ({"text": "a " * (MAX_TEXT // 2) + "b"}, f"text of {MAX_TEXT + 1} characters is longer than the page's limit of "
                                             f"{MAX_TEXT}"),
    ({"text": " \t "}, "text has no words"),
    ({"text": "arrive \ud800"}, "text is not UTF-8 text"),
    ({"image": X_IMAGE}, 'slots_elman is a word model: send a JSON object with the one key text, as '
                         '{"text": "arrive Beijing on November 2nd"}'),
])
def test_bad_sentences_are_refused_with_an_error(tagger, request_, error):
    answer = tagger.post("/play/think", content=json.dumps(request_))
    assert (answer.status_code, answer.json()) == (400, {"error": error})


def test_other_methods_paths_and_hosts_are_refused(xo):
    assert (xo.get("/play/think").status_code, xo.get("/play/think").json()) == (405, {"error": "Method Not Allowed"})
    assert xo.get("/nothing").json() == {"error": "Not Found"}
    assert xo.get("/play/model", headers={"host": "evil.example:8000"}).status_code == 400  # DNS rebinding


@pytest.mark.parametrize("spec, message", [
    ("neuron.nn", "specc play plays image and word models: one image input and a classifier output (drawn on), or "
                  "one input of words with a classifier per word (typed to); neuron has inputs x (vector) and "
                  "outputs h (values)"),
    ("seed_conv.nn", "seed_conv has inputs image (image) and outputs maps (values)"),
    ("atis_intent.nn", "atis_intent has inputs words (tokens) and outputs intent (classes)"),
])
def test_models_it_cannot_play_exit_2_saying_what_it_plays(spec, message, capsys):
    assert main(["play", str(SPECS / spec)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("declared, message", [
    ("3x8x8", "specc play draws one-channel images of up to 64x64; colour's input image is 3x8x8"),
    ("1x65x8", "specc play draws one-channel images of up to 64x64; colour's input image is 1x65x8"),
])
def test_images_it_cannot_draw_exit_2(declared, message, tmp_path, capsys):
    spec = tmp_path / "colour.nn"
    spec.write_text(f"input image: {declared}\noutput label: a | b\nimage -> flatten -> dense -> softmax\n")
    assert main(["play", str(spec)]) == 2
    assert message in capsys.readouterr().err


def test_a_busy_port_and_a_missing_server_exit_2_naming_the_fix(xo_run, capsys, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["play", str(xo_run), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["play", str(xo_run)]) == 2
    err = capsys.readouterr().err
    assert "specc play needs uvicorn, which is not installed" in err and 'python -m pip install -e ".[serve]"' in err


def test_the_command_serves_the_page_on_loopback_until_ctrl_c(xo_run):
    for url in playing(xo_run):
        assert httpx.get(url + "play/model").json()["name"] == "x_or_o"
        assert httpx.post(url + "play/think", json={"image": X_IMAGE}).json()["outputs"][0]["classes"] == ["X", "O"]


def test_an_exported_model_plays_with_its_own_weights_and_inside_a_run_with_the_runs(xo_run, tmp_path):
    # outside a run folder the model's initializers are the weights; inside, the run's best weights
    alone = tmp_path / "x_or_o.onnx"
    alone.write_bytes((xo_run / "x_or_o.onnx").read_bytes())
    from_file, from_run = open_playable(str(alone)), open_playable(str(xo_run / "x_or_o.onnx"))
    assert (from_file.weights, from_run.weights) == (None, xo_run / "checkpoint.npz")
    assert from_file.shown.weights == f"weights of {alone}"
    image = np.array(X_IMAGE, dtype=np.float32)[None, None]
    probabilities = [layer_values(p.net.model, p.net.weights, {"image": image}) for p in (from_file, from_run)]
    last = from_run.net.model.layers[-1].id
    np.testing.assert_allclose(probabilities[0][last], probabilities[1][last], rtol=0, atol=1e-6)
    assert describe(from_file)["kind"] == "image" and describe(from_file)["score"] is None
