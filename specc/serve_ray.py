"""`specc serve --replicas K`: the Open Inference Protocol app of specc.serve run by Ray Serve, as
a deployment of K replicas (or of --min-replicas to --max-replicas, scaled by Ray Serve with the
load) behind Ray Serve's HTTP proxy. Every replica builds the same Starlette app (make_app) around
its own onnxruntime session, so its answers are those of `specc serve`. The model's ONNX bytes
travel from this process to the replicas: no replica reads the model file or compiles the spec.

Without RAY_ADDRESS a local Ray cluster is started on this machine and shut down on Ctrl-C; with
it, the cluster it names is joined and only the application is deleted on Ctrl-C.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from .errors import SpecError
from .ray_cluster import Cluster, RayFailure, ray_cluster, reason


@dataclass(frozen=True)
class Scale:
    """How many replicas: `replicas` at the start, kept between `least` and `most` (equal to
    `replicas` both when the deployment does not scale); `threads`: onnxruntime's threads in
    each (None: its share of the CPUs); `device`: where each runs the model (cpu, cuda)."""

    replicas: int
    least: int
    most: int
    threads: int | None = None
    device: str = "cpu"

    @classmethod
    def of(cls, replicas: int | None, least: int | None, most: int | None, threads: int | None = None,
           device: str = "cpu") -> Scale:
        """The scale the flags ask for (--replicas, --min-replicas, --max-replicas, --threads, --device), checked."""
        for flag, value in (("--replicas", replicas), ("--max-replicas", most), ("--threads", threads)):
            if value is not None and value < 1:
                raise SpecError(f"{flag} {value} must be at least 1", hint="give a whole number, e.g. 2")
        if least is not None and least < 0:
            raise SpecError(f"--min-replicas {least} must be at least 0", hint="give a number of replicas, e.g. 1")
        start = replicas if replicas is not None else least or 1
        low, high = (least if least is not None else start), (most if most is not None else start)
        if not low <= start <= high:
            raise SpecError(f"the replicas must satisfy --min-replicas <= --replicas <= --max-replicas: "
                            f"received {low} <= {start} <= {high}", hint="widen the bounds or change --replicas")
        return cls(start, low, high, threads, device)

    @property
    def scales(self) -> bool:
        return self.least != self.most

    def options(self, cluster: Cluster) -> dict:
        """Ray Serve deployment options on `cluster`: each replica's share of it when the most run."""
        placed = {"ray_actor_options": cluster.share(self.most, self.device)}
        if not self.scales:
            return {**placed, "num_replicas": self.replicas}
        return {**placed, "autoscaling_config": {"min_replicas": self.least, "max_replicas": self.most,
                                                 "initial_replicas": self.replicas}}

    def threads_in_each(self, cluster: Cluster) -> int:
        """onnxruntime's threads in each replica: --threads, or by default the replica's whole share
        of the cluster's CPUs when the most run, so that replicas do not fight over cores."""
        return self.threads or max(1, int(cluster.cpus / self.most))

    def describe(self) -> str:
        count = f"{self.replicas} replica{'s' * (self.replicas != 1)}"
        return f"{count} (scaled between {self.least} and {self.most})" if self.scales else count


def model_to_serve(path: str | Path, onnx: bool, weights=None, data=None, seed=None, device: str = "cpu"
                   ) -> tuple[str, bytes]:
    """The served model's name and ONNX bytes: an exported model, checked as specc serve checks it
    (on `device` too), or a .nn spec compiled here once (with the weights of checkpoint `weights`)."""
    from specc.runtime.onnx_runner import providers_for

    from .api import load
    from .serve import load_served

    providers_for(device)  # SpecError here, naming what to install, rather than in every replica
    if onnx:
        return load_served(path, True, weights, device=device).name, Path(path).read_bytes()
    net = load(path, seed=seed, data=data, weights=weights)
    return net.name, net.to_onnx().SerializeToString()


class OpenInference:
    """One replica: the model in its own onnxruntime session, served by specc.serve's app. Ray
    Serve calls __serve_build_asgi_app__ once the replica is made, and sends it every request."""

    def __init__(self, name: str, model: bytes, threads: int, device: str, app_options: dict):
        from specc.runtime.onnx_runner import OnnxModel, providers_for

        from .serve import ServedModel

        # no spin-waiting, as in specc serve: the replica's event loop needs the cores between calls
        self.served = ServedModel(name, OnnxModel(model, providers_for(device), threads, spin=False))
        self.app_options = app_options

    def __serve_build_asgi_app__(self):
        from .serve import make_app

        return make_app(self.served, **self.app_options)


def application(name: str, model: bytes, scale: Scale, cluster: Cluster, app_options: dict | None = None):
    """The Ray Serve application on `cluster`: a deployment named `name` whose replicas are
    OpenInference (`model`: ONNX bytes; `app_options`: make_app's keyword arguments)."""
    from ray import serve

    from .batching import DEFAULT_MAX_BATCH

    app_options = app_options or {}
    # Ray Serve lets 5 requests at a time into a replica by default: too few to fill its batches
    ongoing = 2 * max(app_options.get("max_batch", DEFAULT_MAX_BATCH), 1)
    deployment = serve.deployment(serve.ingress()(OpenInference), name=name, max_ongoing_requests=ongoing)
    return deployment.options(**scale.options(cluster)).bind(name, model, scale.threads_in_each(cluster), scale.device,
                                                             app_options)


class RayServing:
    """Ray Serve running one application on the port `port` of `host`, on the Ray cluster of
    ray_cluster(). A context manager: on leaving it (Ctrl-C too) the application is
    deleted, or Ray shut down if it was started here."""

    APP = "specc"  # the Ray Serve application's name; the model is served at the route "/"

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.stack = ExitStack()

    def __enter__(self) -> RayServing:
        import logging

        from ray import serve

        with ExitStack() as stack:  # a Ctrl-C while Ray starts still shuts it down
            self.cluster = stack.enter_context(ray_cluster())
            logging.getLogger("ray.serve").setLevel(logging.WARNING)  # no INFO lines about proxies and replicas
            try:
                serve.start(http_options={"host": self.host, "port": self.port},
                            logging_config={"log_level": "WARNING"})
            except Exception as error:  # Ray Serve's own errors: its controller or proxy could not start
                raise RayFailure(f"Ray Serve could not start: {reason(error)}") from None
            self.stack = stack.pop_all()
        return self

    def run(self, name: str, model: bytes, scale: Scale, app_options: dict | None = None) -> None:
        """Serve the model (ONNX bytes) under `name`, replacing what was served; return once every
        replica is ready. `app_options`: make_app's keyword arguments."""
        from ray import serve

        try:
            serve.run(application(name, model, scale, self.cluster, app_options), name=self.APP, route_prefix="/")
        except Exception as error:  # Ray Serve's own errors: a replica or the proxy could not start
            raise RayFailure(f"Ray Serve could not start {name}: {reason(error)}") from None

    def __exit__(self, *exc) -> None:
        import ray
        from ray import serve

        if not self.cluster.started and ray.is_initialized():
            serve.delete(self.APP)  # on a cluster started here, ray.shutdown ends Serve too
        self.stack.close()


def free_port(host: str, port: int) -> int:
    """`port` if it can be listened on (0: a free port chosen now), or SpecError as specc serve says it:
    Ray Serve's proxy would only log that it cannot listen."""
    from .serve import listen

    sock = listen(host, port)
    chosen = sock.getsockname()[1]
    sock.close()
    return chosen
