"""NumPy kernels, one module per layer kind file in specc/layers/. Importing this package imports
every module in it, which registers the kernels in KERNELS: a new kind's file needs no line here."""
import importlib
import pkgutil

from .base import KERNELS, Kernel

for _module in pkgutil.iter_modules(__path__):  # in file name order
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KERNELS", "Kernel"]
