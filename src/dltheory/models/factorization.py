r"""Factorized models: the course's workhorses for implicit bias, dropout and landscapes.

- :class:`DeepFactorization`: :math:`W = W_N \cdots W_1` (or :math:`U U^\top`), init scale
  and balanced init as parameters (Gunasekar et al. 2017; Arora et al. 2019).
- :class:`DiagonalNet`: :math:`\beta = w_+^2 - w_-^2` or :math:`\beta = u \odot v`
  (Woodworth et al. 2020).
- :class:`LinearAutoencoder`: :math:`x \mapsto A B x` (Baldi & Hornik 1989).
- Measurement operators: Gaussian sensing :math:`\mathcal A(X)_i = \langle A_i, X\rangle`
  and entry sampling for completion (uniform or non-uniform marginals).

All random draws take an explicit ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_float, check_int


def _randn(shape, generator: torch.Generator, dtype) -> Tensor:
    return torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)


def _shape2(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2:
        raise ValueError(f"`shape` must be (m, n); got {tuple(shape)}.")
    return check_int("shape[0]", int(shape[0]), minimum=1), check_int("shape[1]", int(shape[1]), minimum=1)


class DeepFactorization(nn.Module):
    r"""End-to-end matrix :math:`W = W_N \cdots W_1 \in \mathbb R^{m\times n}` (``symmetric``:
    :math:`U U^\top` with :math:`U \in \mathbb R^{n \times r}`).

    Args:
        shape: ``(m, n)`` of the end-to-end matrix (square for ``symmetric``).
        depth: number of factors N >= 1 (ignored when ``symmetric``).
        width: hidden width of the inner factors (default ``max(m, n)``); rank of U when
            ``symmetric`` (default n).
        init_scale: without ``balanced``, every factor (and U) has i.i.d. ``N(0, init_scale^2)``
            entries (no fan-in scaling: the end-to-end matrix has entries of order
            ``init_scale^N * width^((N-1)/2)``); for ``balanced`` see below.
        balanced: balanced init (Arora et al. 2019): factors built from one Gaussian matrix's
            SVD so that :math:`W_{j+1}^\top W_{j+1} = W_j W_j^\top` and the end-to-end
            matrix has Frobenius norm ``init_scale``. Needs ``width >= min(m, n)``; ignored when
            ``symmetric`` (U U^T is balanced by construction).
        generator: draws the initialization.
        dtype: parameter dtype.
    """

    def __init__(self, shape: Sequence[int], *, depth: int = 2, width: int | None = None, init_scale: float = 1e-3,
                 balanced: bool = False, symmetric: bool = False, generator: torch.Generator, dtype=torch.float64):
        super().__init__()
        m, n = _shape2(shape)
        depth = check_int("depth", depth, minimum=1)
        init_scale = check_float("init_scale", init_scale, minimum=0.0)
        self.shape = (m, n)
        self.symmetric = symmetric
        if symmetric:
            if m != n:
                raise ValueError(f"`shape` must be square for a symmetric factorization; got {tuple(shape)}.")
            r = n if width is None else check_int("width", width, minimum=1)
            self.depth = 2
            self.U = nn.Parameter(init_scale * _randn((n, r), generator, dtype))
            return
        self.depth = depth
        k = max(m, n) if width is None else check_int("width", width, minimum=1)
        dims = [n] + [k] * (depth - 1) + [m]
        if balanced:
            factors = _balanced_factors(dims, init_scale, generator, dtype)
        else:
            factors = [init_scale * _randn((dims[j + 1], dims[j]), generator, dtype) for j in range(depth)]
        self.factors = nn.ParameterList([nn.Parameter(f) for f in factors])

    def forward(self) -> Tensor:
        """The end-to-end matrix, shape (m, n)."""
        if self.symmetric:
            return self.U @ self.U.T
        W = self.factors[0]
        for f in self.factors[1:]:
            W = f @ W
        return W


def end_to_end(params: dict[str, Tensor]) -> Tensor:
    """End-to-end matrix from a ``DeepFactorization`` parameter dict (``factors.0``, ... or ``U``)."""
    if "U" in params:
        return params["U"] @ params["U"].T
    keys = sorted((k for k in params if k.startswith("factors.")), key=lambda k: int(k.split(".")[1]))
    if not keys:
        raise ValueError(f"`params` must hold 'U' or 'factors.j' entries; got {list(params)}.")
    W = params[keys[0]]
    for k in keys[1:]:
        W = params[k] @ W
    return W


def balanced_factors(W: Tensor, depth: int, *, width: int | None = None) -> list[Tensor]:
    r"""A balanced factorization :math:`W = W_N \cdots W_1` of a given matrix W (m, n).

    :math:`W_j = F_{j+1} S^{1/N} F_j^\top` with :math:`W = U S V^\top` (thin SVD), :math:`F_1 = V`,
    :math:`F_{N+1} = U` and the first ``min(m, n)`` coordinates of each hidden layer of width
    ``width`` (default ``max(m, n)``) as the inner frames, so that
    :math:`W_{j+1}^\top W_{j+1} = W_j W_j^\top` (Arora, Cohen, Hazan 2018) and every factor has
    singular values :math:`\sigma_i(W)^{1/N}`. Returns the factors ``[W_1, ..., W_N]``
    (``W_1`` acts first), the layout of :class:`DeepFactorization`'s ``factors``. Cost: one SVD.
    """
    if W.ndim != 2:
        raise ValueError(f"`W` must be a matrix (m, n); got shape {tuple(W.shape)}.")
    N = check_int("depth", depth, minimum=1)
    m, n = W.shape
    k = max(m, n) if width is None else check_int("width", width, minimum=1)
    dims = [n] + [k] * (N - 1) + [m]
    Uo, S, Vh = torch.linalg.svd(W, full_matrices=False)
    r = S.shape[0]
    if min(dims[1:-1], default=r) < r:
        raise ValueError(f"`width` must be >= min(m, n) = {r} for a balanced factorization; got dims {dims}.")
    s = S ** (1.0 / N)
    # orthonormal frames of each hidden layer: the first r coordinates
    frames = [Vh.T] + [torch.eye(d, r, dtype=W.dtype, device=W.device) for d in dims[1:-1]] + [Uo]
    return [frames[j + 1] @ torch.diag(s) @ frames[j].T for j in range(N)]


def _balanced_factors(dims: list[int], scale: float, generator: torch.Generator, dtype) -> list[Tensor]:
    """Balanced init: the balanced factorization of W = scale * G/||G||_F, G Gaussian (m, n)."""
    m, n = dims[-1], dims[0]
    G = _randn((m, n), generator, dtype)
    width = dims[1] if len(dims) > 2 else None  # DeepFactorization's hidden layers share one width
    return balanced_factors(scale * G / torch.linalg.norm(G), len(dims) - 1, width=width)


class DiagonalNet(nn.Module):
    r"""Diagonal linear network :math:`f(x) = \langle \beta, x\rangle`.

    ``parametrization="pm"``: :math:`\beta = w_+^2 - w_-^2` with :math:`w_\pm(0) = \alpha\mathbf 1`
    (so :math:`\beta(0) = 0`; Woodworth et al. 2020); ``"uv"``: :math:`\beta = u \odot v` with
    :math:`u(0) = \alpha\mathbf 1` (or Gaussian of scale alpha with ``generator``), :math:`v(0)=0`.
    """

    def __init__(self, dim: int, *, init_scale: float, parametrization: str = "pm", generator: torch.Generator | None = None, dtype=torch.float64):
        super().__init__()
        dim = check_int("dim", dim, minimum=1)
        init_scale = check_float("init_scale", init_scale, minimum=0.0)
        self.parametrization = check_choice("parametrization", parametrization, ("pm", "uv"))
        if parametrization == "pm":
            self.w_plus = nn.Parameter(torch.full((dim,), init_scale, dtype=dtype))
            self.w_minus = nn.Parameter(torch.full((dim,), init_scale, dtype=dtype))
        else:
            u = torch.full((dim,), init_scale, dtype=dtype) if generator is None else init_scale * _randn((dim,), generator, dtype)
            self.u = nn.Parameter(u)
            self.v = nn.Parameter(torch.zeros(dim, dtype=dtype, device=u.device))  # v(0) = 0, so beta(0) = 0

    def beta(self) -> Tensor:
        """The linear predictor beta, shape (d,)."""
        if self.parametrization == "pm":
            return self.w_plus**2 - self.w_minus**2
        return self.u * self.v

    def forward(self, x: Tensor) -> Tensor:
        """(B, d) -> (B,)."""
        return x @ self.beta()


class LinearAutoencoder(nn.Module):
    r"""Linear autoencoder :math:`x \mapsto A B x`, :math:`B \in \mathbb R^{p\times d}`,
    :math:`A \in \mathbb R^{d \times p}` (Baldi & Hornik 1989)."""

    def __init__(self, dim: int, hidden: int, *, init_scale: float = 0.1, generator: torch.Generator, dtype=torch.float64):
        super().__init__()
        dim = check_int("dim", dim, minimum=1)
        hidden = check_int("hidden", hidden, minimum=1, maximum=dim)
        self.encoder = nn.Parameter(init_scale * _randn((hidden, dim), generator, dtype))  # B
        self.decoder = nn.Parameter(init_scale * _randn((dim, hidden), generator, dtype))  # A

    def forward(self, x: Tensor) -> Tensor:
        """(B, d) -> (B, d)."""
        return x @ self.encoder.T @ self.decoder.T


@dataclass(frozen=True)
class GaussianSensing:
    r"""Linear measurements :math:`\mathcal A(X)_i = \langle A_i, X\rangle` with i.i.d. N(0, 1)
    entries (``symmetric``: :math:`A_i = (G_i + G_i^\top)/2`). ``A`` has shape (k, m, n)."""

    A: Tensor

    @staticmethod
    def sample(num: int, shape: Sequence[int], *, generator: torch.Generator, symmetric: bool = False, dtype=torch.float64) -> GaussianSensing:
        num = check_int("num", num, minimum=1)
        m, n = _shape2(shape)
        A = _randn((num, m, n), generator, dtype)
        if symmetric:
            if m != n:
                raise ValueError(f"`shape` must be square for symmetric sensing; got {tuple(shape)}.")
            A = 0.5 * (A + A.transpose(1, 2))
        return GaussianSensing(A)

    def __call__(self, X: Tensor) -> Tensor:
        """(m, n) -> (k,)."""
        if X.shape != self.A.shape[1:]:
            raise ValueError(f"`X` must have shape {tuple(self.A.shape[1:])}; got {tuple(X.shape)}.")
        return torch.einsum("kmn,mn->k", self.A, X)


@dataclass(frozen=True)
class EntrySample:
    """Observed entries for matrix completion: ``rows[i], cols[i]`` (distinct pairs)."""

    rows: Tensor
    cols: Tensor
    shape: tuple[int, int]

    @staticmethod
    def sample(num: int, shape: Sequence[int], *, generator: torch.Generator, row_probs: Tensor | None = None, col_probs: Tensor | None = None) -> EntrySample:
        r"""``num`` distinct entries, uniformly or with probability :math:`\propto p_i q_j`
        (non-uniform marginals ``row_probs``, ``col_probs``), without replacement."""
        m, n = _shape2(shape)
        num = check_int("num", num, minimum=1, maximum=m * n)
        dev = generator.device
        p = torch.ones(m, dtype=torch.float64, device=dev) if row_probs is None else torch.as_tensor(row_probs).to(dev, torch.float64)
        q = torch.ones(n, dtype=torch.float64, device=dev) if col_probs is None else torch.as_tensor(col_probs).to(dev, torch.float64)
        if p.shape != (m,) or q.shape != (n,):
            raise ValueError(f"`row_probs` must have shape ({m},) and `col_probs` shape ({n},); got {tuple(p.shape)} and {tuple(q.shape)}.")
        if not (torch.isfinite(p).all() and torch.isfinite(q).all()) or (p < 0).any() or (q < 0).any() or p.sum() == 0 or q.sum() == 0:
            raise ValueError("`row_probs` and `col_probs` must be finite and non-negative with a positive sum.")
        support = int((p > 0).sum()) * int((q > 0).sum())
        if num > support:
            raise ValueError(f"`num` must be an int <= {support} (entries with positive probability); got {num}.")
        w = torch.outer(p / p.sum(), q / q.sum()).reshape(-1)
        idx = torch.multinomial(w, num, replacement=False, generator=generator)
        return EntrySample(idx // n, idx % n, (m, n))

    def mask(self, dtype=torch.float64) -> Tensor:
        M = torch.zeros(self.shape, dtype=dtype, device=self.rows.device)
        M[self.rows, self.cols] = 1
        return M

    def __call__(self, X: Tensor) -> Tensor:
        """Observed values of X, shape (num,)."""
        return X[self.rows, self.cols]


def low_rank_matrix(shape: Sequence[int], rank: int, *, generator: torch.Generator, normalize: bool = True, symmetric_psd: bool = False, dtype=torch.float64) -> Tensor:
    r"""A random rank-``rank`` matrix :math:`U V^\top` with Gaussian factors (``symmetric_psd``:
    :math:`U U^\top`); ``normalize`` scales it to unit Frobenius norm."""
    m, n = _shape2(shape)
    rank = check_int("rank", rank, minimum=1, maximum=min(m, n))
    if symmetric_psd and m != n:
        raise ValueError(f"`shape` must be square for a symmetric PSD matrix; got {tuple(shape)}.")
    U = _randn((m, rank), generator, dtype)
    M = U @ U.T if symmetric_psd else U @ _randn((n, rank), generator, dtype).T
    return M / torch.linalg.norm(M) if normalize else M
