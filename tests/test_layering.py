"""The code imports one way down (issue 9): every `import` and `from ... import` statement of
every module under specc/, runtime/ and grammar/ (those inside functions too) is read with ast
and checked against the layers below. README.md ("Layout of the code") draws them.

    CLI          specc.cli                       nothing imports it
    API          specc.api, feed, verify, ...    may import everything below
    back ends    NumPy (specc.runtime.*) | ONNX (onnx_export, onnx_words, onnx_trigrams, onnx_check,
                 lowering.*), beside each other: neither imports the other, nor the front end
    front end    grammar, parse, build, layers, training, tables, ...: imports no back end
    core         errors, ir, shapes, atomic, npy, memory, lowercase, identity, trigrams: imports nothing above
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the repository's folders and the names they are installed under (pyproject's package-dir)
FOLDERS = {"specc": "specc", "runtime": "specc.runtime", "grammar": "specc.grammar"}
# the first names an import of ours may start with: specc, or a folder by its repository name
OURS = ("specc", "runtime", "grammar", "specs")

CORE, FRONT, NUMPY, ONNX, API, CLI = "core", "front end", "NumPy back end", "ONNX back end", "API", "CLI"
HEIGHT = {CORE: 0, FRONT: 1, NUMPY: 2, ONNX: 2, API: 3, CLI: 4}

MODULES = {
    "specc.errors": CORE, "specc.ir": CORE, "specc.shapes": CORE, "specc.atomic": CORE, "specc.npy": CORE, "specc.memory": CORE,
    "specc.lowercase": CORE, "specc.identity": CORE, "specc.trigrams": CORE,
    "specc.grammar": FRONT, "specc.parse": FRONT, "specc.lists": FRONT, "specc.syntax": FRONT,
    "specc.signature": FRONT, "specc.build": FRONT, "specc.training": FRONT, "specc.vocabulary": FRONT,
    "specc.tables": FRONT, "specc.summary": FRONT, "specc.budget": FRONT, "specc.weights": FRONT,
    "specc.onnx_export": ONNX, "specc.onnx_words": ONNX, "specc.onnx_check": ONNX, "specc.onnx_trigrams": ONNX,
    "specc.portable": ONNX,  # a portable model's metadata and word ids, read by the API's OnnxNetwork
    "specc": API, "specc.api": API, "specc.prepare": API, "specc.feed": API, "specc.verify": API,
    "specc.run_folder": API, "specc.resume": API, "specc.run_lock": API, "specc.demo": API, "specc.display": API,
    "specc.specs": API,  # the example specs: data that `specc demo` runs
    "specc.serve": API,  # deployment: the Open Inference Protocol server
    "specc.batching": API,  # deployment: the server's dynamic batching
    "specc.triton": API,  # deployment: Triton model repositories
    "specc.predict": API,  # deployment: batch scoring
    "specc.serve_ray": API,  # deployment: the server as a Ray Serve deployment of replicas
    "specc.predict_ray": API,  # deployment: batch scoring by Ray Data workers
    "specc.ray_cluster": API,  # deployment: the Ray cluster that serve_ray and predict_ray run on
    "specc.quantize": API,  # deployment: int8 models, checked on held-out data
    "specc.show": API, "specc.pictures": API,  # specc show: pictures of a network, from the interpreter's values
    "specc.play": API,  # specc play: a page on the deploy server, showing the interpreter's values as the user draws
    "specc.cli": CLI,
}
# every module in these packages belongs to the package's layer
PACKAGES = {"specc.layers": FRONT, "specc.runtime": NUMPY, "specc.lowering": ONNX}


def module_name(path: Path) -> str:
    """The installed name of the module in `path` (runtime/data/files.py -> specc.runtime.data.files)."""
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [FOLDERS[folder], *rest]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_files() -> list[Path]:
    """Every Python file of the installed packages, sorted."""
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


KNOWN = {module_name(p) for p in our_files()}


def layer_of(module: str) -> str | None:
    """The layer of `module`, or None if the tables above do not place it."""
    if module in MODULES:
        return MODULES[module]
    return next((layer for package, layer in PACKAGES.items()
                 if module == package or module.startswith(package + ".")), None)


def imports(source: str, importer: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every module of ours that the module `importer` (its text `source`)
    imports, relative imports resolved. `from package import name` imports the module
    package.name when there is one."""
    package = importer if is_package else importer.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found += [(node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in KNOWN else base)
                      for alias in node.names]
    return sorted({(line, name) for line, name in found if name.split(".")[0] in OURS})


def wrong_way(importer: str, imported: str) -> str | None:
    """Why the arrow importer -> imported goes the wrong way, or None if it may be drawn."""
    upper, lower = layer_of(importer), layer_of(imported)
    if upper == lower:
        return None
    if lower == CLI:
        return "nothing imports the CLI"
    if upper == CORE:
        return f"the core imports nothing above it (here the {lower})"
    if {upper, lower} == {NUMPY, ONNX}:
        return "the NumPy and ONNX back ends do not import each other"
    if upper in (NUMPY, ONNX) and lower == FRONT:
        return f"the {upper} does not import the front end"
    if upper == FRONT and lower in (NUMPY, ONNX):
        return f"the front end does not import the {lower}"
    if HEIGHT[lower] > HEIGHT[upper]:
        return f"the {upper} does not import the {lower} above it"
    return None


def arrows() -> list[tuple[str, int, str, str]]:
    """(file, line, importer, imported) for every import of ours in the code."""
    return [(str(path.relative_to(ROOT)), line, module_name(path), imported) for path in our_files()
            for line, imported in imports(path.read_text(encoding="utf-8"), module_name(path),
                                          is_package=path.name == "__init__.py")]


def test_every_module_has_a_layer():
    unplaced = sorted({m for m in KNOWN if layer_of(m) is None}
                      | {imported for *_, imported in arrows() if layer_of(imported) is None})
    assert not unplaced, f"place these modules in MODULES or PACKAGES of tests/test_layering.py: {unplaced}"


def test_nothing_imports_the_folders_by_their_repository_names():
    # installed, runtime/ grammar/ specs/ exist only as specc.runtime, specc.grammar, specc.specs
    assert imports("import runtime.interpreter\nfrom specs import spec_path\n", "specc.demo") == [
        (1, "runtime.interpreter"), (2, "specs")]
    bare = [f"{file}:{line}: imports {imported}" for file, line, _, imported in arrows()
            if imported.split(".")[0] != "specc"]
    assert not bare, "\n".join(bare)


def test_every_import_goes_one_way_down():
    wrong = [f"{file}:{line}: {importer} ({layer_of(importer)}) -> {imported} ({layer_of(imported)}): {why}"
             for file, line, importer, imported in arrows()
             if (why := wrong_way(importer, imported))]
    assert not wrong, "imports that go the wrong way:\n" + "\n".join(wrong)


@pytest.mark.parametrize("importer, imported, why", [
    ("specc.runtime.checkpoint", "specc.tables", "the NumPy back end does not import the front end"),
    ("specc.onnx_export", "specc.runtime.interpreter", "the NumPy and ONNX back ends do not import each other"),
    ("specc.runtime.train", "specc.onnx_words", "the NumPy and ONNX back ends do not import each other"),
    ("specc.tables", "specc.runtime.data", "the front end does not import the NumPy back end"),
    ("specc.layers.base", "specc.lowering.conv", "the front end does not import the ONNX back end"),
    ("specc.demo", "specc.cli", "nothing imports the CLI"),
    ("specc.errors", "specc.layers.base", "the core imports nothing above it (here the front end)"),
    ("specc.parse", "specc.api", "the front end does not import the API above it"),
    ("specc.api", "specc.runtime.train", None),
    ("specc.runtime.kernels.onehot", "specc.lowercase", None),
    ("specc.build", "specc.layers", None),
    ("specc.cli", "specc.api", None),
])
def test_the_rules_name_each_wrong_arrow(importer, imported, why):
    assert wrong_way(importer, imported) == why


def test_imports_are_read_inside_functions_and_relative_ones_resolved():
    source = ("import os\nfrom . import files\nfrom .. import interpreter\n"
              "def load():\n    from specc.errors import SpecError\n    import specc.runtime.kernels.conv\n"
              "from ...errors import Coord\nfrom specc.runtime.kernels import fused, KERNELS\n")
    assert imports(source, "specc.runtime.data.digits") == [
        (2, "specc.runtime.data.files"), (3, "specc.runtime.interpreter"), (5, "specc.errors"),
        (6, "specc.runtime.kernels.conv"), (7, "specc.errors"), (8, "specc.runtime.kernels"),
        (8, "specc.runtime.kernels.fused")]
    assert imports("from . import api\nfrom .errors import SpecError\n", "specc", is_package=True) == [
        (1, "specc.api"), (2, "specc.errors")]
