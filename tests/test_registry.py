"""Every layer kind is declared with every part: its front-end file (signature, typed attributes,
shape rule), its NumPy kernel (forward and backward) and its ONNX lowering; and the flags both
back ends rely on are declared once, on the kind's typed attributes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import specc
import specc.layers
import specc.lowering
import specc.runtime.kernels
from specc.ir import LayerAttrs
from specc.layers import REGISTRY, LayerKind
from specc.lowering import LOWERINGS
from specc.runtime.kernels import KERNELS, Kernel

FOLDERS = {side: Path(package.__file__).parent for side, package in
           (("layers", specc.layers), ("lowering", specc.lowering), ("kernels", specc.runtime.kernels))}
EXPECTED_KINDS = {"conv", "maxpool", "avgpool", "flatten", "dense", "relu", "sigmoid", "tanh", "softmax",
                  "linear", "rnn", "last", "dropout", "onehot", "wordhash", "window", "add", "concat", "multiply",
                  "globalpool", "batchnorm", "crf"}
FLAGS = ("reads_one_hot", "reads_padding", "each_step", "takes_mask", "random", "reads_operands", "output_head")
# the kinds for which each flag holds; every other kind has it False
FLAGGED = {
    "reads_one_hot": {"dense", "rnn"},
    "reads_padding": {"window"},
    "each_step": {"dense", "dropout", "relu", "sigmoid", "tanh", "linear", "softmax", "batchnorm"},
    "takes_mask": {"rnn", "last", "batchnorm", "crf"},
    "random": {"dropout"},
    "reads_operands": {"add", "concat", "multiply"},
    "output_head": {"crf"},
}
# a spec line per kind, so that its shape rule runs and its attributes can be checked
EXAMPLES = {
    "conv": ("1x6x6", "conv 3x3 filters=2"), "maxpool": ("1x6x6", "maxpool 2"), "avgpool": ("1x6x6", "avgpool 2"),
    "flatten": ("1x6x6", "flatten"), "dense": ("4", "dense 3"), "dropout": ("4", "dropout 0.5"),
    "rnn": ("seq 4", "rnn elman 3"), "last": ("seq 4", "last"), "window": ("seq 4", "window 3"),
    "onehot": ("seq token", "onehot vocab=[a, b]"), "wordhash": ("seq token", 'wordhash vocab=["#ab"]'),
    "globalpool": ("1x6x6", "globalpool max"), "batchnorm": ("seq 4", "batchnorm momentum=0.2"),
    # an output head ends a chain at a classifier output: the example declares one
    "crf": ("seq token\noutput y: A | B", "onehot vocab=[a, b] -> dense -> crf -> y"),
    "add": ("4", "add x"), "concat": ("4", "concat x"), "multiply": ("4", "multiply x"),
    **{name: ("4", name) for name in ("relu", "sigmoid", "tanh", "linear", "softmax")},
}


def test_the_issue_s_kinds_are_all_registered():
    assert EXPECTED_KINDS == set(REGISTRY) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_kind_has_every_part(name):
    kind = REGISTRY[name]
    assert kind.name == name and kind.doc
    assert type(kind).infer is not LayerKind.infer, "shape rule"
    assert all(arg.doc for arg in kind.signature), "every argument documented"
    assert issubclass(kind.attrs_type, LayerAttrs) and kind.attrs_type is not LayerAttrs, "typed attributes"
    assert kind.attrs_type.__dataclass_params__.frozen, "typed attributes are frozen"
    file = Path(type(kind).__module__.replace(".", "/") + ".py").name
    assert (FOLDERS["layers"] / file).is_file(), "front-end file"
    assert (FOLDERS["lowering"] / file).is_file() and LOWERINGS[name].__module__ == f"specc.lowering.{file[:-3]}", \
        "ONNX lowering, in the file named like the kind's"
    assert name in KERNELS, "NumPy kernel"
    assert type(KERNELS[name]).__module__ == f"specc.runtime.kernels.{file[:-3]}", "kernel in the file named like the kind's"
    assert type(KERNELS[name]).forward is not Kernel.forward, "NumPy forward"
    assert type(KERNELS[name]).backward is not Kernel.backward, "NumPy backward"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_shape_rule_gives_the_kind_s_typed_attributes(name):
    form, call = EXAMPLES[name]
    bind = "x = i -> linear\nx -> " if REGISTRY[name].attrs_type.reads_operands else "i -> "
    layer = specc.loads(f"input i: {form}\n{bind}{call}", "f.nn").model.layers[-1]
    assert layer.kind == name and type(layer.attrs) is REGISTRY[name].attrs_type
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.attrs.extra = 1


@pytest.mark.parametrize("flag", FLAGS)
def test_flags_both_back_ends_read_are_declared_once_on_the_attributes(flag):
    assert {name for name, kind in REGISTRY.items() if getattr(kind.attrs_type, flag)} == FLAGGED[flag]
    # nothing declares them a second time: not the front-end kinds, not the kernels
    assert not any(hasattr(kind, flag) for kind in REGISTRY.values())
    assert not any(hasattr(kernel, flag) for kernel in KERNELS.values())


def test_every_part_has_a_kind():
    assert set(KERNELS) == set(LOWERINGS) == set(REGISTRY)
    files = {side: {p.stem for p in folder.glob("*.py")} - {"__init__", "base"} for side, folder in FOLDERS.items()}
    # besides the kinds' files: the pools' and conv's geometry, the fused conv+maxpool, one-hot rows
    assert files["layers"] - {"geometry"} == files["lowering"] == files["kernels"] - {"fused", "sparse"}


def test_every_package_of_the_three_sides_is_installed():
    """A wheel holds only the packages pyproject lists: a kinds' folder left out would install a
    specc without its kernels or lowerings."""
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert {"specc.layers", "specc.lowering", "specc.runtime.kernels"} <= set(pyproject["tool"]["setuptools"]["packages"])
