"""Optimizers, learning-rate schedules and gradient clipping, updating float32 weights in place.

The update rules are PyTorch's, so a run can be checked step for step against torch.optim:
  sgd:  g = grad + wd*w;  v = momentum*v + g;  w -= lr*v
  adam: g = grad + wd*w;  m = b1*m + (1-b1)*g;  s = b2*s + (1-b2)*g^2;
        w -= lr * (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps)
Every piece of state is a named array, so checkpoints store it without pickle.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np


def scheduled_lr(settings, epoch: int) -> float:
    """Learning rate for a 0-based epoch: constant, step (times gamma every `every` epochs), or
    cosine (from lr down to 0 over the run)."""
    if settings.schedule == "step":
        return settings.lr * settings.gamma ** (epoch // settings.every)
    if settings.schedule == "cosine":
        return settings.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / settings.epochs))
    return settings.lr


def clip_by_global_norm(grads: Mapping[str, np.ndarray], max_norm: float | None) -> float:
    """Scale every gradient in place so that their joint L2 norm is at most `max_norm`.

    Returns the norm before clipping (as torch.nn.utils.clip_grad_norm_ does).
    """
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if max_norm is not None and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


class Optimizer:
    """Base: `state` holds named arrays (and the step count) that a checkpoint saves, keyed
    `<slot>/<weight name>` with a slot of `slots`."""

    slots: tuple[str, ...] = ()

    def __init__(self, settings):
        self.settings = settings
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0

    def _slot(self, kind: str, name: str, like: np.ndarray) -> np.ndarray:
        key = f"{kind}/{name}"
        if key not in self.state:
            self.state[key] = np.zeros_like(like)
        return self.state[key]

    def step(self, weights: dict[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: float) -> None:
        """Update every weight in place from its gradient."""
        self.steps += 1
        decay = self.settings.weight_decay
        for name, grad in grads.items():
            w = weights[name]
            g = grad + decay * w if decay else grad
            self.update(name, w, g, lr)

    def update(self, name: str, w: np.ndarray, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    slots = ("velocity",)

    def update(self, name, w, g, lr):
        if self.settings.momentum:
            velocity = self._slot("velocity", name, w)
            velocity *= self.settings.momentum
            velocity += g
            g = velocity
        w -= lr * g


class Adam(Optimizer):
    slots = ("m", "v")

    def update(self, name, w, g, lr):
        s = self.settings
        m, v = self._slot("m", name, w), self._slot("v", name, w)
        m *= s.beta1
        m += (1 - s.beta1) * g
        v *= s.beta2
        scratch = np.multiply(g, g, dtype=w.dtype)
        scratch *= 1 - s.beta2
        v += scratch
        # the bias corrections are scalars: applied to sqrt(v) and the step size, not to copies
        # of m and v, so the update needs one scratch array (a fifth of a step's time otherwise)
        np.sqrt(v, out=scratch)
        scratch *= 1 / math.sqrt(1 - s.beta2 ** self.steps)
        scratch += s.eps
        np.divide(m, scratch, out=scratch)
        scratch *= lr / (1 - s.beta1 ** self.steps)
        w -= scratch


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(settings) -> Optimizer:
    """The optimizer named by settings.optimizer."""
    return OPTIMIZERS[settings.optimizer](settings)
