"""bench/scale_sequences.py's twins: torch's taggers (its hand-written Jordan loop included) hold
specc's weights and train to the same first losses, on fixed-length and padded sentences; and the
goal and crossover are read from the rows as the docstring says."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")  # bench/slots_bench.py imports it

from bench import scale_sequences as bench  # noqa: E402
from bench import slots_bench  # noqa: E402


@pytest.mark.parametrize("row", [bench.Row("elman", 16, 6), bench.Row("jordan", 16, 6), bench.Row("lstm", 16, 6),
                                 bench.Row("gru", 16, 6), bench.Row("lstm", 16, 8, 3)], ids=lambda row: row.name)
def test_first_losses_agree(row, tmp_path):
    case = bench.load_row(row, tmp_path)
    agreement = slots_bench.check_training_agreement(case, bench.torch_trainer_for(row))  # exits beyond 1e-4
    assert agreement["max_relative_diff"] <= slots_bench.AGREEMENT_TOLERANCE


def test_sentences_have_the_rows_lengths(tmp_path):
    fixed = bench.data_file(tmp_path, 7, None).read_text().splitlines()
    padded = bench.data_file(tmp_path, 9, 4).read_text().splitlines()
    assert len(fixed) == len(padded) == bench.SENTENCES
    assert {len(line.split()) for line in fixed} == {7}
    assert {len(line.split()) for line in padded} <= set(range(4, 10)) and len({len(line.split()) for line in padded}) > 1


def entry(cell: str, hidden: int, ratios: dict, low: int | None = None) -> dict:
    row = bench.Row(cell, hidden, 40, low)
    return {"row": {"cell": cell, "hidden": hidden, "length": 40, "low": low}, "name": row.name,
            "training": [{"threads": n, "ratio": r} for n, r in ratios.items()]}


def test_goal_takes_the_lowest_fixed_length_ratio_at_hidden_64_to_128():
    rows = [entry("lstm", 64, {1: 3.0, 2: 2.6}), entry("lstm", 128, {1: 2.4, 2: 2.7}),
            entry("lstm", 256, {1: 0.8, 2: 1.2}), entry("lstm", 128, {1: 0.5, 2: 0.5}, low=10)]
    found = {row["target"]: (row["value"], row["pass"]) for row in bench.targets(rows)}
    assert found == {"lstm, hidden 64-128, 1 thread(s): lowest specc / torch words/s": (2.4, False),
                     "lstm, hidden 64-128, 2 thread(s): lowest specc / torch words/s": (2.6, True)}
    assert bench.crossover(rows) == ["lstm h256 T40 at 1 thread(s) (0.80x)", "lstm h128 T10-40 at 1 thread(s) (0.50x)",
                                     "lstm h128 T10-40 at 2 thread(s) (0.50x)"]


@pytest.mark.parametrize("cell", bench.CELLS)
def test_the_limits_products_are_the_ones_specc_counts(cell, tmp_path):
    """product_shapes against runtime/blas_threads.step_products, the trainer's own count."""
    from specc.runtime.blas_threads import step_products

    case = bench.load_row(bench.Row(cell, 16, 6), tmp_path)
    shapes = bench.product_shapes(cell, 16, 6, case.settings.batch, case.classes)
    counted = step_products(case.net.model.layers, case.settings.batch, 6)
    assert sum(n for n, _ in shapes) == sum(n for n, _ in counted)
    assert sum(n * m * k * w for n, (m, k, w) in shapes) == sum(n * macs for n, macs in counted)


@pytest.mark.parametrize("cell", bench.CELLS)
def test_the_interpreter_holds_at_least_the_activation_lower_bound(cell, tmp_path):
    """activation_bound counts, per word, the rnn's input and output, the cell's own values and the
    logits (float32) and an int64 id: what specc's forward keeps for backward can only be more."""
    row = bench.Row(cell, 16, 6)
    case = bench.load_row(row, tmp_path)
    traced = bench.traced_step(case, slots_bench.Batches(case)[0][2])
    values = {"elman": 2, "jordan": 3, "lstm": 7, "gru": 6}[cell] * 16 + case.classes
    assert bench.activation_bound(row, case.classes, traced["words"]) == traced["words"] * (4 * values + 8)
    assert traced["words"] == case.settings.batch * 6
    assert bench.activation_bound(row, case.classes, traced["words"]) <= traced["cached"] <= traced["step_peak"]
