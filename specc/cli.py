"""The `specc` command line: check, compile, run, show, play, train, demo, triton, serve, predict, quantize.

Exit status: 0 on success, 2 on a mistake in the spec, its inputs or the command line,
1 on a runtime failure (an export that does not verify, onnxruntime failing).
"""
from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .display import format_array
from .errors import SpecError

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class RuntimeFailure(Exception):
    """Something went wrong past the spec: reported on stderr, exit status 1."""


def _json_value(value):
    """An output as JSON values; inf and NaN become null (JSON has no such numbers)."""
    import numpy as np

    if value.dtype.kind == "f" and not np.isfinite(value).all():
        value = np.where(np.isfinite(value), value.astype(object), None)
    return value.tolist()


def _print_outputs(outputs: dict, as_json: bool, probabilities=()) -> None:
    """Every output, as JSON or as text; the outputs named in `probabilities` read as such."""
    if as_json:
        print(json.dumps({k: _json_value(v) for k, v in outputs.items()}))
        return
    for name, value in outputs.items():
        if value.dtype.kind in "OUS" and value.ndim == 1:  # class names, one per sample
            print(f"{name}: {' '.join(map(str, value))}")
            continue
        print(f"{name} {tuple(value.shape)}:")
        print(format_array(value, probabilities=name in probabilities))


def _probability_outputs(outputs: dict, model=None) -> set[str]:
    """The outputs that hold probabilities, all in 0..1: those of a spec's chains that end in
    softmax or sigmoid; for an ONNX model, its classifier outputs (NAME beside NAME_class)."""
    import numpy as np

    if model is not None:
        ending = {chain.output.name for chain in model.chains if chain.layers[-1].kind in ("softmax", "sigmoid")}
    else:
        ending = {name for name in outputs if f"{name}_class" in outputs}
    return {name for name in ending if name in outputs and outputs[name].dtype.kind == "f"
            and bool(np.all((outputs[name] >= 0) & (outputs[name] <= 1) | np.isnan(outputs[name])))}


def _export_failure(report) -> str:
    """Why a verified export was refused, and what to do."""
    if not report.finite:
        return ("the network gives inf or NaN on ordinary inputs, so its export cannot be verified; nothing was "
                "written. Hint: its weights have blown up: lower the learning rate (--lr) or clip gradients")
    from .verify import describe

    return f"the exported model disagrees with the NumPy interpreter: {describe(report.max_diff)}; nothing was written"


def _print_warnings(model, args=None) -> None:
    """The spec's warnings (an input or value never used) on stderr, each located like an
    error; the spec still builds and the exit status stays 0. Not with --quiet or --json
    (check prints them always: finding them is its job)."""
    if args is not None and (getattr(args, "quiet", False) or getattr(args, "json", False)):
        return
    for warning in model.warnings:
        print(warning.render("warning"), file=sys.stderr)


def cmd_check(args) -> int:
    # parse, build and summary need no NumPy: this path stays cheap
    from .parse import parse_file
    from .prepare import build_model
    from .summary import spelled_out, summary

    model, _ = build_model(parse_file(args.spec), getattr(args, "data", None))
    _print_warnings(model)
    if args.json:
        print(json.dumps({
            "model": model.name, "params": model.param_count,
            "inputs": [{"name": i.name, "form": i.form, "shape": list(i.shape)} for i in model.inputs],
            "outputs": [o.name for o in model.outputs],
            "chains": [{"source": chain.source, "value": chain.name, "output": chain.output and chain.output.name,
                        "layers": [layer.id for layer in chain.layers], "shape": list(model.value_shape(chain.result)),
                        "mask_source": chain.mask_source} for chain in model.chains],
            "layers": [{"id": layer.id, "kind": layer.kind, "line": layer.coord.line, "arguments": spelled_out(layer),
                        "output_shape": list(layer.out_shape), "params": layer.param_count,
                        "operands": list(layer.operands)} for layer in model.layers],
            "warnings": [f"{w.coord}: {w.message}" for w in model.warnings]}))
    else:
        print(summary(model))
    return EXIT_OK


def cmd_compile(args) -> int:
    from .api import load
    from .atomic import check_not_read

    _check_seed(args.seed)
    if args.output:  # the default, SPEC.onnx here, is not the spec
        check_not_read(args.output, [p for p in (args.spec, args.weights, args.data) if p], "-o")
    net = load(args.spec, seed=args.seed, data=args.data, weights=args.weights)
    _print_warnings(net.model, args)
    report = net.export(args.output, portable=args.portable)
    cases = ", ".join(f"N={n}" + (f" T={t}" if t else "") for n, t in report.cases)
    if args.json:
        print(json.dumps({"path": str(report.path), "max_diff": report.max_diff, "max_abs_diff": report.max_abs_diff,
                          "ok": report.ok, "params": net.param_count}))
    elif not args.quiet:
        from .verify import describe

        print(f"verified: onnxruntime vs NumPy, {describe(report.max_diff)} over {cases}")
    if not report.ok:
        raise RuntimeFailure(_export_failure(report))
    if not args.json and not args.quiet:
        print(f"wrote {report.path} ({net.param_count:,} parameters)")
    return EXIT_OK


def _sentences(args) -> list[str]:
    """The sentences of --text (each) and --file (one a line; - reads standard input)."""
    for text in args.text:
        if not text.split():
            raise SpecError(f"--text {text!r} has no words", hint='give a sentence: --text "arrive Taipei on Monday"')
    sentences = list(args.text)
    if args.file:
        from pathlib import Path

        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        except OSError as error:
            raise SpecError(f"cannot read sentences from {args.file}: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise SpecError(f"cannot read sentences from {args.file}: not UTF-8 text", hint="save it as UTF-8") from None
        sentences += [line for line in text.splitlines() if line.strip()]
    if not sentences:
        raise SpecError("no sentence to tag", hint="give --text \"a sentence\" or a --file with one sentence a line")
    return sentences


def _word_input(names: list[str], word_inputs: set[str], model: str) -> str:
    if len(names) != 1 or names[0] not in word_inputs:
        raise SpecError(f"--text and --file need a model with one input of words; {model} has inputs "
                        f"{', '.join(names)}", hint="give each input with --input NAME=FILE")
    return names[0]


def _print_tagged(words, outputs: dict, as_json: bool) -> None:
    """Each sentence's words with their predicted class names: a column each, or JSON lines."""
    tag_outputs = [name for name, value in outputs.items() if value.dtype.kind in "OUS"]
    for row, sentence in enumerate(words):
        sentence = [w for w in sentence if w != ""]
        tags = {name: [str(t) for t in outputs[name][row][:len(sentence)]] for name in tag_outputs}
        if as_json:
            print(json.dumps({"words": sentence, **tags}))
            continue
        if row:
            print()
        width = max(len(w) for w in sentence) + 2
        for t, word in enumerate(sentence):
            print(word.ljust(width) + "  ".join(tags[name][t] for name in tag_outputs))


def _check_seed(seed: int | None) -> None:
    """--seed, if given, is checked as the train section's seed is: a whole number of at least 0."""
    from .training import check_flag

    if seed is not None:
        check_flag("seed", seed)


def is_onnx_file(path: str) -> bool:
    """Whether `path` names an ONNX model: by its suffix in any case (.onnx, .ONNX), or by its
    first byte: an ONNX protobuf opens with its ir_version field (0x08), which no text spec does."""
    from pathlib import Path

    if Path(path).suffix.lower() == ".onnx":
        return True
    if not Path(path).is_file():  # a FIFO or device would block or never end; parse_file says what it is
        return False
    try:
        with open(path, "rb") as file:
            return file.read(1) == b"\x08"
    except OSError:
        return False


def _untrained_note(net, args) -> str | None:
    """One line for a spec meant to be trained (a train section, or random weights) run
    without --weights: its outputs come from untrained weights."""
    random = any(w.literal is None and w.init not in ("zeros", "ones") for layer in net.model.layers
                 for w in layer.weights)
    if args.weights or args.quiet or args.json or not (random or net.model.train.from_spec):
        return None
    weights = f"random weights (seed {net.seed})" if random else "the spec's starting weights"
    return (f"note: {args.model} runs with untrained {weights}; for trained ones pass --weights "
            f"runs/{net.name}/checkpoint.npz (written by specc train)")


def _run_model(args, given: dict, tagging: bool):
    """Run the spec (NumPy, or onnxruntime with --backend) or the ONNX model named by args.model.
    Returns (the inputs as run, the outputs, the spec's Model or None, a note for stderr or None)."""
    import numpy as np

    from specc.runtime.onnx_runner import providers_for

    from .api import load, load_onnx
    from .feed import as_sentences

    if args.backend == "numpy" and args.device == "cuda":
        raise SpecError("the numpy backend runs on the CPU; --device cuda runs a model in onnxruntime",
                        hint="drop --backend numpy (or give --backend onnxruntime)")
    # NaN or huge inputs (with --allow-nonfinite) give NaN or inf outputs, not NumPy warnings
    with np.errstate(all="ignore"):
        if is_onnx_file(args.model):
            if args.backend == "numpy":
                raise SpecError("the numpy backend runs specs (.nn); a .onnx model runs in onnxruntime",
                                hint="drop --backend, or run the .nn spec")
            onnx_net = load_onnx(args.model, providers_for(args.device))
            if tagging:
                name = _word_input(list(onnx_net.session.inputs), onnx_net.word_inputs, args.model)
                given = {name: as_sentences(name, _sentences(args))}
            return given, onnx_net.run(given), None, None
        net = load(args.model, seed=args.seed, data=args.data, weights=args.weights)
        if tagging:
            names = [i.name for i in net.model.inputs]
            name = _word_input(names, {i.name for i in net.model.inputs if i.form == "tokens"}, args.model)
            given = {name: as_sentences(name, _sentences(args))}
        if args.backend == "onnxruntime" or args.device == "cuda":
            from specc.runtime.onnx_runner import OnnxModel

            outputs = OnnxModel(net.to_onnx().SerializeToString(), providers_for(args.device)).run(net.prepare(given))
        else:
            outputs = net.run(given)
        return given, outputs, net.model, _untrained_note(net, args)


def cmd_run(args) -> int:
    from .feed import check_finite, parse_input_flags, read_array

    _check_seed(args.seed)
    inputs = parse_input_flags(args.input)
    if args.output:  # a directory, a device, an unwritable folder or a file the run reads is refused before it
        from .atomic import check_not_read, destination

        destination(args.output)
        check_not_read(args.output, [args.model, *inputs.values(), *filter(None, (args.weights, args.data, args.file))],
                       "--output")
    given = {name: read_array(path) for name, path in inputs.items()}
    if not args.allow_nonfinite:
        for name, value in given.items():
            check_finite(name, value)
    tagging = bool(args.text or args.file)
    given, outputs, model, note = _run_model(args, given, tagging)
    if note:  # after the run: a mistake in the inputs is the first line a user reads
        print(note, file=sys.stderr)
    if args.output:
        import io

        import numpy as np

        from .atomic import write_atomically

        buffer = io.BytesIO()
        np.savez(buffer, **{k: v.astype(str) if v.dtype == object else v for k, v in outputs.items()})
        write_atomically(args.output, buffer.getvalue())
    if tagging and not args.quiet:
        _print_tagged(next(iter(given.values())), outputs, args.json)
    elif not args.quiet:
        _print_outputs(outputs, args.json, _probability_outputs(outputs, model))
    return EXIT_OK


def cmd_show(args) -> int:
    from .feed import check_finite, parse_input_flags, read_array
    from .show import show

    _check_seed(args.seed)
    given = {name: read_array(path) for name, path in parse_input_flags(args.input).items()}
    for name, value in given.items():
        check_finite(name, value)
    path = show(args.model, weights=args.weights, inputs=given, text=args.text, output=args.output, seed=args.seed,
                data=args.data, onnx=is_onnx_file(args.model))
    if not args.quiet:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_play(args) -> int:
    from .play import HOST, make_play_app, open_playable
    from .serve import listen, make_server, require_server

    require_server("specc play")
    playable = open_playable(args.model, args.weights, args.data, onnx=is_onnx_file(args.model))
    app = make_play_app(playable)
    sock = listen(HOST, args.port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    print(f"playing {playable.net.name} ({playable.shown.weights}) at {url} (this machine only; Ctrl-C stops)",
          flush=True)
    try:
        make_server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C is how the page is stopped
        pass
    print(f"stopped playing {playable.net.name}", flush=True)
    return EXIT_OK


def cmd_train(args) -> int:
    # first of all, before NumPy loads: from here on Ctrl-C stops the run at a safe point
    # (exit 130 with a checkpoint) instead of raising KeyboardInterrupt wherever it lands
    from specc.runtime.interrupt import CTRL_C

    with CTRL_C:
        return _train(args)


def _train(args) -> int:
    from specc.runtime.train import Interrupted, TrainingError

    from .api import Network
    from .parse import parse_file
    from .prepare import build_model
    from .resume import continue_command
    from .run_folder import heldout_lines
    from .verify import describe

    _check_seed(args.seed)
    # a resumed run takes the checkpoint's vocabularies and classes; a new one draws them with the run's seed
    model, tables = build_model(parse_file(args.spec), args.data, args.seed, args.resume)
    # the seed of the initial weights is the run's seed: flag, then spec, then 0
    _print_warnings(model, args)
    net = Network(model, model.train.seed if args.seed is None else args.seed, tables)
    mode = "json" if args.json else "quiet" if args.quiet else "text"
    try:
        result = net.train(args.data, epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                           out=args.out, resume=args.resume, progress=mode)
    except Interrupted as stop:
        print(f"{stop}; continue with: {continue_command(args.spec, stop.path)}", file=sys.stderr)
        return 130
    except TrainingError as error:
        raise RuntimeFailure(f"{error}. Hint: {error.hint}") from None
    report = result.export
    if not report.ok:
        raise RuntimeFailure(_export_failure(report))
    summary = {"out_dir": str(result.out_dir), "onnx": str(report.path), "max_diff": report.max_diff,
               "max_abs_diff": report.max_abs_diff,
               "verified": report.ok, "heldout_split": result.heldout_split,
               "heldout_accuracy": result.heldout_accuracy, "heldout_count": result.heldout_count,
               "heldout_f1": result.heldout_f1, "kept_epoch": result.kept_epoch}
    files = ", ".join(result.files[:-1]) + f" and {result.files[-1]}" if len(result.files) > 1 else result.files[0]
    lines = [f"wrote {result.out_dir}/{files}"]
    if result.kept_epoch is not None:
        lines.append(f"kept the weights of epoch {result.kept_epoch}, the best on validation (best.npz)")
    lines.append(f"exported {report.path}: onnxruntime vs NumPy {describe(report.max_diff)}")
    if result.heldout_accuracy is not None:
        tagger = result.heldout_f1 is not None
        lines.append(f"held-out accuracy in onnxruntime ({result.heldout_split} split, {result.heldout_count:,} "
                     f"{'sentences' if tagger else 'samples'}): {100 * result.heldout_accuracy:.1f}%"
                     + (" of words" if tagger else ""))
    if result.heldout_f1 is not None:
        lines.append(f"held-out slot F1 in onnxruntime (conlleval): {100 * result.heldout_f1:.1f}")
    lines += heldout_lines(result.heldout_by_output, result.heldout_split, result.heldout_count)
    if len(result.heldout_by_output) > 1:
        summary["heldout"] = result.heldout_by_output
    if mode == "json":
        print(json.dumps(dict(summary, event="end")))
    elif mode == "text":
        print("\n".join(lines))
    return EXIT_OK


def cmd_demo(args) -> int:
    from .demo import run_demo

    return EXIT_OK if run_demo(quiet=args.quiet) else EXIT_RUNTIME


def cmd_triton(args) -> int:
    import shlex

    from .triton import write_repository

    written = write_repository(args.model, args.repo, name=args.name, max_batch=args.max_batch,
                               instances=args.instances, gpu=args.gpu, force=args.force)
    if not args.quiet:
        print(f"wrote {written.config} and {written.model}")
        if written.contrib_ops:
            print("the model uses onnxruntime's contrib ops: Triton's onnxruntime backend runs them as they are")
        # the folder as one shell word: a name with spaces or $(...) must not split or run when pasted
        print(f"serve it with: docker run --rm -p 8000:8000 -p 8001:8001 -v {shlex.quote(f'{written.repo}:/models')} "
              "nvcr.io/nvidia/tritonserver:<YY.MM>-py3 tritonserver --model-repository=/models")
    return EXIT_OK


def cmd_serve(args) -> int:
    from .serve import listen, load_served, make_app, make_server, require_server

    require_server()
    _check_seed(args.seed)
    if (args.replicas, args.min_replicas, args.max_replicas) != (None, None, None):
        return _serve_on_ray(args)
    served = load_served(args.model, is_onnx_file(args.model), args.weights, args.data, args.seed, args.threads,
                         device=args.device)
    app = make_app(served, max_batch=args.max_batch, max_delay_ms=args.max_delay_ms)
    if app.state.batcher.note:
        print(f"note: each request runs alone: {app.state.batcher.note}", file=sys.stderr)
    sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(f"serving {served.name} at http://{host}:{port}/v2/models/{served.name} (Ctrl-C stops)", flush=True)
    try:
        make_server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: uvicorn has finished the open requests
        pass
    print(f"stopped serving {served.name}", flush=True)
    return EXIT_OK


def _serve_on_ray(args) -> int:
    """specc serve --replicas: the same app as a Ray Serve deployment, until Ctrl-C."""
    import time

    from .ray_cluster import RayFailure, require_ray
    from .serve_ray import RayServing, Scale, free_port, model_to_serve

    require_ray("specc serve --replicas", "serve")
    scale = Scale.of(args.replicas, args.min_replicas, args.max_replicas, args.threads, args.device)
    name, model = model_to_serve(args.model, is_onnx_file(args.model), args.weights, args.data, args.seed, args.device)
    port = free_port(args.host, args.port)
    try:
        with RayServing(args.host, port) as serving:
            serving.run(name, model, scale, {"max_batch": args.max_batch, "max_delay_ms": args.max_delay_ms})
            print(f"serving {name} at http://{args.host}:{port}/v2/models/{name} with {scale.describe()} on Ray "
                  "(Ctrl-C stops)", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped; leaving RayServing stopped Ray
        pass
    except RayFailure as error:
        raise RuntimeFailure(str(error)) from None
    print(f"stopped serving {name}", flush=True)
    return EXIT_OK


def cmd_predict(args) -> int:
    import time

    from .predict import predict
    from .ray_cluster import RayFailure

    started = time.perf_counter()
    try:
        scored = predict(args.model, args.data, args.out, args.batch, device=args.device, engine=args.engine,
                         threads=args.threads, workers=args.workers)
    except RayFailure as error:
        raise RuntimeFailure(str(error)) from None
    seconds = time.perf_counter() - started
    if not args.quiet:
        files = f" of {scored.files:,} files" if scored.files > 1 else ""
        batches = f"{scored.batches:,} batch{'es' * (scored.batches != 1)}"
        print(f"scored {scored.rows:,} rows{files} in {batches} ({scored.rows / seconds:,.0f} rows/s): "
              f"wrote {', '.join(scored.outputs)} to {scored.path}")
    return EXIT_OK


def cmd_quantize(args) -> int:
    from .quantize import describe_report, quantize

    report = quantize(args.model, args.output or _int8_name(args.model), args.data, args.max_drop)
    if not args.quiet or not report.written:
        print(describe_report(report))
    if not report.written:
        worst = max(report.scores, key=lambda score: score.drop)
        raise SpecError(f"the int8 model loses {worst.drop:.1f} points of {worst.metric} on {worst.output}, more "
                        f"than --max-drop {args.max_drop:g}; nothing was written",
                        hint="keep the float model, or allow a larger loss with --max-drop")
    return EXIT_OK


def _int8_name(model: str) -> str:
    """MODEL.onnx -> MODEL.int8.onnx, beside it."""
    from pathlib import Path

    path = Path(model)
    return str(path.with_name(f"{path.name[:-len(path.suffix)] if path.suffix else path.name}.int8.onnx"))


WEIGHTS_SEED_HELP = ("seed of the random initial weights (default 0) and, for a spec that takes its vocabulary "
                     "from data, of its split (default: the spec's)")


def _add_device(command, more: str = "") -> None:
    """--device cpu|cuda: where onnxruntime runs the model."""
    from specc.runtime.onnx_runner import DEVICES

    command.add_argument("--device", choices=DEVICES, default="cpu",
                         help=f"where onnxruntime runs the model: cpu (default) or cuda (onnxruntime-gpu, the [gpu] "
                              f"extra){more}")


def make_parser() -> argparse.ArgumentParser:
    # neither imports NumPy nor onnx at the top: `specc --help` stays cheap
    from .predict import DEFAULT_BATCH
    from .batching import DEFAULT_MAX_BATCH as SERVE_MAX_BATCH, DEFAULT_MAX_DELAY_MS as SERVE_MAX_DELAY_MS
    from .triton import DEFAULT_MAX_BATCH

    parser = argparse.ArgumentParser(prog="specc", description="Compile .nn model specs to a NumPy "
                                     "interpreter and verified ONNX models.")
    parser.add_argument("--version", action="version", version=f"specc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="check a spec and print its layers, shapes and parameters")
    check.add_argument("spec", help="the .nn file")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.add_argument("--data", help="for a spec that takes its vocabulary from data: the data set (default: the spec's)")
    check.set_defaults(func=cmd_check)

    compile_ = sub.add_parser("compile", help="export a spec to ONNX, verified against the NumPy interpreter")
    compile_.add_argument("spec", help="the .nn file")
    compile_.add_argument("-o", "--output", help="where to write the model (default: SPEC name with .onnx, here)")
    compile_.add_argument("--seed", type=int, help=WEIGHTS_SEED_HELP)
    compile_.add_argument("--weights", metavar="CKPT", help="trained weights: a checkpoint.npz from specc train")
    compile_.add_argument("--data", help="for a spec that takes its vocabulary from data: the data set (default: the spec's)")
    compile_.add_argument("--quiet", action="store_true", help="print nothing on success")
    compile_.add_argument("--json", action="store_true", help="print the result as JSON")
    compile_.add_argument("--portable", action="store_true",
                          help="a model for other runtimes too (OpenVINO, tract, onnx2torch): default ONNX domain "
                               "only, word ids in, class indices out, vocabularies and class names in its metadata "
                               "(default path: SPEC name with .portable.onnx)")
    compile_.set_defaults(func=cmd_compile)

    run = sub.add_parser("run", help="run a spec (NumPy) or an exported .onnx model (onnxruntime)")
    run.add_argument("model", help="a .nn spec or an exported .onnx model")
    run.add_argument("--input", action="append", default=[], metavar="NAME=FILE",
                     help="an input as .npy or .json (one sample or a batch); repeat for several inputs")
    run.add_argument("--text", action="append", default=[], metavar="SENTENCE",
                     help="a sentence to tag (a model whose input is words); repeat for several")
    run.add_argument("--file", metavar="FILE", help="sentences to tag, one a line (- for standard input)")
    run.add_argument("--data", help="for a spec that takes its vocabulary from data: the data set (default: the spec's)")
    run.add_argument("--backend", choices=["numpy", "onnxruntime"], default=None,
                     help="for a spec: numpy (default) or onnxruntime; a .onnx model always runs in onnxruntime")
    run.add_argument("--weights", metavar="CKPT", help="for a spec: trained weights from a checkpoint.npz")
    _add_device(run, "; a spec then runs in onnxruntime")
    run.add_argument("--output", help="also save every output to this .npz file")
    run.add_argument("--seed", type=int, help=WEIGHTS_SEED_HELP)
    run.add_argument("--allow-nonfinite", action="store_true",
                     help="run on inputs that hold NaN or inf (refused by default, naming their positions)")
    run.add_argument("--quiet", action="store_true", help="print nothing (use with --output)")
    run.add_argument("--json", action="store_true", help="print the outputs as one JSON object")
    run.set_defaults(func=cmd_run)

    show = sub.add_parser("show", help="draw a network as a picture: filters, feature maps, hidden states, "
                                       "training curves")
    show.add_argument("model", help="a .nn spec, a run folder of specc train, or an exported .onnx model")
    show.add_argument("--weights", metavar="CKPT", help="trained weights from a checkpoint.npz (a run folder: its "
                                                        "best.npz, else its checkpoint.npz)")
    show.add_argument("--input", action="append", default=[], metavar="NAME=FILE",
                      help="an image (.npy or .json): draw its feature maps after every layer")
    show.add_argument("--text", metavar="SENTENCE", help="a sentence (a model whose input is words): draw each "
                                                         "word's class and the rnn states")
    show.add_argument("-o", "--output", metavar="OUT", help="the picture: .png, .svg or .pdf (default: MODEL.show.png, here)")
    show.add_argument("--data", help="for a spec that takes its vocabulary from data: the data set (default: the spec's)")
    show.add_argument("--seed", type=int, help=WEIGHTS_SEED_HELP)
    show.add_argument("--quiet", action="store_true", help="print nothing on success")
    show.set_defaults(func=cmd_show)

    play = sub.add_parser("play", help="a local page: draw on an image model or type to a tagger, and watch it think")
    play.add_argument("model", help="a run folder of specc train or an exported .onnx model (a .nn spec plays its "
                                    "starting weights, or --weights)")
    play.add_argument("--port", type=int, default=8000, help="the port of the page on 127.0.0.1 (default 8000; 0: a "
                                                             "free one); there is no --host: the page is for this "
                                                             "machine only")
    play.add_argument("--weights", metavar="CKPT", help="trained weights from a checkpoint.npz (a run folder: its "
                                                        "best.npz, else its checkpoint.npz)")
    play.add_argument("--data", help="for a spec that takes its vocabulary from data: the data set (default: the spec's)")
    play.set_defaults(func=cmd_play)

    train = sub.add_parser("train", help="train a spec in NumPy, then export a verified ONNX model")
    train.add_argument("spec", help="the .nn file")
    train.add_argument("--data", help="xo, digits, flights, atis, a data file (.npz, .csv, token/tag or label<TAB>sentence) or a folder of images (overrides the spec's 'data')")
    train.add_argument("--epochs", type=int, help="passes over the data (overrides the spec)")
    train.add_argument("--batch", type=int, help="samples per step (overrides the spec)")
    train.add_argument("--lr", type=float, help="learning rate (overrides the spec)")
    train.add_argument("--seed", type=int, help="seed of weights, shuffling and data (default: the spec's, else 0)")
    train.add_argument("--out", help="run folder (default runs/<model name>)")
    train.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint.npz")
    train.add_argument("--quiet", action="store_true", help="print nothing but errors")
    train.add_argument("--json", action="store_true", help="print one JSON object per epoch")
    train.set_defaults(func=cmd_train)

    demo = sub.add_parser("demo", help="run the lecture's worked examples through both back ends")
    demo.add_argument("--quiet", action="store_true", help="print only failures")
    demo.set_defaults(func=cmd_demo)
    triton = sub.add_parser("triton", help="write a Triton Inference Server model repository for an .onnx model")
    triton.add_argument("model", help="an exported .onnx model")
    triton.add_argument("--repo", required=True, metavar="DIR", help="the model repository folder (made if missing)")
    triton.add_argument("--name", help="the model's name in Triton (default: the file name without .onnx)")
    triton.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, metavar="N",
                        help=f"Triton's max_batch_size, with dynamic batching (default {DEFAULT_MAX_BATCH}; 0: none)")
    triton.add_argument("--instances", type=int, default=1, metavar="K", help="copies of the model to run (default 1)")
    triton.add_argument("--gpu", action="store_true", help="run the instances on GPUs (KIND_GPU; default KIND_CPU)")
    triton.add_argument("--force", action="store_true", help="replace the model's folder files if it exists")
    triton.add_argument("--quiet", action="store_true", help="print nothing on success")
    triton.set_defaults(func=cmd_triton)

    serve = sub.add_parser("serve", help="serve a model over HTTP with the Open Inference Protocol (KServe v2)")
    serve.add_argument("model", help="an exported .onnx model, or a .nn spec compiled on the fly")
    serve.add_argument("--weights", metavar="CKPT", help="for a spec: trained weights from a checkpoint.npz")
    serve.add_argument("--data", help="for a spec that takes its vocabulary from data: the data set (default: the spec's)")
    serve.add_argument("--seed", type=int, help=WEIGHTS_SEED_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on (default 8000)")
    serve.add_argument("--max-batch", type=int, default=SERVE_MAX_BATCH, metavar="N",
                       help=f"join concurrent requests into onnxruntime calls of up to N rows (default "
                            f"{SERVE_MAX_BATCH}; 1: each runs alone); answers stay those of each request alone")
    serve.add_argument("--max-delay-ms", type=float, default=SERVE_MAX_DELAY_MS, metavar="D",
                       help=f"how long a request waits for others to join it (default {SERVE_MAX_DELAY_MS:g} ms)")
    serve.add_argument("--threads", type=int, metavar="N", help="onnxruntime's threads (default: one per core)")
    serve.add_argument("--replicas", type=int, metavar="K",
                       help="run K copies of the model as a Ray Serve deployment (extra [ray]; a local Ray cluster, "
                            "or the one RAY_ADDRESS names)")
    serve.add_argument("--min-replicas", type=int, metavar="K", help="with Ray: let Ray Serve scale down to K replicas")
    serve.add_argument("--max-replicas", type=int, metavar="K", help="with Ray: let Ray Serve scale up to K replicas")
    _add_device(serve)
    serve.set_defaults(func=cmd_serve)

    predict = sub.add_parser("predict", help="score a data set with an .onnx model, in batches, into a .npz")
    predict.add_argument("model", help="an exported .onnx model")
    predict.add_argument("--data", required=True, metavar="DATA",
                         help="a .npz (one array per model input, named after it), a .csv with a header row (an input "
                              "(N, C, H, W) takes C*H*W columns in C order), tagged sentences (.txt, .conll, ...) for a "
                              "word model, or a folder of such files, all of one kind, scored in name order")
    predict.add_argument("--out", required=True, metavar="PREDICTIONS.npz", help="where to write every output")
    predict.add_argument("--batch", type=int, default=DEFAULT_BATCH, metavar="N",
                         help=f"rows per onnxruntime call (default {DEFAULT_BATCH})")
    predict.add_argument("--engine", choices=["local", "ray"], default="local",
                         help="local: this process (default); ray: Ray Data workers, each with its own onnxruntime "
                              "session (extra [ray]; a local Ray cluster, or the one RAY_ADDRESS names); the same results")
    predict.add_argument("--threads", type=int, metavar="K",
                         help="onnxruntime's threads in each session (default: one per core locally, one a Ray worker)")
    predict.add_argument("--workers", type=int, metavar="K",
                         help="with --engine ray: Ray Data workers (default: one a CPU)")
    predict.add_argument("--quiet", action="store_true", help="print nothing on success")
    _add_device(predict)
    predict.set_defaults(func=cmd_predict)

    quantize = sub.add_parser("quantize", help="quantize an exported .onnx model to int8, checked on held-out data")
    quantize.add_argument("model", help="an .onnx model exported by specc")
    quantize.add_argument("-o", "--output", help="where to write the int8 model (default: MODEL.int8.onnx beside it)")
    quantize.add_argument("--data", help="xo, digits, flights, atis, or a data file (default: the spec's own)")
    quantize.add_argument("--max-drop", type=float, default=1.0, metavar="POINTS",
                          help="refuse (exit 2, nothing written) if accuracy or slot F1 drops by more (default 1)")
    quantize.add_argument("--quiet", action="store_true", help="print nothing on success")
    quantize.set_defaults(func=cmd_quantize)

    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true",
                             help="on an internal error, print where it happened (as does SPECC_DEBUG=1)")
    return parser


def _refuse_onnx_as_spec(args) -> None:
    """check, compile and train read a .nn spec; an ONNX model given instead is named as such."""
    spec = getattr(args, "spec", None)
    if spec is not None and is_onnx_file(spec):
        raise SpecError(f"{spec} is an ONNX model, not a .nn spec",
                        hint=f"{args.command} reads a .nn spec; run an ONNX model with: specc run {spec} --input NAME=FILE")


def _report_bug(error: BaseException, debug: bool) -> None:
    """An exception that no user input should cause: say it is a bug in specc, and where it
    happened with --debug or SPECC_DEBUG=1 (the last frames of the traceback)."""
    import traceback

    said = f": {error}" if str(error) else ""
    print(f"error: internal error{said}. This is a bug in specc, not a mistake of yours.", file=sys.stderr)
    if debug:
        print("".join(traceback.format_exception(type(error), error, error.__traceback__, limit=-8)).rstrip(),
              file=sys.stderr)
    else:
        print("  rerun with --debug (or SPECC_DEBUG=1) to see where, and report it with the spec and the command",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `specc` console script; returns the exit status."""
    import os

    from specc.runtime.onnx_runner import OnnxRunError

    args = make_parser().parse_args(argv)
    try:
        _refuse_onnx_as_spec(args)
        return args.func(args)
    except SpecError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_USAGE
    except (RuntimeFailure, OnnxRunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (specc run ... | head): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # no user input may reach this: it is a bug of ours
        _report_bug(error, args.debug or os.environ.get("SPECC_DEBUG", "") not in ("", "0"))
        return EXIT_RUNTIME


def console() -> None:
    """The `specc` console script: main(), then exit with its status. Once main() has returned,
    the work is done and written, so a late Ctrl-C is ignored: it could only turn the exit
    status into a death by signal or a traceback printed while Python shuts down."""
    import signal

    status = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)


if __name__ == "__main__":
    console()
