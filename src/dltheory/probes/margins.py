r"""Margins of linear (homogeneous) classifiers and the max-margin directions they tend to.

For data :math:`(x_i, y_i)`, :math:`y_i \in \{-1, +1\}`, and a direction :math:`w`:
the margins are :math:`y_i \langle x_i, w\rangle`; the normalized margin in a norm
:math:`\|\cdot\|` is :math:`\min_i y_i\langle x_i, w\rangle / \|w\|`. The max-margin
direction in that norm solves :math:`\min \|w\|\ \text{s.t.}\ y_i\langle x_i, w\rangle \ge 1`
(homogeneous: no intercept). l2 is a QP (cvxpy); l1 and l-infinity are LPs (scipy HiGHS).

References: Soudry et al., JMLR 2018 (l2, gradient descent); Gunasekar, Lee, Soudry, Srebro,
ICML 2018 (other norms, steepest descent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dltheory.core.arrays import ArrayLike
from dltheory.core.arrays import as_float64 as _np
from dltheory.core.errors import check_choice


def _check_xy(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    X, y = _np(X, "X"), _np(y, "y").reshape(-1)
    if X.ndim != 2:
        raise ValueError(f"`X` must be 2-D (n, d); got shape {X.shape}.")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"`X` and `y` must have the same number of rows; got X {X.shape} and y {y.shape}.")
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError(f"`y` must hold labels in {{-1, +1}}; got values {np.unique(y)[:5]}.")
    return X, y


def margins(w: ArrayLike, X: ArrayLike, y: ArrayLike) -> np.ndarray:
    r"""Unnormalized margins :math:`y_i \langle x_i, w\rangle`, shape (n,). Cost: one matvec."""
    X, y = _check_xy(X, y)
    w = _np(w, "w").reshape(-1)
    if w.shape[0] != X.shape[1]:
        raise ValueError(f"`w` must have {X.shape[1]} entries to match X {X.shape}; got {w.shape}.")
    return y * (X @ w)


def normalized_margin(w: ArrayLike, X: ArrayLike, y: ArrayLike, *, norm: float | str = 2) -> float:
    r""":math:`\min_i y_i\langle x_i, w\rangle / \|w\|_p` with ``norm`` p in {1, 2, inf}."""
    p = _norm_order(norm)
    w_np = _np(w, "w").reshape(-1)
    nw = np.linalg.norm(w_np, ord=p)
    if nw == 0:
        raise ValueError("`w` must be nonzero to normalize its margin; got the zero vector.")
    return float(margins(w_np, X, y).min() / nw)


def angle(u: ArrayLike, v: ArrayLike) -> float:
    """Angle in radians between two nonzero vectors (numerically safe near 0)."""
    u, v = _np(u, "u").reshape(-1), _np(v, "v").reshape(-1)
    if u.shape != v.shape:
        raise ValueError(f"`u` and `v` must have the same shape; got {u.shape} and {v.shape}.")
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        raise ValueError("`u` and `v` must be nonzero to have an angle.")
    a, b = u / nu, v / nv
    # 2 atan2(|a - b|, |a + b|) is accurate for tiny angles, unlike arccos
    return float(2.0 * math.atan2(np.linalg.norm(a - b), np.linalg.norm(a + b)))


@dataclass(frozen=True)
class MaxMargin:
    """A max-margin solution.

    Attributes:
        w: the minimum-norm separator with all margins >= 1.
        direction: ``w / ||w||`` in the chosen norm.
        margin: the optimal normalized margin ``1 / ||w||``.
        support: indices with margin within ``1e-6`` of 1 (the support vectors).
        norm: the norm (1, 2 or inf).
    """

    w: np.ndarray
    direction: np.ndarray
    margin: float
    support: np.ndarray
    norm: float


def _norm_order(norm: float | str) -> float:
    if norm in ("inf", "linf", math.inf):
        return math.inf
    check_choice("norm", norm, (1, 2, "inf", math.inf))
    return float(norm)


def _finish(w: np.ndarray, X: np.ndarray, y: np.ndarray, p: float) -> MaxMargin:
    nw = float(np.linalg.norm(w, ord=p))
    m = y * (X @ w)
    return MaxMargin(w, w / nw, 1.0 / nw, np.flatnonzero(m <= 1 + 1e-6), p)


def _not_separable(norm) -> ValueError:
    return ValueError(f"the data are not linearly separable through the origin (no homogeneous {norm}-max-margin separator exists).")


def max_margin(X: ArrayLike, y: ArrayLike, *, norm: float | str = 2) -> MaxMargin:
    r"""Homogeneous max-margin separator in the l1, l2 or l-infinity norm.

    Solves :math:`\min_w \|w\|_p\ \text{s.t.}\ y_i \langle x_i, w\rangle \ge 1`.
    l2: a QP solved with cvxpy (Clarabel); l1, l-inf: LPs solved with scipy's HiGHS.
    The l1 and l-inf solutions need not be unique; the optimal margin is.

    Raises:
        ValueError: the data are not separable through the origin.
    """
    X, y = _check_xy(X, y)
    p = _norm_order(norm)
    if p == 2:
        return max_margin_l2(X, y)
    from scipy.optimize import linprog

    n, d = X.shape
    A = y[:, None] * X  # rows y_i x_i
    if p == 1:
        # w = a - b, a, b >= 0; min 1^T (a + b); A (a - b) >= 1
        c = np.ones(2 * d)
        A_ub = -np.hstack([A, -A])
        res = linprog(c, A_ub=A_ub, b_ub=-np.ones(n), bounds=[(0, None)] * (2 * d), method="highs")
        if res.status != 0:
            raise _not_separable("l1")
        w = res.x[:d] - res.x[d:]
    else:
        # variables (w, t); min t; A w >= 1; -t <= w_j <= t
        c = np.zeros(d + 1)
        c[-1] = 1.0
        A_ub = np.vstack([
            np.hstack([-A, np.zeros((n, 1))]),
            np.hstack([np.eye(d), -np.ones((d, 1))]),
            np.hstack([-np.eye(d), -np.ones((d, 1))]),
        ])
        b_ub = np.concatenate([-np.ones(n), np.zeros(2 * d)])
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * d + [(0, None)], method="highs")
        if res.status != 0:
            raise _not_separable("l-inf")
        w = res.x[:d]
    return _finish(w, X, y, p)


def max_margin_l2(X: ArrayLike, y: ArrayLike) -> MaxMargin:
    r"""Homogeneous hard-margin SVM: :math:`\min \tfrac12\|w\|_2^2` s.t. :math:`y_i\langle x_i,w\rangle\ge1` (no intercept)."""
    import cvxpy as cp

    X, y = _check_xy(X, y)
    w = cp.Variable(X.shape[1])
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w)), [cp.multiply(y, X @ w) >= 1])
    try:
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    except cp.error.SolverError:
        prob.solve()
    if prob.status not in ("optimal", "optimal_inaccurate") or w.value is None:
        raise _not_separable("l2")
    return _finish(np.asarray(w.value, dtype=np.float64), X, y, 2.0)
