"""Every layer kind is declared with every part: signature, shape rule, lowering, NumPy forward
and backward."""
from __future__ import annotations

import pytest

from specc.runtime.kernels import KERNELS, Kernel
from specc.layers import REGISTRY, LayerKind

EXPECTED_KINDS = {"conv", "maxpool", "avgpool", "flatten", "dense", "relu", "sigmoid", "tanh", "softmax",
                  "linear", "rnn", "last"}


def test_the_issue_s_kinds_are_all_registered():
    assert EXPECTED_KINDS <= set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_kind_has_every_part(name):
    kind = REGISTRY[name]
    assert kind.name == name and kind.doc
    assert type(kind).infer is not LayerKind.infer, "shape rule"
    assert type(kind).lower is not LayerKind.lower, "ONNX lowering"
    assert all(arg.doc for arg in kind.signature), "every argument documented"
    assert name in KERNELS, "NumPy kernel"
    assert type(KERNELS[name]).forward is not Kernel.forward, "NumPy forward"
    assert type(KERNELS[name]).backward is not Kernel.backward, "NumPy backward"


def test_no_kernel_without_a_kind():
    assert set(KERNELS) <= set(REGISTRY)
