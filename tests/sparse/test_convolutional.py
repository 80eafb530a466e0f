"""Convolutional sparse coding against the explicit banded-circulant matrix (numpy.roll, no FFT):
the operator and its adjoint, the exact Lipschitz constant, ADMM and FISTA against scikit-learn's
Lasso / cvxpy and the duality gap, the stripe norm by brute force, coherence of the global
dictionary, the filter subproblem's Gram matrix against the explicit shift matrix and its constrained
minimizer against cvxpy, gradients through FISTA against finite differences, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltheory.core.errors import DivergenceError
from dltheory.oracles.convolution import circulant_dictionary
from dltheory.oracles.lasso import lasso_cvxpy, lasso_duality_gap, lasso_objective_np, lasso_sklearn
from dltheory.sparse import mutual_coherence
from dltheory.sparse.convolutional import (
    conv_adjoint,
    conv_admm,
    conv_filter_gram,
    conv_filter_update,
    conv_fista,
    conv_lasso_objective,
    conv_lipschitz,
    conv_mutual_coherence,
    conv_reconstruct,
    learn_conv_dictionary,
    stripe_norm,
)

CASES = {  # (m, C, k, N)
    "1d": (4, 1, (4,), (13,)),
    "1d-2ch": (3, 2, (3,), (11,)),
    "2d": (5, 1, (3, 4), (8, 9)),
    "2d-3ch": (3, 3, (3, 3), (7, 6)),
}


def _problem(case: str, seed: int = 0, B: int = 2, lam: float = 0.3):
    m, C, k, N = CASES[case]
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(m, C, *k, generator=g, dtype=torch.float64)
    D = D / D.flatten(1).norm(dim=1).reshape(-1, *([1] * (D.ndim - 1)))
    X = torch.randn(B, m, *N, generator=g, dtype=torch.float64) * (torch.rand(B, m, *N, generator=g) < 0.1)
    Y = conv_reconstruct(D, X) + 0.05 * torch.randn(B, C, *N, generator=g, dtype=torch.float64)
    return D, Y, lam, circulant_dictionary(D.numpy(), N)


@pytest.mark.parametrize("case", list(CASES))
def test_operator_adjoint_and_lipschitz_equal_the_explicit_matrix(case):
    D, Y, _, M = _problem(case)
    X = torch.randn(2, D.shape[0], *Y.shape[2:], dtype=torch.float64)
    np.testing.assert_allclose(conv_reconstruct(D, X).reshape(2, -1).numpy(), X.reshape(2, -1).numpy() @ M.T, atol=1e-12)
    np.testing.assert_allclose(conv_adjoint(D, Y).reshape(2, -1).numpy(), Y.reshape(2, -1).numpy() @ M, atol=1e-12)
    assert float(conv_lipschitz(D, Y.shape[2:])) == pytest.approx(np.linalg.norm(M, 2) ** 2, rel=1e-12)


def test_explicit_matrix_columns_are_shifted_filters():
    D = torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64)
    M = circulant_dictionary(D.numpy(), (5,))
    np.testing.assert_array_equal(M[:, 0], [1, 2, 3, 0, 0])
    np.testing.assert_array_equal(M[:, 3], [3, 0, 0, 1, 2])  # wraps around


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("solver", ["admm", "fista"])
def test_solvers_reach_the_lasso_on_the_explicit_matrix(case, solver):
    D, Y, lam, M = _problem(case)
    Yn = Y.reshape(Y.shape[0], -1).numpy()
    ref = lasso_cvxpy(M, Yn, lam) if D.shape[1] > 1 else lasso_sklearn(M, Yn, lam, tol=1e-10)
    sol = conv_admm(D, Y, lam, 3000, tol=1e-9) if solver == "admm" else conv_fista(D, Y, lam, 5000, tol=1e-11)
    codes = sol.codes.reshape(Y.shape[0], -1).numpy()
    f_ref = lasso_objective_np(M, Yn, ref, lam)
    np.testing.assert_allclose(sol.objective.numpy(), lasso_objective_np(M, Yn, codes, lam), rtol=1e-12)  # its objective is the Lasso's
    assert (sol.objective.numpy() <= f_ref * (1 + 1e-7) + 1e-9).all()
    assert (lasso_duality_gap(M, Yn, codes, lam) <= 1e-6 * f_ref).all()
    np.testing.assert_allclose(codes, ref, atol=2e-4)


def test_admm_and_fista_agree_and_nonnegative_variant():
    D, Y, lam, M = _problem("2d", seed=3)
    a = conv_admm(D, Y, lam, 3000, tol=1e-10)
    f = conv_fista(D, Y, lam, 5000, tol=1e-12)
    torch.testing.assert_close(a.codes, f.codes, atol=1e-5, rtol=0)
    ref = lasso_sklearn(M, Y.reshape(2, -1).numpy(), lam, positive=True, tol=1e-10)
    for sol in (conv_admm(D, Y, lam, 3000, tol=1e-10, nonnegative=True), conv_fista(D, Y, lam, 5000, tol=1e-12, nonnegative=True)):
        assert (sol.codes >= 0).all()
        np.testing.assert_allclose(sol.codes.reshape(2, -1).numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_admm_converges_on_many_atoms_with_the_penalty_frozen_after_adapting(seed):
    # 16 random 3x3 atoms on two standardized 8x8 digits, nonnegative, lambda 0.1: adapting rho at every
    # period to the end left the codes 6e-2 (seed 0) and 4e-3 (seed 1) off after 3000 steps; with rho
    # frozen after rho_adapt_steps (default 200) ADMM converges (Boyd et al. 2011, sec. 3.4.1)
    from sklearn.datasets import load_digits

    X = load_digits().images[:2] / 16.0
    Y = torch.tensor(((X - X.mean()) / X.std())[:, None], dtype=torch.float64)
    D = torch.randn(16, 1, 3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    D = D / D.flatten(1).norm(dim=1)[:, None, None, None]
    ref = lasso_sklearn(circulant_dictionary(D.numpy(), (8, 8)), Y.reshape(2, -1).numpy(), 0.1, positive=True, tol=1e-12)
    for relax in (1.8, 1.0):
        sol = conv_admm(D, Y, 0.1, 3000, tol=1e-10, nonnegative=True, relax=relax)
        assert np.abs(sol.codes.reshape(2, -1).numpy() - ref).max() <= 1e-6 * np.abs(ref).max()


def test_fista_objective_history_obeys_the_beck_teboulle_bound():
    D, Y, lam, M = _problem("1d", seed=1)
    L = float(conv_lipschitz(D, Y.shape[2:]))
    ref = lasso_sklearn(M, Y.reshape(2, -1).numpy(), lam, tol=1e-12)
    f_star = lasso_objective_np(M, Y.reshape(2, -1).numpy(), ref, lam)
    sol = conv_fista(D, Y, lam, 200, restart=False, history=True)
    k = np.arange(1, 201)[:, None]
    bound = 2 * L * (ref ** 2).sum(1) / (k + 1) ** 2  # x0 = 0
    assert (sol.history.numpy() - f_star <= bound + 1e-10).all()


def test_float32_matches_float64():
    D, Y, lam, _ = _problem("2d")
    a64 = conv_admm(D, Y, lam, 300)
    a32 = conv_admm(D.float(), Y.float(), lam, 300)
    assert a32.codes.dtype == torch.float32
    torch.testing.assert_close(a32.codes.double(), a64.codes, atol=1e-4, rtol=0)


def test_fista_gradient_against_finite_differences():
    D, Y, lam, _ = _problem("1d", B=1)
    D = D.clone().requires_grad_(True)
    Y = Y.clone().requires_grad_(True)
    torch.autograd.gradcheck(lambda D, Y: conv_fista(D, Y, lam, 15, restart=False).codes.sum(), (D, Y), eps=1e-6, atol=1e-5)


def test_objective_function_and_batch_penalties():
    D, Y, _, M = _problem("1d")
    X = torch.randn(2, 4, 13, dtype=torch.float64)
    lam = torch.tensor([0.1, 0.7], dtype=torch.float64)
    got = conv_lasso_objective(D, Y, X, lam)
    want = [lasso_objective_np(M, Y[i].reshape(1, -1).numpy(), X[i].reshape(1, -1).numpy(), float(lam[i]))[0] for i in range(2)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    sol = conv_fista(D, Y, lam, 3000, tol=1e-12)  # one penalty per signal
    for i in range(2):
        ref = lasso_sklearn(M, Y[i].reshape(1, -1).numpy(), float(lam[i]), tol=1e-12)
        np.testing.assert_allclose(sol.codes[i].reshape(1, -1).numpy(), ref, atol=1e-5)


def _brute_stripe(X: np.ndarray, k: tuple[int, ...]) -> int:
    N = X.shape[1:]
    best = 0
    for i in np.ndindex(*N):
        count = 0
        for off in np.ndindex(*(2 * kk - 1 for kk in k)):
            pos = tuple((ii + o - (kk - 1)) % n for ii, o, kk, n in zip(i, off, k, N, strict=True))
            count += int((X[(slice(None), *pos)] != 0).sum())
        best = max(best, count)
    return best


@pytest.mark.parametrize("shape,k", [((3, 20), (3,)), ((2, 7, 9), (2, 3)), ((4, 6), (6,))])
def test_stripe_norm_against_brute_force(shape, k):
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((3, *shape)) * (rng.random((3, *shape)) < 0.15))
    got = stripe_norm(X, k)
    assert got.tolist() == [_brute_stripe(X[b].numpy(), k) for b in range(3)]


def test_stripe_norm_of_known_codes():
    X = torch.zeros(1, 3, 20)
    X[0, 0, 5] = X[0, 1, 7] = X[0, 2, 9] = X[0, 0, 15] = 1.0
    assert stripe_norm(X, 3).tolist() == [3]  # the stripe around position 7 holds positions 5..9
    assert stripe_norm(X, 2).tolist() == [2]
    assert stripe_norm(X, 1).tolist() == [1]


@pytest.mark.parametrize("case", ["1d", "1d-2ch", "2d"])
def test_conv_coherence_equals_the_global_dictionary(case):
    m, C, k, _ = CASES[case]
    D = torch.randn(m, C, *k, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    N = tuple(2 * kk + 1 for kk in k)  # no wrap-around overlaps
    assert conv_mutual_coherence(D) == pytest.approx(mutual_coherence(torch.tensor(circulant_dictionary(D.numpy(), N))), abs=1e-12)


def test_clear_errors():
    D = torch.randn(3, 1, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"`Y` must have shape \(B, 1, N\) with N1 >= 4"):
        conv_fista(D, torch.randn(2, 1, 3, dtype=torch.float64), 0.1, 10)
    with pytest.raises(ValueError, match=r"`Y` must have shape \(B, 1, N\)"):
        conv_admm(D, torch.randn(2, 2, 9, dtype=torch.float64), 0.1, 10)
    with pytest.raises(ValueError, match="dtype"):
        conv_fista(D, torch.randn(2, 1, 9), 0.1, 10)
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        conv_admm(D, torch.randn(2, 1, 9, dtype=torch.float64), 0.0, 10)
    with pytest.raises(ValueError, match="`relax` must be a float in"):
        conv_admm(D, torch.randn(2, 1, 9, dtype=torch.float64), 0.1, 10, relax=2.5)
    with pytest.raises(ValueError, match=r"`x0` must have shape \(2, 3, 9\)"):
        conv_fista(D, torch.randn(2, 1, 9, dtype=torch.float64), 0.1, 10, x0=torch.zeros(2, 3, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="filter_size"):
        stripe_norm(torch.zeros(1, 2, 5), 6)
    with pytest.raises(ValueError, match="`D` must be 3-D or 4-D"):
        conv_reconstruct(torch.randn(3, 4, dtype=torch.float64), torch.zeros(1, 3, 4, dtype=torch.float64))
    with pytest.raises(DivergenceError, match="not finite"):
        conv_fista(D, torch.randn(2, 1, 9, dtype=torch.float64) * 10, 0.01, 200, L=1e-3, restart=False)


def _shift_matrix(X: np.ndarray, C: int, k: tuple[int, ...]) -> np.ndarray:
    """The explicit map from filters (m, C, *k) to signals (B, C, *N) for fixed codes, by numpy.roll of the codes."""
    B, m, N = X.shape[0], X.shape[1], X.shape[2:]
    cols = []
    for j in range(m):
        for c in range(C):
            for t in np.ndindex(*k):
                out = np.zeros((B, C, *N))
                out[:, c] = np.roll(X[:, j], t, axis=tuple(range(1, 1 + len(N))))
                cols.append(out.reshape(-1))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("case", ["1d-2ch", "2d"])
def test_filter_update_solves_the_least_squares_problem(case):
    m, C, k, N = CASES[case]
    g = torch.Generator().manual_seed(7)
    X = torch.randn(3, m, *N, generator=g, dtype=torch.float64)
    Y = torch.randn(3, C, *N, generator=g, dtype=torch.float64)
    A = _shift_matrix(X.numpy(), C, k)
    d_ls = np.linalg.lstsq(A, Y.numpy().reshape(-1), rcond=None)[0]
    D = conv_filter_update(X, Y, torch.zeros(m, C, *k, dtype=torch.float64), 3000, project=False)
    np.testing.assert_allclose(D.numpy().reshape(-1), d_ls, atol=1e-6)
    Dp = conv_filter_update(X, Y, torch.zeros(m, C, *k, dtype=torch.float64), 50)
    assert (Dp.flatten(1).norm(dim=1) <= 1 + 1e-12).all()


def _planted(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(3, 1, 8, generator=g, dtype=torch.float64)
    D = D / D.flatten(1).norm(dim=1)[:, None, None]
    X = torch.randn(16, 3, 128, generator=g, dtype=torch.float64) * (torch.rand(16, 3, 128, generator=g) < 0.03)
    return D, conv_reconstruct(D, X)


def test_dictionary_learning_is_monotone_and_recovers_planted_filters():
    D_true, Y = _planted()
    res = learn_conv_dictionary(Y, 3, 8, 0.05, 60, D0=(D_true + 0.3 * torch.randn(D_true.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)))
    h = res.objective.numpy()
    assert (np.diff(h) <= 1e-12).all() and h[-1] < 0.5 * h[0]
    assert (res.filters.flatten(1).norm(dim=1) <= 1 + 1e-12).all()
    match = torch.nn.functional.conv1d(torch.nn.functional.pad(res.filters, (7, 7)), D_true).abs().amax(-1)  # |<learned, shifted true>|
    assert (match.amax(0) > 0.99).all()
    again = learn_conv_dictionary(Y, 3, 8, 0.05, 5, seed=3)
    torch.testing.assert_close(again.filters, learn_conv_dictionary(Y, 3, 8, 0.05, 5, seed=3).filters, rtol=0, atol=0)  # seeded


def test_dictionary_learning_errors():
    _, Y = _planted()
    with pytest.raises(ValueError, match=r"`filter_size\[0\]` must be an int <= 128"):
        learn_conv_dictionary(Y, 3, 200, 0.05, 5)
    with pytest.raises(ValueError, match="`D0` must have shape"):
        learn_conv_dictionary(Y, 3, 8, 0.05, 5, D0=torch.zeros(2, 1, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="`num_filters` must be an int >= 1"):
        learn_conv_dictionary(Y, 0, 8, 0.05, 5)


@pytest.mark.parametrize("case", list(CASES))
def test_filter_gram_is_the_explicit_normal_equations(case):
    m, C, k, N = CASES[case]
    g = torch.Generator().manual_seed(11)
    X = torch.randn(3, m, *N, generator=g, dtype=torch.float64)
    Y = torch.randn(3, C, *N, generator=g, dtype=torch.float64)
    H, E = conv_filter_gram(X, Y, k)
    K = int(np.prod(k))
    A = _shift_matrix(X.numpy(), C, k).reshape(-1, m, C, K)  # columns (j, c, t)
    for c in range(C):
        Ac = A[:, :, c, :].reshape(A.shape[0], m * K)
        np.testing.assert_allclose(H.numpy(), Ac.T @ Ac, atol=1e-10)
        np.testing.assert_allclose(E[c].numpy(), Ac.T @ Y.numpy().reshape(-1), atol=1e-10)
    assert H.dtype == X.dtype and E.shape == (C, m * K)


@pytest.mark.parametrize("case", ["1d-2ch", "2d"])
def test_gram_filter_update_solves_the_least_squares_and_constrained_problems(case):
    import cvxpy as cp

    m, C, k, N = CASES[case]
    g = torch.Generator().manual_seed(7)
    X = torch.randn(3, m, *N, generator=g, dtype=torch.float64)
    Y = torch.randn(3, C, *N, generator=g, dtype=torch.float64)
    A = _shift_matrix(X.numpy(), C, k)
    d_ls = np.linalg.lstsq(A, Y.numpy().reshape(-1), rcond=None)[0]
    D = conv_filter_update(X, Y, torch.zeros(m, C, *k, dtype=torch.float64), 3000, project=False, method="gram")
    np.testing.assert_allclose(D.numpy().reshape(-1), d_ls, atol=1e-6)
    # the unit-ball-constrained minimizer (cvxpy), reached by both methods
    d = cp.Variable(A.shape[1])
    per = C * int(np.prod(k))
    cons = [cp.norm(d[j * per:(j + 1) * per]) <= 1 for j in range(m)]
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ d - Y.numpy().reshape(-1))), cons).solve(solver="CLARABEL")
    Dg = conv_filter_update(X, Y, torch.zeros(m, C, *k, dtype=torch.float64), 5000, method="gram")
    Df = conv_filter_update(X, Y, torch.zeros(m, C, *k, dtype=torch.float64), 5000, method="fft")
    np.testing.assert_allclose(Dg.numpy().reshape(-1), d.value, atol=1e-5)
    np.testing.assert_allclose(Df.numpy().reshape(-1), d.value, atol=1e-5)
    with pytest.raises(ValueError, match="`method` must be one of"):
        conv_filter_update(X, Y, Dg, 1, method="exact")
    with pytest.raises(ValueError, match="`Y` must have shape"):
        conv_filter_gram(X, Y[:1], k)
    with pytest.raises(ValueError, match="`filter_size` must be an int or"):
        conv_filter_gram(X, Y, (2,) * (len(k) + 1))


def test_gram_dictionary_learning_is_monotone_and_recovers_planted_filters():
    D_true, Y = _planted()
    D0 = D_true + 0.3 * torch.randn(D_true.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    res = learn_conv_dictionary(Y, 3, 8, 0.05, 30, D0=D0, filter_method="gram", filter_steps=50)
    h = res.objective.numpy()
    assert (np.diff(h) <= 1e-12).all() and h[-1] < 0.5 * h[0]
    match = torch.nn.functional.conv1d(torch.nn.functional.pad(res.filters, (7, 7)), D_true).abs().amax(-1)
    assert (match.amax(0) > 0.99).all()
    with pytest.raises(ValueError, match="`filter_method` must be one of"):
        learn_conv_dictionary(Y, 3, 8, 0.05, 2, filter_method="svd")
