"""`specc serve --replicas`: the app of `specc serve` as a Ray Serve deployment of two replicas on
a local Ray cluster (ray.init(num_cpus=2)), checked by test_serve.py's own tritonclient tests
(imported at the end of this file, so that they run here against Ray Serve's proxy), and the
command itself started and stopped with Ctrl-C."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="specc serve --replicas needs the [ray] extra (ray[serve,data])")

from specc.cli import main  # noqa: E402
from specc.errors import SpecError  # noqa: E402
from specc.ray_cluster import Cluster  # noqa: E402
from specc.serve import listen  # noqa: E402
from specc.serve_ray import RayServing, Scale, free_port, model_to_serve  # noqa: E402
from tests.test_serve import LIMIT, ROOT, infer, models  # noqa: E402, F401 (models: a fixture)


def descendants(pid: int) -> set[int]:
    """The processes started by process `pid`, and by those, and so on (Linux: ps)."""
    table = [line.split() for line in subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True,
                                                     check=True).stdout.splitlines()]
    found, parents = set(), {pid}
    while parents:
        parents = {int(child) for child, parent in table if int(parent) in parents} - found
        found |= parents
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"  # a zombie has ended


def test_command_serves_with_replicas_until_ctrl_c(models):
    """First in the file: its own Ray cluster comes and goes before the module's starts. Ctrl-C
    goes to the command's whole process group, as a terminal sends it; every process of Ray's
    (some in groups of their own) has ended once the command has."""
    process = subprocess.Popen([sys.executable, "-m", "specc.cli", "serve", str(models / "xo.onnx"), "--port", "0",
                                "--replicas", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT, start_new_session=True)
    try:
        first = process.stdout.readline()
        url = re.fullmatch(r"serving xo at http://(127\.0\.0\.1:\d+)/v2/models/xo with 2 replicas on Ray "
                           r"\(Ctrl-C stops\)\n", first).group(1)
        images = np.random.default_rng(1).normal(size=(3, 1, 12, 12)).astype(np.float32)
        assert infer(url, "xo", "image", images, "FP32").as_numpy("label").shape == (3, 2)
        started = descendants(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert (process.returncode, out) == (0, "stopped serving xo\n")
    assert "Traceback" not in err, err
    assert len(started) > 5  # Ray's GCS, raylet, workers, the proxy, the replicas, ...
    for _ in range(50):
        if not any(alive(pid) for pid in started):
            break
        time.sleep(0.1)
    assert [pid for pid in started if alive(pid)] == []


@pytest.mark.parametrize("flags, error", [
    (["--replicas", "0"], "error: --replicas 0 must be at least 1"),
    (["--min-replicas", "3", "--max-replicas", "2"],
     "error: the replicas must satisfy --min-replicas <= --replicas <= --max-replicas: received 3 <= 3 <= 2"),
    (["--replicas", "2", "--threads", "0"], "error: --threads 0 must be at least 1"),
])
def test_bad_replica_flags_are_refused_before_ray_starts(models, capsys, flags, error):
    assert main(["serve", str(models / "xo.onnx"), *flags]) == 2
    assert capsys.readouterr().err.splitlines()[0] == error


def test_a_port_in_use_is_named_before_ray_starts(models, capsys):
    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        assert main(["serve", str(models / "xo.onnx"), "--port", str(port), "--replicas", "2"]) == 2
    finally:
        taken.close()
    assert capsys.readouterr().err.splitlines()[0] == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_without_ray_the_extra_is_named(models, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["serve", str(models / "xo.onnx"), "--replicas", "2"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "error: specc serve --replicas needs ray, which is not installed"
    assert 'python -m pip install -e ".[ray]"' in err


def test_replicas_share_the_cluster_and_bounds_scale():
    """Each replica asks for a CPU, or its share when more may run than the cluster has CPUs;
    --min/--max-replicas become Ray Serve's autoscaling bounds; cuda needs a GPU in the cluster."""
    cluster = Cluster(cpus=2.0, gpus=0.0, started=True)
    fixed, scaling = Scale.of(3, None, None), Scale.of(None, 1, 4)
    assert (fixed.describe(), scaling.describe()) == ("3 replicas", "1 replica (scaled between 1 and 4)")
    assert fixed.options(cluster) == {"ray_actor_options": {"num_cpus": 2 / 3}, "num_replicas": 3}
    assert scaling.options(cluster) == {"ray_actor_options": {"num_cpus": 0.5}, "autoscaling_config": {
        "min_replicas": 1, "max_replicas": 4, "initial_replicas": 1}}
    assert (Scale.of(1, None, None).threads_in_each(cluster), fixed.threads_in_each(cluster)) == (2, 1)
    with pytest.raises(SpecError) as refused:
        Scale.of(2, None, None, device="cuda").options(cluster)
    assert refused.value.message == "--device cuda: the Ray cluster has no GPU"


# ---- the module's Ray cluster, serving one model at a time ----

class Deployments:
    """Ray Serve on the module's cluster: deploys a model of `models` (2 replicas) when a test asks
    for another than the one served."""

    def __init__(self, serving: RayServing, folder, url: str):
        self.serving, self.folder, self.url, self.current = serving, folder, url, None

    def serve(self, name: str):
        if self.current != name:
            model_name, model = model_to_serve(self.folder / f"{name}.onnx", True)
            self.serving.run(model_name, model, Scale.of(2, None, None), app_options={"max_body": LIMIT})
            self.current = name
        return self.url, self.folder / f"{name}.onnx"


@pytest.fixture(scope="module")
def deployments(models):
    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port("127.0.0.1", 0)
    try:
        with RayServing("127.0.0.1", port) as serving:
            yield Deployments(serving, models, f"127.0.0.1:{port}")
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture
def xo(deployments):
    return deployments.serve("xo")


@pytest.fixture
def slots(deployments):
    return deployments.serve("slots")


def test_two_replicas_run(xo):
    from ray import serve

    states = serve.status().applications[RayServing.APP].deployments["xo"].replica_states
    assert states == {"RUNNING": 2}


# test_serve.py's protocol tests, run here with the fixtures above (xo first, then the word model)
from tests.test_serve import (  # noqa: E402, F401
    test_bad_requests_are_refused, test_classifier_answers_equal_onnxruntime, test_health_and_metadata_of_a_classifier,
    test_malformed_bodies_are_refused, test_oversized_body_without_length_is_refused_while_read,
    test_unknown_path_is_a_protocol_error, test_word_model_takes_and_gives_words)
