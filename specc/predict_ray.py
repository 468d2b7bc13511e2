"""`specc predict --engine ray`: the batches of specc.predict scored by Ray Data workers.

The data set's files (checked by specc.predict beforehand) are cut into blocks: a .npz file into
runs of BLOCK_ROWS rows (a multiple of the batch, so that the batches are those of the local
engine), a .csv or tagged file whole. Ray Data's map_batches hands one block at a time to a pool
of BlockScorer actors; each opens the model once, in its own onnxruntime session, reads its rows
from the file itself and sends back every output as the bytes of a .npz (no pickle, exact). The
blocks are put back in order here, so the result is the local engine's, bit for bit.
"""
from __future__ import annotations

import io
from dataclasses import replace

from .errors import SpecError
from .predict import Source, read_block, score_block

BLOCK_ROWS = 1 << 16  # rows of a .npz file that one worker scores at a time (rounded up to whole batches)


def blocks(sources: list[Source], batch: int) -> list[tuple[int, int, int]]:
    """(source index, first row, row past the last) of every block, in the data set's order."""
    size = -(-BLOCK_ROWS // batch) * batch
    found = []
    for index, source in enumerate(sources):
        step = size if source.kind == "npz" else source.rows
        found += [(index, start, min(start + step, source.rows)) for start in range(0, source.rows, step)]
    return found


class BlockScorer:
    """A Ray Data worker: the model in one onnxruntime session, made once; each call scores the
    blocks of a batch of block descriptions (see `blocks`)."""

    def __init__(self, model: str, sources: list[Source], width: int, batch: int, device: str, threads: int):
        from specc.runtime.onnx_runner import OnnxModel, providers_for

        from .portable import WordsRunner

        self.session = WordsRunner(OnnxModel(model, providers_for(device), threads))
        self.sources, self.width, self.batch = sources, width, batch

    def __call__(self, described: dict) -> dict:
        """{"block", "source", "start", "stop"} arrays -> {"block", "scores": .npz bytes of the outputs}."""
        import numpy as np

        scores = []
        for source, start, stop in zip(described["source"], described["start"], described["stop"]):
            arrays = read_block(self.sources[int(source)], int(start), int(stop), self.session)
            buffer = io.BytesIO()
            np.savez(buffer, **score_block(self.session, arrays, self.width, self.batch))
            scores.append(buffer.getvalue())
        return {"block": described["block"], "scores": np.array(scores, dtype=object)}


def score_on_ray(model: str, sources: list[Source], width: int, batch: int, device: str = "cpu",
                 threads: int | None = None, workers: int | None = None) -> list[dict]:
    """Every block's outputs (as score_block gives them), in order, scored by `workers` Ray Data
    workers (None: one per CPU of the cluster) of `threads` onnxruntime threads each (None: 1).
    `model`: the checked .onnx file's path, which every worker opens (as it opens the data files:
    a cluster of several machines needs them at the same paths on each)."""
    import logging
    import warnings

    import numpy as np
    import ray.data

    from .ray_cluster import RayFailure, ray_cluster, reason

    described = [{"block": k, "source": i, "start": start, "stop": stop}
                 for k, (i, start, stop) in enumerate(blocks(sources, batch))]
    sources = [replace(source, path=source.path.resolve()) for source in sources]  # workers start elsewhere
    with ray_cluster() as cluster:
        # Ray Data's own lines (progress bars, and the warning that they are off) are not for specc's users
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False
        pool = min(workers or max(1, int(cluster.cpus)), len(described))
        dataset = ray.data.from_items(described, override_num_blocks=len(described))
        with warnings.catch_warnings():
            # max_restarts=0, as Ray Data's own comment says to give it (Ray 2.60 warns that such arguments
            # will need another form): Ray Data keeps the workers' arguments in the object store, and
            # Ray's core prints a warning on stderr that a restarted worker might not find them
            warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
            scored = dataset.map_batches(BlockScorer, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool),
                                         **cluster.share(pool, device), max_restarts=0,
                                         fn_constructor_args=(model, sources, width, batch, device, threads or 1))
        try:
            rows = scored.take_all()
        except Exception as error:  # a worker's error comes back wrapped by Ray
            raise _ours(error) or RayFailure(f"Ray Data could not score the data: {reason(error)}") from None
    rows.sort(key=lambda row: row["block"])
    found = []
    for row in rows:
        with np.load(io.BytesIO(row["scores"]), allow_pickle=False) as outputs:
            found.append({name: outputs[name] for name in outputs.files})
    return found


def _ours(error: BaseException) -> Exception | None:
    """The SpecError or OnnxRunError that a worker raised, found in the chain of errors Ray wrapped
    it in (None: Ray's own failure)."""
    from specc.runtime.onnx_runner import OnnxRunError

    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (SpecError, OnnxRunError)):
            return error
        seen.add(id(error))
        error = getattr(error, "cause", None) or error.__cause__ or error.__context__
    return None
