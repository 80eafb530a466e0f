"""Synthetic generators: separability with the promised margin, shapes, determinism, errors."""

import numpy as np
import pytest
import torch

from dltheory.data.synthetic import separable_gaussians, underdetermined_regression
from dltheory.probes.margins import max_margin_l2


@pytest.mark.parametrize(("n", "d", "margin"), [(2, 1, 0.0), (40, 2, 0.5), (100, 7, 1.0)])
def test_separable_gaussians_margin_and_labels(n, d, margin):
    u = torch.ones(d, dtype=torch.float64)
    X, y = separable_gaussians(n, d, margin=margin, generator=torch.Generator().manual_seed(1), direction=u)
    assert X.shape == (n, d) and y.shape == (n,) and X.dtype == torch.float64
    assert set(y.tolist()) == {-1.0, 1.0}
    assert float((y * (X @ (u / u.norm()))).min()) >= margin
    assert max_margin_l2(X, y).margin >= margin - 1e-9


def test_separable_gaussians_is_deterministic_and_shift_keeps_the_margin():
    a = separable_gaussians(20, 3, margin=0.2, generator=torch.Generator().manual_seed(5))
    b = separable_gaussians(20, 3, margin=0.2, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(s, t) for s, t in zip(a, b, strict=True))
    u = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    X, y = separable_gaussians(50, 3, margin=0.3, generator=torch.Generator().manual_seed(0), direction=u, mean=torch.tensor([3.0, -1.0, 0.0]))
    assert float((y * X[:, 2]).min()) >= 0.3


def test_separable_gaussians_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="`n` must be an int >= 2"):
        separable_gaussians(1, 2, margin=0.1, generator=g)
    with pytest.raises(ValueError, match="`direction` must have d = 2 entries"):
        separable_gaussians(5, 2, margin=0.1, generator=g, direction=torch.ones(3))
    with pytest.raises(ValueError, match="`direction` must be nonzero"):
        separable_gaussians(5, 2, margin=0.1, generator=g, direction=torch.zeros(2))
    with pytest.raises(ValueError, match="increase `separation`"):
        separable_gaussians(5, 2, margin=50.0, separation=0.0, generator=g, max_rounds=3)


def test_underdetermined_regression():
    X, y = underdetermined_regression(5, 12, generator=torch.Generator().manual_seed(0))
    assert X.shape == (5, 12) and y.shape == (5,)
    assert np.linalg.matrix_rank(X.numpy()) == 5
    with pytest.raises(ValueError, match="`d` must be an int >= 6"):
        underdetermined_regression(5, 5, generator=torch.Generator())
