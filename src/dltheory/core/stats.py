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
