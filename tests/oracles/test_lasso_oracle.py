"""The Lasso oracles against each other (coordinate descent vs interior point), a closed form and
the duality gap's defining properties."""

import numpy as np
import pytest

from dltheory.oracles import lasso as ol


def _problem(n=15, m=30, B=3, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n, m))
    D /= np.linalg.norm(D, axis=0)
    return D, rng.standard_normal((B, n)), 0.2


@pytest.mark.parametrize("positive", [False, True])
def test_sklearn_and_cvxpy_agree(positive):
    D, Y, lam = _problem()
    F_sk = ol.lasso_objective_np(D, Y, ol.lasso_sklearn(D, Y, lam, positive=positive), lam)
    X_cp = ol.lasso_cvxpy(D, Y, lam, positive=positive)
    F_cp = ol.lasso_objective_np(D, Y, X_cp, lam)
    # CLARABEL's default tolerances are 1e-8 (relative gap and feasibility)
    np.testing.assert_allclose(F_sk, F_cp, rtol=1e-7)
    assert (F_sk <= F_cp * (1 + 1e-12)).all()  # coordinate descent at tol 1e-12 is the tighter one


def test_orthonormal_dictionary_gives_soft_thresholding():
    # D = I: argmin 1/2 ||y - x||^2 + lam ||x||_1 = sign(y) max(|y| - lam, 0); with x >= 0, max(y - lam, 0)
    y = np.array([[1.5, -0.3, 0.1, -2.0, 0.25]])
    lam = 0.25
    np.testing.assert_allclose(ol.lasso_sklearn(np.eye(5), y, lam), np.sign(y) * np.maximum(np.abs(y) - lam, 0), atol=1e-12)
    np.testing.assert_allclose(ol.lasso_sklearn(np.eye(5), y, lam, positive=True), np.maximum(y - lam, 0), atol=1e-12)


def test_duality_gap_bounds_the_suboptimality_and_vanishes_at_the_optimum():
    D, Y, lam = _problem(seed=1)
    X = ol.lasso_sklearn(D, Y, lam)
    F_star = ol.lasso_objective_np(D, Y, X, lam)
    # scikit-learn's stopping rule at tol=1e-12: gap <= 1e-12 ||y||^2
    assert (ol.lasso_duality_gap(D, Y, X, lam) <= 1e-12 * (Y**2).sum(axis=1)).all()
    rng = np.random.default_rng(2)
    for scale in (1e-4, 1e-2, 1.0):
        Z = X + scale * rng.standard_normal(X.shape)
        gap = ol.lasso_duality_gap(D, Y, Z, lam)
        assert (gap >= ol.lasso_objective_np(D, Y, Z, lam) - F_star).all() and (gap > 0).all()
    Xp = ol.lasso_sklearn(D, Y, lam, positive=True)
    assert (ol.lasso_duality_gap(D, Y, Xp, lam, positive=True) <= 1e-12 * (Y**2).sum(axis=1)).all()
    assert np.isinf(ol.lasso_duality_gap(D, Y, Xp - 1.0, lam, positive=True)).all()


def test_errors():
    D, Y, lam = _problem()
    with pytest.raises(ValueError, match=r"`Y` must have shape \(15,\) or \(B, 15\) for D of shape \(15, 30\); got \(3, 14\)"):
        ol.lasso_sklearn(D, Y[:, :14], lam)
    with pytest.raises(ValueError, match="`lam` must be a float > 0.0; got 0.0"):
        ol.lasso_cvxpy(D, Y, 0.0)
    with pytest.raises(RuntimeError, match="did not converge"):
        ol.lasso_sklearn(D, Y, 1e-3, max_iter=2)
