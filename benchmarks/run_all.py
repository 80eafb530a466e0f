"""Run every benchmark in this folder (each writes its own section of RESULTS.md).

Usage: ``make bench`` (installs the ``bench`` extra first) or
``.venv/bin/python benchmarks/run_all.py [name ...]``.
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in {"run_all"} and not p.stem.startswith("_"))


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"error: unknown benchmark(s) {unknown}; available: {BENCHMARKS}", file=sys.stderr)
        return 2
    for name in names or BENCHMARKS:
        t0 = time.perf_counter()
        print(f"== benchmark {name}", flush=True)
        sys.argv = [str(HERE / f"{name}.py")]
        try:
            runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
        except SystemExit as e:
            if e.code not in (0, None):
                return int(e.code) if isinstance(e.code, int) else 1
        print(f"== {name} took {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"results: {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
