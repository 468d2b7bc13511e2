"""`specc demo`: the lecture's worked examples (seed-examples §2 and §4) run through the NumPy
interpreter and the exported ONNX model, each checked against the lecture's numbers."""
from __future__ import annotations

import numpy as np

LECTURE_IMAGE = np.array([
    [1, 0, 0, 0, 0, 1],
    [0, 1, 0, 0, 1, 0],
    [0, 0, 1, 1, 0, 0],
    [1, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 1, 0],
    [0, 0, 1, 0, 1, 0]], dtype=np.float32)

# (spec, input name, input, output name, the lecture's numbers)
EXAMPLES = [
    ("seed_conv", "image", LECTURE_IMAGE, "maps", np.array([
        [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]],
        [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]])),
    ("seed_pool", "image", LECTURE_IMAGE, "pooled", np.array([
        [[3, 0], [3, 1]],
        [[-1, 1], [0, 3]]])),
    ("memory", "x", np.array([[1, 1], [1, 1], [2, 2]]), "y", np.array([[4, 4], [12, 12], [32, 32]])),
    ("memory", "x", np.array([[2, 2], [1, 1], [1, 1]]), "y", np.array([[8, 8], [20, 20], [44, 44]])),
]


def run_demo(quiet: bool = False) -> bool:
    """Run every example through both back ends; print each result; True if all match."""
    import tempfile
    from pathlib import Path

    from specc.specs import spec_path

    from .api import load, load_onnx
    from .display import format_array

    all_match = True
    with tempfile.TemporaryDirectory() as folder:
        for spec, input_name, value, output_name, expected in EXAMPLES:
            net = load(spec_path(spec))
            report = net.export(Path(folder) / f"{spec}.onnx")
            results = {"numpy": net.run({input_name: value})[output_name][0],
                       "onnxruntime": load_onnx(report.path).run({input_name: value})[output_name][0]}
            for backend, got in results.items():
                match = got.shape == expected.shape and np.array_equal(got, expected)
                all_match &= match
                if not quiet or not match:
                    print(f"{spec} ({backend}): {input_name} = {format_array(np.asarray(value)).replace(chr(10), ' ')}")
                    print(format_array(got))
                    print("  matches the lecture" if match else f"  DIFFERS from the lecture:\n{format_array(expected)}")
    print("all lecture examples match in NumPy and onnxruntime" if all_match else "some examples differ")
    return all_match
