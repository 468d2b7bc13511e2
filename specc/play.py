"""`specc play`: a local page where a learner draws on a trained image model, or types to a
tagger, and watches what the network computes, from the same NumPy interpreter that `specc
show` draws from (specc.runtime.interpreter.layer_values).

The page lives on the deploy server (specc.serve: its KServe v2 routes stay, for the same
weights), bound to 127.0.0.1 only, with these routes added:

    GET  /                      the page (specc/play_page/index.html), its script and style under /play/
    GET  /play/model            what is played: name, kind (image | tagger), input shape, classes,
                                spec text, parameters, held-out score, the values to draw with
    POST /play/think            {"image": [[...]]} (H lists of W numbers) or {"text": "..."} ->
                                each classifier's values; for an image the feature maps of every
                                conv layer, per channel; for words each word's tag and probability

A refused request is answered {"error": "..."} with a 4xx status, as specc serve answers.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SpecError
from .run_folder import read_heldout
from .serve import BadRequest, read_body
from .show import RUN_WEIGHTS, Shown, classifiers, answers, open_target, read_history

HOST = "127.0.0.1"  # loopback only: the page is a learner's toy, not a service
PAGE = Path(__file__).parent / "play_page"
# the page's files by path: (file in PAGE, media type); a fixed table, so no path reaches the disk
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/play/play.js": ("play.js", "text/javascript; charset=utf-8"),
              "/play/play.css": ("play.css", "text/css; charset=utf-8")}
# nothing from elsewhere: the page runs with what this server sends (issue 12: no internet at run time)
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:", "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-cache"}
MAX_BODY = 256 << 10  # bytes of a /play/think request: a 64x64 image as JSON numbers is under 100 KiB
MAX_SIDE = 64  # pixels of a drawn image's height and width: a canvas, and feature maps a page can redraw per stroke
MAX_TEXT = 1000  # characters of a typed sentence
# the values a drawing holds: the built-in images are 0 where there is no ink and near 1 on a
# stroke (runtime/data/xo.py: ink 0.85..1 on 0; digits.py: 0..16 scaled to 0..1)
BACKGROUND, INK = 0.0, 1.0
# why the played weights are those of their epoch, by run file (RUN_WEIGHTS)
_WHY = {"best.npz": "best on validation, best.npz", "checkpoint.npz": "the last"}


@dataclass(frozen=True)
class Playable:
    """A network the page plays: `shown` (specc.show.Shown: the network, its run folder, where
    its weights came from), `kind` 'image' or 'tagger', `input` its one input (specc.ir.Input),
    and `weights` the checkpoint its weights came from (None: the spec's or the model's own)."""

    shown: Shown
    kind: str
    input: object
    weights: Path | None

    @property
    def net(self):
        return self.shown.net


# ---- what is played ----

def open_playable(target: str, weights: str | None = None, data: str | None = None,
                  onnx: bool | None = None) -> Playable:
    """The network `target` names (a run folder, an exported model, or a spec; `onnx` as
    specc.show.open_target takes it), refused (SpecError) unless the page can play it: one image
    input of one channel up to MAX_SIDE a side with a classifier output, or one input of words
    with a classifier per word."""
    shown = open_target(target, weights, data=data, onnx=onnx)
    if weights is None and shown.run is not None:  # the run's own, as open_target chose them
        weights = next(str(shown.run / name) for name in RUN_WEIGHTS if (shown.run / name).is_file())
    checkpoint = None if weights is None else Path(weights)
    model = shown.net.model
    words = [i for i in model.inputs if i.form == "tokens"]
    images = [i for i in model.inputs if len(i.shape) == 4]
    if len(model.inputs) == 1 and (words or images) and any(classifiers(model, 3 if words else 2)):
        if words:
            return Playable(shown, "tagger", words[0], checkpoint)
        _check_drawable(shown.net.name, images[0])
        return Playable(shown, "image", images[0], checkpoint)
    inputs = ", ".join(f"{i.name} ({i.form})" for i in model.inputs)
    outputs = ", ".join(f"{o.name} ({'classes' if o.classes else 'values'})" for o in model.outputs)
    raise SpecError(f"specc play plays image and word models: one image input and a classifier output (drawn on), "
                    f"or one input of words with a classifier per word (typed to); {model.name} has inputs {inputs} "
                    f"and outputs {outputs}", hint="for other models use specc run, or specc show for pictures")


def _check_drawable(name: str, image) -> None:
    """SpecError unless `image` (an Input of shape (N, C, H, W)) is one channel of at most MAX_SIDE a side."""
    channels, height, width = image.shape[1:]
    if channels != 1 or max(height, width) > MAX_SIDE:
        raise SpecError(f"specc play draws one-channel images of up to {MAX_SIDE}x{MAX_SIDE}; {name}'s input "
                        f"{image.name} is {channels}x{height}x{width}",
                        hint="specc show --input NAME=FILE draws the feature maps of any image")


def describe(playable: Playable) -> dict:
    """GET /play/model: what the page states and needs. `input.shape` leaves out the batch
    axis; `classes` by output; `score` the run's held-out score (see heldout) or null; `range`
    the values of a drawing's background and ink."""
    net = playable.net
    return {"name": net.name, "kind": playable.kind,
            "input": {"name": playable.input.name, "shape": list(playable.input.shape[1:])},
            "classes": {o.name: list(o.classes) for o in net.model.outputs if o.classes},
            "spec": net.model.text, "parameters": net.param_count, "weights": playable.shown.weights,
            "score": heldout(playable.shown.run, playable.weights), "range": {"background": BACKGROUND, "ink": INK}}


def heldout(run: Path | None, weights: Path | None) -> dict | None:
    """The held-out score of the played `weights`: {"split", "count", "epoch", "why", "scores":
    [{"output", "metric", "value"}]} (output null for a one-output spec, value a fraction).
    From the `run` folder's heldout.json where it scored these very weights (the exported
    model's score on the test split, else validation); else from history.json, the validation
    score of their epoch (count null). None without a run folder or a score, or for weights other
    than the run's best.npz or checkpoint.npz (the last epoch's)."""
    if run is None or weights is None or weights.name not in RUN_WEIGHTS \
            or weights.resolve() != (run / weights.name).resolve():
        return None
    why = _WHY[weights.name]
    scored = read_heldout(run, weights)
    if scored is not None:
        outputs = scored["outputs"]
        scores = _scores([(name if len(outputs) > 1 else None, part) for name, part in outputs.items()], "")
        return {"split": scored["split"], "count": scored["count"], "epoch": scored["epoch"], "why": why,
                "scores": scores} if scores else None
    return _validation_score(run, weights, why)


def _validation_score(run: Path, weights: Path, why: str) -> dict | None:
    """heldout's answer from history.json: the validation scores of the played weights' epoch
    (best.npz: the kept one, checkpoint.npz: the last)."""
    from .pictures import kept_epoch

    if not (run / "history.json").is_file():
        return None
    history = read_history(run / "history.json")
    epoch = kept_epoch(history)[0] if weights.name == "best.npz" else history[-1]["epoch"]
    record = next(r for r in history if r["epoch"] == epoch)
    scores = _scores([(None, record)] + list((record.get("outputs") or {}).items()), "val_")
    return {"split": "validation", "count": None, "epoch": epoch, "why": why, "scores": scores} if scores else None


def _scores(parts: list, prefix: str) -> list[dict]:
    """[{"output", "metric", "value"}] of the accuracies and slot F1s in `parts` [(output or
    None, its scores)], read under PREFIX + accuracy and PREFIX + f1."""
    return [{"output": output, "metric": metric, "value": part[prefix + key]} for output, part in parts
            for metric, key in (("accuracy", "accuracy"), ("slot F1", "f1"))
            if isinstance(part.get(prefix + key), (int, float))]


# ---- a request: what the learner drew or typed ----

def read_request(playable: Playable, body: bytes):
    """The drawing (H, W) float32 or the sentence (str) of a /play/think body; BadRequest if it
    is not exactly {"image": H lists of W finite numbers} or {"text": up to MAX_TEXT characters}."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise BadRequest(f"the request is not valid JSON: {error}") from None
    except RecursionError:  # json's decoder recurses once per level of [ or {
        raise BadRequest("the request is not valid JSON: its lists are nested too deeply") from None
    key = "image" if playable.kind == "image" else "text"
    example = '{"image": [[0, 1, ...], ...]}' if key == "image" else '{"text": "arrive Beijing on November 2nd"}'
    if not isinstance(request, dict) or list(request) != [key]:
        raise BadRequest(f"{playable.net.name} is {'an image' if key == 'image' else 'a word'} model: send a JSON "
                         f"object with the one key {key}, as {example}")
    return _image(request["image"], playable.input.shape[2:]) if key == "image" else _text(request["text"])


def _image(rows, size: tuple[int, int]) -> np.ndarray:
    """A drawing as (H, W) float32, checked: `size` (H, W) rows of numbers, all finite."""
    height, width = size
    if not (isinstance(rows, list) and len(rows) == height and all(isinstance(r, list) and len(r) == width
                                                                   for r in rows)):
        raise BadRequest(f"image must be {height} lists of {width} numbers (the model's input is {height}x{width})")
    if not all(type(v) in (int, float) for row in rows for v in row):  # bool is an int in Python, not a number here
        raise BadRequest("image must hold numbers only")
    try:  # a whole number too large for a float; a float beyond float32 becomes inf, refused below
        with np.errstate(over="ignore"):
            image = np.array(rows, dtype=np.float64).astype(np.float32)
    except OverflowError:
        raise BadRequest("image holds a number too large for float32") from None
    if not np.isfinite(image).all():
        raise BadRequest(f"image holds {int(np.count_nonzero(~np.isfinite(image)))} values that are not finite numbers "
                         "of float32")
    return image


def _text(text) -> str:
    """A typed sentence, checked: a string of UTF-8 text, at most MAX_TEXT characters, with a word."""
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"text of {len(text)} characters is longer than the page's limit of {MAX_TEXT}")
    try:  # a JSON string may hold a lone surrogate ("\ud800"), which no UTF-8 text holds
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("text is not UTF-8 text") from None
    if not text.split():
        raise BadRequest("text has no words")
    return text


# ---- what the network computes ----

def think(playable: Playable, given) -> dict:
    """POST /play/think: what the network computes on `given` (a drawing (H, W) or a sentence),
    every number from the interpreter's per-layer values as specc show draws them:
    {"answer": as specc show titles it, "outputs": [{"name", "classes", "values", "what"}] of the
    per-sample classifiers, and "maps": [{"layer", "call", "line", "channels": (C, H', W')}]
    after every conv layer (an image), or "words" and "tagged": [{"name", "tags", "values",
    "what"}] of the per-word classifiers (a sentence)}. BadRequest if a value is not finite."""
    from specc.runtime.interpreter import layer_values

    from .feed import as_sentences

    net, name = playable.net, playable.input.name
    sample = {name: as_sentences(name, given) if playable.kind == "tagger" else given}
    values = layer_values(net.model, net.weights, net.prepare(sample))
    answer = {"answer": answers(net.model, values),
              "outputs": [{"name": output.name, "classes": list(output.classes), "values": values[last.id][0].tolist(),
                           "what": what} for output, last, what in classifiers(net.model, 2)]}
    if playable.kind == "image":
        answer["maps"] = [{"layer": layer.id, "call": layer.call_text, "line": layer.coord.line,
                           "channels": values[layer.id][0].tolist()} for layer in net.model.layers if layer.kind == "conv"]
    else:
        answer["words"] = [str(w) for w in sample[name][0]]
        answer["tagged"] = [_tags(output, values[last.id][0], what) for output, last, what in classifiers(net.model, 3)]
    _check_finite(answer)
    return answer


def _tags(output, scores: np.ndarray, what: str) -> dict:
    """A per-word classifier's answer: each word's best class and its value, from scores (T, classes)."""
    best = scores.argmax(axis=-1)
    return {"name": output.name, "tags": [output.classes[k] for k in best],
            "values": scores[np.arange(len(best)), best].tolist(), "what": what}


def _check_finite(answer) -> None:
    """BadRequest if the answer holds NaN or an infinity, which JSON cannot carry (a drawing far
    outside what the model was trained on can overflow it)."""
    stack = [answer]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadRequest("the network's values on this input are not all finite numbers; draw with values "
                             f"between {BACKGROUND:g} and {INK:g}")


# ---- the server ----

def make_play_app(playable: Playable):
    """specc serve's app for the played weights (its KServe v2 routes), with the page's routes
    added, answering only requests addressed to this machine by name (no DNS rebinding)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import JSONResponse, Response

    from specc.runtime.onnx_runner import OnnxModel

    from .serve import ServedModel, make_app

    net = playable.net
    # no spin-waiting between calls, as load_served says: the event loop needs the cores between them
    app = make_app(ServedModel(net.name, OnnxModel(net.to_onnx().SerializeToString(), spin=False)))
    files = {path: ((PAGE / name).read_bytes(), media) for path, (name, media) in PAGE_FILES.items()}
    model = describe(playable)

    async def page_file(request):
        content, media = files[request.url.path]
        return Response(content, media_type=media, headers=PAGE_HEADERS)

    async def model_facts(request):
        return JSONResponse(model)

    async def think_route(request):
        given = read_request(playable, await read_body(request, MAX_BODY))
        return JSONResponse(await run_in_threadpool(think, playable, given))  # NumPy work off the event loop

    for path in PAGE_FILES:
        app.add_route(path, page_file)
    app.add_route("/play/model", model_facts)
    app.add_route("/play/think", think_route, methods=["POST"])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"])
    return app
