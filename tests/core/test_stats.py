"""core.stats against scipy's own interval routine."""

import numpy as np
import pytest
from scipy import stats

from dltheory.core.stats import loglog_slope, t_interval


def test_t_interval_equals_scipy():
    x = np.random.default_rng(0).normal(0.3, 1.2, 17)
    m, lo, hi = t_interval(x, 0.9)
    ref = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean()) and lo == pytest.approx(ref[0], rel=1e-12) and hi == pytest.approx(ref[1], rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0])


def test_loglog_slope_matches_scipy_linregress_and_rejects_bad_input():
    g = np.random.default_rng(0)
    x = np.array([64.0, 128, 256, 512, 1024])
    y = 3.0 * x ** -0.5 * np.exp(0.05 * g.standard_normal(5))
    assert loglog_slope(x, y) == pytest.approx(stats.linregress(np.log(x), np.log(y)).slope, rel=1e-12)
    assert np.isnan(loglog_slope(x, np.r_[y[:4], 0.0]))
    with pytest.raises(ValueError, match="`x`"):
        loglog_slope([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        loglog_slope([1.0, 2.0], [1.0])
