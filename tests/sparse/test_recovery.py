r"""Exact-recovery theorems on identity + Hadamard (n = 64, mu = 1/8 exactly).

- OMP and basis pursuit recover every k-sparse x from y = Dx when k < (1 + 1/mu)/2 = 4.5
  (Donoho & Elad, PNAS 2003; Tropp, IEEE Trans. Inf. Theory 2004); here equivalently
  mu_1(k-1) + mu_1(k) = (2k - 1)/8 < 1 (Tropp's Babel condition). Basis pursuit is solved as an LP
  (scipy HiGHS, :func:`dltheory.oracles.interpolation.min_l1_interpolant`).
- Thresholding finds the support when |x|_min > (2k - 1) mu |x|_max, with any threshold between
  k mu |x|_max (the largest off-support correlation) and |x|_min - (k - 1) mu |x|_max (the
  smallest on-support one) (the worst-case thresholding guarantee: Elad, "Sparse and Redundant Representations", 2010, Ch. 4; Papyan,
  Romano & Elad 2017 for the layered version).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sparse_problems import identity_hadamard, sparse_codes

from dltheory.oracles.interpolation import min_l1_interpolant
from dltheory.sparse import babel, layered_thresholding, mutual_coherence, omp

N = 64


def _mixed_codes(B: int, k: int, seed: int) -> torch.Tensor:
    """Hard cases: equal magnitudes, supports split between spikes and Hadamard atoms."""
    rng = np.random.default_rng(seed)
    X = np.zeros((B, 2 * N))
    for b in range(B):
        spikes = rng.choice(N, size=k // 2, replace=False)
        waves = N + rng.choice(N, size=k - k // 2, replace=False)
        X[b, np.concatenate([spikes, waves])] = rng.choice([-1.0, 1.0], size=k)
    return torch.tensor(X)


def _supports(X: torch.Tensor) -> list[list[int]]:
    return [sorted(torch.nonzero(x).flatten().tolist()) for x in X]


def test_the_bound_is_below_4_5():
    D = identity_hadamard(N)
    mu = mutual_coherence(D)
    assert (1 + 1 / mu) / 2 == pytest.approx(4.5)
    assert all(babel(D, k - 1) + babel(D, k) < 1 for k in range(2, 5)) and babel(D, 4) + babel(D, 5) >= 1


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_omp_recovers_every_k_sparse_signal_below_the_bound(k):
    D = identity_hadamard(N)
    X = torch.cat([sparse_codes(300, 2 * N, k, seed=k, low=0.1, high=1.0), _mixed_codes(300, k, seed=10 + k)])
    sol = omp(D, X @ D.T, k)
    found = [sorted(s for s in row.tolist() if s >= 0) for row in sol.support]
    assert found == _supports(X)
    torch.testing.assert_close(sol.codes, X, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [2, 4])
def test_basis_pursuit_lp_recovers_below_the_bound(k):
    D = identity_hadamard(N)
    X = torch.cat([sparse_codes(6, 2 * N, k, seed=20 + k, low=0.1, high=1.0), _mixed_codes(6, k, seed=30 + k)])
    for x, y in zip(X, X @ D.T, strict=True):
        # HiGHS' primal feasibility tolerance is 1e-7: the LP solution is exact to about that
        np.testing.assert_allclose(min_l1_interpolant(D, y), x.numpy(), rtol=0, atol=1e-7)


@pytest.mark.parametrize(("k", "low"), [(2, 0.6), (3, 0.7)])
def test_hard_thresholding_recovers_when_the_dynamic_range_is_small(k, low):
    D = identity_hadamard(N)
    mu = 1 / math.sqrt(N)
    assert low > (2 * k - 1) * mu  # the theorem's condition with |x|_max = 1
    off, on = k * mu, low - (k - 1) * mu
    X = torch.cat([sparse_codes(300, 2 * N, k, seed=40 + k, low=low, high=1.0), low * _mixed_codes(300, k, seed=50 + k)])
    (G,) = layered_thresholding([D], X @ D.T, [(off + on) / 2], kind="hard")
    assert _supports(G) == _supports(X)
