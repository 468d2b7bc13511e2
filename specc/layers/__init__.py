"""The layer kinds, one file each. Importing this package imports every module in it, which
registers every kind in REGISTRY: a new kind's file needs no line here."""
import importlib
import pkgutil

from .base import REGISTRY, Inferred, LayerKind, WeightSpec

for _module in pkgutil.iter_modules(__path__):  # in file name order
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Inferred", "LayerKind", "WeightSpec"]
