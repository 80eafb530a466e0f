"""One progress display for the whole process.

Nested work (a course running experiments running training loops) shares a single rich
``Progress``: each level adds a task line. Disabled when stderr is not a terminal or when
``DLTHEORY_PROGRESS=0``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_state: dict[str, object] = {"progress": None, "depth": 0}


def progress_enabled() -> bool:
    flag = os.environ.get("DLTHEORY_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no", "")
    return sys.stderr.isatty()


@contextlib.contextmanager
def task(description: str, total: float | None, *, enabled: bool = True) -> Iterator[Callable[[float], None]]:
    """Context manager yielding ``advance(n)`` for a progress line.

    Example:
        >>> with task("training", total=100) as advance:
        ...     for _ in range(100):
        ...         advance(1)
    """
    if not enabled or not progress_enabled():
        yield lambda n=1: None
        return
    owner = _state["progress"] is None
    if owner:
        prog = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        prog.start()
        _state["progress"] = prog
    prog = _state["progress"]
    assert isinstance(prog, Progress)
    tid = prog.add_task(description, total=total)
    try:
        yield lambda n=1: prog.advance(tid, n)
    finally:
        prog.remove_task(tid)
        if owner:
            prog.stop()
            _state["progress"] = None
