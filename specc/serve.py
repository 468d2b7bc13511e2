"""`specc serve`: one model over HTTP with the Open Inference Protocol (KServe v2, the protocol
Triton, KServe and Seldon/MLServer speak), so that any client of that protocol works unchanged.

    GET  /v2/health/live, /v2/health/ready, /v2/models/NAME/ready   200 once the model is loaded
    GET  /v2/models/NAME                 inputs and outputs: name, datatype (FP32, BYTES), shape (-1: dynamic)
    POST /v2/models/NAME/infer           tensors as JSON, or with the binary tensor extension
    GET  /v2/models/NAME/stats           the statistics extension: requests, onnxruntime calls by batch size

Every refused request is answered with the protocol's error object {"error": "..."} and a 4xx
status; the server keeps serving. Concurrent requests are joined into one onnxruntime call
(specc.batching), and an answer is still exactly what a direct onnxruntime call on the request's
tensors alone gives.
"""
from __future__ import annotations

import json
import struct
import time
from math import prod
from pathlib import Path

import numpy as np

from .batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_DELAY_MS
from .errors import SpecError
from .portable import PADDING_ID, word_inputs

DEFAULT_MAX_BODY = 16 << 20  # bytes of one request body; a larger one is refused before it is read whole
INLINE_BODY = 64 << 10  # bytes of a body read in the event loop; a larger one is read in a worker thread
EXTRA_HINT = 'install the server with: python -m pip install -e ".[serve]" (starlette and uvicorn)'
# onnxruntime's element types as the protocol names them, and their little-endian binary layout
DATATYPES = {"tensor(float)": "FP32", "tensor(string)": "BYTES", "tensor(int64)": "INT64", "tensor(bool)": "BOOL"}
BINARY = {"FP32": "<f4", "INT64": "<i8", "BOOL": "?"}
INPUT_TYPES = ("FP32", "INT64", "BYTES")  # what the runner feeds (numbers as float32, ids as int64, words)
HEADER_LENGTH = "Inference-Header-Content-Length"
VERSION = "1"  # the one version of the served model  # the binary tensor extension: JSON, then raw tensors


class BadRequest(Exception):
    """A request the server refuses: answered with {"error": message} and `status`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def require_server(command: str = "specc serve") -> None:
    """Raise SpecError naming the extra to install if starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise SpecError(f"{command} needs {error.name}, which is not installed", hint=EXTRA_HINT) from None


# ---- the model and its tensors ----

def _declared(node) -> dict:
    """One input or output of the ONNX session as the protocol declares it; a symbolic dim is -1."""
    return {"name": node.name, "datatype": DATATYPES.get(node.type, node.type),
            "shape": [d if isinstance(d, int) else -1 for d in node.shape]}


class ServedModel:
    """An ONNX model in specc's onnxruntime runner (specc.runtime.onnx_runner.OnnxModel), under `name`."""

    def __init__(self, name: str, runner):
        self.name = name
        self.runner = runner
        self.inputs = {n.name: _declared(n) for n in runner.session.get_inputs()}
        self.outputs = {n.name: _declared(n) for n in runner.session.get_outputs()}
        self._check_servable()
        # a portable model's word (or trigram) ids: -1 (padding) up to the unknown id; any other
        # id would make Gather fail or, negative, silently read another word's row
        self.id_limits = {name: ids.unknown_id for name, ids in word_inputs(runner.metadata).items()}

    def _check_servable(self) -> None:
        """SpecError unless requests can feed this model: at least one input, each with a batch
        axis and a type the runner feeds, and outputs of types the protocol's answers carry."""
        def refuse(what: str):
            raise SpecError(f"cannot serve model {self.name}: {what}",
                            hint="serve a model exported by specc compile (or its .nn spec)")

        if not self.inputs:
            refuse("it has no inputs, so a request has nothing to give it")
        for put, allowed in ((self.inputs, INPUT_TYPES), (self.outputs, tuple(DATATYPES.values()))):
            for name, declared in put.items():
                kind = "input" if put is self.inputs else "output"
                if declared["datatype"] not in allowed:
                    refuse(f"{kind} {name} is {declared['datatype']}; it can be {', '.join(allowed)}")
                if kind == "input" and not declared["shape"]:
                    refuse(f"input {name} is a single value: requests need a batch axis, shape (N, ...)")

    def metadata(self) -> dict:
        """The model metadata response: name, versions, platform, inputs and outputs."""
        return {"name": self.name, "versions": [VERSION], "platform": "onnxruntime_onnx",
                "inputs": list(self.inputs.values()), "outputs": list(self.outputs.values())}

    def read(self, request: dict, blobs: bytes) -> tuple[dict, dict[str, bool]]:
        """One inference request (its JSON object and the binary data after it), checked: the
        inputs to feed and the outputs asked for (each with whether it goes as binary data).
        Raises BadRequest."""
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            raise BadRequest('the request must be a JSON object with a list "inputs"')
        feeds, offset = {}, 0
        for tensor in request["inputs"]:
            name, array, offset = self._input(tensor, blobs, offset)
            if name in feeds:
                raise BadRequest(f"input {name} is given twice")
            feeds[name] = array
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise BadRequest(f"missing input {', '.join(missing)} of model {self.name}")
        if offset != len(blobs):
            raise BadRequest(f"the request holds {len(blobs) - offset} bytes after its tensors")
        return feeds, self._requested(request)

    def _input(self, tensor, blobs: bytes, offset: int) -> tuple[str, np.ndarray, int]:
        """One request input checked against the model's declaration, as the array to feed;
        `offset` is where its binary data starts in `blobs` (returned past it)."""
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest('each input must be a JSON object with a "name"')
        name = tensor["name"]
        if name not in self.inputs:
            raise BadRequest(f"model {self.name} has no input {name}: its inputs are {', '.join(self.inputs)}")
        declared = self.inputs[name]
        if tensor.get("datatype") != declared["datatype"]:
            raise BadRequest(f"input {name} must be {declared['datatype']}, not {tensor.get('datatype')}")
        shape = tensor.get("shape")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
                and len(shape) == len(declared["shape"])
                and all(d == want for d, want in zip(shape, declared["shape"]) if want != -1)):
            raise BadRequest(f"input {name} has shape {shape}, which does not fit {declared['shape']} (-1: any size)")
        size = _parameters(tensor, f"input {name}").get("binary_data_size")
        if size is not None:
            if type(size) is not int or not 0 <= size <= len(blobs) - offset:
                raise BadRequest(f"input {name}: binary_data_size {size} does not fit the {len(blobs) - offset} "
                                 "bytes left in the request")
            flat = _from_binary(name, declared["datatype"], blobs[offset:offset + size])
            offset += size
        else:
            flat = _from_json(name, declared["datatype"], tensor.get("data"))
        if flat.size != prod(shape):
            raise BadRequest(f"input {name} holds {flat.size} values, but its shape {shape} needs {prod(shape)}")
        array = flat.reshape(shape)
        _check_values(name, array)
        if name in self.id_limits and not ((array >= PADDING_ID) & (array <= self.id_limits[name])).all():
            raise BadRequest(f"input {name} holds ids outside {PADDING_ID}..{self.id_limits[name]} "
                             f"({PADDING_ID}: padding, {self.id_limits[name]}: an unknown word)")
        return name, array, offset

    def _requested(self, request: dict) -> dict[str, bool]:
        """The outputs asked for (all when none are named), each with whether it goes as binary data."""
        binary = _flag(_parameters(request, "the request"), "binary_data_output")
        asked = request.get("outputs")
        if asked is None:
            return {name: binary for name in self.outputs}
        if not isinstance(asked, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked):
            raise BadRequest('"outputs" must be a list of objects with a "name"')
        names = [o["name"] for o in asked]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # one answer per name: a second request of it would silently go unanswered
            raise BadRequest(f"output {', '.join(twice)} is asked for twice")
        unknown = [n for n in names if n not in self.outputs]
        if unknown:
            raise BadRequest(f"model {self.name} has no output {', '.join(unknown)}: its outputs are "
                             f"{', '.join(self.outputs)}")
        return {o["name"]: _flag(_parameters(o, f"output {o['name']}"), "binary_data", binary) for o in asked}

    def respond(self, request: dict, values: dict, wanted: dict[str, bool]) -> tuple[dict, bytes]:
        """The inference response to `request`: the outputs in `wanted` (from read) as JSON data, or
        as binary data that follows the JSON object."""
        outputs, blobs = [], []
        for name, binary in wanted.items():
            value = values[name]
            entry = {"name": name, "datatype": self.outputs[name]["datatype"], "shape": list(value.shape)}
            if binary:
                blob = _to_binary(entry["datatype"], value)
                entry["parameters"] = {"binary_data_size": len(blob)}
                blobs.append(blob)
            else:
                if value.dtype.kind == "f" and not np.isfinite(value).all():  # JSON has no NaN or Infinity
                    raise BadRequest(f"output {name} holds {int(np.count_nonzero(~np.isfinite(value)))} values that "
                                     "are not finite numbers, which JSON cannot carry: ask for it as binary data")
                entry["data"] = value.reshape(-1).tolist()
            outputs.append(entry)
        response = {"model_name": self.name, "model_version": VERSION, "outputs": outputs}
        if "id" in request:
            response["id"] = request["id"]
        return response, b"".join(blobs)


def _parameters(owner: dict, what: str) -> dict:
    """The "parameters" object of a request, input or output ({} if absent); BadRequest if it is
    not an object (a list or a string would have its settings silently ignored)."""
    parameters = owner.get("parameters")
    if parameters is None:  # absent, or null as some clients send it
        return {}
    if not isinstance(parameters, dict):
        raise BadRequest(f'"parameters" of {what} must be a JSON object')
    return parameters


def _flag(parameters: dict, key: str, default: bool = False) -> bool:
    """A boolean request parameter (absent: `default`)."""
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"parameter {key} must be true or false")
    return value


def _from_json(name: str, datatype: str, data) -> np.ndarray:
    """The flat array of an input's JSON "data" (flat or nested lists, row-major)."""
    if not isinstance(data, list):
        raise BadRequest(f'input {name} needs "data" (a list) or binary data')
    try:  # nested lists of unequal lengths cannot be read row-major
        flat = np.asarray(data, dtype=object).reshape(-1)
        if any(isinstance(v, list) for v in flat):
            raise ValueError("ragged")
    except ValueError:
        raise BadRequest(f'input {name}: its "data" lists are of unequal lengths') from None
    if datatype == "BYTES":
        if not all(isinstance(w, str) for w in flat):
            raise BadRequest(f"input {name} is BYTES: its data must be strings (words)")
        for k, word in enumerate(flat.tolist()):
            if not word.isascii():  # a JSON string may hold a lone surrogate ("\\ud800"): no UTF-8 for it
                try:
                    word.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadRequest(f"input {name}: word {k + 1} is not UTF-8 text") from None
        return flat
    if not all(type(v) in (int, float) for v in flat):  # bool is an int in Python, not a number here
        raise BadRequest(f"input {name} is {datatype}: its data must be numbers")
    if datatype == "INT64" and not all(type(v) is int for v in flat):  # 1.5 would become 1
        raise BadRequest(f"input {name} is INT64: its data must be whole numbers")
    try:
        return flat.astype(BINARY[datatype])
    except OverflowError:  # a whole number too large for any float; a large float becomes inf, refused later
        raise BadRequest(f"input {name} holds a number too large for {datatype}") from None


def _from_binary(name: str, datatype: str, blob: bytes) -> np.ndarray:
    """The flat array of an input's binary data: raw little-endian values, or for BYTES each
    element as a 4-byte little-endian length and that many bytes of UTF-8."""
    if datatype != "BYTES":
        width = np.dtype(BINARY[datatype]).itemsize
        if len(blob) % width:
            raise BadRequest(f"input {name}: {len(blob)} bytes of binary data is not a whole number of {datatype}")
        return np.frombuffer(blob, BINARY[datatype])
    words, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob) or at + 4 + struct.unpack_from("<I", blob, at)[0] > len(blob):
            raise BadRequest(f"input {name}: its binary BYTES data is cut off")
        length = struct.unpack_from("<I", blob, at)[0]
        try:
            words.append(blob[at + 4:at + 4 + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"input {name}: word {len(words) + 1} is not UTF-8 text") from None
        at += 4 + length
    return np.array(words, dtype=object)


def _check_values(name: str, array: np.ndarray) -> None:
    """Refuse what the model cannot take: NaN or infinities in numbers, misplaced padding in words."""
    if array.size == 0:
        raise BadRequest(f"input {name} holds no values: its shape is {list(array.shape)}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise BadRequest(f"input {name} holds {int(np.count_nonzero(~np.isfinite(array)))} values that are not "
                         "finite numbers")
    if array.dtype == object and array.ndim == 2 and array.size:
        from .feed import as_sentences

        try:
            as_sentences(name, array)
        except SpecError as error:
            raise BadRequest(error.message) from None


def _to_binary(datatype: str, value: np.ndarray) -> bytes:
    """An output's binary data (the layout _from_binary reads)."""
    if datatype != "BYTES":
        return np.ascontiguousarray(value, BINARY[datatype]).tobytes()
    words = [str(w).encode("utf-8") for w in value.reshape(-1)]
    return b"".join(struct.pack("<I", len(w)) + w for w in words)


def load_served(path: str | Path, onnx: bool, weights=None, data=None, seed=None, threads: int | None = None,
                device: str = "cpu") -> ServedModel:
    """The model to serve: an exported model if `onnx` (named by its file name), else a .nn spec
    compiled on the fly (named by its `model` line) with the weights of checkpoint `weights`.
    `threads`: onnxruntime's intra-op threads (None: one per core); `device`: cpu or cuda."""
    from specc.runtime.onnx_runner import OnnxModel, providers_for

    from .api import load, load_onnx

    if threads is not None and threads < 1:
        raise SpecError(f"--threads {threads} must be at least 1", hint="give a number of threads, e.g. 2")
    # no spin-waiting between calls: the event loop needs the cores between them (x_or_o at 2 threads,
    # 16 clients: the server's CPU time per request went from 575-650 us to 290-305 us)
    if onnx:
        if weights is not None:
            raise SpecError(f"{path} is an exported model: it holds its weights already", hint="drop --weights")
        return ServedModel(Path(path).stem, load_onnx(path, providers_for(device), threads, spin=False).session)
    net = load(path, seed=seed, data=data, weights=weights)
    return ServedModel(net.name, OnnxModel(net.to_onnx().SerializeToString(), providers_for(device), threads,
                                           spin=False))


# ---- the HTTP app ----

def _byte_count(request, header: str) -> int | None:
    """A header that counts bytes, as a number (None: absent); BadRequest unless it is ASCII
    digits ("\xb2", read as "²", is a digit to str.isdigit but not to int)."""
    value = request.headers.get(header)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise BadRequest(f"{header} {value} is not a number of bytes")
    return int(value)


async def read_body(request, limit: int) -> bytes:
    """The request body, refused (413) past `limit` bytes: by its Content-Length before reading, and
    while reading a body sent without one."""
    declared = _byte_count(request, "Content-Length")
    if declared is not None and declared > limit:
        raise BadRequest(f"the request body of {declared} bytes is larger than the server's limit of {limit} bytes",
                         413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"the request body is larger than the server's limit of {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _split(request, body: bytes) -> tuple[dict, bytes]:
    """The JSON object of an inference request and the binary tensor data after it."""
    header = _byte_count(request, HEADER_LENGTH)
    if header is not None and header > len(body):
        raise BadRequest(f"{HEADER_LENGTH} {header} does not fit the body of {len(body)} bytes")
    cut = len(body) if header is None else header
    try:
        return json.loads(body[:cut]), body[cut:]
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise BadRequest(f"the request is not valid JSON: {error}") from None
    except RecursionError:  # json's decoder recurses once per level of [ or {
        raise BadRequest("the request is not valid JSON: its lists and objects are nested too deeply") from None


async def _work(large: bool, function, *args):
    """function(*args): for a large request in a worker thread, so that the event loop answers
    other requests meanwhile; for a small one here, which costs less than the thread's hop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args) if large else function(*args)


def make_app(served: ServedModel, max_body: int = DEFAULT_MAX_BODY, max_batch: int = DEFAULT_MAX_BATCH,
             max_delay_ms: float = DEFAULT_MAX_DELAY_MS):
    """The Starlette app serving `served` with the Open Inference Protocol. Requests arriving within
    `max_delay_ms` of each other are joined into onnxruntime calls of up to `max_batch` rows
    (specc.batching; 1: each runs alone); app.state.batcher says whether they are, and counts."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from specc.runtime.onnx_runner import OnnxRunError

    from .batching import Batcher

    batcher = Batcher(served.runner, max_batch, max_delay_ms)

    def model_of(request) -> ServedModel:
        name, version = request.path_params["name"], request.path_params.get("version", VERSION)
        if name != served.name:
            raise BadRequest(f"unknown model {name}: this server serves {served.name}", 404)
        if version != VERSION:
            raise BadRequest(f"model {name} has no version {version}: its one version is {VERSION}", 404)
        return served

    async def live(request):
        return JSONResponse({"live": True})

    async def ready(request):
        return JSONResponse({"ready": True})

    async def model_ready(request):
        model_of(request)
        return JSONResponse({"name": served.name, "ready": True})

    async def metadata(request):
        return JSONResponse(model_of(request).metadata())

    async def statistics(request):
        return JSONResponse(batcher.stats.report(model_of(request).name))

    async def infer(request):
        model, started = model_of(request), time.perf_counter_ns()
        try:
            answer, binary = await answer_of(request, model)
        except OnnxRunError as error:  # a runtime failure, not the request's fault
            batcher.stats.count("fail", time.perf_counter_ns() - started)
            return JSONResponse({"error": str(error)}, status_code=500)
        except Exception:
            batcher.stats.count("fail", time.perf_counter_ns() - started)
            raise
        batcher.stats.count("success", time.perf_counter_ns() - started)
        text = json.dumps(answer).encode("utf-8")
        headers = {HEADER_LENGTH: str(len(text))} if binary else {}
        return Response(text + binary, media_type="application/json" if not binary else "application/octet-stream",
                        headers=headers)

    async def answer_of(request, model: ServedModel) -> tuple[dict, bytes]:
        """The response object to an inference request and the binary data after it."""
        body = await read_body(request, max_body)
        large = len(body) > INLINE_BODY
        parsed, blobs = await _work(large, _split, request, body)
        feeds, wanted = await _work(large, model.read, parsed, blobs)
        try:
            values = await batcher.run(feeds)
        except SpecError as error:
            raise BadRequest(error.message) from None
        return await _work(large, model.respond, parsed, values, wanted)

    async def refused(request, error: BadRequest):
        return JSONResponse({"error": str(error)}, status_code=error.status)

    async def http_error(request, error: HTTPException):  # unknown paths and methods, as protocol errors
        return JSONResponse({"error": error.detail}, status_code=error.status_code)

    model_routes = [("", metadata, None), ("/ready", model_ready, None), ("/stats", statistics, None),
                    ("/infer", infer, ["POST"])]
    routes = [Route("/v2/health/live", live), Route("/v2/health/ready", ready)] + [
        Route(f"/v2/models/{{name}}{versioned}{tail}", endpoint, methods=methods)
        for versioned in ("", "/versions/{version}") for tail, endpoint, methods in model_routes]
    app = Starlette(routes=routes, exception_handlers={BadRequest: refused, HTTPException: http_error})
    app.state.batcher = batcher
    return app


def listen(host: str, port: int):
    """A listening socket on host:port (port 0: a free one), or SpecError saying why it cannot be."""
    import errno
    import socket

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it a
        # response's headers and body meet the client's delayed ACK (40 ms a request)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # now: a client may connect as soon as the address is printed, before uvicorn runs
    except (OSError, OverflowError) as error:
        # an address that does not resolve (gaierror) or is not this machine's is the host's fault, not the port's
        bad_host = isinstance(error, socket.gaierror) or getattr(error, "errno", None) == errno.EADDRNOTAVAIL
        raise SpecError(f"cannot listen on {host}:{port}: {getattr(error, 'strerror', None) or error}",
                        hint="give --host an address of this machine: 127.0.0.1 (this machine only) or 0.0.0.0 (all)"
                        if bad_host else "choose another --port, or stop the program using it") from None
    return sock


def make_server(app, log_level: str = "warning"):
    """A uvicorn server for `app`; run it with server.run(sockets=[listen(host, port)])."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
