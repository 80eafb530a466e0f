r"""Weight spectra of every layer: empirical spectral densities, power-law tails, Marchenko-Pastur bulks.

Heavy-tailed self-regularization (Martin & Mahoney, JMLR 22(165), 2021): for a layer weight
:math:`W \in \mathbb R^{N\times M}` (transposed so that :math:`N \ge M`), the empirical spectral
density (ESD) is that of the eigenvalues of the correlation matrix :math:`X = W^\top W / N`. For
i.i.d. entries of variance :math:`\sigma^2` it follows the Marchenko-Pastur law with ratio
:math:`q = M/N` on :math:`[\sigma^2(1-\sqrt q)^2, \sigma^2(1+\sqrt q)^2]`; trained layers grow a
power-law tail :math:`p(\lambda) \propto \lambda^{-\alpha}`, with smaller :math:`\alpha` for stronger
correlations (their "5+1 phases"; :math:`\alpha` between 2 and 4 for well-trained layers).

- :func:`weight_matrices`: the weight matrices of every ``nn.Linear`` and ``nn.Conv{1,2}d`` of a
  module. Convolutions: ``conv="reshape"`` (out, in k...) matrix; ``"slices"``: one (out, in) matrix
  per kernel position (WeightWatcher's choice); ``"fft"``: the exact singular values of the
  circular convolution operator on inputs of size ``input_size``, one (out, in) matrix of the
  kernel's DFT per frequency (Sedghi, Gupta, Long, ICLR 2019).
- :func:`esd`: the eigenvalues of :math:`W^\top W/N` (of all matrices of a layer together).
- :func:`fit_power_law`: the continuous power-law MLE :math:`\hat\alpha = 1 + n / \sum_i \ln(\lambda_i/\lambda_{\min})`
  over the tail :math:`\lambda_i \ge \lambda_{\min}`, with :math:`\lambda_{\min}` chosen to minimize the
  Kolmogorov-Smirnov distance between the tail and the fitted law (Clauset, Shalizi, Newman, SIAM
  Review 51(4), 2009); standard error :math:`(\hat\alpha - 1)/\sqrt n`.
- :func:`fit_marchenko_pastur`: the MP law matched to the bulk by its median (robust to a tail
  and to spikes), the KS distance of the whole ESD to it, and the number of spikes: eigenvalues above
  the 99th percentile of the Tracy-Widom law of the largest null eigenvalue (Johnstone, Ann. Stat.
  29(2), 2001).
- :func:`weight_spectra`, :func:`spectra_table`: one row per layer (shape, alpha, xmin, KS, MP
  scale and KS, spikes, stable rank, log10 of the largest eigenvalue, :math:`\hat\alpha\log_{10}\lambda_{\max}`).

Everything runs in float64 on the weights' device; eigenvalues come back on it, fits as floats.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from dltheory.core.errors import check_choice, check_float, check_int

__all__ = ["LayerSpectrum", "MPFit", "PowerLawFit", "as_dicts", "esd", "fit_marchenko_pastur", "fit_power_law", "mp_cdf", "spectra_table", "weight_matrices", "weight_spectra"]


# --------------------------------------------------------------------------- matrices


def _conv_matrices(w: Tensor, conv: str, input_size: int | tuple[int, ...] | None) -> Tensor:
    out_c, in_c, *k = w.shape
    if conv == "reshape":
        return w.reshape(out_c, -1)
    if conv == "slices":
        return w.reshape(out_c, in_c, -1).permute(2, 0, 1)  # (K, out, in)
    if input_size is None:
        raise ValueError("`input_size` must be given with conv='fft' (the spatial size of the layer's input, an int or one per dimension).")
    size = (input_size,) * len(k) if isinstance(input_size, int) else tuple(input_size)
    if len(size) != len(k) or any(s < ki for s, ki in zip(size, k, strict=True)):
        raise ValueError(f"`input_size` must be {len(k)} sizes >= the kernel {tuple(k)}; got {input_size!r}.")
    dims = tuple(range(2, 2 + len(k)))
    Wf = torch.fft.fftn(w.to(torch.float64), s=size, dim=dims)  # (out, in, *size)
    return Wf.flatten(2).permute(2, 0, 1)  # (F, out, in), complex


def weight_matrices(model: nn.Module, *, conv: str = "reshape", input_size: int | tuple[int, ...] | None = None) -> dict[str, Tensor]:
    r"""``name -> matrix`` (or a stack (K, out, in) of matrices) for each Linear and Conv1d/2d/3d weight of ``model``.

    ``conv``: ``"reshape"`` (out, in x kernel), ``"slices"`` (kernel positions, out, in) or ``"fft"``
    (frequencies, out, in; complex: the singular values of all of them are those of the circular
    convolution on inputs of ``input_size``). Grouped convolutions are refused with ``conv="fft"``.
    """
    conv = check_choice("conv", conv, ("reshape", "slices", "fft"))
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    out: dict[str, Tensor] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            out[name] = m.weight.detach()
        elif isinstance(m, nn.modules.conv._ConvNd) and not m.transposed:
            if conv == "fft" and m.groups != 1:
                raise ValueError(f"layer {name!r} is a grouped convolution (groups={m.groups}); conv='fft' supports groups=1 only.")
            out[name] = _conv_matrices(m.weight.detach(), conv, input_size)
    if not out:
        raise ValueError("`model` has no nn.Linear or nn.Conv layers.")
    return out


def esd(W: Tensor) -> Tensor:
    r"""Eigenvalues of :math:`X = W^\top W / N` (ascending, float64) for W (N, M) transposed so that N >= M;
    a stack (K, n, m) gives the eigenvalues of all K matrices together. Cost: one SVD per matrix."""
    if not isinstance(W, Tensor):
        W = torch.as_tensor(np.asarray(W))
    if W.ndim not in (2, 3):
        raise ValueError(f"`W` must be a matrix (N, M) or a stack (K, N, M); got shape {tuple(W.shape)}.")
    W = W.to(torch.complex128 if W.is_complex() else torch.float64)
    if not bool(torch.isfinite(torch.view_as_real(W) if W.is_complex() else W).all()):
        raise ValueError("`W` contains NaN or infinite values.")
    N = max(W.shape[-2:])
    s = torch.linalg.svdvals(W).reshape(-1)
    return torch.sort(s * s / N).values


# --------------------------------------------------------------------------- power law


@dataclass(frozen=True)
class PowerLawFit:
    """``alpha`` (density exponent), ``xmin``, ``ks_distance`` of the tail to the fit, ``n_tail``, ``std_error`` of alpha."""

    alpha: float
    xmin: float
    ks_distance: float
    n_tail: int
    std_error: float


def _pl_fit_sorted(t: np.ndarray, xmin: float) -> tuple[float, float]:
    """alpha and KS distance of the power law from ``xmin`` fitted to the sorted tail t (all >= xmin)."""
    n = len(t)
    s = np.log(t / xmin).sum()
    if s <= 0:
        return math.inf, 1.0
    alpha = 1 + n / s
    model = 1 - (t / xmin) ** (1 - alpha)  # fitted CDF at the sorted points
    return alpha, float(max(np.abs(np.arange(1, n + 1) / n - model).max(), np.abs(np.arange(0, n) / n - model).max()))


def fit_power_law(x: Tensor | np.ndarray, *, xmin: float | None = None, min_tail: int = 10, max_candidates: int = 2000) -> PowerLawFit:
    r"""Continuous power-law fit of the upper tail of positive samples (Clauset, Shalizi, Newman 2009).

    With ``xmin`` given, the MLE :math:`\hat\alpha = 1 + n/\sum_{x_i \ge x_{\min}} \ln(x_i/x_{\min})`;
    otherwise every sample value leaving at least ``min_tail`` points in the tail is tried (at most
    ``max_candidates`` of them, evenly spaced in rank) and the one with the smallest KS distance
    :math:`\max_x|S(x) - P(x)|` between the tail's empirical CDF and the fitted one is kept.
    Cost: O(n) per candidate.
    """
    a = np.asarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x, dtype=np.float64).reshape(-1)
    a = np.sort(a[a > 0])
    min_tail = check_int("min_tail", min_tail, minimum=2)
    max_candidates = check_int("max_candidates", max_candidates, minimum=1)
    if len(a) < min_tail:
        raise ValueError(f"`x` must hold at least min_tail = {min_tail} positive values; got {len(a)}.")
    if xmin is not None:
        if not (xmin > 0):
            raise ValueError(f"`xmin` must be > 0; got {xmin}.")
        t = a[a >= xmin]
        if len(t) < 2:
            raise ValueError(f"`xmin` = {xmin} leaves {len(t)} values in the tail; need at least 2.")
        alpha, ks = _pl_fit_sorted(t, float(xmin))
        n = len(t)
        return PowerLawFit(alpha, float(xmin), ks, n, (alpha - 1) / math.sqrt(n))
    last = len(a) - min_tail
    idx = np.unique(np.linspace(0, last, min(max_candidates, last + 1)).round().astype(int))
    best = None
    for i in idx:
        if i > 0 and a[i] == a[i - 1]:
            continue
        alpha, ks = _pl_fit_sorted(a[i:], a[i])
        if best is None or ks < best[1]:
            best = (alpha, ks, i)
    alpha, ks, i = best
    n = len(a) - i
    return PowerLawFit(float(alpha), float(a[i]), float(ks), int(n), float((alpha - 1) / math.sqrt(n)))


# --------------------------------------------------------------------------- Marchenko-Pastur


@dataclass(frozen=True)
class MPFit:
    """``sigma2`` (entry variance), ``ratio`` q = M/N, the bulk edges, ``ks_distance`` of the ESD to the law, ``num_spikes``."""

    sigma2: float
    ratio: float
    lambda_minus: float
    lambda_plus: float
    ks_distance: float
    num_spikes: int
    spike_threshold: float


def mp_cdf(x: np.ndarray, ratio: float, sigma2: float = 1.0, grid: int = 4001) -> np.ndarray:
    r"""CDF of the Marchenko-Pastur law with ratio q <= 1 and scale :math:`\sigma^2` (numerical integration of
    :math:`\sqrt{(\lambda_+ - \lambda)(\lambda - \lambda_-)}/(2\pi\sigma^2 q\lambda)` on a Chebyshev-spaced grid)."""
    lm, lp = sigma2 * (1 - math.sqrt(ratio)) ** 2, sigma2 * (1 + math.sqrt(ratio)) ** 2
    theta = np.linspace(math.pi, 0, grid)
    g = lm + (lp - lm) * (1 + np.cos(theta)) / 2  # clustered at both edges (square-root singular density)
    dens = np.sqrt(np.clip((lp - g) * (g - lm), 0, None)) / (2 * math.pi * sigma2 * ratio * np.maximum(g, 1e-300))
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(g))])
    cdf /= cdf[-1]
    return np.interp(np.asarray(x, dtype=np.float64), g, cdf, left=0.0, right=1.0)


def fit_marchenko_pastur(evals: Tensor | np.ndarray, N: int, M: int, *, tw_units: float = 2.02) -> MPFit:
    r"""Marchenko-Pastur law matched to the ESD ``evals`` of :math:`W^\top W/N` for (N, M) matrices, N >= M.

    ``evals`` may hold the eigenvalues of several such matrices (a convolution's slices or
    frequencies). Ratio q = M/N; :math:`\sigma^2` = median(evals) / (median of MP(q, 1)); the KS
    distance is over all eigenvalues; spikes are eigenvalues above :math:`\sigma^2(\mu + 2.02\,s)/N` with
    Johnstone's (2001) centering :math:`\mu = (\sqrt{N-1} + \sqrt M)^2` and scale
    :math:`s = (\sqrt{N-1}+\sqrt M)(1/\sqrt{N-1} + 1/\sqrt M)^{1/3}` (2.02: the 99th percentile of Tracy-Widom TW1,
    so about one null matrix in a hundred shows a spike).
    """
    N, M = check_int("N", N, minimum=2), check_int("M", M, minimum=1)
    if M > N:
        raise ValueError(f"`M` must be <= `N` (transpose the matrix); got N = {N}, M = {M}.")
    e = np.sort(np.asarray(evals.detach().cpu().numpy() if isinstance(evals, Tensor) else evals, dtype=np.float64).reshape(-1))
    if len(e) < 2 or e[len(e) // 2] <= 0:
        raise ValueError("`evals` must hold at least 2 eigenvalues with a positive median.")
    ratio = M / N
    grid = np.linspace(0, (1 + math.sqrt(ratio)) ** 2, 20001)
    med1 = float(np.interp(0.5, mp_cdf(grid, ratio), grid))
    sigma2 = float(np.median(e)) / med1
    lm, lp = sigma2 * (1 - math.sqrt(ratio)) ** 2, sigma2 * (1 + math.sqrt(ratio)) ** 2
    n = len(e)
    F = mp_cdf(e, ratio, sigma2)
    ks = float(max(np.abs(np.arange(1, n + 1) / n - F).max(), np.abs(np.arange(0, n) / n - F).max()))
    mu = (math.sqrt(N - 1) + math.sqrt(M)) ** 2
    s = (math.sqrt(N - 1) + math.sqrt(M)) * (1 / math.sqrt(N - 1) + 1 / math.sqrt(M)) ** (1 / 3)
    thr = sigma2 * (mu + check_float("tw_units", tw_units) * s) / N
    return MPFit(sigma2, float(ratio), lm, lp, ks, int((e > thr).sum()), float(thr))


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class LayerSpectrum:
    """One row of :func:`weight_spectra`."""

    layer: str
    shape: tuple[int, ...]
    N: int
    M: int
    num_eigenvalues: int
    alpha: float
    xmin: float
    ks_distance: float
    n_tail: int
    mp_sigma2: float
    mp_ks_distance: float
    num_spikes: int
    stable_rank: float
    log_spectral_norm: float
    alpha_weighted: float


def weight_spectra(model: nn.Module, *, conv: str = "reshape", input_size: int | tuple[int, ...] | None = None, min_tail: int = 10) -> list[LayerSpectrum]:
    r"""The ESD, power-law and MP fits, stable rank and :math:`\log_{10}\lambda_{\max}` of every Linear/Conv layer.

    ``alpha_weighted`` is :math:`\hat\alpha\log_{10}\lambda_{\max}` (Martin & Mahoney's weighted alpha).
    The stable rank is :math:`\sum\lambda / \lambda_{\max}` over the layer's ESD. Layers with fewer than
    ``min_tail`` eigenvalues get NaN fits. Cost: one SVD per matrix and O(M) per xmin candidate.
    """
    rows = []
    for name, W in weight_matrices(model, conv=conv, input_size=input_size).items():
        e = esd(W)
        N, M = max(W.shape[-2:]), min(W.shape[-2:])
        lmax = float(e[-1])
        if len(e) >= min_tail and lmax > 0:
            pl = fit_power_law(e, min_tail=min_tail)
            mp = fit_marchenko_pastur(e, N, M) if N >= 2 else None
            alpha, xmin, ks, nt = pl.alpha, pl.xmin, pl.ks_distance, pl.n_tail
            ms, mk, sp = (mp.sigma2, mp.ks_distance, mp.num_spikes) if mp else (float("nan"), float("nan"), 0)
        else:
            alpha = xmin = ks = ms = mk = float("nan")
            nt = sp = 0
        sr = float(e.sum() / e[-1]) if lmax > 0 else 0.0
        log_sn = math.log10(lmax) if lmax > 0 else float("-inf")
        rows.append(LayerSpectrum(name, tuple(W.shape), N, M, len(e), alpha, xmin, ks, nt, ms, mk, sp, sr, log_sn, alpha * log_sn))
    return rows


def spectra_table(rows: list[LayerSpectrum]) -> str:
    """A plain-text table of :func:`weight_spectra`'s rows."""
    head = ["layer", "shape", "alpha", "xmin", "KS", "tail", "MP sigma2", "MP KS", "spikes", "stable rank", "log10 lmax", "alpha log10 lmax"]
    body = [[r.layer, "x".join(map(str, r.shape)), f"{r.alpha:.2f}", f"{r.xmin:.3g}", f"{r.ks_distance:.3f}", str(r.n_tail), f"{r.mp_sigma2:.3g}",
             f"{r.mp_ks_distance:.3f}", str(r.num_spikes), f"{r.stable_rank:.1f}", f"{r.log_spectral_norm:.2f}", f"{r.alpha_weighted:.2f}"] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head)] + [fmt.format(*b) for b in body])


def as_dicts(rows: list[LayerSpectrum]) -> list[dict]:
    """The rows as dicts (for a DataFrame or JSON)."""
    return [asdict(r) for r in rows]

