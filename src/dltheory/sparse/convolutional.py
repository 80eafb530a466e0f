r"""Convolutional sparse coding: the convolutional Lasso by FFT-domain ADMM and FISTA, the stripe norm, coherence.

Model (Papyan, Sulam & Elad, IEEE TSP 65(21), 2017; Wohlberg, IEEE TIP 25(1), 2016): a signal
:math:`y \in \mathbb R^{C \times N}` (1-D or 2-D, ``C`` channels) is a sum of ``m`` filters
:math:`d_j` (size ``k`` per channel, ``k <= N``) circularly convolved with sparse feature maps
:math:`x_j \in \mathbb R^N`:

.. math:: y_c = \sum_{j} d_{j,c} \circledast x_j ,\qquad
          \min_x \tfrac12 \Big\|\sum_j d_j \circledast x_j - y\Big\|_2^2 + \lambda \sum_j \|x_j\|_1 .

Shapes: filters ``D`` (m, C, \*k), signals ``Y`` (B, C, \*N), codes ``X`` (B, m, \*N), with
\*k, \*N one or two sizes. The filter's origin is its first entry (SPORCO's convention), so the
problem equals the ordinary Lasso on the explicit banded-circulant matrix of
:func:`dltheory.oracles.convolution.circulant_dictionary`, the reference every solver here is
tested against. Everything follows ``D``'s dtype (float32/float64) and device.

- :func:`conv_reconstruct`, :func:`conv_adjoint`: :math:`X \mapsto \sum_j d_j \circledast x_j` and
  its adjoint (correlation), via real FFTs of size N.
- :func:`conv_lipschitz`: :math:`\|\mathbf D\|_2^2 = \max_\omega \sigma_{\max}(\hat D(\omega))^2`,
  exact (the operator is block diagonal in the Fourier domain, one C x m block per frequency).
- :func:`conv_fista`: FISTA (Beck & Teboulle 2009) with step :math:`1/\|\mathbf D\|_2^2`, the
  gradient by FFT; differentiable through the unrolled steps.
- :func:`conv_admm`: ADMM in the Fourier domain (Wohlberg 2016; Bristow, Eriksson, Lucey 2013):
  the x-update is a per-frequency (C x C) Woodbury solve (for one channel the Sherman-Morrison
  rank-one solve), with over-relaxation and residual-balancing penalty updates (Boyd et al.,
  Found. Trends Mach. Learn. 3(1), 2011, sec. 3.4.1), SPORCO ``admm.cbpdn.ConvBPDN``'s defaults.
- :func:`stripe_norm`: the :math:`\ell_{0,\infty}` norm, the most nonzeros in one stripe (the
  (2k-1)^d positions of all m maps that overlap one k-patch of the signal).
- :func:`learn_conv_dictionary`: convolutional dictionary learning, alternating FISTA on the codes
  and projected gradient on the filters (:func:`conv_filter_update`, unit-norm ball), monotone;
  :func:`conv_filter_gram`: the filter subproblem as an explicit quadratic (Gram matrix of the codes).
- :func:`conv_mutual_coherence`: the mutual coherence of the global dictionary from the filters'
  cross-correlations at every shift (signals of size >= 2k - 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dltheory.core.errors import DivergenceError, check_float, check_int
from dltheory.sparse._checks import check_lam, check_tensor
from dltheory.sparse.pursuit import LassoSolution, _soft

# --------------------------------------------------------------------------- shapes and the operator


def check_filters(D: object, name: str = "D") -> Tensor:
    """Filters as a finite float tensor (m, C, k) or (m, C, k1, k2)."""
    D = check_tensor(name, D, ndim=(3, 4))
    if min(D.shape) < 1:
        raise ValueError(f"`{name}` must have at least one filter, channel and tap; got shape {tuple(D.shape)}.")
    return D


def check_conv_signals(D: Tensor, Y: object, name: str = "Y") -> Tensor:
    """Signals (B, C, \\*N) for the filters ``D`` (m, C, \\*k), every N >= k."""
    d = D.ndim - 2
    Y = check_tensor(name, Y, ndim=(d + 2,), like=D)
    if Y.shape[1] != D.shape[1] or any(n < k for n, k in zip(Y.shape[2:], D.shape[2:], strict=True)):
        sizes = ", ".join(f"N{i + 1} >= {k}" for i, k in enumerate(D.shape[2:]))
        raise ValueError(f"`{name}` must have shape (B, {D.shape[1]}, {'N' if d == 1 else 'N1, N2'}) with {sizes} for filters of shape "
                         f"{tuple(D.shape)} (m, C, *k); got {tuple(Y.shape)}.")
    return Y


def _check_conv_codes(D: Tensor, X: object, batch: int, N: Sequence[int], name: str) -> Tensor:
    X = check_tensor(name, X, ndim=(D.ndim,), like=D)
    want = (batch, D.shape[0], *N)
    if tuple(X.shape) != want:
        raise ValueError(f"`{name}` must have shape {want} (B, m, *N) for filters {tuple(D.shape)} and signals of size {tuple(N)}; got {tuple(X.shape)}.")
    return X


class _Operator:
    """Circular convolution with the filters, diagonalized by real FFTs of size N."""

    def __init__(self, D: Tensor, N: Sequence[int]):
        self.N = tuple(int(n) for n in N)
        self.dims = tuple(range(-len(self.N), 0))
        self.Df = torch.fft.rfftn(D, s=self.N, dim=self.dims)  # (m, C, *F)
        self.C = D.shape[1]

    def fft(self, x: Tensor) -> Tensor:
        return torch.fft.rfftn(x, s=self.N, dim=self.dims)

    def ifft(self, xf: Tensor) -> Tensor:
        return torch.fft.irfftn(xf, s=self.N, dim=self.dims)

    def forward_f(self, Xf: Tensor) -> Tensor:  # (B, m, *F) -> (B, C, *F)
        if self.C == 1:
            return (self.Df[:, 0] * Xf).sum(1, keepdim=True)
        return torch.einsum("mc...,bm...->bc...", self.Df, Xf)

    def adjoint_f(self, Rf: Tensor) -> Tensor:  # (B, C, *F) -> (B, m, *F)
        if self.C == 1:
            return self.Df[:, 0].conj() * Rf
        return torch.einsum("mc...,bc...->bm...", self.Df.conj(), Rf)

    def lipschitz(self) -> Tensor:
        if self.C == 1:
            return (self.Df[:, 0].abs() ** 2).sum(0).max()
        A = self.Df.movedim((0, 1), (-1, -2))  # (*F, C, m)
        return (torch.linalg.matrix_norm(A, ord=2) ** 2).max()


def conv_reconstruct(D: Tensor, X: Tensor) -> Tensor:
    r""":math:`\sum_j d_j \circledast x_j`: codes (B, m, \*N) -> signals (B, C, \*N). Differentiable; O(B m N log N)."""
    D = check_filters(D)
    X = check_tensor("X", X, ndim=(D.ndim,), like=D)
    if X.shape[1] != D.shape[0]:
        raise ValueError(f"`X` must have shape (B, {D.shape[0]}, *N) for {D.shape[0]} filters; got {tuple(X.shape)}.")
    op = _Operator(D, X.shape[2:])
    return op.ifft(op.forward_f(op.fft(X)))


def conv_adjoint(D: Tensor, R: Tensor) -> Tensor:
    r"""The adjoint of :func:`conv_reconstruct` (circular correlation with each filter): (B, C, \*N) -> (B, m, \*N)."""
    D = check_filters(D)
    R = check_conv_signals(D, R, "R")
    op = _Operator(D, R.shape[2:])
    return op.ifft(op.adjoint_f(op.fft(R)))


def conv_lipschitz(D: Tensor, signal_shape: Sequence[int]) -> Tensor:
    r""":math:`\|\mathbf D\|_2^2` for signals of size ``signal_shape``: the largest :math:`\sigma_{\max}(\hat D(\omega))^2` over the DFT frequencies (exact)."""
    D = check_filters(D)
    return _Operator(D, signal_shape).lipschitz()


def conv_lasso_objective(D: Tensor, Y: Tensor, X: Tensor, lam: float | Tensor) -> Tensor:
    r""":math:`\tfrac12\|\sum_j d_j \circledast x_j - y\|^2 + \lambda\|x\|_1` per signal, (B,)."""
    D = check_filters(D)
    Y = check_conv_signals(D, Y)
    X = _check_conv_codes(D, X, Y.shape[0], Y.shape[2:], "X")
    lam = check_lam(lam, D, Y.shape[0])
    return _objective(_Operator(D, Y.shape[2:]), Y, X, lam)


def _objective(op: _Operator, Y: Tensor, X: Tensor, lam) -> Tensor:
    r = op.ifft(op.forward_f(op.fft(X))) - Y
    lam_b = lam.reshape(-1) if isinstance(lam, Tensor) else lam
    return 0.5 * r.flatten(1).pow(2).sum(1) + lam_b * X.flatten(1).abs().sum(1)


def _lam_map(lam, ndim: int):
    """A (B, 1) penalty as (B, 1, 1[, 1]) to broadcast against codes (B, m, *N)."""
    return lam.reshape(-1, *([1] * (ndim - 1))) if isinstance(lam, Tensor) and lam.ndim else lam


def _setup(D, Y, lam, steps, tol, x0):
    D = check_filters(D)
    Y = check_conv_signals(D, Y)
    B, N = Y.shape[0], Y.shape[2:]
    lam = check_lam(lam, D, B)
    steps = check_int("steps", steps, minimum=1)
    tol = None if tol is None else check_float("tol", tol, minimum=0.0, strict_min=True)
    x = torch.zeros(B, D.shape[0], *N, dtype=D.dtype, device=D.device) if x0 is None else _check_conv_codes(D, x0, B, N, "x0")
    return D, Y, lam, steps, tol, x


def _finish(op, Y, x, lam, k, converged, hist, what: str) -> LassoSolution:
    objective = _objective(op, Y, x, lam)
    if not bool(torch.isfinite(objective).all()):
        raise DivergenceError(k, float(objective.max()), f"the {what} iterates are not finite.")
    return LassoSolution(x, objective, k, converged, torch.stack(hist) if hist else None)


# --------------------------------------------------------------------------- FISTA


def conv_fista(D: Tensor, Y: Tensor, lam: float | Tensor, steps: int, *, tol: float | None = None, x0: Tensor | None = None,
               L: float | None = None, restart: bool = True, nonnegative: bool = False, history: bool = False) -> LassoSolution:
    r"""FISTA for the convolutional Lasso, batched over signals, the gradient by FFT.

    The iteration of :func:`dltheory.sparse.fista` with the operator :math:`X \mapsto \sum_j d_j \circledast x_j`:
    two real FFTs of the m maps per step (O(B m N log N)); the step is :math:`1/L` with the exact
    :math:`L = \|\mathbf D\|_2^2` (:func:`conv_lipschitz`) unless given. ``restart`` (default on)
    resets the momentum of a signal when :math:`(z_k - x_k)^\top(x_k - x_{k-1}) > 0` (O'Donoghue &
    Candès 2015). ``tol``: stop when every signal's :math:`\|x_k - x_{k-1}\| \le \text{tol}\|x_k\|`.
    Differentiable through the steps in ``D``, ``Y``, ``lam``, ``x0``. Returns a
    :class:`~dltheory.sparse.LassoSolution` with codes (B, m, \*N); ``history`` is (k, B).

    Raises ValueError on bad shapes/options (naming them) and DivergenceError if the iterates
    become non-finite (L too small).
    """
    D, Y, lam, steps, tol, x = _setup(D, Y, lam, steps, tol, x0)
    op = _Operator(D, Y.shape[2:])
    L = op.lipschitz() if L is None else check_float("L", L, minimum=0.0, strict_min=True)
    lam_m = _lam_map(lam, x.ndim)
    thr = lam_m / L
    Yf = op.fft(Y)
    z, t = x, torch.ones(x.shape[0], *([1] * (x.ndim - 1)), dtype=D.dtype, device=D.device)
    hist, converged, k = [], (False if tol is not None else None), 0
    for k in range(1, steps + 1):  # noqa: B007
        grad = op.ifft(op.adjoint_f(op.forward_f(op.fft(z)) - Yf))
        u = z - grad / L
        xn = _soft(u, thr, nonnegative)
        d = xn - x
        if history:
            hist.append(_objective(op, Y, xn, lam).detach())
        if tol is not None:
            converged = bool((d.flatten(1).norm(dim=1) <= tol * xn.flatten(1).norm(dim=1)).all())
        t_next = (1 + torch.sqrt(1 + 4 * t * t)) / 2
        beta = (t - 1) / t_next
        if restart:
            reset = ((z - xn) * d).flatten(1).sum(1).reshape(t.shape) > 0
            beta, t_next = torch.where(reset, 0.0, beta), torch.where(reset, 1.0, t_next)
        z, x, t = xn + beta * d, xn, t_next
        if converged:
            break
    return _finish(op, Y, x, lam, k, converged, hist, "convolutional FISTA")


# --------------------------------------------------------------------------- ADMM


def conv_admm(D: Tensor, Y: Tensor, lam: float, steps: int, *, tol: float | None = None, rho: float | None = None,
              relax: float = 1.8, auto_rho: bool = True, rho_period: int = 10, rho_adapt_steps: int = 200, x0: Tensor | None = None,
              nonnegative: bool = False, history: bool = False) -> LassoSolution:
    r"""ADMM for the convolutional Lasso in the Fourier domain (Wohlberg, IEEE TIP 25(1), 2016), batched over signals.

    Splitting :math:`x = y` with :math:`\tfrac12\|\mathbf Dx - s\|^2 + \lambda\|y\|_1` and scaled dual ``u``:

    .. math:: (\hat D^H\hat D + \rho I)\,\hat x = \hat D^H\hat s + \rho(\hat y - \hat u) \quad\text{(per frequency)},\qquad
              y = S_{\lambda/\rho}(\alpha x + (1 - \alpha) y + u),\qquad u \mathrel{+}= \alpha x + (1 - \alpha) y_{\text{old}} - y.

    The per-frequency system is solved by the Woodbury identity with a C x C system (for one
    channel, the Sherman-Morrison formula: O(m) per frequency), so a step costs two real FFTs of the
    m maps like :func:`conv_fista`.

    Args:
        D: filters (m, C, \*k); Y: signals (B, C, \*N); lam: :math:`\lambda > 0` (a float).
        steps: the most ADMM iterations.
        tol: stop when the relative primal and dual residuals
            :math:`\|x - y\| / \max(\|x\|, \|y\|)` and :math:`\rho\|y - y_{\text{old}}\| / \|\rho u\|` are both
            <= tol (SPORCO's ``RelStopTol``; checked each step, whole batch).
        rho: the penalty; default :math:`50\lambda + 1` (SPORCO's ``ConvBPDN`` default).
        relax: over-relaxation :math:`\alpha \in (0, 2)`; default 1.8.
        auto_rho: adaptive residual balancing every ``rho_period`` steps (Wohlberg, "ADMM penalty parameter
            selection by residual balancing", arXiv:1704.06209, 2017): with the relative residuals
            r, s above and the target ratio :math:`\xi = 1 + 18.3^{\log_{10}\lambda + 1}`,
            :math:`\rho` is multiplied by :math:`\tau = \min(\sqrt{r/(\xi s)}, 1000)` when
            :math:`r > 1.2\,\xi s` and divided by :math:`\min(\sqrt{\xi s/r}, 1000)` when
            :math:`s > 1.2\,r/\xi` (u rescaled): SPORCO's ``ConvBPDN`` rule, which applies it every
            step; the default period 10 (Boyd et al.'s suggestion) lets small problems converge to
            1e-9 where adapting every step keeps them ~1% off.
        rho_adapt_steps: the penalty is adapted only during the first ``rho_adapt_steps`` steps and
            fixed afterwards. ADMM's convergence proof holds for a fixed penalty (or finitely many
            changes; Boyd et al. 2011, sec. 3.4.1): adapting forever can keep it from converging. On a
            trained 16-atom 3x3 dictionary on 8x8 digits (nonnegative, lambda 0.1), adapting throughout
            left the codes 2e-4 off the solution after 20000 steps (3e-1 with ``relax=1``: small
            late changes of rho kept undoing progress), while freezing rho after 100-300 steps reached
            1e-12 in 3000 steps; a fixed default rho needed 10000 steps for 1e-6.
        x0: warm start for ``y`` (codes, B, m, \*N); nonnegative: :math:`x \ge 0` as well.
        history: the objective at ``y`` after each step, (k, B).

    Returns:
        :class:`~dltheory.sparse.LassoSolution`; ``codes`` is the sparse variable ``y``.
    """
    D, Y, lam, steps, tol, y = _setup(D, Y, lam, steps, tol, x0)
    if isinstance(lam, Tensor):
        raise ValueError("`lam` must be a float for conv_admm (one penalty for the batch); use conv_fista for a penalty per signal.")
    if lam <= 0:
        raise ValueError(f"`lam` must be > 0 for conv_admm; got {lam}.")
    rho = 50 * lam + 1 if rho is None else check_float("rho", rho, minimum=0.0, strict_min=True)
    relax = check_float("relax", relax, minimum=0.0, strict_min=True)
    if relax >= 2:
        raise ValueError(f"`relax` must be a float in (0, 2); got {relax}.")
    rho_period = check_int("rho_period", rho_period, minimum=1)
    rho_adapt_steps = check_int("rho_adapt_steps", rho_adapt_steps, minimum=0)
    xi = 1 + 18.3 ** (math.log10(lam) + 1)  # the residual ratio aimed at (Wohlberg 2017, sec. VI.C)
    op = _Operator(D, Y.shape[2:])
    DSf = op.adjoint_f(op.fft(Y))  # (B, m, *F)
    if op.C == 1:
        ac = op.Df[:, 0].conj().resolve_conj()  # (m, *F): the conjugate filters
        aa = (op.Df[:, 0].abs() ** 2).sum(0)  # (*F): ||D(w)||^2
    else:
        A = op.Df.movedim((0, 1), (-1, -2))  # (*F, C, m)
        AAh = A @ A.mH  # (*F, C, C)
        eye = torch.eye(op.C, dtype=AAh.dtype, device=AAh.device)
    cache: dict[float, Tensor] = {}

    def solve(b: Tensor, rho: float) -> Tensor:  # (rho I + A^H A)^{-1} b, per frequency
        if op.C == 1:  # Sherman-Morrison: (b - conj(a) (a^T b) / (rho + a^H a)) / rho
            if rho not in cache:
                cache.clear()
                cache[rho] = 1 / (rho + aa)
            c = torch.linalg.vecdot(ac, b, dim=1).mul_(cache[rho]).unsqueeze(1)  # a^T b / (rho + |a|^2)  (B, 1, *F)
            return torch.addcmul(b, ac, c, value=-1).div_(rho)
        Ab = op.forward_f(b)  # (B, C, *F)
        v = torch.linalg.solve(rho * eye + AAh, Ab.movedim(1, -1).unsqueeze(-1)).squeeze(-1).movedim(-1, 1)
        return (b - op.adjoint_f(v)) / rho

    u = torch.zeros_like(y)
    hist, converged, k = [], (False if tol is not None else None), 0
    for k in range(1, steps + 1):  # noqa: B007
        x = op.ifft(solve(torch.add(DSf, op.fft(y - u), alpha=rho), rho))
        v = torch.lerp(y, x, relax).add_(u)  # alpha x + (1 - alpha) y + u
        y_old = y
        y = _soft(v, lam / rho, nonnegative)
        u = v.sub_(y)  # u + x_relaxed - y
        if history:
            hist.append(_objective(op, Y, y, lam).detach())
        if tol is not None or auto_rho:
            r = float(torch.linalg.vector_norm(x - y)) / max(float(torch.linalg.vector_norm(x)), float(torch.linalg.vector_norm(y)), 1e-300)
            s = rho * float(torch.linalg.vector_norm(y - y_old)) / max(rho * float(torch.linalg.vector_norm(u)), 1e-300)
            if tol is not None and r <= tol and s <= tol:
                converged = True
                break
            if auto_rho and k <= rho_adapt_steps and k % rho_period == 0 and r > 0 and s > 0:
                if r > 1.2 * xi * s:
                    tau = min((r / (xi * s)) ** 0.5, 1000.0)
                elif s > 1.2 * r / xi:
                    tau = 1 / min((xi * s / r) ** 0.5, 1000.0)
                else:
                    tau = 1.0
                rho, u = rho * tau, u / tau
    return _finish(op, Y, y, lam, k, converged, hist, "convolutional ADMM")


# --------------------------------------------------------------------------- local measures


def stripe_norm(X: Tensor, filter_size: int | Sequence[int]) -> Tensor:
    r"""The :math:`\ell_{0,\infty}` norm of convolutional codes: the most nonzeros in any stripe, per signal.

    For filters of size k (per dimension), the k-patch of the signal starting at position i is
    built from the codes of all m maps at the :math:`(2k-1)^d` positions
    :math:`i-k+1, \dots, i+k-1` (circularly): its stripe :math:`\gamma_i`. Then
    :math:`\|\Gamma\|_{0,\infty} = \max_i \|\gamma_i\|_0` (Papyan, Sulam & Elad, IEEE TSP 65(21),
    2017, Def. 4). Codes (B, m, \*N) -> (B,) integer counts; exact zeros only.
    """
    X = check_tensor("X", X, ndim=(3, 4))
    d = X.ndim - 2
    k = (filter_size,) * d if isinstance(filter_size, int) else tuple(filter_size)
    if len(k) != d:
        raise ValueError(f"`filter_size` must be an int or {d} sizes for codes of shape {tuple(X.shape)}; got {filter_size!r}.")
    for i, (ki, n) in enumerate(zip(k, X.shape[2:], strict=True)):
        check_int(f"filter_size[{i}]", ki, minimum=1, maximum=n)
    counts = (X != 0).sum(1, keepdim=True).to(torch.float64)  # (B, 1, *N)
    pad = []
    for ki in reversed(k):  # F.pad's order: last dimension first
        pad += [ki - 1, ki - 1]
    window = torch.ones(1, 1, *(2 * ki - 1 for ki in k), dtype=torch.float64, device=X.device)
    conv = F.conv1d if d == 1 else F.conv2d
    stripes = conv(F.pad(counts, pad, mode="circular"), window)  # (B, 1, *N): nonzeros in each stripe
    return stripes.flatten(1).amax(1).round().to(torch.int64)


def conv_mutual_coherence(D: Tensor) -> float:
    r"""The mutual coherence of the global convolutional dictionary (signals of size >= 2k - 1).

    :math:`\mu = \max |\langle d_i, \operatorname{shift}_s d_j\rangle| / (\|d_i\|\|d_j\|)` over pairs of filters and
    shifts :math:`|s| < k` except :math:`i = j, s = 0`; the cross-correlations come from one
    convolution of the filters with themselves (channels summed). Filters (m, C, \*k).
    """
    D = check_filters(D)
    d = D.ndim - 2
    norms = torch.linalg.vector_norm(D.flatten(1), dim=1)
    if bool((norms == 0).any()):
        raise ValueError(f"`D` must have no zero filters; filter {int((norms == 0).nonzero()[0])} is zero.")
    Dn = D / norms.reshape(-1, *([1] * (d + 1)))
    conv = F.conv1d if d == 1 else F.conv2d
    G = conv(Dn, Dn, padding=tuple(k - 1 for k in D.shape[2:])).abs()  # (m, m, *(2k-1)): all shifts
    centre = (slice(None), slice(None), *(k - 1 for k in D.shape[2:]))
    idx = torch.arange(D.shape[0], device=D.device)
    G[centre][idx, idx] = 0  # the atoms themselves
    return float(G.max())


# --------------------------------------------------------------------------- dictionary learning


@dataclass(frozen=True)
class ConvDictionary:
    r"""Result of :func:`learn_conv_dictionary`.

    Attributes:
        filters: the learned filters (m, C, \*k), each of norm <= 1.
        codes: the codes of the training signals (B, m, \*N) for those filters.
        objective: the mean convolutional Lasso objective per signal after each outer iteration, (iterations,).
    """

    filters: Tensor
    codes: Tensor
    objective: Tensor


def _filter_lipschitz(Xf: Tensor) -> Tensor:
    """max over frequencies of lambda_max(sum_b conj(X_b(w)) X_b(w)^T): the Lipschitz constant of the filter update."""
    G = torch.einsum("bm...,bn...->...mn", Xf.conj(), Xf)  # (*F, m, m), Hermitian PSD
    return torch.linalg.eigvalsh(G)[..., -1].max()


def conv_filter_gram(X: Tensor, Y: Tensor, filter_size: int | Sequence[int]) -> tuple[Tensor, Tensor]:
    r"""The filter subproblem of convolutional dictionary learning as an explicit quadratic: its Gram matrix and linear term.

    For fixed codes ``X`` (B, m, \*N) the reconstruction is linear in the filters,
    :math:`\sum_j d_{j,c} \circledast x_{b,j} = (A\,d_c)_b` per channel c, with the same map A for every
    channel, so

    .. math:: \tfrac12\sum_{b,c}\Big\|\sum_j d_{j,c} \circledast x_{b,j} - y_{b,c}\Big\|^2
              = \tfrac12\|Y\|^2 - \sum_c e_c^\top d_c + \tfrac12\sum_c d_c^\top H d_c ,

    with :math:`H = A^\top A`, :math:`H_{(i,p),(j,q)} = \sum_b\sum_n x_{b,i}(n)\,x_{b,j}(n + p - q)` (the codes'
    cross-correlations at the filter offsets' differences, circular) and
    :math:`(e_c)_{(j,q)} = \sum_b\sum_n x_{b,j}(n)\,y_{b,c}(n + q)`. Filter entries are ordered (j, \*q) as in
    ``D[:, c].reshape(-1)``.

    Args:
        X: codes (B, m, \*N); Y: signals (B, C, \*N); filter_size: k (an int or one size per dimension, <= N).

    Returns:
        ``(H, E)``: H (m K, m K) symmetric PSD and E (C, m K), K = prod(k), in X's dtype and device.

    Cost: one real FFT of the codes and signals, :math:`m^2` cross-spectra (O(B m^2 N)), their inverse
    FFTs and a gather of :math:`m^2 K^2` entries; memory :math:`m^2 N + m^2K^2`.
    """
    X = check_tensor("X", X, ndim=(3, 4))
    d = X.ndim - 2
    Y = check_tensor("Y", Y, ndim=(d + 2,), like=X)
    if Y.shape[0] != X.shape[0] or Y.shape[2:] != X.shape[2:]:
        raise ValueError(f"`Y` must have shape ({X.shape[0]}, C, *{tuple(X.shape[2:])}) for codes of shape {tuple(X.shape)}; got {tuple(Y.shape)}.")
    k = (filter_size,) * d if isinstance(filter_size, int) else tuple(filter_size)
    if len(k) != d:
        raise ValueError(f"`filter_size` must be an int or {d} sizes for codes of shape {tuple(X.shape)}; got {filter_size!r}.")
    N = tuple(X.shape[2:])
    for i, (ki, n) in enumerate(zip(k, N, strict=True)):
        check_int(f"filter_size[{i}]", ki, minimum=1, maximum=n)
    m, dims = X.shape[1], tuple(range(-d, 0))
    Xf = torch.fft.rfftn(X, dim=dims).flatten(2)  # (B, m, F)
    Yf = torch.fft.rfftn(Y, dim=dims).flatten(2)  # (B, C, F)
    Fs = torch.fft.rfftn(X[:1, :1], dim=dims).shape[2:]
    Xt = Xf.permute(2, 0, 1)  # (F, B, m)
    S = (Xt.mH @ Xt).permute(1, 2, 0)  # (m, m, F): sum_b conj(x_bi) x_bj per frequency
    c = torch.fft.irfftn(S.reshape(m, m, *Fs), s=N, dim=dims)  # c_ij(s) = sum_b sum_n x_i(n) x_j(n + s)
    Ef = (Xt.mH @ Yf.permute(2, 0, 1)).permute(2, 1, 0)  # (C, m, F)
    E = torch.fft.irfftn(Ef.reshape(*Ef.shape[:2], *Fs), s=N, dim=dims)  # (C, m, *N): e_cj(q)
    offsets = torch.tensor(list(np.ndindex(*k)), device=X.device).reshape(-1, d)  # (K, d)
    diff = offsets[:, None, :] - offsets[None, :, :]  # (K, K, d): p - q
    index = tuple((diff[..., a] % N[a]) for a in range(d))
    H = c[(slice(None), slice(None), *index)]  # (m, m, K, K)
    K = offsets.shape[0]
    H = H.permute(0, 2, 1, 3).reshape(m * K, m * K)
    E = E[(slice(None), slice(None), *(slice(0, ki) for ki in k))].reshape(E.shape[0], m * K)
    return (H + H.T) / 2, E


def conv_filter_update(X: Tensor, Y: Tensor, D: Tensor, steps: int, *, project: bool = True, method: str = "fft") -> Tensor:
    r"""Projected gradient on the filters for fixed codes: :math:`\min_{d} \tfrac12\|\sum_j d_j \circledast x_j - y\|^2`, :math:`\|d_j\| \le 1`.

    Starts from ``D`` (m, C, \*k); codes ``X`` (B, m, \*N), signals ``Y`` (B, C, \*N). With
    ``method="fft"`` the gradient of the padded filters comes by FFT each step and is cropped to the
    filters' support; the step is :math:`1/L` with L the largest eigenvalue over frequencies of
    :math:`\sum_b \hat x_b^* \hat x_b^\top` (exact for the unconstrained-support problem, an upper bound
    with the support). With ``method="gram"`` the quadratic is formed once (:func:`conv_filter_gram`,
    one FFT of the codes) and each step is a product with its (mK x mK) Gram matrix H, with the exact
    step :math:`1/\lambda_{\max}(H)` (a larger step than the FFT bound): much cheaper per step when
    B N is large against m K. Either way every step decreases the objective (Beck & Teboulle's
    projected gradient descent lemma). With ``project`` off, plain gradient descent on the cropped
    filters (the least-squares problem).
    """
    D = check_filters(D)
    Y = check_conv_signals(D, Y)
    X = _check_conv_codes(D, X, Y.shape[0], Y.shape[2:], "X")
    steps = check_int("steps", steps, minimum=1)
    if method not in ("fft", "gram"):
        raise ValueError(f"`method` must be one of ['fft', 'gram']; got {method!r}.")

    def proj(D: Tensor) -> Tensor:
        if not project:
            return D
        norms = D.flatten(1).norm(dim=1).clamp(min=1.0)
        return D / norms.reshape(-1, *([1] * (D.ndim - 1)))

    if method == "gram":
        H, E = conv_filter_gram(X, Y, D.shape[2:])
        L = float(torch.linalg.eigvalsh(H)[-1])
        if L <= 0:
            return D.clone()
        m, C = D.shape[:2]
        d = D.transpose(0, 1).reshape(C, -1)  # (C, m K): rows d_c
        for _ in range(steps):
            d = d - (d @ H - E) / L
            d = proj(d.reshape(C, m, -1).transpose(0, 1)).transpose(0, 1).reshape(C, -1)
        return d.reshape(C, m, *D.shape[2:]).transpose(0, 1).contiguous()
    op = _Operator(D, Y.shape[2:])
    Xf, Yf = op.fft(X), op.fft(Y)
    L = float(_filter_lipschitz(Xf))
    if L == 0:
        return D.clone()
    crop = (slice(None), slice(None), *(slice(0, k) for k in D.shape[2:]))
    for _ in range(steps):
        Df = op.fft(D)  # (m, C, *F)
        Rf = torch.einsum("mc...,bm...->bc...", Df, Xf) - Yf  # (B, C, *F)
        g = op.ifft(torch.einsum("bm...,bc...->mc...", Xf.conj(), Rf))[crop]
        D = proj(D - g / L)
    return D


def learn_conv_dictionary(Y: Tensor, num_filters: int, filter_size: int | Sequence[int], lam: float, iterations: int, *,
                          code_steps: int = 20, filter_steps: int = 10, D0: Tensor | None = None, seed: int = 0,
                          filter_method: str = "fft", progress=None) -> ConvDictionary:
    r"""Convolutional dictionary learning by alternating minimization (batch; Bristow, Eriksson & Lucey 2013; Wohlberg 2016).

    .. math:: \min_{\{d_j\},\{x_{b,j}\}} \sum_b \tfrac12\Big\|\sum_j d_j \circledast x_{b,j} - y_b\Big\|^2 + \lambda\sum_{b,j}\|x_{b,j}\|_1,\qquad \|d_j\|_2 \le 1 .

    Each outer iteration runs ``code_steps`` of :func:`conv_fista` from the previous codes (kept
    only if they lower the objective) and ``filter_steps`` of :func:`conv_filter_update`, so the
    objective never increases. Signals ``Y`` (B, C, \*N) (1-D or 2-D); ``filter_size`` an int or one
    size per dimension; initial filters ``D0`` (m, C, \*k) or Gaussian (seeded by ``seed``, on Y's
    device and dtype) scaled to unit norm. ``filter_method``: ``"fft"`` or ``"gram"``, passed to
    :func:`conv_filter_update` (``"gram"``: exact step, cheap steps for many signals). ``progress``: an optional callable ``(iteration, objective)``.

    Returns :class:`ConvDictionary`.
    """
    Y = check_tensor("Y", Y, ndim=(3, 4))
    d = Y.ndim - 2
    num_filters = check_int("num_filters", num_filters, minimum=1)
    k = (filter_size,) * d if isinstance(filter_size, int) else tuple(filter_size)
    if len(k) != d:
        raise ValueError(f"`filter_size` must be an int or {d} sizes for signals of shape {tuple(Y.shape)}; got {filter_size!r}.")
    for i, (ki, n) in enumerate(zip(k, Y.shape[2:], strict=True)):
        check_int(f"filter_size[{i}]", ki, minimum=1, maximum=n)
    lam = check_float("lam", lam, minimum=0.0)
    iterations = check_int("iterations", iterations, minimum=1)
    if filter_method not in ("fft", "gram"):
        raise ValueError(f"`filter_method` must be one of ['fft', 'gram']; got {filter_method!r}.")
    if D0 is None:
        g = torch.Generator(device=Y.device).manual_seed(check_int("seed", seed, minimum=0))
        D = torch.randn(num_filters, Y.shape[1], *k, generator=g, dtype=Y.dtype, device=Y.device)
        D = D / D.flatten(1).norm(dim=1).reshape(-1, *([1] * (d + 1)))
    else:
        D = check_filters(D0, "D0")
        if tuple(D.shape) != (num_filters, Y.shape[1], *k) or D.dtype != Y.dtype or D.device != Y.device:
            raise ValueError(f"`D0` must have shape {(num_filters, Y.shape[1], *k)} and Y's dtype and device; got {tuple(D.shape)}, {D.dtype}, {D.device}.")
    X = torch.zeros(Y.shape[0], num_filters, *Y.shape[2:], dtype=Y.dtype, device=Y.device)
    history = []
    with torch.no_grad():
        for it in range(iterations):
            f_old = conv_lasso_objective(D, Y, X, lam).sum()
            sol = conv_fista(D, Y, lam, code_steps, x0=X)
            if float(sol.objective.sum()) <= float(f_old):
                X = sol.codes
            D = conv_filter_update(X, Y, D, filter_steps, method=filter_method)
            f = conv_lasso_objective(D, Y, X, lam).mean()
            history.append(f)
            if not bool(torch.isfinite(f)):
                raise DivergenceError(it + 1, float(f), "convolutional dictionary learning produced a non-finite objective.")
            if progress is not None:
                progress(it + 1, float(f))
    return ConvDictionary(D, X, torch.stack(history))
