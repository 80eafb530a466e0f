"""dropout/matrix-factorization: the SGD noise-floor pieces against brute force, and the claims at a
small size through the real runner."""

import itertools

import numpy as np
import pytest
import torch
from scipy.linalg import solve_discrete_lyapunov

from dltheory.core.errors import ConfigError
from dltheory.experiments.dropout import matrix_factorization as mf
from dltheory.probes.stochastic import stationary_covariance
from dltheory.runner import run_experiment


def _problem(m=4, n=3, r=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(s, generator=g, dtype=torch.float64) for s in ((m, n), (m, r), (n, r)))


def test_mask_gradient_covariance_matches_autograd_enumeration():
    M, U, V = _problem()
    theta = 0.6
    grads, probs = [], []
    for bits in itertools.product([0.0, 1.0], repeat=3):
        b = torch.tensor(bits, dtype=torch.float64)
        u, v = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
        loss = ((M - u @ torch.diag(b / theta) @ v.T) ** 2).sum()
        gu, gv = torch.autograd.grad(loss, [u, v])
        grads.append(torch.cat([gu.reshape(-1), gv.reshape(-1)]))
        probs.append(theta ** sum(bits) * (1 - theta) ** (3 - sum(bits)))
    G, w = torch.stack(grads), torch.tensor(probs, dtype=torch.float64)
    mean = w @ G
    ref = sum(p * torch.outer(gr - mean, gr - mean) for p, gr in zip(w, G, strict=True))
    out = mf._mask_gradient_covariance(M, U, V, keep_prob=theta, generator=torch.Generator())
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)


def test_sampled_mask_covariance_approximates_the_exact_one(monkeypatch):
    M, U, V = _problem(r=4)
    exact = mf._mask_gradient_covariance(M, U, V, keep_prob=0.5, generator=torch.Generator())
    monkeypatch.setattr(mf, "EXACT_MASKS_MAX_WIDTH", 0)
    sampled = mf._mask_gradient_covariance(M, U, V, keep_prob=0.5, generator=torch.Generator().manual_seed(0))
    assert float(torch.trace(sampled)) == pytest.approx(float(torch.trace(exact)), rel=0.1)


def test_stationary_covariance_solves_the_lyapunov_equation():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(5, 5, generator=g, dtype=torch.float64)
    H = A @ A.T + 0.1 * torch.eye(5, dtype=torch.float64)
    B = torch.randn(5, 5, generator=g, dtype=torch.float64)
    Sigma = B @ B.T
    lr = 0.5 / float(torch.linalg.eigvalsh(H).max())
    Q, S = stationary_covariance(H, Sigma, lr)
    T = (torch.eye(5, dtype=torch.float64) - lr * H).numpy()
    ref = solve_discrete_lyapunov(T, lr**2 * Sigma.numpy())  # S = T S T^T + lr^2 Sigma
    np.testing.assert_allclose((Q @ S @ Q.T).numpy(), ref, rtol=1e-9, atol=1e-12)


def test_claims_hold_at_a_small_size(runs_dir):
    res = run_experiment("dropout/matrix-factorization", preset="tiny", seed=0, runs_dir=runs_dir,
                         overrides={"rows": 8, "cols": 6, "widths": [4, 6], "gd_steps": 5000, "sgd_steps": 4000, "record_every": 20})
    claims = {c["id"]: c for c in res.result["claims"]}
    assert set(claims) == {f"{k}_r{r}" for k in ("converged", "equalized", "closed_form", "sgd_noise_floor") for r in (4, 6)}
    assert {c["kind"] for i, c in claims.items() if i.startswith("converged")} == {"check"}
    assert res.status == "ok", [(c["id"], c["measured"]) for c in claims.values() if not c["holds"]]


def test_bad_config_is_rejected(runs_dir):
    with pytest.raises(ConfigError, match="keep_prob"):
        run_experiment("dropout/matrix-factorization", preset="tiny", runs_dir=runs_dir, overrides={"keep_prob": 1.0})
    with pytest.raises(ConfigError, match="unknown config key 'width'"):
        run_experiment("dropout/matrix-factorization", preset="tiny", runs_dir=runs_dir, overrides={"width": 3})


@pytest.mark.parametrize("train_keep_prob, holds", [(None, True), (1.0, False)])
def test_negative_control_no_dropout(runs_dir, train_keep_prob, holds):
    """Without dropout (lambda = 0) GD converges to the truncated SVD, whose column products are M's
    singular values: not equalized, and no shrinkage. The main claims fail; with dropout they hold."""
    res = run_experiment("dropout/matrix-factorization", preset="tiny", seed=7, runs_dir=runs_dir,
                         overrides={"widths": [2], "gd_steps": 20000, "sgd_steps": 2, "train_keep_prob": train_keep_prob})
    claims = {c["id"]: c for c in res.result["claims"]}
    assert claims["converged_r2"]["holds"]
    assert claims["equalized_r2"]["holds"] is holds, claims["equalized_r2"]["measured"]
    assert claims["closed_form_r2"]["holds"] is holds, claims["closed_form_r2"]["measured"]
    if not holds:  # products = the top singular values of M (1 to sigma_min, linearly spaced): spread of order one
        assert claims["equalized_r2"]["measured"] > 0.1
