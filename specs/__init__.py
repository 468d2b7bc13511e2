"""The example specs, shipped with the package so that `specc demo` finds them anywhere."""
from importlib.resources import files
from pathlib import Path


def spec_path(name: str) -> Path:
    """Path of the example spec `name` (without .nn)."""
    return Path(str(files(__name__).joinpath(f"{name}.nn")))
