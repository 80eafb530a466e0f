"""Interpolation oracles against closed forms, scipy (brentq, quad, SLSQP) and cvxpy."""

import cvxpy as cp
import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.optimize import brentq, minimize

from dltheory.oracles import interpolation as oi


def _problem(n=4, d=9, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    beta = np.zeros(d)
    beta[[1, 5]] = [1.0, -0.7]
    return X, X @ beta, beta


def test_min_l2_is_the_pseudoinverse_solution():
    X, y, _ = _problem()
    b = oi.min_l2_interpolant(X, y)
    np.testing.assert_allclose(b, np.linalg.pinv(X) @ y, atol=1e-12)
    np.testing.assert_allclose(X @ b, y, atol=1e-12)
    # torch input gives the same answer
    np.testing.assert_allclose(oi.min_l2_interpolant(torch.tensor(X), torch.tensor(y)), b, atol=1e-14)


def test_min_l1_one_equation_closed_form():
    # x^T b = y: the l1-minimal solution puts all weight on the largest |x_j|
    x = np.array([[0.5, -3.0, 1.0, 2.0]])
    b = oi.min_l1_interpolant(x, [6.0])
    np.testing.assert_allclose(b, [0.0, -2.0, 0.0, 0.0], atol=1e-10)


def test_min_l1_matches_cvxpy_and_recovers_sparse_truth():
    X, y, beta = _problem(n=8, d=12, seed=3)
    b = oi.min_l1_interpolant(X, y)
    v = cp.Variable(12)
    cp.Problem(cp.Minimize(cp.norm1(v)), [X @ v == y]).solve(solver="CLARABEL")
    assert np.abs(b).sum() == pytest.approx(np.abs(v.value).sum(), rel=1e-7)
    np.testing.assert_allclose(b, beta, atol=1e-8)  # exact recovery of a 2-sparse vector from 6 equations


def test_min_l1_infeasible_raises():
    X = np.array([[1.0, 1.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match="no l1-minimal solution"):
        oi.min_l1_interpolant(X, [1.0, 3.0])


def test_q_alpha_value_is_the_integral_of_arcsinh():
    beta, alpha = np.array([0.3, -2.0, 0.0, 5.0]), 0.7
    a2 = alpha**2
    expected = a2 * sum(quad(lambda u: np.arcsinh(u / 2), 0, b / a2)[0] for b in beta)
    assert oi.q_alpha(beta, alpha) == pytest.approx(expected, rel=1e-10)


def test_q_alpha_limits():
    beta = np.array([0.4, -1.0, 0.2])
    big = 1e3  # kernel regime: Q = ||beta||^2 / (4 alpha^2) (1 + O(beta^2 / alpha^4))
    assert oi.q_alpha(beta, big) * 4 * big**2 == pytest.approx((beta**2).sum(), rel=1e-8)
    # rich regime: Q(beta) = sum_i |beta_i| (log(1/alpha^2) + log|beta_i| - 1) + o(1), so
    # Q / log(1/alpha^2) -> ||beta||_1 at rate 1/log(1/alpha^2)
    small = 1e-8
    L = np.log(1 / small**2)
    nz = beta[beta != 0]
    assert oi.q_alpha(beta, small) == pytest.approx(np.sum(np.abs(nz) * (L + np.log(np.abs(nz)) - 1)), rel=1e-6)
    assert oi.q_alpha(beta, small) / L == pytest.approx(np.abs(beta).sum(), rel=0.1)


def test_one_equation_symmetric_closed_form():
    # x = c 1: by symmetry beta = y / (d c) 1 for every alpha
    d, c, y = 5, 0.8, 2.0
    for alpha in (1e-4, 0.3, 10.0):
        sol = oi.q_alpha_interpolant(np.full((1, d), c), [y], alpha)
        np.testing.assert_allclose(sol.beta, np.full(d, y / (d * c)), rtol=1e-10)


@pytest.mark.parametrize("alpha", [1e-3, 0.2, 1.0, 30.0])
def test_one_equation_general_matches_scalar_root(alpha):
    # beta_i = 2 alpha^2 sinh(x_i nu) with sum_i x_i beta_i = y: one scalar equation in nu (brentq)
    x, y = np.array([1.0, 2.0, -0.5, 0.3]), 1.5
    nu = brentq(lambda t: x @ (2 * alpha**2 * np.sinh(x * t)) - y, -50, 50, xtol=1e-15)
    sol = oi.q_alpha_interpolant(x[None], [y], alpha)
    np.testing.assert_allclose(sol.beta, 2 * alpha**2 * np.sinh(x * nu), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("alpha", [0.05, 0.5, 3.0])
def test_matches_slsqp_on_the_primal(alpha):
    X, y, _ = _problem()
    sol = oi.q_alpha_interpolant(X, y, alpha)
    a2 = alpha**2
    obj = lambda b: oi.q_alpha(b, alpha) / a2  # noqa: E731
    grad = lambda b: np.arcsinh(b / (2 * a2)) / a2  # noqa: E731
    ref = minimize(obj, oi.min_l2_interpolant(X, y), jac=grad, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda b: X @ b - y, "jac": lambda b: X}], options={"ftol": 1e-14, "maxiter": 1000})
    assert ref.success
    assert oi.q_alpha(sol.beta, alpha) <= oi.q_alpha(ref.x, alpha) + 1e-9
    np.testing.assert_allclose(sol.beta, ref.x, atol=1e-5)


@pytest.mark.parametrize("alpha", [1e-6, 1e-2, 1.0, 100.0])
def test_kkt_conditions(alpha):
    X, y, _ = _problem()
    sol = oi.q_alpha_interpolant(X, y, alpha)
    assert sol.residual < 1e-10
    np.testing.assert_allclose(X @ sol.beta, y, atol=1e-9)
    # stationarity: grad Q = arcsinh(beta / 2 alpha^2) lies in the row space of X
    g = np.arcsinh(sol.beta / (2 * alpha**2))
    proj = X.T @ np.linalg.lstsq(X.T, g, rcond=None)[0]
    assert np.linalg.norm(g - proj) <= 1e-8 * max(1.0, np.linalg.norm(g))
    # feasible perturbations along null(X) increase Q
    null = np.linalg.svd(X)[2][X.shape[0]:]
    for v in null:
        for t in (1e-3, -1e-3):
            assert oi.q_alpha(sol.beta + t * np.abs(sol.beta).max() * v, alpha) >= oi.q_alpha(sol.beta, alpha) - 1e-12 * abs(oi.q_alpha(sol.beta, alpha))


def test_alpha_limits_are_l1_and_l2():
    X, y, _ = _problem(n=6, d=12, seed=3)
    l1, l2 = oi.min_l1_interpolant(X, y), oi.min_l2_interpolant(X, y)
    # the rich-regime approach is slow (here about alpha^0.45), so go to tiny alpha
    small = [np.linalg.norm(oi.q_alpha_interpolant(X, y, a).beta - l1) / np.linalg.norm(l1) for a in (1e-4, 1e-7, 1e-10)]
    large = oi.q_alpha_interpolant(X, y, 1e3).beta
    assert small[0] > small[1] > small[2] and small[2] < 1e-3
    assert np.linalg.norm(large - l2) / np.linalg.norm(l2) < 1e-6
    # and in between the distances move monotonically from l1 to l2
    alphas = np.logspace(-4, 2, 13)
    d1 = [np.linalg.norm(oi.q_alpha_interpolant(X, y, a).beta - l1) for a in alphas]
    d2 = [np.linalg.norm(oi.q_alpha_interpolant(X, y, a).beta - l2) for a in alphas]
    assert np.all(np.diff(d1) > -1e-12) and np.all(np.diff(d2) < 1e-12)


def test_per_coordinate_alpha():
    X, y, _ = _problem()
    a = oi.q_alpha_interpolant(X, y, 0.3).beta
    b = oi.q_alpha_interpolant(X, y, np.full(9, 0.3)).beta
    np.testing.assert_allclose(a, b, rtol=1e-12)
    w = np.linspace(0.1, 1.0, 9)
    sol = oi.q_alpha_interpolant(X, y, w)
    g = np.arcsinh(sol.beta / (2 * w**2))
    assert np.linalg.norm(g - X.T @ np.linalg.lstsq(X.T, g, rcond=None)[0]) < 1e-8


def test_validation_errors():
    X, y, _ = _problem()
    with pytest.raises(ValueError, match="`alpha` must be a float > 0.0"):
        oi.q_alpha_interpolant(X, y, 0.0)
    with pytest.raises(ValueError, match="`alpha` must be a positive float or a positive array of shape"):
        oi.q_alpha_interpolant(X, y, np.ones(3))
    with pytest.raises(ValueError, match="same number of rows"):
        oi.min_l2_interpolant(X, y[:2])
    with pytest.raises(ValueError, match="must be 2-D"):
        oi.min_l1_interpolant(y, y)
    with pytest.raises(ValueError, match="must be finite"):
        oi.q_alpha_interpolant(X, np.full(4, np.nan), 1.0)
    with pytest.raises(ValueError, match="`max_iter` must be an int >= 1"):
        oi.q_alpha_interpolant(X, y, 1.0, max_iter=0)
    with pytest.raises(RuntimeError, match="did not converge"):
        oi.q_alpha_interpolant(X, y, 1e-3, max_iter=1)
