r"""Interpolating solutions of an underdetermined linear system :math:`X\beta = y` that minimize
a potential: the l1 norm (basis pursuit), the l2 norm, and the hyperbolic-entropy potential
:math:`Q_\alpha` that gradient flow on a diagonal linear network converges to.

Woodworth et al. 2020 ("Kernel and rich regimes in overparametrized models", COLT 2020,
Thm 1): for :math:`\beta = w_+^2 - w_-^2` with :math:`w_\pm(0) = \alpha\mathbf 1` trained by
gradient flow on the squared loss, if the limit interpolates then it is

.. math:: \beta_\alpha = \operatorname*{argmin}_{X\beta = y} Q_\alpha(\beta),\quad
          Q_\alpha(\beta) = \alpha^2 \sum_i q(\beta_i/\alpha^2),\quad
          q(z) = 2 - \sqrt{4 + z^2} + z \operatorname{arcsinh}(z/2).

Derivation of the constants (used by the solver below): gradient flow gives
:math:`\dot w_\pm = \mp 2 w_\pm \odot X^\top r(t)`, so :math:`w_\pm(t) = \alpha e^{\pm s(t)}`
with :math:`s = -2\int_0^t X^\top r \in \operatorname{range}(X^\top)` and
:math:`\beta = \alpha^2(e^{2s} - e^{-2s}) = 2\alpha^2 \sinh(X^\top\nu)`. Since
:math:`q'(z) = \operatorname{arcsinh}(z/2)`, this is exactly the KKT condition
:math:`\nabla Q_\alpha(\beta) = \operatorname{arcsinh}(\beta / 2\alpha^2) = X^\top \nu` of the
program. Large :math:`\alpha`: :math:`Q_\alpha(\beta) \approx \|\beta\|_2^2/(4\alpha^2)` (kernel
regime, min-l2); small :math:`\alpha`: :math:`Q_\alpha(\beta) / \log(1/\alpha^2) \to \|\beta\|_1`
(rich regime, min-l1).

:func:`q_alpha_interpolant` solves the strictly convex dual
:math:`\min_\nu D(\nu) = \sum_i 2\alpha_i^2\cosh((X^\top\nu)_i) - y^\top\nu` by damped Newton;
``alpha`` may be a vector (per-coordinate scales: the limit of discrete GD, whose steps shrink
:math:`w_{+,i} w_{-,i}` below :math:`\alpha^2`; Nacson et al., ICML 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from dltheory.core.arrays import ArrayLike
from dltheory.core.arrays import as_float64 as _array
from dltheory.core.errors import check_float, check_int


def _system(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    X, y = _array(X, "X"), _array(y, "y").reshape(-1)
    if X.ndim != 2:
        raise ValueError(f"`X` must be 2-D (n, d); got shape {X.shape}.")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"`X` and `y` must have the same number of rows; got X {X.shape} and y {y.shape}.")
    return X, y


def min_l2_interpolant(X: ArrayLike, y: ArrayLike) -> np.ndarray:
    r"""The minimum-l2-norm solution :math:`X^+ y = \operatorname{argmin}_{X\beta=y}\|\beta\|_2`.

    Uses ``numpy.linalg.lstsq`` (SVD, cost O(n d min(n, d))). Shapes: X (n, d), y (n,) -> (d,).
    """
    X, y = _system(X, y)
    return np.linalg.lstsq(X, y, rcond=None)[0]


def min_l1_interpolant(X: ArrayLike, y: ArrayLike) -> np.ndarray:
    r"""Basis pursuit :math:`\operatorname{argmin}_{X\beta = y}\|\beta\|_1`.

    Solved as the LP :math:`\min \mathbf 1^\top(u + v)` s.t. :math:`X(u - v) = y`, :math:`u, v \ge 0`
    with scipy's HiGHS (2d variables, n equality constraints). Shapes: X (n, d), y (n,) -> (d,).

    Raises:
        ValueError: the system has no solution.
    """
    X, y = _system(X, y)
    d = X.shape[1]
    res = linprog(np.ones(2 * d), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise ValueError(f"`X beta = y` has no l1-minimal solution: {res.message}")
    return res.x[:d] - res.x[d:]


def q_alpha(beta: ArrayLike, alpha: float | ArrayLike) -> float:
    r""":math:`Q_\alpha(\beta) = \sum_i \alpha_i^2 q(\beta_i/\alpha_i^2)`, :math:`q(z) = 2 - \sqrt{4+z^2} + z\operatorname{arcsinh}(z/2)`
    (Woodworth et al. 2020, Thm 1). Cost O(d)."""
    beta = _array(beta, "beta").reshape(-1)
    a = _alpha_squared(alpha, beta.shape[0])
    z = beta / a
    # 2 - sqrt(4 + z^2) = -z^2 / (2 + sqrt(4 + z^2)): no cancellation at small z (large alpha)
    return float(np.sum(a * (z * np.arcsinh(z / 2.0) - z * z / (2.0 + np.sqrt(4.0 + z * z)))))


@dataclass(frozen=True)
class QAlphaSolution:
    r"""Solution of :math:`\min Q_\alpha(\beta)` s.t. :math:`X\beta = y`.

    Attributes:
        beta: the minimizer, :math:`2\alpha^2 \sinh(X^\top\nu)`, shape (d,).
        nu: the dual variable (Lagrange multiplier), shape (n,).
        residual: :math:`\|X\beta - y\|_2 / \|y\|_2` (primal feasibility; stationarity is exact).
        iterations: Newton iterations taken.
    """

    beta: np.ndarray
    nu: np.ndarray
    residual: float
    iterations: int


def _alpha_squared(alpha: float | ArrayLike, d: int) -> np.ndarray:
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        check_float("alpha", alpha, minimum=0.0, strict_min=True)
        return np.full(d, float(alpha) ** 2)
    a = _array(alpha, "alpha").reshape(-1)
    if a.shape[0] != d or np.any(a <= 0):
        raise ValueError(f"`alpha` must be a positive float or a positive array of shape ({d},); got shape {a.shape}, min {a.min() if a.size else None}.")
    return a * a


def q_alpha_interpolant(X: ArrayLike, y: ArrayLike, alpha: float | ArrayLike, *, tol: float = 1e-12, max_iter: int = 500) -> QAlphaSolution:
    r""":math:`\operatorname{argmin}_{X\beta=y} Q_\alpha(\beta)` by damped Newton on the dual.

    .. math:: \min_\nu D(\nu) = \sum_i 2\alpha_i^2 \cosh((X^\top\nu)_i) - y^\top\nu,\qquad
              \beta = \nabla_u\Big(\sum_i 2\alpha_i^2\cosh u_i\Big)\Big|_{u = X^\top\nu} = 2\alpha^2\sinh(X^\top\nu).

    :math:`\nabla D = X\beta - y` and :math:`\nabla^2 D = X\operatorname{diag}(2\alpha^2\cosh(X^\top\nu))X^\top`
    (positive definite when X has full row rank), so the minimizer of D gives a feasible
    :math:`\beta` satisfying the KKT condition :math:`\operatorname{arcsinh}(\beta/2\alpha^2) = X^\top\nu`
    exactly. Newton with Armijo backtracking converges globally; each iteration costs
    O(n^2 d + n^3). Exponentials are evaluated as ``exp(u + log(alpha^2))`` so that alphas
    down to 1e-100 do not overflow.

    Args:
        X: (n, d) with full row rank (n <= d).
        y: (n,).
        alpha: initialization scale, a positive float or a per-coordinate array of shape (d,).
        tol: stop when :math:`\|X\beta - y\|_2 \le` ``tol`` :math:`\cdot \|y\|_2`.
        max_iter: Newton iteration limit.

    Raises:
        RuntimeError: no convergence within ``max_iter`` iterations.
    """
    X, y = _system(X, y)
    tol = check_float("tol", tol, minimum=0.0, strict_min=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    n, d = X.shape
    log_a = np.log(_alpha_squared(alpha, d))
    y_norm = max(float(np.linalg.norm(y)), np.finfo(float).tiny)

    def parts(nu: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """D(nu) - const, beta(nu), 2 alpha^2 cosh(X^T nu), ||grad D(nu)||."""
        u = X.T @ nu
        with np.errstate(over="ignore", invalid="ignore"):
            ep, em = np.exp(u + log_a), np.exp(-u + log_a)  # alpha^2 e^{+-u}
            # small |u|: sinh forms avoid cancellation (large alpha: beta = O(alpha^2 u))
            small, a, us = np.abs(u) < 1.0, np.exp(log_a), np.where(np.abs(u) < 1.0, u, 0.0)
            excess = np.where(small, 4.0 * a * np.sinh(us / 2.0) ** 2, ep + em - 2.0 * a)  # 2a(cosh u - 1)
            beta = np.where(small, 2.0 * a * np.sinh(us), ep - em)
            D = float(np.sum(excess) - y @ nu)
            g_norm = float(np.sqrt(np.sum((X @ beta - y) ** 2))) if np.isfinite(D) else np.inf
        return D, beta, ep + em, g_norm

    nu = np.zeros(n)
    D, beta, curv, g_norm = parts(nu)
    for it in range(max_iter + 1):
        if g_norm <= tol * y_norm:
            return QAlphaSolution(beta, nu, g_norm / y_norm, it)
        if it == max_iter:
            break
        grad = X @ beta - y
        step = np.linalg.solve((X * curv) @ X.T, -grad)
        slope = float(grad @ step)
        t = 1.0
        while t >= 1e-30:
            D_new, beta_new, curv_new, g_new = parts(nu + t * step)
            # Armijo on D; near the optimum D's decrease drops below rounding, and the
            # (quadratically convergent) Newton step is accepted when it halves the gradient
            if np.isfinite(g_new) and (D_new <= D + 0.25 * t * slope or g_new <= 0.5 * g_norm):
                break
            t *= 0.5
        else:
            break  # no representable decrease
        nu, D, beta, curv, g_norm = nu + t * step, D_new, beta_new, curv_new, g_new
    res = g_norm / y_norm
    raise RuntimeError(f"q_alpha_interpolant did not converge in {max_iter} Newton iterations (relative residual {res:.3g} > tol {tol:g}).")
