r"""Lanczos over a generic symmetric operator: extreme eigenpairs and Gauss quadrature nodes.

Everything here sees a symmetric linear map :math:`A: \mathbb{R}^P \to \mathbb{R}^P` only
through its matrix-vector product (:class:`SymmetricOperator`), so the loss Hessian, the
Gauss-Newton matrix and diagonal blocks of either share the same solvers
(:mod:`dltheory.probes.curvature` and :mod:`dltheory.probes.gauss_newton` build the operators).

- :func:`extreme_eigenvalues`: block Krylov-Schur Lanczos with reorthogonalization against
  the whole basis (a second pass only where one is not enough) and thick restart (Lanczos
  1950; Wu & Simon 2000; Stewart 2001); the basis is bounded by ``max_basis`` vectors.
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
        """Products :math:`(A V^\top)^\top` with the rows of ``V`` (b, P) -> (b, P); costs b products.

        Uses ``matmat`` off the CPU only: on the CPU a batched product of the loss Hessian
        (``is_grads_batched``) was 1.2-1.8x slower per vector than a loop (measured on an
        MLP and a ResNet-20, ``benchmarks/curvature.py``); on accelerators batching fills
        the device. Not measured on GPU in this repository.
        """
        if self.matmat is not None and V.shape[0] > 1 and self.device.type != "cpu":
            return self.matmat(V)
        if V.shape[0] == 1:
            return self.matvec(V[0])[None]
        out = torch.empty_like(V)
        for i, v in enumerate(V):
            out[i] = self.matvec(v)
        return out

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
    directly in the operator's dtype (no float64 or int64 intermediate of size P), then
    moved; never from the global RNG. Rademacher: entries :math:`\pm 1`, so
    :math:`\mathbb E[zz^\top] = I` as for Gaussians. Cost: no products.
    """
    g = _generator(generator)
    if kind == "rademacher":
        x = torch.randint(0, 2, (count, op.dim), generator=g, device=g.device, dtype=op.dtype)
        x.mul_(2).sub_(1)
    else:
        x = torch.randn((count, op.dim), generator=g, device=g.device, dtype=op.dtype)
    return x.to(device=op.device)


def _generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator or None; got {type(generator).__name__}.")
    return generator


def _check_finite(norms: Tensor) -> None:
    """Raise if a product was not finite; checked on its norm (a NaN/inf entry makes the norm NaN/inf)."""
    if not bool(torch.isfinite(norms).all()):
        raise ValueError("the operator returned non-finite values (NaN or inf): check that the loss and the parameters are finite (a diverged run?).")




class Basis:
    """Orthonormal rows (m, P) stored in chunks of a few rows.

    The basis grows one chunk at a time without copying what it holds (a contiguous array
    that doubles holds old + new copies at once), and a thick restart replaces it in place
    by a combination of its rows, slab by slab of columns. Memory: ``ceil(m / chunk) *
    chunk * P`` scalars plus a (m, 2^16) work slab.
    """

    def __init__(self, P: int, dtype: torch.dtype, device: torch.device, chunk: int = 4) -> None:
        self.P, self.dtype, self.device, self.chunk = P, dtype, device, chunk
        self.chunks: list[Tensor] = []
        self.m = 0

    def _parts(self):
        """(first row, chunk rows in use) for each chunk in use."""
        for i, c in enumerate(self.chunks):
            n = min(self.chunk, self.m - i * self.chunk)
            if n <= 0:
                return
            yield i * self.chunk, c[:n]

    @property
    def capacity(self) -> int:
        return len(self.chunks) * self.chunk

    def row(self, i: int) -> Tensor:
        return self.chunks[i // self.chunk][i % self.chunk]

    def rows(self, i: int, j: int) -> Tensor:
        """Rows i:j (a view when they sit in one chunk, else a copy)."""
        if i // self.chunk == (j - 1) // self.chunk:
            return self.chunks[i // self.chunk][i % self.chunk : (j - 1) % self.chunk + 1]
        return torch.stack([self.row(r) for r in range(i, j)])

    def append(self, W: Tensor) -> None:
        for w in W:
            if self.m == self.capacity:
                self.chunks.append(torch.empty((self.chunk, self.P), dtype=self.dtype, device=self.device))
            self.row(self.m).copy_(w)
            self.m += 1

    def coefficients(self, W: Tensor) -> Tensor:
        """:math:`Q W^\top` (m, b)."""
        if self.m == 0:
            return W.new_zeros((0, W.shape[0]))
        return torch.cat([c @ W.T for _, c in self._parts()])

    def subtract(self, W: Tensor, C: Tensor) -> Tensor:
        """:math:`W - C^\top Q` (a new tensor; W is never written to)."""
        out = None
        for r, c in self._parts():
            out = torch.addmm(W, C[r : r + c.shape[0]].T, c, alpha=-1) if out is None else out.addmm_(C[r : r + c.shape[0]].T, c, alpha=-1)
        return W.clone() if out is None else out

    def combine(self, S: Tensor) -> Tensor:
        """:math:`S^\top Q` for S (m, n): n new vectors (n, P)."""
        out = torch.zeros((S.shape[1], self.P), dtype=self.dtype, device=self.device)
        for r, c in self._parts():
            out.addmm_(S[r : r + c.shape[0]].T, c)
        return out

    def transform_(self, S: Tensor, slab: int = 1 << 16) -> None:
        """Replace the basis in place by the n rows of :math:`S^\top Q` (S (m, n), n <= m)."""
        n = S.shape[1]
        for j in range(0, self.P, slab):
            X = torch.cat([c[:, j : j + slab] for _, c in self._parts()])  # (m, s)
            Y = S.T @ X  # (n, s)
            for i in range(n):
                self.row(i)[j : j + slab] = Y[i]
        self.truncate(n)

    def truncate(self, n: int) -> None:
        self.m = n
        del self.chunks[max(1, -(-n // self.chunk)) :]

    def clear(self) -> None:
        self.chunks, self.m = [], 0


class _Rows:
    """A (m, P) tensor seen through the :class:`Basis` interface (no copy)."""

    def __init__(self, Q: Tensor) -> None:
        self.Q, self.m = Q, Q.shape[0]

    def coefficients(self, W: Tensor) -> Tensor:
        return self.Q @ W.T

    def subtract(self, W: Tensor, C: Tensor) -> Tensor:
        return torch.addmm(W, C.T, self.Q, alpha=-1)


def _orthogonalize(W: Tensor, Q: Basis | Tensor) -> tuple[Tensor, Tensor]:
    r"""Remove from the rows of W (b, P) their components along the rows of Q.

    Classical Gram-Schmidt against the whole basis with a selective second pass (DGKS test,
    Daniel, Gragg, Kaufman, Stewart, Math. Comp. 30 (1976)): one pass leaves a row
    orthogonal to Q up to about :math:`u\|w\|/\|w'\|` (u the unit roundoff), so the second
    pass runs only for a row whose norm fell below :math:`\sqrt u\,\|w\|`. That keeps the
    basis semi-orthogonal, :math:`|q_i^\top q_j| \le \sqrt u`, which is enough for the
    projected matrix and its Ritz values to be accurate to working precision (H. Simon,
    Math. Comp. 42 (1984)). DGKS's classical threshold :math:`1/\sqrt 2` would fire at
    nearly every Lanczos step (the new vector is a small remainder of :math:`Aq_j` once
    :math:`\alpha_j q_j + \beta_j q_{j-1}` is removed) and costs the second pass the
    tester measured at 17-46% of the run time.
    Returns (W', C) with W = W' + C^T Q; W is never written to. Raises on non-finite rows
    (checked on their norms, which the test needs anyway).
    """
    basis = _Rows(Q) if isinstance(Q, Tensor) else Q
    n0 = torch.linalg.vector_norm(W, dim=1)
    _check_finite(n0)
    if basis.m == 0:
        return W, W.new_zeros((0, W.shape[0]))
    C = basis.coefficients(W)
    W = basis.subtract(W, C)
    n1 = torch.linalg.vector_norm(W, dim=1)
    if bool((n1 < math.sqrt(torch.finfo(W.dtype).eps) * n0).any()):
        C2 = basis.coefficients(W)
        W = basis.subtract(W, C2)
        C = C + C2
    return W, C


def _orthonormalize_block(W: Tensor, Q: Basis, op: SymmetricOperator, g: torch.Generator, scale: float) -> tuple[Tensor, Tensor]:
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
            r = random_vectors(op, 1, g)
            for _ in range(2):
                r, _ = _orthogonalize(r, Q)
                if i:
                    r = r - (r @ out[:i].T) @ out[:i]
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
    eigenvectors: bool = True,
) -> Spectrum:
    r"""The k algebraically largest and/or smallest eigenpairs of a symmetric operator.

    Block Lanczos with reorthogonalization against the whole basis (one classical
    Gram-Schmidt pass, a second only where a vector lost most of its norm: see
    :func:`_orthogonalize`) and thick (Krylov-Schur) restart: the basis :math:`Q_m` satisfies
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
        max_basis: basis vectors kept in memory (default ``min(P, max(20, 2 * wanted + 1))``,
            ARPACK's default ``ncv``, was 40); memory is about ``max_basis * P`` scalars
            (``Spectrum.basis_size`` reports the peak), grown 4 vectors at a time as needed.
        block_size: vectors per Krylov step; use >= the multiplicity of wanted eigenvalues
            (single-vector Lanczos sees one copy of a repeated eigenvalue per restart).
        v0: warm start, (P,) or (b, P) (e.g. the eigenvectors of a previous call).
        generator: draws the random start (default: a new generator seeded with 0).
        eigenvectors: ``False`` (with k = 1, ``largest`` or ``smallest``, block size 1):
            the eigenvalue alone, from the plain three-term recurrence with no basis
            (memory 3 vectors instead of ``max_basis``; see :func:`_lanczos_eigenvalue`).

    Returns:
        :class:`Spectrum` (with ``eigenvectors=False`` its eigenvectors are an empty (0, P) tensor).

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
    if not eigenvectors:
        if nwant != 1 or block_size != 1:
            raise ValueError(f"`eigenvectors=False` needs k=1, which='largest' or 'smallest' and block_size=1 (without a basis, ghost copies of a converged eigenvalue hide the next ones); got k={k}, which={which!r}, block_size={block_size}.")
        start = random_vectors(op, 1, g)[0] if v0 is None else op.check_vector(v0, "v0").reshape(-1)
        return _lanczos_eigenvalue(op, start, which, tol, max_iter)

    if v0 is None:
        start = random_vectors(op, block_size, g)
    else:
        v0 = op.check_vector(v0, "v0")
        v0 = v0[None] if v0.ndim == 1 else v0
        if v0.shape[0] > P:
            raise ValueError(f"`v0` must have at most {P} rows; got {v0.shape[0]}.")
        block_size = max(block_size, v0.shape[0])
        start = torch.cat([v0, random_vectors(op, block_size - v0.shape[0], g)]) if v0.shape[0] < block_size else v0
    default_basis = min(P, max(20, 2 * nwant + 1))
    max_basis = check_int("max_basis", default_basis if max_basis is None else max_basis, minimum=min(P, nwant + 2 * block_size), maximum=P)
    if max_basis < P:
        max_basis = max(max_basis, nwant + 2 * block_size)

    Q = Basis(P, op.dtype, op.device)  # grows chunk by chunk up to max_basis + b rows
    T = torch.zeros((max_basis + block_size, max_basis + block_size), dtype=torch.float64)  # on the CPU
    blk, R = _orthonormalize_block(start, Q, op, g, float(torch.linalg.vector_norm(start)))
    del start
    Q.append(blk)
    m = blk.shape[0]  # basis size; the current block is Q[m - b : m]
    cur = slice(0, m)
    hvps = iterations = restarts = 0
    peak = m
    eps = torch.finfo(op.dtype).eps
    theta = S = res = idx = None
    converged = False
    while True:
        W = op.apply(Q.rows(cur.start, cur.stop))  # (b, P)
        hvps += W.shape[0]
        iterations += 1
        W, C = _orthogonalize(W, Q)
        C = C.to("cpu", torch.float64)
        T[:m, cur] = C
        T[cur, :m] = C.T
        T[:m, :m] = 0.5 * (T[:m, :m] + T[:m, :m].T)
        theta, S = torch.linalg.eigh(T[:m, :m])
        scale = float(theta.abs().max()) if m else 1.0
        Wn, R = _orthonormalize_block(W, Q, op, g, scale)
        del W
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
            Q.transform_(S[:, keep].to(device=op.device, dtype=op.dtype))  # Y = S_keep^T Q, in place
            nk = len(keep)
            T.zero_()
            T[:nk, :nk] = torch.diag(theta[keep])
            T[nk : nk + b, :nk] = R @ last[:, keep]  # A Y = Y Theta + Wn^T (R S_last)
            T[:nk, nk : nk + b] = T[nk : nk + b, :nk].T
            m = nk
            restarts += 1
        if m + b > P:  # the last directions left in R^P
            b = P - m
            Wn = Wn[:b]
        Q.append(Wn)
        del Wn
        peak = max(peak, Q.capacity)
        cur = slice(m, m + b)
        m += b
    order = idx
    Y = Q.combine(S[:, order].to(device=op.device, dtype=op.dtype))
    Q.clear()
    Y = Y / torch.linalg.vector_norm(Y, dim=1, keepdim=True)
    return Spectrum(theta[order].to(op.device, op.dtype), Y, res[order].to(op.device, op.dtype), hvps, iterations, restarts, converged, peak)


def _lanczos_eigenvalue(op: SymmetricOperator, v0: Tensor, which: str, tol: float, max_iter: int) -> Spectrum:
    r"""The largest (or smallest) eigenvalue by the Lanczos three-term recurrence without a basis.

    Holds three P-vectors. In floating point the vectors lose orthogonality once a Ritz value
    converges and copies ("ghosts") of it appear, but a Ritz value whose residual bound
    :math:`\beta_m |s_{m}|` is small is close to an eigenvalue (Paige 1980): the extreme Ritz
    value converges to the extreme eigenvalue as in exact arithmetic, which makes the
    eigenvalue alone safe without reorthogonalization (the next ones are not: a ghost of
    :math:`\lambda_1` can pass for :math:`\lambda_2`). Stops on the same rule as
    :func:`extreme_eigenvalues`. Returns no eigenvector (that would need the basis, or a second
    pass).

    References: C. Paige, Linear Algebra Appl. 34 (1980); J. Cullum, R. Willoughby, Lanczos
    Algorithms for Large Symmetric Eigenvalue Computations (1985).
    """
    P = op.dim
    eps = torch.finfo(op.dtype).eps
    q = v0 / torch.linalg.vector_norm(v0)
    prev = None
    alphas: list[float] = []
    betas: list[float] = []
    theta = res = 0.0
    converged = False
    steps = min(max_iter, P)
    for j in range(steps):
        w = op.matvec(q)  # in-place updates below: no P-sized temporaries beyond the product's own
        _check_finite(torch.linalg.vector_norm(w)[None])
        a = float(w @ q)
        w.sub_(q, alpha=a)
        if prev is not None:
            w.sub_(prev, alpha=betas[-1])
        alphas.append(a)
        nrm = float(torch.linalg.vector_norm(w))
        m = j + 1
        T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if m > 1:
            off = torch.tensor(betas, dtype=torch.float64)
            T += torch.diag(off, 1) + torch.diag(off, -1)
        vals, S = torch.linalg.eigh(T)
        i = m - 1 if which == "largest" else 0
        theta, res = float(vals[i]), nrm * float(S[-1, i].abs())
        scale = float(vals.abs().max())
        if res <= tol * max(abs(theta), math.sqrt(eps) * scale) or nrm <= 100 * eps * max(scale, 1e-300) or m == P:
            converged = True
            break
        betas.append(nrm)
        prev, q = q, w.div_(nrm)
        del w
    return Spectrum(torch.tensor([theta], dtype=op.dtype, device=op.device), torch.empty((0, P), dtype=op.dtype, device=op.device),
                    torch.tensor([res], dtype=op.dtype, device=op.device), len(alphas), len(alphas), 0, converged, 3)


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


def lanczos_tridiagonal(op: SymmetricOperator, v0: Tensor, steps: int, *, reorthogonalize: str = "full") -> tuple[Tensor, Tensor]:
    r"""``steps`` Lanczos steps from ``v0``.

    Returns the Ritz values :math:`\theta_j` (m,) and the squared first components
    :math:`\tau_j = (e_1^\top s_j)^2` (m,) of the tridiagonal :math:`T_m`, the nodes and
    weights of the Gauss quadrature :math:`v^\top f(A) v / \|v\|^2 \approx \sum_j \tau_j f(\theta_j)`
    (exact for polynomials of degree < 2m). Stops early at an invariant subspace (m < steps).
    Returns float64 CPU tensors.

    Args:
        reorthogonalize: ``full``: against all previous vectors (selective second pass,
            see :func:`_orthogonalize`); memory ``steps * P``. ``none``: the three-term
            recurrence alone, memory 3 vectors. Without reorthogonalization the basis loses
            orthogonality once a Ritz value converges and copies ("ghosts") of converged
            eigenvalues appear among the nodes, but the quadrature stays accurate: the
            ghosts share the weight of the one eigenvalue they copy (Paige 1980; Greenbaum,
            Linear Algebra Appl. 113 (1989); Knizhnerman 1996), which is why spectral-density
            estimation does without it (Ghorbani, Krishnan, Xiao, ICML 2019; Lin, Saad, Yang,
            SIAM Rev. 58 (2016)).

    Cost: ``m`` products, plus :math:`O(m^2 P)` flops (``full``) or :math:`O(mP)` (``none``).

    References: C. Lanczos (1950); G. Golub, G. Meurant (1994).
    """
    v0 = op.check_vector(v0, "v0")
    reorthogonalize = check_choice("reorthogonalize", reorthogonalize, ("full", "none"))
    steps = min(check_int("steps", steps, minimum=1), op.dim)
    full = reorthogonalize == "full"
    Q = Basis(op.dim, op.dtype, op.device)
    q = (v0 / torch.linalg.vector_norm(v0))[None]
    prev = None
    alpha = torch.zeros(steps, dtype=torch.float64)
    beta = torch.zeros(steps, dtype=torch.float64)
    eps = torch.finfo(op.dtype).eps
    m = steps
    for j in range(steps):
        w = op.matvec(q[0])[None]
        if full:
            Q.append(q)
            w, c = _orthogonalize(w, Q)
            alpha[j] = float(c[j, 0])
        else:
            _check_finite(torch.linalg.vector_norm(w, dim=1))
            a = float(w[0] @ q[0])
            w = w - a * q if prev is None else w - a * q - float(beta[j - 1]) * prev
            alpha[j] = a
        nrm = float(torch.linalg.vector_norm(w))
        if j + 1 == steps:
            break
        if nrm <= 100 * eps * max(float(alpha[: j + 1].abs().max()), float(beta[:j].max()) if j else 0.0, 1e-300):
            m = j + 1
            break
        beta[j] = nrm
        prev, q = q, w / nrm
    Q.clear()
    Tm = torch.diag(alpha[:m]) + torch.diag(beta[: m - 1], 1) + torch.diag(beta[: m - 1], -1)
    theta, S = torch.linalg.eigh(Tm)
    return theta, S[0] ** 2
