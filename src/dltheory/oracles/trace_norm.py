r"""Trace-norm oracles for dropout on factorized models (Lecture 3).

Dropout on the r hidden units of :math:`U V^\top` adds the explicit regularizer
:math:`R(U,V) = \lambda\sum_k (u_k^\top P u_k)(v_k^\top Q v_k)` (see
:mod:`dltheory.models.dropout`). Its minimum over the factorizations of a fixed matrix X with
:math:`\operatorname{rank} X \le r` is the squared weighted trace norm

.. math::

    \min_{U V^\top = X} R(U, V) = \frac{\lambda}{r}\,\|X\|_{(p,q)}^2, \qquad
    \|X\|_{(p,q)} = \big\|\mathrm{diag}(\sqrt p)\, X\, \mathrm{diag}(\sqrt q)\big\|_*,

attained exactly at the *equalized* factorizations, whose r products
:math:`\|P^{1/2}u_k\|\,\|Q^{1/2}v_k\|` are all equal to :math:`\|X\|_{(p,q)}/r`
(Cauchy-Schwarz, then the variational form of the trace norm). Mianjy, Arora, Vidal 2018,
Sec. 2 prove it for P = Q = I; Arora, Bartlett, Mianjy, Srebro 2021, Sec. 2 for the
sampling marginals p, q of matrix completion.

- :func:`weighted_trace_norm`: :math:`\|X\|_{(p,q)}` by numpy SVD;
- :func:`weighted_trace_norm_sdp`: the same number from its semidefinite program (cvxpy), the
  variational form :math:`\min_{X = UV^\top} \tfrac12(\sum_i p_i\|u^{(i)}\|^2 + \sum_j q_j\|v^{(j)}\|^2)`
  (Srebro & Salakhutdinov 2010);
- :func:`induced_dropout_regularizer`: :math:`(\lambda/r)\|X\|_{(p,q)}^2`;
- :func:`equalized_factorization`: an r-column factorization attaining it (Givens rotations);
- :func:`dropout_factorization_optimum`: the global minimizer of the dropout objective of
  matrix factorization, :math:`\min_{U,V} \|M - UV^\top\|_F^2 + \lambda\sum_k\|u_k\|^2\|v_k\|^2`,
  in closed form by shrinking the singular values of M (Mianjy, Arora, Vidal 2018, Sec. 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dltheory.core.errors import check_float, check_int

ArrayLike = np.ndarray | torch.Tensor


def _matrix(X: ArrayLike, name: str = "X") -> np.ndarray:
    a = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    if a.ndim != 2:
        raise ValueError(f"`{name}` must be a matrix (2-D); got shape {a.shape}.")
    return a.astype(np.float64)


def _weights(w: ArrayLike | None, size: int, name: str) -> np.ndarray:
    if w is None:
        return np.ones(size)
    a = w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w, dtype=np.float64)
    if a.shape != (size,):
        raise ValueError(f"`{name}` must have shape ({size},) to match `X`; got {a.shape}.")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"`{name}` must be finite and > 0 (sampling marginals); got min {a.min():.3g}.")
    return a.astype(np.float64)


def _reweighted(X: ArrayLike, row_weights: ArrayLike | None, col_weights: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(diag(sqrt p) X diag(sqrt q), sqrt p, sqrt q)."""
    Xn = _matrix(X)
    sp = np.sqrt(_weights(row_weights, Xn.shape[0], "row_weights"))
    sq = np.sqrt(_weights(col_weights, Xn.shape[1], "col_weights"))
    return sp[:, None] * Xn * sq[None, :], sp, sq


def weighted_trace_norm(X: ArrayLike, *, row_weights: ArrayLike | None = None, col_weights: ArrayLike | None = None) -> float:
    r"""The weighted trace norm :math:`\|\mathrm{diag}(\sqrt p)\,X\,\mathrm{diag}(\sqrt q)\|_*`.

    Args:
        X: (m, n) matrix.
        row_weights: p, shape (m,), positive (default all ones: the plain trace norm).
        col_weights: q, shape (n,), positive.

    Cost: one SVD of an m x n matrix. Srebro & Salakhutdinov, NeurIPS 2010.
    """
    Xt, _, _ = _reweighted(X, row_weights, col_weights)
    return float(np.linalg.svd(Xt, compute_uv=False).sum())


def weighted_trace_norm_sdp(X: ArrayLike, *, row_weights: ArrayLike | None = None, col_weights: ArrayLike | None = None,
                            solver: str = "CLARABEL") -> float:
    r"""The weighted trace norm from its semidefinite program (an independent check of the SVD).

    .. math::

        \min_{A, B}\ \tfrac12\big(\operatorname{tr}(\mathrm{diag}(p) A) + \operatorname{tr}(\mathrm{diag}(q) B)\big)
        \ \text{s.t.}\ \begin{pmatrix} A & X \\ X^\top & B\end{pmatrix} \succeq 0,

    the convex form of :math:`\min_{X=UV^\top}\tfrac12(\sum_i p_i\|u^{(i)}\|^2 + \sum_j q_j\|v^{(j)}\|^2)`.

    Cost: an interior-point solve over (m + n)^2 variables; for small matrices (m + n <~ 60).
    """
    import cvxpy as cp  # imported here: slow to import and only needed for this check

    Xn = _matrix(X)
    m, n = Xn.shape
    p = _weights(row_weights, m, "row_weights")
    q = _weights(col_weights, n, "col_weights")
    Z = cp.Variable((m + n, m + n), symmetric=True)
    objective = 0.5 * (cp.sum(cp.multiply(p, cp.diag(Z[:m, :m]))) + cp.sum(cp.multiply(q, cp.diag(Z[m:, m:]))))
    problem = cp.Problem(cp.Minimize(objective), [Z >> 0, Z[:m, m:] == Xn])
    problem.solve(solver=solver)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"weighted trace-norm SDP: solver {solver} ended with status '{problem.status}'.")
    return float(problem.value)


def induced_dropout_regularizer(X: ArrayLike, *, width: int, lam: float, row_weights: ArrayLike | None = None,
                                col_weights: ArrayLike | None = None) -> float:
    r""":math:`\min_{UV^\top = X,\ U, V \text{ with } r \text{ columns}} R(U,V) = (\lambda/r)\|X\|_{(p,q)}^2`.

    Args:
        X: (m, n) matrix of rank at most ``width``.
        width: number of hidden units r.
        lam: dropout strength :math:`\lambda = (1-\theta)/\theta`.
        row_weights, col_weights: sampling marginals p, q (default ones).

    Raises:
        ValueError: rank(X) > width (no r-column factorization exists).

    Mianjy, Arora, Vidal 2018, Sec. 2; Arora, Bartlett, Mianjy, Srebro 2021, Sec. 2.
    """
    width = check_int("width", width, minimum=1)
    lam = check_float("lam", lam, minimum=0.0)
    Xt, _, _ = _reweighted(X, row_weights, col_weights)
    s = np.linalg.svd(Xt, compute_uv=False)
    rank = int((s > s.max(initial=0.0) * max(Xt.shape) * np.finfo(float).eps).sum())
    if rank > width:
        raise ValueError(f"`X` must have rank <= width = {width} to factor with {width} columns; got rank {rank}.")
    return lam / width * float(s.sum()) ** 2


def _equalize(d: np.ndarray) -> np.ndarray:
    r"""An orthogonal Q with :math:`\mathrm{diag}(Q^\top \mathrm{diag}(d) Q)` constant (= mean d).

    r - 1 plane rotations: each pairs an entry above the mean with one below and turns the
    plane so that one of them becomes the mean (possible by continuity), never touching it again.
    """
    r = d.shape[0]
    t = d.mean()
    S = np.diag(d).astype(np.float64)
    Q = np.eye(r)
    tol = 1e-14 * max(abs(t), 1e-300)
    for _ in range(r - 1):
        diag = np.diag(S)
        hi = [i for i in range(r) if diag[i] > t + tol]
        lo = [j for j in range(r) if diag[j] < t - tol]
        if not hi or not lo:
            break
        i, j = hi[0], lo[0]
        # new (j, j) entry after rotating by phi: mean + A cos 2phi + B sin 2phi, A = (S_jj - S_ii)/2, B = S_ij
        mean, A, B = 0.5 * (S[i, i] + S[j, j]), 0.5 * (S[j, j] - S[i, i]), S[i, j]
        R = np.hypot(A, B)
        two_phi = np.arctan2(B, A) + np.arccos(np.clip((t - mean) / R, -1.0, 1.0))
        c, s = np.cos(two_phi / 2), np.sin(two_phi / 2)
        G = np.eye(r)
        G[i, i], G[i, j], G[j, i], G[j, j] = c, s, -s, c
        S = G.T @ S @ G
        Q = Q @ G
    return Q


def equalized_factorization(X: ArrayLike, *, width: int, row_weights: ArrayLike | None = None,
                            col_weights: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""A factorization :math:`X = U V^\top` with ``width`` columns attaining the induced regularizer.

    From the SVD :math:`\tilde X = P^{1/2} X Q^{1/2} = W \Sigma Y^\top`: :math:`\tilde U = W\Sigma^{1/2} G`,
    :math:`\tilde V = Y \Sigma^{1/2} G` (padded with zero columns to r) with an orthogonal G that
    makes :math:`\tilde U^\top\tilde U = \tilde V^\top \tilde V` have a constant diagonal
    :math:`\|\tilde X\|_*/r`; then :math:`U = P^{-1/2}\tilde U`, :math:`V = Q^{-1/2}\tilde V`. Every
    product :math:`\|P^{1/2}u_k\|\|Q^{1/2}v_k\|` equals :math:`\|X\|_{(p,q)}/r`.

    Returns:
        ``(U, V)`` numpy arrays of shapes (m, r), (n, r). Cost: one SVD and r - 1 rotations.
    Raises:
        ValueError: rank(X) > width.
    Mianjy, Arora, Vidal 2018, Sec. 2 (the equalizing rotation).
    """
    width = check_int("width", width, minimum=1)
    Xt, sp, sq = _reweighted(X, row_weights, col_weights)
    W, s, Yt = np.linalg.svd(Xt, full_matrices=False)
    rank = int((s > s.max(initial=0.0) * max(Xt.shape) * np.finfo(float).eps).sum())
    if rank > width:
        raise ValueError(f"`X` must have rank <= width = {width} to factor with {width} columns; got rank {rank}.")
    m, n = Xt.shape
    Ut, Vt = np.zeros((m, width)), np.zeros((n, width))
    Ut[:, :rank] = W[:, :rank] * np.sqrt(s[:rank])
    Vt[:, :rank] = Yt[:rank].T * np.sqrt(s[:rank])
    d = np.zeros(width)
    d[:rank] = s[:rank]
    G = _equalize(d)
    return (Ut @ G) / sp[:, None], (Vt @ G) / sq[:, None]


@dataclass(frozen=True)
class DropoutOptimum:
    r"""Global minimizer of :math:`f(U,V) = \|M - UV^\top\|_F^2 + \lambda\sum_{k\le r}\|u_k\|^2\|v_k\|^2`.

    Attributes:
        matrix: the optimal end-to-end matrix :math:`Z^* = U^*V^{*\top}` (m, n).
        singular_values: its singular values (min(m, n),), :math:`(\sigma_i - \alpha)_+` for i <= rank.
        data_singular_values: the singular values :math:`\sigma_i` of M.
        rank: :math:`\rho`, the number of singular values kept (at most the width r).
        shrinkage: :math:`\alpha = \lambda\sum_{i\le\rho}\sigma_i/(r + \lambda\rho)`.
        objective: the optimal value :math:`\|M - Z^*\|_F^2 + (\lambda/r)\|Z^*\|_*^2`.
        product: the common value :math:`\|Z^*\|_*/r` of every :math:`\|u_k\|\|v_k\|` at an optimum.
    """

    matrix: np.ndarray
    singular_values: np.ndarray
    data_singular_values: np.ndarray
    rank: int
    shrinkage: float
    objective: float
    product: float


def dropout_factorization_optimum(M: ArrayLike, *, width: int, lam: float) -> DropoutOptimum:
    r"""The closed-form global optimum of dropout matrix factorization with ``width`` columns.

    Minimizing over factorizations first turns the problem into
    :math:`\min_{\operatorname{rank} Z\le r}\|M - Z\|_F^2 + \tfrac{\lambda}{r}\|Z\|_*^2`; Z shares
    M's singular vectors and its singular values :math:`z_i` solve
    :math:`\min_{z\ge0,\ \le r \text{ nonzero}} \sum_i(\sigma_i - z_i)^2 + \tfrac{\lambda}{r}(\sum_i z_i)^2`,
    whose stationarity condition :math:`z_i = \sigma_i - \tfrac{\lambda}{r}\sum_j z_j` on the kept
    set gives

    .. math::

        z_i = \sigma_i - \frac{\lambda\sum_{j\le\rho}\sigma_j}{r + \lambda\rho}\ (i \le \rho),\qquad
        \rho = \max\Big\{j \le r:\ \sigma_j > \frac{\lambda\sum_{i\le j}\sigma_i}{r + \lambda j}\Big\}.

    Note the cap :math:`\rho \le r`: with few columns the rank is limited by the width, not by
    the shrinkage. Mianjy, Arora, Vidal 2018, Sec. 2 (global optima of dropout).

    Args:
        M: (m, n) target matrix.
        width: number of columns r of U and V.
        lam: :math:`\lambda = (1-\theta)/\theta`.

    Cost: one SVD.
    """
    width = check_int("width", width, minimum=1)
    lam = check_float("lam", lam, minimum=0.0)
    Mn = _matrix(M, "M")
    W, s, Yt = np.linalg.svd(Mn, full_matrices=False)
    csum = np.cumsum(s)
    js = np.arange(1, min(width, s.shape[0]) + 1)
    kept = s[: js.shape[0]] > lam * csum[: js.shape[0]] / (width + lam * js)
    rho = int(js[kept].max()) if kept.any() else 0
    alpha = lam * float(csum[rho - 1]) / (width + lam * rho) if rho else 0.0
    z = np.zeros_like(s)
    z[:rho] = s[:rho] - alpha
    Z = (W * z) @ Yt
    objective = float(np.sum((Mn - Z) ** 2)) + lam / width * float(z.sum()) ** 2
    return DropoutOptimum(Z, z, s, rho, alpha, objective, float(z.sum()) / width)
