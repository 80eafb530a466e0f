r"""Randomized estimators over a symmetric operator: trace and spectral density.

- :func:`stochastic_trace`: adaptive Hutch++ (default: sketch only while it pays, stop at a
  requested relative error), Hutch++ (Meyer, Musco, Musco, Woodruff 2021) or Hutchinson (1989).
- :func:`slq_density`: stochastic Lanczos quadrature with Gaussian broadening
  (Golub & Meurant 1994; Ghorbani, Krishnan, Xiao 2019).

Both see the operator (Hessian, Gauss-Newton, a diagonal block) only through its products
(:class:`~dltheory.probes.lanczos.SymmetricOperator`) and draw their probes from an explicit
generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dltheory.core.errors import check_choice, check_float, check_int
from dltheory.probes.lanczos import (
    Basis,
    SymmetricOperator,
    _generator,
    _orthogonalize,
    lanczos_tridiagonal,
    random_vectors,
)

Z95 = 1.959963984540054  # two-sided 95% normal quantile: the rtol stopping rule's confidence
#: probes drawn and applied at once: memory 2 * BLOCK vectors whatever the budget (one
#: batched product of 300 probes held 1.2 GB for a 29k-parameter CNN)
BLOCK = 8


@dataclass(frozen=True)
class TraceEstimate:
    """A stochastic trace estimate with its standard error and cost (operator products).

    Attributes:
        value: the estimate.
        std_error: standard error of its random part (sample standard deviation of the
            Hutchinson samples over their square root; 0 when nothing random remains).
        hvps: operator products used.
        sketch_size: vectors in the deflation sketch (0: plain Hutchinson).
        converged: False when ``rtol`` was asked for and the budget ran out first.
    """

    value: float
    std_error: float
    hvps: int
    sketch_size: int = 0
    converged: bool = True


@dataclass(frozen=True)
class Density:
    r"""Spectral density estimated by stochastic Lanczos quadrature.

    Attributes:
        grid: (G,) points where the density is evaluated.
        density: (G,) :math:`\phi(t) = \frac{1}{n_v}\sum_l \sum_j w_{lj}\, g_\sigma(t - \theta_{lj})`.
        nodes: (n_v, m) Ritz values :math:`\theta_{lj}` of each probe's tridiagonal matrix.
        weights: (n_v, m) quadrature weights :math:`w_{lj}` (each row sums to 1).
        sigma: the Gaussian broadening used.
        hvps: number of operator products used.

    All tensors are float64 on the CPU (small, for plotting and quadrature).
    """

    grid: Tensor
    density: Tensor
    nodes: Tensor
    weights: Tensor
    sigma: float
    hvps: int

    def mass(self, low: float, high: float) -> float:
        """Fraction of eigenvalues in [low, high) according to the (unbroadened) quadrature."""
        inside = (self.nodes >= low) & (self.nodes < high)
        return float((self.weights * inside).sum() / self.nodes.shape[0])

    def moment(self, order: int = 1) -> float:
        r"""Quadrature moment :math:`\frac{1}{n_v}\sum_{l,j} w_{lj}\theta_{lj}^{r}` (estimates :math:`\mathrm{tr}(A^r)/P`)."""
        return float((self.weights * self.nodes**order).sum() / self.nodes.shape[0])


def stochastic_trace(
    op: SymmetricOperator,
    *,
    method: str = "adaptive",
    matvecs: int | None = None,
    rtol: float | None = None,
    max_sketch: int = 64,
    generator: torch.Generator | None = None,
) -> TraceEstimate:
    r"""Trace of a symmetric operator from products with random vectors.

    Hutchinson: :math:`\mathrm{tr}(A) \approx \frac1m\sum_i z_i^\top A z_i`, Rademacher
    :math:`z_i`; error :math:`O(\|A\|_F/\sqrt m)`.
    Hutch++: sketch :math:`Q = \mathrm{orth}(A S)` with m/3 vectors, then
    :math:`\mathrm{tr}(Q^\top A Q) + \frac{3}{m}\mathrm{tr}(G^\top (I-QQ^\top) A (I-QQ^\top) G)`;
    error :math:`O(\mathrm{tr}|A|/m)` (exact when the sketch spans the range of A) but,
    on a flat spectrum, :math:`\sqrt 3` times Hutchinson's (two thirds of the budget buy
    no variance reduction).
    Adaptive (default): Hutch++ whose sketch grows in blocks only while it pays. After each
    block the variance the deflated Hutchinson part would have is estimated for free from
    the sketch itself: with :math:`Y = AS` (k columns, S isotropic), the squared residual of
    :math:`y_j` after projection on the other columns is an unbiased estimate of
    :math:`\|(I - Q_{-j}Q_{-j}^\top) A\|_F^2` (the leave-one-out trick of XTrace, Epperly,
    Tropp, Webber, SIMAX 2024), read off the k x k Gram matrix. Sketching stops when the
    last block did not lower the predicted final variance (budget mode) or the predicted
    total cost (rtol mode), in the spirit of A-Hutch++ (Persson, Cortinovis, Kressner, SIMAX
    2022). If no sketch is worth it, the sketch products :math:`s_j^\top A s_j` are themselves
    Hutchinson samples: nothing is wasted, so on a flat spectrum it is Hutchinson. With
    ``rtol`` it then samples until :math:`1.96\,\mathrm{SE} \le \mathrm{rtol}\,|\hat t|`
    (a 95% Student-t interval; at least 10 samples) or the budget is spent. When the budget
    covers the dimension (``matvecs >= P``) the trace is computed exactly from the P unit
    vectors.

    Args:
        op: the symmetric operator.
        method: ``adaptive``, ``hutchpp`` or ``hutchinson``.
        matvecs: product budget (default 99; with ``rtol``, the cap, default 2000).
        rtol: target relative error (adaptive only): stop once the 95% interval is within
            ``rtol`` of the estimate.
        max_sketch: most sketch vectors held (adaptive and hutchpp; memory ``max_sketch * P``
            scalars). Hutch++ sketches ``min(m/3, max_sketch)`` vectors and spends the rest
            of the budget on projected Hutchinson samples.
        generator: draws the probes (default: a new generator seeded with 0).

    Returns:
        :class:`TraceEstimate` (value, std_error, hvps, sketch_size, converged).

    Cost: ``hvps`` products (= ``matvecs`` without ``rtol``; Hutch++ needs at least 3).
    Memory, whatever the budget: the probes are drawn and applied ``BLOCK`` = 8 at a time,
    so Hutchinson holds 16 vectors of P scalars and adaptive ``max_sketch + 16`` at most
    (the sketch, then a block of probes and their products); Hutch++ the same, and up to
    ``3 * max_sketch`` while it orthonormalizes its sketch (``torch.linalg.qr``).

    References: M. F. Hutchinson, Commun. Stat. Simul. Comput. 18 (1989); R. A. Meyer,
    C. Musco, C. Musco, D. P. Woodruff, "Hutch++", SOSA 2021; D. Persson, A. Cortinovis,
    D. Kressner, "Improved variants of the Hutch++ algorithm", SIMAX 43 (2022); E. Epperly,
    J. Tropp, R. Webber, "XTrace", SIMAX 45 (2024).
    """
    method = check_choice("method", method, ("adaptive", "hutchpp", "hutchinson"))
    if rtol is not None:
        if method != "adaptive":
            raise ValueError(f"`rtol` needs method='adaptive'; got method='{method}'.")
        rtol = check_float("rtol", rtol, minimum=0.0, strict_min=True)
    default = 99 if rtol is None else 2000
    matvecs = check_int("matvecs", default if matvecs is None else matvecs, minimum=3 if method == "hutchpp" else 1)
    max_sketch = check_int("max_sketch", max_sketch, minimum=1)
    g = _generator(generator)
    if method == "hutchinson":
        samples = _hutchinson_samples(op, matvecs, g)  # in blocks: memory 2 * BLOCK vectors
        return TraceEstimate(float(samples.mean()), _stderr(samples), matvecs)
    if method == "adaptive":
        return _adaptive_trace(op, matvecs, rtol, max_sketch, g)
    s = min((matvecs + 2) // 3, op.dim, max_sketch)
    Y = torch.cat([op.apply(random_vectors(op, min(BLOCK, s - i), g, kind="rademacher")) for i in range(0, s, BLOCK)])  # (s, P) sketch AS
    Q, _ = torch.linalg.qr(Y.T)  # (P, s)
    del Y
    Q = Q.T.contiguous()  # (s, P) orthonormal rows
    low_rank = sum(float((Q[i : i + BLOCK] * op.apply(Q[i : i + BLOCK])).sum().to(torch.float64)) for i in range(0, s, BLOCK))
    rest = matvecs - 2 * s
    if rest <= 0 or s >= op.dim:
        return TraceEstimate(low_rank, 0.0, 2 * s, s)
    samples = _hutchinson_samples(op, rest, g, Q)  # projected off Q, in blocks
    return TraceEstimate(low_rank + float(samples.mean()), _stderr(samples), 2 * s + rest, s)


def _hutchinson_samples(op: SymmetricOperator, count: int, g: torch.Generator, Q: Basis | Tensor | None = None, block: int = BLOCK) -> Tensor:
    """``count`` samples :math:`z^\top A z` (float64), z Rademacher projected off Q; drawn in blocks."""
    out = []
    for i in range(0, count, block):
        Z = random_vectors(op, min(block, count - i), g, kind="rademacher")
        if Q is not None and (Q.shape[0] if isinstance(Q, Tensor) else Q.m):
            Z, _ = _orthogonalize(Z, Q)
        out.append((Z * op.apply(Z)).sum(1).to(torch.float64))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def _loo_residual(R: Tensor) -> float:
    r"""Mean over j of :math:`\|(I - P_{-j}) y_j\|^2` for Y = R^T Q (Q orthonormal), from R alone.

    :math:`G = Y Y^\top = R^\top R`; the residual of column j on the others is
    :math:`1/(G^{-1})_{jj}` (0 when y_j is in their span).
    """
    k = R.shape[0]
    G = R.T @ R
    out = []
    for j in range(k):
        o = [i for i in range(k) if i != j]
        if not o:
            out.append(float(G[j, j]))
            continue
        c = G[o][:, o]
        v = G[o, j]
        proj = float(v @ torch.linalg.lstsq(c, v[:, None], rcond=1e-13).solution[:, 0]) if float(c.diagonal().max()) > 0 else 0.0
        out.append(max(float(G[j, j]) - proj, 0.0))
    return sum(out) / k


def _adaptive_trace(op: SymmetricOperator, budget: int, rtol: float | None, max_sketch: int, g: torch.Generator) -> TraceEstimate:
    P = op.dim
    if budget >= P:  # exact: the unit vectors cost P products
        t = 0.0
        for i in range(0, P, BLOCK):
            E = torch.zeros((min(BLOCK, P - i), P), dtype=op.dtype, device=op.device)
            E[torch.arange(E.shape[0]), torch.arange(i, i + E.shape[0])] = 1
            t += float(op.apply(E).diagonal(offset=i).sum().to(torch.float64))
        return TraceEstimate(t, 0.0, P, P)
    block = 4
    Q = Basis(P, op.dtype, op.device)
    R = torch.zeros((0, 0), dtype=torch.float64)  # sketch Y (k, P) = R^T Q, R (rows of Q, k)
    hutch: list[Tensor] = []  # s^T A s of the sketch vectors: Hutchinson samples in their own right
    spent = 0
    history: list[tuple[int, float, int]] = []  # (sketch columns k, predicted objective, rows of Q)

    def objective(var: float, k: int, t_hat: float) -> float:
        """Predicted variance of the final estimate (budget) or total cost to reach rtol."""
        if rtol is None:
            left = budget - 2 * k if k else budget
            return var / left if left > 0 else math.inf
        need = Z95**2 * var / max((rtol * t_hat) ** 2, 1e-300)
        return 2 * k + need if k else max(need, spent)

    while True:
        b = min(block, max_sketch - R.shape[1], budget - spent)
        if b <= 0 or 2 * (R.shape[1] + b) > budget:
            break
        S = random_vectors(op, b, g, kind="rademacher")
        Y = op.apply(S)
        spent += b
        hutch.append((S * Y).sum(1).to(torch.float64))
        del S
        r0, k0 = R.shape
        Y, C = _orthogonalize(Y, Q)  # (b, P), (r0, b)
        Yn, Rb = _orthonormalize_sketch(Y)
        del Y
        Rn = torch.zeros((r0 + Rb.shape[0], k0 + b), dtype=torch.float64)
        Rn[:r0, :k0] = R
        Rn[:r0, k0:] = C.to("cpu", torch.float64)
        Rn[r0:, k0:] = Rb
        R = Rn
        Q.append(Yn)
        del Yn
        samples = torch.cat(hutch)
        t_hat = float(samples.mean())
        k = R.shape[1]
        history.append((k, objective(2 * _loo_residual(R), k, t_hat), R.shape[0]))
        if (len(history) >= 2 and history[-1][1] >= history[-2][1]) or R.shape[0] >= P:
            break  # the last block did not pay for itself
    if hutch:  # k = 0: plain Hutchinson reusing the sketch samples, its variance from those samples
        samples = torch.cat(hutch)
        history.append((0, objective(float(samples.var()) if samples.numel() > 1 else math.inf, 0, float(samples.mean())), 0))
    best_cols, _, best_k = min(history, key=lambda h: h[1]) if history else (0, 0.0, 0)
    if best_cols == 0:  # flat spectrum: Hutchinson, reusing the sketch products as samples
        Q.clear()
        samples = torch.cat(hutch) if hutch else torch.zeros(0, dtype=torch.float64)
        return _sample_until(op, samples, 0.0, spent, budget, rtol, g, None, 0)
    Q.truncate(best_k)
    low_rank = 0.0
    if best_k == 0:  # the operator is 0 on every sketch vector
        return _sample_until(op, torch.zeros(0, dtype=torch.float64), 0.0, spent, budget, rtol, g, None, 0)
    for i in range(0, best_k, BLOCK):  # tr(Q^T A Q), products not stored
        V = Q.rows(i, min(best_k, i + BLOCK))
        low_rank += float((V * op.apply(V)).sum().to(torch.float64))
    spent += best_k
    if best_k >= P:
        return TraceEstimate(low_rank, 0.0, spent, best_k)
    out = _sample_until(op, torch.zeros(0, dtype=torch.float64), low_rank, spent, budget, rtol, g, Q, best_k)
    Q.clear()
    return out


def _orthonormalize_sketch(Y: Tensor) -> tuple[Tensor, Tensor]:
    """Rows of Y (b, P), already orthogonal to the basis, orthonormalized: Y = Rb^T Yn.

    Returns Yn (r, P) and Rb (r, b) with r <= b: a row in the span of the others (a
    rank-deficient operator) adds no direction (its LOO residual is then 0).
    """
    b = Y.shape[0]
    Rb = torch.zeros((b, b), dtype=torch.float64)
    rows: list[Tensor] = []
    scale = float(torch.linalg.vector_norm(Y, dim=1).max()) if b else 0.0
    eps = torch.finfo(Y.dtype).eps
    for i in range(b):
        w = Y[i]
        for _ in range(2):
            for j, r in enumerate(rows):
                c = r @ w
                w = w - c * r
                Rb[j, i] += float(c)
        nrm = float(torch.linalg.vector_norm(w))
        if nrm > 100 * eps * max(scale, 1e-300):
            Rb[len(rows), i] = nrm
            rows.append(w / nrm)
    Yn = torch.stack(rows) if rows else Y[:0]
    return Yn, Rb[: len(rows)]


def _t975(n: int) -> float:
    """Two-sided 95% Student-t quantile with n - 1 degrees of freedom (the SE is estimated)."""
    from scipy.stats import t

    return float(t.ppf(0.975, max(n - 1, 1)))


def _sample_until(op, samples: Tensor, low_rank: float, spent: int, budget: int, rtol: float | None, g, Q: Basis | None, k: int) -> TraceEstimate:
    """Add Hutchinson samples (projected off Q) until the budget is spent or the rtol test passes."""
    min_samples = 10
    while True:
        n = samples.numel()
        left = budget - spent
        if rtol is not None and n >= min_samples:
            est = low_rank + float(samples.mean())
            if _t975(n) * _stderr(samples) <= rtol * abs(est):
                return TraceEstimate(est, _stderr(samples), spent, k, True)
        if left <= 0:
            est = low_rank + (float(samples.mean()) if n else 0.0)
            se = _stderr(samples) if n else math.inf
            ok = rtol is None or (n >= 2 and _t975(n) * se <= rtol * abs(est))
            return TraceEstimate(est, se, spent, k, ok)
        if rtol is None:
            step = left
        else:  # the CLT count still needed, at least one block, at most what is left
            need = min_samples - n if n < 2 else Z95**2 * float(samples.var()) / max((rtol * (low_rank + float(samples.mean()))) ** 2, 1e-300) - n
            step = int(min(left, max(8, min_samples - n, math.ceil(min(need, 1e9) * 0.5))))
        samples = torch.cat([samples, _hutchinson_samples(op, step, g, Q)])
        spent += step


def _stderr(samples: Tensor) -> float:
    return float(samples.std() / math.sqrt(samples.numel())) if samples.numel() > 1 else math.inf


def slq_density(
    op: SymmetricOperator,
    *,
    num_probes: int = 1,
    lanczos_steps: int = 80,
    sigma: float | None = None,
    grid: Tensor | int = 1000,
    generator: torch.Generator | None = None,
    reorthogonalize: str = "none",
) -> Density:
    r"""Spectral density :math:`\phi(t) = \frac1P\sum_i \delta(t - \lambda_i)` by stochastic Lanczos quadrature.

    For each Gaussian probe :math:`v`, m Lanczos steps give nodes :math:`\theta_j` and
    weights :math:`\tau_j` with :math:`v^\top f(A) v/\|v\|^2 \approx \sum_j \tau_j f(\theta_j)`;
    the density is averaged over probes and broadened,
    :math:`\phi_\sigma(t) = \frac{1}{n_v}\sum_{l,j}\tau_{lj}\,\mathcal N(t;\theta_{lj},\sigma^2)`.
    The quadrature is exact for polynomials of degree < 2m, so the first moment is an
    unbiased estimate of :math:`\mathrm{tr}(A)/P` and the extreme nodes converge to the
    extreme eigenvalues.

    Args:
        num_probes: number of random probes :math:`n_v`.
        lanczos_steps: m, Lanczos steps per probe (capped at P).
        sigma: Gaussian width (default: 1% of the node range).
        grid: evaluation points, or their number (default 1000 on the node range
            padded by 5 sigma).
        generator: draws the probes (default: a new generator seeded with 0).
        reorthogonalize: ``none`` (default: three-term recurrence, memory 3 vectors; the
            quadrature is robust to the loss of orthogonality) or ``full``; see
            :func:`~dltheory.probes.lanczos.lanczos_tridiagonal`.

    Cost: ``num_probes * lanczos_steps`` products.

    References: G. Golub, G. Meurant, "Matrices, moments and quadrature" (1994); B. Ghorbani,
    S. Krishnan, Y. Xiao, "An investigation into neural net optimization via Hessian
    eigenvalue density", ICML 2019; compare Z. Yao et al., "PyHessian" (2020).
    """
    num_probes = check_int("num_probes", num_probes, minimum=1)
    steps = check_int("lanczos_steps", lanczos_steps, minimum=1)
    g = _generator(generator)
    runs = [lanczos_tridiagonal(op, random_vectors(op, 1, g)[0], steps, reorthogonalize=reorthogonalize) for _ in range(num_probes)]
    m = max(t.shape[0] for t, _ in runs)
    nodes = torch.zeros((num_probes, m), dtype=torch.float64)
    weights = torch.zeros((num_probes, m), dtype=torch.float64)
    for i, (t, w) in enumerate(runs):
        nodes[i, : t.shape[0]] = t
        nodes[i, t.shape[0] :] = t[-1]
        weights[i, : t.shape[0]] = w
    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = max(0.01 * (hi - lo), 1e-12 * max(abs(lo), abs(hi), 1.0))
    sigma = check_float("sigma", sigma, minimum=0.0, strict_min=True)
    if isinstance(grid, int):
        n = check_int("grid", grid, minimum=2)
        grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, n, dtype=torch.float64)
    elif isinstance(grid, Tensor) and grid.ndim == 1:
        grid = grid.detach().to("cpu", torch.float64)
    else:
        raise TypeError(f"`grid` must be an int or a 1-D tensor; got {type(grid).__name__}.")
    z = (grid[:, None, None] - nodes[None]) / sigma  # (G, n_v, m)
    dens = (weights[None] * torch.exp(-0.5 * z**2)).sum((1, 2)) / (num_probes * sigma * math.sqrt(2 * math.pi))
    return Density(grid, dens, nodes, weights, float(sigma), sum(t.shape[0] for t, _ in runs))
