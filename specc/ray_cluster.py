"""The Ray cluster that `specc serve --replicas` and `specc predict --engine ray` run on: a local
one started here (all of this machine's CPUs), or the one RAY_ADDRESS names, or
the one this process is already connected to (tests start theirs with ray.init(num_cpus=2))."""
from __future__ import annotations

import os
import re
import socket
from contextlib import contextmanager
from typing import NamedTuple

from .errors import SpecError

RAY_HINT = 'install Ray with: python -m pip install -e ".[ray]" (ray[serve,data])'
CONNECT_TIMEOUT_S = 5  # seconds to wait for RAY_ADDRESS's host to answer, before Ray's own minute of retries
JOIN_HINT = "start it (ray start --head) or unset RAY_ADDRESS to start one here"


def require_ray(command: str, *parts: str) -> None:
    """SpecError naming the [ray] extra unless Ray, with the parts `command` uses ('serve',
    'data'), can be imported."""
    import importlib

    for module in ("ray", *(f"ray.{part}" for part in parts)):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise SpecError(f"{command} needs {error.name or module}, which is not installed", hint=RAY_HINT) from None


class RayFailure(RuntimeError):
    """Ray failed at its part of the work (Serve could not start, a Data worker died): a runtime
    failure, not a mistake in the command."""


def reason(error: Exception) -> str:
    """What went wrong, from an error of Ray's: its text holds the remote traceback, and HAProxy's
    log where HAProxy failed; the first [ALERT] line, or else the last line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    alerts = [line for line in lines if "[ALERT]" in line]
    return (alerts or lines[-1:] or ["no reason given"])[0]


class Cluster(NamedTuple):
    """The Ray cluster connected to: its CPUs and GPUs, and whether it was started here."""

    cpus: float
    gpus: float
    started: bool

    def share(self, count: int, device: str = "cpu") -> dict:
        """The resources each of `count` workers asks Ray for: a CPU, or an equal share of the
        cluster's CPUs when it has fewer, so that all of them can be placed; with --device cuda
        a share of its GPUs too (Ray hides the GPUs from a worker that asks for none)."""
        share = {"num_cpus": min(1.0, self.cpus / count)}
        if device == "cuda":
            if not self.gpus:
                raise SpecError("--device cuda: the Ray cluster has no GPU", hint="drop --device cuda, or join a "
                                "cluster with GPUs (RAY_ADDRESS)")
            share["num_gpus"] = min(1.0, self.gpus / count)
        return share


@contextmanager
def ray_cluster():
    """Connect to Ray for the duration of the `with`; yields a Cluster. A local cluster started
    here is shut down on leaving (Ctrl-C too): ray.shutdown ends every process of it."""
    import logging

    import ray

    started = False
    try:
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")  # ray.init joins the cluster it names
            started = not address
            silent = address and _unanswered(address)
            if silent:
                raise SpecError(f"cannot join the Ray cluster at RAY_ADDRESS={address}: nothing answers there "
                                f"({silent})", hint=JOIN_HINT)
            try:
                ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, ValueError) as error:  # ValueError: an address Ray cannot parse
                raise SpecError(f"cannot join the Ray cluster at RAY_ADDRESS={address}: {error}",
                                hint=JOIN_HINT) from None
        resources = ray.cluster_resources()
        yield Cluster(float(resources.get("CPU", 1.0)), float(resources.get("GPU", 0.0)), started)
    finally:
        if started:
            ray.shutdown()


def _unanswered(address: str) -> str | None:
    """Why nothing answers at a RAY_ADDRESS of the form [ray://]HOST:PORT within CONNECT_TIMEOUT_S
    (Ray itself retries a dead address for over a minute, silently), or None when something
    does, or for the forms Ray resolves itself (auto, local) and those it refuses with a message."""
    found = re.fullmatch(r"(?:ray://)?\[?([^\[\]/]+?)\]?:(\d{1,5})", address.strip())
    if not found:
        return None
    try:
        with socket.create_connection((found[1], int(found[2])), timeout=CONNECT_TIMEOUT_S):
            return None
    except socket.timeout:
        return f"no answer in {CONNECT_TIMEOUT_S} s"
    except (OSError, OverflowError) as error:  # refused, unknown host, a port past 65535
        return getattr(error, "strerror", None) or str(error)
