r"""Lanczos over a generic symmetric operator: extreme eigenpairs and Gauss quadrature nodes.

Everything here sees a symmetric linear map :math:`A: \mathbb{R}^P \to \mathbb{R}^P` only
through its matrix-vector product (:class:`SymmetricOperator`), so the loss Hessian, the
Gauss-Newton matrix and diagonal blocks of either share the same solvers
(:mod:`dltheory.probes.curvature` and :mod:`dltheory.probes.gauss_newton` build the operators).

- :func:`extreme_eigenvalues`: block Krylov-Schur Lanczos with full reorthogonalization and
  thick restart (Lanczos 1950; Wu & Simon 2000; Stewart 2001).
- :func:`lanczos_tridiagonal`: nodes and weights of the Gauss quadrature of
  :math:`v^\top f(A) v` (used by :func:`dltheory.probes.randomized.slq_density`).

Trace and density estimators are in :mod:`dltheory.probes.randomized`.

Vectors are flat tensors of the operator's dtype and device; small projected matrices are
diagonalized in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dltheory.core.errors import check_choice, check_float, check_int

Matvec = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class SymmetricOperator:
    r"""A symmetric linear map on :math:`\mathbb{R}^P` given by its product.

    Attributes:
        matvec: ``v (P,) -> A v (P,)``.
        dim: P.
        dtype, device: of the vectors ``matvec`` takes.
        matmat: optional ``V (b, P) -> (A V^T)^T (b, P)`` computing ``b`` products at once
            (vectorized); when None, :meth:`apply` loops over rows.
    """

    matvec: Matvec
    dim: int
    dtype: torch.dtype
    device: torch.device
    matmat: Callable[[Tensor], Tensor] | None = None

    def apply(self, V: Tensor) -> Tensor:
        """Products :math:`(A V^\top)^\top` with the rows of ``V`` (b, P) -> (b, P); costs b products."""
        if self.matmat is not None and V.shape[0] > 1:
            return self.matmat(V)
        return torch.stack([self.matvec(v) for v in V])

    def check_vector(self, v: Tensor, name: str = "vector") -> Tensor:
        """``v`` as a (P,) or (b, P) tensor of the operator's dtype/device, or a ValueError."""
        if not isinstance(v, Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor; got {type(v).__name__}.")
        if v.shape[-1:] != (self.dim,) or v.ndim not in (1, 2):
            raise ValueError(f"`{name}` must have shape ({self.dim},) or (b, {self.dim}); got {tuple(v.shape)}.")
        return v.to(device=self.device, dtype=self.dtype)


@dataclass(frozen=True)
class Spectrum:
    r"""Eigenpairs found by :func:`extreme_eigenvalues`.

    Attributes:
        eigenvalues: (k,) for ``largest``/``smallest``, (2k,) for ``both``; always sorted in
            descending order (for ``both``: the k largest first, then the k smallest).
        eigenvectors: (k, P) (or (2k, P)) unit vectors over the flattened parameters, row i
            for eigenvalue i; ``dltheory.core.unflatten(spec.eigenvectors[i], params)`` gives
            a parameter dict.
        residuals: :math:`\|A v_i - \lambda_i v_i\|` for each pair (exact up to rounding,
            from the Krylov decomposition, no extra products).
        hvps: number of operator products used.
        iterations: number of block Krylov expansion steps.
        restarts: number of thick restarts.
        converged: whether every pair met the tolerance.
        basis_size: the most basis vectors held at once (memory: ``basis_size * P`` scalars).
    """

    eigenvalues: Tensor
    eigenvectors: Tensor = field(repr=False)
    residuals: Tensor
    hvps: int
    iterations: int
    restarts: int
    converged: bool
    basis_size: int


def random_vectors(op: SymmetricOperator, count: int, generator: torch.Generator | None, *, kind: str = "gaussian") -> Tensor:
    r"""(count, P) random vectors (Gaussian or Rademacher) on the operator's device and dtype.

    Drawn from ``generator`` (default: a new one seeded with 0) on the generator's device,
    then moved; never from the global RNG. Rademacher: entries :math:`\pm 1`, so
    :math:`\mathbb E[zz^\top] = I` as for Gaussians. Cost: no products.
    """
    g = _generator(generator)
    if kind == "rademacher":
        x = torch.randint(0, 2, (count, op.dim), generator=g, device=g.device).to(op.dtype) * 2 - 1
    else:
        x = torch.randn((count, op.dim), generator=g, device=g.device, dtype=torch.float64)
    return x.to(device=op.device, dtype=op.dtype)


def _generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator or None; got {type(generator).__name__}.")
    return generator


def _finite(W: Tensor) -> Tensor:
    if not bool(torch.isfinite(W).all()):
        raise ValueError("the operator returned non-finite values (NaN or inf): check that the loss and the parameters are finite (a diverged run?).")
    return W


def _orthogonalize(W: Tensor, Q: Tensor) -> tuple[Tensor, Tensor]:
    """Remove from the rows of W their components along the rows of Q (twice: CGS2)."""
    if Q.shape[0] == 0:
        return W, W.new_zeros((0, W.shape[0]))
    C = Q @ W.T
    W = W - C.T @ Q
    C2 = Q @ W.T
    return W - C2.T @ Q, C + C2


def _orthonormalize_block(W: Tensor, Q: Tensor, op: SymmetricOperator, g: torch.Generator, scale: float) -> tuple[Tensor, Tensor]:
    """Orthonormalize the rows of W (already orthogonal to Q) among themselves.

    Returns (Wn (b, P), R (b, b)) with W = R^T Wn; a row that is (numerically) in the span of
    the others and Q is replaced by a random unit vector orthogonal to both, with a zero
    coupling (a breakdown: an invariant subspace was found).
    """
    b = W.shape[0]
    out = torch.zeros_like(W)
    R = torch.zeros((b, b), dtype=torch.float64)  # small matrices live on the CPU in float64
    eps = torch.finfo(W.dtype).eps
    for i in range(b):
        w = W[i]
        for _ in range(2 if i else 0):
            c = out[:i] @ w
            w = w - c @ out[:i]
            R[:i, i] += c.to("cpu", torch.float64)
        nrm = float(torch.linalg.vector_norm(w))
        if nrm > 100 * eps * max(scale, 1e-300):
            out[i] = w / nrm
            R[i, i] = nrm
        else:  # breakdown: continue the Krylov space with a fresh random direction
            r = random_vectors(op, 1, g)[0]
            r, _ = _orthogonalize(r[None], torch.cat([Q, out[:i]]))
            out[i] = r[0] / torch.linalg.vector_norm(r[0])
    return out, R


def _wanted(theta: Tensor, k: int, which: str) -> Tensor:
    """Indices of the wanted Ritz values (theta ascending), in descending order of value."""
    m = theta.shape[0]
    top = torch.arange(m - 1, m - 1 - min(k, m), -1)
    if which == "largest":
        return top
    bottom = torch.arange(min(k, m) - 1, -1, -1)
    if which == "smallest":
        return bottom
    return torch.cat([top, bottom]) if m >= 2 * k else torch.arange(m - 1, -1, -1)


def extreme_eigenvalues(
    op: SymmetricOperator,
    *,
    k: int = 1,
    which: str = "largest",
    tol: float = 1e-3,
    max_iter: int | None = None,
    max_basis: int | None = None,
    block_size: int = 1,
    v0: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Spectrum:
    r"""The k algebraically largest and/or smallest eigenpairs of a symmetric operator.

    Block Lanczos with full reorthogonalization (two classical Gram-Schmidt passes against
    the whole basis) and thick (Krylov-Schur) restart: the basis :math:`Q_m` satisfies
    :math:`A Q_m = Q_m T_m + W E_m^\top` with :math:`T_m = Q_m^\top A Q_m`; the Ritz pairs
    :math:`(\theta_i, Q_m s_i)` of :math:`T_m` have residual
    :math:`\|A Q_m s_i - \theta_i Q_m s_i\| = \|R\, s_i^{\text{last block}}\|`. Stops when
    every wanted pair has residual :math:`\le \mathrm{tol}\cdot\max(|\theta_i|,
    \sqrt{\epsilon}\,\|T_m\|)` (relative, with a floor for eigenvalues near 0); the
    eigenvalue error is then at most the residual (usually its square over the gap).
    When the basis reaches ``max_basis`` vectors it keeps the wanted Ritz vectors (plus
    as many more as fit in half the basis) and continues from the residual block.

    "largest" means largest algebraic (the sharpness :math:`\lambda_{\max}(\nabla^2 L)`),
    not largest in magnitude (PyHessian's power iteration finds the latter).

    Args:
        op: the symmetric operator.
        k: number of eigenpairs per end (1 <= k <= P; 2k <= P for ``both``).
        which: ``largest``, ``smallest`` or ``both``.
        tol: relative residual tolerance.
        max_iter: budget of operator products (default ``max(100, 20 k)``, capped by
            memory only through ``max_basis``).
        max_basis: basis vectors kept in memory (default ``min(P, max(40, 3 * wanted + 10))``);
            memory is ``max_basis * P`` scalars.
        block_size: vectors per Krylov step; use >= the multiplicity of wanted eigenvalues
            (single-vector Lanczos sees one copy of a repeated eigenvalue per restart).
        v0: warm start, (P,) or (b, P) (e.g. the eigenvectors of a previous call).
        generator: draws the random start (default: a new generator seeded with 0).

    Returns:
        :class:`Spectrum`.

    Cost: about ``hvps`` operator products (typically tens for the top eigenvalue to 1e-3;
    reported), plus :math:`O(m^2 P)` flops for reorthogonalization.

    References: C. Lanczos, J. Res. NBS 45 (1950); K. Wu, H. Simon, SIAM J. Matrix Anal.
    Appl. 22 (2000) (thick restart); compare Z. Yao et al., "PyHessian", IEEE BigData 2020
    (power iteration with deflation).
    """
    P = op.dim
    k = check_int("k", k, minimum=1)
    which = check_choice("which", which, ("largest", "smallest", "both"))
    nwant = 2 * k if which == "both" else k
    if nwant > P:
        raise ValueError(f"`k` must be an int <= {P // 2 if which == 'both' else P} (the operator has dimension {P}{' and which=both needs 2k <= P' if which == 'both' else ''}); got {k}.")
    tol = check_float("tol", tol, minimum=0.0, strict_min=True)
    block_size = check_int("block_size", block_size, minimum=1, maximum=P)
    max_iter = check_int("max_iter", max(100, 20 * nwant) if max_iter is None else max_iter, minimum=1)
    g = _generator(generator)

    if v0 is None:
        start = random_vectors(op, block_size, g)
    else:
        v0 = op.check_vector(v0, "v0")
        v0 = v0[None] if v0.ndim == 1 else v0
        if v0.shape[0] > P:
            raise ValueError(f"`v0` must have at most {P} rows; got {v0.shape[0]}.")
        block_size = max(block_size, v0.shape[0])
        start = torch.cat([v0, random_vectors(op, block_size - v0.shape[0], g)]) if v0.shape[0] < block_size else v0
    default_basis = min(P, max(40, 3 * nwant + 10))
    max_basis = check_int("max_basis", default_basis if max_basis is None else max_basis, minimum=min(P, nwant + 2 * block_size), maximum=P)
    if max_basis < P:
        max_basis = max(max_basis, nwant + 2 * block_size)

    Q = torch.zeros((min(max_basis, 16) + block_size, P), dtype=op.dtype, device=op.device)  # grows to max_basis + b rows
    T = torch.zeros((max_basis + block_size, max_basis + block_size), dtype=torch.float64)  # on the CPU
    blk, R = _orthonormalize_block(start, Q[:0], op, g, float(torch.linalg.vector_norm(start)))
    m = blk.shape[0]  # basis size; the current block is Q[m - b : m]
    Q[:m] = blk
    cur = slice(0, m)
    hvps = iterations = restarts = 0
    peak = m
    eps = torch.finfo(op.dtype).eps
    theta = S = res = idx = None
    converged = False
    while True:
        W = _finite(op.apply(Q[cur]))  # (b, P)
        hvps += W.shape[0]
        iterations += 1
        W, C = _orthogonalize(W, Q[:m])
        C = C.to("cpu", torch.float64)
        T[:m, cur] = C
        T[cur, :m] = C.T
        T[:m, :m] = 0.5 * (T[:m, :m] + T[:m, :m].T)
        theta, S = torch.linalg.eigh(T[:m, :m])
        scale = float(theta.abs().max()) if m else 1.0
        Wn, R = _orthonormalize_block(W, Q[:m], op, g, scale)
        last = S[cur.start : cur.stop]  # rows of S for the last block
        res = torch.linalg.vector_norm(R @ last, dim=0)  # (m,): ||A y_i - theta_i y_i||
        idx = _wanted(theta, k, which)
        floor = math.sqrt(eps) * scale
        ok = res[idx] <= tol * torch.clamp(theta[idx].abs(), min=floor)
        full = m >= P
        if (len(idx) == nwant and bool(ok.all())) or full:
            converged = bool(ok.all()) or full
            break
        if hvps >= max_iter:
            break
        b = Wn.shape[0]
        if m + b > max_basis:  # thick restart: keep the wanted Ritz vectors and some neighbours
            keep = _restart_set(theta, idx, max(nwant, (max_basis - b) // 2), which)
            Y = S[:, keep].T.to(device=op.device, dtype=op.dtype) @ Q[:m]
            nk = Y.shape[0]
            T.zero_()
            T[:nk, :nk] = torch.diag(theta[keep])
            T[nk : nk + b, :nk] = R @ last[:, keep]  # A Y = Y Theta + Wn^T (R S_last)
            T[:nk, nk : nk + b] = T[nk : nk + b, :nk].T
            Q[:nk] = Y
            m = nk
            restarts += 1
        if m + b > P:  # the last directions left in R^P
            b = P - m
            Wn = Wn[:b]
        if m + b > Q.shape[0]:  # grow the basis storage geometrically
            Q = torch.cat([Q, Q.new_zeros((min(max_basis + block_size, 2 * Q.shape[0]) - Q.shape[0], P))])
        Q[m : m + b] = Wn
        peak = max(peak, m + b)
        cur = slice(m, m + b)
        m += b
    order = idx
    Y = S[:, order].T.to(device=op.device, dtype=op.dtype) @ Q[: S.shape[0]]
    Y = Y / torch.linalg.vector_norm(Y, dim=1, keepdim=True)
    return Spectrum(theta[order].to(op.device, op.dtype), Y, res[order].to(op.device, op.dtype), hvps, iterations, restarts, converged, peak)


def _restart_set(theta: Tensor, idx: Tensor, size: int, which: str) -> Tensor:
    """Ritz indices to keep at a restart: the wanted ones, then the next ones at the same end(s)."""
    m = theta.shape[0]
    order = torch.arange(m - 1, -1, -1) if which == "largest" else torch.arange(m)
    if which == "both":
        lo, hi = torch.arange(m), torch.arange(m - 1, -1, -1)
        order = torch.stack([hi, lo], 1).reshape(-1)
    keep: list[int] = []
    for i in [*idx.tolist(), *order.tolist()]:
        if i not in keep:
            keep.append(i)
        if len(keep) >= size:
            break
    return torch.tensor(sorted(keep))


def lanczos_tridiagonal(op: SymmetricOperator, v0: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    r"""``steps`` Lanczos steps from ``v0`` with full reorthogonalization.

    Returns the Ritz values :math:`\theta_j` (m,) and the squared first components
    :math:`\tau_j = (e_1^\top s_j)^2` (m,) of the tridiagonal :math:`T_m`, the nodes and
    weights of the Gauss quadrature :math:`v^\top f(A) v / \|v\|^2 \approx \sum_j \tau_j f(\theta_j)`
    (exact for polynomials of degree < 2m). Stops early at an invariant subspace (m < steps).
    Returns float64 CPU tensors. Cost: ``m`` products and :math:`O(m^2 P)` flops.

    References: C. Lanczos (1950); G. Golub, G. Meurant (1994).
    """
    v0 = op.check_vector(v0, "v0")
    steps = min(check_int("steps", steps, minimum=1), op.dim)
    Q = torch.zeros((steps, op.dim), dtype=op.dtype, device=op.device)
    Q[0] = v0 / torch.linalg.vector_norm(v0)
    alpha = torch.zeros(steps, dtype=torch.float64)
    beta = torch.zeros(steps, dtype=torch.float64)
    eps = torch.finfo(op.dtype).eps
    m = steps
    for j in range(steps):
        w = _finite(op.matvec(Q[j]))
        w, c = _orthogonalize(w[None], Q[: j + 1])
        alpha[j] = float(c[j, 0])
        nrm = float(torch.linalg.vector_norm(w))
        if j + 1 == steps:
            break
        if nrm <= 100 * eps * max(float(alpha[: j + 1].abs().max()), 1e-300):
            m = j + 1
            break
        beta[j] = nrm
        Q[j + 1] = w[0] / nrm
    Tm = torch.diag(alpha[:m]) + torch.diag(beta[: m - 1], 1) + torch.diag(beta[: m - 1], -1)
    theta, S = torch.linalg.eigh(Tm)
    return theta, S[0] ** 2
