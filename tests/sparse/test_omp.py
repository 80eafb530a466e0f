"""OMP against scikit-learn's ``orthogonal_mp`` (Gram version, multi-target), and its error paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import orthogonal_mp
from sparse_problems import gaussian_dictionary, sparse_codes

from dltheory.sparse import normalize_atoms, omp

EPS64 = torch.finfo(torch.float64).eps


def _noisy(n=32, m=64, B=40, k=5, seed=0):
    D = gaussian_dictionary(n, m, seed=seed)
    X = sparse_codes(B, m, k, seed=seed + 1, low=0.3, high=1.0)
    Y = X @ D.T + 0.05 * torch.tensor(np.random.default_rng(seed + 2).standard_normal((B, n)))
    return D, Y


def _sklearn(D, Y, **kw):
    return orthogonal_mp(D.numpy(), Y.numpy().T, precompute=True, **kw).T.reshape(Y.shape[0], D.shape[1])


def _assert_same_supports(sol, X_ref):
    for b in range(X_ref.shape[0]):
        ours = sorted(int(s) for s in sol.support[b] if s >= 0)
        assert ours == sorted(np.flatnonzero(X_ref[b]).tolist()), f"signal {b}"


def _codes_atol(D, sol):
    """Both solve the normal equations on the same support: the difference is rounding,
    about eps * cond(D_S^T D_S) * ||x||; allow 100x that."""
    conds = []
    for b in range(sol.codes.shape[0]):
        S = sol.support[b][sol.support[b] >= 0]
        conds.append(float(torch.linalg.cond(D[:, S].T @ D[:, S])) if S.numel() else 1.0)
    return 100 * EPS64 * max(conds) * float(sol.codes.abs().max())


@pytest.mark.parametrize("k", [1, 5, 12])
def test_matches_sklearn_at_fixed_sparsity(k):
    D, Y = _noisy()
    sol = omp(D, Y, k)
    ref = _sklearn(D, Y, n_nonzero_coefs=k)
    _assert_same_supports(sol, ref)
    np.testing.assert_allclose(sol.codes.numpy(), ref, rtol=0, atol=_codes_atol(D, sol))
    assert (sol.support >= 0).sum(dim=1).eq(k).all()
    res = torch.linalg.vector_norm(Y - sol.codes @ D.T, dim=1)
    torch.testing.assert_close(sol.residual_norm, res, rtol=0, atol=1e-12)


def test_matches_sklearn_with_a_residual_tolerance():
    D, Y = _noisy(seed=3)
    tol = 0.5  # ours bounds ||r||; scikit-learn's tol bounds ||r||^2
    sol = omp(D, Y, tol=tol)
    ref = _sklearn(D, Y, tol=tol**2)
    _assert_same_supports(sol, ref)
    np.testing.assert_allclose(sol.codes.numpy(), ref, rtol=0, atol=_codes_atol(D, sol))
    assert (sol.residual_norm <= tol).all()
    # one atom fewer would not have met the tolerance (greedy order: drop the last one chosen)
    n_atoms = (sol.support >= 0).sum(dim=1)
    assert len(set(n_atoms.tolist())) > 1  # the batch really stops at different sizes
    for b in range(Y.shape[0]):
        prefix = omp(D, Y[b], int(n_atoms[b]) - 1) if n_atoms[b] > 1 else None
        if prefix is not None:
            assert float(prefix.residual_norm) > tol


def test_k_and_tol_together_stop_at_the_first():
    D, Y = _noisy(seed=4)
    both = omp(D, Y, 3, tol=0.5)
    assert ((both.support >= 0).sum(dim=1) <= 3).all()
    only_k = omp(D, Y, 3)
    stopped_by_k = (both.support >= 0).sum(dim=1) == 3
    torch.testing.assert_close(both.codes[stopped_by_k], only_k.codes[stopped_by_k], rtol=0, atol=1e-12)


def test_single_signal_float32_and_zero_signal():
    D, Y = _noisy(seed=5)
    batched = omp(D, Y, 4)
    one = omp(D, Y[7], 4)
    assert one.codes.shape == (64,) and one.support.shape == (4,) and one.residual_norm.shape == ()
    torch.testing.assert_close(one.codes, batched.codes[7], rtol=0, atol=1e-12)
    f32 = omp(D.float(), Y.float(), 4)
    assert f32.codes.dtype == torch.float32
    # same greedy choices; coefficients to float32 rounding times the conditioning (< 10 here)
    assert torch.equal(f32.support, batched.support)
    torch.testing.assert_close(f32.codes.double(), batched.codes, rtol=0, atol=1e-5)
    zero = omp(D, torch.zeros(2, 32, dtype=torch.float64), 3)
    assert (zero.support == -1).all() and (zero.codes == 0).all()


def test_codes_are_differentiable_for_the_chosen_support():
    D, Y = _noisy(n=8, m=12, B=3, k=2, seed=6)
    sol = omp(D, Y, 2)
    Y = Y.clone().requires_grad_()

    def codes(Y):
        out = omp(D, Y, 2)
        assert torch.equal(out.support, sol.support)  # the finite differences keep the support
        return out.codes

    assert torch.autograd.gradcheck(codes, (Y,))
    # in the dictionary too, through the normalization (finite differences of D itself would
    # leave the unit sphere, which omp refuses)
    W = (2.0 * D).requires_grad_()
    assert torch.autograd.gradcheck(lambda W: omp(normalize_atoms(W), Y.detach(), 2).codes, (W,))


def test_errors_name_the_parameter():
    D, Y = _noisy()
    with pytest.raises(ValueError, match=r"`D` must have unit-norm atoms .* atom 0 has norm 2"):
        omp(2 * D, Y, 3)
    with pytest.raises(ValueError, match="`k` and `tol` cannot both be None"):
        omp(D, Y)
    with pytest.raises(ValueError, match="`k` must be an int <= 32; got 33"):
        omp(D, Y, 33)
    with pytest.raises(ValueError, match="`tol` must be a float >= 0.0; got -1.0"):
        omp(D, Y, tol=-1.0)
    with pytest.raises(ValueError, match=r"`Y` must have shape \(32,\) or \(B, 32\) for a dictionary of shape \(32, 64\) \(n, m\); got \(40, 31\)"):
        omp(D, Y[:, :31], 3)
    bad = Y.clone()
    bad[3, 3] = float("inf")
    with pytest.raises(ValueError, match="`Y` must be finite; got 1 non-finite entry"):
        omp(D, bad, 3)
    with pytest.raises(ValueError, match=r"`Y` must have the dictionary's dtype and device \(torch.float64, cpu\); got \(torch.float32, cpu\)"):
        omp(D, Y.float(), 3)
