"""`specc serve` joins concurrent requests into one onnxruntime call (dynamic batching), driven
by tritonclient.http: the batches are counted by the protocol's statistics extension
(GET /v2/models/NAME/stats), and every answer is compared bit for bit with a direct onnxruntime
call on that request alone."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason="specc serve needs the [serve] extra (starlette, uvicorn)")
pytest.importorskip("uvicorn", reason="specc serve needs the [serve] extra (starlette, uvicorn)")
httpclient = pytest.importorskip("tritonclient.http", reason="the tests drive the server with tritonclient[http]")
from tritonclient.utils import InferenceServerException  # noqa: E402

from specc.api import load  # noqa: E402
from specc.batching import Batcher  # noqa: E402
from specc.cli import main  # noqa: E402
from specc.runtime.onnx_runner import OnnxModel, OnnxRunError  # noqa: E402
from specc.serve import ServedModel, listen, load_served  # noqa: E402
from tests.test_serve import direct, serving  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WAIT = 1000.0  # ms: long enough for every concurrent request of a test to join the first one
WORDS = ["show", "me", "flights", "from", "Boston", "to", "Denver", "on", "Monday", "arrive", "Beijing", "xyzzy"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Exported models: x_or_o (a CNN classifier), slots_bi (words: window, bidirectional Elman)
    and memory (numbers in sequences, (N, T, 2))."""
    folder = tmp_path_factory.mktemp("models")
    for spec in ("x_or_o", "slots_bi", "memory"):
        assert main(["compile", str(ROOT / "specs" / f"{spec}.nn"), "-o", str(folder / f"{spec}.onnx"), "--quiet"]) == 0
    return folder


def send_together(url: str, model: str, requests: list[dict], datatype: str) -> list:
    """Send every request (name -> array) at once, each from its own client; the result objects,
    or the InferenceServerException a request got."""
    def one(feeds):
        client = httpclient.InferenceServerClient(url)
        inputs = []
        for name, array in feeds.items():
            tensor = httpclient.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        try:
            return client.infer(model, inputs)
        except InferenceServerException as error:
            return error

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, requests))


def batched(served, requests: list[dict], datatype: str, max_batch: int) -> tuple[list, dict]:
    """Serve `served` with batches of up to `max_batch` rows, send every request at once: the
    results (or errors) and the model's statistics afterwards."""
    with serving(served, max_batch=max_batch, max_delay_ms=WAIT) as url:
        results = send_together(url, served.name, requests, datatype)
        return results, statistics(url, served.name)


def assert_as_alone(path: Path, requests: list[dict], results: list, output: str) -> None:
    """Each result's `output` (and its class names if any) is bit for bit that of a direct
    onnxruntime call on its request alone."""
    for request, result in zip(requests, results):
        expected = direct(path, **request)
        assert result.as_numpy(output).shape == expected[output].shape
        assert result.as_numpy(output).tobytes() == expected[output].tobytes()
        if f"{output}_class" in expected:
            assert decoded(result.as_numpy(f"{output}_class")) == expected[f"{output}_class"].tolist()


def statistics(url: str, model: str) -> dict:
    """The model's statistics, read with tritonclient (the protocol's statistics extension)."""
    return httpclient.InferenceServerClient(url).get_inference_statistics(model)["model_stats"][0]


def batch_sizes(stats: dict) -> dict[int, int]:
    """Onnxruntime calls by their number of rows."""
    return {b["batch_size"]: b["compute_infer"]["count"] for b in stats["batch_stats"]}


def decoded(array: np.ndarray) -> list:
    """Words from tritonclient (bytes) as str."""
    return np.vectorize(lambda w: w.decode() if isinstance(w, bytes) else w, otypes=[object])(array).tolist()


def images(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, 1, 12, 12)).astype(np.float32)


# ---- batches, and answers equal to each request alone ----

def test_concurrent_requests_are_joined_and_answered_as_alone(models):
    path = models / "x_or_o.onnx"
    requests = [{"image": images(1 + k % 3, k)} for k in range(12)]  # 24 rows in all
    results, stats = batched(load_served(path, True), requests, "FP32", 24)
    assert_as_alone(path, requests, results, "label")
    assert (stats["execution_count"], stats["inference_count"], batch_sizes(stats)) == (1, 24, {24: 1})
    assert stats["inference_stats"]["success"]["count"] == 12
    assert stats["inference_stats"]["queue"]["count"] == 12


def test_sentences_of_different_lengths_share_a_batch(models):
    path = models / "slots_bi.onnx"
    rng = np.random.default_rng(3)
    requests = []
    for k in range(8):  # 1 to 8 words; the second row of a two-row request shorter, padded with ""
        sentence = np.full((1 + k % 2, 1 + k), "", dtype=object)
        for row in range(len(sentence)):
            sentence[row, :max(1 + k - 3 * row, 1)] = rng.choice(WORDS, max(1 + k - 3 * row, 1))
        requests.append({"words": sentence})
    results, stats = batched(load_served(path, True), requests, "BYTES", 12)
    assert batch_sizes(stats) == {12: 1}
    assert [r.as_numpy("slots").shape for r in results] == [(1 + k % 2, 1 + k, 4) for k in range(8)]
    assert_as_alone(path, requests, results, "slots")


def test_numeric_sequences_join_only_others_of_their_length(models):
    path = models / "memory.onnx"
    requests = [{"x": np.full((1, 3 + k % 2, 2), k, np.float32)} for k in range(6)]  # T 3 and T 4, 3 each
    results, stats = batched(load_served(path, True), requests, "FP32", 3)
    assert (stats["execution_count"], batch_sizes(stats)) == (2, {3: 2})
    assert_as_alone(path, requests, results, "y")


def test_max_batch_1_runs_each_request_alone(models):
    path = models / "x_or_o.onnx"
    requests = [{"image": images(2, k)} for k in range(6)]
    results, stats = batched(load_served(path, True), requests, "FP32", 1)
    assert (stats["execution_count"], batch_sizes(stats)) == (6, {2: 6})
    assert_as_alone(path, requests, results, "label")


# ---- a bad request fails alone ----

def test_a_malformed_request_among_good_ones_fails_alone(models):
    path = models / "x_or_o.onnx"
    good = [{"image": images(1, k)} for k in range(5)]
    bad = {"image": np.full((1, 1, 12, 12), np.inf, np.float32)}
    results, stats = batched(load_served(path, True), good[:2] + [bad] + good[2:], "FP32", 5)
    refused = results.pop(2)
    assert (refused.status(), refused.message()) == ("400", "input image holds 144 values that are not finite numbers")
    assert_as_alone(path, good, results, "label")
    assert batch_sizes(stats) == {5: 1}
    assert stats["inference_stats"]["fail"]["count"] == 1


class Refusing:
    """A runner that fails (as onnxruntime failing) on any batch holding an image of 13s."""

    def __init__(self, runner):
        self.runner, self.session, self.metadata = runner, runner.session, runner.metadata

    def run(self, feeds):
        if (feeds["image"] == 13).all(axis=(1, 2, 3)).any():
            raise OnnxRunError("onnxruntime could not run the model: 13 is unlucky")
        return self.runner.run(feeds)


def test_a_request_onnxruntime_fails_on_fails_alone(models):
    path = models / "x_or_o.onnx"
    good = [{"image": images(1, k)} for k in range(4)]
    unlucky = {"image": np.full((1, 1, 12, 12), 13, np.float32)}
    results, stats = batched(ServedModel("x_or_o", Refusing(OnnxModel(str(path)))), [unlucky] + good, "FP32", 5)
    assert (results[0].status(), results[0].message()) == ("500", "onnxruntime could not run the model: 13 is unlucky")
    assert_as_alone(path, good, results[1:], "label")
    assert batch_sizes(stats) == {5: 1}  # the joined call failed; each then ran alone (not counted as batches)


# ---- the probe: a model whose answers change with the batch runs each request alone ----

class BatchDependent:
    """A runner whose scores move by one unit in the last place when more than one row runs."""

    def __init__(self, runner):
        self.runner, self.session, self.metadata = runner, runner.session, runner.metadata

    def run(self, feeds):
        values = self.runner.run(feeds)
        if len(feeds["image"]) > 1:
            values["label"] = np.nextafter(values["label"], np.float32(2))
        return values


def test_a_batch_dependent_model_runs_each_request_alone(models):
    path = models / "x_or_o.onnx"
    served = ServedModel("x_or_o", BatchDependent(OnnxModel(str(path))))
    requests = [{"image": images(1, k)} for k in range(4)]
    results, stats = batched(served, requests, "FP32", 4)
    assert batch_sizes(stats) == {1: 4}
    assert_as_alone(path, requests, results, "label")
    assert Batcher(served.runner, 4).note == \
        "onnxruntime gives other values of label for a request in a batch of 2 rows than alone"


@pytest.mark.parametrize("spec", ["x_or_o", "digits", "digits_residual", "neuron", "memory", "slots_elman",
                                  "slots_jordan", "slots_bi", "slots_hash"])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_spec_kind_is_batch_invariant(spec, threads):
    """The probe finds every answer in batches of 1 to 64 rows (sentences padded together) equal
    bit for bit to the answer alone, so specc serve joins requests for every kind of spec."""
    runner = OnnxModel(load(ROOT / "specs" / f"{spec}.nn").to_onnx().SerializeToString(), threads=threads)
    assert Batcher(runner, 64).note is None


# ---- the command line ----

@pytest.mark.parametrize("flags, error", [
    (["--max-batch", "0"], "--max-batch 0 must be between 1 and 4096"),
    (["--max-delay-ms", "-1"], "--max-delay-ms -1 must be between 0 and 1000"),
    (["--max-delay-ms", "nan"], "--max-delay-ms nan must be between 0 and 1000"),
    (["--threads", "0"], "--threads 0 must be at least 1"),
])
def test_serve_refuses_bad_batching_flags(models, capsys, flags, error):
    assert main(["serve", str(models / "x_or_o.onnx"), *flags]) == 2
    assert error in capsys.readouterr().err


def test_serve_says_when_each_request_runs_alone(models, capsys, monkeypatch):
    monkeypatch.setattr("specc.batching.batch_variance", lambda *args: "onnxruntime gives other values of label "
                                                                        "for a request in a batch of 2 rows than alone")
    taken = listen("127.0.0.1", 0)  # the note comes before the server listens: a taken port stops it there
    try:
        assert main(["serve", str(models / "x_or_o.onnx"), "--port", str(taken.getsockname()[1])]) == 2
    finally:
        taken.close()
    assert capsys.readouterr().err.startswith("note: each request runs alone: onnxruntime gives other values of "
                                              "label for a request in a batch of 2 rows than alone\n")
