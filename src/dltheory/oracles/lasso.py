r"""Lasso references that share no code with :mod:`dltheory.sparse`: scikit-learn's coordinate
descent, cvxpy, and the duality gap (a certificate of suboptimality).

The problem, one signal per row of ``Y`` (B, n) for a dictionary ``D`` (n, m):

.. math:: P(x) = \tfrac12\|y - Dx\|_2^2 + \lambda\|x\|_1 \quad(\text{optionally } x \ge 0).

Its dual (Kim et al. 2007; used by the gap-safe rules of Fercoq, Gramfort, Salmon, ICML 2015) is
:math:`\max_\theta\ \tfrac12\|y\|^2 - \tfrac12\|y - \theta\|^2` s.t. :math:`\|D^\top\theta\|_\infty \le \lambda`
(:math:`D^\top\theta \le \lambda` with :math:`x \ge 0`). For any x, the residual scaled into the
dual feasible set, :math:`\theta = s\,(y - Dx)` with
:math:`s = \min(1, \lambda/\|D^\top(y - Dx)\|_\infty)`, gives
:math:`\operatorname{gap}(x) = P(x) - \text{dual}(\theta) \ge P(x) - P^\star \ge 0`, and the gap is 0
exactly at the optimum. Pure numpy, float64.

Lasso basis pursuit (the equality-constrained :math:`\lambda \to 0` limit) is
:func:`dltheory.oracles.interpolation.min_l1_interpolant` (an LP solved by HiGHS).
"""

from __future__ import annotations

import warnings

import numpy as np

from dltheory.core.arrays import ArrayLike
from dltheory.core.arrays import as_float64 as _array
from dltheory.core.errors import check_float, check_int


def _problem(D: ArrayLike, Y: ArrayLike, lam: float) -> tuple[np.ndarray, np.ndarray, float]:
    D, Y = _array(D, "D"), _array(Y, "Y")
    if D.ndim != 2:
        raise ValueError(f"`D` must be 2-D (n, m); got shape {D.shape}.")
    Y = Y[None] if Y.ndim == 1 else Y
    if Y.ndim != 2 or Y.shape[1] != D.shape[0]:
        raise ValueError(f"`Y` must have shape ({D.shape[0]},) or (B, {D.shape[0]}) for D of shape {D.shape}; got {Y.shape}.")
    return D, Y, check_float("lam", lam, minimum=0.0, strict_min=True)


def lasso_objective_np(D: ArrayLike, Y: ArrayLike, X: ArrayLike, lam: float) -> np.ndarray:
    r""":math:`\tfrac12\|y - Dx\|^2 + \lambda\|x\|_1` per row: D (n, m), Y (B, n), X (B, m) -> (B,)."""
    D, Y, lam = _problem(D, Y, lam)
    X = _array(X, "X").reshape(Y.shape[0], D.shape[1])
    return 0.5 * ((Y - X @ D.T) ** 2).sum(axis=1) + lam * np.abs(X).sum(axis=1)


def lasso_duality_gap(D: ArrayLike, Y: ArrayLike, X: ArrayLike, lam: float, *, positive: bool = False) -> np.ndarray:
    r"""The duality gap of the codes ``X`` (B, m) per signal, (B,): an upper bound on :math:`P(x) - P^\star`.

    See the module docstring for the dual point. With ``positive`` the problem has :math:`x \ge 0`
    (the infeasible ``X`` with a negative entry gets ``inf``). Cost O(Bnm).
    """
    D, Y, lam = _problem(D, Y, lam)
    X = _array(X, "X").reshape(Y.shape[0], D.shape[1])
    R = Y - X @ D.T  # (B, n) residuals
    C = R @ D  # (B, m) D^T r
    worst = C.max(axis=1) if positive else np.abs(C).max(axis=1)
    s = np.minimum(1.0, lam / np.maximum(worst, np.finfo(float).tiny))
    theta = s[:, None] * R
    primal = 0.5 * (R**2).sum(axis=1) + lam * np.abs(X).sum(axis=1)
    dual = 0.5 * (Y**2).sum(axis=1) - 0.5 * ((Y - theta) ** 2).sum(axis=1)
    gap = primal - dual
    if positive:
        gap[(X < 0).any(axis=1)] = np.inf
    return gap


def lasso_sklearn(D: ArrayLike, Y: ArrayLike, lam: float, *, positive: bool = False, tol: float = 1e-12, max_iter: int = 100_000) -> np.ndarray:
    r"""The Lasso codes (B, m) by scikit-learn's coordinate descent (one multi-target fit).

    scikit-learn minimizes :math:`\tfrac{1}{2n}\|y - Dx\|^2 + \alpha\|x\|_1` (n = rows of D), so
    :math:`\alpha = \lambda / n`. Its ``tol`` stops when the duality gap of the scaled problem is
    below :math:`\text{tol}\cdot\|y\|^2/n`, i.e. :math:`\operatorname{gap} \le \text{tol}\,\|y\|^2` in
    our units. Raises RuntimeError if it reports non-convergence.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    D, Y, lam = _problem(D, Y, lam)
    tol = check_float("tol", tol, minimum=0.0, strict_min=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    model = Lasso(alpha=lam / D.shape[0], fit_intercept=False, positive=positive, tol=tol, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model.fit(D, Y.T)
        except ConvergenceWarning as e:
            raise RuntimeError(f"scikit-learn's Lasso did not converge (tol={tol:g}, max_iter={max_iter}): {e}") from None
    return np.asarray(model.coef_).reshape(Y.shape[0], D.shape[1])


def lasso_cvxpy(D: ArrayLike, Y: ArrayLike, lam: float, *, positive: bool = False) -> np.ndarray:
    r"""The Lasso codes (B, m) by cvxpy (CLARABEL, an interior-point method), one problem per signal.

    Accuracy is the solver's (about 1e-8 relative in the objective), not a coordinate-descent
    limit: an independent check of :func:`lasso_sklearn`.
    """
    import cvxpy as cp

    D, Y, lam = _problem(D, Y, lam)
    out = np.empty((Y.shape[0], D.shape[1]))
    for b, y in enumerate(Y):
        x = cp.Variable(D.shape[1], nonneg=positive)
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y - D @ x) + lam * cp.norm1(x))).solve(solver="CLARABEL")
        out[b] = x.value
    return out
