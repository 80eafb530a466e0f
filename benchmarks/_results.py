"""Shared by the benchmark scripts: writing a benchmark's section of ``benchmarks/RESULTS.md``, and timing a call."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def write_section(text: str) -> None:
    """Replace the section of RESULTS.md headed by ``text``'s first line (``## ...``) with ``text``, or append it."""
    head = text.splitlines()[0]
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"{re.escape(head)}\n.*?(?=^## |\Z)", re.S | re.M)
    RESULTS.write_text(pattern.sub(lambda _: text, old) if head in old else old.rstrip() + "\n\n" + text)


def median_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of ``repeats`` calls of ``fn``, in seconds."""
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)
