"""bench/scale_images.py's twins: its hand-written NumPy step and its torch modules hold specc's
weights and compute specc's loss and gradients (first losses for torch); the activation bound is
the sum the docstring defines; the goals are read from the rows."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from bench import scale_images as bench  # noqa: E402
from bench import train_bench  # noqa: E402


@pytest.mark.parametrize("name", ["digits", "digits_bn", "16x16_f16_bn"])
def test_hand_written_step_gives_specc_loss_and_gradients(name):
    check = bench.check_hand_step(bench.make_row(name))  # exits beyond 1e-5
    assert check["max_relative_diff"] <= bench.HAND_TOLERANCE


def test_residual_row_has_no_hand_written_step():
    case = bench.make_row("digits_residual")
    assert bench.check_hand_step(case) is None
    assert set(bench.row_trainers(case)) == {"specc", "torch"}


@pytest.mark.parametrize("name", ["digits", "digits_residual", "16x16_f16_bn"])
def test_torch_trains_to_specc_first_losses(name):
    case = bench.make_row(name)
    agreement = train_bench.check_agreement(case, bench.row_trainers(case))  # exits beyond 1e-4
    assert agreement["max_relative_diff"] <= train_bench.AGREEMENT_TOLERANCE


def test_activation_bound_of_the_digits_network():
    """1x8x8 input (the conv's), 16x4x4 pool winners and relu outputs (max and relu commute; the
    relu's output is the dense layer's input), 10 logits; float32, batch 64."""
    per_sample = 1 * 8 * 8 + 16 * 4 * 4 + 16 * 4 * 4 + 10
    assert bench.activation_bound(bench.make_row("digits")) == per_sample * 4 * train_bench.BATCH


def test_goals_read_from_the_rows():
    def row(vs_torch: float, vs_numpy: float | None) -> dict:
        return {"speed": {1: {"vs_torch": vs_torch, "vs_numpy": vs_numpy}}}

    results = {"rows": {"digits": row(3.9, 2.0), "digits_residual": row(0.5, None), "16x16_f16": row(1.1, 0.8)}}
    found = {t["target"]: t["pass"] for t in bench.targets(results)}
    assert found == {"digits, 1 thread(s): specc / torch": False,
                     "digits, 1 thread(s): specc / hand-written NumPy": True,
                     "digits_residual, 1 thread(s): specc / torch": False,
                     "16x16_f16, 1 thread(s): specc / torch": True,
                     "16x16_f16, 1 thread(s): specc / hand-written NumPy": False}
