import numpy as np
import torch

from dltheory.probes.stochastic import (
    draw_in_chunks,
    mean_and_se,
    running_mean_and_se,
    stationary_covariance,
)


def test_running_mean_and_se_match_numpy():
    x = np.random.default_rng(0).normal(size=1000)
    ns, mean, se = running_mean_and_se(x, points=20)
    for n, m, s in zip(ns, mean, se, strict=True):
        np.testing.assert_allclose(m, x[:n].mean(), rtol=1e-10)
        np.testing.assert_allclose(s, x[:n].std(ddof=0) / np.sqrt(n - 1), rtol=1e-8)
    assert ns[-1] == 1000


def test_mean_and_se_and_chunks():
    out = draw_in_chunks(lambda size: torch.arange(size, dtype=torch.float64), 7, chunk=3)
    assert out.tolist() == [0, 1, 2, 0, 1, 2, 0]
    m, se = mean_and_se(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    assert m == 2.5 and abs(se - np.std([1, 2, 3, 4], ddof=1) / 2) < 1e-12


def test_stationary_covariance_solves_lyapunov():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    H = A @ A.T + 0.1 * torch.eye(4, dtype=torch.float64)
    B = torch.randn(4, 4, generator=g, dtype=torch.float64)
    Sigma = B @ B.T
    lr = 0.5 / float(torch.linalg.eigvalsh(H)[-1])
    Q, S = stationary_covariance(H, Sigma, lr)
    C = Q @ S @ Q.T  # full space (H is positive definite)
    M = torch.eye(4, dtype=torch.float64) - lr * H
    torch.testing.assert_close(C, M @ C @ M + lr**2 * Sigma)
