"""core.stats against scipy's own interval routine."""

import numpy as np
import pytest
from scipy import stats

from dltheory.core.stats import t_interval


def test_t_interval_equals_scipy():
    x = np.random.default_rng(0).normal(0.3, 1.2, 17)
    m, lo, hi = t_interval(x, 0.9)
    ref = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean()) and lo == pytest.approx(ref[0], rel=1e-12) and hi == pytest.approx(ref[1], rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0])
