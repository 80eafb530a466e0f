"""Problems shared by the sparse-coding tests (imported by name: pytest puts this folder on sys.path): dictionaries with known coherence, sparse signals."""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import hadamard


def identity_hadamard(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """[I_n, H_n / sqrt(n)] (n, 2n): two orthonormal bases with mutual coherence exactly 1/sqrt(n)
    (every |<e_i, h_j>| = 1/sqrt(n)) and Babel function mu_1(k) = k/sqrt(n) for k <= n."""
    return torch.cat([torch.eye(n, dtype=torch.float64), torch.tensor(hadamard(n) / np.sqrt(n))], dim=1).to(dtype)


def gaussian_dictionary(n: int, m: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Gaussian (n, m) with unit-norm columns (normalized in numpy: not through dltheory)."""
    D = np.random.default_rng(seed).standard_normal((n, m))
    return torch.tensor(D / np.linalg.norm(D, axis=0), dtype=dtype)


def sparse_codes(B: int, m: int, k: int, seed: int, *, low: float = 1.0, high: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    """(B, m) codes, each with k nonzeros on a uniformly random support, magnitudes uniform in
    [low, high] and random signs."""
    rng = np.random.default_rng(seed)
    X = np.zeros((B, m))
    for b in range(B):
        S = rng.choice(m, size=k, replace=False)
        X[b, S] = rng.uniform(low, high, size=k) * rng.choice([-1.0, 1.0], size=k)
    return torch.tensor(X, dtype=dtype)


def noisy_problem():
    """A Gaussian dictionary (20, 40) and 6 noisy 4-sparse signals; lam where the solutions are sparse."""
    D = gaussian_dictionary(20, 40, seed=0)
    X = sparse_codes(6, 40, 4, seed=1, low=0.5, high=1.5)
    noise = torch.tensor(np.random.default_rng(2).standard_normal((6, 20)) * 0.05)
    return D, X @ D.T + noise, 0.1
