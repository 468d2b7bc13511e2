"""Sizes are refused before anything is allocated or hangs: `specc check` estimates the weights
and the activations of a spec in Python integers and refuses, at the input or layer where it
stops fitting, what this machine cannot hold, with the sizes in the message (exit 2), in well
under a second and without growing. SPECC_MEMORY_LIMIT stands for the machine's memory, so that
every case is the same on every machine.

Expected numbers are worked out by hand in the comments (float32: 4 bytes a number; sequences
taken as 9 steps, compile's verification batch as 8 samples).
"""
from __future__ import annotations

import resource
import signal
import time
from pathlib import Path

import pytest

from specc.cli import main

SPECS = sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.nn"))
SECONDS = 2.0  # a check of a small spec takes milliseconds; this is a guard against hanging
GROWTH = 50 * 2**20  # bytes by which a check may grow the process, at most


class TooSlow(Exception):
    """Raised by the timer when a check runs past SECONDS."""


def check(tmp_path, capsys, text: str) -> tuple[int, str, str]:
    """`specc check` on `text` in this process, stopped if it runs past SECONDS; asserts that it
    neither took that long nor grew the process's peak memory (resident, pages really used) by
    more than GROWTH. Returns (status, stdout, stderr)."""
    path = tmp_path / "big.nn"
    path.write_text(text)

    def stop(signum, frame):
        raise TooSlow(f"specc check ran past {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, stop)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        status = main(["check", str(path)])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        elapsed = time.perf_counter() - start
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) * 1024  # Linux: KiB
    out, err = capsys.readouterr()
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    assert growth < GROWTH, f"grew by {growth / 2**20:.0f} MiB"
    return status, out, err


def refused(tmp_path, capsys, text: str, at: str, *parts: str) -> str:
    """Check `text`: exit 2, the error at `at` (line:col), each of `parts` in what it prints."""
    status, _, err = check(tmp_path, capsys, text)
    assert status == 2, err
    assert err.startswith(f"{tmp_path / 'big.nn'}:{at}: error: "), err
    for part in parts:
        assert part in err, f"{part!r} not in:\n{err}"
    assert "Traceback" not in err
    return err


@pytest.fixture
def memory(monkeypatch):
    """Set the memory the checks may count on (SPECC_MEMORY_LIMIT)."""
    return lambda size: monkeypatch.setenv("SPECC_MEMORY_LIMIT", size)


# ---- the cases ----

def test_rnn_with_ten_billion_stacked_layers_is_refused_at_its_argument(tmp_path, capsys):
    refused(tmp_path, capsys, "input x: seq 2\nx -> rnn elman hidden=1 layers=10000000000\n",
            "2:32", "'layers' cannot be 10000000000", "a whole number from 1 to 1,000")
    assert check(tmp_path, capsys, "input x: seq 2\nx -> rnn elman hidden=1 layers=1000\n")[0] == 0


def test_window_wider_than_any_sentence_is_refused_at_its_size(tmp_path, capsys):
    refused(tmp_path, capsys, "input x: seq 2\nx -> window 99999\n",
            "2:13", "'size' cannot be 99999", "an odd whole number from 1 to 1,001")
    refused(tmp_path, capsys, "input x: seq 2\nx -> window 99999999\n", "2:13", "'size' cannot be 99999999")
    assert check(tmp_path, capsys, "input x: seq 2\nx -> window 1001\n")[0] == 0


def test_conv_on_a_huge_image_is_refused_at_the_conv_with_its_sizes(tmp_path, capsys, memory):
    memory("64GiB")
    # input 1x100000x100000: 4e10 bytes (37.3 GiB); conv output 99998^2 = 9,999,600,004 numbers: 39,998,400,016
    # bytes (37.3 GiB); im2col 9 rows x 9,999,600,004 columns at 4 + 8 bytes: 1,079,956,800,432 bytes.
    # Sum 1,159,955,200,448 bytes = 1,080.3 GiB.
    refused(tmp_path, capsys, "input x: 1x100000x100000\nx -> conv 3x3 -> relu\n",
            "2:6", "conv 3x3 needs 1,080.3 GiB for one sample, more than the 64.0 GiB that SPECC_MEMORY_LIMIT allows",
            "its output (N, 1, 99998, 99998): 37.3 GiB", "im2col columns (9 x 9,999,600,004",
            "the input and layers before it: 37.3 GiB")


def test_an_input_that_alone_does_not_fit_is_refused_at_its_declaration(tmp_path, capsys, memory):
    memory("20GiB")
    # 1e10 numbers: 4e10 bytes = 37.3 GiB
    refused(tmp_path, capsys, "input x: 1x100000x100000\nx -> conv 3x3 -> relu\n",
            "1:7", "input x needs 37.3 GiB for one sample, more than the 20.0 GiB", "(N, 1, 100000, 100000)")
    # 99,999,999,999 numbers: 399,999,999,996 bytes = 372.5 GiB
    refused(tmp_path, capsys, "input x: 99999999999\nx -> dense 2\n", "1:7", "input x needs 372.5 GiB for one sample")


def test_dense_over_two_gib_of_weights_is_refused_for_onnx(tmp_path, capsys, memory):
    memory("64GiB")  # memory is not what stops it: an ONNX file is a protobuf, at most 2 GiB
    # 1000 x 600000 + 600000 = 600,600,000 weights: 2,402,400,000 bytes = 2.2 GiB
    refused(tmp_path, capsys, "input x: 1000\nx -> dense 600000\n",
            "2:6", "600,600,000 weights (2.2 GiB as float32), more than an ONNX file holds", "protobuf",
            "stops at 2 GiB", "dense 600000 alone has 600,600,000 weights")
    # 1000 x 500000 + 500000 = 500,500,000 weights: 2,002,000,000 bytes, under 2**31 - 1
    assert check(tmp_path, capsys, "input x: 1000\nx -> dense 500000\n")[0] == 0


@pytest.mark.parametrize("text, at, message", [
    # dense: one sample's output alone, 99,999,999,999,999 numbers = 372,529.0 GiB
    ("input x: 10\nx -> dense 99999999999999\n", "2:6", "dense 99999999999999 needs 372,529.0 GiB for one sample"),
    # conv: 999,999,999,999 filters of 6x6 = 3.6e13 numbers = 134,110.5 GiB (+ im2col)
    ("input x: 1x8x8\nx -> conv 3x3 filters=999999999999\n", "2:6", "conv 3x3 filters=999999999999 needs 134,"),
    # rnn: 9 steps x 1e11 hidden = 9e11 numbers of output, the states twice as many: 3 x 3.6e12 bytes = 10,058.3 GiB
    ("input x: seq 2\nx -> rnn elman hidden=100000000000\n", "2:6", "needs 10,058.3 GiB for one sample of 9 steps"),
    # sizes past 10^308: Python integers, no float overflow
    ("input x: " + "9" * 400 + "\nx -> dense 2\n", "1:7", "needs about 10^400 bytes"),
])
def test_huge_layer_sizes_are_refused_without_allocating(tmp_path, capsys, memory, text, at, message):
    memory("64GiB")
    refused(tmp_path, capsys, text, at, message)


def test_the_verification_batch_must_fit_too(tmp_path, capsys, memory):
    memory("20MiB")
    # one sample: input 1e6 numbers (4,000,000 bytes) + relu as many: 8,000,000 bytes, fits;
    # compile verifies on 8: the input alone is 32,000,000 bytes = 30.5 MiB
    refused(tmp_path, capsys, "input x: 1x1000x1000\nx -> relu\n",
            "1:7", "input x needs 30.5 MiB for compile's verification batch of 8 samples", "20.0 MiB",
            "compile checks the export on 8 samples at once")


def test_a_memory_limit_that_is_no_size_is_refused(tmp_path, capsys, memory):
    memory("lots")
    status, _, err = check(tmp_path, capsys, "input x: 3\nx -> dense 2\n")
    assert status == 2
    assert "SPECC_MEMORY_LIMIT='lots' is not a size" in err and "like 16GiB" in err


# ---- what normal specs show ----

@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_example_spec_passes_check_with_its_estimates(spec, capsys):
    status = main(["check", str(spec)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "\nMemory: weights " in out


@pytest.mark.parametrize("name, line", [
    # weights 3x3+3 + 3+1 = 16: 64 bytes; activations 3 + 3 + 3 + 1 + 1 = 11 numbers: 44 bytes, 352 for 8
    ("neuron", "Memory: weights 64 bytes, activations 44 bytes for one sample and 352 bytes for compile's "
               "verification batch of 8, within the 16.0 GiB that SPECC_MEMORY_LIMIT allows"),
    # 9 steps: input 2, rnn output 2 plus its kept projection and state 2 + 2, dense 2: 10 numbers
    # a step, 90 numbers = 360 bytes; 8 samples 2,880 bytes = 2.8 KiB; weights 4 + 4 + 4 = 48 bytes
    ("memory", "Memory: weights 48 bytes, activations 360 bytes for one sample and 2.8 KiB for compile's "
               "verification batch of 8 (sequences taken as 9 steps), within the 16.0 GiB"),
])
def test_summary_shows_the_estimates(capsys, memory, name, line):
    memory("16GiB")
    assert main(["check", str(next(p for p in SPECS if p.stem == name))]) == 0
    assert line in capsys.readouterr().out
