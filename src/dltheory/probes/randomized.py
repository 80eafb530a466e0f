r"""Randomized estimators over a symmetric operator: trace and spectral density.

- :func:`stochastic_trace`: Hutchinson (1989) or Hutch++ (Meyer, Musco, Musco, Woodruff 2021).
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
    SymmetricOperator,
    _generator,
    _orthogonalize,
    lanczos_tridiagonal,
    random_vectors,
)


@dataclass(frozen=True)
class TraceEstimate:
    """A stochastic trace estimate with its standard error and cost (operator products)."""

    value: float
    std_error: float
    hvps: int


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
    method: str = "hutchpp",
    matvecs: int = 99,
    generator: torch.Generator | None = None,
) -> TraceEstimate:
    r"""Trace of a symmetric operator from ``matvecs`` products with random vectors.

    Hutchinson: :math:`\mathrm{tr}(A) \approx \frac1m\sum_i z_i^\top A z_i`, Rademacher
    :math:`z_i`; error :math:`O(\|A\|_F/\sqrt m)`.
    Hutch++: sketch :math:`Q = \mathrm{orth}(A S)` with m/3 vectors, then
    :math:`\mathrm{tr}(Q^\top A Q) + \frac{3}{m}\mathrm{tr}(G^\top (I-QQ^\top) A (I-QQ^\top) G)`;
    error :math:`O(\mathrm{tr}|A|/m)` (exact when the sketch spans the range of A).
    The standard error is the sample standard error of the Hutchinson part (0 when no
    Hutchinson vectors remain, i.e. the sketch covers all of :math:`\mathbb{R}^P`).

    Cost: ``matvecs`` products (Hutch++ needs at least 3).

    References: M. F. Hutchinson, Commun. Stat. Simul. Comput. 18 (1989); R. A. Meyer,
    C. Musco, C. Musco, D. P. Woodruff, "Hutch++", SOSA 2021.
    """
    method = check_choice("method", method, ("hutchpp", "hutchinson"))
    matvecs = check_int("matvecs", matvecs, minimum=3 if method == "hutchpp" else 1)
    g = _generator(generator)
    if method == "hutchinson":
        Z = random_vectors(op, matvecs, g, kind="rademacher")
        samples = (Z * op.apply(Z)).sum(1).to(torch.float64)
        return TraceEstimate(float(samples.mean()), _stderr(samples), matvecs)
    s = min((matvecs + 2) // 3, op.dim)
    S = random_vectors(op, s, g, kind="rademacher")
    Q, _ = torch.linalg.qr(op.apply(S).T)  # (P, s)
    Q = Q.T  # (s, P) orthonormal rows
    low_rank = float((Q * op.apply(Q)).sum().to(torch.float64))
    rest = matvecs - 2 * s
    if rest <= 0 or s >= op.dim:
        return TraceEstimate(low_rank, 0.0, 2 * s)
    G = random_vectors(op, rest, g, kind="rademacher")
    G, _ = _orthogonalize(G, Q)
    samples = (G * op.apply(G)).sum(1).to(torch.float64)
    return TraceEstimate(low_rank + float(samples.mean()), _stderr(samples), 2 * s + rest)


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

    Cost: ``num_probes * lanczos_steps`` products.

    References: G. Golub, G. Meurant, "Matrices, moments and quadrature" (1994); B. Ghorbani,
    S. Krishnan, Y. Xiao, "An investigation into neural net optimization via Hessian
    eigenvalue density", ICML 2019; compare Z. Yao et al., "PyHessian" (2020).
    """
    num_probes = check_int("num_probes", num_probes, minimum=1)
    steps = check_int("lanczos_steps", lanczos_steps, minimum=1)
    g = _generator(generator)
    V = random_vectors(op, num_probes, g)
    runs = [lanczos_tridiagonal(op, v, steps) for v in V]
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
