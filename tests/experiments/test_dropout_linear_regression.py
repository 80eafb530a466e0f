"""dropout/linear-regression: the closed forms against brute-force enumeration over all masks, and
the claims at a small size through the real runner."""

import itertools

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.experiments.dropout import linear_regression as lr
from dltheory.runner import run_experiment


def _problem(n=3, d=2, seed=0, scales=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * (np.ones(d) if scales is None else scales)
    return X, rng.standard_normal(n), rng.standard_normal(d)


def _all_masks(n, d, keep_prob):
    """Every 0/1 mask of shape (n, d) with its probability."""
    for bits in itertools.product([0.0, 1.0], repeat=n * d):
        R = np.array(bits).reshape(n, d)
        yield R, keep_prob ** R.sum() * (1 - keep_prob) ** (n * d - R.sum())


@pytest.mark.parametrize("keep_prob", [0.3, 0.8])
def test_expected_loss_matches_enumeration(keep_prob):
    X, y, w = _problem(scales=np.array([1.0, 5.0]))
    exact = sum(prob * ((y - (R * X) @ w) ** 2).sum() for R, prob in _all_masks(3, 2, keep_prob))
    assert lr.expected_dropout_loss(X, y, w, keep_prob=keep_prob) == pytest.approx(exact, rel=1e-12)
    assert lr.expected_dropout_loss(X, y, w, keep_prob=keep_prob, isotropic=True) != pytest.approx(exact, rel=1e-3)


def test_dropout_ridge_is_the_stationary_point_of_the_enumerated_inverted_loss():
    X, y, _ = _problem(n=2, d=3)
    p = 0.6
    w_star = lr.dropout_ridge(X, y, keep_prob=p)
    w = torch.tensor(w_star, requires_grad=True)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss = sum(prob * ((yt - (torch.from_numpy(R / p) * Xt) @ w) ** 2).sum() for R, prob in _all_masks(2, 3, p))
    (grad,) = torch.autograd.grad(loss, w)
    assert float(grad.norm()) < 1e-10
    np.testing.assert_allclose(lr.dropout_ridge_sklearn(X, y, keep_prob=p), w_star, rtol=1e-10)


def test_dropout_ridge_is_scale_invariant_and_isotropic_ridge_is_not():
    X, y, _ = _problem(n=10, d=3)
    s = np.array([1.0, 0.1, 3.0])
    np.testing.assert_allclose(s * lr.dropout_ridge(X * s, y, keep_prob=0.5), lr.dropout_ridge(X, y, keep_prob=0.5), rtol=1e-10)
    iso = lr.isotropic_ridge(X, y, alpha=2.0)
    assert not np.allclose(s * lr.isotropic_ridge(X * s, y, alpha=2.0), iso, rtol=1e-3)
    np.testing.assert_allclose(iso, np.linalg.solve(X.T @ X + 2.0 * np.eye(3), X.T @ y))


def test_mask_moments_match_enumeration():
    p, d = 0.4, 2
    M4 = lr._mask_moments(d, 4, p)
    for j, k, m, q in itertools.product(range(d), repeat=4):
        exact = sum(np.prod([b[i] for i in (j, k, m, q)]) / p**4 * p ** sum(b) * (1 - p) ** (d - sum(b))
                    for b in itertools.product([0, 1], repeat=d))
        assert M4[j, k, m, q] == pytest.approx(exact, rel=1e-12)


def test_gradient_covariance_matches_enumeration():
    n, d, p = 2, 3, 0.7
    X, y, w = _problem(n=n, d=d, seed=1)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    grads, probs = [], []
    for R, prob in _all_masks(n, d, p):
        wt = torch.tensor(w, requires_grad=True)
        (g,) = torch.autograd.grad(((yt - (torch.from_numpy(R / p) * Xt) @ wt) ** 2).mean(), wt)
        grads.append(g.numpy())
        probs.append(prob)
    G, P = np.stack(grads), np.array(probs)
    mean = P @ G
    ref = ((G - mean).T * P) @ (G - mean)
    np.testing.assert_allclose(lr.dropout_gradient_covariance(X, y, w, keep_prob=p), ref, rtol=1e-10, atol=1e-12)


def test_noise_floor_scales_as_sqrt_lr():
    X, y, _ = _problem(n=20, d=3, seed=2)
    w_star = lr.dropout_ridge(X, y, keep_prob=0.5)
    small, large = (lr.sgd_noise_floor(X, y, w_star, keep_prob=0.5, lr=eta) for eta in (1e-5, 4e-5))
    assert large / small == pytest.approx(2.0, rel=1e-3)


def test_claims_hold_at_a_small_size(runs_dir):
    res = run_experiment("dropout/linear-regression", preset="quick", seed=1, runs_dir=runs_dir,
                         overrides={"features": 6, "feature_scale_ratio": 5.0, "mc_samples": 5000, "gd_steps": 1500, "sgd_steps": 5000})
    ids = [c["id"] for c in res.result["claims"]]
    assert ids == ["mc_formula", "mc_isotropic_rejected", "gd_closed_form", "sgd_noise_floor", "sgd_not_ols", "sgd_not_isotropic", "data_dependent"]
    kinds = {c["id"]: c["kind"] for c in res.result["claims"]}
    assert kinds["gd_closed_form"] == kinds["data_dependent"] == "check" and kinds["sgd_not_ols"] == "claim"
    assert res.status == "ok", [(c["id"], c["measured"]) for c in res.result["claims"] if not c["holds"]]
    assert res.result["metrics"]["equal_scale_difference"] < 1e-12


def test_bad_config_is_rejected(runs_dir):
    with pytest.raises(ConfigError, match="samples"):
        run_experiment("dropout/linear-regression", preset="tiny", runs_dir=runs_dir, overrides={"samples": 3, "features": 4})
    with pytest.raises(ConfigError, match="keep_prob"):
        run_experiment("dropout/linear-regression", preset="tiny", runs_dir=runs_dir, overrides={"keep_prob": 1.0})


@pytest.mark.parametrize("train_keep_prob, holds", [(None, True), (1.0, False)])
def test_negative_control_no_dropout(runs_dir, train_keep_prob, holds):
    """Trained without dropout (masks all ones) SGD is plain least squares: it converges to OLS, not to
    the diag(X^T X)-ridge solution, so the main claim fails; with dropout at the same size it holds."""
    res = run_experiment("dropout/linear-regression", preset="tiny", seed=5, runs_dir=runs_dir,
                         overrides={"samples": 30, "features": 4, "feature_scale_ratio": 3.0, "gd_steps": 10, "sgd_steps": 2000, "train_keep_prob": train_keep_prob})
    claims = {c["id"]: c for c in res.result["claims"]}
    assert claims["sgd_not_ols"]["holds"] is holds, claims["sgd_not_ols"]["measured"]
    assert claims["sgd_noise_floor"]["holds"] is holds, claims["sgd_noise_floor"]["measured"]
    if not holds:
        assert claims["sgd_not_ols"]["measured"] > 10  # RMS distance to w* over RMS distance to OLS: SGD sits on OLS
