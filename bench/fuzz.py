"""A long fuzz run: thousands of generated and damaged specs through `specc check`, and every
tenth valid one through `specc compile`, each required to answer cleanly (tests/spec_fuzzer.py).

    python bench/fuzz.py --count 5000 --seed 1

Prints the counts and every problem found (exit 1 if any); the figure goes in bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.spec_fuzzer import fuzz  # noqa: E402  (the generator lives with the tests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="specs to generate")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generator")
    parser.add_argument("--compile-every", type=int, default=10, help="compile every K-th valid spec")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        found = fuzz(args.seed, args.count, folder, compile_every=args.compile_every)
        for path, what, stderr in found["problems"]:
            print(f"--- {what}\n{Path(path).read_text(encoding='utf-8')!r}\n{stderr}")
    print(f"{found['specs']} specs (seed {args.seed}), {found['valid']} valid, {found['compiled']} compiled, "
          f"{len(found['problems'])} problems, {time.perf_counter() - started:.0f} s")
    return 1 if found["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
