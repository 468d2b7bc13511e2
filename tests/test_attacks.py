"""The hand-made attacks of issue 8, swept through the command line in one table.

Each attack is a spec, data or model file and a command. Every one must end with the exit status
a user is promised (2 for a mistake in what was handed in), within seconds, with a message that
names its place (`file.nn:LINE:COL:` for a spec, the file's name otherwise) and never reaches
the CLI's catch-all for internal errors (no exception name, no traceback, no "bug in specc").
The features behind each line have their own, closer tests; this sweep keeps them all in view.
"""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from specc.specs import spec_path
from tests.spec_fuzzer import problem, run_cli

NEURON = spec_path("neuron")


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _literal(rows: int, columns: int) -> str:
    return "[" + ", ".join("[" + ", ".join(["0.5"] * columns) + "]" for _ in range(rows)) + "]"


# (name, spec text or None, the command after `specc`, exit status, what stderr must hold)
# In the command, SPEC is the attack's spec file, DIR the test's folder.
ATTACKS = [
    ("rnn with ten billion layers", "input x: seq 2\nx -> rnn elman hidden=1 layers=10000000000\n",
     ["check", "SPEC"], 2, r"SPEC:2:"),
    ("a window wider than any sentence", "input x: seq 2\nx -> window 99999999\n",
     ["run", "SPEC", "--input", "x=DIR/seq.json"], None, r""),
    ("activations that do not fit", "input x: 1x100000x100000\nx -> conv 3x3 -> relu\n",
     ["check", "SPEC"], 2, r"SPEC:\d+:\d+: .*GiB"),
    ("weights past the 2 GB protobuf limit", "input x: 1000\nx -> dense 600000\n",
     ["check", "SPEC"], 2, r"SPEC:2:\d+: .*(GiB|GB)"),
    ("a 300x300 literal", f"input x: 300\nx -> dense 300 weights={_literal(300, 300)}\n",
     ["check", "SPEC"], 0, r""),
    ("a literal nested 400 deep", f"input x: 3\nx -> dense 2 bias={_nested(400)}\n",
     ["check", "SPEC"], 2, r"SPEC:2:\d+: "),
    ("a UTF-8 byte-order mark", "\ufeffinput x: 3\nx -> dense 2\n", ["check", "SPEC"], 0, r""),
    ("a line separator in a comment", "# one\u2028two\ninput x: 3\nx -> dense 2 -> relu relu\n",
     ["check", "SPEC"], 2, r"SPEC:3:\d+: .*\n\s+3 \| x -> dense 2 -> relu relu"),
    ("a form feed in a comment", "# one\x0ctwo\ninput x: 3\nx -> dense 2 -> relu relu\n",
     ["check", "SPEC"], 2, r"SPEC:3:\d+: .*\n\s+3 \| x -> dense 2 -> relu relu"),
    ("seed -1 in the train section", "input x: 3\noutput y: A | B\nx -> dense -> softmax\ntrain\n  seed -1\n",
     ["check", "SPEC"], 2, r"SPEC:5:\d+: "),
    ("compile --seed -1", None, ["compile", str(NEURON), "--seed", "-1", "-o", "DIR/n.onnx"], 2, r"seed"),
    ("an undeclared output at a chain's end", "input x: 3\nx -> dense 2 -> y\n",
     ["check", "SPEC"], 2, r"SPEC:2:\d+: .*\by\b[\s\S]*output y"),
    ("epochs ten", "input x: 3\noutput y: A | B\nx -> dense -> softmax\ntrain\n  epochs ten\n",
     ["check", "SPEC"], 2, r"SPEC:5:\d+: "),
    ("momentum for adam", "input x: 3\noutput y: A | B\nx -> dense -> softmax\ntrain\n  optimizer adam momentum=0.9\n",
     ["check", "SPEC"], 2, r"SPEC:5:\d+: .*momentum"),
    ("JSON nested 100,000 deep", None, ["run", str(NEURON), "--input", "x=DIR/deep.json"], 2, r"deep\.json"),
    ("a JSON object as input", None, ["run", str(NEURON), "--input", "x=DIR/object.json"], 2, r"object\.json"),
    ("a complex input", None, ["run", str(NEURON), "--input", "x=DIR/complex.npy"], 2, r"complex"),
    ("a NaN input", None, ["run", str(NEURON), "--input", "x=DIR/nan.npy"], 2, r"nan\.npy|NaN|not finite"),
    ("/dev/null as an input", None, ["run", str(NEURON), "--input", "x=/dev/null"], 2, r"/dev/null"),
    ("a text file as an input", None, ["run", str(NEURON), "--input", "x=DIR/notes.txt"], 2, r"notes\.txt"),
    ("a FIFO as training data", None, ["train", str(NEURON), "--data", "DIR/data.csv", "--out", "DIR/run"], 2,
     r"data\.csv is a FIFO"),
    ("a FIFO as a model", None, ["run", "DIR/model.onnx", "--input", "x=DIR/x.npy"], 2, r"model\.onnx is a FIFO"),
    ("a folder as a model", None, ["run", "DIR/folder.onnx", "--input", "x=DIR/x.npy"], 2, r"folder\.onnx is a directory"),
    ("a truncated checkpoint", None, ["run", str(NEURON), "--weights", "DIR/truncated.npz", "--input", "x=DIR/x.npy"],
     2, r"truncated\.npz"),
    ("-o onto a directory", None, ["compile", str(NEURON), "-o", "DIR/folder"], 2, r"folder"),
    ("-o onto a FIFO", None, ["compile", str(NEURON), "-o", "DIR/fifo"], 2, r"fifo"),
    ("run --output onto a directory", None, ["run", str(NEURON), "--input", "x=DIR/x.npy", "--output", "DIR/folder"],
     2, r"folder"),
]


@pytest.fixture
def attack_folder(tmp_path):
    """The files the attacks hand in: inputs, a broken checkpoint, a folder and a FIFO."""
    (tmp_path / "notes.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "seq.json").write_text(json.dumps([[1.0, 2.0], [3.0, 4.0]]))
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "object.json").write_text(json.dumps({"x": [1, 2, 3]}))
    np.save(tmp_path / "complex.npy", np.array([1 + 2j, 0, 1]))
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan, np.inf], dtype=np.float32))
    np.save(tmp_path / "x.npy", np.array([1.0, 2.0, 3.0], dtype=np.float32))
    (tmp_path / "truncated.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.mkfifo(tmp_path / "data.csv")
    os.mkfifo(tmp_path / "model.onnx")
    (tmp_path / "folder.onnx").mkdir()
    return tmp_path


@pytest.mark.parametrize("name, text, command, status, message", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_gets_a_clean_answer(attack_folder, name, text, command, status, message):
    spec = attack_folder / "attack.nn"
    if text is not None:
        spec.write_text(text, encoding="utf-8")
    argv = [arg.replace("SPEC", str(spec)).replace("DIR", str(attack_folder)) for arg in command]
    got, _, stderr = run_cli(argv, 30)
    allowed = (0, 2) if status is None else (status,)
    assert problem(str(spec), text or "", got, stderr, allowed) is None, stderr
    pattern = message.replace("SPEC", re.escape(str(spec)))
    assert re.search(pattern, stderr), stderr
    assert stat.S_ISFIFO((attack_folder / "fifo").stat().st_mode) and (attack_folder / "folder").is_dir()


def test_a_device_node_is_never_replaced(tmp_path):
    """As root, `-o /dev/full` once replaced the device with a regular file. The test makes
    its own node (a copy of /dev/full's numbers) so that a regression cannot harm the machine."""
    device = tmp_path / "full"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except (PermissionError, OSError):
        pytest.skip("making a device node needs root")
    got, _, stderr = run_cli(["compile", str(NEURON), "-o", str(device)], 30)
    assert got == 2 and str(device) in stderr, stderr
    assert stat.S_ISCHR(device.lstat().st_mode)
