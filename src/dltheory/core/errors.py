"""Error types and the one validation template used at every public boundary.

Messages follow one shape: "`name` must be <what is allowed>; got <value>."
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any


class DltheoryError(Exception):
    """Base class of the errors dltheory raises on purpose."""


class ConfigError(DltheoryError, ValueError):
    """An experiment configuration (preset, ``--set`` override) is invalid."""


class UnknownExperimentError(DltheoryError, KeyError):
    """No experiment is registered under the requested id."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        self.known = sorted(known)
        hint = did_you_mean(name, self.known)
        msg = f"unknown experiment '{name}'"
        msg += f"; did you mean '{hint}'?" if hint else "."
        msg += " Run `dltheory list` to see all experiments."
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DivergenceError(DltheoryError, RuntimeError):
    """Training produced a non-finite or exploding loss."""

    def __init__(self, step: int, loss: float, cause: str):
        self.step = step
        self.loss = loss
        super().__init__(f"training diverged at step {step}: loss = {loss:.6g}; {cause}")


class RunInterrupted(DltheoryError, KeyboardInterrupt):
    """A run was stopped by Ctrl-C or SIGTERM."""


class StoreError(DltheoryError, OSError):
    """The run store (runs dir, index, a run's files) cannot be used as asked: one line says why."""


class OutputPathError(DltheoryError, OSError):
    """A path to write (``report -o``) is not a regular file or a new path in a writable directory."""


SEED_MAX = 2**63 - 1  # seeds are stored as SQLite INTEGERs (signed 64-bit)


def did_you_mean(name: str, options: Iterable[str]) -> str | None:
    """The closest of ``options`` to ``name`` or None."""
    options = list(options)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    if close:
        return close[0]
    # also match on the last path component ("separable-logistic")
    tails = {o.rsplit("/", 1)[-1]: o for o in options}
    close = difflib.get_close_matches(name.rsplit("/", 1)[-1], list(tails), n=1, cutoff=0.6)
    return tails[close[0]] if close else None


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validate an integer option; returns it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int; got {value!r} of type {type(value).__name__}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be an int <= {maximum}; got {value}.")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_min: bool = False,
) -> float:
    """Validate a real option (finite); returns it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float; got {value!r} of type {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite; got {value}.")
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        op = ">" if strict_min else ">="
        raise ValueError(f"`{name}` must be a float {op} {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be a float <= {maximum}; got {value}.")
    return value


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Validate that ``value`` is one of ``allowed``; returns it."""
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"`{name}` must be one of {shown}; got {value!r}.")
    return value
