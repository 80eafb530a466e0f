"""Dictionary measures against numpy brute force and the closed forms of identity + Hadamard."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sparse_problems import gaussian_dictionary, identity_hadamard

from dltheory.sparse import babel, check_dictionary, mutual_coherence, normalize_atoms

EPS64 = torch.finfo(torch.float64).eps


def _unit(D: np.ndarray) -> np.ndarray:
    return D / np.sqrt((D * D).sum(axis=0))


def _coherence_brute(D: np.ndarray) -> float:
    D = _unit(D)
    m = D.shape[1]
    return max(abs(float(D[:, i] @ D[:, j])) for i in range(m) for j in range(m) if i != j)


def _babel_brute(D: np.ndarray, k: int) -> float:
    """max over atoms i and over every set Lambda of k other atoms of sum |<d_i, d_j>| (Tropp 2004, Def. 3.1)."""
    D = _unit(D)
    m = D.shape[1]
    best = 0.0
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for lam in itertools.combinations(others, k):
            best = max(best, sum(abs(float(D[:, i] @ D[:, j])) for j in lam))
    return best


def test_coherence_and_babel_match_brute_force_on_unnormalized_atoms():
    D = np.random.default_rng(0).standard_normal((5, 8)) * np.arange(1, 9)  # atoms of different lengths
    Dt = torch.tensor(D)
    assert mutual_coherence(Dt) == pytest.approx(_coherence_brute(D), rel=1e-14)
    for k in (1, 2, 3, 7):
        assert babel(Dt, k) == pytest.approx(_babel_brute(D, k), rel=1e-14)
    assert babel(Dt, 1) == mutual_coherence(Dt)  # mu_1(1) = mu


@pytest.mark.parametrize("n", [16, 64])
def test_identity_hadamard_closed_forms(n):
    D = identity_hadamard(n)
    assert mutual_coherence(D) == pytest.approx(1 / math.sqrt(n), rel=0, abs=8 * EPS64)
    for k in (1, 2, n // 2, n):
        assert babel(D, k) == pytest.approx(k / math.sqrt(n), rel=0, abs=8 * n * EPS64)
    assert mutual_coherence(D.float()) == pytest.approx(1 / math.sqrt(n), abs=1e-6)


def test_normalize_atoms():
    D = torch.tensor(np.random.default_rng(1).standard_normal((6, 9)) * 3.0)
    Dn = normalize_atoms(D)
    torch.testing.assert_close(torch.linalg.vector_norm(Dn, dim=0), torch.ones(9, dtype=torch.float64), rtol=0, atol=4 * EPS64)
    torch.testing.assert_close(normalize_atoms(Dn), Dn, rtol=0, atol=4 * EPS64)  # idempotent
    np.testing.assert_allclose(Dn.numpy(), _unit(D.numpy()), rtol=0, atol=4 * EPS64)
    assert check_dictionary(Dn) is Dn
    assert check_dictionary(normalize_atoms(D.float())).dtype == torch.float32
    with pytest.raises(ValueError, match=r"`D` must have no zero atoms \(columns\); atom 2 is zero"):
        normalize_atoms(torch.cat([D[:, :2], torch.zeros(6, 1, dtype=torch.float64)], dim=1))


def test_check_dictionary_names_the_atom_and_its_norm():
    D = gaussian_dictionary(6, 5, seed=2)
    D[:, 3] *= 1.5
    with pytest.raises(ValueError, match=r"`D` must have unit-norm atoms \(columns\) to within 1.5e-08; atom 3 has norm 1.5 \(1 of 5 atoms are off\). Use dltheory.sparse.normalize_atoms\(D\)"):
        check_dictionary(D)
    with pytest.raises(ValueError, match="atom 3 has norm 1.5"):
        check_dictionary(D.float())
    check_dictionary(D, tol=0.6)  # within an explicit tolerance
    with pytest.raises(TypeError, match="`D` must be a torch.Tensor; got ndarray"):
        check_dictionary(D.numpy())
    with pytest.raises(ValueError, match=r"`D` must be 2-D; got shape \(6,\)"):
        check_dictionary(D[:, 0])
    with pytest.raises(ValueError, match="`D` must be float32 or float64; got torch.int64"):
        check_dictionary(torch.ones(3, 2, dtype=torch.long))
    bad = D.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="`D` must be finite; got 1 non-finite entry of 30"):
        check_dictionary(bad)


def test_measure_errors():
    D = identity_hadamard(16)
    with pytest.raises(ValueError, match="`k` must be an int <= 31; got 32"):
        babel(D, 32)
    with pytest.raises(ValueError, match="`k` must be an int >= 1; got 0"):
        babel(D, 0)
    with pytest.raises(ValueError, match=r"`D` must have at least 2 atoms \(columns\) to compare; got shape \(16, 1\)"):
        mutual_coherence(D[:, :1])
