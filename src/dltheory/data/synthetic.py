r"""Synthetic data for theory settings: separable classification, underdetermined regression.

- :func:`separable_gaussians`: two Gaussian classes on either side of a hyperplane through the
  origin, rejection-sampled so the data are linearly separable *without intercept* with a
  guaranteed margin. Generic (no symmetry, no hand-placed support vectors): the max-margin
  direction is close to, but not equal to, the planted one, as in the settings of Soudry et al.
  (JMLR 2018) and Gunasekar et al. (ICML 2018).
- :func:`sparse_regression`: Gaussian design with a k-sparse ground truth (Woodworth et al. 2020).
- :func:`gaussian_mixture`: C Gaussian classes around random means (Hessian spectra, Sagun et al.).
- :func:`chebyshev_data`: a Chebyshev-polynomial regression target on [-1, 1] (Cohen et al. 2021).
- :func:`underdetermined_regression`: fewer equations than unknowns, :math:`y = X w_\star`,
  so the interpolants form an affine space and the algorithm picks one (Gunasekar et al. 2018;
  Woodworth et al. 2020).

Every draw takes an explicit ``torch.Generator``; tensors are created on its device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dltheory.core.errors import check_float, check_int


def _randn(shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    return torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)


def _as_vector(name: str, v: Tensor | None, d: int, dtype: torch.dtype, device: torch.device) -> Tensor | None:
    if v is None:
        return None
    v = torch.as_tensor(v, dtype=dtype, device=device).reshape(-1)
    if v.shape[0] != d:
        raise ValueError(f"`{name}` must have d = {d} entries; got shape {tuple(v.shape)}.")
    if not torch.isfinite(v).all():
        raise ValueError(f"`{name}` must be finite; got non-finite entries.")
    return v


def separable_gaussians(
    n: int,
    d: int,
    *,
    margin: float,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    separation: float = 2.0,
    direction: Tensor | None = None,
    mean: Tensor | None = None,
    max_rounds: int = 1000,
) -> tuple[Tensor, Tensor]:
    r"""Two Gaussian classes, linearly separable through the origin with margin >= ``margin``.

    Labels :math:`y_i = \pm 1` with probability 1/2 each (both classes always present), points
    :math:`x_i = y_i\,s\,u + \mu + g_i`, :math:`g_i \sim \mathcal N(0, I_d)`, with ``separation``
    :math:`s`, unit normal :math:`u` and common shift :math:`\mu`; a point with
    :math:`y_i\langle u, x_i\rangle < \text{margin}` is redrawn (rejection sampling). Hence the
    homogeneous (no-intercept) l2 max margin is at least ``margin``, while the max-margin
    direction and its support vectors depend on the sample (generic data: no symmetry, no
    hand-placed support vectors). The points nearest the boundary are Gaussian tail samples,
    so the support vectors stand apart from the other points. A nonzero ``mean`` makes the
    distributions of :math:`y_i x_i` differ between the classes.

    Cost: O(n d) per rejection round; the expected number of rounds is small when
    ``separation`` exceeds ``margin`` by a few units.

    Args:
        n: number of points (>= 2).
        d: dimension (>= 1).
        margin: the guaranteed margin (>= 0).
        generator: draws the labels, the points and, if ``direction`` is None, the normal u.
        dtype: floating dtype of ``X`` and ``y``.
        separation: distance of each class mean from the hyperplane (before ``mean``).
        direction: the planted normal u (normalized here); random if None.
        mean: the common shift :math:`\mu` (default 0).
        max_rounds: rejection rounds before giving up with a ``ValueError``.

    Returns:
        ``(X, y)`` with ``X`` of shape (n, d) and ``y`` of shape (n,) with values in {-1, +1}.
    """
    n = check_int("n", n, minimum=2)
    d = check_int("d", d, minimum=1)
    margin = check_float("margin", margin, minimum=0.0)
    separation = check_float("separation", separation)
    max_rounds = check_int("max_rounds", max_rounds, minimum=1)
    device = generator.device
    u = _as_vector("direction", direction, d, dtype, device)
    if u is None:
        u = _randn((d,), generator, dtype)
    nu = torch.linalg.vector_norm(u)
    if nu == 0:
        raise ValueError("`direction` must be nonzero; got the zero vector.")
    u = u / nu
    mu = _as_vector("mean", mean, d, dtype, device)
    y = torch.where(torch.rand((n,), generator=generator, dtype=dtype, device=device) < 0.5, 1.0, -1.0).to(dtype)
    if bool((y == y[0]).all()):
        y[-1] = -y[0]
    X = torch.empty((n, d), dtype=dtype, device=device)
    todo = torch.arange(n, device=device)
    for _ in range(max_rounds):
        cand = y[todo, None] * separation * u + _randn((todo.numel(), d), generator, dtype)  # (m, d)
        if mu is not None:
            cand = cand + mu
        ok = y[todo] * (cand @ u) >= margin
        X[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if todo.numel() == 0:
            return X, y
    raise ValueError(f"could not draw {n} points with margin >= {margin} in {max_rounds} rounds; "
                     f"increase `separation` (got {separation}) or decrease `margin`.")


def underdetermined_regression(
    n: int,
    d: int,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    noise: float = 0.0,
) -> tuple[Tensor, Tensor]:
    r"""An underdetermined least-squares problem :math:`X w = y` with n < d.

    :math:`X_{ij} \sim \mathcal N(0, 1/d)`, :math:`w_\star \sim \mathcal N(0, I_d)`,
    :math:`y = X w_\star + \text{noise}\,\xi` with :math:`\xi \sim \mathcal N(0, I_n)`. With
    n < d a Gaussian X has full row rank almost surely, so interpolants exist for any y.

    Cost: O(n d).

    Args:
        n: number of equations (>= 1).
        d: number of unknowns (> n).
        generator: draws X, :math:`w_\star` and the noise.
        dtype: floating dtype.
        noise: standard deviation of the label noise (>= 0).

    Returns:
        ``(X, y)`` with shapes (n, d) and (n,).
    """
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=n + 1)
    noise = check_float("noise", noise, minimum=0.0)
    X = _randn((n, d), generator, dtype) / d**0.5
    w_star = _randn((d,), generator, dtype)
    y = X @ w_star
    if noise > 0:
        y = y + noise * _randn((n,), generator, dtype)
    return X, y


def sparse_regression(n: int, d: int, k: int, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``X`` (n, d) with N(0, 1) entries, a k-sparse :math:`\beta_\star` with entries :math:`\pm 1/\sqrt k`
    on a random support (unit norm), noiseless ``y = X beta_star``."""
    X = torch.randn((n, d), generator=generator, dtype=torch.float64, device=generator.device)
    support = torch.randperm(d, generator=generator, device=generator.device)[:k]
    signs = torch.randint(0, 2, (k,), generator=generator, device=generator.device).to(torch.float64) * 2 - 1
    beta = torch.zeros(d, dtype=torch.float64, device=generator.device)
    beta[support] = signs / k**0.5
    return X, X @ beta, beta


def gaussian_mixture(num_classes: int, dim: int, per_class: int, *, separation: float, generator: torch.Generator,
                     dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``per_class`` points of each of C classes: :math:`x = \mu_c + \xi`, :math:`\mu_c \sim N(0, s^2 I/D)`,
    :math:`\xi \sim N(0, I/D)`. Returns ``(x (n, D), y (n,), means (C, D))``."""
    dev = generator.device
    means = torch.randn(num_classes, dim, generator=generator, dtype=dtype, device=dev) * separation / math.sqrt(dim)
    y = torch.arange(num_classes, device=dev).repeat_interleave(per_class)
    x = means[y] + torch.randn(len(y), dim, generator=generator, dtype=dtype, device=dev) / math.sqrt(dim)
    return x, y, means


def chebyshev_data(degree: int, num_points: int, *, dtype: torch.dtype, device) -> tuple[Tensor, Tensor]:
    r"""``num_points`` evenly spaced x on [-1, 1] with targets :math:`T_k(x) = \cos(k \arccos x)`, shapes (n, 1)."""
    x = torch.linspace(-1.0, 1.0, num_points, dtype=dtype, device=device)[:, None]
    return x, torch.cos(degree * torch.arccos(x.clamp(-1.0, 1.0)))
