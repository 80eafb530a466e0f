"""Small statistics shared by the experiments: the Student-t interval of a mean."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from dltheory.core.errors import check_float


def t_interval(x, level: float = 0.95) -> tuple[float, float, float]:
    r"""(mean, lower, upper) of the two-sided Student-t confidence interval of the mean of ``x`` (e.g. paired differences).

    :math:`\bar x \pm t_{n-1, (1 + \text{level})/2}\, s / \sqrt n` with the sample standard deviation s (n >= 2).
    """
    level = check_float("level", level, minimum=0.0, maximum=1.0, strict_min=True)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if len(x) < 2:
        raise ValueError(f"`x` must hold at least 2 values for a t-interval; got {len(x)}.")
    m = float(x.mean())
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return m, m - half, m + half


def loglog_slope(x, y) -> float:
    r"""Least-squares slope :math:`b` of :math:`\log y = a + b \log x`: the power of a law :math:`y \propto x^b`.

    NaN (not an error) when some :math:`y` is not positive and finite, so a claim on the slope fails
    visibly instead of fitting a logarithm of zero. Raises for fewer than two points or a non-positive
    :math:`x`.
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.size != y.size or x.size < 2:
        raise ValueError(f"`x` and `y` must have the same length >= 2; got {x.size} and {y.size}.")
    if not np.all(np.isfinite(x)) or x.min() <= 0:
        raise ValueError(f"`x` must be positive and finite; got min {x.min()}.")
    if not np.all(np.isfinite(y)) or y.min() <= 0:
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
