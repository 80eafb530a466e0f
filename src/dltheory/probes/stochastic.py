r"""Tools for stochastic quantities: Monte Carlo estimates with standard errors, and the
stationary covariance of SGD linearized at a minimum.

The Monte Carlo test used across experiments: an estimate agrees with a closed form when
:math:`|\bar x - \mu| < 4\,\mathrm{SE}` (two-sided; :math:`P(|N(0,1)| > 4) \approx 6\times10^{-5}`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: two-sided test threshold in standard errors, fixed before any run: P(|N(0,1)| > 4) = 6e-5
SE_THRESHOLD = 4.0


def draw_in_chunks(chunk_fn: Callable[[int], torch.Tensor], total: int, chunk: int = 250_000) -> torch.Tensor:
    """``total`` Monte Carlo samples drawn ``chunk`` at a time (bounded memory).

    ``chunk_fn(size)`` returns ``size`` i.i.d. samples (a 1-D tensor).
    """
    return torch.cat([chunk_fn(min(chunk, total - start)) for start in range(0, total, chunk)])


def mean_and_se(samples: torch.Tensor) -> tuple[float, float]:
    """(mean, standard error of the mean) of i.i.d. samples."""
    x = samples.detach().cpu().numpy()
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.shape[0]))


def stationary_covariance(H: torch.Tensor, Sigma: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Stationary covariance of linearized SGD :math:`\delta_{t+1} = (I - \eta H)\delta_t - \eta\xi_t`,
    :math:`\operatorname{Cov}\xi = \Sigma`, on the span of H's positive eigenvalues.

    Returns ``(Q, S)``: eigenvectors (P, P+) and the covariance in that basis,
    :math:`S_{ab} = \eta^2 (Q^\top\Sigma Q)_{ab} / (1 - (1-\eta h_a)(1-\eta h_b))`, the solution of
    the discrete Lyapunov equation :math:`S = (I-\eta h)S(I-\eta h) + \eta^2\tilde\Sigma`.
    Flat directions (:math:`h_a \le 10^{-8} h_{max}`) are left out. Cost: one P x P eigh.
    """
    h, Q = torch.linalg.eigh(H)
    keep = h > 1e-8 * h.max()
    h, Q = h[keep], Q[:, keep]
    return Q, lr**2 * (Q.T @ Sigma @ Q) / (1 - torch.outer(1 - lr * h, 1 - lr * h))


def running_mean_and_se(samples: np.ndarray | torch.Tensor, *, points: int = 60, start: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running Monte Carlo mean and its standard error at ``points`` log-spaced sample counts.

    Returns ``(counts, mean, se)``; for plots of an estimate converging to a closed form.
    """
    x = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples, dtype=np.float64)
    ns = np.unique(np.geomspace(min(start, x.shape[0]), x.shape[0], points).astype(int))
    ns = ns[ns >= 2]
    csum, csq = np.cumsum(x), np.cumsum(x * x)
    mean = csum[ns - 1] / ns
    se = np.sqrt(np.maximum(csq[ns - 1] / ns - mean**2, 0) / (ns - 1))
    return ns, mean, se
