"""Generated and damaged specs (tests/spec_fuzzer.py) get a clean answer from the CLI: success,
or an error at a position of the file, showing that line, with exit 2; never a traceback, an
exception's name, an internal-error message, exit 1 or a hang. A bounded run here; bench/fuzz.py
runs thousands (bench/RESULTS.md)."""
from tests.spec_fuzzer import fuzz


def test_generated_specs_get_clean_answers(tmp_path):
    found = fuzz(seed=20261201, count=600, folder=tmp_path, seconds=40, compile_every=12)
    assert found["specs"] >= 150 and found["valid"] >= 30 and found["compiled"] >= 3, found
    report = "\n\n".join(f"{what}: {open(path, encoding='utf-8').read()!r}\n{stderr}"
                         for path, what, stderr in found["problems"][:5])
    assert not found["problems"], f"{len(found['problems'])} problems, the first:\n{report}"
