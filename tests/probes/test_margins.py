"""Margin probes against independent solvers: the homogeneous l2 SVM against scipy SLSQP and
scikit-learn's LinearSVC, the l1 / l-inf LPs against cvxpy; error paths; angle() at tiny angles."""

import math

import cvxpy as cp
import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.svm import LinearSVC

from dltheory.data.synthetic import separable_gaussians
from dltheory.probes.margins import angle, margins, max_margin, max_margin_l2, normalized_margin


def _problem(seed, n=30, d=4):
    X, y = separable_gaussians(n, d, margin=0.2, separation=2.0, generator=torch.Generator().manual_seed(seed))
    return X.numpy(), y.numpy()


def _slsqp_svm(X, y):
    Z = y[:, None] * X
    res = minimize(lambda w: 0.5 * w @ w, np.ones(X.shape[1]), jac=lambda w: w, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda w: Z @ w - 1.0, "jac": lambda w: Z}], options={"ftol": 1e-14, "maxiter": 1000})
    assert res.success, res.message
    return res.x


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # liblinear stops at max_iter far below 1e-8
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_l2_max_margin_matches_slsqp_and_linear_svc(seed):
    X, y = _problem(seed)
    mm = max_margin_l2(X, y)
    w_slsqp = _slsqp_svm(X, y)
    np.testing.assert_allclose(mm.w, w_slsqp, rtol=1e-6, atol=1e-8)
    assert mm.margin == pytest.approx(1 / np.linalg.norm(w_slsqp), rel=1e-7)
    # hinge-loss SVM without intercept; C above the sum of the dual variables (= ||w||^2) makes it the hard margin
    C = 10 * float(mm.w @ mm.w)
    svc = LinearSVC(fit_intercept=False, loss="hinge", C=C, tol=1e-12, max_iter=100_000, dual=True).fit(X, y)
    assert angle(svc.coef_.ravel(), mm.w) < 1e-8
    # the reported margin is the normalized margin of the solution, and the support vectors sit at 1
    assert normalized_margin(mm.w, X, y, norm=2) == pytest.approx(mm.margin, rel=1e-9)
    np.testing.assert_allclose(margins(mm.w, X, y)[mm.support], 1.0, atol=1e-6)
    assert np.all(margins(mm.w, X, y) >= 1 - 1e-7)


def _cvxpy_margin(X, y, p):
    Z = y[:, None] * X
    w = cp.Variable(X.shape[1])
    prob = cp.Problem(cp.Minimize(cp.norm(w, p)), [Z @ w >= 1])
    prob.solve(solver=cp.CLARABEL)
    return 1.0 / prob.value


@pytest.mark.parametrize("norm", [1, "inf"])
@pytest.mark.parametrize("seed", [0, 3])
def test_l1_linf_lp_margins_match_cvxpy(norm, seed):
    X, y = _problem(seed, n=25, d=6)
    mm = max_margin(X, y, norm=norm)
    ref = _cvxpy_margin(X, y, 1 if norm == 1 else "inf")
    assert mm.margin == pytest.approx(ref, rel=1e-6)
    # the LP's w is feasible, and its norm is 1 / margin
    assert np.all(margins(mm.w, X, y) >= 1 - 1e-7)
    assert np.linalg.norm(mm.w, ord=1 if norm == 1 else np.inf) == pytest.approx(1 / mm.margin, rel=1e-9)
    assert normalized_margin(mm.w, X, y, norm=norm) == pytest.approx(mm.margin, rel=1e-7)


def test_norm_ordering_of_optimal_margins():
    # ||w||_inf <= ||w||_2 <= ||w||_1, so the optimal margins are ordered the other way
    X, y = _problem(5, n=20, d=5)
    m1, m2, minf = (max_margin(X, y, norm=p).margin for p in (1, 2, "inf"))
    assert m1 <= m2 + 1e-9 <= minf + 2e-9


@pytest.mark.parametrize("norm", [1, 2, "inf"])
def test_non_separable_raises(norm):
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    y = np.array([1.0, 1.0, -1.0])  # x and -x with the same label: no homogeneous separator
    with pytest.raises(ValueError, match="not linearly separable through the origin"):
        max_margin(X, y, norm=norm)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.ones(3), np.ones(3), "`X` must be 2-D"),
        (np.ones((3, 2)), np.ones(4), "same number of rows"),
        (np.ones((3, 2)), np.array([1.0, 0.0, -1.0]), r"labels in \{-1, \+1\}"),
        (np.array([[np.nan, 1.0]]), np.ones(1), "`X` must be finite"),
    ],
)
def test_bad_inputs(X, y, match):
    with pytest.raises(ValueError, match=match):
        max_margin_l2(X, y)


def test_bad_norm_and_w():
    X, y = _problem(0, n=6, d=2)
    with pytest.raises(ValueError, match="`norm` must be one of"):
        max_margin(X, y, norm=3)
    with pytest.raises(ValueError, match="`w` must have 2 entries"):
        margins(np.ones(3), X, y)
    with pytest.raises(ValueError, match="must be nonzero"):
        normalized_margin(np.zeros(2), X, y)


@pytest.mark.parametrize("eps", [1e-12, 1e-9, 1e-6, 1e-3])
def test_angle_is_accurate_at_tiny_angles(eps):
    u = np.array([3.0, 0.0, 0.0])
    v = np.array([math.cos(eps), math.sin(eps), 0.0]) * 7.0
    assert angle(u, v) == pytest.approx(eps, rel=1e-9)
    assert angle(torch.tensor(u), torch.tensor(v)) == pytest.approx(eps, rel=1e-9)


def test_angle_extremes_and_errors():
    assert angle([1.0, 0.0], [2.0, 0.0]) == 0.0
    assert angle([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(math.pi)
    assert angle([1.0, 0.0], [0.0, 5.0]) == pytest.approx(math.pi / 2)
    with pytest.raises(ValueError, match="must be nonzero"):
        angle([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="same shape"):
        angle([1.0, 0.0], [1.0, 0.0, 0.0])
