"""The exported lower-case word lookup alone (specc/onnx_words.py's lower_word_ids), in onnxruntime
at batch 1 and 256, 1 and 2 threads (issue 13).

Three models of the lookup of the Elman tagger's vocabulary (specs/slots_elman.nn on ATIS test
sentences, as bench/slots_bench.py loads them: 100 calls of one sentence, one call of 256):
  specc        lower_word_ids as exported: each word looked up as written first, the character
               path only for the words that missed, under an If when none did
  characters   every word by the character path (what lower_word_ids did before: Tokenizer,
               character ids, word keys, check), the reference
  one-lookup   one LabelEncoder of the words as written: the floor, not exact (a capitalised
               word misses)
specc and characters must give NumPy's ids (runtime/kernels/onehot.py word_ids) on every call,
or the script stops. Timed as slots_bench times inference: interleaved shuffled rounds.

    python bench/word_lookup_bench.py            # 15 rounds
    python bench/word_lookup_bench.py --quick    # 3 rounds
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import slots_bench  # noqa: E402
from bench.common import background_busy  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from specc.onnx_export import GraphBuilder  # noqa: E402
from specc.onnx_words import WORD_ONNX_OPSETS, _lowered_word_ids, _raw_word_keys, lower_word_ids  # noqa: E402
from specc.runtime.kernels.onehot import PADDING, word_ids  # noqa: E402


def every_word_by_characters(g: GraphBuilder, words: str, vocabulary, prefix: str) -> str:
    """The character path on every word (at least one): the reference."""
    def const(local, value):
        return g.constant(None, f"{prefix}.{local}", value, "int64")

    def node(op, inputs, local, **attrs):
        return g.node(op, inputs, name=f"{prefix}.{local}", **attrs)

    flat = node("Reshape", [words, const("flat_shape", [-1])], "flat")
    ids = _lowered_word_ids(g, flat, vocabulary, prefix, const, node)
    return node("Reshape", [ids, node("Shape", [words], "words_shape")], "ids")


def one_lookup(g: GraphBuilder, words: str, vocabulary, prefix: str) -> str:
    """The words as written in one LabelEncoder (not exact: the floor)."""
    keys, values = _raw_word_keys(vocabulary)
    return g.node("LabelEncoder", [words], name=f"{prefix}.ids", domain="ai.onnx.ml", keys_strings=keys,
                  values_int64s=values, default_int64=len(vocabulary))


LOOKUPS = {"specc": lower_word_ids, "characters": every_word_by_characters, "one-lookup": one_lookup}
EXACT = ("specc", "characters")


def lookup_model(lookup, vocabulary) -> bytes:
    """A model of words (string, any shape) -> int64 ids by `lookup`."""
    g = GraphBuilder({})
    g.opsets.update(WORD_ONNX_OPSETS)
    out = lookup(g, "words", vocabulary, "onehot")
    graph = helper.make_graph(g.nodes, "lookup", [helper.make_tensor_value_info("words", TensorProto.STRING, None)],
                              [helper.make_tensor_value_info(out, TensorProto.INT64, None)])
    opsets = [helper.make_opsetid(domain, version) for domain, version in g.opsets.items()]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def session(model: bytes, threads: int) -> ort.InferenceSession:
    """slots_bench's session options (CPU, `threads` intra-op, inter-op 1, no spinning)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def check(runs: dict, loads: dict, vocabulary) -> None:
    """Exits unless every exact lookup gives NumPy's ids (padding as "other") on every call."""
    for load in loads.values():
        for i, words in enumerate(load.words):
            numpy_ids = word_ids(words, vocabulary, True)
            numpy_ids = np.where(numpy_ids == PADDING, len(vocabulary), numpy_ids)
            for name in EXACT:
                if not np.array_equal(runs[name](load, i), numpy_ids):
                    raise SystemExit(f"{name} differs from NumPy's word ids on {load.name} call {i}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 15")
    args = parser.parse_args(argv)
    plan = slots_bench.QUICK if args.quick else slots_bench.FULL
    case = slots_bench.load_case("atis")
    loads = slots_bench.workloads(case)
    models = {name: lookup_model(lookup, case.vocabulary) for name, lookup in LOOKUPS.items()}
    busy = background_busy()
    visit = np.random.default_rng(0)
    rows = []
    for threads in (1, 2):
        sessions = {name: session(model, threads) for name, model in models.items()}
        runs = {name: (lambda load, i, s=s: s.run(None, {"words": load.words[i]})[0]) for name, s in sessions.items()}
        check(runs, loads, case.vocabulary)
        for load in loads.values():
            samples: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(plan.infer_rounds):
                for name in visit.permutation(list(runs)):
                    samples[name] += slots_bench.timed_turn(runs[name], load, plan)
            us = {name: statistics.median(v) * 1e6 for name, v in samples.items()}
            rows.append((threads, load.name[1:], us))
    print(f"onnxruntime {ort.__version__}; data {case.data}{' (' + case.note + ')' if case.note else ''}; "
          f"{len(case.vocabulary)} words; CPU busy before start {slots_bench.percent(busy)}; median of {plan.infer_rounds} "
          "shuffled rounds.\n\nMicroseconds per call of the word lookup alone.\n")
    print("| threads | batch | specc | characters | one-lookup | characters / specc |")
    print("|---:|---:|---:|---:|---:|---:|")
    for threads, batch, us in rows:
        print(f"| {threads} | {batch} | {us['specc']:,.1f} | {us['characters']:,.1f} | {us['one-lookup']:,.1f} | "
              f"**{us['characters'] / us['specc']:.2f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
