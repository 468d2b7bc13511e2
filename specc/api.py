"""The Python API: load a spec, look at it, run it in NumPy, export and run it as ONNX.

    >>> import specc
    >>> net = specc.load("specs/seed_conv.nn")
    >>> print(net.summary())
    >>> net.run(image=img)["maps"]               # NumPy interpreter
    >>> report = net.export("seed_conv.onnx")    # verified against NumPy
    >>> specc.load_onnx("seed_conv.onnx").run(image=img)
    >>> net.export("seed_conv.portable.onnx", portable=True)  # OpenVINO, tract, onnx2torch too
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from . import __version__
from .atomic import destination, write_atomically
from .errors import SpecError
from .feed import as_batch, as_sentences, check_names
from .parse import parse, parse_file
from .tables import DEFAULT_WORD_DATA, TablesFromData
from .weights import DEFAULT_SEED, init_weights



@dataclass(frozen=True)
class ExportReport:
    """What `export` wrote and how closely onnxruntime agreed with NumPy."""

    path: Path
    max_abs_diff: float
    cases: tuple
    ok: bool
    finite: bool = True  # False: the network itself gives inf or NaN on ordinary inputs
    max_diff: float = 0.0  # what must stay within the tolerance: absolute, relative above 1 (verify.py)


class Network:
    """A checked spec with its weights (seeded random or literal)."""

    def __init__(self, model, seed: int = DEFAULT_SEED, tables=None):
        """`model` is built with everything it takes from data (specc.prepare): `tables` are
        where its vocabularies and classes came from (TablesFromData, SavedTables or None).
        The network keeps this model for good: it never rebuilds it."""
        from .training import check_flag

        check_flag("seed", seed)  # a whole number of at least 0, as on the command line
        self.model = model
        self.seed = seed
        self.weights = init_weights(model, seed)
        self.tables = tables

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def param_count(self) -> int:
        return self.model.param_count

    def summary(self) -> str:
        """The `specc check` table: layer, line, output shape, parameters, totals."""
        from .summary import summary

        return summary(self.model)

    def prepare(self, inputs: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Check names and coerce each input to a float32 batch of its declared shape."""
        check_names(dict(inputs), [i.name for i in self.model.inputs])
        return {i.name: as_sentences(i.name, inputs[i.name]) if i.form == "tokens" else
                as_batch(i.name, inputs[i.name], i.shape) for i in self.model.inputs}

    def run(self, inputs: Mapping[str, object] | None = None, **named) -> dict[str, np.ndarray]:
        """Run the NumPy interpreter. Inputs by name: one sample or a batch each.

        Returns every output by name: (N, ...) float32 arrays, and NAME_class (class names)
        for a classifier output NAME.
        """
        from specc.runtime.interpreter import forward

        return forward(self.model, self.weights, self.prepare({**(inputs or {}), **named}))

    def load_weights(self, checkpoint: str | Path) -> None:
        """Replace the weights with those of a checkpoint written by `specc train` for this
        network, with the same vocabularies and classes. A spec that takes them from data is
        loaded with the checkpoint's instead: specc.load(spec, weights=checkpoint).

        Raises SpecError, naming the file and what is wrong, if the checkpoint is damaged or
        changed, belongs to another network or holds other vocabularies or classes than this
        network's; the network is then left as it was.
        """
        self._read_checkpoint(checkpoint)

    def _read_checkpoint(self, checkpoint: str | Path) -> tuple[dict, dict, dict]:
        """load_weights' work, returning the checkpoint's (weights, optimizer state, meta) for
        a resumed run too."""
        from specc.runtime.checkpoint import load_checkpoint

        from .identity import saved_tables
        from .prepare import checkpoint_tables

        if isinstance(self.tables, TablesFromData):
            saved, own = checkpoint_tables(checkpoint), saved_tables(self.model)
            if (saved.vocabularies, saved.class_names) != (own.vocabularies, own.class_names):
                raise SpecError(f"checkpoint {checkpoint} was trained with other vocabularies or classes than this "
                                f"network took from {self.tables.source}",
                                hint="load the spec with the checkpoint's: specc.load(spec, weights=checkpoint), "
                                     "or on the command line --weights (or --resume)")
        state = load_checkpoint(checkpoint, self.model)
        self.weights = state[0]
        return state

    def train(self, data: str | None = None, *, epochs: int | None = None, batch: int | None = None,
              lr: float | None = None, seed: int | None = None, out: str | Path | None = None,
              resume: str | Path | None = None, progress: str = "quiet") -> TrainResult:
        """Train in the NumPy interpreter, then export a verified ONNX model.

        Settings come from the spec's train section; arguments given here win. `data` is a
        built-in data set (xo, digits) or a .npz/.csv path; `out` the run folder (default
        runs/<model name>), which receives checkpoint.npz (every epoch), best.npz (with
        `keep best`), history.json, the training curve (with matplotlib), <model>.onnx and
        heldout.json (the exported model's held-out scores, run_folder.write_heldout).
        `resume` continues the run of a checkpoint, in its folder, with its saved settings
        (arguments may repeat them, or ask for more epochs). `progress` is 'text', 'json' or
        'quiet'. The weights are trained in place.

        One run at a time per folder (SpecError if another holds it). Ctrl-C stops at the next
        safe point, with the checkpoint written: specc.runtime.train.Interrupted.
        """
        from specc.runtime.interrupt import CTRL_C
        from specc.runtime.progress import Reporter
        from specc.runtime.train import Interrupted, fit

        from .run_folder import (check_run_folder, forget_earlier, heldout_scores, run_files, write_heldout,
                                 write_history)
        from .run_lock import RunLock

        reporter = progress if isinstance(progress, Reporter) else Reporter(progress)
        with CTRL_C:
            flags = {"data": data, "epochs": epochs, "batch": batch, "lr": lr, "seed": seed}
            settings, out_dir, resume_state = self._run_settings(flags, out, resume, reporter)
            settings = self._data_for(settings, resumed=resume is not None)
            model = self.model
            if settings.data is None:
                raise SpecError("no training data given", hint="add 'data xo' (or digits, or \"file.npz\") under a "
                                "'train' line at the end of the spec, or pass --data")
            checkpoint_path = out_dir / "checkpoint.npz"
            check_run_folder(out_dir, model.name)

            def stop_point(before: str) -> None:
                """After the last epoch, Ctrl-C stops between steps: the checkpoint holds the run."""
                if CTRL_C.requested:
                    raise Interrupted(checkpoint_path, f"after the last epoch, before {before}")

            with RunLock(out_dir, run_files(model.name)):
                if resume is None and checkpoint_path.exists():
                    reporter.note(f"note: {out_dir} holds an earlier run; this one replaces its files as it "
                                  "writes them (give --out to keep both)")
                dataset = self.load_data(settings)
                forget_earlier(out_dir, new_run=resume is None)  # the weights change from here on
                history = fit(model, self.weights, settings, dataset, checkpoint_path=checkpoint_path,
                              reporter=reporter, resume=resume_state, losses=self._losses(settings))
                stop_point("writing history.json")
                written = write_history(out_dir, history)
                stop_point(f"exporting {model.name}.onnx")
                report = self.export(out_dir / f"{model.name}.onnx")
                stop_point("scoring the exported model")
                split_name, split = ("test", dataset.test) if dataset.test is not None else ("validation",
                                                                                            dataset.validation)
                by_output = heldout_scores(report.path, model, split) if report.ok else {}
                kept = [record["epoch"] for record in history if record.get("best")]
                # the exported weights: the kept epoch's (fit ends on them), else the last
                exported = (kept[-1], "best.npz") if kept else (history[-1]["epoch"], "checkpoint.npz")
                written += write_heldout(out_dir, split_name, len(split), *exported, by_output)
        scores = by_output.get(model.outputs[0].name, {}) if len(model.outputs) == 1 else {}
        return TrainResult(history, out_dir, report, split_name, scores.get("accuracy"), len(split),
                           scores.get("f1"), kept[-1] if kept else None, ("checkpoint.npz", *written), by_output)

    def _run_settings(self, flags: dict, out, resume, reporter):
        """(settings, run folder, resume state or None). A new run: the spec's settings, `flags`
        winning. A resumed one: the checkpoint's weights, vocabularies, settings and folder."""
        from .resume import continued_settings, run_folder, saved_settings, spec_differences
        from .training import with_flags

        if resume is None:
            return with_flags(self.model.train, flags), Path(out or Path("runs") / self.model.name), None
        state = self._read_checkpoint(resume)  # its weights, all checked against this network's tables
        out_dir = run_folder(resume, out)
        saved = saved_settings(state[2].get("settings"), resume)
        settings = continued_settings(saved, flags, resume)
        for note in spec_differences(self.model.train, saved, settings):
            reporter.note(note)
        self.seed = settings.seed  # the run's, as the exported model's metadata says
        return settings, out_dir, state

    def _data_for(self, settings, resumed: bool):
        """Settings whose data names where the vocabularies came from: the network's tables
        were drawn from data before it was made, and a new run must draw the same sentences
        (SpecError, saying how to load the spec for the run's data, otherwise); a resumed run's
        checkpoint holds the same tables (checked as it was read). Tables of loaded weights (a
        checkpoint's) stay, with the words' default data set."""
        if isinstance(self.tables, TablesFromData) and not resumed:
            settings = replace(settings, data=settings.data or self.tables.source)
            wanted = (settings.data, settings.seed, settings.validation)
            if wanted != self.tables.drawn:
                source, seed, validation = self.tables.drawn
                raise SpecError(f"this network took its vocabularies and classes from {source} (seed {seed}, "
                                f"validation {validation:g}); this run draws {wanted[0]} (seed {wanted[1]}, "
                                f"validation {wanted[2]:g})",
                                hint=f"load the spec with the run's data: specc.load(spec, data={wanted[0]!r}, "
                                     f"seed={wanted[1]}); a network is never rebuilt behind your back")
            return settings
        if self.tables is not None and settings.data is None:
            return replace(settings, data=DEFAULT_WORD_DATA)
        return settings

    def _losses(self, settings) -> dict:
        """{output name: (loss kind, weight)} from the `loss` setting (a kind, or a table)."""
        from .training import loss_table

        return loss_table(settings.loss) or {self.model.outputs[0].name: (settings.loss, 1.0)}

    def load_data(self, settings):
        """The data set named by `settings.data`, checked against this spec's inputs and outputs.
        Sentences already read for the vocabularies are not read again. A spec with several
        inputs or outputs reads a .npz file with an array named after each."""
        from specc.runtime.data import load_data

        model = self.model
        if len(model.inputs) > 1 or len(model.outputs) > 1:
            return self._load_arrays(settings)
        source, output = model.inputs[0], model.outputs[0]
        read = isinstance(self.tables, TablesFromData) and self.tables.drawn == (
            settings.data, settings.seed, settings.validation)
        shape = model.value_shape(output.name)
        return load_data(settings.data, input_name=source.name, input_shape=tuple(source.shape[1:]),
                         output_name=output.name, classes=output.classes, seed=settings.seed,
                         validation=settings.validation, sentences=self.tables.splits if read else None,
                         resize=settings.resize, per_step=len(shape) > 2 and isinstance(shape[1], str))

    def _load_arrays(self, settings):
        """load_data for a spec with several inputs or outputs."""
        from specc.runtime.data import SpecSide, load_graph_data

        model = self.model
        inputs = [SpecSide(i.name, tuple(i.shape[1:]), "", None) for i in model.inputs]
        sequences = [i.name for i in model.inputs if isinstance(i.shape[1], str)]
        outputs = []
        for chain in (chain for chain in model.chains if chain.output is not None):
            shape = model.value_shape(chain.output.name)
            steps = chain.mask_source or (sequences[0] if sequences else None)
            if len(shape) > 2 and isinstance(shape[1], str) and steps:  # per-step targets follow `steps`' words
                outputs.append(SpecSide(steps, tuple(model.input(steps).shape[1:]), chain.output.name,
                                        chain.output.classes))
            else:
                outputs.append(SpecSide("", (), chain.output.name, chain.output.classes))
        return load_graph_data(settings.data, inputs, outputs, settings.seed, settings.validation)

    def to_onnx(self, portable: bool = False):
        """The ONNX ModelProto of this network (not yet verified); `portable`: in the default ONNX
        domain only, words in as ids and class indices out (specc/portable.py)."""
        from .onnx_export import to_onnx

        return to_onnx(self.model, self.weights, {
            "specc.version": __version__, "specc.spec": self.model.text, "specc.seed": str(self.seed)}, portable)

    def export(self, path: str | Path | None = None, *, verify: bool = True, portable: bool = False) -> ExportReport:
        """Write the ONNX model (atomically), after checking it against the NumPy interpreter.

        The largest difference seen (absolute, relative where a value is above 1) is stored in
        the model's metadata (specc.max_diff, and the plain absolute one as specc.max_abs_diff).
        If it exceeds the tolerance (1e-5) nothing is written and the report says so.
        `portable`: a model that other runtimes (OpenVINO, tract, onnx2torch) run too, in the
        default ONNX domain only; it takes word ids and gives class indices, the vocabularies and
        class names in its metadata (specc/portable.py). Default path: SPEC.portable.onnx.
        """
        from .onnx_check import start_check
        from .portable import encode_words
        from .verify import TOLERANCE, verify as run_verification

        path = Path(path or Path(self.model.file).with_suffix(".portable.onnx" if portable else ".onnx").name)
        destination(path)  # a directory, a device or an unwritable folder is refused before the work
        proto = self.to_onnx(portable)
        checked = start_check(proto)  # a word model's check runs in a child process during the verification
        if not verify:
            checked()
            write_atomically(path, proto.SerializeToString())
            return ExportReport(path, float("nan"), (), True)
        metadata = {entry.key: entry.value for entry in proto.metadata_props}
        result = run_verification(self.model, self.weights, proto.SerializeToString(),
                                  encode=(lambda inputs: encode_words(metadata, inputs)) if portable else None)
        checked()
        for key, value in (("specc.max_diff", f"{result.max_diff:.3g}"),
                           ("specc.max_abs_diff", f"{result.max_abs_diff:.3g}"), ("specc.tolerance", f"{TOLERANCE:g}")):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        if result.ok:
            write_atomically(path, proto.SerializeToString())
        return ExportReport(path, result.max_abs_diff, result.cases, result.ok, result.finite, result.max_diff)


@dataclass(frozen=True)
class TrainResult:
    """What `Network.train` did: the per-epoch history, the verified export, and the accuracy of
    the exported model in onnxruntime on the held-out split (test if the data has one); for a
    tagger, accuracy per word and the slot F1."""

    history: list
    out_dir: Path
    export: ExportReport
    heldout_split: str
    heldout_accuracy: float | None
    heldout_count: int
    heldout_f1: float | None = None  # slot F1 of a tagger (conlleval's), else None
    kept_epoch: int | None = None  # with `keep best`: the epoch whose weights were kept and exported
    files: tuple = ()  # run files written besides the model: checkpoint.npz, history.json, curve.png, heldout.json
    heldout_by_output: dict = field(default_factory=dict)  # output -> its held-out scores (run_folder.heldout_scores)


class OnnxNetwork:
    """An exported model run by onnxruntime, with the same `run` as Network."""

    def __init__(self, path: str | Path, providers=None, threads: int | None = None, spin: bool = True):
        from specc.runtime.onnx_runner import OnnxModel

        from .atomic import require_file

        require_file(path, "model", hint="give an exported .onnx file")
        try:
            self.session = OnnxModel(str(path), providers, threads, spin)
        except SpecError:  # a provider asked for (--device cuda) that could not start
            raise
        except Exception as error:  # onnxruntime raises its own types for unreadable models
            raise SpecError(f"cannot load {path} as an ONNX model: {error}") from None
        self.path = Path(path)
        self._check_word_tables()

    def _check_word_tables(self) -> None:
        """SpecError unless a portable model's word tables hold every id its metadata gives out.
        One sentence of one unknown word (the largest id) runs at load, so that a vocabulary
        larger than the table it indexes (a changed or damaged file) is refused here, not by a
        failure of every request that holds an unknown word."""
        from .portable import word_inputs

        limits = {name: ids.unknown_id for name, ids in word_inputs(self.metadata).items()}
        if not limits:
            return
        probe = {node.name: np.full([d if isinstance(d, int) else 1 for d in node.shape], limits.get(node.name, 0),
                                    dtype=np.int64 if node.type == "tensor(int64)" else np.float32)
                 for node in self.session.session.get_inputs()}
        try:
            self.session.session.run(None, probe)
        except Exception as error:  # onnxruntime's own types: an index out of its table's range
            raise SpecError(f"{self.path}: an unknown word (id {max(limits.values())}) fails in the model: {error}",
                            hint="its vocabulary does not fit its word tables: compile it again with "
                            "specc compile --portable") from None

    @property
    def metadata(self) -> dict[str, str]:
        return self.session.metadata

    @property
    def word_inputs(self) -> set[str]:
        """The inputs that take words: strings, or a portable model's word ids (specc maps the
        words to them)."""
        from .portable import word_inputs

        return set(self.session.word_inputs) | set(word_inputs(self.metadata))

    def feeds(self, inputs: Mapping[str, object] | None = None, **named) -> dict[str, np.ndarray]:
        """The tensors the model file takes for these inputs (given as to `run`): float32
        batches, and words as (N, T) strings padded with "", or, for a portable model, as the
        int64 word ids (N, T) or trigram ids (N, T, K) its metadata defines. Use it to run a
        portable model in another runtime (OpenVINO, tract, onnx2torch)."""
        from .portable import encode_words, is_portable

        given = {**(inputs or {}), **named}
        check_names(given, list(self.session.inputs))
        words = self.word_inputs
        feeds = {name: as_sentences(name, given[name]) if name in words else as_batch(name, given[name], shape)
                 for name, shape in self.session.inputs.items()}
        return encode_words(self.metadata, feeds) if is_portable(self.metadata) else feeds

    def named(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's outputs (from any runtime) with a portable model's class indices
        (NAME_index, int64, -1 on padding) turned into class names, as the default export gives
        them; a default model's outputs as they are."""
        from .portable import is_portable, name_classes

        return name_classes(self.metadata, dict(outputs)) if is_portable(self.metadata) else dict(outputs)

    def run(self, inputs: Mapping[str, object] | None = None, **named) -> dict[str, np.ndarray]:
        """Run in onnxruntime; inputs and outputs as in Network.run. A portable model
        (specc compile --portable) takes words too, mapped to ids by its metadata, and gives
        class names, as the default export."""
        return self.named(self.session.run(self.feeds(inputs, **named)))


def load(path: str | Path, seed: int | None = None, data: str | None = None,
         weights: str | Path | None = None) -> Network:
    """Parse and check a .nn file; raises SpecError (with file:line:col) on any mistake.

    `seed`: of the random initial weights (default 0) and, given, of the split that
    vocabularies are drawn from. A spec that takes vocabularies or classes from its training
    data reads them, before the Network is made, from the checkpoint `weights` if given (whose
    weights it then loads), else from `data` (default: its train section's data set, else the
    built-in flights), split with `seed` (default: the train section's).
    """
    return _network(parse_file(path), seed, data, weights)


def loads(text: str, file: str = "<spec>", seed: int | None = None, data: str | None = None,
          weights: str | Path | None = None) -> Network:
    """Parse and check spec text; `file` names it in errors. The rest as in `load`."""
    return _network(parse(text, file), seed, data, weights)


def _network(syntax, seed: int | None, data: str | None, weights) -> Network:
    """Resolve what the spec takes from data or `weights`, build it, then make the Network."""
    from .prepare import build_model
    from .training import check_flag

    if seed is not None:  # before it draws any data: a whole number of at least 0
        check_flag("seed", seed)
    model, tables = build_model(syntax, data, seed, weights)
    net = Network(model, DEFAULT_SEED if seed is None else seed, tables)
    if weights is not None:
        net.load_weights(weights)
    return net


def load_onnx(path: str | Path, providers=None, threads: int | None = None, spin: bool = True) -> OnnxNetwork:
    """Open an exported .onnx model for inference in onnxruntime (`threads`: its intra-op threads,
    None: one per core; `spin`: whether they spin-wait for work between calls)."""
    return OnnxNetwork(path, providers, threads, spin)
