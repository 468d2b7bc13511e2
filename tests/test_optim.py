"""Optimizers, schedules and clipping against torch.optim and torch.nn.utils on the same values."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from specc.runtime.optim import clip_by_global_norm, make_optimizer, scheduled_lr
from specc.training import TrainSettings

torch = pytest.importorskip("torch")

TORCH_OPTIMIZERS = {
    "sgd": lambda params, s: torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay),
    "adam": lambda params, s: torch.optim.Adam(params, lr=s.lr, betas=(s.beta1, s.beta2), eps=s.eps,
                                               weight_decay=s.weight_decay),
}


@pytest.mark.parametrize("settings", [
    TrainSettings(optimizer="sgd", lr=0.1, momentum=0.0),
    TrainSettings(optimizer="sgd", lr=0.05, momentum=0.9),
    TrainSettings(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=0.01),
    TrainSettings(optimizer="adam", lr=0.01),
    TrainSettings(optimizer="adam", lr=0.003, beta1=0.8, beta2=0.99, weight_decay=0.001),
], ids=["sgd", "momentum", "momentum+decay", "adam", "adam+decay"])
def test_five_steps_match_torch_optim(settings, rng):
    weights = {"a": rng.standard_normal((3, 4)).astype(np.float32), "b": rng.standard_normal(4).astype(np.float32)}
    params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in weights.items()}
    ours, theirs = make_optimizer(settings), TORCH_OPTIMIZERS[settings.optimizer](list(params.values()), settings)
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in weights.items()}
        ours.step(weights, grads, settings.lr)
        for k, p in params.items():
            p.grad = torch.tensor(grads[k])
        theirs.step()
    for k in weights:
        np.testing.assert_allclose(weights[k], params[k].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_schedules():
    base = TrainSettings(lr=0.1, epochs=10)
    assert [scheduled_lr(base, e) for e in (0, 9)] == [0.1, 0.1]
    step = dataclasses.replace(base, schedule="step", every=3, gamma=0.5)
    assert [scheduled_lr(step, e) for e in (0, 2, 3, 6, 9)] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125])
    cosine = dataclasses.replace(base, schedule="cosine")
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    expected = []
    for _ in range(10):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert [scheduled_lr(cosine, e) for e in range(10)] == pytest.approx(expected)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clipping_matches_torch(max_norm, rng):
    grads = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in (("a", (3, 4)), ("b", (5,)))}
    tensors = [torch.zeros(g.shape, requires_grad=True) for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g.copy())
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    norm = clip_by_global_norm(grads, max_norm)
    assert norm == pytest.approx(float(expected_norm), rel=1e-5)
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-5)
