r"""Sparse pursuit, batched over signals: thresholding, ISTA/FISTA for the Lasso, and OMP.

Conventions (every routine in :mod:`dltheory.sparse`): a dictionary ``D`` is (n, m) with the
atoms as columns; signals ``Y`` are (B, n), one per row, or a single (n,) signal; codes ``X`` are
(B, m) (or (m,)), so that :math:`Y \approx X D^\top`. Results take ``D``'s dtype (float32 or
float64) and device; every tensor of a call must share them (nothing is moved or cast).

- :func:`soft_threshold`, :func:`hard_threshold`: the proximal maps of :math:`\lambda\|x\|_1`
  and the hard-thresholding operator, optionally restricted to :math:`x \ge 0` (then
  :math:`\operatorname{ReLU}(x - \lambda)` is the nonnegative soft threshold: a CNN layer).
- :func:`ista`, :func:`fista`: proximal gradient for the Lasso
  :math:`\min_x \tfrac12\|y - Dx\|_2^2 + \lambda\|x\|_1` with step :math:`1/L`,
  :math:`L = \|D\|_2^2` (Daubechies, Defrise, De Mol 2004; Beck & Teboulle 2009); differentiable
  through the unrolled iterations.
- :func:`omp`: orthogonal matching pursuit (Pati, Rezaiifar, Krishnaprasad 1993) with the
  progressive Cholesky factorization of Batch-OMP (Rubinstein, Zibulevsky, Elad 2008).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dltheory.core.errors import DivergenceError, check_float, check_int
from dltheory.sparse._checks import check_codes, check_lam, check_matrix, check_signals
from dltheory.sparse.dictionary import check_dictionary

# --------------------------------------------------------------------------- thresholds


def soft_threshold(x: Tensor, lam: float | Tensor, *, nonnegative: bool = False) -> Tensor:
    r"""Soft thresholding :math:`S_\lambda(x) = \operatorname{sign}(x)\max(|x| - \lambda, 0)`, elementwise.

    The proximal map of :math:`\lambda\|\cdot\|_1`; with ``nonnegative`` that of
    :math:`\lambda\|\cdot\|_1 + \iota_{x \ge 0}`, :math:`\max(x - \lambda, 0)` (a ReLU with bias
    :math:`-\lambda`). ``lam`` is a float >= 0 or a tensor broadcastable against ``x``.
    Differentiable in ``x`` and ``lam`` (almost everywhere). Cost O(numel).
    """
    return _soft(x, _threshold_level(lam), nonnegative)


def hard_threshold(x: Tensor, lam: float | Tensor, *, nonnegative: bool = False) -> Tensor:
    r"""Hard thresholding :math:`H_\lambda(x) = x\,\mathbb 1[|x| > \lambda]`, elementwise.

    The proximal map of :math:`\tfrac{\lambda^2}{2}\|\cdot\|_0`; with ``nonnegative``,
    :math:`x\,\mathbb 1[x > \lambda]`. Differentiable in ``x`` (gradient 1 on the kept entries).
    Cost O(numel).
    """
    lam = _threshold_level(lam)
    keep = x > lam if nonnegative else x.abs() > lam
    return x * keep


def _soft(x: Tensor, lam: float | Tensor, nonnegative: bool) -> Tensor:
    """:func:`soft_threshold` without the check of ``lam`` (a tensor check costs a host sync)."""
    if nonnegative:
        return torch.relu(x - lam)
    return x - torch.clamp(x, -lam, lam)  # = sign(x) max(|x| - lam, 0), in two passes


def _threshold_level(lam: float | Tensor) -> float | Tensor:
    if isinstance(lam, Tensor):
        if not bool(torch.isfinite(lam).all()) or bool((lam < 0).any()):
            raise ValueError(f"`lam` must be finite and >= 0; got a tensor with min {float(lam.min()):.6g}.")
        return lam
    return check_float("lam", lam, minimum=0.0)


# --------------------------------------------------------------------------- the Lasso


def lasso_objective(D: Tensor, Y: Tensor, X: Tensor, lam: float | Tensor) -> Tensor:
    r"""The Lasso objective :math:`\tfrac12\|y - Dx\|_2^2 + \lambda\|x\|_1` of each signal.

    Shapes: D (n, m), Y (B, n), X (B, m) -> (B,) (or (n,), (m,) -> ()). ``lam``: float or a
    tensor of shape () or (B,). Cost: one product, O(Bnm). Differentiable.
    """
    D = check_matrix(D)
    Y, single = check_signals(D, Y)
    X = check_codes(D, X, Y.shape[0], "X")
    lam = check_lam(lam, D, Y.shape[0])
    F = _objective(D, Y, X, lam)
    return F[0] if single else F


def _objective(D: Tensor, Y: Tensor, X: Tensor, lam: float | Tensor) -> Tensor:
    r = torch.addmm(Y, X, D.T, beta=-1)  # X D^T - Y  (B, n)
    l1 = lam * X.abs().sum(dim=1, keepdim=True)  # (B, 1)
    return 0.5 * (r * r).sum(dim=1) + l1[:, 0]


@dataclass(frozen=True)
class LassoSolution:
    r"""Result of :func:`ista` / :func:`fista`.

    Attributes:
        codes: the last iterate :math:`x_k`, (B, m) (or (m,) for one signal).
        objective: :math:`\tfrac12\|y - Dx_k\|^2 + \lambda\|x_k\|_1` per signal, (B,) (or ()).
        iterations: k, the number of proximal gradient steps taken.
        converged: whether the relative-change rule stopped the run; None without ``tol``.
        history: the objective after each step, (k, B) (``history[i]`` is :math:`F(x_{i+1})`),
            or None unless asked for.
    """

    codes: Tensor
    objective: Tensor
    iterations: int
    converged: bool | None
    history: Tensor | None


def lipschitz_constant(D: Tensor) -> Tensor:
    r""":math:`L = \|D\|_2^2 = \sigma_{\max}(D)^2`, the Lipschitz constant of :math:`\nabla\tfrac12\|y - Dx\|^2 = D^\top(Dx - y)`.

    Exact (an SVD through ``torch.linalg.matrix_norm(D, 2)``, O(nm min(n, m))); differentiable
    in ``D`` where the top singular value is simple. Returns a 0-d tensor.
    """
    return torch.linalg.matrix_norm(check_matrix(D), ord=2) ** 2


def ista(D: Tensor, Y: Tensor, lam: float | Tensor, steps: int, *, tol: float | None = None, x0: Tensor | None = None,
         L: float | None = None, nonnegative: bool = False, history: bool = False) -> LassoSolution:
    r"""ISTA for the Lasso :math:`\min_x F(x) = \tfrac12\|y - Dx\|_2^2 + \lambda\|x\|_1`, batched over signals.

    .. math:: x_{k+1} = S_{\lambda/L}\big(x_k - D^\top(Dx_k - y)/L\big),\qquad L = \|D\|_2^2,

    a descent method with :math:`F(x_k) - F^\star \le L\|x_0 - x^\star\|^2 / (2k)`
    (Beck & Teboulle 2009, Thm 3.1). See :func:`fista` for the arguments and the costs;
    Daubechies, Defrise, De Mol, Comm. Pure Appl. Math. 57(11), 2004.
    """
    return _proximal_gradient(D, Y, lam, steps, accelerated=False, restart=False, tol=tol, x0=x0, L=L, nonnegative=nonnegative, history=history)


def fista(D: Tensor, Y: Tensor, lam: float | Tensor, steps: int, *, tol: float | None = None, x0: Tensor | None = None,
          L: float | None = None, restart: bool = False, nonnegative: bool = False, history: bool = False) -> LassoSolution:
    r"""FISTA for the Lasso :math:`\min_x F(x) = \tfrac12\|y - Dx\|_2^2 + \lambda\|x\|_1`, batched over signals.

    .. math:: x_k = S_{\lambda/L}\big(z_k - D^\top(Dz_k - y)/L\big),\quad
              t_{k+1} = \tfrac{1 + \sqrt{1 + 4t_k^2}}{2},\quad
              z_{k+1} = x_k + \tfrac{t_k - 1}{t_{k+1}}(x_k - x_{k-1}),

    with :math:`z_1 = x_0`, :math:`t_1 = 1`, so that
    :math:`F(x_k) - F^\star \le 2L\|x_0 - x^\star\|^2/(k+1)^2` (Beck & Teboulle, SIAM J. Imaging
    Sci. 2(1), 2009, Thm 4.4). With ``restart`` the momentum of a signal is reset
    (:math:`t \leftarrow 1`) whenever :math:`(z_k - x_k)^\top(x_k - x_{k-1}) > 0` (the gradient
    scheme of O'Donoghue & Candès, Found. Comput. Math. 15, 2015): usually much faster on the
    Lasso, but outside the O(1/k^2) theorem.

    Args:
        D: dictionary (n, m); atoms need not be normalized.
        Y: signals (B, n) or one signal (n,).
        lam: :math:`\lambda \ge 0`, a float or a tensor of shape () or (B,) (one per signal).
        steps: the most proximal gradient steps.
        tol: if given, stop once every signal has
            :math:`\|x_k - x_{k-1}\|_2 \le \text{tol}\,\|x_k\|_2` (checked each step: one host sync).
        x0: warm start (B, m) (default zeros).
        L: the step is 1/L; default :math:`\|D\|_2^2` (:func:`lipschitz_constant`). A smaller L
            can diverge (then DivergenceError).
        restart: adaptive restart (see above).
        nonnegative: solve the Lasso with :math:`x \ge 0` (prox: :math:`\max(x - \lambda/L, 0)`).
        history: also return the objective after every step (one more product per step).

    Returns:
        :class:`LassoSolution`.

    Cost: two products per step, (B, m) x (m, n) and (B, n) x (n, m): 4Bnm flops, and O(Bm)
    elementwise work; plus an SVD of D for L. Without autograd (no input requires grad, or under
    ``torch.no_grad``) the iterates live in preallocated buffers; otherwise every step is recorded
    and the result is differentiable in ``D``, ``Y``, ``lam``, ``x0`` (through L as well when L
    is computed from D).

    Raises:
        ValueError: bad shapes, dtypes, non-finite input or option values (naming them).
        DivergenceError: the iterates became non-finite (L too small).
    """
    return _proximal_gradient(D, Y, lam, steps, accelerated=True, restart=restart, tol=tol, x0=x0, L=L, nonnegative=nonnegative, history=history)


def _proximal_gradient(D, Y, lam, steps, *, accelerated, restart, tol, x0, L, nonnegative, history) -> LassoSolution:
    D = check_matrix(D)
    Y, single = check_signals(D, Y)
    B, m = Y.shape[0], D.shape[1]
    lam = check_lam(lam, D, B)
    steps = check_int("steps", steps, minimum=1)
    tol = None if tol is None else check_float("tol", tol, minimum=0.0, strict_min=True)
    x = torch.zeros(B, m, dtype=D.dtype, device=D.device) if x0 is None else check_codes(D, x0, B)
    track = torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (D, Y, lam, x))
    if L is None:
        L = lipschitz_constant(D) if track and D.requires_grad else float(lipschitz_constant(D))
    else:
        L = check_float("L", L, minimum=0.0, strict_min=True)
    Ds, thr = D / L, lam / L  # (n, m): gradient step z - r D / L = z - r Ds
    # buffers for the out= arguments when nothing is recorded; None (allocate) under autograd
    buf = (lambda: torch.empty(B, m, dtype=D.dtype, device=D.device)) if not track else (lambda: None)
    r_buf = torch.empty(B, D.shape[0], dtype=D.dtype, device=D.device) if not track else None
    if not track:
        x = x.clone()  # never write into the caller's x0
    z, u_buf, xn_buf, d_buf = (x.clone() if not track else x), buf(), buf(), buf()
    t = torch.ones(B, 1, dtype=D.dtype, device=D.device) if restart else 1.0
    hist, converged, k = [], (False if tol is not None else None), 0
    for k in range(1, steps + 1):  # noqa: B007 (k is the step count reported after the loop)
        r = torch.addmm(Y, z, D.T, beta=-1, out=r_buf)  # z D^T - Y      (B, n)
        u = torch.addmm(z, r, Ds, alpha=-1, out=u_buf)  # z - grad / L   (B, m)
        if nonnegative:
            xn = torch.clamp(torch.sub(u, thr, out=xn_buf), min=0, out=xn_buf)
        else:
            xn = torch.sub(u, torch.clamp(u, -thr, thr, out=xn_buf), out=xn_buf)
        d = torch.sub(xn, x, out=d_buf) if (restart or tol is not None) else None  # x_k - x_{k-1}
        if history:
            hist.append(_objective(D, Y, xn, lam).detach())
        if tol is not None:
            step_norm, norm = torch.linalg.vector_norm(d, dim=1), torch.linalg.vector_norm(xn, dim=1)
            converged = bool((step_norm <= tol * norm).all())
        if accelerated:
            if restart:
                t_next = (1 + torch.sqrt(1 + 4 * t * t)) / 2
                reset = torch.linalg.vecdot(torch.sub(z, xn, out=u_buf), d)[:, None] > 0
                beta = torch.where(reset, 0.0, (t - 1) / t_next)
                t = torch.where(reset, 1.0, t_next)
                z = torch.addcmul(xn, d, beta, out=None if track else z)
            else:
                t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
                z = torch.lerp(xn, x, -(t - 1) / t_next, out=None if track else z)  # x_k + beta (x_k - x_{k-1})
                t = t_next
        # rotate the buffers: x_{k} takes x_{k-1}'s storage next step
        x, xn_buf = xn, (None if track else x)
        if not accelerated:
            z = x
        if converged:
            break
    objective = _objective(D, Y, x, lam)
    if not bool(torch.isfinite(objective).all()):
        L_true = float(lipschitz_constant(D.detach()))
        raise DivergenceError(k, float(objective.max()), f"the iterates are not finite; the step 1/L with L = {float(L):.6g} is too large (L must be >= ||D||_2^2 = {L_true:.6g}).")
    hist_t = torch.stack(hist) if history else None
    if single:
        return LassoSolution(x[0], objective[0], k, converged, hist_t[:, 0] if history else None)
    return LassoSolution(x, objective, k, converged, hist_t)


# --------------------------------------------------------------------------- OMP


@dataclass(frozen=True)
class OMPSolution:
    r"""Result of :func:`omp`.

    Attributes:
        codes: (B, m) (or (m,)), the least-squares coefficients on the chosen atoms, zero elsewhere.
        support: (B, k) long, the chosen atoms in the order chosen, padded with -1 where a signal
            stopped early (or (k,)).
        residual_norm: :math:`\|y - Dx\|_2` per signal, (B,) (or ()).
    """

    codes: Tensor
    support: Tensor
    residual_norm: Tensor


def omp(D: Tensor, Y: Tensor, k: int | None = None, *, tol: float | None = None) -> OMPSolution:
    r"""Orthogonal matching pursuit, batched over signals.

    For each signal, starting from :math:`r = y`, :math:`S = \emptyset`: add the atom
    :math:`j = \operatorname{argmax}_j |d_j^\top r|` to S, set
    :math:`x_S = \operatorname{argmin}\|y - D_S x_S\|_2` and :math:`r = y - D_S x_S`; stop after
    ``k`` atoms or once :math:`\|r\|_2 \le` ``tol`` (checked before each addition; note that
    scikit-learn's ``tol`` bounds :math:`\|r\|_2^2`). A signal also stops when every correlation is
    at rounding level (:math:`\max_j|d_j^\top r| \le n\varepsilon(\|y\|_2 + \|x_S\|_1)`, the
    size of the rounding error of :math:`\alpha^0 - G_{:,S}x_S` below: y is already represented
    exactly, or y = 0) or when the new atom lies in the span of the chosen ones to
    working precision (squared distance :math:`\le n\varepsilon`, beyond which the Cholesky
    update cannot be trusted); :math:`\varepsilon` is the dtype's machine epsilon.

    Exact recovery: if :math:`y = Dx` with :math:`\|x\|_0 = k < (1 + 1/\mu(D))/2`, OMP with ``k``
    finds the support of x (Tropp, IEEE Trans. Inf. Theory 50(10), 2004; Donoho & Elad 2003).

    Implementation (Batch-OMP; Rubinstein, Zibulevsky, Elad, Technion CS-2008-08): with
    :math:`G = D^\top D` and :math:`\alpha^0 = D^\top y` computed once, the correlations are
    :math:`D^\top r = \alpha^0 - G_{:,S}x_S` and :math:`G_{SS} = LL^\top` grows by one row a step.
    Signals that stop are dropped from the batch once half of it has stopped. The support search runs without autograd; the returned
    codes are then solved again by a batched Cholesky of :math:`D_S^\top D_S`, so they are
    differentiable in ``Y`` and ``D`` for the chosen supports.

    Args:
        D: dictionary (n, m) with unit-norm atoms (:func:`~dltheory.sparse.check_dictionary`).
        Y: signals (B, n) or one signal (n,).
        k: the most atoms per signal, 1 <= k <= min(n, m); default min(n, m) (then ``tol`` is
            required).
        tol: residual norm at which a signal stops.

    Returns:
        :class:`OMPSolution`.

    Cost: :math:`G` O(nm^2) and :math:`D^\top Y` O(Bnm) once; step t costs O(B t m) for the
    correlations and O(B t^2) for the triangular solves: O(B k^2 m) in all, plus O(B k n) per
    step with ``tol`` (the residual). Memory: O(B k m) for the rows of G of the chosen atoms
    (64 MiB for B = 4096, k = 8, m = 256 in float64); split larger batches.
    """
    D = check_dictionary(D)
    Y, single = check_signals(D, Y)
    n, m = D.shape
    if k is None and tol is None:
        raise ValueError("`k` and `tol` cannot both be None: give the number of atoms `k`, a residual norm `tol`, or both.")
    k = min(n, m) if k is None else check_int("k", k, minimum=1, maximum=min(n, m))
    tol = None if tol is None else check_float("tol", tol, minimum=0.0)
    with torch.no_grad():
        support = _omp_support(D.detach(), Y.detach(), k, tol)
    codes = _least_squares_on_support(D, Y, support)
    res = torch.linalg.vector_norm(torch.addmm(Y, codes, D.T, beta=-1), dim=1)
    if single:
        return OMPSolution(codes[0], support[0], res[0])
    return OMPSolution(codes, support, res)


def _omp_support(D: Tensor, Y: Tensor, k: int, tol: float | None) -> Tensor:
    """The chosen atoms (B, k), -1 padded (see :func:`omp`)."""
    (B, n), m = Y.shape, D.shape[1]
    dev, dt, eps = D.device, D.dtype, torch.finfo(D.dtype).eps
    G = D.T @ D  # (m, m)
    support = torch.full((B, k), -1, dtype=torch.long, device=dev)
    a0 = Y @ D  # (B, m): D^T y
    # the state of the signals in the batch, one row each (rows: their place in Y); a signal that
    # stops is marked dead and dropped from the state once half the rows are dead (a copy of the
    # state costs about as much as a step)
    st = {
        "rows": torch.arange(B, device=dev),
        "alive": torch.ones(B, dtype=torch.bool, device=dev),
        "ynorm": torch.linalg.vector_norm(Y, dim=1),
        "y": Y,
        "a0": a0,
        "corr": a0.clone(),  # D^T r
        "scale": torch.linalg.vector_norm(Y, dim=1),  # ||y|| + ||x_S||_1: bounds |a0| + |G_{:,S}| |x_S|
        "rnorm": torch.linalg.vector_norm(Y, dim=1),  # ||r||, kept up to date only with tol
        "S": torch.empty(B, k, dtype=torch.long, device=dev),  # chosen atoms
        "L": torch.zeros(B, k, k, dtype=dt, device=dev),  # Cholesky factor of G_SS
        "GS": torch.empty(B, k, m, dtype=dt, device=dev),  # rows G[s, :] of the chosen atoms
        "aS": torch.empty(B, k, dtype=dt, device=dev),  # D^T y at the chosen atoms
    }
    if tol is not None:
        st["DS"] = torch.empty(B, k, n, dtype=dt, device=dev)  # the chosen atoms, for the residual
    for t in range(k):
        A = st["rows"].shape[0]
        c = st["corr"].abs_()  # recomputed from a0 below: free to overwrite
        if t:
            c.scatter_(1, st["S"][:, :t], 0.0)  # a chosen atom is orthogonal to r in exact arithmetic
        cmax, j = c.max(dim=1)
        done = cmax <= n * eps * st["scale"]  # every correlation at rounding level (or y = 0)
        if tol is not None:
            done |= st["rnorm"] <= tol
        w, d2 = None, torch.ones(A, dtype=dt, device=dev)
        if t:
            g = st["GS"][:, :t].gather(2, j.view(A, 1, 1).expand(A, t, 1))  # G[S, j]  (A, t, 1)
            w = torch.linalg.solve_triangular(st["L"][:, :t, :t], g, upper=False)[..., 0]  # (A, t)
            d2 = 1 - (w * w).sum(dim=1)  # squared distance of d_j to span(D_S)
            done |= d2 <= n * eps
        done &= st["alive"]
        if bool(done.any()):
            support[st["rows"][done], :t] = st["S"][done, :t]
            st["alive"] &= ~done
            alive = int(st["alive"].sum())
            if alive == 0:
                return support
            if 2 * alive <= A:
                keep = st["alive"]
                st = {name: v[keep] for name, v in st.items()}
                j, d2, w = j[keep], d2[keep], (None if w is None else w[keep])
        d2 = torch.where(st["alive"], d2, 1.0)  # dead rows run on harmlessly until dropped
        if w is not None:
            st["L"][:, t, :t] = w
        st["L"][:, t, t] = torch.sqrt(d2)
        st["S"][:, t], st["GS"][:, t], st["aS"][:, t] = j, G[j], st["a0"].gather(1, j[:, None])[:, 0]
        xS = torch.cholesky_solve(st["aS"][:, : t + 1, None], st["L"][:, : t + 1, : t + 1]).transpose(1, 2)  # (A, 1, t+1)
        torch.baddbmm(st["a0"][:, None], xS, st["GS"][:, : t + 1], alpha=-1, out=st["corr"][:, None])  # a0 - G_{:,S} x_S
        st["scale"] = st["ynorm"] + xS.abs().sum(dim=(1, 2))
        if tol is not None:
            st["DS"][:, t] = D.T[j]
            st["rnorm"] = torch.linalg.vector_norm(torch.baddbmm(st["y"][:, None], xS, st["DS"][:, : t + 1], alpha=-1), dim=(1, 2))
    support[st["rows"][st["alive"]]] = st["S"][st["alive"]]
    return support


def _least_squares_on_support(D: Tensor, Y: Tensor, support: Tensor) -> Tensor:
    r"""Codes (B, m): :math:`\operatorname{argmin}\|y - D_S x_S\|` on each row's support (-1 padded), by Cholesky of :math:`D_S^\top D_S`."""
    B, m = support.shape[0], D.shape[1]
    mask = support >= 0
    DS = D.T[support.clamp(min=0)] * mask[..., None]  # (B, k, n): chosen atoms, zero rows where padded
    G = DS @ DS.transpose(1, 2) + torch.diag_embed((~mask).to(D.dtype))  # padded slots: identity
    b = DS @ Y[..., None]  # (B, k, 1): D_S^T y, zero where padded
    xS = torch.cholesky_solve(b, torch.linalg.cholesky(G))[..., 0]
    index = torch.where(mask, support, m)  # padded slots scatter into a discarded column m
    return torch.zeros(B, m + 1, dtype=D.dtype, device=D.device).scatter_add(1, index, xS)[:, :m]
